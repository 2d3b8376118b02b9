"""Images through the real libmtmd path on the tiny pair (tests/tinymodel.py + tests/tinyvision.py): load, encode,
answer, prefix reuse keyed by the image's content, context overflow, chunked prefill beside text streams, and
reproducible mode's promise with an image in the batch."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from tests.tinyvision import N_IMAGE_TOKENS, tiny_png, write_tiny_projector
from workbench.chat.media import Media
from workbench.engine import FinalEvent, GenerationRequest, LoadOptions, Runtime, SamplingParams
from workbench.engine.vision import MEDIA_MARKER
from workbench.errors import ContextLengthExceeded, InvalidMedia, InvalidParameter
from workbench.settings import Settings

GREEDY = SamplingParams(temperature=0)


@pytest.fixture(scope="module")
def projector_path(models_dir: Path) -> Path:
    return write_tiny_projector(models_dir / "tiny-mmproj.gguf")


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(Settings(keep_alive_seconds=-1))
    yield rt
    rt.close()


def ask(image_seeds=(0,), question: str = "what is in it?", max_tokens: int = 12, **kw) -> GenerationRequest:
    media = tuple(Media.from_bytes(tiny_png(seed)) for seed in image_seeds)
    prompt = f"<|user|>{MEDIA_MARKER * len(media)}{question}<|end|><|assistant|>"
    return GenerationRequest(prompt=prompt, media=media, max_tokens=max_tokens, sampling=GREEDY, **kw)


def test_the_pair_loads_and_an_image_is_encoded_into_the_prompt(runtime, tiny_model_path, projector_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256))
    assert model.vision
    text, final = model.generate(ask()).collect()
    assert final.finish_reason == "length" and final.completion_tokens == 12
    text_only = model.tokenize("<|user|>what is in it?<|end|><|assistant|>", parse_special=True)
    assert final.prompt_tokens == len(text_only) + N_IMAGE_TOKENS
    other, _ = model.generate(ask((1,))).collect()
    assert other != text  # the answer depends on the image's pixels, not only on the text


def test_a_follow_up_on_the_same_image_reuses_its_cells_and_another_image_does_not(runtime, tiny_model_path,
                                                                                  projector_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256, n_parallel=1,
                                                         reproducible=False))
    first_text, _ = model.generate(ask((3,))).collect()
    image_end = len(model.tokenize("<|user|>", parse_special=True)) + N_IMAGE_TOKENS
    again_text, again = model.generate(ask((3,))).collect()
    assert again.cached_tokens >= image_end and again_text == first_text
    follow_up = f"<|user|>{MEDIA_MARKER}what is in it?<|end|><|assistant|>{first_text}<|end|><|user|>and?<|end|>"
    _, later = model.generate(GenerationRequest(prompt=follow_up + "<|assistant|>", media=ask((3,)).media,
                                                max_tokens=4, sampling=GREEDY)).collect()
    assert later.cached_tokens >= image_end  # the image is not prefilled again
    _, other = model.generate(ask((4,))).collect()
    assert other.cached_tokens < image_end - N_IMAGE_TOKENS + 1  # a different image: its cells are not reused


def test_image_tokens_count_against_the_context(runtime, tiny_model_path, projector_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=40))
    with pytest.raises(ContextLengthExceeded, match=r"\(32 of them for its images or audio\).*attach fewer"):
        model.generate(ask((0, 1)))
    _, final = model.generate(ask((0,), max_tokens=2)).collect()  # one image fits
    assert final.finish_reason == "length"


def test_media_without_a_projector_or_markers_is_refused(runtime, tiny_model_path, projector_path):
    plain = runtime.acquire(tiny_model_path, LoadOptions(n_ctx=256))
    with pytest.raises(InvalidMedia, match=r"has no vision projector.*--mmproj"):
        plain.generate(ask())
    paired = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256))
    media = ask().media
    with pytest.raises(InvalidMedia, match="1 attachments"):
        paired.generate(GenerationRequest(prompt="no marker here", media=media, sampling=GREEDY))
    with pytest.raises(InvalidParameter, match="media needs a text prompt"):
        GenerationRequest(prompt_tokens=(1, 2), media=media)


def test_a_large_image_is_decoded_in_budget_pieces_while_a_text_stream_keeps_going(runtime, tiny_model_path,
                                                                                   projector_path):
    # n_batch 8 < 16 image tokens: the image takes several steps, each beside the text stream's token
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256, n_batch=8,
                                                         n_ubatch=8, n_parallel=2, reproducible=False))
    whole = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256, n_parallel=2,
                                                         reproducible=False))
    text_stream = model.generate(GenerationRequest(prompt="<|user|>tell<|end|><|assistant|>", max_tokens=60,
                                                   sampling=SamplingParams(temperature=0, ignore_eos=True)))
    first = next(iter(text_stream))  # the text stream is generating before the image arrives
    assert first.text is not None
    image_text, image_final = model.generate(ask((5,))).collect()
    _, text_final = text_stream.collect()
    assert image_final.finish_reason == "length" and text_final.completion_tokens == 60
    assert image_final.max_batch_sequences == 2 and text_final.max_batch_sequences == 2  # they shared steps
    assert image_text == whole.generate(ask((5,))).collect()[0]  # pieces add up to the image decoded at once


def test_reproducible_mode_a_text_streams_output_does_not_change_beside_an_image(runtime, tiny_model_path,
                                                                              projector_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256, n_parallel=2,
                                                         reproducible=True))
    sampling = SamplingParams(temperature=0.9, seed=7, ignore_eos=True)
    text_request = GenerationRequest(prompt="<|user|>a story<|end|><|assistant|>", max_tokens=40, sampling=sampling)
    alone, _ = model.generate(text_request).collect()
    started = threading.Event()

    def on_event(_event) -> None:
        started.set()

    beside = model.generate(text_request)
    image = model.generate(ask((6,), max_tokens=30), sink=on_event)
    together, final = beside.collect()
    assert started.wait(60)
    assert final.max_batch_sequences == 2  # it really shared decode steps with the image request
    assert together == alone
    del image


def test_text_streams_run_on_while_an_image_is_encoded_and_a_waiting_image_can_be_cancelled(runtime, tiny_model_path,
                                                                                             projector_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256, n_parallel=3,
                                                         reproducible=False))
    gate, finished = threading.Event(), threading.Event()
    seen: list = []

    def on_event(event) -> None:
        seen.append(event)
        if isinstance(event, FinalEvent):
            finished.set()

    model._projector._encoder.submit(gate.wait, 60)  # the projector's one encode thread is busy until the gate opens
    try:
        image = model.generate(ask((8,)), sink=on_event)
        dropped = model.generate(ask((9,)))
        _, final = model.generate(GenerationRequest(prompt="<|user|>hi<|end|><|assistant|>", max_tokens=20,
                                                    sampling=GREEDY)).collect()
        assert final.completion_tokens == 20 and seen == []  # done while the image still waits for its encode
        dropped.cancel()
        assert dropped.collect()[1].finish_reason == "cancelled"  # without waiting for the encode
    finally:
        gate.set()
    assert finished.wait(60)
    assert seen[-1].finish_reason == "length" and seen[-1].completion_tokens == 12
    del image


def test_a_request_with_an_image_does_not_speculate(runtime, tiny_model_path, projector_path):
    from workbench.engine import Speculation

    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector_path), n_ctx=256, speculative=True))
    plain, _ = model.generate(ask((10,), max_tokens=30)).collect()
    speculating = dataclasses.replace(ask((10,), max_tokens=30), speculation=Speculation(mode="lookup", draft_ngram=1))
    text, final = model.generate(speculating).collect()
    assert text == plain and final.drafted_tokens == 0  # no draft ever held an image's placeholder ids


def test_an_audio_clip_through_an_audio_projector(runtime, tiny_model_path, models_dir):
    from tests.tinyvision import tiny_wav, write_tiny_audio_projector

    projector = write_tiny_audio_projector(models_dir / "tiny-audio-mmproj.gguf")
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector), n_ctx=1024, n_parallel=1,
                                                         reproducible=False))
    clip = Media.from_bytes(tiny_wav(1))
    request = GenerationRequest(prompt=f"<|user|>{MEDIA_MARKER}what is it?<|end|><|assistant|>", media=(clip,),
                                max_tokens=6, sampling=GREEDY)
    text, final = model.generate(request).collect()
    plain = len(model.tokenize("<|user|><|audio_bos|><|audio_eos|>what is it?<|end|><|assistant|>",
                               parse_special=True))
    assert final.prompt_tokens == plain + 750 and final.completion_tokens == 6  # 30 s of audio → 750 tokens
    again_text, again = model.generate(request).collect()
    assert again.cached_tokens > 750 and again_text == text  # the same clip: its cells are reused
    with pytest.raises(InvalidMedia, match="takes audio, not images"):
        model.generate(ask())


def test_prepare_chat_places_images_and_one_load_serves_text_and_images(wb, tiny_model_path, tmp_path):
    from workbench.chat.prepare import prepare_chat

    model = wb.library.import_file(tiny_model_path, mmproj=write_tiny_projector(tmp_path / "mmproj.gguf"))
    first, second = (Media.from_bytes(tiny_png(seed)) for seed in (11, 12))
    short = {"num_predict": 2}
    with_first = prepare_chat(wb, model.name, [{"role": "user", "content": "look", "images": [first]}],
                              parameters=short)
    with_second = prepare_chat(wb, model.name, [{"role": "user", "content": "look", "images": [second]}],
                               parameters=short)
    text_only = prepare_chat(wb, model.name, [{"role": "user", "content": "look"}], parameters=short)
    assert with_first.prompt == with_second.prompt == f"<|user|>{MEDIA_MARKER}look<|end|><|assistant|>"
    assert with_first.request.media == (first,) and text_only.request.media == ()
    assert with_first.prompt_sha256 != with_second.prompt_sha256  # provenance tells the images apart
    assert with_first.load == text_only.load and with_first.load.mmproj_path == model.projector_path
    assert len(wb.runtime.loaded()) == 1
    _, plain = text_only.generate(wb.runtime).collect()
    _, final = with_first.generate(wb.runtime).collect()
    assert final.prompt_tokens == plain.prompt_tokens + N_IMAGE_TOKENS


def test_a_clip_the_projector_cannot_decode_is_refused(runtime, tiny_model_path, models_dir):
    from tests.tinyvision import write_tiny_audio_projector

    projector = write_tiny_audio_projector(models_dir / "tiny-audio-mmproj.gguf")
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=str(projector), n_ctx=1024))
    junk = Media.from_bytes(b"ID3" + bytes(200))  # an MP3 by its header, nothing decodable after it
    with pytest.raises(InvalidMedia, match=r"could not read the audio \(audio/mpeg\)"):
        model.generate(GenerationRequest(prompt=f"<|user|>{MEDIA_MARKER}?<|end|><|assistant|>", media=(junk,)))


def test_a_gemma3_style_image_is_decoded_in_one_piece_with_both_way_attention(runtime, tiny_model_path, models_dir):
    from tests.tinyvision import GEMMA3_IMAGE_SIZE, N_GEMMA3_IMAGE_TOKENS, write_tiny_gemma3_projector

    projector = str(write_tiny_gemma3_projector(models_dir / "tiny-gemma3-mmproj.gguf"))
    model = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=projector, n_ctx=256, n_parallel=1,
                                                         reproducible=False))
    picture = Media.from_bytes(tiny_png(13, size=GEMMA3_IMAGE_SIZE))
    request = GenerationRequest(prompt=f"<|user|>{MEDIA_MARKER}what?<|end|><|assistant|>", media=(picture,),
                                max_tokens=6, sampling=GREEDY)
    text, final = model.generate(request).collect()
    frame = len(model.tokenize("<|user|><start_of_image><end_of_image>what?<|end|><|assistant|>",
                               parse_special=True))
    assert final.prompt_tokens == frame + N_GEMMA3_IMAGE_TOKENS and final.completion_tokens == 6
    again_text, again = model.generate(request).collect()
    assert again_text == text and again.cached_tokens >= final.prompt_tokens - 10  # reused, image included
    small = runtime.acquire(tiny_model_path, LoadOptions(mmproj_path=projector, n_ctx=256, n_batch=8, n_ubatch=8))
    with pytest.raises(InvalidMedia, match=r"takes 16 tokens decoded at once.*num_batch ≥ 16"):
        small.generate(request)  # refused up front: llama.cpp would abort the process on this decode
