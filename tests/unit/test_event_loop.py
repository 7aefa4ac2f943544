"""RELAY_EVENT_LOOP: which loop a service runs on (services/runtime/event_loop.py)."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from services.runtime import event_loop
from services.runtime.settings import RelaySettings


def test_the_default_is_uvloop_where_it_is_installed() -> None:
    assert RelaySettings().event_loop == "auto"
    assert event_loop.loop_name("auto") == "uvloop"
    assert event_loop.loop_name("uvloop") == "uvloop"


def test_asyncio_is_the_way_back() -> None:
    assert event_loop.loop_name("asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_loop, "uvloop_installed", lambda: False)
    assert event_loop.loop_name("auto") == "asyncio"
    with pytest.raises(event_loop.EventLoopUnavailable, match="RELAY_EVENT_LOOP=asyncio"):
        event_loop.loop_name("uvloop")


def test_an_unknown_loop_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        RelaySettings()


@pytest.mark.parametrize(
    ("name", "kind"), [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)]
)
def test_run_runs_on_the_named_loop(name: event_loop.LoopName, kind: type) -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = event_loop.run(which(), name)
    assert isinstance(loop, kind)
    assert name == "uvloop" or not isinstance(loop, uvloop.Loop)
