"""Ollama: the preset as an Ollama Modelfile (FROM the Hub GGUF or the file itself), created at container start.

The preset already is a Modelfile; only FROM changes (a Workbench library name means nothing to Ollama) and a
Jinja TEMPLATE is left out: Ollama reads templates as Go and picks one from the GGUF's own chat template.
"""

from __future__ import annotations

import dataclasses
import shlex

from ..modelfile import parser as mf
from .plan import CONFIG_DIR, MODELS_DIR, EnginePlan, gguf_caveat
from .source import PromotionSource


def ollama_from(src: PromotionSource) -> str:
    if src.hub_repo and src.model.quantization:
        return f"hf.co/{src.hub_repo}:{src.model.quantization}"
    return f"{MODELS_DIR}/{src.gguf_file}"


def modelfile(src: PromotionSource) -> mf.Modelfile:
    return dataclasses.replace(src.modelfile, from_=ollama_from(src), template=src.go_template)


def plan(src: PromotionSource) -> EnginePlan:
    caveats = []
    if src.modelfile.template and src.go_template is None:
        caveats.append("The preset's TEMPLATE is Jinja, which Ollama cannot read: it is left out, and Ollama uses "
                       "the GGUF's own chat template when it recognises it. Check `ollama show --template`.")
    if src.modelfile.adapters:
        caveats.append("ADAPTER paths are the preset's local paths: copy the adapters next to the Modelfile and "
                       "edit the ADAPTER lines.")
    from_ = ollama_from(src)
    needs_file = from_.startswith(MODELS_DIR)
    if needs_file:
        caveats.append(gguf_caveat(src))
    name = shlex.quote(src.name)
    script = ("ollama serve & until ollama list >/dev/null 2>&1; do sleep 1; done; "
              f"ollama create {name} -f {CONFIG_DIR}/Modelfile && wait")
    return EnginePlan("ollama", "ollama/ollama:latest", 11434, [], {"Modelfile": mf.render(modelfile(src))},
                      caveats, f"{from_}, pulled by Ollama" if not needs_file else f"the GGUF file {src.gguf_file}",
                      needs_file, entrypoint=["/bin/sh", "-c", script], health_path="/api/version")
