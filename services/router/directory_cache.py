"""The organisations the router routes to, kept in memory between events (issue 18).

Every event needs every local authority, MSET panel and police force (who is
responsible, which panel, where answers go) and the organisations its child matched.
They change only when the directory is imported, so the router keeps them per database
and checks one number per event: ``router_directory_version``, which every change to
the organisations moves on in its own transaction (:func:`bump`). When it has moved,
they are read again; an import is seen by the next event after its commit, by every
copy of the router.

The roll's name frequencies (services/router/name_frequencies.py) and how completely
its GP lists hold the school children (services/router/gp_coverage.py) are kept the
same way: every roll import stores them and moves the version on, and the matching
model the router scores with (:func:`matching_model`: the loaded model with the live
roll's tables, or as it is, and its rule ``other_given_name_at_home: auto`` resolved)
is worked out again once per version, not once per event.

The version is read before the rows, once per transaction (a consumer batch's events
share it): rows read under a version are never older than it (on PostgreSQL's read
committed they may be newer, which the next transaction's check puts right). Without
the version row (a database not upgraded), nothing is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import OrgKind
from services.router import frequency_store, gp_coverage, gp_coverage_store
from services.router.directory import Organisation
from services.router.model import MatchingModel
from services.router.name_frequencies import RollFrequencies, for_matching
from services.router.tables import directory_version, organisations
from services.runtime import on_connection, prepared
from services.runtime.prepared import hot

log = logging.getLogger(__name__)

_ROW = 1
_VERSION = hot(select(directory_version.c.version).where(directory_version.c.id == _ROW))
_BUMP = (
    update(directory_version)
    .where(directory_version.c.id == _ROW)
    .values(version=directory_version.c.version + 1)
)
_ALWAYS_KINDS = (
    OrgKind.LOCAL_AUTHORITY.value,
    OrgKind.MSET_PANEL.value,
    OrgKind.POLICE_FORCE.value,
)
_ALWAYS = select(organisations).where(organisations.c.kind.in_(_ALWAYS_KINDS))
_BY_CODE = select(organisations).where(organisations.c.code.in_(bindparam("codes", expanding=True)))


@dataclass
class _Kept:
    version: int
    always: dict[str, Organisation]  # every authority, panel and force
    frequencies: RollFrequencies | None  # the live roll's name tables; None: none stored
    coverage: gp_coverage.GpCoverage | None  # None: no roll import since migration 0012
    looked_up: dict[str, Organisation | None] = field(default_factory=dict)  # None: no such
    # The loaded model this version's was made from, and that model (one router loads one).
    model: tuple[MatchingModel, MatchingModel] | None = None


# Per database (the session's engine): a process may open several (tests, benches).
_KEPT: WeakKeyDictionary[Any, _Kept] = WeakKeyDictionary()
# What this transaction checked the version of (session.info: one session a transaction).
_CHECKED = "router.directory_checked"


def organisation(row: Any) -> Organisation:
    return Organisation(
        code=row.code,
        kind=OrgKind(row.kind),
        name=row.name,
        email=row.email,
        escalation_email=row.escalation_email,
        phone=row.phone,
        la_code=row.la_code,
        out_of_hours_email=row.out_of_hours_email,
    )


async def _checked(session: AsyncSession) -> _Kept:
    kept: _Kept | None = session.info.get(_CHECKED)
    if kept is None:
        kept = session.info[_CHECKED] = await on_connection.run(session, _current)
    return kept


async def matching_model(session: AsyncSession, loaded: MatchingModel) -> MatchingModel:
    """``loaded`` with the live roll's name tables when they apply
    (:func:`~services.router.name_frequencies.for_matching`) and its rule
    ``other_given_name_at_home: auto`` resolved by the stored GP coverage
    (:func:`~services.router.gp_coverage.for_matching`); logged when it changes (the
    source, how many names, how many children: never a name)."""
    kept = await _checked(session)
    if kept.model is not None and kept.model[0] is loaded:
        return kept.model[1]
    chosen = for_matching(loaded, kept.frequencies)
    log.info("router: name frequencies from the %s", chosen.describe())
    model, resolution = gp_coverage.for_matching(chosen.model, kept.coverage)
    if resolution.configured == "auto":
        log.info("router: other_given_name_at_home=auto: %s", resolution.describe())
    kept.model = (loaded, model)
    return model


async def organisations_for_routing(
    session: AsyncSession, codes: Iterable[str]
) -> dict[str, Organisation]:
    """The given organisations plus every local authority, MSET panel and police force."""
    kept = await _checked(session)
    codes = list(codes)  # iterated twice, in the caller's order
    missing = sorted({c for c in codes if c not in kept.always and c not in kept.looked_up})
    if missing:
        rows = await on_connection.all_rows(session, _BY_CODE, {"codes": missing})
        found = {row.code: organisation(row) for row in rows}
        for code in missing:
            kept.looked_up[code] = found.get(code)
    chosen = dict(kept.always)
    for code in codes:
        org = kept.looked_up.get(code)
        if org is not None:
            chosen[code] = org
    return chosen


def _current(connection: Connection) -> _Kept:
    version = prepared.execute(connection, _VERSION, {}).scalar()
    engine = connection.engine
    kept = _KEPT.get(engine)
    if kept is not None and version is not None and kept.version == version:
        return kept
    rows = connection.execute(_ALWAYS).all()
    kept = _Kept(
        version if version is not None else -1,
        {r.code: organisation(r) for r in rows},
        frequency_store.load(connection),
        gp_coverage_store.load(connection),
    )
    if version is not None:
        _KEPT[engine] = kept
    return kept


async def bump(session: AsyncSession) -> None:
    """The organisations or the roll changed in this transaction: every router reads
    them again."""
    session.info.pop(_CHECKED, None)
    moved = await session.execute(_BUMP)
    if not getattr(moved, "rowcount", 1):
        await session.execute(insert(directory_version).values(id=_ROW, version=1))
