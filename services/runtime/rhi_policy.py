"""The push and pull factors an RHI team records (policy ``[rhi]``, issue 21): the
partnership's own lists, read by the console's RHI form and by ``relay tasks complete``,
so that both offer, and accept, the same words. Without a table the defaults of
``schemas.rhi_record`` apply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from schemas.rhi_record import DEFAULT_PULL_FACTORS, DEFAULT_PUSH_FACTORS
from services.runtime.policy_file import PolicyFileError, read_policy_file
from services.runtime.settings import RelaySettings

_FACTOR = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_KEYS = ("push_factors", "pull_factors")


@dataclass(frozen=True)
class RhiFactors:
    push: tuple[str, ...] = DEFAULT_PUSH_FACTORS
    pull: tuple[str, ...] = DEFAULT_PULL_FACTORS

    @classmethod
    def from_sections(cls, sections: dict[str, Any], source: str = "policy") -> RhiFactors:
        table = sections.get("rhi", {})
        lists: dict[str, tuple[str, ...]] = {}
        for key, value in table.items():
            where = f"{source}: [rhi] {key}"
            if key not in _KEYS:
                raise PolicyFileError(f"{where}: unknown; known: {', '.join(_KEYS)}")
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, str) and _FACTOR.fullmatch(v) for v in value)
            ):
                raise PolicyFileError(
                    f'{where}: a list of lower-case words joined by hyphens, e.g. ["bullying", '
                    '"family-conflict"]'
                )
            if len(set(value)) != len(value) or len(value) > 30:
                raise PolicyFileError(f"{where}: at most 30 factors, each once")
            lists[key.removesuffix("_factors")] = tuple(value)
        return cls(**lists)


def load_rhi_factors(settings: RelaySettings) -> RhiFactors:
    """The ``[rhi]`` lists of the policy file (``RELAY_POLICY_FILE``), else the defaults."""
    source = str(settings.policy_file) if settings.policy_file else "policy"
    return RhiFactors.from_sections(read_policy_file(settings.policy_file), source)
