"""The corruption model: how a police record comes to differ from the child's roll row
(:class:`Mix`: how many modifications a record takes and of which kinds; :func:`corrupt`
applies them). The tuning set's mix and the held-out set's differ."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random

from relay.corruption.names import BOYS, GIRLS, SURNAMES
from relay.corruption.population import ON, Child, title, zipf

PHONETIC = (
    ("ph", "f"), ("f", "ph"), ("ck", "k"), ("k", "ck"), ("c", "k"), ("y", "i"),
    ("i", "y"), ("ie", "y"), ("ee", "ea"), ("ea", "ee"), ("s", "z"), ("z", "s"),
    ("th", "t"), ("ou", "ow"), ("ai", "ay"), ("mm", "m"), ("ll", "l"), ("l", "ll"),
    ("tt", "t"), ("n", "nn"), ("ei", "ie"), ("er", "a"), ("a", "e"), ("e", "a"),
)  # fmt: skip
OCR = (
    ("m", "rn"), ("rn", "m"), ("l", "1"), ("i", "l"), ("o", "0"), ("cl", "d"),
    ("d", "cl"), ("e", "c"), ("u", "v"), ("vv", "w"), ("w", "vv"), ("h", "li"),
    ("n", "ri"), ("g", "q"), ("b", "h"), ("s", "5"),
)  # fmt: skip


@dataclass(frozen=True)
class Mix:
    """How records are corrupted: a share of records per number of modifications, and
    a relative weight per kind of modification."""

    name: str
    modifications: dict[int, float]
    kinds: dict[str, float]
    off_roll: float = 0.1  # share of children on no roll
    missing_on_roll: float = 0.05  # roll rows without postcode or address


# The set thresholds are chosen on: typing errors first.
TUNING = Mix(
    "tuning",
    {0: 0.25, 1: 0.35, 2: 0.25, 3: 0.10, 4: 0.04, 5: 0.01},
    {
        "insert": 3, "delete": 3, "substitute": 3, "transpose": 3, "phonetic": 2,
        "ocr": 1, "truncate": 1, "replace": 1, "date_digit": 2, "no_postcode": 1,
        "no_address": 1,
    },
)  # fmt: skip
# The set figures are reported on: another seed, more records with 3-5 modifications,
# and more of the errors the tuning set has few of (sound-alikes, scanning, whole names).
HELD_OUT = Mix(
    "held-out",
    {0: 0.20, 1: 0.30, 2: 0.30, 3: 0.12, 4: 0.05, 5: 0.03},
    {
        "insert": 2, "delete": 2, "substitute": 2, "transpose": 1, "phonetic": 3,
        "ocr": 3, "truncate": 2, "replace": 2, "date_digit": 3, "no_postcode": 2,
        "no_address": 2,
    },
)  # fmt: skip
MIXES = {m.name: m for m in (TUNING, HELD_OUT)}


def _typo(rng: Random, text: str, kind: str) -> str:
    if len(text) < 2:
        return text
    i = rng.randrange(len(text))
    letter = rng.choice(string.ascii_lowercase)
    if kind == "insert":
        return text[:i] + letter + text[i:]
    if kind == "delete":
        return text[:i] + text[i + 1 :]
    if kind == "substitute":
        return text[:i] + letter + text[i + 1 :]
    i = min(i, len(text) - 2)  # transpose
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _rewrite(rng: Random, text: str, table: Sequence[tuple[str, str]]) -> str:
    options = [(a, b) for a, b in table if a in text]
    if not options:
        return _typo(rng, text, "substitute")
    a, b = rng.choice(options)
    starts = [i for i in range(len(text)) if text.startswith(a, i)]
    i = rng.choice(starts)
    return text[:i] + b + text[i + len(a) :]


def _date_digit(rng: Random, born: date) -> date:
    digits = born.strftime("%Y%m%d")
    for _ in range(50):
        i = rng.randrange(2, 8)  # not the century
        changed = digits[:i] + rng.choice(string.digits) + digits[i + 1 :]
        try:
            new = date(int(changed[:4]), int(changed[4:6]), int(changed[6:]))
        except ValueError:
            continue
        if new != born and ON - timedelta(days=18 * 365) < new < ON:
            return new
    return born


def corrupt(
    rng: Random, child: Child, mix: Mix, applied: list[str] | None = None
) -> dict[str, str]:
    """A police record of ``child`` with modifications drawn from ``mix``; each one
    applied is appended to ``applied`` (``kind`` or ``kind:field``). Recording them draws
    nothing from ``rng``: a seed gives the same records as before."""
    done = applied if applied is not None else []
    v = {
        "given_name": child.given,
        "family_name": child.family,
        "date_of_birth": child.born.isoformat(),
        "sex": child.sex,
        "postcode": child.postcode,
        "address": child.address,
    }
    count = rng.choices(list(mix.modifications), weights=list(mix.modifications.values()))[0]
    for _ in range(count):
        kind = rng.choices(list(mix.kinds), weights=list(mix.kinds.values()))[0]
        if kind == "date_digit":
            born = _date_digit(rng, date.fromisoformat(v["date_of_birth"]))
            v["date_of_birth"] = born.isoformat()
            done.append(kind)
        elif kind in ("no_postcode", "no_address"):
            v[kind[3:]] = ""
            done.append(kind)
        elif kind == "replace":
            if rng.random() < 0.7:
                # Another common name, but not a sibling's: that record would be the
                # sibling's by every measure, and its label a lie.
                name = child.given
                while name in child.household:
                    name = zipf(rng, GIRLS if child.sex == "female" else BOYS)
                v["given_name"] = name
                done.append("replace:given_name")
            else:
                v["family_name"] = zipf(rng, SURNAMES)
                done.append("replace:family_name")
        else:
            target = rng.choices(("given_name", "family_name", "address"), weights=(4, 4, 2))[0]
            text = v[target].lower() if target != "address" else v[target]
            if not text:
                continue
            if kind == "phonetic":
                text = _rewrite(rng, text, PHONETIC)
            elif kind == "ocr":
                text = _rewrite(rng, text, OCR)
            elif kind == "truncate":
                text = text[: max(2, rng.randint(len(text) // 2, len(text) - 1))]
            else:
                text = _typo(rng, text, kind)
            v[target] = text
            done.append(f"{kind}:{target}")
    for name in ("given_name", "family_name"):
        v[name] = title(v[name].lower()) if v[name].strip() else child.given[:1].upper()
    return v
