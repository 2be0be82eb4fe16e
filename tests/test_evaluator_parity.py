"""C++ frozen evaluator vs the PyTorch mMACE: site and total energies to 1e-10 (float64).

Random small models over seeds span SOC / non-SOC, centre spin on / off, Landau on / off,
1-3 layers, correlation 1-3, 1-3 species, random channels and l_max of bond harmonics,
messages and hidden features; structures are random triclinic periodic cells (self-images
included) with random moments, one large (8 muB), one tiny (1e-9 muB) and one zero.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from mmace_fast.export.testing import (frozen_from_torch, random_model,  # noqa: E402
                                       random_model_config, random_structure,
                                       torch_site_energies)

TOL = 1e-10


def _compare(model, frozen, st, bond_tol=1e-9):
    ref = torch_site_energies(model, st)
    got = frozen.site_energies(bond_tol=bond_tol, **st)
    scale = max(1.0, np.abs(ref).max())
    assert np.abs(got - ref).max() <= TOL * scale, (got, ref)
    assert abs(got.sum() - ref.sum()) <= TOL * max(1.0, abs(ref.sum()))
    return ref


@pytest.mark.parametrize("seed", range(24))
def test_parity_random_models(seed):
    cfg = random_model_config(seed)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(100 + seed)
    for n_atoms in (4, 7):
        st = random_structure(rng, cfg["species"], n_atoms=n_atoms, a=3.2 + rng.uniform())
        ref = _compare(model, frozen, st)
        assert np.abs(ref).max() > 1e-6          # a non-trivial energy was compared


@pytest.mark.parametrize("pbc", [(False, False, False), (True, False, True)])
def test_parity_non_periodic(pbc):
    cfg = random_model_config(5)
    model = random_model(cfg, seed=5)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(7)
    st = random_structure(rng, cfg["species"], n_atoms=6, pbc=pbc)
    if not pbc[1]:
        st["cell"][1] = 0.0
    _compare(model, frozen, st)


def test_parity_perfect_lattice_shares_bonds():
    """bcc 2x2x2 supercell: few distinct bonds; the shared-bond caches give the same energies
    as per-edge caches and as torch."""
    from ase.build import bulk
    from mmace_fast import _core
    cfg = random_model_config(0, species=[26], n_layers=2, correlation=2, soc=False,
                              centre_spin=True, r_cut=4.2)
    model = random_model(cfg, seed=1)
    frozen, _ = frozen_from_torch(model)
    atoms = bulk("Fe", "bcc", a=2.83, cubic=True).repeat((2, 2, 2))
    rng = np.random.default_rng(3)
    st = dict(positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc,
              numbers=atoms.numbers, magmoms=rng.normal(size=(len(atoms), 3)))
    ref = _compare(model, frozen, st)
    per_edge = frozen.site_energies(bond_tol=0.0, **st)
    assert np.abs(per_edge - ref).max() <= TOL * max(1.0, np.abs(ref).max())
    i, j, s = frozen.edges(st["positions"], st["cell"], st["pbc"])
    h = _core.FrozenMMACECore(frozen.core, st["positions"], st["cell"], st["numbers"], i, j, s,
                              st["magmoms"])
    assert h.n_bonds < h.n_edges / 4           # 16 atoms x 26 neighbours, 26 distinct bonds
    assert np.allclose(h.site_energies(), ref, rtol=0, atol=TOL * max(1.0, np.abs(ref).max()))


def test_parity_ase_atoms_and_site_sum():
    from ase import Atoms
    cfg = random_model_config(8)
    model = random_model(cfg, seed=8)
    frozen, _ = frozen_from_torch(model)
    st = random_structure(np.random.default_rng(9), cfg["species"], n_atoms=5)
    atoms = Atoms(numbers=st["numbers"], positions=st["positions"], cell=st["cell"],
                  pbc=st["pbc"], magmoms=st["magmoms"])
    ref = torch_site_energies(model, st)
    assert abs(frozen.energy(atoms) - ref.sum()) <= TOL * max(1.0, abs(ref.sum()))
