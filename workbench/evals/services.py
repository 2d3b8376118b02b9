"""What the runner lends assertions and records on cells: embeddings, the llm-rubric judge, provenance.

The judge is a preset (or library model) with a chat template; its answer is constrained to a JSON verdict
({"pass", "score", "reason"}) by the engine's JSON-schema grammar, generated greedily with the suite's seed in
reproducible mode, and stored on the assertion with the judge's own provenance, so a verdict can be traced and
re-run like an answer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import WorkbenchError
from .records import AssertionResult

if TYPE_CHECKING:
    from ..app import Workbench

# verdict first, a bounded reason last: a judge that rambles still ends inside its token budget
VERDICT_SCHEMA = {"type": "object", "properties": {"pass": {"type": "boolean"},
                                                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                                                    "reason": {"type": "string", "maxLength": 200}},
                  "required": ["pass", "score", "reason"]}
JUDGE_SYSTEM = ("You grade an output against a rubric. Reply with JSON only: {\"pass\": true if the output "
                "satisfies the rubric, \"score\": a number from 0 to 1, \"reason\": a short explanation}.")
JUDGE_USER = "Rubric:\n{{rubric}}\n\nOutput:\n{{output}}"
JUDGE_MAX_TOKENS = 400


class CellServices:
    def __init__(self, wb: Workbench, suite, *, concurrency: int, allow_code: bool, judge: str | None):
        self._wb = wb
        self._suite = suite
        self._concurrency = concurrency
        self.allow_code = allow_code
        self._default_judge = judge

    # -- embeddings (similar) ---------------------------------------------------------------------------
    def embedder(self, target, load):
        """(texts, provider) → unit vectors: the target's own loaded model, or the provider named."""
        def embed(texts: list[str], provider: str | None) -> list[list[float]]:
            model, options = target.model, load
            if provider:
                from ..chat.prepare import resolve_target

                model, options = resolve_target(self._wb, provider).model, None
            return self._wb.runtime.acquire(model, options).embed(texts).vectors

        return embed

    # -- the judge (llm-rubric) -------------------------------------------------------------------------
    def judge(self, spec, output) -> AssertionResult:
        from ..chat.prepare import prepare_chat, resolve_target
        from .suite import render

        name = spec.provider or self._default_judge
        if not name:
            return AssertionResult(spec.type, False, 0.0, "llm-rubric needs a judge: give the assertion a "
                                   "`provider:`, the suite options.judge, or --judge", spec.weight, spec.value)
        try:
            judge = resolve_target(self._wb, name)
            variables = {"rubric": str(spec.value), "output": output.text, **output.vars}
            user = render(spec.rubric_prompt or JUDGE_USER, variables)
            prepared = prepare_chat(self._wb, judge, [{"role": "system", "content": JUDGE_SYSTEM},
                                                      {"role": "user", "content": user}],
                                    parameters={"temperature": 0, "seed": self._suite.seed,
                                                "num_predict": JUDGE_MAX_TOKENS},
                                    json_schema=VERDICT_SCHEMA, reproducible=True, n_parallel=self._concurrency)
            text, final = prepared.generate(self._wb.runtime).collect()
        except WorkbenchError as exc:
            return AssertionResult(spec.type, False, 0.0, f"the judge {name} could not run: {exc}", spec.weight,
                                   spec.value)
        details = {"judge": {**self.provenance(judge, prepared, final), "verdict": text}}
        try:
            data = json.loads(text)
            passed, score, reason = bool(data["pass"]), float(data["score"]), str(data["reason"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return AssertionResult(spec.type, False, 0.0, f"the judge's verdict is not the expected JSON: {text!r}",
                                   spec.weight, spec.value, details=details)
        if spec.threshold is not None:
            passed = passed and score >= spec.threshold
        return AssertionResult(spec.type, passed, score, f"judge {name}: {reason}", spec.weight, spec.value,
                               details=details)

    # -- provenance ---------------------------------------------------------------------------------------
    def provenance(self, target, prepared, final) -> dict[str, Any]:
        """The same facts an answer records (chat/service.py): model, preset version, hashes, seed, mode, build."""
        preset = target.preset
        options = self._wb.runtime.acquire(target.model, prepared.load).options
        return {
            "model": target.model.name, "model_sha256": target.model.sha256,
            "quantization": target.model.quantization,
            "preset": preset.preset_name if preset else None, "preset_version": preset.number if preset else None,
            "preset_sha256": preset.content_sha256 if preset else None,
            "prompt_sha256": prepared.prompt_sha256, "template_sha256": prepared.template_sha256,
            "parameters": prepared.parameters, "ignored_parameters": prepared.ignored,
            "seed": final.seed, "reproducible": bool(options.reproducible), "n_ctx": options.n_ctx,
            "n_parallel": options.n_parallel, "cached_tokens": final.cached_tokens,
            "stop_sequence": final.stop_sequence, "engine": self._wb.chat.engine_facts(),
        }
