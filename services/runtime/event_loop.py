"""The event loop a service runs on (``RELAY_EVENT_LOOP``).

Every service spends much of an alert's CPU in the loop itself: Kafka fetches and
produce requests, SMTP replies, HTTP requests, each a few callbacks and a task step.
uvloop (libuv, written in Cython) runs those for less than asyncio's own loop in pure
Python; it is what uvicorn and asyncpg are built to run on. ``auto`` takes uvloop where it
is installed (it is a dependency except on Windows, which it does not support) and
asyncio's loop otherwise; ``asyncio`` is the way back should a uvloop release misbehave.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
LoopName = Literal["uvloop", "asyncio"]

T = TypeVar("T")


class EventLoopUnavailable(RuntimeError):
    """``RELAY_EVENT_LOOP=uvloop`` where uvloop is not installed."""


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_name(choice: EventLoopChoice) -> LoopName:
    """The loop ``choice`` gives on this machine."""
    if choice == "asyncio":
        return "asyncio"
    if uvloop_installed():
        return "uvloop"
    if choice == "uvloop":
        raise EventLoopUnavailable(
            "RELAY_EVENT_LOOP=uvloop, but uvloop is not installed (it does not run on "
            "Windows): install the project's dependencies, or set RELAY_EVENT_LOOP=asyncio"
        )
    return "asyncio"


def loop_factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], name: LoopName) -> T:
    """``asyncio.run(main)`` on the named loop."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
