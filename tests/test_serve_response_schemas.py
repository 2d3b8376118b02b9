"""Every route's real answers — whole, streamed (SSE and NDJSON, event by event) and refused — against the
response schemas the endpoint declares in its OpenAPI document (workbench/serve/response_schemas.py), checked
by schemathesis' response_schema_conformance on the real server with the tiny model. The fuzz test
(test_faults_fuzz.py) runs the same check on generated requests; here each shape is sure to be seen."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.checks import response_schema_conformance

import tests.openapi_support  # noqa: F401  (reads NDJSON streams for the conformance check)
from tests.serve_support import serving, tiny_workbench

CHAT = [{"role": "user", "content": "hi"}]
# (method, path, body — for a GET its path parameters): what the real clients send, each route whole and, where
# it streams, streamed
CALLS = [
    ("GET", "/health", None),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/{name}", {"name": "terse"}),
    ("POST", "/v1/chat/completions", {"model": "tiny:F32", "messages": CHAT, "max_tokens": 4, "logprobs": True}),
    ("POST", "/v1/chat/completions", {"model": "tiny:F32", "messages": CHAT, "max_tokens": 4, "stream": True,
                                      "stream_options": {"include_usage": True}}),
    ("POST", "/v1/chat/completions", {"model": "tooly", "messages": CHAT, "max_tokens": 24, "stream": True,
                                      "tools": [{"type": "function", "function": {
                                          "name": "f", "parameters": {"type": "object", "properties": {}}}}],
                                      "tool_choice": "required"}),
    ("POST", "/v1/completions", {"model": "tiny:F32", "prompt": "hi", "max_tokens": 4, "logprobs": 2,
                                 "echo": True}),
    ("POST", "/v1/completions", {"model": "tiny:F32", "prompt": "hi", "max_tokens": 4, "stream": True,
                                 "stream_options": {"include_usage": True}}),
    ("POST", "/v1/embeddings", {"model": "tiny:F32", "input": ["a", "b"]}),
    ("POST", "/v1/embeddings", {"model": "tiny:F32", "input": "a", "encoding_format": "base64"}),
    ("POST", "/v1/responses", {"model": "tiny:F32", "input": "hi", "max_output_tokens": 4}),
    ("POST", "/v1/responses", {"model": "tiny:F32", "input": "hi", "max_output_tokens": 4, "stream": True}),
    ("POST", "/v1/messages", {"model": "tiny:F32", "max_tokens": 4, "messages": CHAT}),
    ("POST", "/v1/messages", {"model": "tiny:F32", "max_tokens": 4, "messages": CHAT, "stream": True}),
    ("POST", "/v1/messages/count_tokens", {"model": "tiny:F32", "messages": CHAT}),
    ("POST", "/tokenize", {"model": "tiny:F32", "content": "hi", "with_pieces": True}),
    ("POST", "/detokenize", {"model": "tiny:F32", "tokens": [1, 2]}),
    ("GET", "/api/version", None),
    ("GET", "/api/tags", None),
    ("POST", "/api/show", {"model": "terse"}),
    ("POST", "/api/chat", {"model": "tiny:F32", "messages": CHAT, "options": {"num_predict": 4}, "stream": True}),
    ("POST", "/api/chat", {"model": "tiny:F32", "messages": CHAT, "options": {"num_predict": 4}, "stream": False}),
    ("POST", "/api/chat", {"model": "tiny:F32"}),  # load only
    ("POST", "/api/generate", {"model": "terse", "prompt": "hi", "stream": True}),
    ("POST", "/api/generate", {"model": "tiny:F32", "prompt": "hi", "raw": True, "stream": False,
                               "options": {"num_predict": 4}}),
    ("GET", "/api/ps", None),
    ("POST", "/api/embed", {"model": "tiny:F32", "input": ["a", "b"]}),
    ("POST", "/api/embeddings", {"model": "tiny:F32", "prompt": "a"}),
    ("POST", "/api/create", {"model": "made", "from": "terse", "system": "Be brief.", "stream": True}),
    ("POST", "/api/create", {"model": "made", "from": "terse", "stream": False}),
    ("POST", "/api/copy", {"source": "terse", "destination": "copied"}),
    ("DELETE", "/api/delete", {"model": "copied"}),
]
# refusals, in each route family's error shape
REFUSED = [
    ("GET", "/v1/models/{name}", {"name": "no-such-model"}),
    ("POST", "/v1/chat/completions", {"model": "no-such-model", "messages": CHAT}),
    ("POST", "/v1/chat/completions", {"model": "tiny:F32", "messages": "not a list"}),
    ("POST", "/v1/messages", {"model": "no-such-model", "max_tokens": 4, "messages": CHAT}),
    ("POST", "/v1/responses", {"model": "tiny:F32", "input": "hi", "previous_response_id": "resp_1"}),
    ("POST", "/detokenize", {"model": "tiny:F32", "tokens": [10 ** 9]}),
    ("POST", "/api/chat", {"model": "no-such-model", "messages": CHAT}),
    ("POST", "/api/pull", {"model": "not a reference"}),
    ("DELETE", "/api/delete", {"model": "no-such-model"}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("response-schemas"), tiny_model_path)
    with serving(wb, parallel=2) as srv:
        srv.schema = schemathesis.openapi.from_dict(srv.app.openapi())
        yield srv
    wb.close()


def _call(server, method: str, path: str, body: dict | None):
    operation = server.schema[path][method]
    if method == "GET":
        case = operation.Case(path_parameters=body or {})
    else:
        case = operation.Case(body=body, media_type="application/json")
    response = case.call(base_url=server.url, timeout=60)
    case.validate_response(response, checks=[response_schema_conformance])  # raises naming what differs
    return response


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(CALLS)])
def test_every_answer_matches_its_declared_schema(server, method, path, body):
    response = _call(server, method, path, body)
    assert response.status_code == 200, response.text
    if body and body.get("stream"):  # the stream's events were what was checked
        assert response.headers["content-type"][0].split(";")[0] in ("text/event-stream", "application/x-ndjson")


@pytest.mark.parametrize(("method", "path", "body"), REFUSED, ids=[f"{m} {p}" for m, p, _ in REFUSED])
def test_every_refusal_matches_its_family_error_schema(server, method, path, body):
    response = _call(server, method, path, body)
    assert 400 <= response.status_code < 500, response.text


def test_every_operation_declares_a_body_schema_for_success_and_errors(server):
    spec = server.app.openapi()
    bare = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            content = responses["200"].get("content", {})
            if path in ("/", "/metrics"):  # plain text for people and Prometheus
                continue
            if not all(media.get("schema") for media in content.values()):  # /api/copy and delete: no body
                bare.append(f"{method.upper()} {path}: 200")
            if not ("4XX" in responses and "5XX" in responses):
                bare.append(f"{method.upper()} {path}: errors")
    assert bare == []
