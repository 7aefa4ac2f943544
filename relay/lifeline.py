"""Children that end with the process that started them (issue 23: no orphans).

``relay up`` starts the embedded broker and the four services as child processes. When
``relay up`` itself is killed (SIGKILL, the out-of-memory killer), nothing runs its
clean-up: without help the children carry on with no parent, hold the ports, and the
next ``relay up`` cannot start. On Linux the kernel can signal a child when its parent
dies (``prctl(PR_SET_PDEATHSIG)``); the setting survives ``exec``, so it covers the
broker's own binary as well as Python children. Elsewhere the children are not bound,
and a port left busy is named by :mod:`relay.ports`.

The signal is SIGKILL: the parent is gone, so nobody is left to wait for a drain, and
the broker (memory-only) is gone with it. The services are built for exactly this
(offsets committed after the database transaction, inbox and outbox), so the next
``relay up`` replays and nothing is lost or sent twice.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return function


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen` that has the child sent ``signum``
    when the process calling this dies; None where the platform cannot do that.

    The kernel signals on the death of the *thread* that started the child: call Popen
    from a thread that outlives the child (the main thread, or one that waits for it).
    """
    prctl = _prctl()  # looked up here: the child, between fork and exec, only calls it
    if prctl is None:
        return None
    parent = os.getpid()

    def bind() -> None:
        if prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            os._exit(126)
        # The parent may have died between fork and prctl: then nothing would signal.
        if os.getppid() != parent:
            os._exit(1)

    return bind
