"""Test-session settings: BLAS/OpenMP and torch on one thread (tiny arrays; the box has 2 shared
cores, and threaded BLAS on small matrices is slower under load) and float64 as the default
dtype (all physics and model code is float64)."""
import os

# before numpy / torch load their thread pools (subprocesses inherit these too)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    import torch
except ImportError:   # tests that do not need torch still run
    torch = None

if torch is not None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
