"""The C++ cell-list neighbour list against ASE on random triclinic cells."""
import numpy as np
import pytest
from ase.neighborlist import primitive_neighbor_list

from mmace_fast.neighbours import neighbour_list, pairs_once


def _as_set(i, j, s):
    return set(zip(i.tolist(), j.tolist(), map(tuple, s.tolist())))


def _random_cell(rng):
    cell = np.eye(3) * rng.uniform(2.5, 6.0, 3)
    cell += rng.uniform(-1.2, 1.2, (3, 3)) * (1 - np.eye(3))  # triclinic
    return cell


@pytest.mark.parametrize("seed", range(12))
def test_matches_ase_random_cells(seed):
    rng = np.random.default_rng(seed)
    cell = _random_cell(rng)
    n = int(rng.integers(1, 12))
    frac = rng.uniform(-0.3, 1.3, (n, 3))          # atoms outside the cell too
    pos = frac @ cell
    pbc = rng.integers(0, 2, 3).astype(bool) if seed % 3 else np.ones(3, bool)
    cutoff = rng.uniform(1.5, 9.0)                  # often larger than half the cell
    i, j, s = neighbour_list(pos, cell, pbc, cutoff)
    ia, ja, sa = primitive_neighbor_list("ijS", pbc, cell, pos, cutoff, self_interaction=False)
    assert _as_set(i, j, s) == _as_set(ia, ja, sa)
    assert len(i) == len(ia)  # no duplicates
    # bond vectors are within the cutoff
    r = pos[j] - pos[i] + s @ cell
    assert np.all(np.linalg.norm(r, axis=1) < cutoff)


def test_multiple_images_of_one_neighbour():
    cell = np.eye(3) * 2.0
    pos = np.zeros((1, 3))
    i, j, s = neighbour_list(pos, cell, [True] * 3, 4.1)
    # self images at |S| <= 2 along axes, face diagonals etc.: count against brute force
    grid = np.array([[a, b, c] for a in range(-3, 4) for b in range(-3, 4) for c in range(-3, 4)])
    d = np.linalg.norm(grid * 2.0, axis=1)
    assert len(i) == np.count_nonzero((d > 0) & (d < 4.1))


def test_non_periodic_zero_cell_and_pairs_once():
    rng = np.random.default_rng(5)
    pos = rng.uniform(0, 5, (20, 3))
    i, j, s = neighbour_list(pos, np.zeros((3, 3)), [False] * 3, 2.0)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    assert len(i) == np.count_nonzero((d < 2.0) & (d > 0))
    assert not s.any()
    once = pairs_once(i, j, s)
    assert once.sum() * 2 == len(i)


@pytest.mark.parametrize("bad", ["nan", "cutoff", "singular", "shape"])
def test_bad_input_raises(bad):
    pos = np.zeros((2, 3))
    pos[1] = 1.0
    cell, pbc, cutoff = np.eye(3) * 3, [True] * 3, 2.0
    if bad == "nan":
        pos[0, 0] = np.nan
    elif bad == "cutoff":
        cutoff = 0.0
    elif bad == "singular":
        cell = np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]])
    else:
        pos = np.zeros((2, 2))
    with pytest.raises(ValueError):
        neighbour_list(pos, cell, pbc, cutoff)


@pytest.mark.parametrize("cell, match", [
    (np.diag([1e-4, 5.0, 5.0]), "too thin along lattice direction 0.*at least 0.005"),
    # 5e8 periodic images within 5 A: refused by the memory estimate before the bin search
    (np.diag([1e-2, 1e-2, 1e-2]), "bins to scan per atom|needs about .* GiB"),
    (np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 1e-300]]), "singular")])
def test_needle_cells_are_refused_instead_of_overflowing(cell, match):
    """Issue 35: a needle-thin periodic cell overflowed the int bin reach and returned an
    energy; the search now states the smallest spacing it accepts."""
    with pytest.raises((ValueError, MemoryError), match=match):
        neighbour_list(np.zeros((1, 3)), cell, [True, True, True], 5.0)
