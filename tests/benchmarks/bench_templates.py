"""Cost of the chat-template caps: render time of the capped sandbox vs a plain ImmutableSandboxedEnvironment
(the reference, measured in the same run), and of Go templates translated to Jinja, by conversation length.

    .venv/bin/python tests/benchmarks/bench_templates.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from jinja2.sandbox import ImmutableSandboxedEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests import chat_fixtures as fx
from workbench.engine.templates import ChatTemplate
from workbench.modelfile.gotemplate import translate


def best_ms(render, repeat: int = 5) -> float:
    render()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    plain = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(fx.HF_QWEN25)
    capped = ChatTemplate(fx.HF_QWEN25)
    go_messages = ChatTemplate(translate(fx.OLLAMA_QWEN25))
    go_legacy = ChatTemplate(translate(fx.OLLAMA_LLAMA3))
    print(f"{'messages':>8} {'plain ms':>9} {'capped ms':>10} {'ratio':>6} {'go qwen2.5':>11} {'go llama3':>10}")
    for n in (10, 200, 2000):
        messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 20}
                    for i in range(n)]
        a = best_ms(lambda m=messages: plain.render(messages=m, add_generation_prompt=True, tools=None))
        b = best_ms(lambda m=messages: capped.render(m))
        c = best_ms(lambda m=messages: go_messages.render(m))
        d = best_ms(lambda m=messages: go_legacy.render(m))
        print(f"{n:>8} {a:>9.2f} {b:>10.2f} {b / a:>5.1f}x {c:>10.1f} {d:>10.1f}")


if __name__ == "__main__":
    main()
