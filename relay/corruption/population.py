"""The population a test set is drawn from: households of one to four children at one
address, some of them twins, with names, dates of birth, sexes and homes of their own
(relay/corruption/names.py), none shared with :mod:`relay.demo_data`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random

from relay.corruption.names import BOYS, DISTRICTS, GIRLS, STREETS, SURNAMES

ON = date(2026, 3, 10)  # the day the roll is taken: every child is 4 to 17 years old

_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass
class Child:
    child_id: int
    given: str
    family: str
    born: date
    sex: str
    postcode: str
    address: str
    group: str = ""  # twin | sibling | ""
    household: tuple[str, ...] = ()  # the given names of the child's household
    roll_id: str = ""
    org_code: str = ""  # the school's
    household_id: int = 0


def zipf(rng: Random, names: Sequence[str]) -> str:
    return rng.choices(names, weights=[1 / (i + 1) ** 0.9 for i in range(len(names))])[0]


def title(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _place(rng: Random, taken: set[str]) -> tuple[str, str]:
    """A postcode and an address no other household has."""
    while True:
        district = rng.choice(list(DISTRICTS))
        inward = f"{rng.randint(1, 9)}{''.join(rng.choices(_INWARD_LETTERS, k=2))}"
        address = f"{rng.randint(1, 180)} {rng.choice(STREETS)}, {DISTRICTS[district]}"
        if address not in taken:
            taken.add(address)
            return f"{district} {inward}", address


def households(rng: Random, children: int) -> list[Child]:
    out: list[Child] = []
    taken: set[str] = set()
    household = 0
    while len(out) < children:
        household += 1
        family = zipf(rng, SURNAMES)
        if rng.random() < 0.04:  # a double-barrelled name
            family = f"{family}-{zipf(rng, SURNAMES)}"
        postcode, address = _place(rng, taken)
        size = rng.choices((1, 2, 3, 4), weights=(50, 32, 13, 5))[0]
        twins = size >= 2 and rng.random() < 0.15
        used: set[str] = set()
        born = ON - timedelta(days=rng.randint(4 * 365, 17 * 365))
        for n in range(size):
            if n > 0 and not (twins and n == 1):
                born = born + timedelta(days=rng.randint(300, 4 * 365))
                if born > ON - timedelta(days=4 * 365):
                    break
            sex = rng.choice(("female", "male"))
            given = zipf(rng, GIRLS if sex == "female" else BOYS)
            while given in used:
                given = zipf(rng, GIRLS if sex == "female" else BOYS)
            used.add(given)
            out.append(Child(len(out), given, family, born, sex, postcode, address))
        members = out[len(out) - len(used) :]
        for c in members:
            c.group = "sibling" if len(members) > 1 else ""
            c.household = tuple(used)
            c.household_id = household
        if twins and len(members) >= 2:
            members[0].group = members[1].group = "twin"
    return out[:children]


# Corruptions ------------------------------------------------------------------------
