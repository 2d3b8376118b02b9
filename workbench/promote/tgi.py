"""Text Generation Inference: launcher options, and the chat template as a tokenizer_config.json.

TGI serves safetensors repos (its CUDA backends do not read GGUF), so the source repo named in the GGUF's
metadata is what it is given; without one the GGUF repo is named and the README says it will not load there.
TGI has no launcher option for sampling defaults: they go into request_defaults.json.
"""

from __future__ import annotations

from .plan import CONFIG_DIR, EnginePlan, json_text
from .source import PromotionSource


def plan(src: PromotionSource) -> EnginePlan:
    caveats = ["TGI takes sampling per request (its launcher has no sampling defaults): send "
               "request_defaults.json's fields with each request, including the stop strings."]
    if src.base_repo:
        model = src.base_repo
        note = f"the source safetensors repo {src.base_repo}, named in the GGUF's metadata"
    else:
        model = src.hub_repo or src.gguf_file
        note = f"{model}: the GGUF names no safetensors source"
        caveats.append("TGI wants safetensors: it will not serve this GGUF-only reference. Replace --model-id with "
                       "the original model's Hub repo.")
    reserve = min(int(src.sampling.get("num_predict") or 512), src.context_length // 2)
    args = ["--model-id", model, "--max-total-tokens", str(src.context_length),
            "--max-input-tokens", str(max(1, src.context_length - max(1, reserve))), "--port", "80"]
    if src.hub_repo and not src.base_repo and src.model.source_revision:
        args += ["--revision", src.model.source_revision]
    files = {}
    if src.template is not None:
        files["tokenizer_config.json"] = json_text({"chat_template": src.template})
        args += ["--tokenizer-config-path", f"{CONFIG_DIR}/tokenizer_config.json"]
    return EnginePlan("tgi", "ghcr.io/huggingface/text-generation-inference:latest", 80, args, files, caveats,
                      note)
