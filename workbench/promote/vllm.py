"""vLLM: `vllm serve` arguments, generation_config.json (+ --override-generation-config) and the chat template.

vLLM serves safetensors best; when the GGUF names its source repo that is what is served (unquantized, or
quantized by vLLM's own methods, not the same Q4_K_M bytes), else the GGUF file itself (experimental in vLLM).
"""

from __future__ import annotations

import json

from .plan import CONFIG_DIR, MODELS_DIR, EnginePlan, gguf_caveat, json_text
from .source import PromotionSource

# Ollama parameter → the generation-config field vLLM reads as a sampling default
GENERATION_FIELDS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
                     "repeat_penalty": "repetition_penalty", "num_predict": "max_new_tokens"}


def generation_config(src: PromotionSource) -> dict:
    return {GENERATION_FIELDS[k]: v for k, v in src.sampling.items() if k in GENERATION_FIELDS}


def plan(src: PromotionSource) -> EnginePlan:
    caveats = ["presence/frequency penalties, the seed, stop strings and the preset's SYSTEM/MESSAGE lines are "
               "per request in vLLM: send request_defaults.json's fields with each request."]
    if src.base_repo:
        model, needs_file = src.base_repo, False
        note = (f"the source safetensors repo {src.base_repo} (named in the GGUF's metadata): not the same "
                f"{src.model.quantization or 'quantized'} weights, so answers can differ slightly from Workbench's")
    else:
        model, needs_file = f"{MODELS_DIR}/{src.gguf_file}", True
        note = f"the GGUF file {src.gguf_file} (the GGUF names no source repo)"
        caveats += ["GGUF support in vLLM is experimental (single-file GGUFs only, slower than safetensors, "
                    "tokenizer conversion may be slow): prefer the source safetensors repo when you know it.",
                    gguf_caveat(src)]
    config = generation_config(src)
    # --model rather than the positional form: the image's entrypoint is `vllm serve` in new releases and the
    # api_server module in older ones, and both take the flag
    args = ["--model", model, "--served-model-name", src.name, "--max-model-len", str(src.context_length),
            "--generation-config", CONFIG_DIR, "--host", "0.0.0.0", "--port", "8000"]
    if config:
        args += ["--override-generation-config", json.dumps(config, separators=(",", ":"))]
    files = {"generation_config.json": json_text(config)}
    if src.template is not None:
        files["chat_template.jinja"] = src.template
        args += ["--chat-template", f"{CONFIG_DIR}/chat_template.jinja"]
    return EnginePlan("vllm", "vllm/vllm-openai:latest", 8000, args, files, caveats, note, needs_file)
