"""``relay serve`` builds only its own command (every service starts through it);
every other command line gets the whole tree, ``serve`` included."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
sys.argv = ["relay", *sys.argv[1:]]
from relay.serve_cli import main
try:
    main()
except SystemExit:
    pass
print("WHOLE TREE" if "relay.cli" in sys.modules else "SERVE ONLY")
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )


def test_serve_loads_only_what_serving_needs() -> None:
    done = run("serve", "--help")
    assert "Usage: relay serve [OPTIONS] {service}" in done.stdout
    assert "ingest | router | notifier | console" in done.stdout
    assert done.stdout.rstrip().endswith("SERVE ONLY")


def test_serve_refuses_an_unknown_service_by_name() -> None:
    done = run("serve", "notifer")
    assert "unknown service 'notifer'; one of ingest, router, notifier, console" in (
        done.stdout + done.stderr
    )


def test_every_other_command_line_gets_the_whole_tree_with_serve() -> None:
    done = run("--help")
    assert done.stdout.rstrip().endswith("WHOLE TREE")
    for command in ("serve", "up", "bench", "directory", "matching"):
        assert f"│ {command} " in done.stdout, command
