"""Measuring models: one prompt across targets (`compare.py`), perplexity and KL divergence (`quality.py`, with
`statistics.py` and the stored references of `reference.py`), their reports (`report.py`, `report_html.py`) and
the endpoint load test (`bench.py`).
"""

from .compare import CompareResult, compare
from .quality import QualityResult, quality

__all__ = ["CompareResult", "QualityResult", "compare", "quality"]
