"""Gradients of the frozen C++ evaluator (one reverse pass, evaluator_gradient.cpp): magnetic
forces -dE/dm, forces -dE/dx and the stress against PyTorch autograd to 1e-10 on the
random-model parity suite (SOC / non-SOC, centre spin on / off, 1-3 layers, correlation 1-3,
Landau on / off), against central finite differences of the C++ energy (moments, positions,
strain), after accepted Monte Carlo moves (incremental caches), and field_at (other moments,
the state untouched). The shipped models are checked against torch as well.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from mmace_fast import _core  # noqa: E402
from mmace_fast.export.testing import (frozen_from_torch, random_model,  # noqa: E402
                                       random_model_config, random_structure)

TOL = 1e-10


def torch_outputs(model, st: dict) -> dict:
    """magforces [n, 3] eV/muB, forces [n, 3] eV/A, stress [3, 3] eV/A^3 of the torch model."""
    from mmace_fast.data.graph import collate
    from mmace_fast.data.records import Configuration
    conf = Configuration(positions=st["positions"], cell=st["cell"], pbc=st["pbc"],
                         numbers=st["numbers"], magmoms=st["magmoms"])
    out = model(collate([conf], model.config.r_cut), forces=True, stress=True, magforces=True)
    return {"magforces": out["magforces"].detach().numpy().copy(),
            "forces": out["forces"].detach().numpy().copy(),
            "stress": out["stress"][0].detach().numpy().copy()}


def torch_magforces(model, st: dict) -> np.ndarray:
    return torch_outputs(model, st)["magforces"]


def cpp_outputs(h, st: dict) -> dict:
    dm, dx, ds = h.gradients()
    return {"magforces": -dm, "forces": -dx, "stress": ds / abs(np.linalg.det(st["cell"]))}


def _core_of(frozen, st: dict):
    i, j, s = frozen.edges(st["positions"], st["cell"], st["pbc"])
    return _core.FrozenMMACECore(frozen.core, st["positions"], st["cell"], st["numbers"], i, j,
                                 s, st["magmoms"])


def _close(got, ref, tol=TOL):
    scale = max(1.0, np.abs(ref).max())
    assert np.abs(got - ref).max() <= tol * scale, np.abs(got - ref).max()


@pytest.mark.parametrize("seed", range(24))
def test_magnetic_forces_equal_torch_autograd(seed):
    cfg = random_model_config(seed)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(100 + seed)
    nontrivial = 0.0
    for n_atoms in (4, 7):
        st = random_structure(rng, cfg["species"], n_atoms=n_atoms, a=3.2 + rng.uniform())
        ref = torch_magforces(model, st)
        _close(_core_of(frozen, st).effective_field(), ref)
        nontrivial = max(nontrivial, np.abs(ref).max())
    # the moments enter through the Landau term, the magnitude features (more than the
    # constant one), or the spin harmonics where edges read them (SOC or centre spin)
    enters = (cfg["landau_order"] > 0 or cfg["n_mag_features"] > 1
              or (cfg["l_spin_max"] > 0 and (cfg["soc"] or cfg["centre_spin"])))
    assert (nontrivial > 1e-8) == enters, (nontrivial, enters)


@pytest.mark.parametrize("seed", range(24))
def test_forces_and_stress_equal_torch_autograd(seed):
    cfg = random_model_config(seed)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(200 + seed)
    st = random_structure(rng, cfg["species"], n_atoms=6, a=3.2 + rng.uniform())
    ref = torch_outputs(model, st)
    got = cpp_outputs(_core_of(frozen, st), st)
    for key in ("magforces", "forces", "stress"):
        _close(got[key], ref[key])
    assert np.abs(ref["forces"]).max() > 1e-6
    # the magnetic forces of the combined pass are those of the moments-only pass
    np.testing.assert_array_equal(got["magforces"], _core_of(frozen, st).effective_field())


@pytest.mark.parametrize("seed", [1, 7, 16])
def test_forces_and_strain_derivative_are_finite_difference_gradients(seed):
    cfg = random_model_config(seed)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(seed)
    st = random_structure(rng, cfg["species"], n_atoms=4, a=3.5)
    _, dx, ds = _core_of(frozen, st).gradients()

    def energy(positions, cell):
        return frozen.site_energies(**dict(st, positions=positions, cell=cell)).sum()

    eps = 1e-5
    fd = np.zeros_like(dx)
    for i in range(len(dx)):
        for a in range(3):
            p, q = st["positions"].copy(), st["positions"].copy()
            p[i, a] += eps
            q[i, a] -= eps
            fd[i, a] = (energy(p, st["cell"]) - energy(q, st["cell"])) / (2 * eps)
    assert np.abs(fd).max() > 1e-5
    _close(dx, fd, tol=1e-7)
    fs = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            e = np.zeros((3, 3))
            e[a, b] = e[b, a] = 0.5 * eps if a != b else eps       # symmetric strain
            up = np.eye(3) + e
            dn = np.eye(3) - e
            fs[a, b] = (energy(st["positions"] @ up, st["cell"] @ up)
                        - energy(st["positions"] @ dn, st["cell"] @ dn)) / (2 * eps)
    _close(ds, fs, tol=1e-7)


@pytest.mark.parametrize("seed", [2, 7, 10, 11])
def test_magnetic_forces_are_minus_the_finite_difference_gradient(seed):
    cfg = random_model_config(seed)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(seed)
    st = random_structure(rng, cfg["species"], n_atoms=5, a=3.6)
    h = _core_of(frozen, st)
    f = h.effective_field()
    m0 = st["magmoms"].copy()
    eps = 1e-5
    fd = np.zeros_like(m0)
    for i in range(len(m0)):
        for a in range(3):
            for sign in (1, -1):
                m = m0.copy()
                m[i, a] += sign * eps
                h.set_spins(m)
                fd[i, a] -= sign * h.total_energy() / (2 * eps)
    assert np.abs(fd).max() > 1e-6
    _close(f, fd, tol=1e-7)


def test_forces_after_accepted_moves_equal_a_fresh_evaluation():
    cfg = random_model_config(10)
    model = random_model(cfg, seed=10)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(3)
    st = random_structure(rng, cfg["species"], n_atoms=6, a=3.4)
    h = _core_of(frozen, st)
    for k in range(30):
        i = int(rng.integers(len(st["numbers"])))
        h.propose(i, rng.normal(size=3))
        h.accept() if k % 3 else h.reject()
    fresh = _core_of(frozen, dict(st, magmoms=h.get_spins()))
    _close(h.effective_field(), fresh.effective_field(), tol=1e-12)
    _close(h.effective_field(), torch_magforces(model, dict(st, magmoms=h.get_spins())))


def test_field_at_evaluates_other_moments_and_leaves_the_state():
    cfg = random_model_config(14)
    model = random_model(cfg, seed=14)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(5)
    st = random_structure(rng, cfg["species"], n_atoms=5, a=3.5)
    h = _core_of(frozen, st)
    e0, f0, m0 = h.total_energy(), h.effective_field(), h.get_spins()
    for _ in range(2):                             # the probe is built once, then reused
        m = rng.normal(size=m0.shape)
        _close(h.field_at(m), torch_magforces(model, dict(st, magmoms=m)))
    assert h.total_energy() == e0
    np.testing.assert_array_equal(h.get_spins(), m0)
    np.testing.assert_array_equal(h.effective_field(), f0)
    np.testing.assert_array_equal(h.field_at(m0), f0)


@pytest.mark.parametrize("material,grade", [("fe", "accurate"), ("fe", "mc"),
                                            ("fept", "accurate")])
def test_shipped_models_gradients_equal_torch(material, grade):
    from mmace_fast.export import FrozenModel
    from mmace_fast.models import frozen_path, model_dir
    from mmace_fast.model.io import load_model
    from mmace_fast.materials import get
    model, _, _ = load_model(model_dir(material, grade))
    model = model.double()
    frozen = FrozenModel.load(frozen_path(material, grade))
    from mmace_fast.prototypes import conventional_cell
    mat = get(material)
    atoms = conventional_cell(mat.prototype, mat.a, mat.c).repeat((2, 2, 2))
    rng = np.random.default_rng(1)
    pos = atoms.positions + 0.05 * rng.normal(size=atoms.positions.shape)
    mags = rng.normal(size=(len(atoms), 3)) * 1.5
    st = dict(positions=pos, cell=atoms.cell[:], pbc=atoms.pbc, numbers=atoms.numbers,
              magmoms=mags)
    ref = torch_outputs(model, st)
    got = cpp_outputs(_core_of(frozen, st), st)
    assert np.abs(ref["magforces"]).max() > 1e-3 and np.abs(ref["forces"]).max() > 1e-3
    for key in ("magforces", "forces", "stress"):
        _close(got[key], ref[key])
