"""``relay up --demo``: load a synthetic area and play a police feed into the running
stack, through the same commands and API a partnership would use."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx

from relay.demo_data import LA_CODE
from services.runtime.settings import RelaySettings

DEMO_CHILDREN = 3000
EVENTS_PER_SECOND = 5.0


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
    )
    if done.returncode != 0:
        raise RuntimeError(f"relay {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def generate(settings: RelaySettings) -> Path:
    """Generate the synthetic area once; returns its routing policy file."""
    folder = settings.var_dir / "demo"
    if not (folder / "feed.ndjson").exists() or not (folder / "policy.toml").exists():
        print(f"demo: generating a synthetic area of {DEMO_CHILDREN} children ...", flush=True)
        _relay(settings, "demo-data", "--children", str(DEMO_CHILDREN), "--out", str(folder))
    return folder / "policy.toml"


def prepare(settings: RelaySettings) -> tuple[Path, str]:
    """Import the directory, and get an API key for force 10."""
    folder = settings.var_dir / "demo"
    _relay(settings, "directory", "import", "organisations", str(folder / "organisations.csv"))
    for roll in sorted(folder.glob("roll_*.csv")):
        _relay(settings, "directory", "import", "roll", str(roll))
    key_file = folder / "api-key"
    if not key_file.exists():
        created = json.loads(
            _relay(
                settings, "keys", "create", "--force-code", "10", "--name", "demo feed", "--json"
            )
        )
        key_file.write_text(created["key"])
        key_file.chmod(0o600)
    return folder / "feed.ndjson", key_file.read_text().strip()


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


def play(feed: Path, key: str, ingest_url: str, stopping: threading.Event) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    lines = [line for line in feed.read_text().splitlines() if line.strip()]
    with httpx.Client(
        base_url=ingest_url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        for n, line in enumerate(lines, start=1):
            if stopping.is_set():
                break
            answer = client.post(
                "/v1/episode-events", content=line, headers={"Content-Type": "application/json"}
            )
            outcomes[
                {202: "accepted", 200: "duplicate", 422: "rejected"}.get(
                    answer.status_code, f"http {answer.status_code}"
                )
            ] += 1
            if n % 25 == 0 or n == len(lines):
                summary = ", ".join(f"{v} {k}" for k, v in sorted(outcomes.items()))
                print(f"demo: {n}/{len(lines)} police events posted ({summary})", flush=True)
            stopping.wait(1 / EVENTS_PER_SECOND)
    return outcomes


def start_demo(settings: RelaySettings, ingest_url: str, stopping: threading.Event) -> None:
    def run() -> None:
        try:
            print("demo: loading the synthetic area ...", flush=True)
            feed, key = prepare(settings)
            password = demo_users(settings)
            names = ", ".join(f"{u} ({r})" for u, r, _ in DEMO_USERS)
            print(
                f"demo: console sign-in: {names}; password {password} "
                f"(kept in {settings.var_dir / 'demo' / 'console-password'})",
                flush=True,
            )
            print(
                f"demo: playing {feed} at {EVENTS_PER_SECOND:.0f} events/s; "
                f"alerts land in {settings.outbox_dir}/",
                flush=True,
            )
            outcomes = play(feed, key, ingest_url, stopping)
            if outcomes and set(outcomes) == {"duplicate"}:
                print(
                    "demo: this feed was played before (all duplicates, nothing sent "
                    "twice). `rm -r var` for a fresh start.",
                    flush=True,
                )
        except (RuntimeError, httpx.HTTPError, OSError) as exc:
            print(f"demo: stopped: {exc}", flush=True)

    threading.Thread(target=run, name="demo", daemon=True).start()
