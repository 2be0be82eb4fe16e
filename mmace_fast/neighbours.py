"""Neighbour lists from the C++ cell-list search (src_cpp/src/neighbour_list.cpp).

Conventions: full directed list (both i->j and j->i), no self pair at zero shift, self-images
included when the cutoff exceeds a lattice period; bond vector
``r_ij = positions[j] - positions[i] + shifts @ cell``.
"""
from __future__ import annotations

import numpy as np

from mmace_fast import _core
from mmace_fast.conventions import COINCIDENT_A
from mmace_fast.structure import as_pbc


def _usable_cell(positions, cell, pbc, cutoff):
    """Replace degenerate cell vectors along non-periodic directions by a bounding box."""
    cell = np.array(cell, dtype=np.float64, copy=True)
    if cell.shape != (3, 3):
        raise ValueError(f"cell has shape {cell.shape}, expected (3, 3)")
    pbc = as_pbc(pbc)
    if not np.all(np.isfinite(cell)):
        raise ValueError("non-finite cell")
    extent = np.ptp(positions, axis=0).max() if len(positions) else 0.0
    length = extent + 2.0 * cutoff + 1.0
    for d in range(3):
        if pbc[d] or np.linalg.norm(cell[d]) > 1e-8:
            continue
        others = [cell[k] for k in range(3) if k != d and np.linalg.norm(cell[k]) > 1e-8]
        if len(others) == 2:
            v = np.cross(others[0], others[1])
        else:
            v = np.eye(3)[d]
            for o in others:
                v = v - (v @ o) / (o @ o) * o
        cell[d] = v / np.linalg.norm(v) * length
    if abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError("singular cell: periodic directions need linearly independent vectors")
    return cell, pbc


#: bytes per directed pair of a neighbour list while it is built and returned: i, j (int64),
#: shift (3 int64), distance (float64), plus the C++ buffers they are copied from
BYTES_PER_PAIR = 2 * (8 + 8 + 24 + 8)


def available_memory() -> int | None:
    """Bytes the kernel reports as available (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimated_pairs(positions, cell, pbc, cutoff) -> float:
    """Expected number of directed pairs within ``cutoff``: atoms x density x sphere volume
    (density over the periodic cell, or over the bounding box of a non-periodic cluster)."""
    n = len(positions)
    cell, pbc = _usable_cell(positions, cell, pbc, cutoff)
    if np.all(pbc):
        volume = abs(np.linalg.det(cell))
    else:
        volume = float(np.prod(np.ptp(positions, axis=0) + cutoff)) if n else 1.0
    return n * (n / max(volume, 1e-12)) * 4.0 / 3.0 * np.pi * cutoff ** 3


def check_memory(positions, cell, pbc, cutoff, bytes_per_pair: float = BYTES_PER_PAIR,
                 what: str = "the neighbour list") -> None:
    """MemoryError, before any work, when ``what`` would need more than the available memory
    (estimated from :func:`estimated_pairs`)."""
    avail = available_memory()
    need = estimated_pairs(positions, cell, pbc, cutoff) * bytes_per_pair
    if avail is not None and need > avail:
        raise MemoryError(f"{what} of {len(positions)} atoms within {cutoff:g} A needs about "
                          f"{need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB are available: "
                          "use a smaller system or cutoff")


def neighbour_list(positions, cell, pbc, cutoff, return_distances=False):
    """Full neighbour list within ``cutoff`` (A).

    positions [n, 3] A; cell [3, 3] A (rows are lattice vectors; zero rows allowed along
    non-periodic directions); pbc [3] bool.
    Returns i [P] int64, j [P] int64, shifts [P, 3] int64 (and dist [P] A if asked).
    Coincident atoms (closer than ``conventions.COINCIDENT_A``) are refused: ValueError; a
    list that would not fit in the available memory is refused before the search: MemoryError.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions has shape {positions.shape}, expected (n, 3)")
    if not np.all(np.isfinite(positions)):
        raise ValueError("non-finite positions")
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"cutoff must be positive and finite, got {cutoff}")
    check_memory(positions, cell, pbc, float(cutoff))
    cell, pbc = _usable_cell(positions, cell, pbc, float(cutoff))
    i, j, s, d = _core.neighbour_list(positions, cell, pbc, float(cutoff))
    close = np.flatnonzero(d < COINCIDENT_A)
    if close.size:
        k = close[0]
        raise ValueError(f"coincident atoms: {i[k]} and {j[k]} (image shift {s[k].tolist()}) "
                         f"are {d[k]:.3g} A apart (closer than {COINCIDENT_A:g} A)")
    return (i, j, s, d) if return_distances else (i, j, s)


def pairs_once(i, j, shifts):
    """Mask selecting each unordered pair of a full list once (i < j, or i == j with the image
    shift lexicographically positive)."""
    i, j, s = np.asarray(i), np.asarray(j), np.asarray(shifts)
    first_nonzero = np.where(s[:, 0] != 0, s[:, 0], np.where(s[:, 1] != 0, s[:, 1], s[:, 2]))
    return (i < j) | ((i == j) & (first_nonzero > 0))
