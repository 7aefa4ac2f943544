"""Each service's own settings beside its app, read from the same ``RELAY_`` variables as
when one settings object held them all; the health and metrics mount every app shares."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Response
from pydantic import SecretStr, ValidationError

from services.console.settings import ConsoleSettings
from services.ingest.settings import IngestSettings
from services.notifier.settings import NotifierSettings
from services.router.settings import RouterSettings
from services.runtime.health import mount_health
from services.runtime.settings import RelaySettings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)


def test_each_service_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "RELAY_INGEST_RATE_LIMIT": "10/second",
        "RELAY_INGEST_MAX_EVENT_BYTES": "2048",
        "RELAY_INGEST_MAX_BATCH_BYTES": "4096",
        "RELAY_CONSOLE_OIDC_ISSUER": "https://id.example",
        "RELAY_CONSOLE_OIDC_CLIENT_ID": "relay-console",
        "RELAY_CONSOLE_OIDC_CLIENT_SECRET": "s3cret",
        "RELAY_CONSOLE_OIDC_ROLE_CLAIM": "role",
        "RELAY_CONSOLE_OIDC_LA_CLAIM": "la",
        "RELAY_CONSOLE_COOKIE_SECURE": "false",
        "RELAY_SMTP_FROM": "Relay <relay@area.example>",
        "RELAY_TEMPLATE_DIR": "/srv/templates",
        "RELAY_NOTIFIER_SENDING_LEASE_S": "12",
        "RELAY_MATCHING_MODEL_FILE": "/srv/model.json",
        "RELAY_VAR_DIR": "/srv/var",
    }.items():
        monkeypatch.setenv(name, value)
    ingest, console = IngestSettings(), ConsoleSettings()
    notifier, router = NotifierSettings(), RouterSettings()
    assert (ingest.ingest_rate_limit, ingest.ingest_max_event_bytes) == ("10/second", 2048)
    assert ingest.ingest_max_batch_bytes == 4096
    assert console.console_oidc_issuer == "https://id.example"
    assert console.console_oidc_client_id == "relay-console"
    assert console.console_oidc_client_secret == SecretStr("s3cret")
    assert (console.console_oidc_role_claim, console.console_oidc_la_claim) == ("role", "la")
    assert console.console_cookie_secure is False
    assert notifier.smtp_from == "Relay <relay@area.example>"
    assert notifier.template_dir == Path("/srv/templates")
    assert notifier.notifier_sending_lease_s == 12
    assert router.matching_model_file == Path("/srv/model.json")
    for settings in (ingest, console, notifier, router):
        assert settings.var_dir == Path("/srv/var")  # and the shared ones, as before


def test_the_shared_settings_know_no_service_field() -> None:
    own = (IngestSettings, ConsoleSettings, NotifierSettings, RouterSettings)
    for kind in own:
        assert set(RelaySettings.model_fields) < set(kind.model_fields)
    assert not {
        "ingest_rate_limit",
        "console_oidc_issuer",
        "smtp_from",
        "matching_model_file",
    } & set(RelaySettings.model_fields)


def test_a_bad_rate_limit_is_refused_with_the_same_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_INGEST_RATE_LIMIT", "lots")
    with pytest.raises(ValidationError, match="give one or more limits such as 50/second"):
        IngestSettings()


def test_of_keeps_the_shared_values_and_adds_the_services_own(tmp_path: Path) -> None:
    shared = RelaySettings(var_dir=tmp_path, topic_prefix="t.", ingest_database_url="sqlite://")
    ingest = IngestSettings.of(shared, ingest_rate_limit="3/minute")
    assert (ingest.var_dir, ingest.topic_prefix) == (tmp_path, "t.")
    assert ingest.database_url_for("ingest") == "sqlite+aiosqlite://"
    assert ingest.ingest_rate_limit == "3/minute"
    assert IngestSettings.of(shared).ingest_rate_limit == "50/second;1000/minute"
    assert IngestSettings.of(ingest) is ingest


async def test_health_and_metrics_answer_starting_until_a_runtime_is_there() -> None:
    app = FastAPI()
    mount_health(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:
        for path in ("/healthz", "/metrics"):
            answer = await client.get(path)
            assert (answer.status_code, answer.json()) == (503, {"status": "starting"})

        async def healthz() -> Response:
            return Response('{"status": "ok"}', media_type="application/json")

        async def metrics() -> Response:
            return Response("relay_up 1\n", media_type="text/plain")

        app.state.runtime = SimpleNamespace(healthz=healthz, metrics=metrics)
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/metrics")).text == "relay_up 1\n"
    assert "/healthz" not in app.openapi()["paths"]
