"""No episode without a responsible local authority (issue 17), on the real database:
`relay directory import organisations` warns of a directory with two authorities and no
default_la, `relay policy check` refuses it naming the fix (and says when it has no
database to check against), and the router refuses to start with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from services.router.app import create_app
from services.router.coverage import AuthorityGapError
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings

NLD, NCL, OXF = "E06000057", "E08000021", "E10000025"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland Council,mc@northumberland.example,
{NCL},local-authority,Newcastle Council,mc@newcastle.example,
100001,school,Morpeth First School,dsl@morpeth.example,{NLD}
"""


def relay(env: dict[str, str | None], *args: str) -> Result:
    base: dict[str, str | None] = {"RELAY_POLICY_FILE": None, "RELAY_DATABASE_URL": None}
    return CliRunner().invoke(relay_cli, list(args), env={**base, **env})


def policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


async def test_policy_check_refuses_two_authorities_and_no_default_la(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    # Nothing to check against yet: said so, and the policy itself is fine.
    nowhere = {"RELAY_VAR_DIR": str(tmp_path / "var"), "RELAY_ROUTER_DATABASE_URL": None}
    result = await asyncio.to_thread(relay, nowhere, "policy", "check")
    assert result.exit_code == 0, result.output
    assert "directory: not checked: no router database" in result.stdout
    assert not (tmp_path / "var" / "router.db").exists()  # looking made none

    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    env: dict[str, str | None] = {"RELAY_ROUTER_DATABASE_URL": url}
    result = await asyncio.to_thread(relay, env, "policy", "check")
    assert result.exit_code == 0 and "directory: empty" in result.stdout, result.output

    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    result = await asyncio.to_thread(
        relay, env, "directory", "import", "organisations", str(tmp_path / "orgs.csv")
    )
    assert result.exit_code == 0, result.output  # imported, loudly warned
    assert "WARNING" in result.stderr and "no default_la" in result.stderr
    assert "responsible authority: 1 problem(s)" in result.stdout

    result = await asyncio.to_thread(relay, env, "policy", "check")
    assert result.exit_code == 1, result.output
    assert "refused" in result.stderr and "no default_la in the policy" in result.stderr
    assert f'set default_la = "{NLD}"' in result.stderr
    assert "child.responsible_la" in result.stderr and result.stdout == ""

    elsewhere = policy(tmp_path, f'[routing]\ndefault_la = "{OXF}"\n')
    result = await asyncio.to_thread(relay, env, "policy", "check", elsewhere)
    assert result.exit_code == 1 and "not a local authority in the directory" in result.stderr

    fixed = policy(tmp_path, f'[routing]\ndefault_la = "{NCL}"\n')
    result = await asyncio.to_thread(relay, env, "policy", "check", fixed)
    assert result.exit_code == 0, result.output
    assert "2 local authorities; every episode has a responsible authority" in result.stdout
    # The import checks against the policy the router will run with.
    result = await asyncio.to_thread(
        relay,
        {**env, "RELAY_POLICY_FILE": fixed},
        "directory",
        "import",
        "organisations",
        str(tmp_path / "orgs.csv"),
    )
    assert result.exit_code == 0 and "WARNING" not in result.stderr, result.output


async def test_the_router_refuses_to_start_when_an_episode_could_reach_nobody(
    tmp_path: Path, database_url: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    result = await asyncio.to_thread(
        relay,
        {"RELAY_ROUTER_DATABASE_URL": url},
        "directory",
        "import",
        "organisations",
        str(tmp_path / "orgs.csv"),
    )
    assert result.exit_code == 0, result.output

    app = create_app(RelaySettings(router_database_url=url, var_dir=tmp_path / "var"))
    with (
        caplog.at_level(logging.ERROR, "services.router.app"),
        pytest.raises(AuthorityGapError, match="no default_la"),
    ):
        async with app.router.lifespan_context(app):
            pytest.fail("the router started")
    [refusal] = [r.getMessage() for r in caplog.records if "refusing to start" in r.getMessage()]
    assert f'set default_la = "{NLD}"' in refusal
