"""Logprobs benchmark: what asking for them costs a single greedy stream on gemma-3-270m (262,144-token vocabulary).

Through the engine (Runtime.generate, one slot): 128 greedy tokens with logprobs off, then with 5 top
alternatives per token (GenerationRequest.logprobs=5: a log-softmax and an argpartition over the whole
vocabulary per token), alternating several rounds in one run; prints decode tokens/s of each round and the
ratio of the medians. Plus the echo path: prompt logprobs of a 512-token prompt against its plain prefill. Run:

    .venv/bin/python tests/benchmarks/bench_logprobs.py [--threads 2] [--rounds 4] [--tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_serve import gemma_path
from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams
from workbench.measure.quality import default_text
from workbench.settings import Settings

PROMPT = "The history of the printing press begins"


def decode_rate(runtime: Runtime, path: Path, options: LoadOptions, tokens: int, logprobs: int | None) -> float:
    sampling = SamplingParams(temperature=0, repeat_penalty=1.0, ignore_eos=True)  # exactly `tokens` tokens
    request = GenerationRequest(prompt=PROMPT, max_tokens=tokens, logprobs=logprobs, sampling=sampling)
    _, final = runtime.generate(path, request, options).collect()
    if final.completion_tokens != tokens:
        raise SystemExit(f"expected {tokens} tokens, got {final.completion_tokens}")
    return final.decode_tokens_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    path = gemma_path()
    runtime = Runtime(Settings(threads=args.threads, parallel_slots=1, default_context=1024, keep_alive_seconds=-1))
    options = LoadOptions(n_ctx=1024)
    decode_rate(runtime, path, options, 16, None)  # warm-up: threads, weight pages
    off, on = [], []
    for round_ in range(args.rounds):
        off.append(decode_rate(runtime, path, options, args.tokens, None))
        on.append(decode_rate(runtime, path, options, args.tokens, 5))
        print(f"round {round_ + 1}: logprobs off {off[-1]:7.1f} tok/s   top 5 {on[-1]:7.1f} tok/s")
    ratio = statistics.median(on) / statistics.median(off)
    print(f"median: off {statistics.median(off):.1f} tok/s, top_logprobs 5 {statistics.median(on):.1f} tok/s, "
          f"ratio {ratio:.3f} ({(1 - ratio) * 100:.1f}% slower)")
    echo(runtime, path, options)
    runtime.close()


def echo(runtime: Runtime, path: Path, options: LoadOptions) -> None:
    """Prompt logprobs (echo) of 512 tokens against the scheduler's prefill of the same tokens."""
    loaded = runtime.acquire(path, options)
    tokens = tuple(loaded.tokenize(default_text())[:512])
    request = GenerationRequest(prompt_tokens=tokens, max_tokens=1, sampling=SamplingParams(temperature=0))
    _, final = runtime.generate(path, request, options).collect()
    prefill = final.prefilled_tokens / final.ttft_seconds
    started = time.perf_counter()
    loaded.prompt_logprobs(request, 5)
    rate = len(tokens) / (time.perf_counter() - started)
    print(f"echo: prompt logprobs {rate:.0f} tok/s vs prefill {prefill:.0f} tok/s (ratio {rate / prefill:.3f})")


if __name__ == "__main__":
    main()
