"""CPU and peak memory of a running stack's service processes, read from ``/proc`` and
sampled in a thread while a benchmark runs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        text = stat.read()
    # The command name may hold spaces and parentheses: count fields after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


@dataclass
class RssPeaks:
    """The peak resident memory of each service's process, and its CPU so far, sampled
    every 0.2 s."""

    processes: dict[str, psutil.Process]
    peaks: dict[str, int] = field(default_factory=dict)
    cpu: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (time, s)
    _stop: threading.Event = field(default_factory=threading.Event)

    def cpu_now(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, process in self.processes.items():
            try:
                out[name] = cpu_seconds(process.pid)
            except OSError:  # it has exited: its last sample stands
                continue
        return out

    def cpu_until(self, moment: float) -> dict[str, float]:
        """CPU of each process at the first sample taken at or after ``moment``."""
        for at, seconds in self.cpu:
            if at >= moment:
                return seconds
        return self.cpu_now()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, process in self.processes.items():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks.get(name, 0), rss)
            self.cpu.append((time.time(), self.cpu_now()))

    @contextmanager
    def sampling(self) -> Iterator[None]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()
