"""Ollama's model-management routes (pull, delete, copy, create, legacy embeddings) through the real `ollama`
client against the real server; pulls come from the fake Hub (tests/fakehub.py) the server reaches by HF_ENDPOINT.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.serve_support import serving, tiny_server, tiny_workbench
from tests.test_engine_mechanics import wait_until
from tests.tinymodel import write_tiny_model

KEY = "manage-test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    yield from tiny_server(tmp_path_factory, tiny_model_path, "serve-ollama-manage")


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url)


@pytest.fixture(scope="module")
def other_models(tmp_path_factory) -> dict[int, bytes]:
    """Tiny models with other weights (seeds 1-3): bytes the server's library does not hold yet."""
    folder = tmp_path_factory.mktemp("other-models")
    return {seed: write_tiny_model(folder / f"tiny-{seed}.gguf", seed=seed).read_bytes() for seed in (1, 2, 3)}


def _serves(client) -> bool:
    return any(m.model == "tiny:F32" for m in client.list().models)


def _status_of(call) -> int:
    with pytest.raises(ollama.ResponseError) as caught:
        call()
    return caught.value.status_code


def test_pull_streams_progress_then_the_model_lists_and_answers(client, fake_hub: FakeHub,  # noqa: F811
                                                                 other_models) -> None:
    data = other_models[1]
    sha = hashlib.sha256(data).hexdigest()
    fake_hub.add_repo("alice/tiny-GGUF", {"tiny-Q8_0.gguf": data, "README.md": b"hi"})
    lines = list(client.pull("hf.co/alice/tiny-GGUF:Q8_0", stream=True))
    statuses = [line.status for line in lines]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    progress = [line for line in lines if line.digest]
    assert progress and all(p.digest == f"sha256:{sha}" and p.status == f"pulling {sha[:12]}" for p in progress)
    assert all(p.total == len(data) for p in progress) and progress[-1].completed == len(data)
    pulled = next(m for m in client.list().models if m.digest == sha)
    reply = client.generate(model=pulled.model, prompt="Once", options={"num_predict": 3, "temperature": 0})
    assert reply.done and reply.eval_count == 3
    # the name it was pulled by keeps working, as with Ollama (looked up locally: no Hub request)
    asked = len(fake_hub.requests)
    by_ref = client.generate(model="hf.co/alice/tiny-GGUF:Q8_0", prompt="Once",
                             options={"num_predict": 3, "temperature": 0})
    assert by_ref.response == reply.response and len(fake_hub.requests) == asked


def test_pull_without_streaming_answers_once(client, server, fake_hub: FakeHub, other_models) -> None:  # noqa: F811
    data = other_models[2]
    fake_hub.add_repo("bob/small-GGUF", {"small-Q8_0.gguf": data})
    reply = client.pull("huggingface.co/bob/small-GGUF:Q8_0")
    assert reply.status == "success" and reply.digest is None
    assert hashlib.sha256(data).hexdigest() in {m.digest for m in client.list().models}
    assert len(fake_hub.cdn_gets()) == 1
    assert client.delete("huggingface.co/bob/small-GGUF:Q8_0").status == "success"  # by the name it was pulled by
    assert hashlib.sha256(data).hexdigest() not in {m.digest for m in client.list().models}
    log = [r for r in server.app.state.request_log() if r.route == "/api/pull"]
    assert log[-1].status == 200 and log[-1].model == "huggingface.co/bob/small-GGUF:Q8_0"


def test_pull_refuses_registry_names_unknown_repos_and_offline(client, fake_hub: FakeHub,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull("llama3")
    assert caught.value.status_code == 400 and "only Hugging Face GGUF references" in caught.value.error
    assert _serves(client)
    assert _status_of(lambda: client.pull("hf.co/nobody/missing-GGUF:Q4_K_M")) == 404
    assert _status_of(lambda: list(client.pull("hf.co/nobody/missing-GGUF:Q4_K_M", stream=True))) == 404
    assert _serves(client)
    asked = len(fake_hub.requests)
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull("hf.co/alice/tiny-GGUF:Q8_0")
    assert caught.value.status_code == 503 and "offline" in caught.value.error
    assert len(fake_hub.requests) == asked and _serves(client)  # offline: the Hub was not asked


def test_an_error_mid_stream_is_an_error_line(server, fake_hub: FakeHub, other_models) -> None:  # noqa: F811
    fake = fake_hub.add_repo("mallory/bad-GGUF", {"bad-Q8_0.gguf": other_models[3]})
    fake.files["bad-Q8_0.gguf"].corrupt = True  # other bytes than the sha256 says: found only after the download
    with httpx.stream("POST", f"{server.url}/api/pull", json={"model": "hf.co/mallory/bad-GGUF:Q8_0"}) as r:
        lines = [json.loads(line) for line in r.iter_lines()]
    assert r.status_code == 200 and lines[0] == {"status": "pulling manifest"}
    assert "sha256" in lines[-1]["error"] and all("error" not in line for line in lines[:-1])
    assert _serves(ollama.Client(host=server.url))


def test_a_client_going_away_cancels_the_pull_and_it_resumes(server, client, fake_hub: FakeHub,  # noqa: F811
                                                             other_models) -> None:
    data = other_models[3]
    fake_hub.add_repo("carol/resume-GGUF", {"resume-Q8_0.gguf": data})
    gate = fake_hub.pause_at(200_000)
    wb = server.workbench
    with httpx.stream("POST", f"{server.url}/api/pull", json={"model": "hf.co/carol/resume-GGUF:Q8_0"}) as r:
        for line in r.iter_lines():
            if json.loads(line).get("completed"):
                break  # some bytes arrived: hang up while the CDN holds the rest
        assert gate.reached.wait(30)
    gate.release()

    def paused():
        return [s for s in wb.hub.pending_downloads() if s.repo == "carol/resume-GGUF" and s.status == "paused"]

    assert wait_until(lambda: paused(), 30)  # the pull saw the cancel once the CDN sent more bytes
    kept = Path(paused()[0].partial_path).stat().st_size
    assert 0 < kept < len(data)
    assert client.pull("hf.co/carol/resume-GGUF:Q8_0").status == "success"
    assert fake_hub.ranges_seen()[-1] == f"bytes={kept}-"
    assert hashlib.sha256(data).hexdigest() in {m.digest for m in client.list().models}


def test_copy_and_delete_a_model_and_a_preset(client, server) -> None:
    wb = server.workbench
    assert client.copy("tiny:F32", "spare:F32").status == "success"
    spare = wb.library.get("spare:F32")
    assert spare.sha256 == wb.library.get("tiny:F32").sha256 and spare.files == wb.library.get("tiny:F32").files
    assert client.generate(model="spare:F32", prompt="Hi", options={"num_predict": 2}).eval_count == 2
    assert client.copy("terse", "terse-copy").status == "success"
    assert wb.presets.get("terse-copy").content == wb.presets.get("terse").content
    assert client.chat(model="terse-copy", messages=[{"role": "user", "content": "Hi"}]).eval_count == 5
    assert client.delete("spare:F32").status == "success" and client.delete("terse-copy").status == "success"
    names = {m.model for m in client.list().models}
    assert "spare:F32" not in names and "terse-copy" not in names and {"tiny:F32", "terse"} <= names
    assert wb.library.get("tiny:F32").path.is_file()  # the alias shared the files: they stay
    events = {(e.kind, e.subject) for e in wb.audit.list(limit=1000)}
    assert {("model.copied", "spare:F32"), ("model.removed", "spare:F32"), ("preset.deleted", "terse-copy")} <= events


def test_copy_and_delete_refusals(client) -> None:
    assert _status_of(lambda: client.delete("no-such-model")) == 404
    assert _status_of(lambda: client.copy("no-such-model", "other")) == 404
    assert _status_of(lambda: client.copy("tiny:F32", "terse")) == 400  # the destination is taken
    assert _status_of(lambda: client.copy("terse", "tiny:F32")) == 400
    assert _status_of(lambda: client.copy("terse", "Bad Name")) == 400
    assert _serves(client) and not any(m.model == "Bad Name" for m in client.list().models)


def test_create_from_modelfile_text_then_a_new_version(server, client) -> None:
    url = f"{server.url}/api/create"
    text = "FROM tiny:F32\nSYSTEM Be brief.\nPARAMETER num_predict 3\n"
    r = httpx.post(url, json={"model": "brief", "modelfile": text, "stream": False})
    assert r.status_code == 200 and r.json() == {"status": "success"}
    assert client.generate(model="brief", prompt="Hi").eval_count == 3
    newer = text.replace("num_predict 3", "num_predict 4")
    with httpx.stream("POST", url, json={"name": "brief:latest", "modelfile": newer}) as r:
        statuses = [json.loads(line)["status"] for line in r.iter_lines()]
    assert statuses[0] == "parsing modelfile" and statuses[-1] == "success"
    assert "writing manifest (version 2)" in statuses
    assert server.workbench.presets.get("brief").number == 2
    assert client.generate(model="brief", prompt="Hi").eval_count == 4


def test_create_from_structured_fields(server, client) -> None:
    streamed = list(client.create(model="made", from_="tiny:F32", system="Be brief.", stream=True,
                                  parameters={"num_predict": 2, "stop": ["<x>", "<y>"], "temperature": 0},
                                  messages=[{"role": "user", "content": "Hi"}], license="MIT"))
    assert streamed[-1].status == "success"
    parsed = server.workbench.presets.resolve("made").modelfile
    assert parsed.from_ == "tiny:F32" and parsed.system == "Be brief." and parsed.licenses == ("MIT",)
    assert parsed.parameters == (("num_predict", 2), ("stop", "<x>"), ("stop", "<y>"), ("temperature", 0.0))
    assert [(m.role, m.content) for m in parsed.messages] == [("user", "Hi")]
    assert client.generate(model="made", prompt="Hi").eval_count == 2
    # FROM a preset starts from its text: terse's SYSTEM replaced, its num_predict kept
    assert client.create(model="terser", from_="terse", system="Even terser.").status == "success"
    derived = server.workbench.presets.resolve("terser").modelfile
    assert derived.system == "Even terser." and ("num_predict", 5) in derived.parameters


def test_create_refusals_name_the_problem(server, client) -> None:
    r = httpx.post(f"{server.url}/api/create",
                   json={"model": "broken", "modelfile": "FROM tiny:F32\nPARAMETER nonsense 1\n"})
    assert r.status_code == 400 and r.json()["error"].startswith("line 2:") and "nonsense" in r.json()["error"]
    with pytest.raises(ollama.ResponseError) as caught:
        client.create(model="broken", from_="tiny:F32", parameters={"temprature": 0.5})
    assert caught.value.status_code == 400 and "temperature" in caught.value.error  # the near miss is named
    assert _status_of(lambda: client.create(model="broken")) == 400  # neither from nor modelfile
    assert _status_of(lambda: client.create(model="broken", from_="no-such-model")) == 400
    assert _status_of(lambda: client.create(model="broken", from_="tiny:F32", quantize="q4_K_M")) == 400
    assert not server.workbench.presets.exists("broken") and _serves(client)


def test_legacy_embeddings_match_embed(client) -> None:
    legacy = client.embeddings(model="tiny:F32", prompt="one two").embedding
    current = client.embed(model="tiny:F32", input="one two").embeddings[0]
    assert len(legacy) == 64 and np.allclose(legacy, current, atol=1e-6, rtol=0)
    assert client.embeddings(model="terse", prompt="one two").embedding == pytest.approx(legacy, abs=1e-6)
    assert client.embeddings(model="tiny:F32", prompt="").embedding == []
    assert _status_of(lambda: client.embeddings(model="no-such-model", prompt="x")) == 404
    assert _serves(client)


def test_model_management_needs_the_api_key_when_one_is_set(tmp_path: Path, tiny_model_path: Path) -> None:
    wb = tiny_workbench(tmp_path / "keyed", tiny_model_path)
    with serving(wb, api_key=KEY) as srv:
        anonymous = ollama.Client(host=srv.url)
        assert _status_of(lambda: anonymous.delete("terse")) == 401
        assert _status_of(lambda: anonymous.copy("terse", "t2")) == 401
        keyed = ollama.Client(host=srv.url, headers={"Authorization": f"Bearer {KEY}"})
        assert keyed.delete("terse").status == "success"
    assert not wb.presets.exists("terse")
    wb.close()
