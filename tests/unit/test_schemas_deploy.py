"""The deployment files stay in step with the topic catalogue and the settings."""

from __future__ import annotations

import re
from pathlib import Path

from schemas.catalogue import TOPICS
from services.runtime.settings import SERVICES, RelaySettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
POSTGRES_INIT = REPO / "deploy" / "postgres-init" / "01-relay-databases.sh"


def test_topics_job_creates_every_catalogue_topic_and_dlq() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    block = re.search(r"for topic in(.*?)\n\s*do\n", text, re.S)
    assert block, "docker-compose.yml: the `topics` job's `for topic in ... do` loop is gone"
    listed = block.group(1).replace("\\", " ").split()
    expected = [name for t in TOPICS for name in (t.wire, t.dlq)]
    assert listed == expected, "docker-compose.yml `topics`: list every catalogue topic and dlq"
    assert "--partitions 6" in text


def test_every_relay_variable_is_a_setting() -> None:
    fields = set(RelaySettings.model_fields)
    text = COMPOSE.read_text(encoding="utf-8")
    names = set(re.findall(r"^\s*(RELAY_[A-Z_]+):", text, re.M))
    # RELAY_DB_PASSWORD is the compose file's own variable for the Postgres logins.
    unknown = {n for n in names - {"RELAY_DB_PASSWORD"} if n[6:].lower() not in fields}
    assert not unknown, f"docker-compose.yml sets variables RelaySettings ignores: {unknown}"
    for service in SERVICES:
        assert f"RELAY_{service.upper()}_DATABASE_URL" in names


def test_dockerfile_runs_relay_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in text
    assert 'ENTRYPOINT ["relay"]' in text and 'CMD ["serve", "ingest"]' in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")


def test_compose_structure() -> None:
    import yaml

    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    settings = RelaySettings()
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        env = service["environment"]
        assert env["RELAY_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["RELAY_SMTP_URL"] == "smtp://mailpit:1025"
        url = env[f"RELAY_{name.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql://relay_{name}:") and url.endswith(f"/relay_{name}")
        _, port = settings.listen(name)
        assert f"127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["ingest"]["ports"] == ["8000:8000"]
    assert services["console"]["ports"] == ["8080:8080"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert all(
        f"RELAY_{name.upper()}_DATABASE_URL" in services["migrate"]["environment"]
        for name in SERVICES
    )


def test_postgres_init_creates_a_database_per_service() -> None:
    text = POSTGRES_INIT.read_text(encoding="utf-8")
    loop = re.search(r"for service in ([a-z ]+); do", text)
    assert loop and tuple(loop.group(1).split()) == SERVICES
