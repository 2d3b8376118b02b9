"""Promotion: a preset handed over to a serving engine (vLLM, TGI, llama-server, Ollama) as the files it needs.

One module per engine (`plan(source) -> EnginePlan`), the preset's facts gathered once (source.py), compose and
Kubernetes writers (deploy.py), schemas for every file (schemas.py) and the writer (service.py). docs/design.md §15.
"""

from .service import ENGINES, Promotion, promote

__all__ = ["ENGINES", "Promotion", "promote"]
