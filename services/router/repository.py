"""The router's queries over an AsyncSession: directory reads and writes, episodes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    any_,
    bindparam,
    delete,
    extract,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from schemas.episode import ChildV1
from services.router import directory_cache
from services.router.blocking import ROLL_KEY_COLUMNS, address_key, roll_probe_keys
from services.router.directory import Organisation, RollRecord
from services.router.model import MatchingModel
from services.router.tables import episodes, organisations, roll
from services.runtime import conflicts, on_connection, prepared
from services.runtime.database import utcnow
from services.runtime.prepared import hot

_ROLL_COLUMNS = (
    roll.c.org_code,
    roll.c.record_id,
    roll.c.given_name,
    roll.c.family_name,
    roll.c.date_of_birth,
    roll.c.norm_given,
    roll.c.norm_family,
    roll.c.nhs_number,
    roll.c.upn,
    roll.c.postcode,
    roll.c.address,
    roll.c.sex,
    roll.c.valid_from,
    roll.c.valid_to,
)


def _names_fit() -> ColumnElement[bool]:
    """blocking.names_row_fits in SQL, over the parameters ``born_year``, ``born_month``,
    ``born_day`` and ``postcode`` (NULL without one: it equals nothing)."""
    born = roll.c.date_of_birth
    return or_(
        extract("year", born) == bindparam("born_year", type_=Integer),
        extract("month", born) == bindparam("born_month", type_=Integer),
        extract("day", born) == bindparam("born_day", type_=Integer),
        roll.c.postcode == bindparam("postcode", type_=String),
    )


def _key_condition(column: str, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """A key column's ``condition``; a names-key row only when it could be the child's."""
    return and_(condition, _names_fit()) if column == "key_names" else condition


def _address_condition() -> ColumnElement[bool]:
    """``key_address`` (blocking.address_key, NULL when the record has none: it equals
    nothing): the household's rows, compared when they could be the child's as a
    names-key row is."""
    return and_(roll.c.key_address == bindparam("key_address", type_=String), _names_fit())


def _json_values(column: str) -> Any:
    """The values of a key given as one JSON array (SQLite: ``json_each``)."""
    each = func.json_each(bindparam(column, type_=String)).table_valued("value")
    return select(each.c.value).scalar_subquery()


# SQLite's form (issue 18): one text for every lookup as on PostgreSQL, each key's values
# one JSON array read by ``json_each``; an expanding IN made SQLAlchemy render the text
# again for every lookup, about half of the lookup's CPU. SQLite still looks each value
# up in the key's index (EXPLAIN QUERY PLAN: a MULTI-INDEX OR of the key indexes).
_CANDIDATES_JSON = hot(
    select(*_ROLL_COLUMNS)
    .where(
        or_(
            *(
                _key_condition(column, roll.c[column].in_(_json_values(column)))
                for column in ROLL_KEY_COLUMNS
            ),
            _address_condition(),
            roll.c.nhs_number == bindparam("nhs_number", type_=String),
            roll.c.upn == bindparam("upn", type_=String),
        )
    )
    .order_by(roll.c.org_code, roll.c.record_id)
)


# PostgreSQL's form (issue 22): one text for every lookup, each key's values as one
# array and a missing identifier as NULL (which equals nothing). An expanding IN makes
# a new text for every count of values (84 among 2,000 police records), and each text
# is prepared on the server and its parameters rendered by SQLAlchemy before it runs;
# one text is prepared once per connection. The plan stays a BitmapOr of the key
# indexes, generic or not (EXPLAIN in docs/performance.md).
_CANDIDATES_ANY = (
    select(*_ROLL_COLUMNS)
    .where(
        or_(
            *(
                _key_condition(
                    column, roll.c[column] == any_(bindparam(column, type_=ARRAY(String)))
                )
                for column in ROLL_KEY_COLUMNS
            ),
            _address_condition(),
            roll.c.nhs_number == bindparam("nhs_number", type_=String),
            roll.c.upn == bindparam("upn", type_=String),
        )
    )
    .order_by(roll.c.org_code, roll.c.record_id)
)


async def candidates(session: AsyncSession, child: ChildV1) -> list[RollRecord]:
    """Every roll record that could be ``child``: the same NHS number or UPN, or sharing a
    blocking key with it (blocking.roll_probe_keys, blocking.address_key). A few rows,
    whatever the roll's size."""
    return await on_connection.run(session, candidates_on, child)


def candidates_on(connection: Connection, child: ChildV1) -> list[RollRecord]:
    """:func:`candidates` on the session's synchronous side (services/runtime/on_connection.py)."""
    probes = roll_probe_keys(
        child.given_name, child.family_name, child.date_of_birth, child.postcode
    )
    params: dict[str, Any]
    if connection.dialect.name == "postgresql":
        params = {column: sorted(probes[column]) for column in ROLL_KEY_COLUMNS}
        params["nhs_number"], params["upn"] = child.nhs_number, child.upn
        statement = _CANDIDATES_ANY
    else:
        params = {column: json.dumps(sorted(probes[column])) for column in ROLL_KEY_COLUMNS}
        params["nhs_number"], params["upn"] = child.nhs_number or None, child.upn or None
        statement = _CANDIDATES_JSON
    born = child.date_of_birth
    params.update(
        born_year=born.year,
        born_month=born.month,
        born_day=born.day,
        postcode=child.postcode,
        key_address=address_key(child.address),
    )
    # By position: _ROLL_COLUMNS are RollRecord's fields in their order.
    rows: Sequence[Any] = prepared.execute(connection, statement, params).all()
    return [RollRecord(*row) for row in rows]


async def organisations_for_routing(
    session: AsyncSession, codes: Iterable[str]
) -> dict[str, Organisation]:
    """The given organisations plus every local authority, MSET panel and police force
    (kept between events while the directory's version stands: directory_cache.py)."""
    return await directory_cache.organisations_for_routing(session, codes)


async def matching_model(session: AsyncSession, loaded: MatchingModel) -> MatchingModel:
    """``loaded`` with the live roll's name frequencies when they apply."""
    return await directory_cache.matching_model(session, loaded)


async def organisation_codes(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(organisations.c.code))).all())


async def upsert_organisations(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace organisations by code (portable: update existing, insert new)."""
    if not rows:
        return
    now = utcnow()
    existing = set(
        (
            await session.scalars(
                select(organisations.c.code).where(
                    organisations.c.code.in_([r["code"] for r in rows])
                )
            )
        ).all()
    )
    await directory_cache.bump(session)
    new = [{**r, "updated_at": now} for r in rows if r["code"] not in existing]
    if new:
        await session.execute(organisations.insert(), new)
    for r in rows:
        if r["code"] in existing:
            await session.execute(
                update(organisations)
                .where(organisations.c.code == r["code"])
                .values(**r, updated_at=now)
            )


async def record_reported(
    session: AsyncSession, force_code: str, episode_ref: str, reported_at: datetime
) -> None:
    """Remember a reported episode once (a second ``reported`` for it changes nothing);
    whose it is, the person index says (services/router/person_index.py). One INSERT …
    ON CONFLICT DO NOTHING on the episode's reference."""
    await session.execute(
        conflicts.insert_or_skip(session, episodes),  # marked hot: on the driver in a step
        {
            "force_code": force_code,
            "episode_ref": episode_ref,
            "reported_at": reported_at,
            "repeat_flagged": False,
        },
    )


# An episode's statements, built once and marked hot (issue 18): built on every call,
# SQLAlchemy walked each one for its cache key, more than the statement's own cost.
_THIS_EPISODE = and_(
    episodes.c.force_code == bindparam("k_force"), episodes.c.episode_ref == bindparam("k_ref")
)
_FORGET = hot(delete(episodes).where(_THIS_EPISODE))
_FLAG_REPEAT = hot(update(episodes).where(_THIS_EPISODE).values(repeat_flagged=True))


async def forget_episode(session: AsyncSession, force_code: str, episode_ref: str) -> None:
    await session.execute(_FORGET, {"k_force": force_code, "k_ref": episode_ref})


async def mark_repeat_flagged(session: AsyncSession, force_code: str, episode_ref: str) -> None:
    await session.execute(_FLAG_REPEAT, {"k_force": force_code, "k_ref": episode_ref})


async def directory_stats(session: AsyncSession) -> dict[str, Any]:
    kinds = (
        await session.execute(
            select(organisations.c.kind, func.count())
            .group_by(organisations.c.kind)
            .order_by(organisations.c.kind)
        )
    ).all()
    per_org = (
        await session.execute(
            select(
                organisations.c.code,
                organisations.c.kind,
                organisations.c.name,
                func.count(roll.c.id),
            )
            .select_from(organisations.outerjoin(roll, roll.c.org_code == organisations.c.code))
            .group_by(organisations.c.code, organisations.c.kind, organisations.c.name)
            .order_by(organisations.c.code)
        )
    ).all()
    return {
        "organisations_by_kind": {k: int(n) for k, n in kinds},
        "roll_rows_by_organisation": [
            {"code": c, "kind": k, "name": name, "rows": int(n)} for c, k, name, n in per_org
        ],
        "roll_rows_total": sum(int(n) for *_, n in per_org),
    }


async def directory_organisations(session: AsyncSession) -> list[Organisation]:
    """Every organisation in the directory, without rolls (coverage.authority_gaps)."""
    rows = (await session.execute(select(organisations).order_by(organisations.c.code))).all()
    return [directory_cache.organisation(row) for row in rows]


async def organisation(session: AsyncSession, code: str) -> Organisation | None:
    row = (await session.execute(select(organisations).where(organisations.c.code == code))).first()
    return directory_cache.organisation(row) if row is not None else None


async def roll_dates_of_birth(session: AsyncSession, org_code: str) -> dict[str, date]:
    """An organisation's roll as record id -> date of birth (an authority's looked-after
    children: its SSDA903 return's ``CHILD`` and ``DOB``)."""
    rows = await session.execute(
        select(roll.c.record_id, roll.c.date_of_birth).where(roll.c.org_code == org_code)
    )
    return {record_id: born for record_id, born in rows}
