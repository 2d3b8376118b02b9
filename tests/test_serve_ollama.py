"""The Ollama-compatible routes through the real `ollama` Python client against the real server."""

from __future__ import annotations

import json
import time

import httpx
import ollama
import pytest

from tests.serve_support import tiny_server
from tests.test_engine_mechanics import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    yield from tiny_server(tmp_path_factory, tiny_model_path, "serve-ollama", parallel=2)


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url)


USER = [{"role": "user", "content": "Say something."}]


def test_list_shows_models_and_presets(client):
    models = {m.model: m for m in client.list().models}
    assert set(models) == {"tiny:F32", "terse", "tooly"}
    tiny = models["tiny:F32"]
    assert tiny.details.format == "gguf" and tiny.details.family == "llama" and tiny.size > 400_000
    assert models["terse"].digest == tiny.digest  # a preset runs its FROM model


def test_show_a_preset_gives_its_modelfile_parameters_and_template(client):
    shown = client.show("terse")
    assert "SYSTEM" in shown.modelfile and "num_predict 5" in shown.parameters
    assert shown.details.quantization_level == "F32"
    assert shown.details.parameter_size == "107.7K"  # as `workbench list` and the Library page say it
    assert "tools" in client.show("tooly").capabilities
    assert "<|assistant|>" in client.show("tiny:F32").template  # the GGUF's own template


def test_chat_non_streaming_and_streaming(client):
    reply = client.chat(model="tiny:F32", messages=USER, options={"num_predict": 6, "temperature": 0})
    assert reply.done and reply.done_reason == "length" and reply.eval_count == 6
    assert reply.message.role == "assistant" and reply.prompt_eval_count == 18
    parts = list(client.chat(model="tiny:F32", messages=USER, options={"num_predict": 6, "temperature": 0},
                             stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done and parts[-1].eval_count == 6
    assert "".join(p.message.content for p in parts) == reply.message.content


def test_chat_with_a_preset_uses_its_parameters(client):
    assert client.chat(model="terse", messages=USER).eval_count == 5
    assert client.chat(model="terse", messages=USER, options={"num_predict": 2}).eval_count == 2


def test_generate_templated_raw_and_streamed(client):
    reply = client.generate(model="tiny:F32", prompt="Once", options={"num_predict": 4, "temperature": 0})
    assert reply.done and reply.eval_count == 4
    raw = client.generate(model="tiny:F32", prompt="Once", raw=True, options={"num_predict": 4})
    assert raw.prompt_eval_count == 1 + 4  # BOS + the four bytes, no template around them
    streamed = list(client.generate(model="tiny:F32", prompt="Once", stream=True,
                                    options={"num_predict": 4, "temperature": 0}))
    assert "".join(p.response for p in streamed) == reply.response and streamed[-1].done


def test_format_json_schema_is_followed(client):
    schema = {"type": "object", "properties": {"pick": {"enum": ["a", "b"]}}, "required": ["pick"]}
    reply = client.chat(model="tiny:F32", messages=USER, format=schema, options={"num_predict": 40})
    assert json.loads(reply.message.content)["pick"] in ("a", "b")


def test_embed(client):
    result = client.embed(model="tiny:F32", input=["one", "two words"])
    assert len(result.embeddings) == 2 and len(result.embeddings[0]) == 64
    assert result.embeddings[0] != result.embeddings[1]


def test_version_and_ps(client, server):
    assert httpx.get(server.url + "/api/version").json()["version"]
    client.generate(model="tiny:F32", prompt="x", options={"num_predict": 1})
    loaded = client.ps().models
    # one row per name that used the loaded model (test_new_user_defects.py): earlier tests ran presets on it
    assert "tiny:F32" in [m.model for m in loaded] and all(m.size > 400_000 for m in loaded)


def test_keep_alive_zero_unloads_after_the_request_and_an_empty_request_loads(client, server):
    runtime = server.workbench.runtime
    client.generate(model="tiny:F32", prompt="x", options={"num_predict": 2}, keep_alive=0)
    assert wait_until(lambda: runtime.loaded() == [])
    asked = time.monotonic()
    loaded = client.generate(model="tiny:F32", prompt="", keep_alive="10m")  # just load it
    assert loaded.done_reason == "load"
    rows = runtime.loaded()
    # 600 s counted from when the request set it: gone by at most what elapsed since we asked (no fixed margin)
    assert len(rows) == 1 and 600 - (time.monotonic() - asked) <= rows[0].expires_in <= 600
    assert client.generate(model="tiny:F32", prompt="", keep_alive=0).done_reason == "unload"
    assert runtime.loaded() == []
    forever = client.chat(model="tiny:F32", messages=USER, options={"num_predict": 1}, keep_alive=-1)
    assert forever.done and runtime.loaded()[0].expires_in is None


def test_errors_use_ollamas_shape(client):
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="nope", messages=USER)
    assert err.value.status_code == 404 and "neither a preset" in err.value.error
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="tiny:F32", messages=USER, options={"num_predcit": 3})
    assert err.value.status_code == 400 and "num_predict" in err.value.error  # the "did you mean" hint
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="tiny:F32", prompt="x", keep_alive="soon")
    assert err.value.status_code == 400 and "keep_alive" in err.value.error
