"""Process-wide settings llama.cpp's native libraries read once, set before `llama_cpp` is imported.

`engine/__init__.py` imports this module first; each value is a default (setdefault), so the user's own
environment wins. What GGML_CPU_TILED_MM, OMP_WAIT_POLICY and GOMP_SPINCOUNT fix: docs/design.md §4.11.
"""

import os

for _name, _value in (("GGML_CPU_TILED_MM", "0"), ("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "300000")):
    os.environ.setdefault(_name, _value)
