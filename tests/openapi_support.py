"""What schemathesis needs to check the endpoint's answers beyond JSON: Ollama's NDJSON streams read as the array
of their lines, as workbench/serve/response_schemas.py documents them (SSE has schemathesis' own reader).
Imported for its registration by the tests that check responses against the OpenAPI schema."""

from __future__ import annotations

import json

import schemathesis

from workbench.serve.response_schemas import JSON_LINES


@schemathesis.deserializer(JSON_LINES)
def json_lines(_context, response) -> list:
    return [json.loads(line) for line in response.content.decode("utf-8").splitlines() if line.strip()]
