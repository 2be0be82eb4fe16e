"""Test-session settings: torch on one thread (tiny tensors; the box has 2 shared cores) and
float64 as the default dtype (all physics and model code is float64)."""
try:
    import torch
except ImportError:   # tests that do not need torch still run
    torch = None

if torch is not None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
