"""The police feed: episodes of the chosen children in time order, the children on no
roll, the deliberate rejects, and the truth of every event."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from relay.demo_data.model import (
    FEED_DAYS,
    FORCE_CODE,
    INVALID_EVENT_SHARE,
    MISSING_SHARE,
    OFF_ROLL_EVENT_SHARE,
    POLICE_NHS_SHARE,
    REPEAT_SHARE,
    TWIN_MISSING_SHARE,
    YOT_CODE,
    Child,
    TruthRow,
    local_date,
    slug,
)
from relay.demo_data.people import AreaGenerator
from relay.demo_data.places import FACTORS, FOUND_PLACES, OFFICERS
from relay.demo_data.police import choose_corruption, police_child


def truth_row(
    event_id: str, child: Child, on: date, valid: bool, kinds: tuple[str, ...]
) -> TruthRow:
    school = child.record_on("school", on)
    gp = child.record_on("gp", on)
    yot = child.record_on("yot", on)
    return TruthRow(
        event_id,
        child.child_id,
        child.school_urn if school else "",
        child.gp_code if gp else "",
        YOT_CODE if yot else "",
        child.responsible_la,
        valid,
        school,
        gp,
        yot,
        kinds,
        bool(child.twin_of),
    )


# An episode's step: the event type, its offset from the report, its own fields.
_Step = tuple[str, timedelta, dict[str, Any]]


class _Episodes:
    """Builds each episode's events in time order, with unique ids and references."""

    def __init__(self, gen: AreaGenerator) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.serial = self.rng.randrange(1000, 5000)
        self.now = gen.now

    def next_ref(self, when: datetime) -> str:
        self.serial += 1
        return f"{FORCE_CODE}-{when.year}-{self.serial:06d}"

    def contact(self) -> dict[str, str]:
        name = self.rng.choice(OFFICERS)
        local = slug(name.split(" ", 1)[1]).replace("-", ".")
        return {
            "name": name,
            "phone": f"0191 498 {self.rng.randrange(10000):04d}",  # Ofcom drama range
            "email": f"{local}@northumbria.police.example",
        }

    def episode(
        self,
        child: Child,
        start: datetime,
        companions: list[Child],
        ends_before: datetime | None = None,
        kinds: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """One episode's events from ``start``; squeezed to end before ``ends_before`` (a
        child's next episode), cut at ``now`` (what has not happened stays open). Every
        event of the episode repeats the child as first recorded, with the errors
        ``kinds``."""
        rng = self.rng
        ref = self.next_ref(start)
        block = police_child(child, self.gen, kinds, rng.random() < POLICE_NHS_SHARE)
        contact = self.contact()
        grade = rng.choices(("no-apparent-risk", "low", "medium", "high"), (1, 3, 5, 1))[0]
        factors = sorted(rng.sample(FACTORS, rng.choice((0, 0, 0, 1, 2))))
        common = {
            "force_code": FORCE_CODE,
            "episode_ref": ref,
            "child": block,
            "missing_from": "care"
            if child.looked_after
            else rng.choice(("home", "home", "home", "education", "other")),
            "police_contact": contact,
        }
        steps = self._steps(grade, factors, companions)
        return self._events(ref, start, steps, ends_before, common)

    def _steps(self, grade: str, factors: list[str], companions: list[Child]) -> list[_Step]:
        """What happens in the episode, each step at its offset from the report."""
        rng = self.rng
        steps: list[_Step] = [
            ("reported", timedelta(0), {"risk": {"grade": grade, "factors": factors}})
        ]
        at = timedelta(0)
        if rng.random() < 0.3:
            at += timedelta(hours=rng.randrange(6, 30))
            steps.append(("still-missing", at, {}))
        if rng.random() < 0.12:
            at += timedelta(hours=rng.randrange(1, 12))
            high = sorted(set(factors) | set(rng.sample(("cce", "county-lines", "cse"), 2)))
            steps.append(("risk-changed", at, {"risk": {"grade": "high", "factors": high}}))
        if rng.random() < 0.92:  # the rest are still missing at the end of the feed
            at += timedelta(hours=rng.randrange(2, 40), minutes=rng.randrange(60))
            if rng.random() < 0.6:
                steps.append(("found", at, self._found(companions)))
                at += timedelta(hours=rng.randrange(1, 4))
            steps.append(("returned", at, {}))
            at += timedelta(hours=rng.randrange(2, 48))
            steps.append(("closed", at, {}))
        return steps

    def _found(self, companions: list[Child]) -> dict[str, Any]:
        place = self.rng.choice(FOUND_PLACES)
        found: dict[str, Any] = {"location": {"postcode": place[0], "description": place[1]}}
        if companions and self.rng.random() < 0.4:
            found["found_with"] = [
                {
                    "given_name": c.given_name,
                    "family_name": c.family_name,
                    "date_of_birth": c.date_of_birth.isoformat(),
                }
                for c in companions
            ]
        return found

    def _events(
        self,
        ref: str,
        start: datetime,
        steps: list[_Step],
        ends_before: datetime | None,
        common: dict[str, Any],
    ) -> list[dict[str, Any]]:
        at = steps[-1][1]  # the last step's offset: the episode's length
        squeeze = 1.0
        if ends_before is not None and at > timedelta(0) and start + at >= ends_before:
            squeeze = 0.9 * (ends_before - start) / at
        events = []
        for seq, (kind, offset, extra) in enumerate(steps, start=1):
            when = (start + offset * squeeze).replace(microsecond=0)
            if when > self.now:
                break  # the future has not happened yet: the episode stays open
            events.append(
                {
                    "event_id": f"NP-{ref}-{seq:02d}",
                    "type": kind,
                    "occurred_at": when.isoformat(timespec="seconds"),
                    **common,
                    **extra,
                }
            )
        return events

    def start_between(self, first: datetime, last: datetime) -> datetime:
        span = max(int((last - first).total_seconds()), 60)
        start = first + timedelta(seconds=self.rng.randrange(span))
        return start.replace(second=0, microsecond=0)


def _missing_children(
    rng: random.Random, population: list[Child], twin_share: float
) -> list[Child]:
    # Looked-after children go missing far more often (DOMAIN.md): weight them up. A few
    # twins always, so that every feed tests the one case that must never auto-match.
    looked_after = [c for c in population if c.looked_after]
    twins = [c for c in population if c.twin_of and not c.looked_after]
    wanted = max(1, round(len(population) * MISSING_SHARE))
    chosen = rng.sample(looked_after, min(len(looked_after), max(1, wanted // 5)))
    chosen += rng.sample(twins, min(len(twins), max(1, round(wanted * twin_share))))
    taken = {c.child_id for c in chosen}
    others = [c for c in population if c.child_id not in taken and not c.looked_after]
    chosen += rng.sample(others, min(len(others), max(0, wanted - len(chosen))))
    rng.shuffle(chosen)
    return chosen


def police_feed(
    gen: AreaGenerator,
    population: list[Child],
    repeat_share: float = REPEAT_SHARE,
    twin_share: float = TWIN_MISSING_SHARE,
) -> tuple[list[dict[str, Any]], list[TruthRow], set[str]]:
    """The police feed: ``repeat_share`` of the missing children go missing three
    times; ``twin_share`` of them are twins."""
    rng = gen.rng
    episodes = _Episodes(gen)
    window_start = episodes.now - timedelta(days=FEED_DAYS)
    chosen = _missing_children(rng, population, twin_share)

    feed: list[dict[str, Any]] = []
    truth: list[TruthRow] = []

    def add(
        events: list[dict[str, Any]], child: Child, kinds: tuple[str, ...], valid: bool
    ) -> None:
        for event in events:
            feed.append(event)
            on = local_date(datetime.fromisoformat(event["occurred_at"]))
            truth.append(truth_row(event["event_id"], child, on, valid, kinds))

    for i, child in enumerate(chosen):
        repeats = 3 if rng.random() < repeat_share else 1
        companions = [chosen[i - 1]] if i and rng.random() < 0.3 else []
        slot = (episodes.now - window_start) / repeats
        for r in range(repeats):
            first = window_start + slot * r
            start = episodes.start_between(first, first + slot * 0.6)
            ends_before = first + slot if r < repeats - 1 else None
            kinds = choose_corruption(child, rng)
            add(episodes.episode(child, start, companions, ends_before, kinds), child, kinds, True)

    # Children on no roll: visiting from elsewhere, or missed by every organisation.
    off_roll = max(1, round(len(feed) * OFF_ROLL_EVENT_SHARE / 3))
    for n in range(1, off_roll + 1):
        stranger = gen.child(f"X{n:06d}")
        start = episodes.start_between(window_start, episodes.now - timedelta(hours=1))
        kinds = choose_corruption(stranger, rng)
        add(episodes.episode(stranger, start, [], kinds=kinds), stranger, kinds, True)

    # Deliberately invalid: the NHS number's check digit is wrong, so ingest rejects it.
    invalid_ids: set[str] = set()
    for _ in range(max(1, round(len(feed) * INVALID_EVENT_SHARE))):
        child = rng.choice(population)
        start = episodes.start_between(window_start, episodes.now - timedelta(hours=1))
        event = episodes.episode(child, start, [])[0]
        good = child.nhs_number
        bad = good[:9] + str((int(good[9]) + rng.randrange(1, 10)) % 10)
        event["child"] = {**event["child"], "nhs_number": bad}
        invalid_ids.add(event["event_id"])
        add([event], child, (), False)

    order = sorted(range(len(feed)), key=lambda k: (feed[k]["occurred_at"], feed[k]["event_id"]))
    return [feed[k] for k in order], [truth[k] for k in order], invalid_ids
