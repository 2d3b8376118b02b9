"""Process-wide settings llama.cpp's native libraries read once, so they are set before `llama_cpp` is imported.

`workbench/engine/__init__.py` imports this module first; each value is a default (setdefault), so a user's own
environment still wins.

- GGML_CPU_TILED_MM=0: ggml-cpu's tiled K-quant matmul runs only for >= 8 rows, so a row's result would depend on
  how many rows share its batch; switched off, K-quants use one vec_dot per output element (scheduler.py,
  reproducible mode). Throughput mode loses nothing measurable: its weights are repacked, which bypasses the
  tiled path. ggml reads it at the process's first matmul.
- OMP_WAIT_POLICY=ACTIVE, GOMP_SPINCOUNT=300000: ggml's CPU backend (an OpenMP build) synchronises its threads
  with an `omp barrier` after every graph node. Every thread that has called llama_decode keeps an OpenMP team,
  and once the teams' threads outnumber the CPUs, libgomp "throttles": barriers spin 1,000 times instead of
  300,000 before sleeping in the kernel, so each of the hundreds of barriers per decode becomes a futex wait.
  Measured on gemma-3-270m, 2 cores: a bare decode loop ran at 64-86 tok/s while a second, idle decoder thread
  (another loaded model's scheduler) lived, 89-92 alone. ACTIVE with the default spin count keeps the
  unthrottled 300,000 for every team: 88-90 tok/s with the second thread, unchanged alone, and still no CPU
  burnt when idle (0.01 s of CPU over 3 idle seconds either way: threads sleep after the spin). libgomp reads
  these when it is loaded, i.e. when llama_cpp is first imported.
"""

import os

for _name, _value in (("GGML_CPU_TILED_MM", "0"), ("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "300000")):
    os.environ.setdefault(_name, _value)
