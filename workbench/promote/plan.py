"""What one engine needs to serve a preset: its image, arguments, extra files and caveats (`EnginePlan`), plus the
OpenAI request defaults every engine's clients should send (sampling an engine cannot set server-side, stops,
the preset's system prompt and few-shot messages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .source import PromotionSource

CONFIG_DIR = "/config"  # the promotion folder, mounted read-only into the container
MODELS_DIR = "/models"  # where a GGUF file is mounted when the engine cannot download it itself
OPENAI_FIELDS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "num_predict": "max_tokens",
                 "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty"}


@dataclass(frozen=True)
class EnginePlan:
    engine: str
    image: str
    port: int  # the port the server listens on inside the container
    args: list[str]  # the container's command arguments (after the image's entrypoint)
    files: dict[str, str] = field(default_factory=dict)  # written into the promotion folder
    caveats: list[str] = field(default_factory=list)
    model_note: str = ""  # how the model reaches the server, in words
    needs_model_file: bool = False  # the GGUF must be placed in ./models (mounted at MODELS_DIR)
    entrypoint: list[str] | None = None  # replaces the image's entrypoint (Ollama: serve, then create)
    health_path: str = "/health"


def request_defaults(src: PromotionSource) -> dict:
    """The preset's sampling and stops as OpenAI request fields: what a client sends to get the preset's answers
    from an engine that cannot hold them as server defaults."""
    body = {OPENAI_FIELDS[k]: v for k, v in src.sampling.items() if k in OPENAI_FIELDS}
    if src.stop:
        body["stop"] = list(src.stop)
    if "top_k" in src.sampling:
        body["top_k"] = src.sampling["top_k"]  # an extension vLLM, llama-server and TGI accept
    return body


def prefix_messages(src: PromotionSource) -> list[dict]:
    """The preset's SYSTEM and MESSAGE lines: what a client puts before the user's messages (Ollama keeps them in
    its Modelfile; the other engines have no server-side system prompt)."""
    system = [{"role": "system", "content": src.modelfile.system}] if src.modelfile.system is not None else []
    return system + [{"role": m.role, "content": m.content} for m in src.modelfile.messages]


def json_text(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def gguf_caveat(src: PromotionSource) -> str:
    where = (f"download it with `huggingface-cli download {src.hub_repo} {src.gguf_file} --local-dir models`"
             if src.hub_repo else f"copy {src.model.path} there (the library's file)")
    return f"The GGUF file {src.gguf_file} must be in ./models next to this README: {where}."
