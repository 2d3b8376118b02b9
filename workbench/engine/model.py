"""`LoadedModel`: one model in memory with its context and scheduler — tokenize, facts, `generate()`.

Created by the Runtime, never by callers. `generate()` validates and tokenizes on the caller's thread, so a bad
request raises right there, before anything is decoded; the scheduler thread does the rest.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ContextLengthExceeded, EngineError, InvalidMedia, InvalidParameter
from . import native, prefetch
from .generation import Generation, Job, Sink
from .params import GenerationRequest, LoadOptions
from .sampling import Sampler, resolve_seed
from .scheduler import Scheduler

_BYTES_PER_CELL = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
                   "q4_1": 20 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True)
class ResolvedLoad:
    """LoadOptions with every default filled in (what the model was really loaded with)."""

    options: LoadOptions  # n_ctx/n_threads/n_parallel/reproducible no longer None
    context: native.ContextConfig


class LoadedModel:
    def __init__(self, path: Path, resolved: ResolvedLoad, *, name: str | None = None, sha256: str | None = None,
                 max_queue: int = 64):
        self.path = Path(path)
        self.name = name or self.path.name
        self.sha256 = sha256
        self.loaded_at = time.time()
        self.keep_alive: float | None = None  # seconds; None = the settings' (set through Runtime.set_keep_alive)
        self._closed = False
        self._lock = threading.Lock()  # held by close() and for a whole embedding/scoring call
        # callers using the vocabulary on their own thread (tokenize, generate's checks): close() waits for them
        # before freeing it — a freed vocabulary makes llama.cpp abort the process, not raise
        self._users = 0
        self._users_done = threading.Condition()
        opts, cfg = resolved.options, resolved.context
        flags = self._native_flags(opts)  # a load a cold start began early is taken over (engine/prefetch.py)
        self._model = prefetch.claim(self.path, **flags) or native.load_model(self.path, **flags)
        self._ctx = self._lora = self._projector = self._draft = None
        try:
            self.facts = native.model_facts(self._model)
            opts, cfg = _cap_context(opts, cfg, self.facts.n_ctx_train)
            self.options = opts
            self._ctx = native.new_context(self._model, cfg, self.path)
            if opts.lora_path:
                self._lora = native.attach_lora(self._model, self._ctx, Path(opts.lora_path), opts.lora_scale,
                                                self.path)
            self.metadata = native.model_meta(self._model)
            self.chat_template = native.chat_template(self._model)
            self.vocab = native.Vocab(self._model)
            self._load_companions(opts, cfg)
            self._scheduler = Scheduler(self._ctx, self.vocab, n_slots=cfg.n_seq_max, n_ctx=opts.n_ctx,
                                        n_batch=cfg.n_batch, n_ubatch=cfg.n_ubatch, n_swa=self.facts.n_swa,
                                        reproducible=bool(opts.reproducible), max_queue=max_queue, name=self.name,
                                        pad_for_speculation=opts.speculative,
                                        sample_threads=cfg.n_threads, draft_model=self._draft)
        except BaseException:
            if self._draft is not None:
                self._draft.close()
            self._free_projector()
            native.free_context(self._ctx)
            native.free_lora(self._lora)
            native.free_model(self._model)
            raise
        self.memory_bytes = self.facts.size_bytes + self._kv_bytes(cfg) + \
            (self._projector.size_bytes if self._projector is not None else 0)
        if self._draft is not None:
            self.memory_bytes += self._draft.size_bytes
        self.touch()

    def _load_companions(self, opts: LoadOptions, cfg: native.ContextConfig) -> None:
        """The vision projector and the draft model, when the load options name them."""
        if opts.mmproj_path:
            from .vision import Projector

            self._projector = Projector(self._model, Path(opts.mmproj_path), n_threads=opts.n_threads,
                                        n_batch=cfg.n_batch, n_ubatch=cfg.n_ubatch, n_embd=self.facts.n_embd)
        if opts.draft_path:
            self._draft = self._load_draft(Path(opts.draft_path), cfg)

    def _load_draft(self, path: Path, cfg: native.ContextConfig):
        """The draft model beside this one (refused with InvalidParameter when its vocabulary differs)."""
        from .draft_model import DraftModel

        opts = self.options
        return DraftModel(path, n_slots=cfg.n_seq_max, n_ctx=opts.n_ctx, n_threads=opts.n_threads,
                          target_vocab=self.vocab, target_name=self.name, gpu_layers=opts.gpu_layers,
                          reproducible=bool(opts.reproducible))

    def _check_speculation(self, spec) -> None:
        if spec is None:
            return
        if spec.mode == "draft" and self._draft is None:
            raise InvalidParameter(f"{self.name} was loaded without a draft model: give the preset a DRAFT line "
                                   "(or `serve --speculative MODEL`), or speculate with lookup")
        if self.options.reproducible and not self.options.speculative:
            raise InvalidParameter(f"{self.name} was loaded in reproducible mode without speculation: load it with "
                                   "LoadOptions(speculative=True) so that speculating keeps the output unchanged")

    @staticmethod
    def _native_flags(opts: LoadOptions) -> dict:
        return {"gpu_layers": opts.gpu_layers, "use_extra_bufts": not opts.reproducible}

    @property
    def native_load(self) -> dict:
        """The file and flags llama.cpp loaded this model with: what engine/prefetch.py remembers."""
        return {"path": self.path, **self._native_flags(self.options)}

    @property
    def draft_name(self) -> str | None:
        return self._draft.path.name if self._draft is not None else None

    def touch(self) -> None:
        """Mark the model as just handed out (keep-alive counts from here)."""
        self.touched_at = time.monotonic()
        self.finished_at_touch = self._scheduler.finished

    @property
    def idle_since(self) -> float:
        return max(self.touched_at, self._scheduler.last_active)

    @property
    def served_since_touch(self) -> bool:
        return self._scheduler.finished > self.finished_at_touch

    # ------------------------------------------------------------------ facts

    @property
    def n_ctx(self) -> int:
        """Tokens one request may use (prompt + completion)."""
        return self.options.n_ctx

    @property
    def n_ctx_train(self) -> int:
        return self.facts.n_ctx_train

    @property
    def n_parallel(self) -> int:
        return len(self._scheduler.slots)

    @property
    def n_vocab(self) -> int:
        return self.vocab.n_tokens

    @property
    def bos_token_id(self) -> int | None:
        return self.vocab.bos if self.vocab.bos >= 0 else None

    @property
    def bos_token(self) -> str:
        """The BOS token's text (for chat templates that write `{{ bos_token }}`), '' if none."""
        return self.token_text(self.vocab.bos) if self.vocab.bos >= 0 else ""

    @property
    def eos_token(self) -> str:
        return self.token_text(self.vocab.eos) if self.vocab.eos >= 0 else ""

    @property
    def add_bos(self) -> bool:
        return self.vocab.add_bos

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def busy(self) -> bool:
        return not self._closed and self._scheduler.busy

    @property
    def closed(self) -> bool:
        return self._closed

    def _kv_bytes(self, cfg: native.ContextConfig) -> int:
        arch = self.metadata.get("general.architecture", "")
        head = self.facts.n_embd // max(self.facts.n_head, 1)
        k_len = int(self.metadata.get(f"{arch}.attention.key_length", head))
        v_len = int(self.metadata.get(f"{arch}.attention.value_length", head))
        cells = cfg.n_ctx * self.facts.n_layer * self.facts.n_head_kv
        return int(cells * (k_len * _BYTES_PER_CELL[cfg.type_k] + v_len * _BYTES_PER_CELL[cfg.type_v]))

    # ------------------------------------------------------------------ tokens

    @contextmanager
    def _in_use(self):
        """The native model stays alive inside; EngineError once it has been unloaded."""
        with self._users_done:
            if self._closed:
                raise EngineError(f"{self.name} has been unloaded: acquire it again from the runtime")
            self._users += 1
        try:
            yield
        finally:
            with self._users_done:
                self._users -= 1
                self._users_done.notify_all()

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """add_special: add BOS (if the model wants one); parse_special: "<|end|>" text → the special token."""
        with self._in_use():
            return self.vocab.tokenize(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens, *, render_special: bool = False) -> str:
        with self._in_use():
            return self.vocab.detokenize(list(tokens), render_special=render_special)

    def token_text(self, token: int) -> str:
        with self._in_use():
            return self.vocab.piece(token, special=True).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        with self._in_use():
            return self.vocab.is_eog(token)

    # ------------------------------------------------------------------ generation

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        if request.prompt_tokens is not None:
            tokens = list(request.prompt_tokens)
            bad = [t for t in tokens if not 0 <= t < self.vocab.n_tokens]
            if bad:
                raise InvalidParameter(f"prompt token {bad[0]} is outside the vocabulary ({self.vocab.n_tokens})")
            return tokens
        add_bos = self.vocab.add_bos if request.add_bos is None else request.add_bos
        tokens = self.vocab.tokenize(request.prompt, add_special=False, parse_special=request.parse_special)
        if add_bos and self.vocab.bos >= 0 and (not tokens or tokens[0] != self.vocab.bos):
            tokens.insert(0, self.vocab.bos)
        return tokens

    @property
    def vision(self) -> bool:
        """A projector is loaded beside the model (requests may carry images)."""
        return self._projector is not None

    def _media_prompt(self, request: GenerationRequest):
        """The request's prompt through the projector (vision.MediaPrompt), or None for a text-only request."""
        if not request.media:
            return None
        if self._projector is None:
            raise InvalidMedia(f"{self.name} has no vision projector; pair one with `workbench import --mmproj FILE`")
        return self._projector.tokenize(request.prompt, request.media, vocab=self.vocab, add_bos=request.add_bos,
                                        parse_special=request.parse_special)

    def prompt_length(self, request: GenerationRequest) -> int:
        """Positions the request's prompt takes in the context, its images' tokens included."""
        with self._in_use():
            media = self._media_prompt(request)
            if media is None:
                return len(self.prompt_tokens(request))
            media.free()
            return len(media.tokens)

    def generate(self, request: GenerationRequest, sink: Sink | None = None) -> Generation:
        """Queue a request; iterate the returned Generation for its events (or receive them in `sink`, called
        on the scheduler thread: see generation.py).

        Raises ContextLengthExceeded (prompt longer than n_ctx), InvalidParameter (empty prompt, bad grammar,
        bias outside the vocabulary) and QueueFull synchronously, before anything is decoded.
        """
        self._check_speculation(request.speculation)
        with self._in_use():
            media = self._media_prompt(request)
            if media is not None and request.speculation is not None:  # drafters know no image positions
                request = replace(request, speculation=None)
            try:
                tokens = self.prompt_tokens(request) if media is None else media.tokens
                if not tokens:
                    raise InvalidParameter("the prompt is empty")
                if len(tokens) > self.n_ctx:
                    raise ContextLengthExceeded(len(tokens), self.n_ctx,
                                                media_tokens=media.media_tokens if media is not None else 0)
                if media is not None and tokens[-1] < 0:
                    raise InvalidMedia("the prompt cannot end with an image: put the question after it")
                seed = resolve_seed(request.sampling)
                sampler = Sampler(request.sampling, self.vocab, seed, tokens if media is None else media.text_tokens)
                job = Job(request=request, prompt=tokens, sampler=sampler, seed=seed,
                          max_tokens=request.max_tokens, sink=sink, media=media)
                if media is not None:
                    media.wake = self._scheduler.wake  # an image's encode has finished
                self._scheduler.submit(job)  # before close() can go on: the scheduler then ends it "cancelled"
            except BaseException:
                if media is not None:
                    media.free()
                raise
        return Generation(job, self._scheduler.wake)

    # ------------------------------------------------------------------ embeddings

    def embed(self, texts, *, truncate: bool = True, context_length: int | None = None):
        """Pooled, unit-length embeddings (an embeddings.EmbeddingResult) sharing this model's weights.

        Why share rather than load the file again: mmap would share the file's pages, but CPU-repacked weights
        (throughput mode) and GPU-offloaded layers are private copies, so a second load would duplicate them.
        The embedding context lives only for this call (its logits scratch is up to 512 MiB on a 262k
        vocabulary: not worth keeping between calls; creating it costs a few ms), inside the lock `close()`
        takes before freeing the model, so an unload waits for the embedding instead of freeing the weights
        under it. Threads and reproducibility follow the load options; the call counts as keep-alive activity.
        """
        from .embeddings import Embedder

        with self._lock:
            if self._closed:
                raise EngineError(f"{self.name} has been unloaded: acquire it again from the runtime")
            with Embedder(self._model, context_length=context_length, threads=self.options.n_threads,
                          reproducible=bool(self.options.reproducible)) as embedder:
                result = embedder.encode(texts, truncate=truncate)
        self.touch()
        return result

    # ------------------------------------------------------------------ scoring

    def score(self, tokens, *, window: int = 512, on_progress=None, cancel=None):
        """Perplexity of `tokens` (a scoring.ModelScore) on a scoring context of its own, like `embed`; against a
        reference use `scoring.compute_reference` and `scoring.score_against` (engine/scoring.py)."""
        from .scoring import score_one

        return score_one(self, tokens, window=window, on_progress=on_progress or (lambda _p: None), cancel=cancel)

    def prompt_logprobs(self, request: GenerationRequest, top_n: int = 0):
        """Each token of the request's prompt (as `generate` would tokenize it) with its logprob given the ones
        before it and `top_n` alternatives: a list of params.TokenLogprob (the first one's logprob is None). On a
        scoring context of its own (engine/scoring.py); ContextLengthExceeded when the prompt is over n_ctx."""
        from .scoring import prompt_logprobs

        with self._in_use():
            tokens = self.prompt_tokens(request)
        return prompt_logprobs(self, tokens, top_n)

    @contextmanager
    def borrow_native(self):
        """(llama_model, LoRA adapter, its scale, threads) for a context of the engine's own (scoring.py), held
        under the lock `close()` takes, so an unload waits until that context is gone."""
        with self._lock:
            if self._closed:
                raise EngineError(f"{self.name} has been unloaded: acquire it again from the runtime")
            yield self._model, self._lora, self.options.lora_scale, self.options.n_threads
        self.touch()

    def close(self) -> None:
        """Stop the scheduler (running requests end "cancelled") and free the native memory."""
        with self._lock:
            if self._closed:
                return
            with self._users_done:
                self._closed = True
                while self._users:
                    self._users_done.wait()
        self._scheduler.close()
        self._free_projector()
        native.free_context(self._ctx)
        native.free_lora(self._lora)
        native.free_model(self._model)
        if self._draft is not None:
            self._draft.close()
        self._ctx = self._model = self._lora = self._draft = None


    def _free_projector(self) -> None:
        if self._projector is not None:
            self._projector.free()
            self._projector = None


def _cap_context(opts: LoadOptions, cfg: native.ContextConfig, n_ctx_train: int):
    """A request's context never exceeds what the model was trained for."""
    if n_ctx_train <= 0 or opts.n_ctx <= n_ctx_train:
        return opts, cfg
    return replace(opts, n_ctx=n_ctx_train), replace(cfg, n_ctx=n_ctx_train * cfg.n_seq_max)
