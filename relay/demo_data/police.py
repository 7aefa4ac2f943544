"""Police records typed in a hurry: which errors a record of a child carries, and the
``child`` block it gives with them."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from relay.demo_data.model import Child
from relay.demo_data.people import AreaGenerator
from services.router.names import normalise_name
from services.router.nicknames import _GROUPS as _NICKNAME_GROUPS  # the router's own table
from services.router.nicknames import are_variants

# Police-record errors (DOMAIN: records typed in a hurry). CLEAN_SHARE of records carry
# none; of the rest, TWO_ERRORS_SHARE carry two. Weights say how common each error is
# among those that can apply to a record.
CLEAN_SHARE = 0.60
TWO_ERRORS_SHARE = 0.10
CORRUPTION_WEIGHTS: dict[str, float] = {
    "nickname": 4.0,
    "family-typo": 3.0,
    "double-barrel-part": 6.0,  # applies only to double-barrelled names: usually given in part
    "name-change": 0.6,
    "names-swapped": 1.0,
    "dob-swap": 1.2,
    "dob-typo": 1.5,
    "no-postcode": 2.0,
    "old-postcode": 1.5,
}
CORRUPTIONS = tuple(CORRUPTION_WEIGHTS)
# Errors that cannot meet in one record (both touch the same field).
_CONFLICTS = (
    {"dob-swap", "dob-typo"},
    {"family-typo", "name-change", "double-barrel-part"},
    {"no-postcode", "old-postcode", "name-change"},
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _nicknames(given: str) -> list[str]:
    """Other forms of ``given`` in the router's nickname table (Bill for William,
    William for Bill), capitalised as a police record would write them."""
    norm = normalise_name(given)
    forms: set[str] = set()
    for canonical, variants in _NICKNAME_GROUPS.items():
        group = (canonical, *variants)
        if norm in group:
            forms.update(group)
    forms.discard(norm)
    return sorted(f.capitalize() for f in forms if are_variants(f, norm))


def _one_edit(name: str, rng: random.Random) -> str:
    """``name`` with one typing error (insertion, deletion, substitution or
    transposition) in one of its letters after the first; the result always differs."""
    letters = [i for i, c in enumerate(name) if c.isalpha() and i > 0]
    for _ in range(20):
        i = rng.choice(letters)
        kind = rng.choice(("insertion", "deletion", "substitution", "transposition"))
        if kind == "insertion":
            typo = name[:i] + rng.choice(_LETTERS) + name[i:]
        elif kind == "deletion" and len(letters) > 2:
            typo = name[:i] + name[i + 1 :]
        elif kind == "substitution":
            typo = name[:i] + rng.choice(_LETTERS.replace(name[i].lower(), "")) + name[i + 1 :]
        elif kind == "transposition" and i + 1 < len(name) and name[i + 1].isalpha():
            typo = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        else:
            continue
        if normalise_name(typo) != normalise_name(name):
            return typo
    return name + rng.choice(_LETTERS)


def _dob_typo(born: date, today: date, rng: random.Random) -> date:
    """``born`` with one digit of its day, month or year's last digit mistyped: still a
    real, past date of a school-age child."""
    text = born.isoformat()  # YYYY-MM-DD
    for _ in range(50):
        i = rng.choice((3, 5, 6, 8, 9))
        typo = text[:i] + str(rng.randrange(10)) + text[i + 1 :]
        try:
            other = date.fromisoformat(typo)
        except ValueError:
            continue
        if other != born and 3 * 365 < (today - other).days < 19 * 365:
            return other
    return born + timedelta(days=1 if born.day < 28 else -1)


def _swappable(born: date) -> bool:
    return born.day <= 12 and born.day != born.month


def _applicable(child: Child) -> list[str]:
    kinds = [k for k in CORRUPTIONS if k not in ("nickname", "double-barrel-part", "dob-swap")]
    if _nicknames(child.given_name):
        kinds.append("nickname")
    if "-" in child.family_name:
        kinds.append("double-barrel-part")
    if _swappable(child.date_of_birth):
        kinds.append("dob-swap")
    return kinds


def choose_corruption(child: Child, rng: random.Random) -> tuple[str, ...]:
    """Which errors a police record of ``child`` carries (none for most)."""
    if rng.random() < CLEAN_SHARE:
        return ()
    wanted = 2 if rng.random() < TWO_ERRORS_SHARE else 1
    chosen: list[str] = []
    options = _applicable(child)
    while len(chosen) < wanted and options:
        pick = rng.choices(options, [CORRUPTION_WEIGHTS[k] for k in options])[0]
        chosen.append(pick)
        clash = set().union(*(group for group in _CONFLICTS if pick in group)) | {pick}
        options = [k for k in options if k not in clash]
    return tuple(k for k in CORRUPTIONS if k in chosen)  # a fixed order: easy to count


def police_child(
    child: Child, gen: AreaGenerator, kinds: tuple[str, ...], with_nhs: bool
) -> dict[str, Any]:
    """The ``child`` block a police record gives for ``child``, with the errors ``kinds``."""
    rng = gen.rng
    given, family, born = child.given_name, child.family_name, child.date_of_birth
    postcode: str | None = child.postcode
    address: str | None = child.address if rng.random() < 0.5 else None
    for kind in kinds:  # CORRUPTIONS order: name changes before a swap of the names
        if kind == "nickname":
            given = rng.choice(_nicknames(given))
        elif kind == "family-typo":
            family = _one_edit(family, rng)
        elif kind == "double-barrel-part":
            family = rng.choice(family.split("-"))
        elif kind == "name-change":
            # A new family name (adoption, a parent's marriage); same birth date and home.
            while normalise_name(new := gen.family_name()) == normalise_name(family):
                pass
            family = new
        elif kind == "names-swapped":
            given, family = family, given
        elif kind == "dob-swap":
            born = date(born.year, born.day, born.month)
        elif kind == "dob-typo":
            born = _dob_typo(born, gen.today, rng)
        elif kind == "no-postcode":
            postcode = address = None
        elif kind == "old-postcode":
            # The family moved; police still hold the old address (often in the same town).
            same_town = rng.random() < 0.5
            outward = child.postcode.split()[0] if same_town else None
            while (old := gen.postcode(outward))[0] == child.postcode:
                pass
            postcode, address = old[0], (old[1] if address else None)
    block: dict[str, Any] = {
        "given_name": given,
        "family_name": family,
        "date_of_birth": born.isoformat(),
        "sex": child.sex,
    }
    if postcode:
        block["postcode"] = postcode
    if address:
        block["address"] = address
    if with_nhs:
        block["nhs_number"] = child.nhs_number
    if child.looked_after:
        block["looked_after"] = True
        block["responsible_la"] = child.responsible_la
    return block
