"""Quality benchmark: `workbench quality` against llama.cpp's llama-perplexity, figure for figure, and its speed.

    .venv/bin/python tests/benchmarks/bench_quality.py [--threads 2] [--types Q8_0] [--window 512] [--text PATH]
        [--llama-cpp-bin DIR]

gemma-3-270m Q4_K_M is the reference; each --types quantization is made from it (requantized, as a user with
only that file would). Through the real service (a temporary data dir) it prints:
  * each candidate's KL-divergence report, and the time of a first run (computes and stores the reference) and a
    second one (reuses it, loading only the candidates), against prompt processing through the scheduler;
  * with --llama-cpp-bin DIR (llama-perplexity built from the llama.cpp that llama-cpp-python vendors — not part
    of this repository): llama-perplexity's report on the same text, run as the engine computes (the same batch,
    no weight repacking, GGML_CPU_TILED_MM=0 as engine/process_env.py sets, a full SWA cache), side by side with
    the relative difference of each figure; then llama-perplexity in its default mode (repacked weights, tiled
    K-quant matmuls, 2048-token batches) on the first candidate, and the KL divergence between the reference
    computed in that mode and in the engine's — what the kernels alone move.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_serve import gemma_path
from workbench.app import Workbench
from workbench.engine import GenerationRequest, LoadOptions, SamplingParams
from workbench.engine.quantize import quant_type, quantize_file
from workbench.measure.quality import default_text, load_text, quality
from workbench.measure.reference import StoredReference
from workbench.measure.statistics import report_lines
from workbench.paths import Paths

# a report line: label, value, optional "± error", optional unit
LINE = re.compile(r"^(?P<label>[^:]+?)\s*:\s*(?P<value>-?[\d.]+)%?(?:\s*±\s*(?P<error>[\d.]+))?\s*%?\s*$")
ENGINE_MODE = {"GGML_CPU_TILED_MM": "0", "OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "300000"}


def parse_report(text: str) -> dict[str, tuple[float, float | None, int]]:
    """label -> (value, error, digits printed) for every statistic line of a llama-perplexity report."""
    figures = {}
    for line in text.splitlines():
        match = LINE.match(line.strip().replace("Δ", "D"))
        if match and not match["label"].startswith(("llama", "perplexity", "kl_divergence", "[")):
            value = match["value"]
            digits = len(value.split(".")[1]) if "." in value else 0
            figures[match["label"]] = (float(value), float(match["error"]) if match["error"] else None, digits)
    return figures


def llama_perplexity(binary: Path, model: Path, text: Path, base: Path, *, window: int, batch: int | None,
                     threads: int, compare: bool, engine_mode: bool) -> tuple[str, float]:
    """Run llama-perplexity (writing `base`, or comparing against it); its output and wall time."""
    args = [str(binary / "llama-perplexity"), "-m", str(model), "-f", str(text), "-c", str(window),
            "-t", str(threads), "--kl-divergence-base", str(base)]
    if engine_mode:
        args += ["-b", str(batch), "-ub", str(batch), "--no-repack", "--swa-full"]
    if compare:
        args.append("--kl-divergence")
    env = {k: v for k, v in os.environ.items() if k not in ENGINE_MODE}
    env.update(ENGINE_MODE if engine_mode else {})
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"llama-perplexity failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr, time.perf_counter() - started


def base_tokens(path: Path) -> list[int]:
    """The tokens llama-perplexity wrote into its base file (to check both scored the same tokens)."""
    with path.open("rb") as f:
        assert f.read(8) == b"_logits_"
        n_ctx, _n_vocab, n_chunk = struct.unpack("<Iii", f.read(12))
        return list(struct.unpack(f"<{n_ctx * n_chunk}i", f.read(4 * n_ctx * n_chunk)))


def side_by_side(ours: dict, theirs: dict) -> None:
    print("| statistic | workbench quality | llama-perplexity | relative difference |")
    print("|---|---|---|---|")
    for label, (value, error, digits) in theirs.items():
        mine = ours.get(label)
        if mine is None:
            continue
        difference = (mine[0] - value) / abs(value) if value else 0.0
        note = "" if abs(mine[0] - value) > 0.5 * 10 ** -digits else " (within print precision)"
        shown = f"{mine[0]:.{digits}f}" + (f" ± {mine[1]:.{digits}f}" if mine[1] is not None else "")
        theirs_shown = f"{value:.{digits}f}" + (f" ± {error:.{digits}f}" if error is not None else "")
        print(f"| {label} | {shown} | {theirs_shown} | {100 * difference:+.3f}%{note} |")


def prefill_rate(wb: Workbench, name: str, tokens: list[int], window: int) -> float:
    """Prompt tokens per second through the scheduler for the same windows (one request each, nothing cached)."""
    model = wb.library.get(name)
    options = LoadOptions(reproducible=True, n_ctx=window)
    total = seconds = 0.0
    for start in range(0, len(tokens) - window + 1, window):
        request = GenerationRequest(prompt_tokens=tuple(tokens[start:start + window]),
                                    sampling=SamplingParams(temperature=0), max_tokens=1)
        _, final = wb.runtime.generate(model, request, options).collect()
        total += final.prefilled_tokens
        seconds += final.ttft_seconds
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--types", default="Q8_0")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--text", type=Path, default=None, help="a UTF-8 file or a folder (default: bundled)")
    parser.add_argument("--llama-cpp-bin", type=Path, default=None, help="where llama-perplexity is")
    args = parser.parse_args()
    text = load_text(args.text) if args.text else default_text()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs")
        with Workbench(paths) as wb:
            wb.update_settings(threads=args.threads, keep_alive_seconds=-1)
            run(wb, args, text, root)


def run(wb: Workbench, args, text: str, root: Path) -> None:
    source = gemma_path()
    wb.library.import_file(source, name="gemma:Q4_K_M")
    names, files = ["gemma:Q4_K_M"], [source]
    for kind in args.types.split(","):
        files.append(quantize_file(source, root / f"gemma-{kind}.gguf", quant_type(kind), allow_requantize=True,
                                   threads=args.threads))
        names.append(wb.library.import_file(files[-1], name=f"gemma:{kind}").name)
    started = time.perf_counter()
    first = quality(wb, names, text=text, window=args.window)
    first_seconds = time.perf_counter() - started
    for name in names:
        wb.runtime.unload(wb.library.get(name))
    started = time.perf_counter()
    second = quality(wb, names, text=text, window=args.window)
    second_seconds = time.perf_counter() - started
    assert second.reference.reused and second.targets == first.targets, "a reused reference must change nothing"
    with StoredReference(Path(first.reference.path)) as stored:
        tokens = stored.tokens.tolist()
        batch = stored.info.batch
    rate = prefill_rate(wb, names[0], tokens, args.window)
    print(f"text: {len(tokens)} tokens, {first.windows} windows of {first.window}, "
          f"{first.targets[0].tokens_scored} positions scored; threads {args.threads}; load average "
          f"{os.getloadavg()[0]:.1f}")
    positions = first.targets[0].tokens_scored
    size = first.reference.size_bytes
    print(f"reference stored: {size / 1e6:.1f} MB = {size / positions / 1e3:.1f} kB per position, "
          f"{first.reference.tokens_per_position:.0f} tokens kept per position")
    scored = first.windows * first.window
    print(f"first run (reference computed and stored, {len(names) - 1} candidate(s)): {first_seconds:.1f} s = "
          f"{scored * len(names) / first_seconds:.0f} model-tokens/s; second run (reference reused): "
          f"{second_seconds:.1f} s = {scored * (len(names) - 1) / second_seconds:.0f} model-tokens/s; prompt "
          f"processing through the scheduler {rate:.0f} tok/s")
    for name, row in zip(names[1:], first.targets[1:], strict=True):
        print(f"\n== {name} against {names[0]} (workbench quality)")
        print("\n".join(report_lines(row.report)))
    if args.llama_cpp_bin is not None:
        compare_with_llama(args, root, text, files, first, tokens, batch)


def compare_with_llama(args, root: Path, text: str, files: list[Path], result, tokens: list[int],
                       batch: int) -> None:
    text_file = root / "text.txt"
    text_file.write_text(text + "\n", encoding="utf-8")  # llama-perplexity drops one final newline
    base = root / "base.kld"
    common = {"window": args.window, "batch": batch, "threads": args.threads}
    _, base_seconds = llama_perplexity(args.llama_cpp_bin, files[0], text_file, base, compare=False,
                                       engine_mode=True, **common)
    assert base_tokens(base) == tokens[:len(base_tokens(base))], "llama-perplexity tokenized the text otherwise"
    print(f"\nllama-perplexity's base file: {base.stat().st_size / 1e6:.1f} MB "
          f"({base.stat().st_size / result.targets[0].tokens_scored / 1e3:.1f} kB per position)")
    for path, row in zip(files[1:], result.targets[1:], strict=True):
        output, seconds = llama_perplexity(args.llama_cpp_bin, path, text_file, base, compare=True,
                                           engine_mode=True, **common)
        print(f"\n== {path.name}: workbench quality vs llama-perplexity in the engine's mode "
              f"(base {base_seconds:.1f} s + {seconds:.1f} s)\n")
        side_by_side(parse_report("\n".join(report_lines(row.report))), parse_report(output))
    default_base = root / "default.kld"
    _, _ = llama_perplexity(args.llama_cpp_bin, files[0], text_file, default_base, compare=False,
                            engine_mode=False, **common)
    output, _ = llama_perplexity(args.llama_cpp_bin, files[1], text_file, default_base, compare=True,
                                 engine_mode=False, **common)
    print(f"\n== {files[1].name} vs llama-perplexity in its default mode (repacked weights, tiled matmuls)\n")
    side_by_side(parse_report("\n".join(report_lines(result.targets[1].report))), parse_report(output))
    output, _ = llama_perplexity(args.llama_cpp_bin, files[0], text_file, base, compare=True, engine_mode=False,
                                 **common)
    kernels = parse_report(output)
    print(f"\n== {files[0].name} in llama-perplexity's default mode against itself in the engine's mode: "
          f"KLD {kernels['Mean    KLD'][0]:.6f}, max {kernels['Maximum KLD'][0]:.6f}, same top "
          f"{kernels['Same top p'][0]:.3f}%, PPL {kernels['Mean PPL(Q)'][0]:.4f} vs {kernels['Mean PPL(base)'][0]:.4f}")


if __name__ == "__main__":
    main()
