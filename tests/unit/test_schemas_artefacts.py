"""The published schema files and examples stay equal to the models (DESIGN §1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import schemas
from relay.schemas_cli import drifted, register
from schemas.catalogue import DEAD_LETTER_MODEL, TOPICS, topic_by_wire
from schemas.generate import DEAD_LETTER_WIRE, artefacts, asyncapi, json_schemas, render

ROOT = Path(schemas.__file__).resolve().parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _model_for(wire: str) -> type:
    return DEAD_LETTER_MODEL if wire == DEAD_LETTER_WIRE else topic_by_wire(wire).model


@pytest.mark.parametrize("relative", sorted(artefacts()), ids=str)
def test_committed_file_equals_generated(relative: str) -> None:
    path = ROOT / relative
    expected = render(artefacts()[relative])
    assert path.is_file(), f"schemas/{relative} is missing: run `relay schemas generate`"
    assert path.read_text(encoding="utf-8") == expected, (
        f"schemas/{relative} differs from the models: run `relay schemas generate` and commit it"
    )


def test_no_left_over_schema_files() -> None:
    assert drifted(ROOT) == [], "run `relay schemas generate`; delete schemas no topic uses"


def test_every_topic_and_the_dead_letter_have_a_schema() -> None:
    assert set(json_schemas()) == {t.wire for t in TOPICS} | {DEAD_LETTER_WIRE}
    for wire, schema in json_schemas().items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"] == _model_for(wire).__name__


def test_asyncapi_has_every_channel_with_its_dlq_twin() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    for topic in TOPICS:
        channel = doc["channels"][topic.wire]
        assert channel["address"] == topic.wire
        assert topic.key in channel["description"]
        name = topic.model.__name__
        message = doc["components"]["messages"][name]
        assert message["bindings"]["kafka"]["key"]["description"] == topic.key
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        assert doc["channels"][topic.dlq]["messages"] == {
            "DeadLetterV1": {"$ref": "#/components/messages/DeadLetterV1"}
        }
        for producer in topic.producers:
            assert f"{producer.replace(' ', '-')}.send.{topic.wire}" in doc["operations"]
        for consumer in topic.consumers:
            assert f"{consumer}.receive.{topic.wire}" in doc["operations"]


def test_every_asyncapi_reference_resolves() -> None:
    doc = asyncapi()

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(doc):
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"unresolved {ref}"
            target = target[part]


def test_every_topic_has_an_example() -> None:
    assert {p.stem for p in EXAMPLES} == {t.wire for t in TOPICS} | {DEAD_LETTER_WIRE}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_its_model(path: Path) -> None:
    _model_for(path.stem).model_validate_json(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_its_json_schema(path: Path) -> None:
    import jsonschema

    schema = json.loads((ROOT / "json" / path.name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text(encoding="utf-8")))


def test_check_names_the_drifted_file_and_generate_repairs_it(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None: ...

    register(app)
    runner = CliRunner()
    generated = runner.invoke(app, ["schemas", "generate", "--dir", str(tmp_path)])
    assert generated.exit_code == 0, generated.output
    assert runner.invoke(app, ["schemas", "check", "--dir", str(tmp_path)]).exit_code == 0

    drift = tmp_path / "json" / "episode-events.v1.json"
    drift.write_text("{}\n", encoding="utf-8")
    (tmp_path / "json" / "old-topic.v1.json").write_text("{}\n", encoding="utf-8")
    checked = runner.invoke(app, ["schemas", "check", "--dir", str(tmp_path)])
    assert checked.exit_code == 1
    assert "episode-events.v1.json: differs from the models" in checked.output
    assert "old-topic.v1.json: no topic has this schema any more" in checked.output
    assert "relay schemas generate" in checked.output

    as_json = runner.invoke(app, ["schemas", "check", "--dir", str(tmp_path), "--json"])
    assert json.loads(as_json.stdout)["drifted"] == [
        str(drift),
        str(tmp_path / "json" / "old-topic.v1.json"),
    ]
