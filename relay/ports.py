"""Which ports ``relay up`` needs, and who holds one that is busy (issue 23).

A port is busy when it cannot be bound the way uvicorn and the broker bind it. The
holder comes from the kernel's socket table through psutil (Linux's ``/proc/net/tcp``
and ``/proc/*/fd``): another user's process shows without its name unless we are root.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

import psutil

from services.runtime.settings import SERVICES, RelaySettings


@dataclass(frozen=True)
class Port:
    number: int
    host: str
    role: str  # what relay up would run there, e.g. "console"
    setting: str  # the variable that moves it, e.g. "RELAY_CONSOLE_PORT"


@dataclass(frozen=True)
class Holder:
    pid: int | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "a process of another user (run as root to see which)"
        if not self.command:
            return f"process {self.pid}"
        return f"process {self.pid} ({self.command})"


def needed(settings: RelaySettings) -> list[Port]:
    """Every port ``relay up`` with ``settings`` listens on."""
    ports: list[Port] = []
    if settings.kafka_bootstrap is None:
        ports.append(
            Port(
                settings.embedded_kafka_port,
                "127.0.0.1",
                "embedded broker",
                "RELAY_EMBEDDED_KAFKA_PORT",
            )
        )
    if settings.smtp_url is None:
        ports.append(
            Port(settings.embedded_smtp_port, "127.0.0.1", "SMTP sink", "RELAY_EMBEDDED_SMTP_PORT")
        )
    for service in SERVICES:
        host, number = settings.listen(service)
        ports.append(Port(number, host, service, f"RELAY_{service.upper()}_PORT"))
    return ports


def is_free(port: Port) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn binds: a port in TIME_WAIT after a clean stop is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((port.host, port.number))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def holder(number: int) -> Holder | None:
    """The process listening on TCP port ``number``, if the socket table shows one."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == number:
            return Holder(conn.pid, _command(conn.pid))
    return None


def _command(pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        words = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    text = " ".join(" ".join(words).split())
    return text if len(text) <= 120 else text[:117] + "..."


def busy(settings: RelaySettings) -> list[str]:
    """One sentence per busy port: the port, what it is for, who holds it, the fix."""
    problems = []
    for port in needed(settings):
        if is_free(port):
            continue
        found = holder(port.number)
        who = f"held by {found.describe()}" if found else "held by a process not shown"
        problems.append(
            f"port {port.number} ({port.role}) is in use, {who}: stop it, or set "
            f"{port.setting} to a free port"
        )
    return problems
