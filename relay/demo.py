"""``relay up --demo``: load a synthetic area and tell a story in it (relay/demo_story.py)
into the running stack, through the same commands, API and links a partnership would
use. The story is placed in the present the first time; later runs play it again
(duplicates, nothing sent twice) and its clock has run on, as a partnership's would."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from relay.demo_data import LA_CODE, write_area
from relay.demo_data import generate as generate_area
from relay.demo_panel import hold_meeting
from relay.demo_recipients import record_interview, reply
from relay.demo_story import Interview, Reply, Story, tell
from relay.lifeline import die_with_parent
from services.runtime.settings import RelaySettings

DEMO_CHILDREN = 3000
EVENTS_PER_SECOND = 10.0


# The demo's console accounts: username, role, local authority.
DEMO_USERS = (
    ("chair", "mset-chair", None),
    ("rhi", "rhi-worker", LA_CODE),
    ("mash", "mash", None),
    ("admin", "admin", None),
)


def _relay(settings: RelaySettings, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "RELAY_VAR_DIR": str(settings.var_dir.resolve())}
    if settings.policy_file is not None:  # the demo area's: its imports check against it
        env["RELAY_POLICY_FILE"] = str(settings.policy_file.resolve())
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env=env,
        text=True,
        capture_output=True,
        check=False,
        input=stdin,
        preexec_fn=die_with_parent(),  # this thread waits for it: it ends with relay up
    )
    if done.returncode != 0:
        raise RuntimeError(f"relay {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def generate(settings: RelaySettings) -> Path:
    """Generate the synthetic area and its story once; returns the area's routing policy."""
    folder = settings.var_dir / "demo"
    if not (folder / "story.json").exists() or not (folder / "policy.toml").exists():
        now = datetime.now(UTC)
        print(f"demo: generating a synthetic area of {DEMO_CHILDREN} children ...", flush=True)
        area = generate_area(DEMO_CHILDREN, now=now)
        write_area(area, folder)
        tell(area, now).save(folder / "story.json")
    return folder / "policy.toml"


def prepare(settings: RelaySettings) -> str:
    """Import the directory, and get an API key for force 10."""
    folder = settings.var_dir / "demo"
    _relay(settings, "directory", "import", "organisations", str(folder / "organisations.csv"))
    _relay(settings, "directory", "import", "roll", *map(str, sorted(folder.glob("roll_*.csv"))))
    key_file = folder / "api-key"
    if not key_file.exists():
        created = json.loads(
            _relay(
                settings, "keys", "create", "--force-code", "10", "--name", "demo feed", "--json"
            )
        )
        key_file.write_text(created["key"])
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def demo_users(settings: RelaySettings) -> str:
    """The demo's console accounts, made once with one random password (kept, 0600, in
    the demo folder so that a restart signs in the same way); returns the password."""
    password_file = settings.var_dir / "demo" / "console-password"
    if password_file.exists():
        return password_file.read_text().strip()
    password = secrets.token_urlsafe(12)
    for username, role, la_code in DEMO_USERS:
        args = ["users", "create", "--username", username, "--role", role]
        _relay(settings, *args, *(["--la", la_code] if la_code else []), stdin=password + "\n")
    password_file.write_text(password)
    password_file.chmod(0o600)
    return password


Act = Callable[[], str | None]  # does one thing of the story; says what, if worth saying


class _People:
    """The story's recipients and RHI worker, acting through links and commands."""

    def __init__(self, settings: RelaySettings, stopping: threading.Event) -> None:
        self.settings, self.stopping = settings, stopping

    def reply(self, act: Reply) -> str:
        return reply(self.settings.outbox_dir, act, self.stopping)

    def interview(self, act: Interview) -> str:
        def relay(*args: str) -> str:
            return _relay(self.settings, *args)

        return record_interview(relay, act, self.stopping)


def timeline(
    story: Story, post: Callable[[dict[str, Any]], None], people: _People
) -> Iterator[tuple[datetime, Act]]:
    """The story's events, replies and interviews in time order (replies and interviews
    after the events of the same moment: they answer alerts those events raised)."""
    moments: list[tuple[datetime, int, int, Act]] = []
    for n, event in enumerate(story.events):
        when = datetime.fromisoformat(event["occurred_at"])
        moments.append((when, 0, n, partial(post, event)))
    for n, r in enumerate(story.replies):
        moments.append((r.at, 1, n, partial(people.reply, r)))
    for n, i in enumerate(story.interviews):
        moments.append((i.at, 2, n, partial(people.interview, i)))
    for when, _rank, _n, action in sorted(moments, key=lambda m: m[:3]):
        yield when, action


def play(
    story: Story, key: str, ingest_url: str, settings: RelaySettings, stopping: threading.Event
) -> Counter[str]:
    """Post each event at its time (those in the past at once, a few a second), and let
    the people of the story act when theirs comes."""
    outcomes: Counter[str] = Counter()
    with httpx.Client(
        base_url=ingest_url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as client:

        def post(event: dict[str, Any]) -> None:
            answer = client.post("/v1/episode-events", json=event)
            outcomes[
                {202: "accepted", 200: "duplicate", 422: "rejected"}.get(
                    answer.status_code, f"http {answer.status_code}"
                )
            ] += 1
            stopping.wait(1 / EVENTS_PER_SECOND)

        posted = 0
        for when, action in timeline(story, post, _People(settings, stopping)):
            wait = (when - datetime.now(UTC)).total_seconds()
            if wait > 0:
                if posted:
                    _summary(outcomes)
                    posted = 0
                print(f"demo: next at {when.astimezone():%H:%M:%S} ...", flush=True)
                if stopping.wait(wait):
                    break
            if stopping.is_set():
                break
            said = action()
            if said:
                print(f"demo: {said}", flush=True)
            else:
                posted += 1
        if posted:
            _summary(outcomes)
    return outcomes


def _summary(outcomes: Counter[str]) -> None:
    summary = ", ".join(f"{v} {k}" for k, v in sorted(outcomes.items()))
    print(f"demo: police events posted: {summary}", flush=True)


def _panel_meets(settings: RelaySettings, password: str, stopping: threading.Event) -> None:
    """The MSET panel's meeting of yesterday, recorded by its chair once the story's
    repeat child is on the watchlist (relay/demo_panel.py), beside the story's feed."""
    console = "http://{}:{}".format(*settings.listen("console"))

    def run() -> None:
        try:
            said = hold_meeting(console, password, stopping, datetime.now(UTC))
            print(f"demo: {said}", flush=True)
        except httpx.HTTPError as exc:
            print(f"demo: the panel's meeting is not recorded: {exc}", flush=True)

    threading.Thread(target=run, name="demo-panel", daemon=True).start()


def start_demo(settings: RelaySettings, ingest_url: str, stopping: threading.Event) -> None:
    def run() -> None:
        try:
            started = time.monotonic()
            print("demo: loading the synthetic area ...", flush=True)
            key = prepare(settings)
            password = demo_users(settings)
            names = ", ".join(f"{u} ({r})" for u, r, _ in DEMO_USERS)
            print(
                f"demo: console sign-in: {names}; password {password} "
                f"(kept in {settings.var_dir / 'demo' / 'console-password'})",
                flush=True,
            )
            story = Story.load(settings.var_dir / "demo" / "story.json")
            print(
                f"demo: area loaded in {time.monotonic() - started:.0f} s; the story "
                f"(placed at {story.now.astimezone():%d %b %H:%M}) plays now: "
                f"{len(story.events)} police events; alerts land in {settings.outbox_dir}/",
                flush=True,
            )
            _panel_meets(settings, password, stopping)
            outcomes = play(story, key, ingest_url, settings, stopping)
            if outcomes and set(outcomes) <= {"duplicate", "rejected"}:
                print(
                    "demo: this story was played before (duplicates, nothing sent twice), "
                    "and its deadlines have run on since. `rm -r var` for a fresh one.",
                    flush=True,
                )
            elif not stopping.is_set():
                print("demo: the story is told; the clock runs on.", flush=True)
        except (RuntimeError, httpx.HTTPError, OSError) as exc:
            print(f"demo: stopped: {exc}", flush=True)

    threading.Thread(target=run, name="demo", daemon=True).start()
