"""A remote endpoint as a Compare pane: `remote:NAME` beside local presets and models.

The pane gets the same locked sampler (temperature, top_p, seed, max tokens as OpenAI fields; a server may ignore
the seed), and its text is compared by character only: the remote's token ids are not visible. A remote that
fails (unreachable, refuses, drops mid-answer, offline mode) fails its own pane; the others still run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import WorkbenchError

if TYPE_CHECKING:
    from ..app import Workbench
    from ..remote import RemoteEndpoint
    from ..tasks import CancelToken


@dataclass(frozen=True)
class RemoteTarget:
    endpoint: RemoteEndpoint

    model = None  # no local model: the places that compare vocabularies or memory look for one

    @property
    def name(self) -> str:
        return self.endpoint.ref

    def base_parameters(self) -> dict[str, Any]:
        return {}


def resolve_compare_target(wb: Workbench, name: str):
    """`remote:NAME` → RemoteTarget (NotFound for an unregistered one); anything else → a local ChatTarget."""
    from ..chat.prepare import resolve_target
    from ..remote import remote_name

    remote = remote_name(name)
    return RemoteTarget(wb.remotes.get(remote)) if remote else resolve_target(wb, name)


def run_remote_pane(wb: Workbench, target: RemoteTarget, prompt: str, locked: dict[str, Any], raw: bool,
                    index: int, on_text, cancel: CancelToken | None, base):
    """`base` is the pane's empty compare.PaneResult (passed in: this module must not import compare.py back)."""
    endpoint = target.endpoint
    base = dataclasses.replace(base, target=target.name, model_name=endpoint.model, model_sha256="",
                               quantization=None, seed=locked.get("seed"), parameters=dict(locked))
    if raw:
        return dataclasses.replace(base, error=f"{target.name} is a chat endpoint: raw prompts (no chat template) "
                                               "run on local targets only")
    try:
        answer = wb.remotes.chat(endpoint.name, [{"role": "user", "content": prompt}], locked,
                                 on_text=None if on_text is None else lambda piece: on_text(index, piece),
                                 cancel=cancel)
    except WorkbenchError as exc:
        return dataclasses.replace(base, error=str(exc))
    return dataclasses.replace(base, text=answer.text, prompt_tokens=answer.prompt_tokens,
                               completion_tokens=answer.completion_tokens, ttft_seconds=answer.ttft_seconds,
                               tokens_per_second=answer.tokens_per_second, finish_reason=answer.finish_reason,
                               provenance=answer.provenance)
