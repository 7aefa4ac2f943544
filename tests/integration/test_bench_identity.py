"""``relay bench identity`` (issue 20) on a small area: the feed it draws has every
missing child missing three times (its repeat share), and it scores what the router's
person index linked."""

from __future__ import annotations

from relay.identity_bench import run_identity


def test_every_missing_child_goes_missing_three_times_and_pairs_are_scored() -> None:
    figures = run_identity(children=300, seed=3, repeats=1.0)
    assert figures["database"] == "sqlite"
    assert figures["children"] > 0
    # Three episodes a child (a few are refused by ingest): about three pairs each.
    assert figures["same_child_pairs"] >= 2 * figures["children"]
    assert 0 <= figures["same_child_pairs_linked"] <= figures["same_child_pairs"]
    assert figures["false_links"] == 0
    assert set(figures["met"]) == {"linked_share", "false_links"}


def test_with_no_repeats_there_is_no_pair_to_link() -> None:
    figures = run_identity(children=300, seed=3, repeats=0.0)
    assert figures["same_child_pairs"] == 0 and figures["linked_share"] == 1.0
