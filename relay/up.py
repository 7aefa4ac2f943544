"""``relay up``: the whole service on one machine (DESIGN §3).

The embedded broker (unless RELAY_KAFKA_BOOTSTRAP is set), the SMTP sink writing
``var/outbox/*.eml`` (unless RELAY_SMTP_URL is set), migrations, then the four services as
child processes (``relay serve <service>``; the console at a lower CPU priority, see
``NICENESS``), supervised: a service that dies is started
again; a broker that dies is started again and every service replays into it. Ctrl-C
drains the services before the broker stops. If ``relay up`` itself is killed, the
broker and the services end with it (relay/lifeline.py); a port already in use stops it
before anything starts, naming the port and its holder (relay/ports.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from relay.embedded import EmbeddedBroker
from relay.lifeline import die_with_parent
from relay.policy_cli import check_directory
from relay.policy_cli import describe as describe_policy
from relay.ports import busy
from relay.smtp_sink import start_sink
from services.runtime.kafka import ensure_topics
from services.runtime.migrations import upgrade
from services.runtime.settings import SERVICES, RelaySettings, ServiceName

log = logging.getLogger("relay.up")

DRAIN_TIMEOUT_S = 40
# On one machine the services share its cores. The console (projections and the chairs'
# pages) is not on the path from police to recipient: when the cores are short, as in a
# backlog after an outage, it yields to the other three and catches up after.
NICENESS: dict[str, int] = {"console": 10}


@dataclass
class Child:
    service: ServiceName
    process: subprocess.Popen[bytes]
    restarts: int = 0


@dataclass
class Stack:
    settings: RelaySettings
    broker: EmbeddedBroker | None = None
    children: dict[str, Child] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def logs(self) -> Path:
        return self.settings.var_dir / "logs"

    def child_env(self, replay: bool) -> dict[str, str]:
        env = dict(os.environ)
        env["RELAY_KAFKA_BOOTSTRAP"] = self.settings.bootstrap
        env["RELAY_SMTP_URL"] = self.settings.smtp
        env["RELAY_VAR_DIR"] = str(self.settings.var_dir.resolve())
        env["RELAY_REPLAY_ON_START"] = "true" if replay else "false"
        env["PYTHONUNBUFFERED"] = "1"
        if "RELAY_PUBLIC_URL" not in os.environ:
            # Links in emails lead to this console, on whatever port it was given.
            env["RELAY_PUBLIC_URL"] = f"http://127.0.0.1:{self.settings.console_port}"
        if self.settings.policy_file is not None:
            env["RELAY_POLICY_FILE"] = str(self.settings.policy_file.resolve())
        return env

    def spawn(self, service: ServiceName, replay: bool) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{service}.log", "ab") as out:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", "relay", "serve", service],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.child_env(replay),
                start_new_session=True,  # Ctrl-C reaches us; we drain the children in order
                preexec_fn=die_with_parent(),  # and if we are killed, they end too
            )
        if service in NICENESS:
            os.setpriority(
                os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS[service]
            )
        return process

    def start_services(self, replay: bool) -> None:
        for service in SERVICES:
            self.children[service] = Child(service, self.spawn(service, replay))

    def wait_healthy(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        for service in SERVICES:
            host, port = self.settings.listen(service)
            url = f"http://{host}:{port}/healthz"
            while True:
                child = self.children[service]
                if child.process.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with {child.process.returncode} while starting; "
                        f"see {self.logs / (service + '.log')}"
                    )
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} did not become healthy at {url}")
                time.sleep(0.3)

    def supervise_once(self) -> None:
        if self.broker and self.broker.process and self.broker.process.poll() is not None:
            print(
                "The embedded broker stopped; starting a new one and replaying into it.", flush=True
            )
            self.stop_services()
            self.broker.start()
            asyncio.run(ensure_topics(self.settings))
            self.start_services(replay=True)
            return
        for child in self.children.values():
            if child.process.poll() is not None and not self.stopping.is_set():
                child.restarts += 1
                print(
                    f"{child.service} exited ({child.process.returncode}); restarting "
                    f"(restart {child.restarts}). Log: {self.logs / (child.service + '.log')}",
                    flush=True,
                )
                child.process = self.spawn(child.service, replay=False)

    def stop_services(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """SIGTERM every service; each drains in-flight work, then exits."""
        for child in self.children.values():
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in self.children.values():
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(
                    f"{child.service} did not drain in {DRAIN_TIMEOUT_S}s; killing it", flush=True
                )
                child.process.kill()
                child.process.wait()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_up(settings: RelaySettings, demo: bool) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop drains like Ctrl-C
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings)
    sink = None
    fresh_broker = False
    try:
        if problems := busy(settings):  # before anything starts: name every one at once
            raise RuntimeError("; ".join(problems))
        if settings.kafka_bootstrap is None:
            _start_broker(stack, settings)
            fresh_broker = True
        if settings.smtp_url is None:
            sink = _start_sink(settings)
        settings = _with_policy(stack, settings, demo)
        _prepare_services(settings)
        print("Starting ingest, router, notifier and console ...", flush=True)
        stack.start_services(replay=fresh_broker)
        stack.wait_healthy()
        ingest = "http://{}:{}".format(*settings.listen("ingest"))
        _print_ready(settings, stack, ingest)
        if demo:
            from relay.demo import start_demo

            start_demo(settings, ingest, stack.stopping)
        while True:
            stack.supervise_once()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping: draining the services ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"relay up: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stopping.set()
        stack.stop_services()
        if sink is not None:
            sink.stop()
        if stack.broker is not None:
            stack.broker.stop()
        print("Stopped.", flush=True)


def _start_broker(stack: Stack, settings: RelaySettings) -> None:
    stack.broker = EmbeddedBroker(settings.embedded_kafka_port, settings.var_dir / "broker.log")
    print(f"Starting the embedded broker on {stack.broker.bootstrap} ...", flush=True)
    stack.broker.start()


def _start_sink(settings: RelaySettings) -> Controller:
    sink, _ = start_sink("127.0.0.1", settings.embedded_smtp_port, settings.outbox_dir)
    print(
        f"SMTP sink on 127.0.0.1:{settings.embedded_smtp_port}, mail in {settings.outbox_dir}/",
        flush=True,
    )
    return sink


def _with_policy(stack: Stack, settings: RelaySettings, demo: bool) -> RelaySettings:
    """The settings with the demo's routing policy if none is set (generating the demo
    area first if asked); the policy checked."""
    demo_policy = settings.var_dir / "demo" / "policy.toml"
    if demo:
        from relay.demo import generate

        demo_policy = generate(settings)
    if settings.policy_file is None and demo_policy.exists():
        # The demo's directory lives in this var dir; so does its routing policy.
        print(f"Routing policy: {demo_policy} (the demo area's)", flush=True)
        settings = settings.model_copy(update={"policy_file": demo_policy})
        stack.settings = settings
    try:  # a wrong policy stops here, naming the key, not in a service's log
        describe_policy(settings)
    except ValueError as exc:
        raise RuntimeError(f"policy: {exc}") from exc
    return settings


def _prepare_services(settings: RelaySettings) -> None:
    """Databases migrated, the directory complete, the topics there."""
    for service in SERVICES:
        upgrade(service, settings.database_url_for(service))
    directory = check_directory(settings)  # the router would refuse to start
    if directory.gaps:
        raise RuntimeError("; ".join(directory.gaps))
    asyncio.run(ensure_topics(settings))


def _print_ready(settings: RelaySettings, stack: Stack, ingest: str) -> None:
    console = "http://{}:{}".format(*settings.listen("console"))
    print(
        f"\nReady.\n  ingest API  {ingest}  (docs at {ingest}/docs)\n"
        f"  console     {console}\n  mail        {settings.outbox_dir}/\n"
        f"  logs        {stack.logs}/\nPress Ctrl-C to stop.\n",
        flush=True,
    )
