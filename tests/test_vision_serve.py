"""Images through every API route of the real server on 127.0.0.1, driven by the real openai, ollama and anthropic
clients, on the tiny pair (tests/tinymodel.py + tests/tinyvision.py): an image adds its 16 tokens to the prompt;
bad images, http(s) URLs (no egress unless the setting allows it) and a model without projector are 400s."""

from __future__ import annotations

import base64
import contextlib
import http.server
import threading
from pathlib import Path

import anthropic
import ollama
import openai
import pytest

from tests.serve_support import open_workbench, serving
from tests.tinymodel import write_tiny_model
from tests.tinyvision import N_IMAGE_TOKENS, tiny_png, tiny_wav, write_tiny_audio_projector, write_tiny_projector

PNG = tiny_png(7)
B64 = base64.b64encode(PNG).decode()
DATA_URL = "data:image/png;base64," + B64
TEXT_PROMPT = 1 + 1 + 4 + 2  # BOS, <|user|>, "look" (a byte a token), <|end|><|assistant|>


@pytest.fixture(scope="module")
def wb(tmp_path_factory, tiny_model_path):
    root = tmp_path_factory.mktemp("serve-vision")
    workbench = open_workbench(root)
    workbench.library.import_file(tiny_model_path, name="seer",
                                  mmproj=write_tiny_projector(root / "mmproj-tiny-F32.gguf"))
    workbench.library.import_file(write_tiny_model(root / "blind.gguf", seed=1), name="blind")
    workbench.library.import_file(write_tiny_model(root / "ears.gguf", seed=2), name="ears",
                                  mmproj=write_tiny_audio_projector(root / "mmproj-audio-F32.gguf"))
    workbench.presets.create("listener", "FROM ears\nPARAMETER num_ctx 1024\n")  # 30 s of audio: 750 tokens
    yield workbench
    workbench.close()


@pytest.fixture(scope="module")
def server(wb):
    with serving(wb, parallel=2) as srv:
        yield srv


@pytest.fixture
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def openai_image_message(url: str = DATA_URL) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": "look"}]}]


def test_openai_chat_takes_a_data_url_image(oai):
    reply = oai.chat.completions.create(model="seer", messages=openai_image_message(), max_tokens=5, temperature=0)
    assert reply.usage.prompt_tokens == TEXT_PROMPT + N_IMAGE_TOKENS and reply.usage.completion_tokens == 5
    text_only = oai.chat.completions.create(model="seer", messages=[{"role": "user", "content": "look"}],
                                            max_tokens=5, temperature=0)
    assert text_only.usage.prompt_tokens == TEXT_PROMPT


def test_openai_chat_refuses_bad_images_urls_and_blind_models_with_400(oai):
    cases = [
        (openai_image_message("https://example.com/cat.png"), "seer", "http(s) image URLs are not fetched"),
        (openai_image_message("data:image/png;base64," + base64.b64encode(b"plain text").decode()), "seer",
         "not an image"),
        (openai_image_message("data:image/png;base64," + base64.b64encode(PNG[:200]).decode()), "seer",
         "truncated or corrupt"),
        (openai_image_message(), "blind", "blind has no vision projector"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": B64, "format": "wav"}}]}],
         "seer", "not audio"),
    ]
    for messages, model, message in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            oai.chat.completions.create(model=model, messages=messages, max_tokens=2)
        assert caught.value.status_code == 400 and message in str(caught.value), message


@contextlib.contextmanager
def image_host():
    """A real HTTP server on 127.0.0.1 serving the PNG (the only "remote" image a test may fetch)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/cat.png"
    finally:
        httpd.shutdown()
        thread.join()


def test_openai_chat_takes_input_audio_on_a_model_whose_projector_hears(oai):
    clip = {"type": "input_audio", "input_audio": {"data": base64.b64encode(tiny_wav(3)).decode(), "format": "wav"}}
    messages = [{"role": "user", "content": [clip, {"type": "text", "text": "look"}]}]
    reply = oai.chat.completions.create(model="listener", max_tokens=3, temperature=0, messages=messages)
    assert reply.usage.prompt_tokens == TEXT_PROMPT + len("<|audio_bos|><|audio_eos|>") + 750  # 30 s → 750 tokens
    with pytest.raises(openai.BadRequestError, match="takes audio, not images"):
        oai.chat.completions.create(model="listener", messages=openai_image_message(), max_tokens=2)


def test_http_image_urls_are_fetched_only_when_the_setting_allows_it(oai, wb):
    with image_host() as url:
        with pytest.raises(openai.BadRequestError, match="fetch_image_urls"):
            oai.chat.completions.create(model="seer", messages=openai_image_message(url), max_tokens=2)
        wb.update_settings(fetch_image_urls=True)
        try:
            reply = oai.chat.completions.create(model="seer", messages=openai_image_message(url), max_tokens=2)
        finally:
            wb.update_settings(fetch_image_urls=False)
    assert reply.usage.prompt_tokens == TEXT_PROMPT + N_IMAGE_TOKENS


def test_responses_input_image(oai):
    reply = oai.responses.create(model="seer", max_output_tokens=3, temperature=0, input=[
        {"role": "user", "content": [{"type": "input_image", "image_url": DATA_URL},
                                     {"type": "input_text", "text": "look"}]}])
    assert reply.usage.input_tokens == TEXT_PROMPT + N_IMAGE_TOKENS


def test_ollama_chat_and_generate_take_base64_images(server):
    client = ollama.Client(host=server.url)
    reply = client.chat(model="seer", messages=[{"role": "user", "content": "look", "images": [PNG]}],
                        options={"num_predict": 3, "temperature": 0})
    assert reply.prompt_eval_count == TEXT_PROMPT + N_IMAGE_TOKENS and reply.eval_count == 3
    made = client.generate(model="seer", prompt="look", images=[B64], options={"num_predict": 3, "temperature": 0})
    assert made.prompt_eval_count == TEXT_PROMPT + N_IMAGE_TOKENS
    with pytest.raises(ollama.ResponseError) as caught:
        client.generate(model="seer", prompt="look", images=[base64.b64encode(b"GIF89a broken").decode()])
    assert caught.value.status_code == 400 and "images[0]" in caught.value.error
    assert "vision" in client.show("seer").capabilities and "vision" not in client.show("blind").capabilities
    with pytest.raises(ollama.ResponseError, match="images need the chat template"):
        client.generate(model="seer", prompt="look", images=[B64], raw=True)


def test_anthropic_image_blocks_and_count_tokens(server):
    client = anthropic.Anthropic(base_url=server.url, api_key="unused-on-loopback", max_retries=0)
    messages = [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}},
        {"type": "text", "text": "look"}]}]
    reply = client.messages.create(model="seer", messages=messages, max_tokens=3, extra_body={"temperature": 0})
    total = reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)
    assert total == TEXT_PROMPT + N_IMAGE_TOKENS
    assert client.messages.count_tokens(model="seer", messages=messages).input_tokens == total
    with pytest.raises(anthropic.BadRequestError, match="no vision projector"):
        client.messages.create(model="blind", messages=messages, max_tokens=3)


def test_a_projector_file_missing_at_load_is_a_clear_error(tmp_path: Path, tiny_model_path):
    from workbench.engine import LoadOptions, Runtime
    from workbench.errors import ModelLoadError

    runtime = Runtime()
    try:
        with pytest.raises(ModelLoadError, match=r"projector .*does not exist"):
            runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(tmp_path / "gone.gguf")))
    finally:
        runtime.close()
