"""Who a subject access request is about (``relay audit export``), in the notifier's and
the console's databases (issue 20).

A child is the router's ``child_id``: its episodes are found through each service's
links (``notifier_child_links``; the console's audit names the child by id). Entries
made before the person index name the child by the key of those days, a hash of the
names and date of birth as the police wrote them: the request gathers those too, from
the names the notifier's alerts of the child's episodes hold. Asked by name and date of
birth, every child whose alerts carry that name (case, accents and punctuation aside)
and birthday is included.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.identifiers import folded
from services.notifier import child_links
from services.notifier.tables import alerts, disclosures

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LEGACY = re.compile(r"^[0-9a-f]{64}$")


class SubjectError(ValueError):
    """The child asked for cannot be named so; the message says how."""


def legacy_key(given_name: str, family_name: str, date_of_birth: date) -> str:
    """The key that named a child in audit entries made before the person index."""
    names = [folded(given_name), folded(family_name), date_of_birth.isoformat()]
    return hashlib.sha256("|".join(names).encode("utf-8")).hexdigest()


def legacy_child_id(key: str) -> str:
    """The child id the migrations gave the episodes of a key of before."""
    return derived_id("child", "console-key", key)


@dataclass
class Subject:
    child_ids: set[str] = field(default_factory=set)
    legacy_keys: set[str] = field(default_factory=set)

    @property
    def primary(self) -> str:
        return min(self.child_ids) if self.child_ids else min(self.legacy_keys)

    @property
    def names(self) -> set[str]:
        """What the console's audit may name the child by."""
        return self.child_ids | self.legacy_keys


def parse_child(value: str) -> Subject:
    text = value.strip().lower()
    if _UUID.fullmatch(text):
        return Subject(child_ids={text})
    if _LEGACY.fullmatch(text):
        return Subject(child_ids={legacy_child_id(text)}, legacy_keys={text})
    raise SubjectError(
        f"--child {value!r}: a child's id (a UUID, as on the console's child page), "
        "or a key of before the person index (64 hexadecimal characters)"
    )


async def by_name(
    session: AsyncSession, given_name: str, family_name: str, date_of_birth: date
) -> Subject:
    """Every child whose alerts carry this name and date of birth."""
    wanted = (folded(given_name), folded(family_name))
    rows = await session.execute(
        select(
            alerts.c.force_code,
            alerts.c.episode_ref,
            alerts.c.child_given_name,
            alerts.c.child_family_name,
        )
        .where(alerts.c.child_date_of_birth == date_of_birth)
        .distinct()
    )
    episodes = [(f, e) for f, e, given, family in rows if (folded(given), folded(family)) == wanted]
    key = legacy_key(given_name, family_name, date_of_birth)
    return Subject(
        child_ids=await child_links.children_of(session, episodes) | {legacy_child_id(key)},
        legacy_keys={key},
    )


async def widen(session: AsyncSession, subject: Subject) -> Subject:
    """Add the keys of before that the child's episodes were known by."""
    episodes = await _episodes(session, subject.child_ids)
    if episodes:
        rows = await session.execute(
            select(
                alerts.c.child_given_name, alerts.c.child_family_name, alerts.c.child_date_of_birth
            )
            .where(tuple_(alerts.c.force_code, alerts.c.episode_ref).in_(episodes))
            .distinct()
        )
        subject.legacy_keys |= {legacy_key(g, f, d) for g, f, d in rows}
    return subject


async def _episodes(session: AsyncSession, child_ids: Iterable[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for child_id in sorted(child_ids):
        found += await child_links.episodes_of(session, child_id)
    return found


async def disclosure_rows(session: AsyncSession, subject: Subject) -> list[object]:
    """The disclosures about the child: by its episodes, and by the keys of before."""
    episodes = await _episodes(session, subject.child_ids)
    conditions = []
    if episodes:
        conditions.append(tuple_(disclosures.c.force_code, disclosures.c.episode_ref).in_(episodes))
    if subject.legacy_keys:
        conditions.append(disclosures.c.child_key.in_(sorted(subject.legacy_keys)))
    if not conditions:
        return []
    return list(
        (
            await session.execute(
                select(disclosures).where(or_(*conditions)).order_by(disclosures.c.seq)
            )
        ).all()
    )
