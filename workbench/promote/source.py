"""What a preset is, gathered once for every engine: the model reference, chat template, sampling, context, stops.

The model reference comes from the library's provenance (the Hub repo, revision and GGUF file it was pulled
from) and from the GGUF's own metadata: `general.base_model.N.*` or `general.source.*` name the safetensors repo
a GGUF was converted from, which vLLM and TGI serve best. The template is the preset's TEMPLATE (a Go template
translated to Jinja by modelfile/gotemplate.py) or else the GGUF's `tokenizer.chat_template`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..modelfile import parser as mf
from ..modelfile.gotemplate import is_go_template, translate

if TYPE_CHECKING:
    from ..app import Workbench
    from ..records import LocalModel, PresetVersion

_HF_URL = re.compile(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([\w.-]+/[\w.-]+)/?$")
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_LSTRIP_MARK = re.compile(r"(?m)^([ \t]+)\{%\+")  # `{%+` after blanks at a line's start
_TRIM_MARK = re.compile(r"\+%\}(?=(\n)?)")  # `+%}`, noting a newline right after it
SAMPLING = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
            "seed", "num_predict")


@dataclass(frozen=True)
class PromotionSource:
    preset: PresetVersion
    modelfile: mf.Modelfile
    model: LocalModel
    base_repo: str | None  # the safetensors repo the GGUF names as its source, if it does
    template: str | None  # Jinja
    template_origin: str  # where the template came from, in words (README)
    go_template: str | None  # the preset's TEMPLATE when it is Go (Ollama keeps it as-is)
    sampling: dict[str, Any] = field(default_factory=dict)  # Ollama names, only what the preset sets
    context_length: int = 4096
    stop: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.preset.preset_name

    @property
    def gguf_file(self) -> str:
        """The GGUF's file name (in the Hub repo when pulled, else the local file's name)."""
        return Path(self.model.source_file or self.model.path.name).name

    @property
    def hub_repo(self) -> str | None:
        return self.model.source_repo


def gather(wb: Workbench, preset_ref: str) -> PromotionSource:
    resolved = wb.presets.resolve(preset_ref)
    parsed, model = resolved.modelfile, resolved.model
    values = parsed.parameter_values()
    template, origin, go = _template(parsed, model)
    context = values.get("num_ctx") or min(model.context_length or wb.settings.default_context,
                                           wb.settings.default_context)
    return PromotionSource(
        preset=resolved.version, modelfile=parsed, model=model, base_repo=base_repo(model.metadata),
        template=template, template_origin=origin, go_template=go,
        sampling={k: values[k] for k in SAMPLING if k in values}, context_length=int(context),
        stop=tuple(values.get("stop", ())))


def portable_jinja(template: str) -> str:
    """The same template without Jinja's `{%+`/`+%}` whitespace markers, which llama.cpp's template engine (minja)
    rejects ("Unknown statement"); gotemplate.py emits them to keep every character of the Go text. An empty
    `{{ '' }}` beside a tag does the same job wherever the marker mattered: lstrip_blocks strips only blanks
    between a line's start and a block tag, trim_blocks only a newline right after one."""
    text = _LSTRIP_MARK.sub(lambda m: m.group(1) + "{{ '' }}{%", template)
    text = text.replace("{%+", "{%")
    return _TRIM_MARK.sub(lambda m: "%}{{ '' }}" if m.group(1) else "%}", text)


def _template(parsed: mf.Modelfile, model: LocalModel) -> tuple[str | None, str, str | None]:
    if parsed.template:
        if is_go_template(parsed.template):
            return (portable_jinja(translate(parsed.template)), "the preset's TEMPLATE (Go, translated to Jinja)",
                    parsed.template)
        return parsed.template, "the preset's TEMPLATE (Jinja)", None
    own = model.metadata.get("tokenizer.chat_template")
    if isinstance(own, str) and own.strip():
        return own, "the GGUF's tokenizer.chat_template", None
    return None, "none: neither the preset nor the GGUF has a chat template", None


def base_repo(metadata: dict[str, Any]) -> str | None:
    """The Hub repo a GGUF says it was made from: general.base_model.0.repo_url, then general.source.repo_url
    (llama.cpp's convert script writes them). An organization + name pair is not turned into a repo: a guess
    could name someone else's repository."""
    for key in ("general.base_model.0.repo_url", "general.source.repo_url", "general.source.huggingface.repository"):
        value = metadata.get(key)
        if isinstance(value, str):
            match = _HF_URL.match(value.strip())
            if match:
                return match.group(1)
            if _REPO.match(value.strip()):
                return value.strip()
    return None
