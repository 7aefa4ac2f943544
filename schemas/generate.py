"""JSON Schema and AsyncAPI documents generated from the models and the topic catalogue.

Pure: every function returns dicts (or the text to write); ``relay schemas generate``
writes them under ``schemas/`` and ``relay schemas check`` compares them with what is
committed, so a model change cannot ship without its published schema.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.catalogue import DEAD_LETTER_MODEL, TOPICS, Topic

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEAD_LETTER_WIRE = "dead-letter.v1"
ASYNCAPI_PATH = "asyncapi.json"
# The version of the topic contract as a whole; bump it when a topic version changes.
CONTRACT_VERSION = "1.1.0"
_KAFKA_BINDING_VERSION = "0.5.0"
_DLQ_KEY = "the key of the message that failed, unchanged"


def json_schema_path(wire: str) -> str:
    """Where the JSON Schema of ``wire`` lives, relative to the ``schemas`` package."""
    return f"json/{wire}.json"


def _topic_annotation(topic: Topic) -> dict[str, Any]:
    # An annotation keyword (JSON Schema ignores unknown keywords): a reader of the file
    # alone sees where the message travels and how it is keyed.
    return {
        "wire": topic.wire,
        "dlq": topic.dlq,
        "key": topic.key,
        "producers": list(topic.producers),
        "consumers": list(topic.consumers),
        "description": topic.description,
    }


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema (draft 2020-12) in validation mode: what a consumer accepts."""
    schema = model.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every topic's JSON Schema keyed by wire name, plus ``dead-letter.v1`` for the DLQs."""
    schemas: dict[str, dict[str, Any]] = {}
    for topic in TOPICS:
        schemas[topic.wire] = {**model_schema(topic.model), "x-topic": _topic_annotation(topic)}
    schemas[DEAD_LETTER_WIRE] = {
        **model_schema(DEAD_LETTER_MODEL),
        "x-topic": {
            "wire": "<topic>.v<n>.dlq",
            "key": _DLQ_KEY,
            "producers": ["the consumer that could not process the message"],
            "consumers": ["console", "operators"],
            "description": "A message a consumer could not process, with the reason.",
        },
    }
    return schemas


def _operation_id(service: str, action: str, wire: str) -> str:
    return f"{service.replace(' ', '-')}.{action}.{wire}"


def _key_binding(description: str) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": description},
            "bindingVersion": _KAFKA_BINDING_VERSION,
        }
    }


def _channel_binding(wire: str) -> dict[str, Any]:
    return {"kafka": {"topic": wire, "bindingVersion": _KAFKA_BINDING_VERSION}}


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3.0 document: one channel per topic and per dead-letter twin."""
    models: list[type[BaseModel]] = [topic.model for topic in TOPICS]
    models.append(DEAD_LETTER_MODEL)
    unique: list[type[BaseModel]] = list(dict.fromkeys(models))
    # One schema document for every model, with references into components/schemas, so
    # the AsyncAPI file stands alone.
    _, definitions = models_json_schema(
        [(model, "validation") for model in unique], ref_template="#/components/schemas/{model}"
    )
    dead_letter = DEAD_LETTER_MODEL.__name__
    messages: dict[str, Any] = {
        dead_letter: _message(
            dead_letter,
            "Dead letter",
            "A message a consumer could not process, with the reason.",
            _DLQ_KEY,
        )
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS:
        name = topic.model.__name__
        messages[name] = _message(name, name, topic.description, topic.key)
        channels.update(_channels(topic, dead_letter))
        operations.update(_operations(topic, dead_letter))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Missing Episode Relay",
            "version": CONTRACT_VERSION,
            "description": (
                "Police missing-child episodes and the alerts, return home interview tasks "
                "and identity reviews they cause. Every topic is versioned on the wire "
                "(`<name>.v<n>`) and has a dead-letter twin (`<name>.v<n>.dlq`). Delivery "
                "is at least once; consumers de-duplicate on `message_id`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka; topic names may carry a deployment prefix.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions["$defs"]},
    }


def _message(name: str, title: str, summary: str, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": _key_binding(key),
    }


def _channels(topic: Topic, dead_letter: str) -> dict[str, Any]:
    """The topic's channel and its dead-letter twin's."""
    name = topic.model.__name__
    producers = ", ".join(topic.producers)
    consumers = ", ".join(topic.consumers)
    return {
        topic.wire: {
            "address": topic.wire,
            "title": topic.name,
            "description": (
                f"{topic.description} Produced by {producers}; consumed by {consumers}. "
                f"Key: {topic.key}. Dead-letter twin: {topic.dlq}."
            ),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": _channel_binding(topic.wire),
        },
        topic.dlq: {
            "address": topic.dlq,
            "title": f"{topic.name} (dead letters)",
            "description": (
                f"Messages of {topic.wire} that {consumers} could not process, with the "
                f"reason; counted and shown in the console. Key: {_DLQ_KEY}."
            ),
            "messages": {dead_letter: {"$ref": f"#/components/messages/{dead_letter}"}},
            "bindings": _channel_binding(topic.dlq),
        },
    }


def _operations(topic: Topic, dead_letter: str) -> dict[str, Any]:
    """Each producer's send, and each consumer's receive and dead-letter send."""
    channel_ref = {"$ref": f"#/channels/{topic.wire}"}
    message_ref = [{"$ref": f"#/channels/{topic.wire}/messages/{topic.model.__name__}"}]
    operations: dict[str, Any] = {}
    for producer in topic.producers:
        operations[_operation_id(producer, "send", topic.wire)] = {
            "action": "send",
            "channel": channel_ref,
            "messages": message_ref,
            "summary": f"{producer} publishes {topic.wire}",
        }
    for consumer in topic.consumers:
        operations[_operation_id(consumer, "receive", topic.wire)] = {
            "action": "receive",
            "channel": channel_ref,
            "messages": message_ref,
            "summary": f"{consumer} consumes {topic.wire}",
        }
        operations[_operation_id(consumer, "send", topic.dlq)] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic.dlq}"},
            "messages": [{"$ref": f"#/channels/{topic.dlq}/messages/{dead_letter}"}],
            "summary": f"{consumer} dead-letters what it cannot process from {topic.wire}",
        }
    return operations


def artefacts() -> dict[str, dict[str, Any]]:
    """Every generated document keyed by its path relative to the ``schemas`` package."""
    files = {json_schema_path(wire): schema for wire, schema in json_schemas().items()}
    files[ASYNCAPI_PATH] = asyncapi()
    return files


def render(document: dict[str, Any]) -> str:
    """The committed text of a document: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
