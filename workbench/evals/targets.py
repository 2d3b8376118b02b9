"""Suite targets: preset references (`name`, `name@3`, `name:tag`), library models, and promptfoo provider ids.

promptfoo ids are mapped onto local targets: `ollama:chat:NAME` and `openai:chat:NAME` (or `openai:NAME`) send
prompts through NAME's chat template; `ollama:completion:NAME`, `ollama:NAME` and `openai:completion:NAME` send
them as-is (raw, for base models), as does `raw: true` in a target's config. `remote:NAME` is a registered remote
endpoint (`workbench remote add`), and so is `openai:chat:MODEL` with promptfoo's `config.apiBaseUrl` when a
remote with that URL and model is registered. Any other provider prefix names a service the suite cannot reach:
it is an error, not a silent substitution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

_CHAT_PREFIXES = ("ollama:chat:", "openai:chat:")
_RAW_PREFIXES = ("ollama:completion:", "openai:completion:", "ollama:")
_OTHER_PREFIXES = ("openai:",)  # openai:NAME is a chat model in promptfoo
REMOTE_PREFIXES = ("anthropic:", "azure:", "bedrock:", "vertex:", "google:", "http:", "https:", "file:", "exec:",
                   "python:", "groq:", "mistral:", "cohere:", "huggingface:", "replicate:", "openrouter:",
                   "localai:", "llama:", "vllm:", "webhook:", "echo")


@dataclass(frozen=True)
class TargetSpec:
    """A target as the suite names it. `ref` is the local preset or model; `label` names its column."""

    id: str
    label: str
    ref: str
    raw: bool = False
    parameters: dict[str, Any] = field(default_factory=dict, hash=False)  # Ollama names, from its config

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "ref": self.ref, "raw": self.raw, "parameters": self.parameters}


def target_from_dict(data: dict[str, Any]) -> TargetSpec:
    return TargetSpec(data["id"], data["label"], data["ref"], bool(data["raw"]), dict(data["parameters"]))


def split_id(target_id: str) -> tuple[str, bool]:
    """A target id → (local reference, raw?). InvalidParameter for a remote provider or an empty name."""
    text = target_id.strip()
    for prefix, raw in [(p, False) for p in _CHAT_PREFIXES] + [(p, True) for p in _RAW_PREFIXES] + \
                       [(p, False) for p in _OTHER_PREFIXES]:
        if text.startswith(prefix):
            ref = text[len(prefix):].strip()
            if not ref:
                raise InvalidParameter(f"target {target_id!r} names no model")
            return ref, raw
    if text.startswith(REMOTE_PREFIXES) or text.startswith("workbench:"):
        if text.startswith("workbench:"):
            return split_id(text[len("workbench:"):])
        raise InvalidParameter(f"target {target_id!r} is a remote provider; a suite runs on local targets: name a "
                               "preset (`workbench presets`) or a library model (`workbench list`)")
    if not text:
        raise InvalidParameter("a target id is empty")
    return text, False


def parse_target(target_id: str, *, label: str | None = None, config: dict[str, Any] | None = None) -> TargetSpec:
    """A target from its id and promptfoo `config` (sampling in OpenAI or Ollama names; `raw`)."""
    ref, raw = split_id(target_id)
    config = dict(config or {})
    base_url = config.pop("apiBaseUrl", None)  # promptfoo's OpenAI provider pointed at another server
    if base_url is not None:
        from ..remote import url_ref

        if not target_id.strip().startswith("openai:"):
            raise InvalidParameter(f"target {target_id!r}: apiBaseUrl belongs to openai:chat:MODEL targets")
        ref = url_ref(str(base_url), ref)
    if "raw" in config:
        raw = bool(config.pop("raw"))
    return TargetSpec(id=target_id, label=label or target_id, ref=ref, raw=raw, parameters=config_parameters(config))


def config_parameters(config: dict[str, Any]) -> dict[str, Any]:
    """A promptfoo provider config (or suite options.parameters) → Ollama-named parameters; unknown names fail."""
    from ..modelfile.parameters import PARAMETERS
    from ..serve.formats import OPENAI_PARAMETERS, openai_parameters

    unknown = sorted(k for k in config if k not in OPENAI_PARAMETERS and k not in PARAMETERS)
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}: use Ollama's names ({', '.join(PARAMETERS)}) "
                               f"or OpenAI's ({', '.join(OPENAI_PARAMETERS)})")
    ollama = {k: v for k, v in config.items() if k in PARAMETERS and k not in OPENAI_PARAMETERS}
    return {**ollama, **openai_parameters({k: v for k, v in config.items() if k in OPENAI_PARAMETERS})}
