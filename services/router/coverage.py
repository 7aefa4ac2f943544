"""Whether every episode has a responsible local authority (DESIGN §6; pure).

:func:`services.router.policy.responsible_authority` takes ``child.responsible_la``, else
the authority of the organisations the child matched, else the policy's ``default_la``,
else the directory's only local authority. A child on no roll, in an event without
``child.responsible_la``, therefore reaches nobody when the directory holds several
authorities and the policy names none, or names one the directory does not hold: the
event is dead-lettered and nobody is told about a missing child (issue 17).

:func:`authority_gaps` finds such a setup before an episode does. ``relay policy check``
and the router's start-up refuse it; ``relay directory import organisations`` warns.
An empty directory has no gap: nothing has been imported yet, and the import checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from schemas.messages import OrgKind
from services.router.directory import Organisation
from services.router.policy import Policy

_CODES_SHOWN = 5


class AuthorityGapError(RuntimeError):
    """The directory and policy leave some episode without a responsible authority."""


def authority_gaps(organisations: Iterable[Organisation], policy: Policy) -> list[str]:
    """Why an episode could have no responsible local authority under ``organisations``
    (the directory) and ``policy``, each naming the fix; empty when every episode has one."""
    directory = list(organisations)
    if not directory:
        return []
    authorities = sorted(o.code for o in directory if o.kind is OrgKind.LOCAL_AUTHORITY)
    if not authorities:
        return [
            f"no local authority in the directory ({len(directory)} organisation(s)): an "
            "episode reaches at least its responsible authority; import the partnership's "
            "local authorities (kind local-authority) with `relay directory import "
            "organisations`"
        ]
    default = policy.default_la
    if default is not None and default not in authorities:
        return [
            f'default_la = "{default}" in [routing] of the policy file is not a local '
            f"authority in the directory ({_listed(authorities)}): set default_la to one of "
            "them, or import that authority"
        ]
    if default is None and len(authorities) > 1:
        example = _likely_default(directory, authorities)
        return [
            f"{len(authorities)} local authorities in the directory ({_listed(authorities)}) "
            "and no default_la in the policy: an episode for a child on no roll, without "
            "child.responsible_la, has no responsible authority and reaches nobody; set "
            f'default_la = "{example}" (the authority for children nobody else claims) in '
            "[routing] of the policy file (RELAY_POLICY_FILE), or give every event "
            "child.responsible_la"
        ]
    return []


def _likely_default(directory: list[Organisation], authorities: list[str]) -> str:
    """The authority most organisations belong to (``la_code``): usually the
    partnership's own, as against authorities that only place children in its area.
    Only an example for the message; choosing it is the partnership's decision."""
    named = Counter(o.la_code for o in directory if o.la_code in authorities)
    return min(authorities, key=lambda code: -named[code])  # ties: the first code


def _listed(codes: list[str]) -> str:
    if len(codes) <= _CODES_SHOWN:
        return ", ".join(codes)
    return f"{', '.join(codes[:_CODES_SHOWN])} and {len(codes) - _CODES_SHOWN} more"
