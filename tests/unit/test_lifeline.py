"""relay/lifeline.py: a child started with ``die_with_parent`` ends when its parent is
killed; relay/ports.py: a busy port is named with the process holding it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from relay.embedded import free_port
from relay.ports import busy
from services.runtime.settings import RelaySettings

PARENT = """
import subprocess, sys, time
from relay.lifeline import die_with_parent
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=die_with_parent()
)
print(child.pid, flush=True)
time.sleep(120)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_child_ends_within_five_seconds_of_its_parent_being_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert not gone(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while not gone(child):
        assert time.monotonic() < deadline, "the child outlived its parent by 5 s"
        time.sleep(0.05)


def test_a_busy_port_is_named_with_its_holder() -> None:
    ports = {name: free_port() for name in ("INGEST", "CONSOLE", "ROUTER", "NOTIFIER")}
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        settings = RelaySettings(
            ingest_port=ports["INGEST"],
            console_port=taken,
            router_port=ports["ROUTER"],
            notifier_port=ports["NOTIFIER"],
            kafka_bootstrap="127.0.0.1:1",  # not embedded: its port is not ours to check
            smtp_url="smtp://127.0.0.1:1",
        )
        [problem] = busy(settings)
    assert f"port {taken} (console) is in use" in problem
    assert f"process {os.getpid()}" in problem
    assert "RELAY_CONSOLE_PORT" in problem
    assert busy(settings) == []  # closed: free again
