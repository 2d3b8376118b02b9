"""Compare: one prompt on 2–4 targets (presets, library models, remote:NAME endpoints) with the sampler locked.

Each target reports its text, TTFT, tok/s, tokens, memory and where it first diverges from the first target.
Targets run one after another in reproducible mode, each after a short warm-up; why, and what "sampler locked"
covers: docs/design.md §8.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..chat.answer import split_answer
from ..chat.prepare import ChatTarget, merge_parameters, prepare_chat, prepare_completion
from ..errors import Cancelled, InvalidMedia, InvalidParameter, WorkbenchError
from ..modelfile.parameters import PARAMETERS
from ..tasks import CancelToken, Progress, ProgressCallback, no_progress
from .compare_remote import RemoteTarget, resolve_compare_target, run_remote_pane

if TYPE_CHECKING:
    from ..app import Workbench

MIN_TARGETS, MAX_TARGETS = 2, 4
DEFAULT_MAX_TOKENS = 256
# sampling names that are locked across targets (stop strings follow each target's template)
_LOCKED = frozenset(name for name, s in PARAMETERS.items() if s.kind == "sampling" and name != "stop")

TextCallback = Callable[[int, str], None]  # (pane index, text piece)


@dataclass(frozen=True)
class PaneResult:
    """One target's run. `error` is set (and the figures empty) when that target could not run."""

    target: str
    model_name: str
    model_sha256: str
    quantization: str | None
    text: str = ""  # the answer (a reasoning model's thinking is in `thinking`, and is not compared)
    thinking: str = ""
    tokens: tuple[int, ...] = field(default=(), repr=False)
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens reused from the KV cache (an earlier run of the same prompt)
    completion_tokens: int = 0
    ttft_seconds: float | None = None
    tokens_per_second: float | None = None
    memory_bytes: int | None = None
    finish_reason: str | None = None
    seed: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    error: str | None = None
    diverge_char: int | None = None  # first character that differs from pane 0 (None: identical, or pane 0)
    diverge_token: int | None = None  # first token that differs (None: identical, pane 0, or other vocabulary)
    provenance: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # a remote's (endpoint…)

    @property
    def identical(self) -> bool:
        return self.error is None and self.diverge_char is None


@dataclass(frozen=True)
class CompareResult:
    prompt: str
    seed: int
    parameters: dict[str, Any]  # the locked sampler values
    panes: tuple[PaneResult, ...]
    images: tuple[str, ...] = ()  # the sha256 of each image sent with the prompt

    def as_dict(self) -> dict[str, Any]:
        import dataclasses

        return {"prompt": self.prompt, "seed": self.seed, "parameters": self.parameters,
                **({"images": list(self.images)} if self.images else {}),
                "panes": [{k: v for k, v in dataclasses.asdict(p).items() if k != "tokens"} for p in self.panes]}


def divergence_text(pane: PaneResult, index: int) -> str:
    """How pane `index` relates to the first one, in words (the CLI table and the app's Compare page)."""
    if index == 0:
        return "reference"
    if pane.error:
        return "-"
    if pane.diverge_char is None:
        return "identical"
    token = f", token {pane.diverge_token}" if pane.diverge_token is not None else ""
    return f"diverges at char {pane.diverge_char}{token}"


def first_difference(a: Sequence, b: Sequence) -> int | None:
    """Index of the first element where a and b differ; len of the shorter if one is a prefix; None if equal."""
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def locked_parameters(targets: Sequence[ChatTarget], parameters: Mapping[str, Any] | None,
                      seed: int) -> dict[str, Any]:
    """The sampler every target runs with: caller's values > the first target's preset values; the seed."""
    first = {k: v for k, v in targets[0].base_parameters().items() if k in _LOCKED}
    locked = merge_parameters({"num_predict": DEFAULT_MAX_TOKENS}, first, parameters, {"seed": seed})
    unknown = sorted(set(parameters or {}) - set(PARAMETERS))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; known: {', '.join(PARAMETERS)}")
    return locked


def compare(wb: Workbench, prompt: str, targets: Sequence[str], *, parameters: Mapping[str, Any] | None = None,
            seed: int | None = None, raw: bool = False, on_text: TextCallback | None = None,
            on_pane: Callable[[int, PaneResult], None] | None = None,
            on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
            images: Sequence = ()) -> CompareResult:
    """Run `prompt` on each target in turn; docs/design.md §8 says what is locked and why.

    raw=True sends the prompt as-is (no chat template: base models); otherwise it is one user message.
    on_text(i, piece) streams pane i; on_pane(i, result) reports a finished pane; on_progress counts targets
    started (unit "targets"). NotFound for an unknown
    target and InvalidParameter for a bad count or parameter are raised before anything runs.
    `images` (chat/media.py Media) go with the prompt to every pane; a target whose model has no projector
    reports that as its pane's error.
    """
    if not prompt.strip():
        raise InvalidParameter("the prompt is empty")
    if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
        raise InvalidParameter(f"compare takes {MIN_TARGETS} to {MAX_TARGETS} targets, got {len(targets)}")
    if images and raw:
        raise InvalidParameter("an image goes through the chat template: turn raw prompt off to compare with one")
    resolved = [resolve_compare_target(wb, name) for name in targets]  # remote:NAME too (compare_remote.py)
    seed = random.randrange(2**31) if seed is None or seed < 0 else seed
    locked = locked_parameters(resolved, parameters, seed)
    panes: list[PaneResult] = []
    for index, target in enumerate(resolved):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("compare cancelled")
        on_progress(Progress("compare", index, len(resolved), unit="targets", message=target.name))
        if isinstance(target, RemoteTarget) and images:
            pane = PaneResult(target.name, target.name, "", None, error="images are sent to local models only")
        elif isinstance(target, RemoteTarget):
            pane = run_remote_pane(wb, target, prompt, locked, raw, index, on_text, cancel,
                                   PaneResult(target.name, target.endpoint.model, "", None))
        else:
            pane = _run_one(wb, target, prompt, locked, raw, index, on_text, cancel, images)
        pane = _with_divergence(pane, panes[0] if panes else None, resolved[0], target)
        panes.append(pane)
        if on_pane is not None:
            on_pane(index, pane)
    on_progress(Progress("compare", len(resolved), len(resolved), unit="targets"))
    return CompareResult(prompt=prompt, seed=seed, parameters=locked, panes=tuple(panes),
                         images=tuple(m.sha256 for m in images))


def _run_one(wb: Workbench, target: ChatTarget, prompt: str, locked: dict[str, Any], raw: bool, index: int,
             on_text: TextCallback | None, cancel: CancelToken | None, images: Sequence = ()) -> PaneResult:
    from ..engine import TextEvent

    base = PaneResult(target=target.name, model_name=target.model.name, model_sha256=target.model.sha256,
                      quantization=target.model.quantization)
    try:
        if raw:
            prepared = prepare_completion(wb, target, prompt, parameters=locked, reproducible=True)
        else:
            question = {"role": "user", "content": prompt, **({"images": list(images)} if images else {})}
            if images and target.model.projector_path is None:
                raise InvalidMedia(f"{target.model.name} has no projector, so it cannot see the image")
            prepared = prepare_chat(wb, target, [question], parameters=locked, reproducible=True)
        loaded = wb.runtime.acquire(target.model, prepared.load)
        _warm_up(wb, target, prepared, loaded)
        generation = prepared.generate(wb.runtime)
    except WorkbenchError as exc:  # this target cannot run (no template, too long…): the others still do
        return _replace(base, error=str(exc))
    parts: list[str] = []
    with generation:
        for event in generation:
            if cancel is not None and cancel.cancelled:
                generation.cancel()
            if isinstance(event, TextEvent):
                parts.append(event.text)
                if on_text is not None:
                    on_text(index, event.text)
    final = generation.final
    answer = split_answer(prepared.shape, "".join(parts))
    return _replace(base, text=answer.content, thinking=answer.thinking, tokens=final.tokens,
                    prompt_tokens=final.prompt_tokens, cached_tokens=final.cached_tokens,
                    completion_tokens=final.completion_tokens,
                    ttft_seconds=final.ttft_seconds, tokens_per_second=final.decode_tokens_per_second,
                    memory_bytes=loaded.memory_bytes,
                    finish_reason=final.finish_reason, seed=final.seed, parameters=dict(prepared.parameters),
                    error=final.error)


def _warm_up(wb: Workbench, target: ChatTarget, prepared, loaded) -> None:
    """A few greedy tokens from a short prompt that shares no prefix with the real one (see the docstring):
    both a batched prefill and single-token decode steps run once before anything is measured."""
    from ..engine import GenerationRequest, SamplingParams

    token = (loaded.tokenize("\n", add_special=False) or [0])[0]
    request = GenerationRequest(prompt_tokens=(token,) * 16, sampling=SamplingParams(temperature=0), max_tokens=4)
    wb.runtime.generate(target.model, request, prepared.load).collect()


def _with_divergence(pane: PaneResult, first: PaneResult | None, first_target: ChatTarget,
                     target: ChatTarget) -> PaneResult:
    if first is None or pane.error is not None or first.error is not None:
        return pane
    if first_target.model is None or target.model is None:  # a remote: its token ids are not visible
        return _replace(pane, diverge_char=first_difference(first.text, pane.text))
    same_vocab = (first_target.model.tokenizer_model == target.model.tokenizer_model
                  and _vocab_size(first_target.model) == _vocab_size(target.model))
    return _replace(pane, diverge_char=first_difference(first.text, pane.text),
                    diverge_token=first_difference(first.tokens, pane.tokens) if same_vocab else None)


def _vocab_size(model) -> int | None:
    tokens = model.metadata.get("tokenizer.ggml.tokens")  # long arrays are summarised as {"length": N, ...}
    return tokens.get("length") if isinstance(tokens, dict) else len(tokens) if isinstance(tokens, list) else None


def _replace(pane: PaneResult, **changes) -> PaneResult:
    import dataclasses

    return dataclasses.replace(pane, **changes)
