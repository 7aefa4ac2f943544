"""A partnership's routing choices (DESIGN §6; pure): :class:`Policy`, read from the
``[routing]`` and ``[recipients]`` tables of the TOML policy file."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path

from schemas.episode import EventType
from schemas.identifiers import validate_gss_code
from schemas.messages import OrgKind

# Events that reach the child's school, GP practice, YOT and local authority.
SUPPORT_EVENTS = frozenset(
    {EventType.REPORTED, EventType.STILL_MISSING, EventType.FOUND, EventType.RETURNED}
)

# Top-level keys of the policy file that other services read (issue 17).
_OTHER_SERVICES_KEYS = frozenset({"operations_email"})


class RhiTrigger(StrEnum):
    """What opens a return home interview task (DESIGN §10, issue 21)."""

    RETURNED = "returned"  # the police's ``returned`` event (DESIGN §7)
    # ``returned`` as ever; and for a feed that sends ``found`` and never ``returned``, a
    # ``found`` with no ``returned`` within ``rhi_found_wait_hours`` (services/router/
    # awaiting_return.py waits from a due_at row, never in a handler).
    FOUND = "found"


class PolicyError(ValueError):
    """A policy file is wrong; the message names the key."""


_SUPPORT_KINDS = frozenset({OrgKind.SCHOOL, OrgKind.GP_PRACTICE, OrgKind.YOT})
# Who among the organisations the child matched is told, per event type; "high-risk"
# is a reported or risk-changed event graded high or with exploitation factors. The
# responsible local authority is told of every episode whatever this says (DESIGN §6).
DEFAULT_RECIPIENTS: Mapping[str, frozenset[OrgKind]] = {
    **{t.value: _SUPPORT_KINDS for t in SUPPORT_EVENTS},
    EventType.RISK_CHANGED.value: frozenset(),
    EventType.CLOSED.value: frozenset(),
    "high-risk": frozenset({OrgKind.YOT, OrgKind.MSET_PANEL}),
}


@dataclass(frozen=True)
class Policy:
    """A partnership's routing choices; the defaults are DESIGN §6."""

    repeat_threshold: int = 3
    repeat_window_days: int = 90
    default_la: str | None = None
    rhi_due_hours: int = 72
    rhi_trigger: RhiTrigger = RhiTrigger.RETURNED
    # With ``rhi_trigger = "found"``: how long after ``found`` a ``returned`` may still come.
    rhi_found_wait_hours: int = 24
    recipients: Mapping[str, frozenset[OrgKind]] = field(
        default_factory=lambda: dict(DEFAULT_RECIPIENTS)
    )

    def tells(self, situation: str, kind: OrgKind) -> bool:
        return kind in self.recipients.get(situation, frozenset())

    @classmethod
    def from_toml(cls, path: Path) -> Policy:
        """Read ``[routing]`` (or top-level) keys from a TOML file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"{path}: {exc}") from exc
        table = data.get("routing", data)
        known = {f.name for f in fields(cls)} - {"recipients"}
        values: dict[str, object] = {}
        for key, value in table.items():
            if key not in known:
                if isinstance(value, dict) or key in _OTHER_SERVICES_KEYS:
                    continue  # another section (e.g. [deadlines]) belongs to another service
                raise PolicyError(f"{path}: unknown key {key!r}; known: {', '.join(sorted(known))}")
            if key == "default_la":
                if not isinstance(value, str):
                    raise PolicyError(f"{path}: default_la: a GSS code string, e.g. E06000057")
                try:
                    values[key] = validate_gss_code(value)
                except ValueError as exc:
                    raise PolicyError(f"{path}: default_la: {exc}") from exc
            elif key == "rhi_trigger":
                if value not in {t.value for t in RhiTrigger}:
                    raise PolicyError(f'{path}: rhi_trigger: "returned" or "found", not {value!r}')
                values[key] = RhiTrigger(value)
            else:
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise PolicyError(f"{path}: {key}: a whole number of at least 1")
                values[key] = value
        values["recipients"] = _recipients(data.get("recipients", {}), path)
        policy = cls(**values)  # type: ignore[arg-type]
        if policy.rhi_found_wait_hours >= policy.rhi_due_hours:
            # The task would be born overdue: the wait must leave time for the interview.
            raise PolicyError(
                f"{path}: rhi_found_wait_hours: less than rhi_due_hours "
                f"({policy.rhi_due_hours}), not {policy.rhi_found_wait_hours}"
            )
        return policy


def _recipients(table: object, path: Path) -> dict[str, frozenset[OrgKind]]:
    """``[recipients]``: event type (or ``high-risk``) = list of organisation kinds."""
    if not isinstance(table, dict):
        raise PolicyError(f"{path}: [recipients] must be a table")
    chosen = dict(DEFAULT_RECIPIENTS)
    allowed = {k.value for k in (*_SUPPORT_KINDS, OrgKind.MSET_PANEL, OrgKind.LOCAL_AUTHORITY)}
    for key, kinds in table.items():
        where = f"{path}: [recipients] {key}"
        if key not in DEFAULT_RECIPIENTS:
            raise PolicyError(f"{where}: unknown; known: {', '.join(DEFAULT_RECIPIENTS)}")
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise PolicyError(f'{where}: a list of organisation kinds, e.g. ["school", "yot"]')
        unknown = [k for k in kinds if k not in allowed]
        if unknown:
            raise PolicyError(
                f"{where}: {', '.join(map(repr, unknown))} not an organisation kind; one of "
                f"{', '.join(sorted(allowed))}"
            )
        # The local authority is always told; listing it changes nothing.
        chosen[key] = frozenset(OrgKind(k) for k in kinds) - {OrgKind.LOCAL_AUTHORITY}
    return chosen
