"""Input checks shared by every entry point (torch-free): values that would otherwise be
silently truncated or propagate as NaN are refused with the name of the offending input."""
from __future__ import annotations

import numpy as np


def integer_array(values, name: str) -> np.ndarray:
    """``values`` as an int64 array, refusing what is not integral (26.9 is not an atomic
    number, 1.9 not an index) rather than truncating it; bools are refused as well."""
    a = np.asarray(values)
    if a.dtype == bool:
        raise ValueError(f"{name} must be integers, got booleans")
    if a.size == 0 or np.issubdtype(a.dtype, np.integer):
        return a.astype(np.int64)
    try:
        f = a.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be integers, got {a.dtype}") from None
    bad = ~np.isfinite(f) | (f != np.round(f))
    if bad.any():
        k = int(np.flatnonzero(bad.reshape(-1))[0])
        raise ValueError(f"{name} must be integers: element {k} is {float(f.reshape(-1)[k])!r}")
    return f.astype(np.int64)


def seed_value(x, name: str = "seed") -> int:
    """A random seed (or stream) as an int in [0, 2**64): the generators take 64 bits, so a
    larger one would overflow in C and a fraction would be truncated; both are refused."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got a boolean")
    if isinstance(x, (float, np.floating)):
        if not (np.isfinite(x) and float(x).is_integer()):
            raise ValueError(f"{name} must be an integer, got {x!r}")
        x = int(x)
    try:
        v = int(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {type(x).__name__}") from None
    if v != x or not 0 <= v < 2 ** 64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {x!r}")
    return v
