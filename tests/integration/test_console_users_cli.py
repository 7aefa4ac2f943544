"""``relay users create|list|disable`` against the real console database (SQLite in a
temporary var dir, or PostgreSQL with RELAY_TEST_DATABASE_URL): the password comes from
standard input and is kept only as an Argon2id hash; bad input names the option."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.console.cli import register
from tests.console_login import PASSWORD


@pytest.fixture
def app(
    tmp_path: Path, database_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> typer.Typer:
    monkeypatch.setenv("RELAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RELAY_CONSOLE_DATABASE_URL", database_url("console"))
    app = typer.Typer()

    @app.callback()
    def _root() -> None: ...

    register(app)
    return app


def test_users_are_created_listed_and_disabled(app: typer.Typer, tmp_path: Path) -> None:
    run = CliRunner().invoke
    made = run(
        app,
        ["users", "create", "--username", "Rhi.North", "--role", "rhi-worker", "--la", "e06000057"],
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    assert "created rhi.north: rhi-worker of E06000057" in made.output
    chair = run(
        app,
        ["users", "create", "--username", "chair", "--role", "mset-chair"],
        input=PASSWORD + "\n",
    )
    assert chair.exit_code == 0, chair.output

    listed = json.loads(run(app, ["users", "list", "--json"]).output)
    assert [(u["username"], u["role"], u["la_code"]) for u in listed] == [
        ("chair", "mset-chair", None),
        ("rhi.north", "rhi-worker", "E06000057"),
    ]
    assert PASSWORD not in json.dumps(listed)

    for args, problem in (
        (["--username", "chair", "--role", "mset-chair"], "exists already"),
        (["--username", "x y", "--role", "mash"], "--username"),
        (["--username", "nina", "--role", "boss"], "one of mset-chair, rhi-worker, mash, admin"),
        (["--username", "nina", "--role", "rhi-worker"], "an rhi-worker needs --la"),
        (["--username", "nina", "--role", "mash", "--la", "E06000057"], "only an rhi-worker"),
        (["--username", "nina", "--role", "rhi-worker", "--la", "X1"], "GSS code"),
    ):
        refused = run(app, ["users", "create", *args], input=PASSWORD + "\n")
        assert refused.exit_code == 2 and problem in refused.output, (args, refused.output)
    short = run(app, ["users", "create", "--username", "nina", "--role", "mash"], input="short\n")
    assert short.exit_code == 2 and "at least 12 characters" in short.output

    assert run(app, ["users", "disable", "chair"]).exit_code == 0
    listed = json.loads(run(app, ["users", "list", "--json"]).output)
    assert listed[0]["disabled_at"] is not None
    assert run(app, ["users", "disable", "nobody"]).exit_code == 2
