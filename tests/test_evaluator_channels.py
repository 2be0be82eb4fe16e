"""Frozen-evaluator kernels at channel counts that use the SIMD chunks, and at correlation 4.

The per-channel kernels (tensor-product messages, symmetric contraction, channel mixings) run
over the channels in chunks of 32, 16 and 8 held in vector registers, then single channels; the
symmetric contraction unrolls monomials of order <= 3 and has a generic path above. The random
models of test_evaluator_parity.py / test_evaluator_incremental.py have 1-5 channels and
correlation <= 3, so only the single-channel and unrolled paths run there. Here: C = 8, 16
(the shipped size), 24 (16 + 8), 43 (32 + 8 + 3 single channels) and correlation 4, each
against torch (site energies to 1e-10) and with incremental dE against two full evaluations on
a bcc supercell (shared bonds; every sender has 14 edges, so the batched message paths run with
full and partial batches), with and without the edge-weight cache.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from mmace_fast import _core  # noqa: E402
from mmace_fast.export.testing import (frozen_from_torch, random_model,  # noqa: E402
                                       random_model_config, random_structure,
                                       torch_site_energies)

TOL = 1e-10

# (seed, overrides): channels, correlation, SOC / centre spin, layers; small l so that the
# torch models build in a second
CASES = {
    "C8": (1, dict(n_channels=8, correlation=3, soc=False, centre_spin=True, n_layers=2,
                   l_max_sh=2, l_max_message=2, l_max_hidden=1)),
    "C16": (2, dict(n_channels=16, correlation=3, soc=False, centre_spin=True, n_layers=2,
                    l_max_sh=2, l_max_message=2, l_max_hidden=1, n_mag_features=4,
                    l_spin_max=2)),
    "C24_soc": (3, dict(n_channels=24, correlation=2, soc=True, centre_spin=True, n_layers=2,
                        l_max_sh=1, l_max_message=1, l_max_hidden=1)),
    "C43_plain": (4, dict(n_channels=43, correlation=2, soc=False, centre_spin=False,
                          n_layers=1, l_max_sh=2, l_max_message=2, l_max_hidden=1)),
    "C16_corr4": (0, dict(n_channels=16, correlation=4, soc=False, centre_spin=True,
                          n_layers=2, l_max_sh=2, l_max_message=1, l_max_hidden=0)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    seed, force = CASES[request.param]
    cfg = random_model_config(seed, species=[26], r_cut=3.0, **force)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    assert frozen.core.n_channels == force["n_channels"]
    return seed, model, frozen


def _bcc(rng):
    from ase.build import bulk
    atoms = bulk("Fe", "bcc", a=2.83, cubic=True).repeat((2, 2, 2))
    return dict(positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc,
                numbers=atoms.numbers, magmoms=rng.normal(size=(len(atoms), 3)) * 2.0)


def test_parity_with_torch(case):
    seed, model, frozen = case
    rng = np.random.default_rng(seed)
    for st in (random_structure(rng, [26], n_atoms=5, a=3.4), _bcc(rng)):
        ref = torch_site_energies(model, st)
        got = frozen.site_energies(**st)
        assert np.abs(ref).max() > 1e-6
        assert np.abs(got - ref).max() <= TOL * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("cache", [False, True])
def test_incremental_equals_full(case, cache):
    seed, _, frozen = case
    rng = np.random.default_rng(100 + seed)
    st = _bcc(rng)
    edges = frozen.edges(st["positions"], st["cell"], st["pbc"])
    h = _core.FrozenMMACECore(frozen.core, st["positions"], st["cell"], st["numbers"], *edges,
                              st["magmoms"], cache_edge_weights=cache)
    assert h.n_edges == 14 * 16 and h.n_bonds == 14      # 8 + 6 neighbours within 3 A

    def full(m):
        return frozen.core.site_energies(st["positions"], st["cell"], st["numbers"], m, *edges)

    m = st["magmoms"].copy()
    e_old = full(m).sum()
    for _ in range(40):
        k = int(rng.integers(len(m)))
        new = m[k] + rng.normal(size=3) if rng.uniform() < 0.7 else m[k] * rng.uniform(0.3, 1.7)
        de = h.propose(k, new)
        m2 = m.copy()
        m2[k] = new
        e_new = full(m2).sum()
        assert abs(de - (e_new - e_old)) <= TOL * max(1.0, abs(e_old), abs(e_new))
        if rng.uniform() < 0.6:
            h.accept()
            m, e_old = m2, e_new
        else:
            h.reject()
    ref = full(m)
    assert np.abs(h.site_energies() - ref).max() <= TOL * max(1.0, np.abs(ref).max())
