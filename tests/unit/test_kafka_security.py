"""Kafka over TLS and SASL from the settings, pure: the RELAY_KAFKA_* variables, the
combinations refused at load (naming the setting), secrets read from files, the options
every client gets, and no secret in a repr or an error."""

from __future__ import annotations

import ast
import logging
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives import serialization
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr, ValidationError

from services.console.settings import ConsoleSettings
from services.runtime import kafka
from services.runtime.kafka import (
    KafkaSecurityError,
    broker_security,
    create_broker,
    security_options,
)
from services.runtime.settings import FILE_SECRETS, RelaySettings, mask_url_password

PASSWORD = "kafka-pa55-not-in-logs"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RELAY_KAFKA_BOOTSTRAP", "kafka.example:9093")
    kafka._tls_context.cache_clear()  # its warning is logged once per context


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cafile(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def client_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    issued = ca.issue_cert("relay-router")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


def secret_file(tmp_path: Path, text: str, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def sasl(kind: type[RelaySettings] = RelaySettings, **changes: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_username": "relay",
        "kafka_sasl_password": PASSWORD,
    }
    return kind(**{**values, **changes})


# -- the options the clients get ------------------------------------------------------


def test_plaintext_by_default() -> None:
    settings = RelaySettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert broker_security(settings) is None
    assert security_options(settings) == {"security_protocol": "PLAINTEXT"}


def test_the_environment_names_are_the_contract(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cafile: Path, client_files: tuple[Path, Path]
) -> None:
    cert, key = client_files
    for name, value in {
        "RELAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "RELAY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "RELAY_KAFKA_SASL_USERNAME": "relay",
        "RELAY_KAFKA_SASL_PASSWORD_FILE": str(secret_file(tmp_path, PASSWORD + "\n")),
        "RELAY_KAFKA_SSL_CAFILE": str(cafile),
        "RELAY_KAFKA_SSL_CERTFILE": str(cert),
        "RELAY_KAFKA_SSL_KEYFILE": str(key),
        "RELAY_KAFKA_SSL_CHECK_HOSTNAME": "false",
    }.items():
        monkeypatch.setenv(name, value)
    settings = RelaySettings()
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-256"
    assert settings.kafka_sasl_username == "relay"
    assert settings.kafka_sasl_password == SecretStr(PASSWORD)
    assert (settings.kafka_ssl_cafile, settings.kafka_ssl_certfile) == (cafile, cert)
    assert settings.kafka_ssl_keyfile == key
    assert settings.kafka_ssl_check_hostname is False


def test_sasl_ssl_with_scram_512_by_default(cafile: Path) -> None:
    settings = sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=cafile)
    security = broker_security(settings)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl
    options = security_options(settings)
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "relay",
        "sasl_plain_password": PASSWORD,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    trusted = ssl.create_default_context(cafile=cafile).get_ca_certs()
    assert context.get_ca_certs() == trusted and len(trusted) == 1


@pytest.mark.parametrize(
    ("given", "mechanism", "kind"),
    [
        ("SCRAM-SHA-512", "SCRAM-SHA-512", SASLScram512),
        ("scram-sha-256", "SCRAM-SHA-256", SASLScram256),
        ("PLAIN", "PLAIN", SASLPlaintext),
    ],
)
def test_sasl_mechanisms_without_tls(given: str, mechanism: str, kind: type) -> None:
    settings = sasl(kafka_security_protocol="sasl_plaintext", kafka_sasl_mechanism=given)
    assert isinstance(broker_security(settings), kind)
    assert security_options(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "ssl_context": None,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "relay",
        "sasl_plain_password": PASSWORD,
    }


def test_tls_without_sasl_uses_the_system_cas_unless_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = RelaySettings(kafka_security_protocol="SSL")
    security = broker_security(settings)
    assert type(security) is BaseSecurity and security.use_ssl
    options = security_options(settings)
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"].check_hostname
    assert "sasl_plain_password" not in options

    with caplog.at_level(logging.WARNING):
        relaxed = RelaySettings(kafka_security_protocol="SSL", kafka_ssl_check_hostname=False)
        context = security_options(relaxed)["ssl_context"]
    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED  # the chain is still checked
    assert "RELAY_KAFKA_SSL_CHECK_HOSTNAME=false" in caplog.text


def test_client_certificate_for_mutual_tls(
    cafile: Path, client_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = client_files
    settings = RelaySettings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cafile,
        kafka_ssl_certfile=cert,
        kafka_ssl_keyfile=key,
    )
    assert security_options(settings)["ssl_context"] is not None
    # One PEM file holding both the certificate and its key needs no key file.
    both = tmp_path / "both.pem"
    both.write_text(cert.read_text() + key.read_text())
    settings = RelaySettings(kafka_security_protocol="SSL", kafka_ssl_certfile=both)
    assert security_options(settings)["ssl_context"] is not None


def test_unusable_tls_files_are_errors_naming_the_setting(
    tmp_path: Path, cafile: Path, client_files: tuple[Path, Path]
) -> None:
    not_pem = secret_file(tmp_path, "not a certificate", "ca-bad.pem")
    with pytest.raises(KafkaSecurityError, match="RELAY_KAFKA_SSL_CAFILE"):
        security_options(RelaySettings(kafka_security_protocol="SSL", kafka_ssl_cafile=not_pem))

    cert, _ = client_files
    other_key = tmp_path / "other.key"
    trustme.CA().issue_cert("x").private_key_pem.write_to_path(str(other_key))
    mismatched = RelaySettings(
        kafka_security_protocol="SSL", kafka_ssl_certfile=cert, kafka_ssl_keyfile=other_key
    )
    with pytest.raises(KafkaSecurityError, match="RELAY_KAFKA_SSL_CERTFILE"):
        security_options(mismatched)

    key = serialization.load_pem_private_key(client_files[1].read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    locked = RelaySettings(
        kafka_security_protocol="SSL", kafka_ssl_certfile=cert, kafka_ssl_keyfile=encrypted
    )
    with pytest.raises(KafkaSecurityError, match="RELAY_KAFKA_SSL_KEYFILE is encrypted"):
        security_options(locked)


async def test_every_aiokafka_client_accepts_the_options(cafile: Path) -> None:
    for settings in (
        RelaySettings(),
        RelaySettings(kafka_security_protocol="SSL", kafka_ssl_cafile=cafile),
        sasl(),
        sasl(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN"),
    ):
        options = security_options(settings)
        AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", **options)
        AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **options)
        AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", **options)


def test_the_broker_connects_with_the_same_options(cafile: Path) -> None:
    settings = sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=cafile)
    broker = create_broker(settings, client_id="relay-test")
    connection = broker._connection_kwargs
    assert {k: connection[k] for k in security_options(settings)} == security_options(settings)


def test_every_kafka_client_in_the_code_is_given_the_security_settings() -> None:
    """A guard for clients added later: each KafkaBroker gets ``security=`` and each bare
    aiokafka client ``**security_options(...)``."""
    clients = {"KafkaBroker", "AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
    found, bare = [], []
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("relay/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in clients:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            found.append(where)
            keywords = {k.arg for k in node.keywords}
            spread = [
                k.value
                for k in node.keywords
                if k.arg is None
                and isinstance(k.value, ast.Call)
                and getattr(k.value.func, "id", None) == "security_options"
            ]
            if not ("security" in keywords or spread):
                bare.append(where)
    assert len(found) >= 7, found  # the broker, two admin clients, four bare clients
    assert not bare, f"Kafka clients without the security settings: {bare}"


# -- what is refused when the settings are read ---------------------------------------


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"kafka_sasl_username": None}, "SASL_PLAINTEXT needs RELAY_KAFKA_SASL_USERNAME"),
        ({"kafka_sasl_password": None}, "needs RELAY_KAFKA_SASL_PASSWORD or"),
        ({"kafka_sasl_password": ""}, "needs RELAY_KAFKA_SASL_PASSWORD or"),
        (
            {"kafka_security_protocol": "PLAINTEXT"},
            "RELAY_KAFKA_SASL_USERNAME is set but RELAY_KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
            "does not authenticate",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_sasl_username": None},
            "RELAY_KAFKA_SASL_PASSWORD is set but RELAY_KAFKA_SECURITY_PROTOCOL=SSL",
        ),
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
        (
            {"kafka_bootstrap": None},
            "SASL_PLAINTEXT needs RELAY_KAFKA_BOOTSTRAP: the embedded broker speaks PLAINTEXT",
        ),
        (
            {"kafka_ssl_cafile": "ca.pem"},
            "RELAY_KAFKA_SSL_CAFILE is set but RELAY_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
            "does not use TLS",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_ssl_cafile": "/nowhere/ca.pem"},
            "RELAY_KAFKA_SSL_CAFILE: cannot read /nowhere/ca.pem (No such file or directory)",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password_file": "/nowhere/pw"},
            "RELAY_KAFKA_SASL_PASSWORD_FILE: cannot read /nowhere/pw",
        ),
    ],
)
def test_bad_combinations_are_refused_naming_the_setting(
    changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        sasl(**changes)
    assert words in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_a_password_and_a_password_file_that_differ_are_refused(tmp_path: Path) -> None:
    other = secret_file(tmp_path, "another password\n")
    with pytest.raises(ValidationError) as caught:
        sasl(kafka_sasl_password_file=other)
    message = str(caught.value)
    assert "RELAY_KAFKA_SASL_PASSWORD and RELAY_KAFKA_SASL_PASSWORD_FILE are both set" in message
    assert PASSWORD not in message and "another password" not in message
    # The same secret twice (``relay up`` passes on what it read) is no conflict.
    same = secret_file(tmp_path, PASSWORD + "\n", "same")
    assert sasl(kafka_sasl_password_file=same).kafka_sasl_password == SecretStr(PASSWORD)


def test_an_empty_or_unreadable_password_file_is_refused(tmp_path: Path) -> None:
    empty = secret_file(tmp_path, "\n")
    with pytest.raises(ValidationError, match=f"RELAY_KAFKA_SASL_PASSWORD_FILE: {empty} is empty"):
        sasl(kafka_sasl_password=None, kafka_sasl_password_file=empty)
    with pytest.raises(ValidationError, match="RELAY_KAFKA_SASL_PASSWORD_FILE: cannot read"):
        sasl(kafka_sasl_password=None, kafka_sasl_password_file=tmp_path)  # a directory


def test_a_client_certificate_needs_its_key_and_a_key_its_certificate(
    client_files: tuple[Path, Path],
) -> None:
    cert, key = client_files
    with pytest.raises(ValidationError, match="RELAY_KAFKA_SSL_CERTFILE holds no private key"):
        RelaySettings(kafka_security_protocol="SSL", kafka_ssl_certfile=cert)
    with pytest.raises(ValidationError, match="RELAY_KAFKA_SSL_KEYFILE is set without"):
        RelaySettings(kafka_security_protocol="SSL", kafka_ssl_keyfile=key)


# -- secrets from files, and nowhere in sight ------------------------------------------


# The shared secrets, and a service's own (the console's OIDC client secret).
SECRETS = [(RelaySettings, name) for name in sorted(FILE_SECRETS)] + [
    (ConsoleSettings, name)
    for name in sorted(ConsoleSettings.file_secrets)
    if name not in FILE_SECRETS
]


@pytest.mark.parametrize(("kind", "name"), SECRETS)
def test_every_secret_can_come_from_a_file(
    kind: type[RelaySettings], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    value = "smtp://relay:pw@mail.example:25" if name == "smtp_url" else "from-a-file"
    monkeypatch.setenv(f"RELAY_{name.upper()}_FILE", str(secret_file(tmp_path, value + "\r\n")))
    if name == "kafka_sasl_password":
        monkeypatch.setenv("RELAY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        monkeypatch.setenv("RELAY_KAFKA_SASL_USERNAME", "relay")
    got = getattr(kind(), name)
    assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == value

    monkeypatch.setenv(f"RELAY_{name.upper()}", "something else")
    with pytest.raises(ValidationError, match=f"RELAY_{name.upper()}_FILE are both set"):
        kind()


def test_no_secret_in_the_settings_repr_str_or_errors(tmp_path: Path) -> None:
    secrets = [PASSWORD, "smtp-pa55", "db-pa55", "signing-key-123", "oidc-secret-456"]
    settings = sasl(
        ConsoleSettings,  # the shared secrets, and the console's own
        kafka_sasl_password=None,
        kafka_sasl_password_file=secret_file(tmp_path, PASSWORD),
        smtp_url="smtps://relay:smtp-pa55@mail.example:465",
        database_url="postgresql://relay:db-pa55@db.example/relay",
        secret_key="signing-key-123",
        console_oidc_client_secret="oidc-secret-456",
    )
    shown = repr(settings) + str(settings)
    assert "smtps://relay:***@mail.example:465" in shown
    assert "postgresql://relay:***@db.example/relay" in shown
    for secret in secrets:
        assert secret not in shown
    assert settings.smtp == "smtps://relay:smtp-pa55@mail.example:465"  # the mailer's copy

    # A refused value is not echoed back either (pydantic shows the input by default).
    with pytest.raises(ValidationError) as caught:
        RelaySettings(smtp_url="smtp://relay:smtp-pa55@mail", ack_link_days=0)
    assert "smtp-pa55" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("smtp://u:p@h:25?starttls=true", "smtp://u:***@h:25?starttls=true"),
        ("smtps://us%40er:p%3Ass@mail.example", "smtps://us%40er:***@mail.example"),
        ("smtp://user@h", "smtp://user@h"),
        ("smtp://h:25", "smtp://h:25"),
        ("Missing Episode Relay <relay@localhost>", "Missing Episode Relay <relay@localhost>"),
        ("smtp://u:p@[::1", "<URL hidden>"),
    ],
)
def test_url_passwords_are_masked(url: str, shown: str) -> None:
    assert mask_url_password(url) == shown
