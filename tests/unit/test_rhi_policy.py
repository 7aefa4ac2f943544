"""The push and pull factors of the policy's ``[rhi]`` table (issue 21)."""

from __future__ import annotations

import pytest

from schemas.rhi_record import DEFAULT_PULL_FACTORS, DEFAULT_PUSH_FACTORS
from services.runtime.policy_file import PolicyFileError
from services.runtime.rhi_policy import RhiFactors


def test_defaults_and_the_partnership_s_own_lists() -> None:
    assert RhiFactors.from_sections({}) == RhiFactors(DEFAULT_PUSH_FACTORS, DEFAULT_PULL_FACTORS)
    own = RhiFactors.from_sections({"rhi": {"pull_factors": ["county-lines", "gangs"]}})
    assert own.pull == ("county-lines", "gangs") and own.push == DEFAULT_PUSH_FACTORS


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"push": ["bullying"]}, "[rhi] push: unknown; known: push_factors, pull_factors"),
        ({"push_factors": []}, "a list of lower-case words"),
        ({"push_factors": ["Family Conflict"]}, "a list of lower-case words"),
        ({"pull_factors": ["gangs", "gangs"]}, "each once"),
    ],
)
def test_a_wrong_list_names_the_key(table: dict[str, object], words: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        RhiFactors.from_sections({"rhi": table}, "policy.toml")
    assert words in str(caught.value) and str(caught.value).startswith("policy.toml: [rhi]")
