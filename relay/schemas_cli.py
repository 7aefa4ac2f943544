"""``relay schemas generate`` and ``relay schemas check``: the published JSON Schema and
AsyncAPI files, kept equal to the models (DESIGN §1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

import schemas
from schemas.generate import artefacts, render

SCHEMAS_DIR = Path(schemas.__file__).resolve().parent
Root = Annotated[Path, typer.Option("--dir", help="the schemas package folder")]


def expected_files(root: Path) -> dict[Path, str]:
    return {root / relative: render(document) for relative, document in artefacts().items()}


def drifted(root: Path) -> list[Path]:
    """Files that differ from what the models generate, are missing, or are left over
    in ``json/`` from a topic that no longer exists."""
    expected = expected_files(root)
    out = [
        path
        for path, text in expected.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    json_dir = root / "json"
    if json_dir.is_dir():
        out += [path for path in sorted(json_dir.glob("*.json")) if path not in expected]
    return out


def register(app: typer.Typer) -> None:
    schemas_app = typer.Typer(
        no_args_is_help=True, help="JSON Schema and AsyncAPI files generated from the models."
    )
    app.add_typer(schemas_app, name="schemas")

    @schemas_app.command("generate")
    def generate(
        root: Root = SCHEMAS_DIR,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Write schemas/json/<topic>.json, schemas/json/dead-letter.v1.json and
        schemas/asyncapi.json from the models."""
        written: list[str] = []
        for path, text in expected_files(root).items():
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(str(path))
        stale = [p for p in drifted(root) if p.parent == root / "json"]
        if as_json:
            typer.echo(json.dumps({"written": written, "stale": [str(p) for p in stale]}))
        else:
            for name in written:
                typer.echo(f"wrote {name}")
            typer.echo(f"{len(written)} file(s) written, {len(expected_files(root))} in all")
            for path in stale:
                typer.echo(f"{path}: no topic has this schema any more; delete it", err=True)

    @schemas_app.command("check")
    def check(
        root: Root = SCHEMAS_DIR,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Exit 1, naming the files, when the committed files differ from the models."""
        bad = drifted(root)
        if as_json:
            typer.echo(json.dumps({"ok": not bad, "drifted": [str(p) for p in bad]}))
        elif bad:
            expected = expected_files(root)
            for path in bad:
                if path not in expected:
                    problem = "no topic has this schema any more"
                elif not path.is_file():
                    problem = "is missing"
                else:
                    problem = "differs from the models"
                typer.echo(f"{path}: {problem}", err=True)
            typer.echo("run `relay schemas generate` and commit the result", err=True)
        else:
            typer.echo("schemas match the models")
        if bad:
            raise typer.Exit(1)
