"""The frozen mMACE as a Monte Carlo Hamiltonian: the same driver, moves, scans and
checkpoints as the Heisenberg model, and a statistical check that mMACE-driven Monte Carlo
reproduces the Heisenberg + Landau model the mMACE was fitted to.

Sampling measure: the engine's moves (direction moves plus symmetric longitudinal steps in R^3)
sample exp(-E/kT) d^3m (mmace_fast.conventions.MEASURE) for both Hamiltonians.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from mmace_fast.export.testing import (frozen_from_torch, random_model,  # noqa: E402
                                       random_model_config, random_structure)
from mmace_fast.mc.engine import CheckpointError, MonteCarlo  # noqa: E402
from mmace_fast.mc.hamiltonian import SpinHamiltonian  # noqa: E402
from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: E402
from mmace_fast.mc.scan import System, temperature_scan  # noqa: E402


@pytest.fixture(scope="module")
def frozen():
    cfg = random_model_config(2)         # non-SOC, centre spin, Landau, 3 layers, l_spin_max 2
    return frozen_from_torch(random_model(cfg, seed=2))[0]


@pytest.fixture(scope="module")
def structure(frozen):
    return random_structure(np.random.default_rng(2), frozen.species, n_atoms=6, a=3.4)


def _ham(frozen, st):
    return FrozenMMACEHamiltonian(frozen, st["positions"], st["cell"], st["pbc"], st["numbers"])


def test_driver_tracks_exact_energy(frozen, structure):
    ham = _ham(frozen, structure)
    assert ham.variable_length
    mc = MonteCarlo(ham, structure["magmoms"], temperature=2000.0, seed=3, move="gaussian",
                    p_longitudinal=0.4, sigma_long=0.3)
    mc.equilibrate(20)
    s = mc.sample(30)
    acc = mc.acceptance()
    assert acc["gaussian"] > 0.05 and acc["longitudinal"] > 0.05
    full = frozen.energy(magmoms=mc.spins, **{k: structure[k] for k in
                                              ("positions", "cell", "pbc", "numbers")})
    assert abs(mc.energy - full) < 1e-9 * max(1.0, abs(full))
    assert abs(s.energy[-1] - full) < 1e-9 * max(1.0, abs(full))
    assert np.isfinite(s.energy).all()


def _refresh(mc):
    """Recompute the evaluator caches at chunk boundaries. A restart rebuilds them from the
    moments, while the uninterrupted chain has accumulated them incrementally (equal to
    rounding); refreshing both keeps every later dE, hence every accept decision and random
    draw, bit-identical."""
    mc.hamiltonian.core.refresh()
    mc.core.resync()


def test_checkpoint_restart_bit_identical(frozen, structure, tmp_path):
    kw = dict(temperature=5.0, seed=5, move="hinzke_nowak", p_longitudinal=0.3)
    ref = MonteCarlo(_ham(frozen, structure), structure["magmoms"], **kw)
    ref.run(10, 20, checkpoint_every=10, callback=_refresh)
    assert 0.01 < ref.acceptance()["uniform"] < 0.99
    assert np.ptp(ref.samples.energy) > 0
    ck = tmp_path / "mc.npz"
    part = MonteCarlo(_ham(frozen, structure), structure["magmoms"], **kw)
    part.run(10, 10, checkpoint=ck, checkpoint_every=10, callback=_refresh)
    resumed = MonteCarlo(_ham(frozen, structure), structure["magmoms"], **kw)
    resumed.run(10, 20, checkpoint=ck, checkpoint_every=10, callback=_refresh)
    assert np.array_equal(resumed.samples.energy, ref.samples.energy)
    assert np.array_equal(resumed.spins, ref.spins)
    # a checkpoint of another geometry is refused
    moved = dict(structure, positions=structure["positions"] + 0.01)
    other = MonteCarlo(_ham(frozen, moved), structure["magmoms"], **kw)
    with pytest.raises(CheckpointError, match="different Hamiltonian"):
        other.load_checkpoint(ck)


def test_content_hash(frozen, structure):
    a, b = _ham(frozen, structure), _ham(frozen, structure)
    assert a.content_hash() == b.content_hash()
    other_model = frozen_from_torch(random_model(random_model_config(2), seed=1))[0]
    assert _ham(other_model, structure).content_hash() != a.content_hash()
    mem = a.memory()
    assert mem["per_atom"] > 0 and mem["total"] == mem["geometry"] + mem["nodes"] + mem["scratch"]


def test_scan_runs(frozen, structure):
    table = temperature_scan(System(_ham(frozen, structure), structure["magmoms"]),
                             [300.0, 3000.0], n_equil=10, n_prod=40, seed=1, move="gaussian",
                             p_longitudinal=0.2)
    e = table.column("e_per_site")
    assert len(e) == 2 and np.all(np.isfinite(e))
    assert e[0] < e[1]          # d<E>/dT = C / (k T^2) > 0: the hot chain sits higher


# ---------------------------------------------------------------------- statistical check
J_NN = 0.005            # eV / muB^2, pair-once, ferromagnetic
A2, A4 = -0.08, 0.08 / (2 * 2.2 ** 2)   # eV/muB^2, eV/muB^4: Landau minimum at |m| = 2.2 muB
SCALE = 10.0            # muB: mMACE moment scale, large so that its envelope is ~1 here


def _bcc(n=2):
    from ase.build import bulk
    return bulk("Fe", "bcc", a=2.83, cubic=True).repeat((n, n, n))


def _fit_mmace_to_heisenberg(atoms):
    """A tiny 1-layer mMACE whose energy is affine in its spin weights and shift: those are fitted
    by linear least squares to the Heisenberg exchange on random moments; its Landau term
    a_1 x + a_2 x^2 (x = |m|^2 / SCALE^2) equals A2 |m|^2 + A4 |m|^4 exactly."""
    import torch
    from mmace_fast.export.testing import torch_site_energies
    cfg = dict(species=[26], r_cut=2.6, n_bessel=4, radial_mlp=[], n_channels=1, l_max_sh=0,
               l_max_message=0, l_max_hidden=0, n_layers=1, correlation=1, readout_mlp=[],
               avg_num_neighbors=8.0, soc=False, l_spin_max=1, n_mag_features=1,
               moment_scale=[SCALE], centre_spin=True, landau_order=2)
    model = random_model(cfg, seed=4)
    model.set_landau_coefficients([[A2 * SCALE ** 2, A4 * SCALE ** 4]])
    heis = SpinHamiltonian.from_distances(atoms.positions, atoms.cell[:], atoms.pbc, [2.45],
                                          [J_NN], a2=A2, a4=A4)
    rng = np.random.default_rng(0)
    confs = []
    for _ in range(12):
        d = rng.normal(size=(len(atoms), 3))
        size = rng.uniform(1.4, 3.0, (len(atoms), 1))
        confs.append(d / np.linalg.norm(d, axis=1, keepdims=True) * size)
    st = lambda m: dict(positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc,  # noqa: E731
                        numbers=atoms.numbers, magmoms=m)
    sw = model.layers[0].spin_weight
    with torch.no_grad():
        model.shift.zero_()
        basis = []
        for k in range(sw.numel() + 1):
            sw.zero_()
            if k:
                sw.view(-1)[k - 1] = 1.0
            basis.append([torch_site_energies(model, st(m)).sum() for m in confs])
        basis = np.array(basis)                       # [1 + n_sw, n_conf]
        y = np.array([heis.energy(m) for m in confs]) - basis[0]
        design = np.column_stack([basis[1:].T - basis[0][:, None], np.full(len(confs), len(atoms))])
        theta, *_ = np.linalg.lstsq(design, y, rcond=None)
        sw.view(-1)[:] = torch.as_tensor(theta[:-1])
        model.shift.fill_(theta[-1])
        resid = np.array([torch_site_energies(model, st(m)).sum() for m in confs]) - \
            np.array([heis.energy(m) for m in confs])
    return model, heis, np.abs(resid).max()


def test_mmace_mc_reproduces_heisenberg_energy():
    """bcc 2x2x2, nearest-neighbour J + Landau (d^3m measure for both): <E>/N from independent
    chains agrees within 4 sigma (blocking errors) in the ordered phase, near the transition and
    in the paramagnet (|M| = 2.3, 1.7, 0.8 muB); the fitted mMACE misses the reference by
    < 1e-6 eV per cell, 1e-2 of the statistical error (about 5 s)."""
    atoms = _bcc(2)
    model, heis, fit_err = _fit_mmace_to_heisenberg(atoms)
    frozen, _ = frozen_from_torch(model)
    ham = FrozenMMACEHamiltonian.from_atoms(frozen, atoms, use_magmoms=False)
    n = len(atoms)
    assert fit_err < 1e-5 * n * J_NN * 2.2 ** 2          # per-structure energy error, eV
    spins = np.tile([0.0, 0.0, 2.2], (n, 1))
    settings = dict(move="gaussian", sigma=0.5, p_longitudinal=0.3, sigma_long=0.25)
    from mmace_fast.mc.stats import blocking_error
    for k, t in enumerate((150.0, 600.0, 1500.0)):
        means, errs = [], []
        for h, seed in ((heis, 11 + k), (ham, 101 + k)):
            mc = MonteCarlo(h, spins, temperature=t, seed=seed, **settings)
            mc.equilibrate(1500)
            s = mc.sample(12000, sample_every=2)
            b = blocking_error(s.energy / n)
            means.append(float(np.mean(s.energy / n)))
            errs.append(float(b.error))
        diff = abs(means[0] - means[1])
        sigma = float(np.hypot(*errs))
        assert diff < 4.0 * sigma, (t, means, errs)
        assert fit_err / n < 0.01 * sigma                # model error far below the statistics


# ------------------------------------------------------------- guided over-relaxation
def test_guided_overrelaxation_samples_the_mmace_boltzmann_law(frozen, structure):
    """The frozen mMACE offers no reflection axis; with a (deliberately wrong) Heisenberg
    surrogate, over-relaxation reflects about the surrogate's axis and the two-stage test keeps
    the exact law. Site 0 moves at fixed length in the field of the frozen others: <m0 . d>
    against the quadrature of exp(-E/kT) over the sphere, E from the frozen model."""
    st = {k: structure[k] for k in ("positions", "cell", "pbc", "numbers")}
    m = np.array(structure["magmoms"], dtype=float)
    n, r0 = len(m), np.linalg.norm(m[0])
    # quadrature: Gauss-Legendre in cos(theta) x uniform in phi
    x, w = np.polynomial.legendre.leggauss(48)
    phi = np.linspace(0.0, 2 * np.pi, 96, endpoint=False)
    ct, p = np.meshgrid(x, phi, indexing="ij")
    st_ = np.sqrt(1 - ct ** 2)
    dirs = np.stack([st_ * np.cos(p), st_ * np.sin(p), ct], axis=-1).reshape(-1, 3)
    e = np.empty(len(dirs))
    for k, u in enumerate(dirs):
        m[0] = r0 * u
        e[k] = frozen.energy(magmoms=m, **st)
    kt = 0.5 * np.std(e)                               # a few kT across the sphere: non-trivial
    wt = np.exp(-(e - e.min()) / kt) * np.repeat(w, len(phi))
    d = np.array([np.sin(0.9), 0.0, np.cos(0.9)])
    expected = (wt * (dirs @ d)).sum() / wt.sum()
    # the surrogate: a Heisenberg model of the same sites, not fitted to anything, with pair
    # energies of order kT (a far stronger one is still exact but traps the chain for ages)
    pairs = np.array([(0, j) for j in range(1, n)])
    lengths = np.linalg.norm(m[1:], axis=1)
    J = kt * np.linspace(1.5, -0.5, n - 1) / (r0 * np.maximum(lengths, 0.1))
    sur = SpinHamiltonian(n, pairs[:, 0], pairs[:, 1], J=J)
    start = np.array(structure["magmoms"], dtype=float)
    mc = MonteCarlo(_ham(frozen, structure), start, kt / 8.617333262e-5, seed=7, move="gaussian",
                    sigma=0.5, active_sites=[0], overrelax_per_sweep=1, surrogate=sur)
    mc.equilibrate(2000)
    proj = mc.sample(60_000).magnetisation @ d / r0
    acc = mc.acceptance()
    assert 0.05 < acc["overrelax"] < 0.95              # reflections really corrected
    from mmace_fast.mc.stats import integrated_autocorr_time
    tau = integrated_autocorr_time(proj).tau
    z = abs(proj.mean() - expected) / (proj.std() * np.sqrt(2 * tau / len(proj)))
    assert z < 4.0
    assert abs(mc.energy - frozen.energy(magmoms=mc.spins, **st)) < 1e-9


def test_overrelaxation_without_any_axis_is_refused(frozen, structure):
    with pytest.raises(ValueError, match="reflection axis"):
        MonteCarlo(_ham(frozen, structure), structure["magmoms"], 300.0, overrelax_per_sweep=1)
    n = len(structure["magmoms"])
    sur = SpinHamiltonian(n, [0], [1], J=[0.01])
    mc = MonteCarlo(_ham(frozen, structure), structure["magmoms"], 300.0, overrelax_per_sweep=1,
                    surrogate=sur)
    with pytest.raises(ValueError, match="surrogate"):
        mc.set_surrogate(None)
