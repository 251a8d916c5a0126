"""The published JSON Schemas with Python's jsonschema, over the fixtures the TypeScript test reads.

test/core/schema.test.ts runs the same files through the worker's own check (parseEnvelope).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import FIXTURES, Deployment, received, schema

from flotilla_client import Job

VALIDATOR = jsonschema.Draft202012Validator(
    schema("envelope.v1.json"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def fixtures(kind: str) -> list[Path]:
    return sorted((FIXTURES / kind).glob("*.json"))


def test_the_schemas_are_valid_draft_2020_12() -> None:
    for name in ("envelope.v1.json", "result.v1.json", "error.v1.json"):
        jsonschema.Draft202012Validator.check_schema(schema(name))


def test_there_are_fixtures_of_both_kinds() -> None:
    assert len(fixtures("valid")) >= 5 and len(fixtures("invalid")) >= 20


@pytest.mark.parametrize("path", fixtures("valid"), ids=lambda p: p.stem)
def test_accepts_the_envelopes_the_worker_accepts(path: Path) -> None:
    VALIDATOR.validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", fixtures("invalid"), ids=lambda p: p.stem)
def test_refuses_the_envelopes_the_worker_refuses(path: Path) -> None:
    assert not VALIDATOR.is_valid(json.loads(path.read_text()))


def test_accepts_every_envelope_the_python_client_sends(quiet: Deployment) -> None:
    c = quiet.client(claim_check_threshold_bytes=1024)
    c.submit_many("ocr:v2", [None, "text", [1, 2], Job({"big": "y" * 2000}, id="big.one")], batch="nightly.2026-12-02")
    bodies = received(quiet)
    assert len(bodies) == 4 and sum("payloadRef" in b for b in bodies) == 1
    for body in bodies:
        VALIDATOR.validate(body)
