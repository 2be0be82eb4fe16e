"""Spin spirals on commensurate supercells: the supercell energy of a Heisenberg model equals the
direct lattice sum E(q), for every q on the DFT path (Gamma-H, Gamma-N), and bad q raise; DFT
spiral frames become real-space training frames whose zero force / magnetic-force labels are
what an exactly symmetric model gives there."""
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from mmace_fast.data.readers import atoms_to_configuration
from mmace_fast.data.spirals import (SpiralError, commensurate_supercell,
                                     heisenberg_spiral_energy, spiral_path_of, spiral_split,
                                     spiral_structure, spiral_training_atoms,
                                     spiral_training_frames, spirals_file_of)
from mmace_fast.data.dft.spirals import spiral_path
from mmace_fast.mc.hamiltonian import SpinHamiltonian

A = 2.866
SHELLS = A * np.array([np.sqrt(3) / 2, 1.0, np.sqrt(2), np.sqrt(11) / 2])
J = np.array([1.2e-3, 0.6e-3, -0.1e-3, -0.2e-3])               # eV, pair once


@pytest.mark.parametrize("label,q", spiral_path(5))
def test_supercell_energy_equals_lattice_sum(label, q):
    prim = bulk("Fe", "bcc", a=A)
    sc, m = spiral_structure(prim, q, A, 2.2)
    M = commensurate_supercell(prim.cell.array, q, A)
    qv = np.asarray(q) * 2 * np.pi / A
    # every supercell translation is a multiple of 2 pi for q
    phases = (M @ prim.cell.array) @ qv / (2 * np.pi)
    np.testing.assert_allclose(phases, np.round(phases), atol=1e-9)
    assert len(sc) == round(abs(np.linalg.det(M)))
    ham = SpinHamiltonian.from_distances(sc.positions, sc.cell.array, np.ones(3, bool),
                                         SHELLS, J)
    e_sc = ham.energy(m) / len(sc)
    e_sum = heisenberg_spiral_energy(prim.cell.array, q, A, 2.2, SHELLS, J)
    assert e_sc == pytest.approx(e_sum, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 2.2)


def test_ferromagnet_and_h_point_limits():
    prim = bulk("Fe", "bcc", a=A)
    e0 = heisenberg_spiral_energy(prim.cell.array, [0, 0, 0], A, 1.0, SHELLS[:1], J[:1])
    eh = heisenberg_spiral_energy(prim.cell.array, [1, 0, 0], A, 1.0, SHELLS[:1], J[:1])
    assert e0 == pytest.approx(-0.5 * 8 * J[0])                # 8 nearest neighbours
    assert eh == pytest.approx(+0.5 * 8 * J[0])                # B2-type antiferromagnet


def test_irrational_q_and_multi_atom_cells_raise():
    prim = bulk("Fe", "bcc", a=A)
    with pytest.raises(SpiralError):
        commensurate_supercell(prim.cell.array, [np.sqrt(2) / 10, 0, 0], A, max_den=24)
    with pytest.raises(SpiralError):
        spiral_structure(bulk("Fe", "bcc", a=A, cubic=True), [0.2, 0, 0], A, 2.0)


SPIRALS = Path(__file__).resolve().parent.parent / "data" / "fe_spirals.extxyz.gz"


def _dft_spiral_frame(q, moment=2.1, energy=-9.9):
    """A frame shaped like the generator's spiral output (1-atom bcc cell)."""
    at = bulk("Fe", "bcc", a=A)
    q = np.asarray(q, dtype=float)
    at.info.update(spiral=True, config_id="fe-spiral-x", config_type="spiral_GN", split="test",
                   qspiral_cart_2pi_over_a=q, qspiral_scaled=at.cell.array @ q / A,
                   dft_lattice_a=A, REF_energy=energy)
    at.arrays["REF_magmom"] = np.array([[moment, 0.0, 0.0]])
    return at


def test_shipped_spiral_frames_become_spirals_with_their_energy_and_moment():
    frames = ase.io.read(str(SPIRALS), ":")
    assert frames
    for fr in frames:
        sc = spiral_training_atoms(fr, split="train")
        n = len(sc)
        q = fr.info["qspiral_cart_2pi_over_a"]
        m = float(np.linalg.norm(fr.arrays["REF_magmom"][0]))
        assert sc.info["REF_energy"] / n == pytest.approx(fr.info["REF_energy"], rel=1e-14)
        assert sc.info["split"] == "train" and sc.info["spiral_path"] == spiral_path_of(q)
        np.testing.assert_allclose(np.linalg.norm(sc.arrays["REF_magmom"], axis=1), m)
        # the moments are the spiral on this supercell: any Heisenberg model gives E(q) on them
        ham = SpinHamiltonian.from_distances(sc.positions, sc.cell.array, np.ones(3, bool),
                                             SHELLS, J)
        e_sum = heisenberg_spiral_energy(fr.cell.array, q, A, m, SHELLS, J)
        assert ham.energy(sc.arrays["REF_magmom"]) / n == pytest.approx(e_sum, rel=1e-11,
                                                                         abs=1e-15)
        conf = atoms_to_configuration(sc, "spiral")
        assert conf.stress is None and conf.magforces_mask.all()
        assert not conf.forces.any() and not conf.magforces.any()
        assert conf.info["split"] == "train"


@pytest.mark.parametrize("q", [[0.2, 0.0, 0.0], [0.1, 0.1, 0.0], [0.3, 0.3, 0.0]])
def test_zero_force_labels_are_what_a_symmetric_model_gives(q):
    """The labels F = 0 and transverse magnetic force = 0 rest on a symmetry argument
    (inversion through a site with the spin C2 about its moment); an exactly symmetric
    non-SOC mMACE with random weights must satisfy it, and give one longitudinal -dE/dm on
    every site (a uniform length change keeps the spiral)."""
    import torch

    from mmace_fast.model import MMACE
    from mmace_fast.model.testing import small_config
    from mmace_fast.model.io import predict

    torch.manual_seed(7)
    model = MMACE(small_config(soc=False)).double()
    with torch.no_grad():
        model.landau.normal_()
    sc = spiral_training_atoms(_dft_spiral_frame(q, moment=2.1))
    conf = atoms_to_configuration(sc, "spiral", species=None)
    out = predict(model, [conf], model.config.r_cut, stress=False, magforces=True)
    f = out["forces"].numpy()                                     # [n, 3] eV/A
    mf = out["magforces"].numpy()                                 # [n, 3] eV/muB
    u = conf.magmoms / np.linalg.norm(conf.magmoms, axis=1)[:, None]
    longitudinal = np.sum(mf * u, axis=1)                         # [n]
    scale = max(np.abs(longitudinal).max(), 1e-3)
    assert np.abs(f).max() < 1e-10 * max(1.0, scale)
    np.testing.assert_allclose(mf - longitudinal[:, None] * u, 0.0, atol=1e-10 * scale)
    np.testing.assert_allclose(longitudinal, longitudinal[0], atol=1e-10 * scale)


def test_spiral_frames_with_bad_q_or_cells_are_refused():
    fr = _dft_spiral_frame([0.2, 0.0, 0.0])
    fr.info["qspiral_scaled"] = np.array([0.1, 0.1, 0.1])        # not this q on this cell
    with pytest.raises(SpiralError, match="not the stored"):
        spiral_training_atoms(fr)
    cubic = bulk("Fe", "bcc", a=A, cubic=True)
    cubic.info["spiral"] = True
    with pytest.raises(SpiralError, match="not a 1-atom spiral"):
        spiral_training_atoms(cubic)
    assert spiral_path_of([0.4, 0, 0]) == "GH" and spiral_path_of([0.1, 0.1, 0]) == "GN"
    assert spiral_path_of([0, 0, 0]) == "G" and spiral_path_of([0.1, 0.2, 0]) == "other"
    assert spiral_path_of([0.2, 0.2, 0.2]) == "GP" and spiral_path_of([0.2, -0.2, 0.2]) == "GP"


def test_spiral_split_holds_out_the_middle_of_both_paths_and_q0_is_no_frame():
    assert spiral_split([0.4, 0, 0]) == "test" and spiral_split([0.2, 0.2, 0]) == "test"
    assert spiral_split([0.2, 0, 0]) == "train" and spiral_split([0.1, 0.1, 0]) == "train"
    assert spiral_split([0.2, 0.2, 0.2]) == "test" and spiral_split([0.5, 0.5, 0.5]) == "train"
    assert spiral_split([0.6, 0, 0]) == "train" and spiral_split([0.5, 0.5, 0]) == "train"
    assert spirals_file_of("data/fe.extxyz.gz") == SPIRALS.parent.relative_to(
        SPIRALS.parent.parent) / "fe_spirals.extxyz.gz"
    frames = spiral_training_frames(SPIRALS)
    shipped = ase.io.read(str(SPIRALS), ":")
    nonzero = [f for f in shipped if np.linalg.norm(f.info["qspiral_cart_2pi_over_a"]) > 0]
    assert len(frames) == len(nonzero) > 0
    for sc, fr in zip(frames, nonzero):
        assert sc.info["split"] == spiral_split(fr.info["qspiral_cart_2pi_over_a"])
    assert spiral_training_frames(SPIRALS.with_name("none_spirals.extxyz.gz")) == []


def test_read_with_spirals_appends_the_supercells_to_the_material_file(tmp_path):
    from mmace_fast.data.readers import read_extxyz
    from mmace_fast.data.spirals import read_with_spirals

    main = SPIRALS.with_name("fe.extxyz.gz")
    both = read_with_spirals(main)
    n_main = len(read_extxyz(main))
    spirals = spiral_training_frames(SPIRALS)
    assert len(both) == n_main + len(spirals)
    assert [c.info["split"] for c in both[n_main:]] == [a.info["split"] for a in spirals]
    assert all(c.stress is None and c.energy is not None for c in both[n_main:])
    lone = tmp_path / "fe.extxyz.gz"          # no fe_spirals file beside it: the file alone
    lone.write_bytes(main.read_bytes())
    assert len(read_with_spirals(lone)) == n_main
