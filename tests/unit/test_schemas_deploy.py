"""The deployment files stay in step with the topic catalogue and the settings."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.catalogue import TOPICS
from services.console.settings import ConsoleSettings
from services.ingest.settings import IngestSettings
from services.notifier.settings import NotifierSettings
from services.router.settings import RouterSettings
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
    # The shared settings and each service's own.
    kinds = (RelaySettings, IngestSettings, RouterSettings, NotifierSettings, ConsoleSettings)
    fields: set[str] = set().union(*(kind.model_fields for kind in kinds))
    text = COMPOSE.read_text(encoding="utf-8")
    names = set(re.findall(r"^\s*(RELAY_[A-Z_]+):", text, re.M))
    unknown = {n for n in names if n[6:].lower() not in fields}
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
        assert url == f"postgresql://relay_{name}@postgres:5432/relay_{name}"  # no password
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


def test_one_secret_key_for_every_service_and_a_password_per_database_login() -> None:
    import yaml

    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services, secrets = compose["services"], compose["secrets"]
    for name in SERVICES:
        service = services[name]
        env = service["environment"]
        # The notifier signs acknowledgement links, the console checks them: one key.
        assert env["RELAY_SECRET_KEY_FILE"] == "/run/secrets/relay_secret_key"
        assert "RELAY_SECRET_KEY" not in env
        login = f"relay_{name}_db_password"
        assert set(service["secrets"]) == {"relay_secret_key", login}
        assert env[f"RELAY_{name.upper()}_DATABASE_PASSWORD_FILE"] == f"/run/secrets/{login}"
        assert login in services["migrate"]["secrets"] and login in services["postgres"]["secrets"]
        assert secrets[login] == {"file": f"./secrets/{login}"}
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )
    text = COMPOSE.read_text(encoding="utf-8") + POSTGRES_INIT.read_text(encoding="utf-8")
    assert "change-me" not in text and "RELAY_DB_PASSWORD:" not in text  # no shared default
    assert 'cat "$file"' in POSTGRES_INIT.read_text(encoding="utf-8")
    assert "secrets/" in (REPO / ".gitignore").read_text(encoding="utf-8").split()


def test_a_database_password_file_goes_into_the_url(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret/with:odd@chars\n")
    settings = RelaySettings(
        notifier_database_url="postgresql://relay_notifier@postgres:5432/relay_notifier",
        notifier_database_password_file=tmp_path / "pw",
    )
    assert settings.database_url_for("notifier") == (
        "postgresql+asyncpg://relay_notifier:s3cret%2Fwith%3Aodd%40chars@postgres:5432/relay_notifier"
    )
    assert "s3cret" not in repr(settings)
    with pytest.raises(ValidationError, match="RELAY_CONSOLE_DATABASE_PASSWORD_FILE: cannot read"):
        RelaySettings(
            console_database_url="postgresql://relay_console@postgres/relay_console",
            console_database_password_file=tmp_path / "missing",
        )
    with pytest.raises(ValidationError, match="give the password once"):
        RelaySettings(
            database_url="postgresql://relay:inline@postgres/relay",
            database_password_file=tmp_path / "pw",
        )


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]' (pyproject pins it)"
    return found


def test_the_compose_file_follows_the_compose_specification() -> None:
    # The Compose specification's JSON Schema as check-jsonschema ships it: no network.
    checked = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dockerfile_passes_hadolint() -> None:
    checked = subprocess.run(
        [_tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
