"""An independent test-set generator for matching (issue 22): a roll, police records
made from it by a corruption model nobody tuned the matcher on, and the true links.

It shares nothing with :mod:`relay.demo_data` (its own names, households and errors).
Its corruption model is the public linkage benchmarks' (FEBRL-like): each police record
takes a number of modifications drawn from a :class:`Mix`, each one of

- ``insert``, ``delete``, ``substitute``, ``transpose``: one character at a random
  position of the given name, family name or address
- ``phonetic``: a sound-alike spelling (ph/f, ck/k, y/i, ...) ; ``ocr``: a scanning
  error (m/rn, l/1, o/0, cl/d, ...)
- ``truncate``: a name cut short; ``replace``: a name replaced by another common one
  (never a sibling's given name)
- ``date_digit``: one digit of the date of birth wrong
- ``no_postcode``, ``no_address``: the field left empty

Households hold one to four children at one address; some hold twins. Some children are
on no roll (the police record must then match nothing), many of them a rolled child's
sibling. The labels say which roll row each record is, and whether the child is a twin
or has a sibling (``group``).

With a ``gp_coverage`` the roll also holds GP practices' registration lists, as a live
directory does: each child, whatever its school, is on its household's practice's list
with that probability, under the same ``record_id`` as its school row (a match to either
row is the child's), so a child on no school roll but on a GP list is on the roll.
"""

from relay.corruption.errors import HELD_OUT, MIXES, OCR, PHONETIC, TUNING, Mix, corrupt
from relay.corruption.population import ON, Child
from relay.corruption.sets import (
    GP_PRACTICES,
    LABEL_COLUMNS,
    RECORD_COLUMNS,
    ROLL_COLUMNS,
    SCHOOLS,
    TestSet,
    generate,
    write_csv,
    write_set,
)

__all__ = [
    "GP_PRACTICES",
    "HELD_OUT",
    "LABEL_COLUMNS",
    "MIXES",
    "OCR",
    "ON",
    "PHONETIC",
    "RECORD_COLUMNS",
    "ROLL_COLUMNS",
    "SCHOOLS",
    "TUNING",
    "Child",
    "Mix",
    "TestSet",
    "corrupt",
    "generate",
    "write_csv",
    "write_set",
]
