"""`relay up --demo` as a new user meets it (issue 23): within three minutes of starting,
every console page, signed in as each role, shows the story the demo tells; the RHI
queue holds interviews due in the future and nothing is overdue or escalated. Then
`relay up` is killed (SIGKILL, as the out-of-memory killer would) and its broker and
services are gone within five seconds."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import psutil
import pytest

from relay.demo_panel import signed_in
from relay.embedded import free_port
from tests.conftest import EMBEDDED_GROUP_ENV

pytestmark = pytest.mark.e2e

STORY_WITHIN_S = 180  # from `relay up --demo` to every page telling its part
PORTS = ("INGEST", "CONSOLE", "ROUTER", "NOTIFIER", "EMBEDDED_KAFKA", "EMBEDDED_SMTP")


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    started: float
    var: Path
    env: dict[str, str]
    console: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def relay(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "relay", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def cast(self) -> dict[str, str]:
        story = json.loads((self.var / "demo" / "story.json").read_text())
        return dict(story["cast"])

    def sign_in(self, username: str) -> httpx.Client:
        """A client signed in as ``username``, as the demo's panel chair signs in."""
        password = (self.var / "demo" / "console-password").read_text().strip()
        return signed_in(self.console, username, password)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    var = tmp_path_factory.mktemp("demo") / "var"
    ports = {name: free_port() for name in PORTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update({f"RELAY_{name}_PORT": str(port) for name, port in ports.items()})
    env.update(RELAY_VAR_DIR=str(var), PYTHONUNBUFFERED="1", **EMBEDDED_GROUP_ENV)
    log = var.parent / "up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "up", "--demo"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    try:
        yield Demo(process, started, var, env, f"http://127.0.0.1:{ports['CONSOLE']}", log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # drains, like Ctrl-C
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _pages(demo: Demo) -> dict[str, Callable[[], str | None]]:
    """Each page of each role, with what the story puts on it: None when it shows it,
    else what is missing."""
    clients: dict[str, httpx.Client] = {}

    def page(user: str, path: str, *wanted: str) -> Callable[[], str | None]:
        def check() -> str | None:
            if user not in clients:
                clients[user] = demo.sign_in(user)
            answer = clients[user].get(path)
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}"
            text = _text(answer.text)
            missing = [w for w in wanted if w not in text]
            return f"no {missing!r}" if missing else None

        return check

    cast = demo.cast()

    def ref(part: str) -> str:
        return f"10 / {cast[part]}"

    repeat = ref("repeat missing (3), missing now")
    first_return = ref("repeat missing (1)")
    return {
        "chair: episodes": page(
            "chair", "/", ref("high risk, found minutes later"), repeat, "Acknowledged"
        ),
        "chair: an episode with answers": page(
            "chair",
            f"/episodes/10/{cast['with the youth justice worker now']}",
            "Northumberland Youth Justice Service",
            "Here now",
        ),
        "chair: watchlist": page("chair", "/watchlist", "missing now", "CCE"),
        "chair: links": page("chair", "/network", "1 time(s) together", "Blyth beach front"),
        "chair: meeting pack": page(
            "chair",
            "/meeting-pack",
            "Episodes in the period",
            repeat,
            "before the interview",
            "Keep on the MSET list",  # the panel's decision (relay/demo_panel.py)
        ),
        "chair: RHI queue": page("chair", "/rhi", "Newcastle City Council", first_return),
        "chair: compliance": page("chair", "/compliance", "100%"),
        "chair: identity reviews": page(
            "chair", "/reviews", ref("a twin known by an initial (identity review)")
        ),
        "chair: dead letters": page("chair", "/dead-letters", "No dead letters"),
        "chair: rejects": page("chair", "/rejects", "check digit"),
        "chair: help": page("chair", "/help", "Escalated"),
        "chair: analytics": page("chair", "/analytics", "children with 3+ episodes in 90 days"),
        "chair: panel": page("chair", "/panel", "Sam Okafor (MSET chair, demo)"),
        "rhi: figures": page("rhi", "/returns", "Whole period", "Children by how many episodes"),
        "rhi: analytics": page("rhi", "/analytics", "Northumberland County Council"),
        "rhi: RHI queue": page(
            "rhi", "/rhi", "Tasks of Northumberland County Council", first_return, "Completed"
        ),
        "rhi: compliance": page("rhi", "/compliance", "100%"),
        "mash: identity reviews": page(
            "mash", "/reviews", ref("a twin known by an initial (identity review)")
        ),
        "admin: audit": page("admin", "/admin/audit", "Answer here now", "Answer information"),
        "admin: dead letters": page("admin", "/dead-letters", "No dead letters"),
        "admin: rejects": page("admin", "/rejects", "check digit"),
    }


def test_within_three_minutes_every_page_tells_the_story(demo: Demo) -> None:
    deadline = demo.started + STORY_WITHIN_S
    while b"Ready." not in demo.log.read_bytes():
        assert demo.process.poll() is None, demo.output()
        assert time.monotonic() < deadline, demo.output()
        time.sleep(0.5)
    while not (demo.var / "demo" / "console-password").exists():
        assert time.monotonic() < deadline, demo.output()
        time.sleep(0.5)
    checks = _pages(demo)
    missing: dict[str, str] = dict.fromkeys(checks, "not looked at")
    while missing and time.monotonic() < deadline:
        for name in list(missing):
            problem = checks[name]()
            if problem is None:
                del missing[name]
            else:
                missing[name] = problem
        if missing:
            time.sleep(2)
    took = time.monotonic() - demo.started
    assert not missing, f"after {took:.0f} s: {missing}\n{demo.output()}"
    print(f"every page told its part {took:.0f} s after relay up --demo")

    # The RHI queue: interviews due in the future, none overdue, nothing chased.
    now = datetime.now(UTC)
    tasks = json.loads(demo.relay("tasks", "list", "--json"))
    open_tasks = [t for t in tasks if t["state"] == "open"]
    assert len(open_tasks) >= 6
    assert all(datetime.fromisoformat(t["due_at"]) > now for t in open_tasks)
    assert {t["state"] for t in tasks} <= {"open", "completed"}
    rhi = demo.sign_in("rhi").get("/rhi").text
    assert "Overdue" not in rhi and "overdue" not in _text(rhi).split("Closed lately")[0]
    alerts = json.loads(demo.relay("alerts", "list", "--json", "--limit", "10000"))
    assert not [a for a in alerts if a["state"] in ("escalated", "permanent-failure")]
    subjects = [
        str(message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"])
        for p in (demo.var / "outbox").glob("*.eml")
    ]
    assert subjects and not [s for s in subjects if "overdue" in s or "reminder" in s.lower()]
    assert not [s for s in subjects if "not acknowledged" in s or "escalat" in s.lower()]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_killing_relay_up_leaves_no_process_behind(demo: Demo) -> None:
    assert demo.process.poll() is None, demo.output()
    children = psutil.Process(demo.process.pid).children(recursive=True)
    names = {" ".join(c.cmdline()[-2:]) for c in children}
    assert {"serve ingest", "serve router", "serve notifier", "serve console"} <= names
    assert any("broker" in c.cmdline() for c in children)  # the embedded Tansu broker
    demo.process.send_signal(signal.SIGKILL)
    demo.process.wait()
    killed = time.monotonic()
    while not all(_gone(c.pid) for c in children):
        left = [c.pid for c in children if not _gone(c.pid)]
        assert time.monotonic() - killed < 5, f"still running 5 s after relay up died: {left}"
        time.sleep(0.05)
    print(f"{len(children)} children gone {time.monotonic() - killed:.2f} s after SIGKILL")
