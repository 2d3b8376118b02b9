"""What an answer's provenance records, filled in step by step as chat/service.py answers: the target, the
rendered prompt, how the model was really loaded, and the outcome the engine reported.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..records import ChatSession, Provenance
from .prepare import ChatTarget, PreparedChat

if TYPE_CHECKING:
    from ..engine import FinalEvent


def with_target(record: Provenance, target: ChatTarget) -> Provenance:
    preset = target.preset
    return replace(record, model=target.model.name, model_sha256=target.model.sha256,
                   preset=preset.preset_name if preset else None, preset_version=preset.number if preset else None,
                   preset_sha256=preset.content_sha256 if preset else None,
                   preset_version_id=preset.id if preset else None)


def with_prompt(record: Provenance, prepared: PreparedChat, session: ChatSession,
                 replay: Provenance | None) -> Provenance:
    system = replay.system_override if replay is not None else session.system_override
    overrides = (replay.parameter_overrides or {}) if replay is not None else session.parameter_overrides
    return replace(record, prompt_sha256=prepared.prompt_sha256, template_sha256=prepared.template_sha256,
                   parameters=prepared.parameters, ignored_parameters=prepared.ignored, system_override=system,
                   parameter_overrides=overrides)


def with_load(record: Provenance, chat, prepared: PreparedChat) -> Provenance:
    """How the model was really loaded (defaults resolved): the mode decides whether a re-run is identical."""
    options = chat.workbench.runtime.acquire(prepared.target.model, prepared.load).options
    return replace(record, reproducible=bool(options.reproducible), n_ctx=options.n_ctx, engine=chat.engine_facts())


def with_outcome(record: Provenance, final: FinalEvent) -> Provenance:
    return replace(record, seed=final.seed, prompt_tokens=final.prompt_tokens, cached_tokens=final.cached_tokens,
                   completion_tokens=final.completion_tokens, ttft_seconds=final.ttft_seconds,
                   tokens_per_second=final.decode_tokens_per_second, finish_reason=final.finish_reason,
                   stop_sequence=final.stop_sequence, error=final.error,
                   batch_sequences=final.max_batch_sequences,  # > 1: decoded beside other requests
                   drafted_tokens=final.drafted_tokens or None, accepted_tokens=final.accepted_tokens or None)
