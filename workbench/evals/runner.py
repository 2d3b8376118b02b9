"""The runner: a suite's cells through the engine, one target after another, each cell stored as it finishes.

The cells of one target run concurrently on the engine's slots (`n_parallel` = the run's concurrency) in
reproducible mode, each with its own fixed seed (the suite's seed + the repeat index), so an output never
depends on the concurrency or on which cells shared a batch. Before a target starts, the previous target's model
is unloaded when the fit estimate (gguf/estimate.py) says the new one would not fit beside it. A target that
cannot be resolved or loaded fails its own cells (status `error`) and the run goes on with the next target. A
remote endpoint (`remote:NAME`) is a column too: its cells go to the server with the same sampler layers.
Cells are committed one by one, so a killed process loses only the cells in flight; resuming skips stored keys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..chat.answer import split_answer
from ..errors import EngineError, InvalidParameter, WorkbenchError
from ..files import utc_naive_now
from ..tasks import CancelToken, ProgressCallback, ProgressMeter
from .assertions import CellOutput, evaluate, verdict
from .records import EvalCell, cell_key
from .services import CellServices
from .suite import DEFAULT_MAX_TOKENS, PromptSpec, Suite, TestCase, render
from .targets import TargetSpec

if TYPE_CHECKING:
    from ..app import Workbench


@dataclass(frozen=True)
class PlannedCell:
    prompt_index: int
    target_index: int
    test_index: int
    repeat: int
    prompt: PromptSpec
    target: TargetSpec
    test: TestCase

    @property
    def key(self) -> str:
        return cell_key(self.prompt.label, self.target.label, self.test.id, self.repeat)


def plan(suite: Suite) -> list[PlannedCell]:
    """Every cell of a suite in run order: target by target, then test, prompt, repeat."""
    return [PlannedCell(p, t, c, r, suite.prompts[p], suite.targets[t], suite.tests[c])
            for t in range(len(suite.targets)) for c in range(len(suite.tests))
            for p in range(len(suite.prompts)) for r in range(suite.repeat)]


@dataclass(frozen=True)
class Generated:
    """One cell's generation: what was prepared, the text, the engine's final event, wall time, token logprobs."""

    prepared: Any
    text: str
    final: Any
    latency_ms: float
    logprobs: tuple[float, ...] | None


class Runner:
    def __init__(self, wb: Workbench, suite: Suite, run_id: int, *, concurrency: int, allow_code: bool,
                 judge: str | None, on_progress: ProgressCallback, on_cell: Callable[[EvalCell], None] | None,
                 cancel: CancelToken | None):
        self._wb, self._suite, self._run_id = wb, suite, run_id
        self._concurrency = concurrency
        self._on_cell = on_cell
        self._cancel = cancel or CancelToken()
        self._services = CellServices(wb, suite, concurrency=concurrency, allow_code=allow_code, judge=judge)
        self._lock = threading.Lock()
        self._meter: ProgressMeter | None = None
        self._on_progress = on_progress

    def execute(self) -> str:
        """Run every cell not stored yet; returns the run's final status (complete or cancelled)."""
        repo = self._wb.store.evals
        done = repo.done_keys(self._run_id)
        cells = plan(self._suite)
        self._meter = ProgressMeter("eval", len(cells), self._on_progress, unit="cells",
                                    start_at=sum(1 for c in cells if c.key in done))
        self._meter.finish("starting")
        previous = None
        for index, spec in enumerate(self._suite.targets):
            todo = [c for c in cells if c.target_index == index and c.key not in done]
            if not todo:
                continue
            if self._cancel.cancelled:
                break
            previous = self._run_target(spec, todo, previous)
        self._meter.finish("cancelled" if self._cancel.cancelled else "done")
        return "cancelled" if self._cancel.cancelled else "complete"

    def _run_target(self, spec: TargetSpec, todo: list[PlannedCell], previous):
        from ..chat.prepare import resolve_target
        from ..remote import is_remote_ref

        if is_remote_ref(spec.ref):
            self._run_remote_target(spec, todo)
            return previous
        try:
            target = resolve_target(self._wb, spec.ref)
            load = self._load_options(spec, target)
            self._make_room(previous, target.model, load)
            self._wb.runtime.acquire(target.model, load)  # once, first: a model that cannot load fails its column
        except WorkbenchError as exc:  # this column fails; the other targets still run
            for cell in todo:
                self._store(self._error_cell(cell, f"target {spec.label} cannot run: {exc}"))
            return previous
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="eval") as pool:
            futures = [pool.submit(self._run_cell, cell, target) for cell in todo]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # Ctrl-C or a bug: the queued cells must not start while the pool winds down
                self._cancel.cancel("interrupted")
                raise
        return target.model

    def _run_remote_target(self, spec: TargetSpec, todo: list[PlannedCell]) -> None:
        """A remote endpoint's column: its cells go to the server (the same number in flight as local slots);
        a remote that cannot be found, is refused offline or fails a cell fails those cells only."""
        try:
            endpoint = self._wb.remotes.resolve(spec.ref)
            if spec.raw:
                raise InvalidParameter("a remote endpoint takes chat messages; raw targets run locally only")
        except WorkbenchError as exc:
            for cell in todo:
                self._store(self._error_cell(cell, f"target {spec.label} cannot run: {exc}"))
            return
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="eval-remote") as pool:
            for future in [pool.submit(self._run_remote_cell, cell, endpoint) for cell in todo]:
                future.result()

    def _run_remote_cell(self, cell: PlannedCell, endpoint) -> None:
        from ..chat.prepare import merge_parameters

        if self._cancel.cancelled:
            return
        parameters = merge_parameters({"num_predict": DEFAULT_MAX_TOKENS}, self._suite.parameters,
                                      cell.target.parameters, {"seed": self._suite.seed + cell.repeat})
        started = time.perf_counter()
        try:
            answer = self._wb.remotes.chat(endpoint.name, self._messages(cell), parameters, cancel=self._cancel)
        except WorkbenchError as exc:
            if not self._cancel.cancelled:  # cancelled in flight: not stored, a resume runs it again
                self._store(self._error_cell(cell, str(exc)))
            return
        latency = (time.perf_counter() - started) * 1000
        output = CellOutput(text=answer.text, vars=cell.test.vars, latency_ms=latency,
                            completion_tokens=answer.completion_tokens, finish_reason=answer.finish_reason,
                            judge=self._services.judge, allow_code=self._services.allow_code)
        results = [evaluate(spec, output) for spec in cell.test.asserts]
        passed, score = verdict(results, cell.test.threshold)
        self._store(self._cell(cell, status="passed" if passed else "failed", output=answer.text, score=score,
                               assertions=tuple(results), prompt_tokens=answer.prompt_tokens,
                               completion_tokens=answer.completion_tokens, ttft_seconds=answer.ttft_seconds,
                               tokens_per_second=answer.tokens_per_second, latency_ms=latency,
                               finish_reason=answer.finish_reason,
                               provenance={**answer.provenance, "parameters": parameters}))

    def _make_room(self, previous, model, load) -> None:
        """Unload the previous target's model when the estimate says this one will not fit beside it."""
        if previous is None or previous.sha256 == model.sha256:
            return
        if not any(info.sha256 == previous.sha256 for info in self._wb.runtime.loaded()):
            return
        from ..gguf.estimate import estimate_local

        options = self._wb.runtime.resolve(model, load).options
        try:
            # the runtime gives each slot a context of its own (engine/runtime.py): n_ctx × n_parallel cells
            fit = estimate_local(list(model.files), context=options.n_ctx * options.n_parallel,
                                 parallel=options.n_parallel, cache_type=options.type_k)
        except (WorkbenchError, OSError):
            return  # no estimate: keep it loaded, the load itself will say if memory runs out
        if fit.verdict != "fits":  # free memory already excludes the loaded model: both would not fit
            self._wb.runtime.unload(previous)

    # -- one cell -------------------------------------------------------------------------------------
    def _run_cell(self, cell: PlannedCell, target) -> None:
        if self._cancel.cancelled:
            return
        try:
            result = self._generate(cell, target)
        except WorkbenchError as exc:
            self._store(self._error_cell(cell, str(exc)))
            return
        if result is None:  # cancelled in flight: not stored, a resume runs it again
            return
        self._store(self._judged_cell(cell, target, result))

    def _generate(self, cell: PlannedCell, target) -> Generated | None:
        prepared = self._prepare(cell, target)
        started = time.perf_counter()
        generation = prepared.generate(self._wb.runtime)
        parts: list[str] = []
        logprobs: list[float] = []
        with generation:
            for event in generation:
                if self._cancel.cancelled:
                    generation.cancel()
                text = getattr(event, "text", None)
                if text is not None:
                    parts.append(text)
                    logprobs += [e.logprob for e in event.logprobs if e.logprob is not None]
        final = generation.final
        if final.finish_reason == "cancelled":
            return None
        if final.finish_reason == "error":
            raise EngineError(f"the engine failed while generating: {final.error}")
        text = split_answer(prepared.shape, "".join(parts)).content  # the answer is judged, not the thinking
        return Generated(prepared, text, final, (time.perf_counter() - started) * 1000,
                         tuple(logprobs) if prepared.request.logprobs is not None else None)

    def _parameters(self, spec: TargetSpec, target, repeat: int) -> dict[str, Any]:
        """Over the preset's own: the suite's options.parameters, then the target's config, then the cell's seed."""
        from ..chat.prepare import merge_parameters

        default = {} if "num_predict" in target.base_parameters() else {"num_predict": DEFAULT_MAX_TOKENS}
        return merge_parameters(default, self._suite.parameters, spec.parameters, {"seed": self._suite.seed + repeat})

    def _load_options(self, spec: TargetSpec, target):
        """The LoadOptions every cell of this target will ask for (what prepare_* builds from the same layers)."""
        from ..chat.prepare import build_options, merge_parameters, target_load_options

        parameters = merge_parameters(target.base_parameters(), self._parameters(spec, target, 0))
        return target_load_options(target, build_options(parameters, reproducible=True,
                                                         n_parallel=self._concurrency)[3])

    def _prepare(self, cell: PlannedCell, target):
        from ..chat.prepare import prepare_chat, prepare_completion

        spec = cell.target
        parameters = self._parameters(spec, target, cell.repeat)
        wants_logprobs = any(a.type.startswith("perplexity") for a in cell.test.asserts)
        common = {"parameters": parameters, "reproducible": True, "n_parallel": self._concurrency,
                  "logprobs": 0 if wants_logprobs else None}
        images = self._images(cell)
        if spec.raw:
            if cell.prompt.text is None:
                raise InvalidParameter(f"the prompt {cell.prompt.label!r} is a chat message list, and target "
                                     f"{spec.label} takes raw text (no chat template)")
            return prepare_completion(self._wb, target, render(cell.prompt.text, cell.test.vars), **common)
        messages = self._messages(cell)
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if images and users:  # the case's `image` var goes with the last user message (suite_files.py)
            messages[users[-1]] = {**messages[users[-1]], "images": images}
        return prepare_chat(self._wb, target, messages, **common)

    def _images(self, cell: PlannedCell) -> list:
        """The case's `image` var read now (a file that is no image fails its cells with the core's message)."""
        from pathlib import Path

        from ..chat.media import Media
        from .suite_files import IMAGE_VAR, FileProblem, image_refs, resolve

        value = cell.test.vars.get(IMAGE_VAR)
        if value is None:
            return []
        if cell.target.raw:
            raise InvalidParameter(f"test {cell.test.id!r} sends an image, and target {cell.target.label} takes "
                                   "raw text (no chat template)")
        base = Path(self._suite.path).parent if self._suite.path else Path.cwd()
        images = []
        try:
            for ref in image_refs(value):
                media = Media.from_path(resolve(ref, base)[0], kind_hint="image")
                if self._suite.images.get(ref) not in (None, media.sha256):
                    raise InvalidParameter(f"test {cell.test.id!r}: {ref} changed since the suite was loaded: "
                                           "run the suite again (a changed image makes it another suite)")
                images.append(media)
        except FileProblem as exc:
            raise InvalidParameter(f"test {cell.test.id!r}: {exc}") from None
        return images

    @staticmethod
    def _messages(cell: PlannedCell) -> list[dict[str, Any]]:
        if cell.prompt.text is not None:
            return [{"role": "user", "content": render(cell.prompt.text, cell.test.vars)}]
        return [{"role": m["role"], "content": render(str(m["content"]), cell.test.vars)}
                for m in cell.prompt.messages or ()]

    def _judged_cell(self, cell: PlannedCell, target, done: Generated) -> EvalCell:
        prepared, final = done.prepared, done.final
        output = CellOutput(text=done.text, vars=cell.test.vars, prompt=prepared.prompt, latency_ms=done.latency_ms,
                            completion_tokens=final.completion_tokens, finish_reason=final.finish_reason,
                            logprobs=done.logprobs, embed=self._services.embedder(target, prepared.load),
                            judge=self._services.judge, allow_code=self._services.allow_code)
        results = [evaluate(spec, output) for spec in cell.test.asserts]
        passed, score = verdict(results, cell.test.threshold)
        provenance = self._services.provenance(target, prepared, final)
        return self._cell(cell, status="passed" if passed else "failed", output=done.text, score=score,
                          assertions=tuple(results), prompt_tokens=final.prompt_tokens,
                          completion_tokens=final.completion_tokens, ttft_seconds=final.ttft_seconds,
                          tokens_per_second=final.decode_tokens_per_second, latency_ms=done.latency_ms,
                          finish_reason=final.finish_reason, provenance=provenance)

    def _error_cell(self, cell: PlannedCell, message: str) -> EvalCell:
        return self._cell(cell, status="error", error=message, provenance={"target": cell.target.ref})

    def _cell(self, cell: PlannedCell, **values) -> EvalCell:
        return EvalCell(run_id=self._run_id, key=cell.key, prompt_index=cell.prompt_index,
                        target_index=cell.target_index, test_index=cell.test_index, repeat=cell.repeat,
                        prompt_label=cell.prompt.label, target=cell.target.label,
                        test_description=cell.test.description, vars=cell.test.vars, finished_at=utc_naive_now(),
                        **values)

    def _store(self, cell: EvalCell) -> None:
        stored = self._wb.store.evals.add_cell(cell)
        with self._lock:  # one report at a time, though cells finish on several worker threads
            self._meter.advance(1, cell.target)
            if self._on_cell is not None:
                self._on_cell(stored)
