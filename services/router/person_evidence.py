"""What the person index knows that may be an episode's child (issue 20), by kind of
evidence: the same police person id or NHS number, a roll record linked to another
episode, or similar names and dates of birth (queries on the session's synchronous side,
services/runtime/on_connection.py, inside person_index.link_episode's hand-over; the
index itself is services/router/person_index.py, the decision services/router/identity.py)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, func, or_, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from schemas.episode import EpisodeEventV1
from services.router.blocking import probe_keys
from services.router.identity import Evidence, PersonRecord
from services.router.matching import MatchDecision
from services.router.tables import person_episodes, person_roll_links
from services.runtime import prepared
from services.runtime.prepared import hot

P = person_episodes
# The records read of one candidate child: enough to judge it, whatever its history.
RECORDS_PER_CHILD = 50


def _children_where(*where: Any) -> Select[Any]:
    return select(P.c.child_id).where(P.c.withdrawn.is_(False), or_(*where)).distinct().limit(200)


def _children_found(
    connection: Connection, statement: Select[Any], params: dict[str, Any]
) -> set[str]:
    return {child_id for (child_id,) in prepared.execute(connection, statement, params)}


# Each kind of evidence's query, built once (issue 18); an episode's own key is left out.
_OTHER = ~and_(P.c.force_code == bindparam("force_code"), P.c.episode_ref == bindparam("ref"))
_BY_POLICE = hot(
    _children_where(
        and_(
            P.c.force_code == bindparam("force_code"),
            P.c.police_person_id == bindparam("police_person_id"),
            _OTHER,
        )
    )
)
_BY_NHS = hot(_children_where(and_(P.c.nhs_number == bindparam("nhs_number"), _OTHER)))


@functools.lru_cache(maxsize=64)
def _by_records(sure: bool | None, count: int) -> Select[Any]:
    """Children of episodes linked to ``count`` roll records (parameters ``org_N`` and
    ``record_N``). One equality pair a record, OR'd: SQLite searches the links' primary
    key for each, where a row-value IN over a list scanned the whole table, which grows
    with every episode (25 ms a query at 97,000 links in a backlog; 0.05 ms so)."""
    links = person_roll_links
    pairs = [
        and_(
            links.c.org_code == bindparam(f"org_{i}"), links.c.record_id == bindparam(f"record_{i}")
        )
        for i in range(count)
    ]
    linked = select(links.c.force_code, links.c.episode_ref).where(or_(*pairs))
    if sure is not None:
        linked = linked.where(links.c.sure.is_(sure))
    return _children_where(and_(tuple_(P.c.force_code, P.c.episode_ref).in_(linked), _OTHER))


@functools.lru_cache(maxsize=64)
def _by_records_prepared(sure: bool | None, count: int) -> prepared.Prepared:
    """:func:`_by_records` on the driver (services/runtime/prepared.py); kept with it."""
    return prepared.Prepared(_by_records(sure, count))


def _json_values(name: str) -> Any:
    """The values of parameter ``name`` given as one JSON array (SQLite: ``json_each``),
    as the roll's candidates are (repository.py): one text for every count of values,
    where an expanding IN was rendered again by SQLAlchemy for every query (issue 18).
    SQLite still searches the child_id index for each (EXPLAIN QUERY PLAN)."""
    each = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return select(each.c.value).scalar_subquery()


@functools.cache
def _similar(columns: tuple[str, ...], upn: bool) -> Select[Any]:
    # An expanding IN still: SQLite scans this one's child_id index whatever the form
    # (DISTINCT), and reading JSON arrays made that scan about a fifth slower.
    conditions: list[ColumnElement[bool]] = [
        P.c[column].in_(bindparam(column, expanding=True)) for column in columns
    ]
    if upn:
        conditions.append(P.c.upn == bindparam("upn"))
    return _children_where(and_(or_(*conditions), _OTHER))


# What a record is read as: PersonRecord's fields, in their order (rows become records
# by position); the episode's times and keys are not read and not parsed (issue 18).
_RECORD_COLUMNS = tuple(P.c[f.name] for f in dataclasses.fields(PersonRecord))


def _records_of(ids: Any) -> Select[Any]:
    return (
        select(*_RECORD_COLUMNS)
        .where(P.c.child_id.in_(ids), P.c.withdrawn.is_(False))
        .order_by(P.c.child_id, P.c.first_seen_at.desc())
    )


_RECORDS_OF = _records_of(bindparam("ids", expanding=True))  # built once
_RECORDS_OF_JSON = hot(_records_of(_json_values("ids")))  # SQLite's: on the driver


def _arrays(connection: Connection) -> bool:
    """Whether lists go as one JSON array (SQLite) rather than an expanding IN."""
    return connection.dialect.name == "sqlite"


def records_of(connection: Connection, child_ids: Iterable[str]) -> list[PersonRecord]:
    """Every standing record of the children (the latest few per child)."""
    ids = sorted(set(child_ids))
    if not ids:
        return []
    if _arrays(connection):
        rows = prepared.execute(connection, _RECORDS_OF_JSON, {"ids": json.dumps(ids)}).all()
    else:
        rows = connection.execute(_RECORDS_OF, {"ids": ids}).all()
    kept: dict[str, int] = {}
    out = []
    row: Any
    for row in rows:
        kept[row.child_id] = kept.get(row.child_id, 0) + 1
        if kept[row.child_id] <= RECORDS_PER_CHILD:
            out.append(PersonRecord(*row))
    return out


def _children_of_records(
    connection: Connection,
    event: EpisodeEventV1,
    records: Sequence[tuple[str, str]],
    sure: bool | None = True,
) -> set[str]:
    """Children of other episodes linked to any of the roll ``records`` (``sure``: by
    the matcher's match or a person; False: as its sole candidate; None: either)."""
    if not records:
        return set()
    params: dict[str, Any] = {"force_code": event.force_code, "ref": event.episode_ref}
    for i, (org_code, record_id) in enumerate(records):
        params[f"org_{i}"], params[f"record_{i}"] = org_code, record_id
    rows = _by_records_prepared(sure, len(records)).result(connection, params)
    return {child_id for (child_id,) in rows}


def evidence(
    connection: Connection,
    event: EpisodeEventV1,
    roll_matches: Sequence[tuple[str, str]],
    sole_roll_candidates: Sequence[tuple[str, str]] = (),
) -> Evidence:
    """What the index knows that may be this episode's child, by kind of evidence."""
    child = event.child
    episode = {"force_code": event.force_code, "ref": event.episode_ref}
    by_police = (
        _children_found(
            connection, _BY_POLICE, {**episode, "police_person_id": child.police_person_id}
        )
        if child.police_person_id
        else set()
    )
    by_nhs = (
        _children_found(connection, _BY_NHS, {**episode, "nhs_number": child.nhs_number})
        if child.nhs_number
        else set()
    )
    by_roll = _children_of_records(connection, event, roll_matches)
    by_sole: set[str] = set()
    if not (by_police or by_nhs or by_roll):
        # A record one side matched and the other had as its sole candidate.
        by_sole = _children_of_records(
            connection, event, sole_roll_candidates, sure=None
        ) | _children_of_records(connection, event, roll_matches, sure=False)
        if len(by_sole) != 1:
            by_sole = set()  # several children behind the records: no evidence of one
    similar: set[str] = set()
    if not (by_police or by_nhs or by_roll or by_sole):
        probes = probe_keys(
            child.given_name, child.family_name, child.date_of_birth, child.postcode
        )
        params: dict[str, Any] = {c: sorted(values) for c, values in probes.items() if values}
        statement = _similar(tuple(params), bool(child.upn))
        if child.upn:
            params["upn"] = child.upn
        similar = _children_found(connection, statement, {**params, **episode})
    records = records_of(connection, by_police | by_nhs | by_roll | by_sole | similar)
    return Evidence(
        by_police_id=[r for r in records if r.child_id in by_police],
        by_nhs_number=[r for r in records if r.child_id in by_nhs],
        by_roll_record=[r for r in records if r.child_id in by_roll],
        by_sole_roll_candidate=[r for r in records if r.child_id in by_sole],
        similar=[r for r in records if r.child_id in similar],
    )


def matched_records(decisions: Sequence[MatchDecision]) -> list[tuple[str, str]]:
    return sorted({(d.org_code, d.roll_record_id) for d in decisions if d.decision == "match"})


def sole_candidates(decisions: Sequence[MatchDecision]) -> list[tuple[str, str]]:
    """The roll records the matcher asked a person about on its threshold alone, at
    organisations where that record was the only candidate (no twin, no namesake, no
    identifier in conflict). Empty when the matcher matched anywhere."""
    if any(d.decision == "match" for d in decisions):
        return []
    by_org: dict[str, list[MatchDecision]] = {}
    for d in decisions:
        if d.decision == "review":
            by_org.setdefault(d.org_code, []).append(d)
    return sorted(
        (org, ds[0].roll_record_id)
        for org, ds in by_org.items()
        if len(ds) == 1 and ds[0].explanation.get("rule") == "threshold"
    )
