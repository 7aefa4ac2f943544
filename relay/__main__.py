from relay.serve_cli import main

main()
