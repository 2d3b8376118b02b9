"""Images (and audio) in a prompt: llama.cpp's multimodal library (libmtmd) beside a loaded model.

`Projector` owns one mtmd context (the projector GGUF, `LoadOptions.mmproj_path`). `Projector.tokenize` turns a
prompt holding MEDIA_MARKER texts plus the media into a `MediaPrompt`: the token list the scheduler works on, where
each media chunk stands as placeholder ids derived from the media's sha256 (so prefix reuse compares images by
content: the same image in the same place matches and its KV cells are reused, never re-encoded), and the spans
that say which positions are media. The projector's ViT encodes a chunk on a thread of its own
(`MediaPrompt.ready` starts it; the scheduler's other streams go on meanwhile), then the scheduler hands the span's
positions to `MediaPrompt.decode`, which decodes the embeddings into the slot's sequence, at most the step's token
budget at a time, so a large image never holds the other streams for long (docs/design.md §4.13).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import mtmd_cpp as mtmd

from ..errors import EngineError, InvalidMedia, ModelLoadError
from . import native, native_log

MEDIA_MARKER = "<__media__>"  # where a message's image goes in the rendered prompt (what the template is given)
_PLACEHOLDER_SPACE = 2**60


@dataclass(eq=False)
class MediaSpan:
    """One media chunk of a prompt: positions [start, start + n_tokens)."""

    start: int
    n_tokens: int
    chunk: int  # an mtmd_input_chunk* this span owns (a copy)
    non_causal: bool
    embeddings: np.ndarray | None = field(default=None, repr=False)  # (n_tokens, n_embd) once encoded
    encoding: Future | None = field(default=None, repr=False)  # the encode running on the projector's thread

    @property
    def end(self) -> int:
        return self.start + self.n_tokens


def placeholder_ids(sha256: str, n: int) -> list[int]:
    """n negative ids (never a vocabulary id) that only this content produces: what the slot cache compares."""
    base = int(sha256[:15], 16)
    return [-2 - (base + i) % _PLACEHOLDER_SPACE for i in range(n)]


class Projector:
    """An mtmd context for one loaded model (one per LoadedModel). Tokenizing (callers' threads) and encoding (the
    projector's thread) each take a lock of their own: a new request is tokenized while another image encodes."""

    def __init__(self, model, path: Path, *, n_threads: int, n_batch: int, n_ubatch: int, n_embd: int):
        native.ensure_backend()
        mtmd.mtmd_log_set(native_log.LOG_CALLBACK, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(native_log.LOG_CALLBACK, ctypes.c_void_p(0))
        if not Path(path).is_file():
            raise ModelLoadError(f"cannot load the projector {path}: the file does not exist")
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = llama_cpp.llama_supports_gpu_offload()
        params.n_threads = n_threads
        params.print_timings = False
        params.warmup = False
        params.media_marker = MEDIA_MARKER.encode()
        with native_log.LogCapture() as lines:
            self._ctx = mtmd.mtmd_init_from_file(os.fsencode(path), model, params)
        if not self._ctx:
            raise ModelLoadError(f"llama.cpp could not load the projector {path}: {native_log.failure_reason(lines)}")
        self.path = Path(path)
        self.vision = bool(mtmd.mtmd_support_vision(self._ctx))
        self.audio = bool(mtmd.mtmd_support_audio(self._ctx))
        if mtmd.mtmd_decode_use_mrope(self._ctx):  # positions there are 2-D (Qwen2-VL family): not wired here
            self.free()
            raise ModelLoadError(f"the projector {path} uses M-RoPE positions (Qwen-VL family), which Workbench "
                                 "does not support yet")
        self.n_embd = n_embd
        self._tokenize_lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix=f"mtmd-{self.path.stem}")
        self._batch = llama_cpp.llama_batch_init(n_batch, n_embd, 1)
        self._capacity = n_batch
        self._ubatch = n_ubatch  # a non-causal image must fit one ubatch (llama.cpp aborts the process otherwise)
        self._embd = np.ctypeslib.as_array(self._batch.embd, shape=(n_batch * n_embd,))

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def tokenize(self, prompt: str, media: Sequence, *, vocab: native.Vocab, add_bos: bool | None,
                 parse_special: bool) -> MediaPrompt:
        """The prompt's text and media chunks; InvalidMedia when markers and media do not match or a kind is not
        supported by this projector."""
        self._check_kinds(media)
        if prompt.count(MEDIA_MARKER) != len(media):
            raise InvalidMedia(f"the prompt holds {prompt.count(MEDIA_MARKER)} media markers ({MEDIA_MARKER}) for "
                               f"{len(media)} attachments: remove that text from the messages")
        bitmaps: list = []
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            bitmaps.extend(self._bitmap(item) for item in media)  # (in the try: a bad second one frees the first)
            data = prompt.encode("utf-8")
            add_special = vocab.add_bos if add_bos is None else add_bos
            text = mtmd.mtmd_input_text(data, len(data), add_special, parse_special)
            array = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            with self._tokenize_lock, native_log.LogCapture() as lines:
                code = mtmd.mtmd_tokenize(self._ctx, chunks, ctypes.byref(text), array, len(bitmaps))
            if code != 0:
                raise InvalidMedia(f"the projector could not read the media (mtmd_tokenize returned {code}): "
                                   f"{native_log.failure_reason(lines)}")
            return self._fitting(self._media_prompt(chunks, media))
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)

    def _check_kinds(self, media: Sequence) -> None:
        for item in media:
            if item.kind == "image" and not self.vision:
                raise InvalidMedia(f"the projector {self.path.name} takes audio, not images")
            if item.kind == "audio" and not self.audio:
                raise InvalidMedia(f"the projector {self.path.name} takes images, not audio")

    def _bitmap(self, item):
        """An mtmd bitmap keyed by the media's sha256 (mtmd_bitmap_set_id): the chunk carries it as its id."""
        if item.kind == "image":
            width, height, rgb = item.rgb()  # decoded by Pillow: every format it reads, not only stb_image's
            bitmap = mtmd.mtmd_bitmap_init(width, height, (ctypes.c_ubyte * len(rgb)).from_buffer_copy(rgb))
        else:  # WAV, MP3 or FLAC: libmtmd's helper decodes and resamples it to the projector's rate
            data = (ctypes.c_uint8 * len(item.data)).from_buffer_copy(item.data)
            with native_log.LogCapture():
                bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(self._ctx, data, len(item.data), False)
        if not bitmap:
            raise InvalidMedia(f"the projector could not read the {item.kind} ({item.mime}): is it complete?")
        mtmd.mtmd_bitmap_set_id(bitmap, item.sha256.encode())
        return bitmap

    def _media_prompt(self, chunks, media: Sequence) -> MediaPrompt:
        tokens: list[int] = []
        spans: list[MediaSpan] = []
        shas = iter(item.sha256 for item in media)
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            n = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                n_out = ctypes.c_size_t(0)
                ids = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n_out))
                tokens.extend(ids[j] for j in range(n_out.value))
                continue
            spans.append(MediaSpan(len(tokens), n, mtmd.mtmd_input_chunk_copy(chunk),
                                   bool(mtmd.mtmd_decode_use_non_causal(self._ctx, chunk))))
            tokens.extend(placeholder_ids(next(shas), n))
        return MediaPrompt(self, tokens, spans)

    def _fitting(self, prompt: MediaPrompt) -> MediaPrompt:
        """The prompt, unless an image that must be decoded in one piece is larger than one batch can be."""
        limit = min(self._capacity, self._ubatch)
        too_big = [span.n_tokens for span in prompt.spans if span.non_causal and span.n_tokens > limit]
        if too_big:
            prompt.free()
            raise InvalidMedia(f"an image here takes {max(too_big)} tokens decoded at once (its projector's tokens "
                               f"attend to each other both ways), more than a batch of {limit}: load the model with "
                               f"num_batch ≥ {max(too_big)}")
        return prompt

    def encode(self, chunk, n_tokens: int) -> np.ndarray:
        """Run the projector on one chunk: its (n_tokens, n_embd) embeddings (a copy: mtmd reuses its buffer)."""
        with self._encode_lock, native_log.LogCapture() as lines:
            code = mtmd.mtmd_encode_chunk(self._ctx, chunk)
            if code != 0:
                raise EngineError(f"the projector failed to encode an image (code {code}): "
                                  f"{native_log.failure_reason(lines)}")
            out = mtmd.mtmd_get_output_embd(self._ctx)
            return np.ctypeslib.as_array(out, shape=(n_tokens * self.n_embd,)).reshape(n_tokens, self.n_embd).copy()

    def decode_rows(self, ctx, rows: np.ndarray, first_pos: int, seq: int, *, non_causal: bool) -> None:
        """llama_decode `rows` embeddings at positions first_pos… of sequence `seq` (no output rows)."""
        n = len(rows)
        if n > self._capacity or (non_causal and n > self._ubatch):  # (tokenize refused such an image already)
            raise EngineError(f"an image piece of {n} tokens exceeds the batch ({self._capacity}): raise n_batch")
        batch = self._batch
        self._embd[: n * self.n_embd] = rows.reshape(-1)
        for i in range(n):
            batch.pos[i] = first_pos + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = False
        batch.n_tokens = n
        if non_causal:  # e.g. Gemma 3: an image's tokens attend to each other both ways
            llama_cpp.llama_set_causal_attn(ctx, False)
        try:
            code = llama_cpp.llama_decode(ctx, batch)
        finally:
            if non_causal:
                llama_cpp.llama_set_causal_attn(ctx, True)
        if code != 0:
            raise native.DecodeError(code)

    def encode_later(self, span: MediaSpan, done: Callable[[], None]) -> Future:
        """Encode on the projector's thread; `done` is called when it has finished (the scheduler's wake)."""
        # the chunk pointer is taken now: MediaPrompt.free frees it only after this encode has finished
        future = self._encoder.submit(self.encode, span.chunk, span.n_tokens)
        future.add_done_callback(lambda _future: done())
        return future

    def free(self) -> None:
        if getattr(self, "_encoder", None) is not None:
            self._encoder.shutdown(wait=True, cancel_futures=True)  # no encode may run on a freed context
            self._encoder = None
        if getattr(self, "_batch", None) is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            mtmd.mtmd_free(self._ctx)
            self._ctx = None


class MediaPrompt:
    """A prompt's tokens with media placeholders, and its media spans (owned by one Job; free() at its end)."""

    def __init__(self, projector: Projector, tokens: list[int], spans: list[MediaSpan]):
        self.projector = projector
        self.tokens = tokens
        self.spans = spans
        self.wake: Callable[[], None] = lambda: None  # set to the scheduler's wake: an encode has finished

    @property
    def text_tokens(self) -> list[int]:
        """The prompt's real token ids (for the repeat penalties' history)."""
        return [t for t in self.tokens if t >= 0]

    @property
    def media_tokens(self) -> int:
        return sum(span.n_tokens for span in self.spans)

    def span_at(self, pos: int) -> MediaSpan | None:
        return next((s for s in self.spans if s.start <= pos < s.end), None)

    def text_run(self, pos: int) -> int:
        """How many text tokens from `pos` before the next media span (or the prompt's end)."""
        following = [s.start for s in self.spans if s.start >= pos]
        return (min(following) if following else len(self.tokens)) - pos

    def reusable(self, keep: int) -> int:
        """Cached tokens that may be kept: never part of a non-causal image (its tokens are decoded together)."""
        span = self.span_at(keep)
        return span.start if span is not None and span.non_causal and keep > span.start else keep

    def piece(self, pos: int, budget: int) -> int:
        """Rows of the span at `pos` to decode this step: up to `budget`; a non-causal image all at once."""
        span = self.span_at(pos)
        return span.end - pos if span.non_causal else min(budget, span.end - pos)

    @property
    def encoding(self) -> bool:
        """An encode is running: the request waits for it (and for `wake`) without taking steps."""
        return any(span.encoding is not None and not span.encoding.done() for span in self.spans)

    def ready(self, pos: int) -> bool:
        """The span at `pos` is encoded (EngineError if its encode failed); else its encode is started or still
        running, and the scheduler comes back after `wake`."""
        span = self.span_at(pos)
        if span.embeddings is not None:
            return True
        if span.encoding is None:
            span.encoding = self.projector.encode_later(span, self.wake)
            return False
        if not span.encoding.done():
            return False
        future, span.encoding = span.encoding, None
        span.embeddings = future.result()  # raises the encode's EngineError
        return True

    def prefill(self, ctx, seq: int, pos: int, budget: int, chunk_size: Callable[[int, int], int]) -> int:
        """The scheduler's step for the span at `pos`: rows decoded into sequence `seq` (0 while it is encoded);
        chunk_size(remaining, budget) is the scheduler's rule for how much of a prompt one step takes."""
        if not self.ready(pos):  # encoding on the projector's thread: the other streams go on
            return 0
        n = self.piece(pos, chunk_size(self.span_at(pos).end - pos, budget))
        self.decode(ctx, seq, pos, n)
        return n

    def decode(self, ctx, seq: int, pos: int, n: int) -> None:
        """Decode media positions [pos, pos + n) (encoded: see `ready`) into sequence `seq`."""
        span = self.span_at(pos)
        offset = pos - span.start
        self.projector.decode_rows(ctx, span.embeddings[offset: offset + n], pos, seq, non_causal=span.non_causal)
        if pos + n == span.end:
            span.embeddings = None  # decoded: its KV cells hold it now

    def free(self) -> None:
        for span in self.spans:
            chunk, span.chunk, span.embeddings = span.chunk, None, None
            if not chunk:
                continue
            if span.encoding is not None and not span.encoding.cancel():  # running: free it once it has finished
                span.encoding.add_done_callback(lambda _future, chunk=chunk: mtmd.mtmd_input_chunk_free(chunk))
            else:
                mtmd.mtmd_input_chunk_free(chunk)
