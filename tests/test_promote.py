"""`workbench promote`: a preset written out for vLLM, TGI, llama-server and Ollama — model reference from the
library's Hub provenance and the GGUF's base-model metadata, template, sampling, context, stops; every JSON/YAML
file valid against its schema, the Ollama Modelfile read back by the project's own parser, and the llama-server
arguments accepted by a real llama-server when one is built here."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import gguf
import httpx
import numpy as np
import pytest
import yaml

from tests import tinymodel
from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from workbench.cli import main
from workbench.engine.templates import ChatTemplate
from workbench.errors import InvalidParameter, WorkbenchError
from workbench.modelfile import parser as mf
from workbench.modelfile.gotemplate import translate
from workbench.promote import ENGINES, promote, schemas
from workbench.promote.llama_server import server_args
from workbench.promote.source import gather, portable_jinja

GO_TEMPLATE = "{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}{{ range .Messages }}<|{{ .Role }}|>" \
              "{{ .Content }}<|end|>{{ end }}<|assistant|>"
PRESET = f'''FROM tiny:F32
TEMPLATE """{GO_TEMPLATE}"""
SYSTEM You answer briefly.
PARAMETER temperature 0.3
PARAMETER top_k 20
PARAMETER num_ctx 256
PARAMETER stop "<|end|>"
PARAMETER stop "###"
MESSAGE user Hi
MESSAGE assistant Hello.
'''


def write_based_model(path: Path) -> Path:
    """The tiny model, saying in its metadata that it was converted from alice/tiny-base (as convert_hf_to_gguf
    writes general.base_model.0.repo_url)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    tinymodel._write_metadata(writer)
    writer.add_uint32("general.base_model.count", 1)
    writer.add_string("general.base_model.0.repo_url", "https://huggingface.co/alice/tiny-base")
    tinymodel._write_tensors(writer, np.random.default_rng(0))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def pulled(wb, fake_hub: FakeHub, tmp_path):  # noqa: F811
    """A preset over a model pulled from the (local stand-in) Hub whose GGUF names its safetensors source."""
    data = write_based_model(tmp_path / "based.gguf").read_bytes()
    fake_hub.add_repo("alice/tiny-GGUF", {"tiny-F32.gguf": data})
    wb.hub.pull("hf.co/alice/tiny-GGUF:F32", name="tiny:F32")
    wb.presets.create("helper", PRESET)
    return wb


def _load(folder: Path, name: str):
    text = (folder / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else list(yaml.safe_load_all(text))


def _check_every_file(folder: Path) -> None:
    for name, schema in schemas.FILE_SCHEMAS.items():
        if (folder / name).exists():
            document = _load(folder, name)
            schemas.check(document[0] if name.endswith(".yaml") else document, schema, name)
    schemas.check_kubernetes(_load(folder, "deployment.yaml"))


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_gets_valid_files_and_a_readme(pulled, tmp_path, engine):
    result = promote(pulled, "helper", engine, tmp_path / engine)
    folder = result.folder
    assert {"compose.yaml", "deployment.yaml", "README.md", "request_defaults.json"} <= set(result.files)
    _check_every_file(folder)
    kube = _load(folder, "deployment.yaml")
    assert kube[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    defaults = _load(folder, "request_defaults.json")
    assert defaults == {"temperature": 0.3, "top_k": 20, "stop": ["<|end|>", "###"]}
    assert _load(folder, "prefix_messages.json")[0] == {"role": "system", "content": "You answer briefly."}
    assert "# helper@1 on " + engine in (folder / "README.md").read_text()
    assert pulled.audit.list(kind="preset.promoted")[-1].details["engine"] == engine


def test_vllm_serves_the_source_repo_with_the_presets_generation_config(pulled, tmp_path):
    folder = promote(pulled, "helper", "vllm", tmp_path).folder
    command = _load(folder, "compose.yaml")[0]["services"]["helper-vllm"]["command"]
    assert command[command.index("--model") + 1] == "alice/tiny-base"
    assert command[command.index("--max-model-len") + 1] == "256"
    override = json.loads(command[command.index("--override-generation-config") + 1])
    assert override == _load(folder, "generation_config.json") == {"temperature": 0.3, "top_k": 20}
    assert (folder / "chat_template.jinja").read_text() == portable_jinja(translate(GO_TEMPLATE))


def test_tgi_gets_launcher_options_and_the_template_as_tokenizer_config(pulled, tmp_path):
    folder = promote(pulled, "helper", "tgi", tmp_path).folder
    args = _load(folder, "compose.yaml")[0]["services"]["helper-tgi"]["command"]
    assert args[args.index("--model-id") + 1] == "alice/tiny-base"
    assert args[args.index("--max-total-tokens") + 1] == "256"
    assert _load(folder, "tokenizer_config.json")["chat_template"] == portable_jinja(translate(GO_TEMPLATE))


def test_the_portable_template_renders_exactly_like_the_translated_one():
    go = "{{ range .Messages }}\n  <|{{ .Role }}|>\n{{ .Content }}\n{{ end }}\n<|assistant|>\n"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi\n there"}]
    translated = translate(go)
    assert "+%}" in translated and "+%}" not in portable_jinja(translated)
    assert ChatTemplate(portable_jinja(translated)).render(messages) == ChatTemplate(translated).render(messages)


def test_llama_server_downloads_the_same_gguf_with_the_presets_sampling(pulled, tmp_path):
    folder = promote(pulled, "helper", "llama-server", tmp_path).folder
    args = _load(folder, "compose.yaml")[0]["services"]["helper-llama-server"]["command"]
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--hf-repo"] == "alice/tiny-GGUF" and pairs["--hf-file"] == "tiny-F32.gguf"
    assert {"--temp": "0.3", "--top-k": "20", "--ctx-size": "256"}.items() <= {
        a: args[i + 1] for i, a in enumerate(args[:-1])}.items()


def test_the_ollama_modelfile_round_trips_through_the_projects_parser(pulled, tmp_path):
    folder = promote(pulled, "helper", "ollama", tmp_path).folder
    written = mf.parse((folder / "Modelfile").read_text(encoding="utf-8"))
    assert written == dataclasses.replace(mf.parse(PRESET), from_="hf.co/alice/tiny-GGUF:F32")
    assert written.template == GO_TEMPLATE  # Ollama reads Go templates: kept as they are


def test_a_local_gguf_with_a_jinja_template_gets_the_caveats(wb, tiny_model_path, tmp_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("plain", 'FROM tiny:F32\nTEMPLATE """{{ messages[0].content }}"""\n')
    vllm = promote(wb, "plain", "vllm", tmp_path / "v")
    assert any("experimental" in c for c in vllm.caveats) and (tmp_path / "v" / "models").is_dir()
    assert _load(vllm.folder, "compose.yaml")[0]["services"]["plain-vllm"]["command"][1] == "/models/tiny-llama.gguf"
    ollama = promote(wb, "plain", "ollama", tmp_path / "o")
    assert any("Jinja" in c for c in ollama.caveats)
    assert mf.parse((tmp_path / "o" / "Modelfile").read_text()).template is None
    assert any("safetensors" in c for c in promote(wb, "plain", "tgi", tmp_path / "t").caveats)


def test_without_a_preset_template_the_ggufs_own_is_used(wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("bare", "FROM tiny:F32\n")
    source = gather(wb, "bare")
    assert source.template == tinymodel.CHAT_TEMPLATE and "tokenizer.chat_template" in source.template_origin


def test_schemas_catch_a_bad_file_and_unknown_engines_are_refused(wb, tiny_model_path, tmp_path):
    with pytest.raises(WorkbenchError, match="ports/0"):
        schemas.check({"services": {"x": {"image": "i", "ports": ["eighty"]}}}, schemas.COMPOSE, "compose.yaml")
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("bare", "FROM tiny:F32\n")
    with pytest.raises(InvalidParameter, match="choose one of vllm, tgi, llama-server, ollama"):
        promote(wb, "bare", "sglang", tmp_path)


def test_cli_promote(pulled, tmp_path, capsys):
    pulled.close()
    assert main(["promote", "helper", "--to", "ollama", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Modelfile" in out and str(tmp_path / "out") in out


def _llama_server() -> str | None:
    candidates = [os.environ.get("WORKBENCH_LLAMA_SERVER"), "/tmp/lcp-build/bin/llama-server",
                  shutil.which("llama-server")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def test_llama_server_accepts_the_promoted_arguments(pulled, tmp_path):
    binary = _llama_server()
    if binary is None:
        pytest.skip("no llama-server binary here (set WORKBENCH_LLAMA_SERVER or build llama.cpp's llama-server into "
                    "/tmp/lcp-build/bin): the arguments cannot be checked against the real server")
    folder = promote(pulled, "helper", "llama-server", tmp_path / "p").folder
    source = gather(pulled, "helper")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = server_args(source, ["--model", str(source.model.path)], str(folder))
    proc = subprocess.Popen([binary, *args, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        answer = _first_answer(proc, f"http://127.0.0.1:{port}")
    finally:
        proc.kill()
        log = proc.communicate()[0]
    assert answer is not None, f"llama-server refused the arguments {args}:\n{log[-3000:]}"
    rendered, chat = answer
    assert chat["choices"][0]["message"]["content"] is not None
    messages = [*json.loads((folder / "prefix_messages.json").read_text()), {"role": "user", "content": "hi"}]
    assert rendered == ChatTemplate(translate(GO_TEMPLATE)).render(messages)  # the server renders as Workbench


def _first_answer(proc: subprocess.Popen, url: str) -> tuple[str, dict] | None:
    """Poll /health while the server lives (each wait is on the process itself); then the prompt the server
    renders for the preset's messages (its /apply-template) and one chat answer."""
    for _ in range(600):
        try:
            proc.wait(timeout=0.1)
            return None  # it exited: the arguments were refused
        except subprocess.TimeoutExpired:
            pass
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            continue
    else:
        return None
    messages = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "hi"}]
    rendered = httpx.post(url + "/apply-template", timeout=60, json={"messages": messages})
    response = httpx.post(url + "/v1/chat/completions", timeout=60, json={"messages": messages, "max_tokens": 4})
    if rendered.status_code != 200 or response.status_code != 200:
        return None
    return rendered.json()["prompt"], response.json()
