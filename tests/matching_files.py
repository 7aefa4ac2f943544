"""`relay matching evaluate` of the deployed model on a folder the generators wrote
(``roll.csv``, ``records.csv``, ``labels.csv``): its figures, as the JSON it prints,
and what it printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

DEPLOYED_MODEL = Path(__file__).resolve().parents[1] / "deploy" / "matching-model.json"


def evaluated(runner: CliRunner, out: Path) -> tuple[dict[str, Any], str]:
    from relay.cli import app

    files = [f"--{n}={out / f'{n}.csv'}" for n in ("roll", "records", "labels")]
    result = runner.invoke(
        app, ["matching", "evaluate", *files, "--model", str(DEPLOYED_MODEL), "--json"]
    )
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return figures, result.stdout
