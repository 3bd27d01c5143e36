"""JSON Schema files for every payload and command, generated from the pydantic models.

``edged events schemas --write`` regenerates ``edged/events/schemas/``; the tests check that the
files in the repo are what the models say, so the documentation cannot drift from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edged.events.payloads import EVENT_MODELS
from edged.mqtt.command_models import ARG_MODELS, CommandBody, CommandResponse, SignedCommand

SCHEMA_DIR = Path(__file__).with_name("schemas")
BASE_ID = "https://github.com/edged/edged/schemas/"


def _models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = dict(EVENT_MODELS)
    models["command"] = SignedCommand
    models["command-body"] = CommandBody
    models["command-response"] = CommandResponse
    for name, model in ARG_MODELS.items():
        models[f"cmd-{name}"] = model
    return models


def generate() -> dict[str, dict[str, Any]]:
    schemas = {}
    for name, model in _models().items():
        schema = model.model_json_schema(mode="serialization" if name in EVENT_MODELS else "validation")
        schemas[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{BASE_ID}{name}.json",
            **schema,
        }
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate().items():
        path = directory / f"{name}.json"
        path.write_text(render(schema))
        written.append(path)
    return written


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names whose file is missing or differs from the models."""
    out = []
    for name, schema in generate().items():
        path = directory / f"{name}.json"
        if not path.exists() or path.read_text() != render(schema):
            out.append(name)
    return out


def load_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return loaded
