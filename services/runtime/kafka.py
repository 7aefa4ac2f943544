"""The broker: FastStream's KafkaBroker with this service's settings, topic creation,
and the publisher the outbox relay uses."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from schemas.catalogue import TOPICS
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


class KafkaSecurityError(ValueError):
    pass


class _HideSaslTokens(logging.Filter):
    """aiokafka logs every request it sends at debug level, the SASL token too, and a
    PLAIN token holds the password."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                "SaslAuthenticateRequest(<hidden>)"
                if type(arg).__name__.startswith("SaslAuthenticateRequest")
                else arg
                for arg in record.args
            )
        return True


_HIDE_SASL_TOKENS = _HideSaslTokens()


def broker_security(settings: RelaySettings) -> BaseSecurity | None:
    """TLS and SASL from the settings (validated when they were read), as FastStream
    takes them; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    context = tls_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if not protocol.startswith("SASL_"):
        return None if context is None else BaseSecurity(ssl_context=context)
    username, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if not (username and password):  # settings built without validation (model_copy)
        raise KafkaSecurityError(f"{protocol} needs a SASL username and password")
    logging.getLogger("aiokafka.conn").addFilter(_HIDE_SASL_TOKENS)  # added once only
    return _SASL[settings.kafka_sasl_mechanism](
        username,
        password.get_secret_value(),
        ssl_context=context,
        use_ssl=context is not None,
    )


def security_options(settings: RelaySettings) -> dict[str, Any]:
    """The same, as keyword arguments of aiokafka's clients (consumer, producer, admin):
    FastStream's own translation, so the broker and the bare clients always agree."""
    return {"security_protocol": "PLAINTEXT", **parse_security(broker_security(settings))}


def group_options(settings: RelaySettings) -> dict[str, int]:
    """A consumer group member's timing, as keyword arguments of aiokafka's consumer."""
    return {
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
    }


def tls_context(settings: RelaySettings) -> ssl.SSLContext:
    return _tls_context(
        settings.kafka_ssl_cafile,
        settings.kafka_ssl_certfile,
        settings.kafka_ssl_keyfile,
        settings.kafka_ssl_check_hostname,
    )


@functools.cache  # one per process: the bare clients are made every few seconds
def _tls_context(
    cafile: Path | None, certfile: Path | None, keyfile: Path | None, check_hostname: bool
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=cafile)  # None: the system's CAs
    except (ssl.SSLError, OSError) as exc:
        raise KafkaSecurityError(
            f"RELAY_KAFKA_SSL_CAFILE {cafile}: no CA certificate ({exc})"
        ) from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile, password=_no_passphrase)
        except (ssl.SSLError, OSError) as exc:
            raise KafkaSecurityError(
                f"RELAY_KAFKA_SSL_CERTFILE {certfile} / RELAY_KAFKA_SSL_KEYFILE {keyfile}: "
                f"not a certificate and its private key ({exc})"
            ) from None
    if not check_hostname:
        context.check_hostname = False  # the certificate chain is still verified
        log.warning("Kafka: TLS host name check is OFF (RELAY_KAFKA_SSL_CHECK_HOSTNAME=false)")
    return context


def _no_passphrase() -> str:
    # Without this OpenSSL would prompt on the terminal for an encrypted key.
    raise KafkaSecurityError("RELAY_KAFKA_SSL_KEYFILE is encrypted: mount an unencrypted key")


def create_broker(settings: RelaySettings, client_id: str) -> KafkaBroker:
    # Idempotent producers are off: the embedded Tansu broker does not support them, and
    # every consumer de-duplicates on message id anyway. No FastDepends (``apply_types``):
    # the one subscriber (services/runtime/consumer.py) takes the batch's records as they
    # are, where FastDepends handed a sync context look-up to a worker thread per batch.
    return KafkaBroker(
        settings.bootstrap,
        security=broker_security(settings),
        client_id=client_id,
        enable_idempotence=False,
        acks="all",
        graceful_timeout=30.0,
        log_level=logging.DEBUG,  # per-message "Received"/"Processed" lines: debug only
        logger=logging.getLogger(f"relay.{client_id}.kafka"),
        apply_types=False,
    )


def wire_names(settings: RelaySettings) -> list[str]:
    names: list[str] = []
    for topic in TOPICS:
        names += [settings.topic(topic.wire), settings.topic(topic.dlq)]
    return names


async def ensure_topics(settings: RelaySettings, timeout_s: float = 60.0) -> None:
    """Create every catalogue topic and its dead-letter twin; waits for the broker."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.bootstrap,
            client_id="relay-admin",
            **security_options(settings),
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [name for name in wire_names(settings) if name not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # a racing copy made it
                    await admin.create_topics(
                        [NewTopic(name, settings.partitions, 1) for name in missing]
                    )
            return
        except (KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"Kafka at {settings.bootstrap} ({settings.kafka_security_protocol}) did "
                    f"not answer within {timeout_s:.0f}s; aiokafka's log says why (e.g. a TLS "
                    "certificate it does not trust, or a refused SASL login)"
                ) from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def ensure_topic(settings: RelaySettings, name: str, partitions: int = 1) -> None:
    """Create one topic (a full wire name) outside the catalogue if it is missing."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap,
        client_id="relay-admin",
        **security_options(settings),
    )
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):  # a racing copy made it
                await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


class BrokerPublisher:
    """Hands one message to the producer; the future it returns completes once the broker
    acknowledged it (aiokafka sends one request per broker at a time, so the order in
    which messages are handed over is their order on a partition)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(
        self, topic: str, key: str | None, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[RecordMetadata]:
        return await self._broker.publish(
            payload,
            topic=topic,
            key=key.encode() if key else None,
            headers={**headers, "content-type": "application/json"},
            no_confirm=True,
        )
