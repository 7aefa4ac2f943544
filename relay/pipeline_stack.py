"""The stack ``relay bench pipeline`` measures: ``relay up``'s services with the run's own
ports, topics and database, an area imported, an API key, and copies of router and
notifier when asked."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from relay.embedded import free_port
from relay.pipeline_load import Progress
from relay.up import Child, Stack
from services.runtime.kafka import ensure_topics
from services.runtime.migrations import upgrade
from services.runtime.settings import SERVICES, RelaySettings, ServiceName


@dataclass
class BenchStack(Stack):
    """``relay up``'s services, with this run's own ports, topics and database."""

    env: dict[str, str] = field(default_factory=dict)

    def child_env(self, replay: bool) -> dict[str, str]:
        return {**super().child_env(replay), **self.env}


def relay_command(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"relay {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def add_copies(stack: Stack, env: dict[str, str], copies: int) -> None:
    """Start copies 2..N of router and notifier (``relay serve``, each on its own health
    port) as children of ``stack``, named ``router-2``, ``notifier-2`` and so on, and
    wait until each is healthy; ``stack.stop_services`` drains them with the others."""
    logs = stack.logs
    ports: dict[str, int] = {}
    scaled: tuple[ServiceName, ...] = ("router", "notifier")
    for n in range(2, copies + 1):
        for service in scaled:
            name, port = f"{service}-{n}", free_port()
            with open(logs / f"{name}.log", "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "relay", "serve", service],
                    env={**env, f"RELAY_{service.upper()}_PORT": str(port)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            stack.children[name] = Child(service, process)
            ports[name] = port
    deadline = time.monotonic() + 90
    for name, port in ports.items():
        while True:
            if stack.children[name].process.poll() is not None:
                raise RuntimeError(f"{name} exited while starting; see {logs / name}.log")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become healthy on port {port}")
            time.sleep(0.3)


# A benchmark's feed runs flat out: the ingest's own limit stays out of its way.
BENCH_RATE_LIMIT = "100000/second"


def stack_settings(
    folder: Path, kind: str, url: str, bootstrap: str | None, smtp_port: int
) -> RelaySettings:
    return RelaySettings(
        kafka_bootstrap=bootstrap,
        database_url=url if kind == "postgresql" else None,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        var_dir=folder / "var",
        embedded_kafka_port=free_port(),
        ingest_port=free_port(),
        console_port=free_port(),
        router_port=free_port(),
        notifier_port=free_port(),
        # A shared broker keeps other runs' messages: these topics are this run's own.
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}." if bootstrap else "",
    )


def prepare(
    stack: BenchStack,
    folder: Path,
    kind: str,
    url: str,
    children: int,
    copies: int,
    progress: Progress,
) -> tuple[Path, str]:
    """Generate and import the area, make an API key, start the services; the area's
    folder and the key."""
    settings = stack.settings
    settings.var_dir.mkdir(parents=True)
    stack.env = {
        "RELAY_TOPIC_PREFIX": settings.topic_prefix,
        "RELAY_INGEST_RATE_LIMIT": BENCH_RATE_LIMIT,
        **{
            f"RELAY_{name.upper()}_PORT": str(getattr(settings, f"{name}_port"))
            for name in SERVICES
        },
        **({"RELAY_DATABASE_URL": url} if kind == "postgresql" else {}),
    }
    env = stack.child_env(replay=False)
    area = folder / "area"
    progress("prepare", 0, 3)
    relay_command(env, "demo-data", "--children", str(children), "--out", str(area))
    settings = settings.model_copy(update={"policy_file": area / "policy.toml"})
    stack.settings = settings
    env = stack.child_env(replay=False)
    for service in SERVICES:
        upgrade(service, settings.database_url_for(service))
    relay_command(env, "directory", "import", "organisations", str(area / "organisations.csv"))
    relay_command(env, "directory", "import", "roll", *map(str, sorted(area.glob("roll_*.csv"))))
    key = json.loads(
        relay_command(env, "keys", "create", "--force-code", "10", "--name", "bench", "--json")
    )["key"]
    progress("prepare", 2, 3)
    asyncio.run(ensure_topics(settings))
    stack.start_services(replay=False)
    stack.wait_healthy()
    add_copies(stack, env, copies)
    progress("prepare", 3, 3)
    return area, key
