"""Chat preparation: a target (preset or library model) + messages + overrides → what the engine runs.

The one place that decides how a conversation becomes a prompt, for every caller: parameter layers (preset <
session < request), the system prompt, few-shots and the template (docs/design.md §6.3). `prepare_chat` and
`prepare_completion` return a `PreparedChat`: the request, the load options and the provenance facts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidMedia, NotFound, TemplateError
from ..modelfile.parameters import split_parameters
from ..records import LocalModel, PresetVersion
from ..resolve import HubReference, ModelMatch, NoMatch, PresetMatch, resolve
from .answer import AnswerShape, plan_answer
from .reasoning import Thinking
from .speculation import speculation_for

if TYPE_CHECKING:
    from ..app import Workbench
    from ..engine import Generation, GenerationRequest, LoadedModel, LoadOptions, Runtime, SamplingParams
    from ..engine.generation import Sink
    from ..modelfile.parser import Modelfile
    from .media import Media

_LOAD_FIELDS = {"n_ctx", "n_batch", "gpu_layers", "n_threads"}  # LoadOptions fields a PARAMETER may set


@dataclass(frozen=True)
class ChatTarget:
    """What a name resolved to: the library model, and the preset version (with its parsed Modelfile) if any."""

    model: LocalModel
    preset: PresetVersion | None = None
    modelfile: Modelfile | None = None  # the preset's, parsed

    @property
    def name(self) -> str:
        return self.preset.ref if self.preset is not None else self.model.name

    def base_parameters(self) -> dict[str, Any]:
        return self.modelfile.parameter_values() if self.modelfile is not None else {}


@dataclass(frozen=True)
class PreparedChat:
    """Everything one generation needs, plus what its provenance records."""

    target: ChatTarget
    load: LoadOptions
    request: GenerationRequest
    prompt: str
    prompt_sha256: str
    template_sha256: str | None
    parameters: dict[str, Any]  # the effective parameters, Ollama names (what the answer ran with)
    ignored: dict[str, Any] = field(default_factory=dict)  # Ollama-only parameters that had no effect
    shape: AnswerShape = field(default_factory=AnswerShape)  # how the output splits: thinking, answer, tool calls

    def generate(self, runtime: Runtime, sink: Sink | None = None) -> Generation:
        """Queue on the runtime (acquire + submit atomically); returns the engine Generation (sink: the engine's
        alternative to iterating it, see engine/generation.py)."""
        return runtime.generate(self.target.model, self.request, self.load, sink)


def resolve_target(wb: Workbench, name: str) -> ChatTarget:
    """A preset reference or a library model name (resolve.py decides which) → ChatTarget; NotFound otherwise."""
    found = resolve(wb, name)
    if isinstance(found, PresetMatch):
        try:
            bound = wb.presets.resolve(found.version)
            return ChatTarget(bound.model, bound.version, bound.modelfile)
        except NotFound:  # the preset's FROM model is gone: a library model of the same name may be meant
            found_model = resolve(wb, name, scope="models")
            if not isinstance(found_model, ModelMatch):
                raise
            found = found_model
    if isinstance(found, ModelMatch):
        return ChatTarget(found.model)
    if isinstance(found, NoMatch):
        raise found.error()
    hint = f"`workbench pull {name}`" if isinstance(found, HubReference) else f"`workbench import {name}`"
    raise NotFound(f"{name!r} is neither a preset (`workbench presets`) nor a library model (`workbench list`): "
                   f"{hint} adds it first")


def template_supports_tools(source: str) -> bool:
    """A template supports tools when it reads the `tools` variable (how Ollama and llama.cpp decide too)."""
    import re

    return re.search(r"\btools\b", source) is not None


def merge_parameters(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later layers win; `stop` from a later layer replaces the earlier list (an empty list clears it)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if value is not None:
                merged[key] = value
    return merged


def build_options(parameters: Mapping[str, Any], *, reproducible: bool | None = None, n_parallel: int | None = None,
                  ) -> tuple[SamplingParams, int | None, tuple[str, ...], LoadOptions, dict[str, Any]]:
    """Ollama-named parameters → (SamplingParams, max_tokens, stop, LoadOptions, ignored).

    n_parallel (slots per loaded model) is the caller's choice, not a PARAMETER: the endpoint sets it.
    """
    from ..engine import LoadOptions, SamplingParams

    sampling, load, ignored = split_parameters(dict(parameters))
    max_tokens = sampling.pop("max_tokens", None)
    if max_tokens is not None and max_tokens < 0:
        max_tokens = None  # -1 / -2: until the context ends
    stop = tuple(sampling.pop("stop", ()) or ())
    load_kwargs = {k: v for k, v in load.items() if k in _LOAD_FIELDS}
    if load_kwargs.get("n_threads") == 0:
        load_kwargs.pop("n_threads")
    if "gpu_layers" in load_kwargs and load_kwargs["gpu_layers"] < -1:
        load_kwargs["gpu_layers"] = -1
    load_kwargs["n_batch"] = max(8, load_kwargs.get("n_batch", 512))
    load_kwargs["n_ubatch"] = min(512, load_kwargs["n_batch"])
    load_options = LoadOptions(reproducible=reproducible, n_parallel=n_parallel, **load_kwargs)
    return SamplingParams(**sampling), max_tokens, stop, load_options, ignored


def target_load(wb: Workbench, target: ChatTarget, *, reproducible: bool | None = None,
                n_parallel: int | None = None, speculative: str | None = None) -> LoadOptions:
    """The load options an answer from `target` would use (its draft model included): what preloading acquires."""
    parameters = target.base_parameters()
    *_, load, _ignored = build_options(parameters, reproducible=reproducible, n_parallel=n_parallel)
    load, _ = speculation_for(wb, target, parameters, speculative, target_load_options(target, load))
    return load


def conversation(target: ChatTarget, messages: Sequence[Mapping[str, Any]],
                 system: str | None = None) -> list[dict[str, Any]]:
    """The messages the template sees: system (request > override > preset), preset few-shots, then the rest."""
    messages = [dict(m) for m in messages]
    has_system = bool(messages) and messages[0].get("role") == "system"
    mf = target.modelfile
    system_text = system if system is not None else (mf.system if mf is not None else None)
    head: list[dict[str, Any]] = []
    if not has_system and system_text:
        head.append({"role": "system", "content": system_text})
    if mf is not None:
        head += [{"role": m.role, "content": m.content} for m in mf.messages]
    if has_system and head and head[0]["role"] != "system":
        return [messages[0], *head, *messages[1:]]
    return [*head, *messages]


def template_source(target: ChatTarget, loaded: LoadedModel) -> tuple[str, str]:
    """(Jinja source, what it came from) of the template to use; TemplateError when the model has none."""
    mf = target.modelfile
    if mf is not None and mf.template:
        template = mf.chat_template()
        return template.source, "preset"
    if loaded.chat_template:
        return loaded.chat_template, "gguf"
    raise TemplateError(
        f"{target.model.name} has no chat template (a base model?): give it one with a preset "
        "(TEMPLATE in a Modelfile), or send a raw prompt (completions) instead")


def prepare_chat(wb: Workbench, target: ChatTarget | str, messages: Sequence[Mapping[str, Any]], *,
                 system: str | None = None, session_parameters: Mapping[str, Any] | None = None,
                 parameters: Mapping[str, Any] | None = None, tools: list | None = None,
                 json_schema: dict | None = None, grammar: str | None = None,
                 reproducible: bool | None = None, n_parallel: int | None = None,
                 logit_bias: Mapping[int, float] | None = None, ignore_eos: bool = False,
                 logprobs: int | None = None, tool_choice: Any = None,
                 thinking: Thinking | None = None, speculative: str | None = None,
                 prefill: str | None = None) -> PreparedChat:
    """Render a conversation through the target's template into a GenerationRequest.

    parameters (request) override session_parameters, which override the preset's PARAMETERs (Ollama names).
    thinking (request) overrides the preset's `think` / `think_budget` PARAMETERs; tools + tool_choice are
    checked and, for required / a named function, forced by a grammar (chat/answer.py). speculative: the
    endpoint's default speculation (chat/speculation.py). prefill: the start of the answer, written after the
    template's generation prompt (Anthropic's last assistant message); the model continues it.
    """
    from ..engine import schema_grammar
    from ..engine.templates import render_prompt

    if isinstance(target, str):
        target = resolve_target(wb, target)
    messages, media = with_media_markers(target, messages)
    effective = merge_parameters(target.base_parameters(), session_parameters, parameters)
    thinking = (thinking or Thinking()).over(Thinking.from_parameters(effective))
    sampling, max_tokens, stop, load, ignored = build_options(effective, reproducible=reproducible,
                                                              n_parallel=n_parallel)
    load = target_load_options(target, load)
    load, speculation = speculation_for(wb, target, effective, speculative, load)
    loaded = wb.runtime.acquire(target.model, load)
    source, _origin = template_source(target, loaded)
    if tools and not template_supports_tools(source):
        raise TemplateError(f"the template of {target.name} does not support tools: it never reads `tools` "
                            "(use a model or preset whose template does)")
    plan = plan_answer(source, target.model.metadata, thinking=thinking, tools=tools, tool_choice=tool_choice,
                       schema_grammar=schema_grammar, model=target.name)
    prompt = render_prompt(source, conversation(target, plan.history(messages), system), bos_token=loaded.bos_token,
                           eos_token=loaded.eos_token, add_generation_prompt=True, tools=plan.tools.tools,
                           **plan.variables)
    prompt, shape = plan.shape(prompt)
    prompt += prefill or ""
    prepared = _prepared(target, load, prompt, sampling, max_tokens, stop, effective, ignored,
                         # add_bos None: the model's own rule, and never twice — a Jinja template that writes
                         # {{ bos_token }} already has it; an Ollama (Go) template never does, Ollama's tokenizer
                         # adds it
                         template_sha256=hashlib.sha256(source.encode()).hexdigest(), add_bos=None,
                         json_schema=json_schema, grammar=grammar or plan.tools.grammar, logit_bias=logit_bias,
                         ignore_eos=ignore_eos, logprobs=logprobs, speculation=speculation)
    return _with_answer_plan(_with_media(prepared, media), plan, shape)


def with_media_markers(target: ChatTarget, messages: Sequence[Mapping[str, Any]],
                       ) -> tuple[list[Mapping[str, Any]], tuple[Media, ...]]:
    """Messages whose `images` (a list of chat.media.Media, Ollama's shape) become the engine's media markers at
    the head of their content — where the template then renders them — and the media in prompt order.

    InvalidMedia when there are images and the model has no projector: before anything is loaded or stored."""
    from ..engine.vision import MEDIA_MARKER
    from .media import Media

    out: list[Mapping[str, Any]] = []
    media: list[Media] = []
    for message in messages:
        images = message.get("images") or ()
        if not images:
            out.append(message)
            continue
        if not all(isinstance(item, Media) for item in images):
            raise InvalidMedia("a message's images must be checked Media (chat/media.py), not raw data")
        if getattr(target.model, "projector_path", None) is None:
            raise InvalidMedia(f"{target.model.name} has no vision projector; pair one with "
                               "`workbench import --mmproj FILE`")
        copy = {k: v for k, v in message.items() if k != "images"}
        copy["content"] = MEDIA_MARKER * len(images) + (message.get("content") or "")
        out.append(copy)
        media.extend(images)
    return out, tuple(media)


def _with_projector(target: ChatTarget, load: LoadOptions) -> LoadOptions:
    """A model paired with a projector always loads it (one load serves text and image requests alike)."""
    import dataclasses

    projector = getattr(target.model, "projector_path", None)
    return dataclasses.replace(load, mmproj_path=str(projector)) if projector else load


def target_load_options(target: ChatTarget, load: LoadOptions) -> LoadOptions:
    """The load options built from parameters, plus what the target itself brings: its model's projector and
    its preset's LoRA adapter (every caller that loads a target asks for the same instance)."""
    return _with_adapter(target, _with_projector(target, load))


def _with_adapter(target: ChatTarget, load: LoadOptions) -> LoadOptions:
    """A preset's ADAPTER loads with its model (llama.cpp's LoRA at scale 1, a load of its own); a relative path
    is read from the current folder, as at create. ModelLoadError naming the preset when the file is gone or
    there are several (the engine applies one)."""
    import dataclasses
    from pathlib import Path

    from ..errors import ModelLoadError

    adapters = target.modelfile.adapters if target.modelfile is not None else ()
    if not adapters:
        return load
    if len(adapters) > 1:
        raise ModelLoadError(f"{target.name} has {len(adapters)} ADAPTER lines: one LoRA adapter per preset "
                             "is supported")
    path = Path(adapters[0]).expanduser().absolute()
    if not path.is_file():
        raise ModelLoadError(f"the ADAPTER of {target.name} is gone: no such file {path}")
    return dataclasses.replace(load, lora_path=str(path))


def _with_media(prepared: PreparedChat, media: tuple[Media, ...]) -> PreparedChat:
    """The request carries the media; the prompt's identity covers their content too."""
    import dataclasses

    if not media:
        return prepared
    identity = "\n".join([prepared.prompt_sha256, *(item.sha256 for item in media)]).encode()
    return dataclasses.replace(prepared, request=dataclasses.replace(prepared.request, media=media),
                               prompt_sha256=hashlib.sha256(identity).hexdigest())


def _with_answer_plan(prepared: PreparedChat, plan, shape: AnswerShape) -> PreparedChat:
    """The request reads control tokens as text and closes the thinking at its budget; the shape says how to
    split the output."""
    import dataclasses

    from ..engine import ThinkingBudget

    spec = plan.budget_spec(prepared.prompt)
    request = dataclasses.replace(prepared.request, render_special=plan.render_special,
                                  thinking_budget=ThinkingBudget(*spec) if spec is not None else None)
    return dataclasses.replace(prepared, request=request, shape=shape)


def prepare_completion(wb: Workbench, target: ChatTarget | str, prompt: str | Sequence[int], *,
                       parameters: Mapping[str, Any] | None = None, json_schema: dict | None = None,
                       grammar: str | None = None, reproducible: bool | None = None,
                       n_parallel: int | None = None, logit_bias: Mapping[int, float] | None = None,
                       ignore_eos: bool = False, logprobs: int | None = None,
                       speculative: str | None = None) -> PreparedChat:
    """A raw prompt (no template): the preset's parameters still apply, request parameters override them.

    The prompt is text, or token ids used as they are, BOS included or not (PreparedChat.prompt is then "")."""
    if isinstance(target, str):
        target = resolve_target(wb, target)
    effective = merge_parameters(target.base_parameters(), parameters)
    sampling, max_tokens, stop, load, ignored = build_options(effective, reproducible=reproducible,
                                                              n_parallel=n_parallel)
    load = target_load_options(target, load)
    load, speculation = speculation_for(wb, target, effective, speculative, load)
    return _prepared(target, load, prompt, sampling, max_tokens, stop, effective, ignored,
                     template_sha256=None, add_bos=None, json_schema=json_schema, grammar=grammar,
                     logit_bias=logit_bias, ignore_eos=ignore_eos, logprobs=logprobs, speculation=speculation)


def _prepared(target, load, prompt, sampling, max_tokens, stop, effective, ignored, *, template_sha256,
              add_bos, json_schema, grammar, logit_bias=None, ignore_eos=False, logprobs=None,
              speculation=None) -> PreparedChat:
    import dataclasses

    from ..engine import GenerationRequest

    if json_schema is not None or grammar is not None:
        sampling = dataclasses.replace(sampling, json_schema=json_schema, grammar=grammar)
    if logit_bias:
        sampling = dataclasses.replace(sampling, logit_bias=dict(logit_bias))
    if ignore_eos:
        sampling = dataclasses.replace(sampling, ignore_eos=True)
    tokens = None if isinstance(prompt, str) else tuple(prompt)
    request = GenerationRequest(prompt=prompt if tokens is None else None, prompt_tokens=tokens, sampling=sampling,
                                max_tokens=max_tokens, stop=stop, add_bos=add_bos,
                                parse_special=template_sha256 is not None, logprobs=logprobs, speculation=speculation)
    identity = prompt.encode() if tokens is None else ",".join(map(str, tokens)).encode()
    return PreparedChat(target=target, load=load, request=request, prompt=prompt if tokens is None else "",
                        prompt_sha256=hashlib.sha256(identity).hexdigest(),
                        template_sha256=template_sha256, parameters=effective, ignored=ignored)
