"""llama-server (llama.cpp's own HTTP server): the same GGUF bytes, with the preset's sampling as its defaults.

The closest engine to Workbench (same runtime, same quantization). `server_args` takes the model and config
locations so a test can start a locally built llama-server on the very arguments the promotion writes.
"""

from __future__ import annotations

from .plan import CONFIG_DIR, MODELS_DIR, EnginePlan, gguf_caveat
from .source import PromotionSource

FLAGS = {"temperature": "--temp", "top_k": "--top-k", "top_p": "--top-p", "min_p": "--min-p",
         "repeat_penalty": "--repeat-penalty", "presence_penalty": "--presence-penalty",
         "frequency_penalty": "--frequency-penalty", "seed": "--seed", "num_predict": "--n-predict"}


def server_args(src: PromotionSource, model_args: list[str], config_dir: str) -> list[str]:
    args = [*model_args, "--alias", src.name, "--ctx-size", str(src.context_length)]
    for name, flag in FLAGS.items():
        if name in src.sampling:
            args += [flag, str(src.sampling[name])]
    if src.template is not None:
        args += ["--jinja", "--chat-template-file", f"{config_dir}/chat_template.jinja"]
    return args


def plan(src: PromotionSource) -> EnginePlan:
    caveats = ["stop strings and the preset's SYSTEM/MESSAGE lines are per request in llama-server: send "
               "request_defaults.json's fields with each request."]
    if src.hub_repo and src.model.source_file:
        model_args = ["--hf-repo", src.hub_repo, "--hf-file", src.model.source_file]
        note, needs_file = f"{src.hub_repo}/{src.model.source_file}, downloaded by llama-server itself", False
    else:
        model_args = ["--model", f"{MODELS_DIR}/{src.gguf_file}"]
        note, needs_file = f"the GGUF file {src.gguf_file}", True
        caveats.append(gguf_caveat(src))
    args = [*server_args(src, model_args, CONFIG_DIR), "--host", "0.0.0.0", "--port", "8080", "--n-gpu-layers",
            "999"]
    files = {"chat_template.jinja": src.template} if src.template is not None else {}
    return EnginePlan("llama-server", "ghcr.io/ggml-org/llama.cpp:server-cuda", 8080, args, files, caveats, note,
                      needs_file)
