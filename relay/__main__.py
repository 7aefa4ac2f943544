from relay.cli import app

app()
