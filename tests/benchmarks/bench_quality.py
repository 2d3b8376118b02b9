"""Quality benchmark: gemma-3-270m Q4_K_M against quantizations made from it, on the bundled text.

Prints, per target, what `workbench quality` reports (perplexity, KL mean / p99 / max, same top %), and the
scoring rate against the model's own prompt-processing rate measured in the same run: the same windows
prefilled through the runtime's scheduler (`Runtime.generate`, max_tokens=1, prompt tok/s = prefilled tokens /
TTFT) versus scored alone (`LoadedModel.score`: every window decoded in 64-token batches, logits of the scored
half copied out and log-softmaxed) and in lockstep with the reference. The candidates are requantized from the
Q4_K_M download (as a user with only that file would), so they measure the loss on top of Q4_K_M. Run:

    .venv/bin/python tests/benchmarks/bench_quality.py [--threads 2] [--types Q8_0,Q3_K_M] [--window 512]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_serve import gemma_path
from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams
from workbench.engine.quantize import quant_type, quantize_file
from workbench.engine.scoring import score_models
from workbench.measure.quality import default_text
from workbench.settings import Settings


def prefill_rate(runtime: Runtime, path: Path, options: LoadOptions, windows: list[list[int]]) -> float:
    """Prompt tokens per second through the scheduler for the same windows (one request each, nothing cached)."""
    tokens = seconds = 0.0
    for window in windows:
        request = GenerationRequest(prompt_tokens=tuple(window), sampling=SamplingParams(temperature=0), max_tokens=1)
        _, final = runtime.generate(path, request, options).collect()
        if final.cached_tokens:
            raise SystemExit("a prefill reused the cache: the comparison would be unfair")
        tokens += final.prefilled_tokens
        seconds += final.ttft_seconds
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--types", default="Q8_0,Q3_K_M")
    parser.add_argument("--window", type=int, default=512)
    args = parser.parse_args()
    source = gemma_path()
    runtime = Runtime(Settings(threads=args.threads, parallel_slots=1, default_context=args.window,
                               keep_alive_seconds=-1))
    options = LoadOptions(reproducible=True, n_ctx=args.window)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [source]
        for name in args.types.split(","):
            paths.append(quantize_file(source, Path(tmp) / f"gemma-{name}.gguf", quant_type(name),
                                       allow_requantize=True, threads=args.threads))
        models = [runtime.acquire(p, options) for p in paths]
        reference = models[0]
        tokens = reference.tokenize(default_text())
        windows = [tokens[i:i + args.window] for i in range(0, len(tokens) - args.window + 1, args.window)]
        newline = reference.tokenize("\n", add_special=False)[0]  # warm-up: threads, weight pages; no shared prefix
        runtime.generate(source, GenerationRequest(prompt_tokens=(newline,) * 32, max_tokens=1), options).collect()
        prompt_rate = prefill_rate(runtime, source, options, windows)
        started = time.perf_counter()
        alone = reference.score(tokens, window=args.window)
        alone_rate = len(windows) * args.window / (time.perf_counter() - started)
        started = time.perf_counter()
        joint = score_models(reference, models[1:], tokens, window=args.window)
        joint_seconds = time.perf_counter() - started
        _report(args, paths, tokens, windows, joint, prompt_rate, alone_rate, joint_seconds, alone)
    runtime.close()


def _report(args, paths, tokens, windows, joint, prompt_rate, alone_rate, joint_seconds, alone) -> None:
    print(f"text: {len(tokens)} tokens, {len(windows)} windows of {args.window}, "
          f"{joint.reference.tokens_scored} positions scored; threads {args.threads}")
    print(f"{'target':<26} {'PPL':>10} {'KL mean':>10} {'KL p99':>9} {'KL max':>9} {'same top':>9}")
    print(f"{paths[0].name:<26} {joint.reference.perplexity:>10.4f} {'reference':>10}")
    for path, cand in zip(paths[1:], joint.candidates, strict=True):
        print(f"{path.name:<26} {cand.score.perplexity:>10.4f} {cand.kl_mean:>10.5f} {cand.kl_p99:>9.4f} "
              f"{cand.kl_max:>9.4f} {cand.same_top_percent:>8.1f}%")
    assert alone.perplexity == joint.reference.perplexity, "alone and in lockstep must give the same figure"
    models = len(paths)
    joint_rate = len(windows) * args.window * models / joint_seconds
    print(f"prompt processing through the scheduler: {prompt_rate:8.1f} tok/s (reference)")
    print(f"scoring one model alone:                 {alone_rate:8.1f} tok/s  ({alone_rate / prompt_rate:.2f}x)")
    print(f"scoring {models} models in lockstep:           {joint_rate:8.1f} tok/s  ({joint_rate / prompt_rate:.2f}x, "
          f"model-tokens per second; {joint_seconds:.1f} s)")


if __name__ == "__main__":
    main()
