"""The independent generator's labels say what each record went through, and saying so
changes none of the records a seed gives (issue 22's sets stay comparable)."""

from __future__ import annotations

from random import Random

from relay.corruption import HELD_OUT, ON, TUNING, Child, corrupt, generate

KINDS = {"date_digit", "no_postcode", "no_address"}
FIELDS = {"given_name", "family_name", "address"}


def test_recording_the_modifications_draws_nothing_from_the_seed() -> None:
    child = Child(1, "olivia", "smith", ON, "female", "LS6 1AB", "1 Mill Lane, Leeds")
    for seed in range(200):
        applied: list[str] = []
        assert corrupt(Random(seed), child, HELD_OUT, applied) == corrupt(
            Random(seed), child, HELD_OUT
        )


def test_each_label_lists_the_modifications_its_record_carries() -> None:
    data = generate(seed=3, children=800, records=300, mix=TUNING)
    records = {r["record_id"]: r for r in data.records}
    kinds = [label["modifications"] for label in data.labels]
    assert any(not k for k in kinds) and any("+" in k for k in kinds)
    for label in data.labels:
        for mod in filter(None, label["modifications"].split("+")):
            kind, _, target = mod.partition(":")
            assert kind in KINDS if not target else target in FIELDS, mod
        if "no_postcode" in label["modifications"]:
            assert records[label["record_id"]]["postcode"] == ""
