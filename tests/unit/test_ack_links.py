"""Signed acknowledgement links, pure: round trip, tampering, expiry under a moved
clock, another secret, and the key file every service of one machine shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.base import derived_id
from services.runtime.ack_links import (
    AckLinkExpiredError,
    AckLinkInvalidError,
    AckLinks,
    ack_links,
    secret_key,
)
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock

SECRET = "a partnership secret of some length"


def test_a_link_names_its_alert_until_it_expires() -> None:
    clock = MovableClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    links = AckLinks(SECRET, "https://console.example/", timedelta(days=14), clock)
    url = links.url("alert-1")
    assert url.startswith("https://console.example/ack/")
    token = url.rsplit("/", 1)[1]
    clock.advance(timedelta(days=13, hours=23))
    assert links.verify(token) == "alert-1"
    clock.advance(timedelta(hours=2))
    with pytest.raises(AckLinkExpiredError) as caught:
        links.verify(token)
    assert caught.value.alert_id == "alert-1"


@pytest.mark.parametrize("change", ["x", "drop", "swap"])
def test_an_altered_or_foreign_link_is_refused(change: str) -> None:
    links = AckLinks(SECRET, "https://c")
    token = links.token("alert-1")
    altered = {
        "x": token + "x",
        "drop": token[:-2],
        "swap": links.token("alert-2").split(".")[0] + "." + token.split(".")[1],
    }[change]
    with pytest.raises(AckLinkInvalidError):
        links.verify(altered)
    with pytest.raises(AckLinkInvalidError):
        AckLinks("another partnership's secret", "https://c").verify(token)
    with pytest.raises(ValueError, match="RELAY_SECRET_KEY"):
        AckLinks("short", "https://c")


def test_the_secret_comes_from_the_environment_or_one_shared_key_file(tmp_path: Path) -> None:
    settings = RelaySettings(var_dir=tmp_path / "var")
    first = secret_key(settings)
    assert len(first) >= 32 and secret_key(settings) == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    token = ack_links(settings).token("alert-1")
    assert ack_links(settings).verify(token) == "alert-1"  # another service, same key
    given = settings.model_copy(update={"secret_key": SecretStr(SECRET)})
    assert secret_key(given) == SECRET
    assert SECRET not in repr(given)


def test_tokens_are_itsdangerous_own_and_a_compressed_one_still_verifies() -> None:
    """Dumping skips itsdangerous' zlib attempt (issue 18): the same token as the stock
    serializer's for an alert id, and a link it compressed (a long, repetitive payload)
    still acknowledges."""
    from itsdangerous import URLSafeSerializer

    clock = MovableClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    links = AckLinks(SECRET, "https://console.example/", timedelta(days=14), clock)
    stock = URLSafeSerializer(SECRET, salt="relay.acknowledgement.v1")
    issued = int(clock().timestamp())
    for n in range(200):  # alert ids are UUIDs (schemas.base.derived_id)
        alert_id = derived_id("event", str(n), "school")
        assert links.token(alert_id) == stock.dumps([alert_id, issued])
    assert links.verify(links.token("A" * 200)) == "A" * 200  # would have compressed
    compressed = stock.dumps(["a" * 200, issued])
    assert compressed.startswith(".")  # itsdangerous' mark of a compressed payload
    assert links.verify(compressed) == "a" * 200
