"""Reading a partnership's policy file (``RELAY_POLICY_FILE``, TOML; DESIGN §6, §7).

Each service validates the tables it uses; this checks that every table is one some
service knows, so a misspelt table name is an error at start-up rather than a silently
ignored setting.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

# Table -> the services that read it.
TABLES = {
    "routing": "router",
    "recipients": "router",
    "deadlines": "notifier",
    "hours": "notifier",
    "calendar": "notifier",
    "delivery": "notifier",
    "retention": "ingest, router, notifier and console",
    "rhi": "console and relay tasks complete",
}


class PolicyFileError(ValueError):
    """The policy file cannot be read, or names a table nobody knows."""


def read_policy_file(path: Path | None) -> dict[str, Any]:
    """The file's tables (empty without a file: every default applies)."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"RELAY_POLICY_FILE: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{path}: not valid TOML: {exc}") from exc
    for key, value in data.items():
        if isinstance(value, dict) and key not in TABLES:
            raise PolicyFileError(
                f"{path}: [{key}] is not a policy table; known: {', '.join(TABLES)}"
            )
    return data
