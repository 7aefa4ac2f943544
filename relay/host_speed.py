"""How fast this host runs Python today, so that CPU figures of different days compare.

The development VM's host changes under it: on 2026-12-05 the same commit used 3.8 to
6.3 ms of service CPU an alert against 2.2 to 2.5 the day before, and consecutive runs
differed by a third. A benchmark's CPU per alert means little without the speed of the
machine that ran it. :func:`measure` times a fixed piece of pure-Python work of the kind
the services do for an alert (an event's JSON read and written, a few dicts and
dataclasses built, strings formatted and hashed); the benchmarks report it before and
after their run, in milliseconds of CPU, lowest of a few repetitions (a busy neighbour
only ever makes it slower). Two runs' CPU per alert compare after scaling by their
``host_ms``; a run whose before and after differ much ran on a host that changed speed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

# An event as the police post it (made up; no real person).
_EVENT = {
    "event_id": "host-speed-0001",
    "type": "reported",
    "occurred_at": "2026-12-05T06:00:00+00:00",
    "force_code": "10",
    "episode_ref": "10-HS-0001",
    "child": {
        "given_name": "Alex",
        "family_name": "Example",
        "date_of_birth": "2012-03-04",
        "address": {"line1": "1 Test Street", "town": "Testtown", "postcode": "AB1 2CD"},
    },
    "risk": {"grade": "medium", "factors": ["cse", "county-lines"]},
}
ROUNDS = 4_000  # about 50 ms of CPU on the development VM (2026-12-05)
REPEATS = 5


@dataclass(frozen=True)
class _Alert:
    alert_id: str
    recipient: str
    subject: str
    risk: str


def _work(rounds: int) -> int:
    """The fixed work; returns a checksum so that nothing is optimised away."""
    text = json.dumps(_EVENT)
    total = 0
    for n in range(rounds):
        event = json.loads(text)
        child = event["child"]
        alerts = [
            _Alert(
                hashlib.sha1(f"{event['event_id']}|{n}|{r}".encode()).hexdigest(),
                f"{r}@example.org",
                f"Missing: {child['given_name']} {child['family_name']} ({event['episode_ref']})",
                event["risk"]["grade"],
            )
            for r in ("school", "gp", "la")
        ]
        body = json.dumps({"alerts": [a.__dict__ for a in alerts], "n": n}, sort_keys=True)
        total += len(body) + sum(len(a.subject) for a in alerts)
    return total


def measure(rounds: int = ROUNDS, repeats: int = REPEATS) -> float:
    """Milliseconds of this process's CPU for the fixed work, the lowest of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        _work(rounds)
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


# What a bench's table says of the figure.
MEANING = "fixed Python work (relay/host_speed.py); CPU figures compare after scaling by it"


def caption(host_ms: dict[str, float]) -> str:
    """A bench table's line for its ``host_ms`` figures."""
    return f"host speed {host_ms['before']} / {host_ms['after']} ms before / after: {MEANING}"


__all__ = ["MEANING", "ROUNDS", "caption", "measure"]
