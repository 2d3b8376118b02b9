"""Bad requests get a clear 4xx (OpenAI's error shape), never echo prompt text, and the server keeps serving.

Also the safe defaults: API key (constant-time compare), Host allowlist (DNS rebinding), no CORS unless
configured, body cap, max_tokens cap, and configurations that would expose the endpoint are refused.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.serve_support import open_workbench, serving, tiny_workbench
from workbench.errors import InvalidParameter
from workbench.serve.config import ServeConfig

KEY = "test-key-0123456789abcdef"
SECRET = "PROMPT-SECRET-7f3a"  # prompt text that must never come back in an error or the request log


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("serve-errors"), tiny_model_path)
    with serving(wb, parallel=2, api_key=KEY, max_tokens_cap=1000, max_body_bytes=64 * 1024) as srv:
        yield srv
    wb.close()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        yield client
    # every test ends with the server still answering a good request
    good = httpx.post(server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, json={
        "model": "tiny:F32", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, timeout=60)
    assert good.status_code == 200 and good.json()["usage"]["completion_tokens"] == 2


def chat_body(**fields):
    return {"model": "tiny:F32", "messages": [{"role": "user", "content": SECRET}], "max_tokens": 2, **fields}


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert SECRET not in response.text
    error = response.json()["error"]
    assert error["message"] and error["type"]
    return error


def test_malformed_json_is_a_400(http):
    response = http.post("/v1/chat/completions", content=b'{"model": "tiny:F32", "messages": [',
                         headers={"content-type": "application/json"})
    assert "not valid JSON" in error_of(response, 400)["message"]


@pytest.mark.parametrize(("fields", "named"), [
    ({"temperature": "hot"}, "temperature"),
    ({"messages": "hello"}, "messages"),
    ({"messages": [{"role": "wizard", "content": SECRET}]}, "role"),
    ({"max_tokens": -5}, "max_tokens"),
    ({"n": 3}, "n"),
    ({"stop": 42}, "stop"),
    ({"top_p": 7}, "top_p"),
])
def test_wrong_types_and_ranges_name_the_field(http, fields, named):
    assert named in error_of(http.post("/v1/chat/completions", json=chat_body(**fields)), 400)["message"]


def test_engine_side_parameter_errors_are_400s(http):
    assert "seed" in error_of(http.post("/v1/chat/completions", json=chat_body(seed=-7)), 400)["message"]
    bias = error_of(http.post("/v1/chat/completions", json=chat_body(logit_bias={"99999999": 5})), 400)
    assert "vocabulary" in bias["message"]


def test_huge_max_tokens_is_refused_with_the_cap(http):
    error = error_of(http.post("/v1/chat/completions", json=chat_body(max_tokens=10**9)), 400)
    assert "cap of 1000" in error["message"]


def test_lone_surrogates_and_invalid_utf8_are_400s(http, server):
    body = b'{"model": "tiny:F32", "max_tokens": 2, "messages": [{"role": "user", "content": "a\\ud800b"}]}'
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert "surrogate" in error_of(response, 400)["message"]
    response = http.post("/v1/completions", content=b'{"model": "tiny:F32", "prompt": "\\udfff"}',
                         headers={"content-type": "application/json"})
    assert "surrogate" in error_of(response, 400)["message"]
    response = http.post("/api/generate", content=b'{"model": "tiny:F32", "prompt": "\xff\xfe"}',
                         headers={"content-type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_unknown_model_is_a_404(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError, match="neither a preset"):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="x")


def test_over_long_prompt_is_400_context_length_exceeded(http, server):
    prompt = SECRET + "x" * 600  # the tiny model's context here is 512 tokens (one per byte)
    response = http.post("/v1/chat/completions", json={**chat_body(), "messages": [
        {"role": "user", "content": prompt}]})
    error = error_of(response, 400)
    assert error["code"] == "context_length_exceeded" and "512" in error["message"]
    ollama = http.post("/api/generate", json={"model": "tiny:F32", "prompt": prompt, "stream": False})
    assert ollama.status_code == 400 and SECRET not in ollama.text
    log = server.state.request_log()
    assert log[-1].status == 400 and all(SECRET not in repr(record) for record in log)


def test_missing_or_wrong_key_is_a_401(server):
    for headers in ({}, {"Authorization": "Bearer wrong-key-0000000000"}, {"Authorization": KEY}):
        response = httpx.post(server.url + "/v1/chat/completions", json=chat_body(), headers=headers)
        assert error_of(response, 401)["type"] == "authentication_error"
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong-key-0000000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert httpx.get(server.url + "/health").status_code == 200  # liveness needs no key


def test_foreign_host_header_is_a_403(server):
    headers = {"Authorization": f"Bearer {KEY}", "Host": "attacker.example:11435"}
    response = httpx.post(server.url + "/v1/chat/completions", json=chat_body(), headers=headers)
    assert error_of(response, 403)["code"] == "host_not_allowed"
    localhost = {"Authorization": f"Bearer {KEY}", "Host": f"localhost:{server.bound_port}"}
    assert httpx.get(server.url + "/v1/models", headers=localhost).status_code == 200


def test_oversized_body_is_a_413(http):
    big = chat_body(messages=[{"role": "user", "content": SECRET + "y" * 70_000}])
    assert error_of(http.post("/v1/chat/completions", json=big), 413)["code"] == "body_too_large"


def test_unknown_route_and_wrong_method(http):
    assert error_of(http.get("/v1/nothing-here"), 404)["message"]
    assert http.get("/v1/chat/completions").status_code == 405


def test_no_cors_headers_unless_origins_are_configured(http, tmp_path):
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    response = http.options("/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    actual = http.get("/v1/models", headers={"Origin": "http://evil.example"})
    assert actual.status_code == 200 and "access-control-allow-origin" not in actual.headers
    with open_workbench(tmp_path / "cors") as wb, serving(wb, cors_origins=("http://localhost:3000",)) as srv:
        mine = {"Origin": "http://localhost:3000"}
        allowed = httpx.options(srv.url + "/v1/models", headers={**preflight, **mine})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "access-control-allow-credentials" not in allowed.headers
        assert httpx.get(srv.url + "/v1/models", headers=mine).headers["access-control-allow-origin"] == \
            "http://localhost:3000"
        # a foreign origin gets no CORS header at all (not "*", not its own name): the browser blocks it
        other = httpx.options(srv.url + "/v1/models", headers=preflight)
        assert "access-control-allow-origin" not in other.headers
        other = httpx.get(srv.url + "/v1/models", headers={"Origin": "http://evil.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(("config", "message"), [
    ({"host": "0.0.0.0"}, "API key"),
    ({"host": "192.168.1.20"}, "API key"),
    ({"cors_origins": ("*",)}, "wildcard"),
    ({"api_key": "short"}, "16 characters"),
    ({"port": 70000}, "TCP port"),
    ({"parallel": 0}, "parallel"),
])
def test_unsafe_or_invalid_configurations_are_refused(config, message):
    with pytest.raises(InvalidParameter, match=message):
        ServeConfig(**config).validate()
    assert ServeConfig(host="0.0.0.0", api_key=KEY).validate().api_key == KEY
