"""Measuring models: one prompt across targets (`compare.py`), perplexity and KL divergence (`quality.py`),
their reports (`report.py`) and the endpoint load test (`bench.py`).
"""

from .compare import CompareResult, compare
from .quality import QualityResult, quality

__all__ = ["CompareResult", "QualityResult", "compare", "quality"]
