"""Load tester for any OpenAI-compatible endpoint (`workbench bench`): sweep concurrency, find the knee.

`run_sweep(url, model, concurrency=...)` sends streaming requests from N clients per level and reports aggregate
tok/s, TTFT and inter-token latency p50/p95 and errors, after one warm-up request. Works against this endpoint,
llama-server, llama_cpp.server, vLLM, TGI and Ollama's /v1 (docs/design.md §8).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from ..errors import InvalidParameter

DEFAULT_PROMPTS = (
    "The history of the printing press began",
    "Write a short story about a lighthouse keeper who",
    "Explain how a refrigerator works, step by step:",
    "The three most important ideas in economics are",
    "Once upon a time in a small mountain village,",
    "A recipe for bread: first,",
    "The main differences between Python and Go are",
    "Dear diary, today I finally",
)


@dataclass
class RequestResult:
    ok: bool
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    output_tokens: int
    tokens_per_second: float
    ttft_p50: float | None
    ttft_p95: float | None
    itl_p50: float | None
    itl_p95: float | None
    first_error: str | None = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def load_prompts(path: Path | None) -> list[str]:
    """One prompt per line, or JSON lines with a "prompt" field; blank lines are skipped."""
    if path is None:
        return list(DEFAULT_PROMPTS)
    prompts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                line = json.loads(line)["prompt"]
            except (ValueError, KeyError, TypeError):
                raise InvalidParameter(f"{path}: a JSON line needs a \"prompt\" string") from None
        prompts.append(line)
    if not prompts:
        raise InvalidParameter(f"{path} holds no prompts")
    return prompts


def _body(model: str, prompt: str, max_tokens: int, chat: bool, temperature: float, usage: bool,
          ignore_eos: bool) -> dict:
    body = {"model": model, "max_tokens": max_tokens, "temperature": temperature, "stream": True}
    if ignore_eos:
        body["ignore_eos"] = True
    if usage:
        body["stream_options"] = {"include_usage": True}
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


def _content(chunk: dict, chat: bool) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    if chat:
        return (choices[0].get("delta") or {}).get("content") or ""
    return choices[0].get("text") or ""


async def one_request(client: httpx.AsyncClient, url: str, body: dict, chat: bool) -> RequestResult:
    path = "/chat/completions" if chat else "/completions"
    result = RequestResult(ok=False)
    start = last = time.perf_counter()
    chunks = 0
    usage_tokens = None
    try:
        async with client.stream("POST", url + path, json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", "replace")[:200]
                return RequestResult(ok=False, error=f"HTTP {response.status_code}: {text}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return RequestResult(ok=False, error=str(chunk["error"])[:200])
                if chunk.get("usage"):
                    usage_tokens = chunk["usage"].get("completion_tokens")
                if _content(chunk, chat):
                    now = time.perf_counter()
                    if result.ttft is None:
                        result.ttft = now - start
                    else:
                        result.gaps.append(now - last)
                    last = now
                    chunks += 1
    except (httpx.HTTPError, ValueError) as exc:
        return RequestResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
    result.ok = True
    result.tokens = usage_tokens if usage_tokens is not None else chunks
    return result


async def run_level(url: str, model: str, concurrency: int, prompts: Sequence[str], *, max_tokens: int,
                    requests_per_client: int, chat: bool, temperature: float, api_key: str | None,
                    usage: bool, timeout: float, ignore_eos: bool = False) -> LevelResult:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout) as client:

        async def worker(index: int) -> list[RequestResult]:
            out = []
            for round_ in range(requests_per_client):
                prompt = prompts[(index + round_ * concurrency) % len(prompts)]
                body = _body(model, prompt, max_tokens, chat, temperature, usage, ignore_eos)
                out.append(await one_request(client, url, body, chat))
            return out

        start = time.perf_counter()
        results = [r for batch in await asyncio.gather(*(worker(i) for i in range(concurrency))) for r in batch]
        seconds = time.perf_counter() - start
    return summarize(concurrency, results, seconds)


def summarize(concurrency: int, results: list[RequestResult], seconds: float) -> LevelResult:
    good = [r for r in results if r.ok]
    ttfts = [r.ttft for r in good if r.ttft is not None]
    gaps = [g for r in good for g in r.gaps]
    tokens = sum(r.tokens for r in good)
    errors = [r for r in results if not r.ok]
    return LevelResult(
        concurrency=concurrency, requests=len(results), errors=len(errors), seconds=seconds,
        output_tokens=tokens, tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        ttft_p50=percentile(ttfts, 50), ttft_p95=percentile(ttfts, 95),
        itl_p50=percentile(gaps, 50), itl_p95=percentile(gaps, 95),
        first_error=errors[0].error if errors else None)


def run_sweep(url: str, model: str, concurrency: Sequence[int] = (1, 2, 4, 8, 16), *,
              prompts: Sequence[str] = DEFAULT_PROMPTS, max_tokens: int = 128, requests_per_client: int = 2,
              chat: bool = False, temperature: float = 0.0, api_key: str | None = None, usage: bool = True,
              timeout: float = 600.0, warmup: bool = True, ignore_eos: bool = False,
              on_level=None) -> list[LevelResult]:
    """Run every level in turn; `on_level(LevelResult)` is called as each finishes.

    ignore_eos sends llama-server's and vLLM's `ignore_eos` extension (Workbench honours it too): every request
    then generates exactly max_tokens, so servers are compared on equal work, not on where each one's output
    happened to end (greedy output differs with batch composition). A server that does not know the field
    ignores it; the token counts in the results show whether it did.
    """
    if not concurrency or any(c < 1 for c in concurrency):
        raise InvalidParameter("concurrency levels must be positive integers, e.g. 1,2,4,8,16")
    if max_tokens < 1 or requests_per_client < 1:
        raise InvalidParameter("max tokens and requests per client must be at least 1")
    url = url.rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    common = {"max_tokens": max_tokens, "chat": chat, "temperature": temperature, "api_key": api_key,
              "usage": usage, "timeout": timeout, "ignore_eos": ignore_eos}

    async def sweep() -> list[LevelResult]:
        if warmup:
            first = await run_level(url, model, 1, prompts, requests_per_client=1, **{**common, "max_tokens": 4})
            if first.errors:
                raise InvalidParameter(f"the endpoint did not answer a warm-up request: {first.first_error}")
        levels = []
        for level in concurrency:
            result = await run_level(url, model, level, prompts, requests_per_client=requests_per_client, **common)
            levels.append(result)
            if on_level is not None:
                on_level(result)
        return levels

    return asyncio.run(sweep())


def as_json(levels: Sequence[LevelResult]) -> list[dict]:
    return [asdict(level) for level in levels]
