"""How much the broker gathers before it answers a service's fetch (issue 18): the
console, off the alerts' path, lets it gather up to 64 KiB or 250 ms, for fewer fetches
and transactions; a service on the path (the router here) is answered at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from sqlalchemy import MetaData

from schemas.catalogue import ALERT_STATUS
from services.console.app import (
    CONSOLE_FETCH_MAX_WAIT_MS,
    CONSOLE_FETCH_MIN_BYTES,
    _runtime,
)
from services.console.settings import ConsoleSettings
from services.runtime.database import utcnow
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings


def _fetch_args(runtime: ServiceRuntime) -> dict[str, Any]:
    runtime.consumers.attach()
    (subscriber,) = runtime.broker.subscribers
    args: dict[str, Any] = cast(Any, subscriber)._connection_args  # aiokafka's consumer's
    return {k: args[k] for k in ("fetch_min_bytes", "fetch_max_wait_ms")}


def test_the_console_lets_the_broker_gather_its_fetches(tmp_path: Path) -> None:
    settings = ConsoleSettings(var_dir=tmp_path)
    runtime = _runtime(settings, None, None, utcnow)
    assert _fetch_args(runtime) == {
        "fetch_min_bytes": CONSOLE_FETCH_MIN_BYTES,
        "fetch_max_wait_ms": CONSOLE_FETCH_MAX_WAIT_MS,
    }
    assert CONSOLE_FETCH_MIN_BYTES >= 16 * 1024 and CONSOLE_FETCH_MAX_WAIT_MS <= 500


def test_a_service_on_the_alerts_path_is_answered_at_once(tmp_path: Path) -> None:
    runtime = ServiceRuntime.build("router", RelaySettings(var_dir=tmp_path), MetaData())

    async def handler(session: Any, message: Any, out: Any) -> None:
        return None

    runtime.consumers.subscribe(ALERT_STATUS, handler)
    assert _fetch_args(runtime)["fetch_min_bytes"] == 1
