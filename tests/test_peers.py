"""Physics sanity of the peer references in benchmarks/peers.py (no timing is tested)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"
_spec = importlib.util.spec_from_file_location("bench_peers", _path)
peers = importlib.util.module_from_spec(_spec)
sys.modules["bench_peers"] = peers
_spec.loader.exec_module(peers)


def energy_per_site(spins):
    """E/(N J) of the sc NN Heisenberg ferromagnet, each bond once; spins [3, L, L, L]."""
    e = sum(np.sum(spins * np.roll(spins, 1, ax)) for ax in (1, 2, 3))
    return -e / spins[0].size


def aligned(L):
    s = np.zeros((3, L, L, L))
    s[2] = 1.0
    return s


def test_checkerboard_infinite_temperature_is_isotropic():
    # beta J = 0: every move accepted, <m> = 0 in every component (an upper-hemisphere move
    # generator, as in Spirit 2.2.0, would give <m_z> = 0.5)
    L, spins, mz = 8, aligned(8), []
    for k in range(40):
        spins, acc = peers.numpy_checkerboard_run(L, 1, 0.0, seed=k, spins=spins)
        assert acc == 1.0
        mz.append(spins.reshape(3, -1).mean(axis=1))
    mz = np.array(mz)                                   # [40, 3], sd of each ~ 1/sqrt(3 N)
    assert np.all(np.abs(mz.mean(axis=0)) < 0.015)


def test_checkerboard_high_t_disordered():
    spins, acc = peers.numpy_checkerboard_run(8, 30, 0.1, seed=1, spins=aligned(8))
    m = np.linalg.norm(spins.reshape(3, -1).mean(axis=1))
    assert m < 0.1 and 0.5 < acc < 1.0


def test_checkerboard_low_t_ordered_with_equipartition():
    # kT/J = 0.2: ordered, and E/N = -3 J + kT (two transverse modes) up to O(T^2)
    kt = 0.2
    # uniform trial moves accept ~4% here: equilibrate for 200 sweeps from the ground state
    spins, _ = peers.numpy_checkerboard_run(8, 200, 1.0 / kt, seed=2, spins=aligned(8))
    es, ms = [], []
    for k in range(60):
        spins, _ = peers.numpy_checkerboard_run(8, 2, 1.0 / kt, seed=100 + k, spins=spins)
        es.append(energy_per_site(spins))
        ms.append(np.linalg.norm(spins.reshape(3, -1).mean(axis=1)))
    assert np.mean(ms) > 0.9
    assert abs(np.mean(es) - (-3.0 + kt)) < 0.02


def test_checkerboard_rejects_odd_l():
    with pytest.raises(ValueError, match="even"):
        peers.numpy_checkerboard_run(7, 1, 1.0)


def test_spirit_known_hemisphere_bias():
    if not peers.spirit_available():
        assert peers.spirit_sc(4, 1, 1.0) is None
        pytest.skip("spirit not installed (optional 'bench' extra)")
    res = peers.spirit_run(8, 20, kT_over_J=1e4)
    assert res["moves_per_s"] > 0
    # documented peer bug: full-sphere trial moves only cover the upper hemisphere
    assert abs(res["m"][2] - 0.5) < 0.05
