"""Every episode has a responsible local authority (issue 17): the rule that
`relay policy check`, the router's start-up and the organisations import apply, and its
agreement with routing itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from schemas.episode import EpisodeEventV1
from schemas.messages import OrgKind
from services.router.coverage import authority_gaps
from services.router.directory import Organisation
from services.router.policy import NoResponsibleAuthorityError, Policy, responsible_authority

NLD, NCL, OXF = "E06000057", "E08000021", "E10000025"


def la(code: str) -> Organisation:
    return Organisation(code, OrgKind.LOCAL_AUTHORITY, f"Council {code}", f"mc@{code}.example")


def school(code: str, la_code: str | None) -> Organisation:
    return Organisation(code, OrgKind.SCHOOL, f"School {code}", "dsl@s.example", la_code=la_code)


def unclaimed_child_event() -> EpisodeEventV1:
    """A child on no roll, and no ``child.responsible_la``: only the policy can place it."""
    at = datetime(2026, 12, 7, 21, 0, tzinfo=UTC).isoformat()
    return EpisodeEventV1.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "event_id": "ev-1",
            "type": "reported",
            "occurred_at": at,
            "force_code": "10",
            "episode_ref": "MP/1",
            "child": {"given_name": "Sam", "family_name": "Jones", "date_of_birth": "2013-02-02"},
            "accepted_at": at,
            "source": "test",
            "risk": {"grade": "medium"},
        }
    )


def test_an_empty_directory_or_a_single_authority_has_no_gap() -> None:
    assert authority_gaps([], Policy()) == []
    assert authority_gaps([], Policy(default_la=NLD)) == []  # nothing imported yet
    assert authority_gaps([la(NLD), school("100001", NLD)], Policy()) == []
    assert authority_gaps([la(NLD), la(NCL)], Policy(default_la=NCL)) == []


def test_several_authorities_and_no_default_name_the_fix() -> None:
    directory = [la(NCL), la(NLD), school("100001", NLD), school("100002", NLD)]
    [gap] = authority_gaps(directory, Policy())
    assert f"2 local authorities in the directory ({NLD}, {NCL})" in gap
    # The fix, with the authority most of the directory belongs to as the example.
    assert f'set default_la = "{NLD}"' in gap and "[routing] of the policy file" in gap
    assert "child.responsible_la" in gap


def test_a_default_the_directory_does_not_hold_is_a_gap() -> None:
    [gap] = authority_gaps([la(NLD), la(NCL)], Policy(default_la=OXF))
    assert f'default_la = "{OXF}"' in gap and "not a local authority in the directory" in gap
    # Even with one authority: a default naming another is a mistake to fix now, before a
    # second authority is imported and the fallback to the only one ends.
    assert authority_gaps([la(NLD)], Policy(default_la=OXF))


def test_a_directory_without_any_authority_is_a_gap() -> None:
    [gap] = authority_gaps([school("100001", NLD)], Policy(default_la=NLD))
    assert "no local authority in the directory" in gap and "local-authority" in gap


def test_long_lists_of_authorities_are_cut_short() -> None:
    codes = [f"E0600{n:04d}" for n in range(12)]
    [gap] = authority_gaps([la(c) for c in codes], Policy())
    assert "and 7 more" in gap and codes[0] in gap and codes[-1] not in gap.split("set")[0]


@pytest.mark.parametrize(
    ("codes", "default"),
    [
        ([NLD], None),
        ([NLD, NCL], None),
        ([NLD, NCL], NCL),
        ([NLD, NCL], OXF),
        ([NLD, NCL, OXF], NLD),
        ([], NLD),
    ],
)
def test_no_gap_means_routing_finds_an_authority(codes: list[str], default: str | None) -> None:
    """The rule and routing agree: where the rule sees no gap, a child nobody claims
    still reaches an authority; where routing would find none, the rule says so."""
    directory = {o.code: o for o in [*(la(c) for c in codes), school("100001", NLD)]}
    policy = Policy(default_la=default)
    gaps = authority_gaps(directory.values(), policy)
    try:
        responsible_authority(unclaimed_child_event(), [], directory, policy)
    except NoResponsibleAuthorityError:
        assert gaps
    else:
        assert not gaps or (default is not None and default not in codes)
