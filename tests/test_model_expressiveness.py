"""Expressiveness: mMACE fits energies of a known spin Hamiltonian; without the centre-spin
coupling it cannot (the term J(r) m_i.m_j needs the centre atom's own moment).

Synthetic data (non-SOC): perturbed bcc cells (4 atoms, a = 2.87 A), random moment vectors with
|m| in [1.2, 2.6] muB and
    E = - sum_pairs J(r) m_i.m_j - sum_pairs B(r) (m_i.m_j)^2 + sum_i (a2 |m_i|^2 + a4 |m_i|^4)
(pairs within r_c counted once, periodic images included). Both models are trained identically
(Adam, energies only) and compared on held-out configurations.

SOC mode: single-ion anisotropy (tetragonal cells) and Dzyaloshinskii-Moriya interaction (Fe3
triangles, inversion broken at every bond by the third atom) are fitted by the SOC model and
not by the exactly spin-rotation-invariant non-SOC model.
"""
import logging

import numpy as np
import torch

from mmace_fast.data.graph import collate, neighbour_list
from mmace_fast.data.records import Configuration
from mmace_fast.model import MMACE, ModelConfig

logger = logging.getLogger(__name__)

R_CUT = 3.2
A2, A4 = -0.30, 0.04


def exchange_j(r, r_cut=R_CUT):
    """J(r) eV/muB^2, smooth, zero at r_cut."""
    t = np.clip(r / r_cut, 0, 1)
    return 0.012 * (1 - t ** 2) ** 2 * (1 + 2 * np.exp(-((r - 2.45) / 0.25) ** 2))


def biquadratic_b(r, r_cut=R_CUT):
    t = np.clip(r / r_cut, 0, 1)
    return 0.001 * (1 - t ** 2) ** 2


def hamiltonian_energy(c: Configuration, r_cut=R_CUT) -> float:
    i, j, s = neighbour_list(c.positions, c.cell, c.pbc, r_cut)
    r = np.linalg.norm(c.positions[j] - c.positions[i] + s @ c.cell, axis=1)
    dot = np.einsum("ek,ek->e", c.magmoms[i], c.magmoms[j])
    # full neighbour list: each pair appears twice -> factor 1/2
    e_pair = -0.5 * np.sum(exchange_j(r, r_cut) * dot + biquadratic_b(r, r_cut) * dot ** 2)
    m2 = np.sum(c.magmoms ** 2, axis=1)
    return float(e_pair + np.sum(A2 * m2 + A4 * m2 ** 2))


def make_data(rng, n):
    a = 2.87
    base = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [1, 0, 0], [1.5, 0.5, 0.5]]) * a
    cell = np.diag([2 * a, a, a])
    out = []
    for _ in range(n):
        strain = np.eye(3) + 0.02 * rng.normal(size=(3, 3))
        pos = (base + 0.08 * rng.normal(size=base.shape)) @ strain
        u = rng.normal(size=(4, 3))
        m = u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(1.2, 2.6, size=(4, 1))
        c = Configuration(positions=pos, cell=cell @ strain, pbc=[True] * 3, numbers=[26] * 4,
                          magmoms=m)
        c.energy = hamiltonian_energy(c)
        out.append(c)
    return out


def train_and_test(centre_spin, train, test, steps=300, seed=0, **kw):
    """Train on energies per atom (all configurations have the same atom count); test RMSE."""
    torch.manual_seed(seed)
    n_at = train[0].n_atoms
    e_train = np.array([c.energy for c in train]) / n_at
    args = dict(species=[26], r_cut=R_CUT, n_bessel=6, radial_mlp=[16], n_channels=8,
                l_max_sh=1, l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2,
                readout_mlp=[8], avg_num_neighbors=8.0, soc=False, l_spin_max=2,
                n_mag_features=3, moment_scale=[3.0], centre_spin=centre_spin,
                landau_order=2, e0=[float(e_train.mean())], scale=float(e_train.std()))
    args.update(kw)
    model = MMACE(ModelConfig(**args))
    b_train, b_test = collate(train, model.config.r_cut), collate(test, model.config.r_cut)
    y_train = torch.tensor([c.energy for c in train])
    y_test = np.array([c.energy for c in test])
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-4)
    for _ in range(steps):
        opt.zero_grad()
        pred = model(b_train, forces=False)["energy"]
        loss = (((pred - y_train) / n_at) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    pred = model(b_test, forces=False)["energy"].detach().numpy()
    return float(np.sqrt(np.mean(((pred - y_test) / n_at) ** 2)))     # eV/atom


def orientation_energy(c: Configuration) -> float:
    """The pair part of E (what depends on relative orientations), eV."""
    return hamiltonian_energy(c) - float(np.sum(A2 * np.sum(c.magmoms ** 2, 1)
                                                + A4 * np.sum(c.magmoms ** 2, 1) ** 2))


def test_centre_spin_needed_for_exchange():
    rng = np.random.default_rng(0)
    train, test = make_data(rng, 96), make_data(rng, 32)
    spread = float(np.std([c.energy / 4 for c in test]))
    pair_spread = float(np.std([orientation_energy(c) / 4 for c in test]))
    rmse_full = train_and_test(True, train, test)
    rmse_ablated = train_and_test(False, train, test)
    logger.info("E/atom std %.4f eV (pair part %.4f); test RMSE centre_spin %.5f, without "
                "%.5f eV/atom", spread, pair_spread, rmse_full, rmse_ablated)
    # measured (seed 0, bounded moment features, softplus Landau top): std 0.0453, pair part
    # 0.0274, full 0.0025, ablated 0.0269 eV/atom (polynomial features before: full 0.0020,
    # ablated 0.0277):
    # the ablated model explains none of the orientation-dependent part
    assert rmse_full < 0.06 * spread
    assert rmse_ablated > 0.4 * spread
    assert rmse_ablated > 5 * rmse_full


# ------------------------------------------------------------------ SOC: single-ion anisotropy
K_UNIAXIAL = 0.02        # eV/muB^2, E_ani = -K sum_i (m_i . z)^2, z = tetragonal axis
R_CUT_SOC = 4.0


def make_tetragonal_data(rng, n):
    """bct Fe-like cells (c/a = 1.15): the local environment defines the easy axis z."""
    a, c = 2.80, 1.15 * 2.80
    base = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [1, 0, 0], [1.5, 0.5, 0.5]]) * [a, a, c]
    cell = np.diag([2 * a, a, c])
    out = []
    for _ in range(n):
        strain = np.eye(3) + 0.003 * rng.normal(size=(3, 3))
        pos = (base + 0.02 * rng.normal(size=base.shape)) @ strain
        u = rng.normal(size=(4, 3))
        m = u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(1.8, 2.4, size=(4, 1))
        conf = Configuration(positions=pos, cell=cell @ strain, pbc=[True] * 3,
                             numbers=[26] * 4, magmoms=m)
        conf.energy = hamiltonian_energy(conf, R_CUT_SOC) - K_UNIAXIAL * np.sum(m[:, 2] ** 2)
        out.append(conf)
    return out


def test_soc_model_learns_single_ion_anisotropy():
    """Heisenberg + biquadratic + Landau + uniaxial single-ion anisotropy: the SOC model fits
    it; the non-SOC model (exactly spin-rotation invariant) cannot go below the anisotropy part."""
    rng = np.random.default_rng(1)
    train, test = make_tetragonal_data(rng, 96), make_tetragonal_data(rng, 32)
    ani = float(np.std([K_UNIAXIAL * np.sum(c.magmoms[:, 2] ** 2) / 4 for c in test]))
    common = dict(r_cut=R_CUT_SOC, l_max_sh=2, l_max_message=0, correlation=1)
    rmse_soc = train_and_test(True, train, test, soc=True, **common)
    rmse_nonsoc = train_and_test(True, train, test, soc=False, **common)
    logger.info("anisotropy std %.4f eV/atom; test RMSE SOC %.5f, non-SOC %.5f eV/atom",
                ani, rmse_soc, rmse_nonsoc)
    # measured (seed 1, bounded moment features, softplus Landau top): anisotropy part 0.0133,
    # SOC 0.0033, non-SOC 0.0138 eV/atom
    assert rmse_nonsoc > 0.9 * ani
    assert rmse_soc < 0.4 * ani


# ------------------------------------------------------------------ SOC: Dzyaloshinskii-Moriya
D_DMI = 0.02             # eV/(muB^2 A^2)
R_CUT_DMI = 3.6


def dmi_energy(c: Configuration, r_cut=R_CUT_DMI) -> float:
    """E_DM = D sum_i sum_{j != i} sum_l f(r_ij) f(r_il) (r_ij x r_il) . (m_i x m_j), eV.

    Bond vectors r_ij, r_il from the full neighbour list (l over all neighbours of i; l = j
    drops out since r_ij x r_ij = 0), f(r) = (1 - (r/r_cut)^2)^2. Per pair (i, j) this is
    D_ij . (m_i x m_j) with D_ij = D [f(r_ij) r_ij x P_i - f(r_ji) r_ji x P_j], P_i =
    sum_l f(r_il) r_il: antisymmetric (D_ji = -D_ij), an axial vector of the geometry, zero
    when i and j sit at inversion centres (P = 0; Moriya's rule), invariant under joint
    rotations, inversion (m axial) and time reversal, and changed by a spin-only rotation."""
    i, j, s = neighbour_list(c.positions, c.cell, c.pbc, r_cut)
    vec = c.positions[j] - c.positions[i] + s @ c.cell                         # [E, 3] A
    f = (1 - np.clip(np.linalg.norm(vec, axis=1) / r_cut, 0, 1) ** 2) ** 2     # [E]
    polar = np.zeros((c.n_atoms, 3))
    np.add.at(polar, i, f[:, None] * vec)                                      # P_i [n, 3] A
    axial = np.cross(f[:, None] * vec, polar[i])                               # [E, 3]
    return float(D_DMI * np.sum(axial * np.cross(c.magmoms[i], c.magmoms[j])))


def make_trimer_data(rng, n):
    """Fe3 clusters in a large box (isolated): rattled triangles of side ~2.5 A (no bond
    midpoint is an inversion centre; rattle 0.05 A), jointly rotated at random with their moments
    (random directions, |m| in [2.1, 2.3] muB); E = Heisenberg J + biquadratic + Landau + DMI."""
    tri = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0], [1.25, 2.165, 0.0]])
    out = []
    for _ in range(n):
        rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        rot *= np.sign(np.linalg.det(rot))                      # proper rotation
        pos = (tri + 0.05 * rng.normal(size=(3, 3))) @ rot.T + 6.0
        u = rng.normal(size=(3, 3))
        m = u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(2.1, 2.3, size=(3, 1))
        conf = Configuration(positions=pos, cell=12.0 * np.eye(3), pbc=[True] * 3,
                             numbers=[26] * 3, magmoms=m)
        conf.energy = hamiltonian_energy(conf, R_CUT_DMI) + dmi_energy(conf)
        out.append(conf)
    return out


def test_dmi_symmetry_of_the_synthetic_hamiltonian():
    """The reference E_DM itself: invariant under joint rotation, inversion (moments axial) and
    time reversal, odd under exchanging the spins of a pair of sites, changed by a spin-only
    rotation."""
    rng = np.random.default_rng(3)
    c = make_trimer_data(rng, 1)[0]
    e = dmi_energy(c)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    mk = lambda pos, m: Configuration(positions=pos, cell=c.cell, pbc=c.pbc,  # noqa: E731
                                      numbers=c.numbers, magmoms=m)
    assert abs(e) > 1e-3
    assert abs(dmi_energy(mk((c.positions - 6) @ rot.T + 6, c.magmoms @ rot.T)) - e) < 1e-12
    assert abs(dmi_energy(mk(12.0 - c.positions, c.magmoms)) - e) < 1e-12          # inversion
    assert abs(dmi_energy(mk(c.positions, -c.magmoms)) - e) < 1e-12                # T
    assert abs(dmi_energy(mk(c.positions, c.magmoms @ rot.T)) - e) > 1e-4          # spin only


def test_soc_model_learns_dmi_nonsoc_cannot():
    """Heisenberg + biquadratic + Landau + DMI on Fe3 triangles: the SOC model fits it to a
    small fraction of the DMI energy scale; the non-SOC model (exactly invariant under spin-only
    rotations, under which the DMI part averages to zero) stays at the DMI scale."""
    rng = np.random.default_rng(2)
    train, test = make_trimer_data(rng, 96), make_trimer_data(rng, 32)
    dmi = float(np.std([dmi_energy(c) / 3 for c in test]))
    common = dict(r_cut=R_CUT_DMI, l_max_sh=1, l_max_message=1, l_max_hidden=0, correlation=2,
                  spin_pair_l_max=1, n_channels=8)
    rmse_soc = train_and_test(True, train, test, soc=True, **common)
    rmse_nonsoc = train_and_test(True, train, test, soc=False, **common)
    logger.info("DMI std %.4f eV/atom; test RMSE SOC %.5f, non-SOC %.5f eV/atom",
                dmi, rmse_soc, rmse_nonsoc)
    # measured (seed 2): DMI part 0.0213, SOC 0.0020, non-SOC 0.0301 eV/atom (without the DMI
    # term both fit to ~0.002-0.004: the non-SOC failure is the DMI)
    assert rmse_nonsoc > 0.9 * dmi
    assert rmse_soc < 0.2 * dmi
