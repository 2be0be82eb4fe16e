"""Tests of the GPAW data generator (mmace_fast.data.dft) and of the shipped data files.

Structure builders, manifest, outcome checks and the queue's bookkeeping run without GPAW; one
smoke test runs a tiny GPAW calculation and is skipped when GPAW is not importable.
"""
from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from mmace_fast.data.dft.queue import WorkDir, classify_outcome, collect, settle_pending
from mmace_fast.data.dft.runner import collinear_magforces
from mmace_fast.data.dft.settings import SettingsError, get_settings
from mmace_fast.data.dft.structures import (
    CELLS, PATTERNS, SpecError, _strain, build_atoms, fold_into_cell, initial_moments,
    make_manifest, split_of)
from mmace_fast.prototypes import conventional_cell

ROOT = Path(__file__).resolve().parents[1]
MATERIALS = ("fe", "feal", "crn")
HAS_GPAW = importlib.util.find_spec("gpaw") is not None


# --- cells and patterns --------------------------------------------------------------------------

@pytest.mark.parametrize("prototype,cell,n,formula", [
    ("bcc_Fe", "prim_bcc", 1, "Fe"), ("bcc_Fe", "cubic", 2, "Fe2"),
    ("bcc_Fe", "cubic_1x1x2", 4, "Fe4"), ("b2_FeAl", "cubic", 2, "AlFe"),
    ("b2_FeAl", "fcc_sc_G", 4, "Al2Fe2"), ("rocksalt_CrN", "prim_fcc", 2, "CrN"),
    ("rocksalt_CrN", "tet_afm1", 4, "Cr2N2"), ("rocksalt_CrN", "ortho_afm2", 8, "Cr4N4"),
    ("rocksalt_CrN", "cubic", 8, "Cr4N4"),
])
def test_cells_hold_expected_atoms(prototype, cell, n, formula):
    a = 4.0
    atoms = fold_into_cell(conventional_cell(prototype, a), np.array(CELLS[cell]), a)
    assert len(atoms) == n
    assert atoms.get_chemical_formula() == formula
    # nearest-neighbour distance of the prototype is preserved (no overlapping atoms)
    d = atoms.get_all_distances(mic=True)[np.triu_indices(n, 1)] if n > 1 else np.array([])
    nn = {"bcc_Fe": a * np.sqrt(3) / 2, "b2_FeAl": a * np.sqrt(3) / 2, "rocksalt_CrN": a / 2}
    if n > 1:
        assert d.min() == pytest.approx(nn[prototype], rel=1e-9)


def test_fold_rejects_a_vector_that_is_not_a_translation():
    # half a cubic edge maps Cr onto N in rocksalt: the atom count would still match
    with pytest.raises(SpecError, match="not a lattice translation"):
        fold_into_cell(conventional_cell("rocksalt_CrN", 4.15),
                       np.array([[0.5, 0, 0], [0, 1, 0], [0, 0, 1]]), 4.15)


@pytest.mark.parametrize("material", MATERIALS)
def test_every_pattern_in_the_manifest_is_commensurate_with_its_cell(material):
    """The sign of a site must not change under the cell's own translations."""
    st = get_settings(material)
    for spec in make_manifest(material):
        if spec["order"] not in PATTERNS:
            continue
        a = st.lattice_a
        atoms = fold_into_cell(conventional_cell(spec["prototype"], a),
                               np.array(CELLS[spec["cell"]]), a)
        sign = PATTERNS[spec["order"]]
        for i, s in enumerate(atoms.get_chemical_symbols()):
            if s not in st.magnetic_species:
                continue
            u = atoms.positions[i] / a
            for t in np.array(CELLS[spec["cell"]], dtype=float):
                assert sign(u + t) == sign(u) == sign(u - t), (spec["id"], i, t)


def test_afm2_is_up_up_down_down_along_110():
    a = 4.15
    atoms = build_atoms({"id": "x", "family": "t", "material": "crn",
                         "prototype": "rocksalt_CrN", "cell": "ortho_afm2", "order": "AFM2"})
    m = atoms.get_initial_magnetic_moments()
    cr = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Cr"]
    assert sorted(m[cr]) == [-3.0, -3.0, 3.0, 3.0]
    assert np.all(m[[i for i in range(8) if i not in cr]] == 0.0)
    # (110) plane index k = 2 (x + y) / a mod 4: planes 0, 1 up; 2, 3 down; all four present
    k = np.rint(2 * (atoms.positions[cr, 0] + atoms.positions[cr, 1]) / a).astype(int) % 4
    assert sorted(k.tolist()) == [0, 1, 2, 3]
    for ki, mi in zip(k, m[cr]):
        assert (mi > 0) == (ki in (0, 1))


def test_afm1_and_bcc_afm_patterns():
    crn = build_atoms({"id": "x", "family": "t", "material": "crn",
                       "prototype": "rocksalt_CrN", "cell": "tet_afm1", "order": "AFM1"})
    m = crn.get_initial_magnetic_moments()
    assert sorted(m.tolist()) == [-3.0, 0.0, 0.0, 3.0]
    cr = np.array(crn.get_chemical_symbols()) == "Cr"
    z = crn.positions[cr, 2]
    assert abs(z[0] - z[1]) == pytest.approx(4.15 / 2)    # the two Cr sit in different (001) planes
    fe = build_atoms({"id": "x", "family": "t", "material": "fe", "prototype": "bcc_Fe",
                      "cell": "cubic", "order": "AFM"})
    assert fe.get_initial_magnetic_moments().tolist() == [2.5, -2.5]
    g = build_atoms({"id": "x", "family": "t", "material": "feal", "prototype": "b2_FeAl",
                     "cell": "fcc_sc_G", "order": "AFMG"})
    assert sorted(g.get_initial_magnetic_moments().tolist()) == [-1.5, 0.0, 0.0, 1.5]


def test_nm_and_random_orders():
    atoms = fold_into_cell(conventional_cell("bcc_Fe", 2.866), np.array(CELLS["cubic_1x1x2"]),
                           2.866)
    assert np.all(initial_moments(atoms, 2.866, "NM", ("Fe",), 2.5) == 0)
    r1 = initial_moments(atoms, 2.866, "random", ("Fe",), 2.5, seed=3)
    r2 = initial_moments(atoms, 2.866, "random", ("Fe",), 2.5, seed=3)
    assert np.array_equal(r1, r2) and set(np.abs(r1)) == {2.5}
    with pytest.raises(SpecError, match="unknown magnetic order"):
        initial_moments(atoms, 2.866, "spiral", ("Fe",), 2.5)


# --- strain, rattle, manifest ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["iso", "tet", "trig", "ortho", "general"])
def test_strain_kinds(kind):
    rng = np.random.default_rng(0)
    for _ in range(50):
        eps = np.array(_strain(rng, kind, vol=0.04, shear=0.02))
        assert np.allclose(eps, eps.T)
        dv = np.linalg.det(np.eye(3) + eps) - 1.0
        assert abs(dv) < 0.045
        off = eps[~np.eye(3, dtype=bool)]
        if kind in ("iso", "tet", "ortho"):
            assert np.all(off == 0)
        if kind == "trig":
            assert np.allclose(off, off[0])
        if kind == "iso":
            assert np.allclose(np.diag(eps), eps[0, 0])
    with pytest.raises(SpecError):
        _strain(rng, "twist")


def test_build_applies_strain_and_rattle():
    spec = {"id": "fe-t-000", "family": "t", "material": "fe", "prototype": "bcc_Fe",
            "cell": "cubic", "order": "FM", "strain": np.diag([0.01, 0.0, -0.01]).tolist(),
            "rattle": 0.05, "rattle_seed": 7}
    a = build_atoms(spec)
    b = build_atoms(spec)
    assert np.array_equal(a.positions, b.positions)
    assert np.allclose(a.cell.lengths(), 2.866 * np.array([1.01, 1.0, 0.99]))
    ideal = build_atoms(dict(spec, rattle=0.0))
    disp = a.positions - ideal.positions
    assert np.allclose(disp.mean(axis=0), 0.0, atol=1e-12)
    assert 0.0 < np.abs(disp).max() < 0.3
    with pytest.raises(SpecError, match="symmetric"):
        build_atoms(dict(spec, strain=[[0, 0.01, 0], [0, 0, 0], [0, 0, 0]]))


@pytest.mark.parametrize("material", MATERIALS)
def test_manifest_is_deterministic_and_ordered(material):
    m1 = make_manifest(material, seed=5)
    m2 = make_manifest(material, seed=5)
    m3 = make_manifest(material, seed=6)
    assert m1 == m2
    assert [s["id"] for s in m1] == [s["id"] for s in m3]
    assert any(s1["rattle_seed"] != s3["rattle_seed"] for s1, s3 in zip(m1, m3))
    assert len({s["id"] for s in m1}) == len(m1)
    tiers = [s["tier"] for s in m1]
    assert tiers == sorted(tiers) and tiers[0] == 0
    for spec in m1:
        atoms = build_atoms(spec)
        assert atoms.info["config_id"] == spec["id"]
        assert np.isfinite(atoms.positions).all()


def test_commensurate_spiral_cells_are_spirals_across_the_boundary():
    """Every neighbour pair of a nc_spiral001 cell (periodic images included) has the angle
    q . d of a flat spiral with the spec's q, and the cell holds one period (n sites)."""
    from ase.neighborlist import neighbor_list

    specs = [s for s in make_manifest("fe") if s["family"] == "nc_spiral001"]
    assert len(specs) == 8 and {s["tier"] for s in specs} == {5}
    a = get_settings("fe").lattice_a
    for spec in specs:
        atoms = build_atoms(dict(spec, strain=np.zeros((3, 3)).tolist(), rattle=0.0))
        u = np.asarray(spec["directions"])                               # [n, 3]
        q = 2 * np.pi / a * np.asarray(spec["spiral_q_2pi_a"])          # [3] 1/A
        i, j, d = neighbor_list("ijD", atoms, 2.9)                      # 1st + 2nd shells
        assert len(i) == 14 * len(atoms)
        assert np.allclose(np.einsum("ij,ij->i", u[i], u[j]), np.cos(d @ q), atol=1e-7)
        # the moments span a plane (flat spiral) and are not collinear
        assert np.linalg.matrix_rank(u, tol=1e-6) == 2
        assert np.allclose(build_atoms(spec).get_initial_magnetic_moments(),
                           get_settings("fe").start_moment * u)


def test_unknown_material_and_cell():
    with pytest.raises(SettingsError):
        get_settings("mnbi")
    with pytest.raises(SpecError, match="unknown cell"):
        build_atoms({"id": "x", "family": "t", "material": "fe", "prototype": "bcc_Fe",
                     "cell": "hex", "order": "FM"})


def test_split_is_fixed_and_roughly_80_10_10():
    ids = [f"fe-x-{k:04d}" for k in range(3000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]
    frac = {s: splits.count(s) / len(ids) for s in ("train", "valid", "test")}
    assert abs(frac["train"] - 0.8) < 0.03 and abs(frac["valid"] - 0.1) < 0.02


def test_protocol_kpoint_meshes():
    """The protocol's meshes: 14^3 for 1-atom bcc Fe, 10^3 for 2-atom cubic Fe/FeAl at D=4.5;
    CrN at D=4.5 (chosen by the k-point test, DATA.md): 7^3 for the 8-atom cubic cell."""
    from mmace_fast.data.dft.runner import kpoint_mesh
    base = {"id": "x", "family": "t", "order": "FM"}
    fe1 = build_atoms(dict(base, material="fe", prototype="bcc_Fe", cell="prim_bcc"))
    fe2 = build_atoms(dict(base, material="fe", prototype="bcc_Fe", cell="cubic"))
    feal = build_atoms(dict(base, material="feal", prototype="b2_FeAl", cell="cubic"))
    crn = build_atoms(dict(base, material="crn", prototype="rocksalt_CrN", cell="cubic"))
    assert kpoint_mesh(fe1, get_settings("fe")) == [14, 14, 14]
    assert kpoint_mesh(fe2, get_settings("fe")) == [10, 10, 10]
    assert kpoint_mesh(feal, get_settings("feal")) == [10, 10, 10]
    assert kpoint_mesh(crn, get_settings("crn")) == [7, 7, 7]


# --- outcome checks and queue bookkeeping ------------------------------------------------------

def test_classify_outcome():
    fe, feal, crn = get_settings("fe"), get_settings("feal"), get_settings("crn")
    assert classify_outcome(["Fe", "Fe"], [2.5, -2.5], [1.39, -1.39], fe) == ("ok", "")
    status, note = classify_outcome(["Fe", "Fe"], [2.5, -2.5], [0.01, -0.02], fe)
    assert status == "collapse" and "[0, 1]" in note
    status, note = classify_outcome(["Fe", "Al"], [1.5, 0.0], [0.0, 0.0], feal)
    assert status == "nonmagnetic_physical" and "physical" in note
    assert classify_outcome(["Fe", "Al"], [0.0, 0.0], [0.0, 0.0], feal)[0] == "ok"
    status, note = classify_outcome(["Cr", "Cr", "N", "N"], [3, -3, 0, 0],
                                    [2.3, 2.3, 0, 0], crn)
    assert status == "ok" and "sign changed on sites [1]" in note
    assert classify_outcome(["Cr", "N"], [3.0, 0.0], [0.2, 0.0], crn)[0] == "collapse"


def _fake_frame(cid: str, m0, m, symbols=("Fe", "Fe")) -> Atoms:
    n = len(symbols)
    atoms = Atoms(list(symbols), positions=np.arange(3 * n, dtype=float).reshape(n, 3) * 0.7,
                  cell=np.eye(3) * 2.866, pbc=True)
    atoms.info.update(config_id=cid, config_type="t_FM", REF_energy=-20.0,
                      REF_stress=np.eye(3) * 0.01, initial_magmoms=np.asarray(m0, float),
                      converged_magmoms=np.asarray(m, float), wall_time_s=10.0)
    atoms.arrays["REF_forces"] = np.zeros((n, 3))
    mv = np.zeros((n, 3))
    mv[:, 2] = m
    atoms.arrays["REF_magmom"] = mv
    return atoms


def test_settle_records_failures_and_collect_assigns_splits(tmp_path):
    wd = WorkDir(tmp_path / "fe", "fe")
    write(wd.root / "pending" / "fe-a-000.extxyz", _fake_frame("fe-a-000", [2.5, 2.5], [2.2, 2.2]))
    write(wd.root / "pending" / "fe-a-001.extxyz", _fake_frame("fe-a-001", [2.5, -2.5], [0.0, 0.0]))
    assert settle_pending(wd, "fe-a-000") == "ok"
    assert settle_pending(wd, "fe-a-001") == "collapse"
    assert wd.frame("fe-a-000").exists() and not wd.frame("fe-a-001").exists()
    assert (wd.root / "rejected" / "fe-a-001.extxyz").exists()
    fails = wd.failures()
    assert len(fails) == 1 and fails[0]["id"] == "fe-a-001" and fails[0]["kept"] is False
    # a second process sharing the work directory that settles the same frame gets the
    # first one's outcome and records nothing twice
    assert settle_pending(wd, "fe-a-000") == "ok"
    assert settle_pending(wd, "fe-a-001") == "collapse" and len(wd.failures()) == 1
    with pytest.raises(FileNotFoundError, match="no pending, settled or rejected"):
        settle_pending(wd, "fe-a-404")
    assert wd.finished_ids() == {"fe-a-000", "fe-a-001"}
    assert wd.finished_ids(retry_failed=True) == {"fe-a-000"}
    out = tmp_path / "data" / "fe.extxyz.gz"
    summary = collect("fe", wd.root, out)
    assert summary["n_frames"] == 1 and summary["failures"] == {"collapse": 1}
    with gzip.open(out, "rt") as fh:
        frames = read(fh, index=":", format="extxyz")
    assert frames[0].info["split"] == split_of("fe-a-000")
    assert frames[0].info["outcome"] == "ok"
    first = out.read_bytes()
    import time  # noqa: PLC0415
    time.sleep(1.1)                  # a gzip header time stamp would change the bytes
    collect("fe", wd.root, out)
    assert out.read_bytes() == first     # same frames, same bytes: the data hash is stable


def test_manifest_is_stored_and_checked(tmp_path):
    from mmace_fast.data.dft.queue import QueueError
    wd = WorkDir(tmp_path / "fe", "fe")
    specs = wd.load_manifest(seed=11)
    stored = json.loads(wd.manifest_path.read_text())
    assert stored["seed"] == 11 and len(stored["specs"]) == len(specs)
    assert wd.load_manifest(seed=11) == specs
    with pytest.raises(QueueError, match="seed"):
        wd.load_manifest(seed=12)


def test_central_difference_and_pick():
    from mmace_fast.data.dft.fdcheck import central_difference, pick_component
    # E = 0.5 k x^2 sampled at +-h around x0: -dE/dx = -k x0
    k, x0, h = 3.0, 0.2, 0.01
    e = lambda x: 0.5 * k * x * x  # noqa: E731
    assert central_difference(e(x0 + h), e(x0 - h), h) == pytest.approx(-k * x0)
    assert pick_component(np.array([[0.1, -0.5, 0.2], [0.3, 0.0, 0.4]])) == (0, 1)


# --- shipped data ------------------------------------------------------------------------------

SHIPPED = sorted(p for p in (ROOT / "data").glob("*.extxyz.gz") if "_spirals" not in p.name)
XC = {"fe": "LDA", "feal": "PBE", "crn": "PBE", "fept": "LDA"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_frames_have_finite_declared_fields(path):
    material = path.name.split(".")[0]
    st = get_settings(material)
    with gzip.open(path, "rt") as fh:
        frames = read(fh, index=":", format="extxyz")
    assert frames, path
    ids = set()
    for k, a in enumerate(frames):
        where = f"{path.name}:{k}"
        n = len(a)
        assert np.isfinite(a.info["REF_energy"]), where
        assert a.arrays["REF_forces"].shape == (n, 3) and np.isfinite(a.arrays["REF_forces"]).all()
        assert a.arrays["REF_magmom"].shape == (n, 3) and np.isfinite(a.arrays["REF_magmom"]).all()
        if not a.info.get("noncollinear", False):
            assert np.all(a.arrays["REF_magmom"][:, :2] == 0.0), where
            assert np.allclose(a.arrays["REF_magmom"][:, 2],
                               np.atleast_1d(a.info["converged_magmoms"])), where
        if "REF_stress" in a.info:
            s = np.asarray(a.info["REF_stress"])
            assert s.shape == (3, 3) and np.isfinite(s).all() and np.allclose(s, s.T), where
        if "REF_magforces" in a.arrays:
            assert a.arrays["REF_magforces"].shape == (n, 3)
            assert a.arrays["REF_magforces_mask"].shape == (n, 3)
        # energies per atom in a sane window for these PAW references (eV)
        assert -15.0 < a.info["REF_energy"] / n < -3.0, where
        assert np.abs(a.arrays["REF_forces"]).max() < 20.0, where
        assert a.info["split"] in ("train", "valid", "test")
        assert a.info["split"] == split_of(a.info["config_id"])
        assert a.info["dft_xc"] == XC[material] == st.xc
        assert a.info["dft_ecut_ev"] == st.ecut_ev and a.info["dft_kpts_density"] == st.kpts_density
        assert a.info["gpaw_version"] == "26.7.0" and a.info["gpaw_data_version"] == "1.2.1"
        assert a.info["outcome"] in ("ok", "nonmagnetic_physical")
        if st.soc:         # spin-orbit frames: non-collinear, orbital moments, SOC energy
            assert a.info["dft_soc"] is True and a.info["noncollinear"] is True, where
            assert a.arrays["orbital_magmom"].shape == (n, 3), where
            assert np.isfinite(a.arrays["orbital_magmom"]).all(), where
            assert np.isfinite(a.info["energy_spinorbit"]), where
        ids.add(a.info["config_id"])
    assert len(ids) == len(frames)


# --- GPAW smoke test ----------------------------------------------------------------------------

@pytest.mark.gpaw
@pytest.mark.skipif(not HAS_GPAW, reason="GPAW not installed (optional, see DATA.md)")
def test_gpaw_smoke_fe1_lda(tmp_path):
    """One bcc Fe atom at low cutoff and k density: a magnetic, finite, well-shaped frame."""
    from mmace_fast.data.dft.runner import run_calculation
    st = dataclasses.replace(get_settings("fe"), ecut_ev=250.0, kpts_density=1.0,
                             conv_energy=1e-4, conv_density=1e-3)
    atoms = build_atoms({"id": "fe-smoke-000", "family": "smoke", "material": "fe",
                         "prototype": "bcc_Fe", "cell": "prim_bcc", "order": "FM"})
    frame, timing = run_calculation(atoms, st, txt=str(tmp_path / "gpaw.txt"))
    assert np.isfinite(frame.info["REF_energy"])
    assert frame.info["REF_energy"] <= frame.info["energy_extrapolated"] + 0.1
    assert 1.5 < frame.arrays["REF_magmom"][0, 2] < 3.0
    assert np.abs(frame.arrays["REF_forces"]).max() < 1e-6        # one atom: no force
    assert frame.info["REF_stress"].shape == (3, 3)
    assert frame.info["gpaw_version"] == "26.7.0" and "Fe=Fe.LDA" in frame.info["setups"]


# --- non-collinear labels (no GPAW needed) -------------------------------------------------------

def test_constraint_magforce_is_the_penalty_gradient():
    """-dE/dM at the converged moments equals +dP/dM (envelope of the penalised SCF)."""
    from mmace_fast.data.dft.noncollinear import (constraint_magforces, penalty_energy,
                                                  unit_directions)
    rng = np.random.default_rng(1)
    u = unit_directions(rng.normal(size=(3, 3)))
    m = 2.2 * u + 0.1 * rng.normal(size=(3, 3))
    constrained = np.array([True, True, False])
    lam = 0.8
    f = constraint_magforces(m, u, lam, constrained)
    h = 1e-6
    for a in range(3):
        for v in range(3):
            mp, mm = m.copy(), m.copy()
            mp[a, v] += h
            mm[a, v] -= h
            dp = (penalty_energy(mp, u, lam, constrained).sum()
                  - penalty_energy(mm, u, lam, constrained).sum()) / (2 * h)
            assert f[a, v] == pytest.approx(dp, abs=1e-8)
    assert np.all(f[2] == 0.0)
    # transverse to the target: no component along u
    assert np.allclose(np.einsum("av,av->a", f, u), 0.0, atol=1e-12)
    # zero when the moment lies on its target
    assert np.allclose(constraint_magforces(1.7 * u, u, lam, constrained), 0.0)


def test_noncollinear_specs():
    from mmace_fast.data.dft.noncollinear import NonCollinearError, check_functional
    specs = [s for s in make_manifest("fe") if s["order"] == "NC"]
    assert specs and all(s["tier"] >= 4 for s in specs)
    for s in specs:
        a = build_atoms(s)
        m0 = a.get_initial_magnetic_moments()
        assert m0.shape == (len(a), 3)
        assert np.allclose(np.linalg.norm(m0, axis=1), 2.5)
        assert np.allclose(m0 / 2.5, np.asarray(s["directions"]), atol=1e-7)
    canted = [s for s in specs if s["family"] == "nc2_canted"]
    ang = [np.degrees(np.arccos(np.clip(np.dot(*np.asarray(s["directions"])), -1, 1)))
           for s in canted]
    assert min(ang) >= 10.0 - 1e-6 and max(ang) <= 170.0 + 1e-6
    with pytest.raises(NonCollinearError, match="LDA-only"):
        check_functional(get_settings("crn"))


def test_settle_rejects_a_constraint_that_did_not_hold(tmp_path):
    wd = WorkDir(tmp_path / "fe", "fe")
    for cid, m in (("fe-nc-000", [[0, 0, 2.2], [1.9, 0, 1.1]]),     # 60 deg pair held
                   ("fe-nc-001", [[0, 0, 2.2], [0.4, 0, 2.1]])):    # relaxed towards parallel
        a = _fake_frame(cid, [2.5, 2.5], [2.2, 2.2])
        a.info["initial_magmoms"] = np.array([0, 0, 2.5, 2.165, 0, 1.25])
        a.info["converged_magmoms"] = np.ravel(m).astype(float)
        u = np.array([[0, 0, 1.0], [np.sin(np.pi / 3), 0, 0.5]])
        a.info["noncollinear"] = True
        a.arrays["constrained"] = np.ones(2, dtype=int)
        mm = np.asarray(m, float)
        a.info["angle_to_target_deg"] = np.degrees(np.arccos(
            np.einsum("av,av->a", mm, u) / np.linalg.norm(mm, axis=1)))
        a.arrays["REF_magmom"] = mm
        write(wd.root / "pending" / f"{cid}.extxyz", a)
    assert settle_pending(wd, "fe-nc-000") == "ok"
    assert settle_pending(wd, "fe-nc-001") == "collapse"
    assert "constraint not held" in wd.failures()[0]["note"]


def test_a_claim_left_by_a_dead_settler_is_recovered(tmp_path):
    from mmace_fast.data.dft.queue import claim_pending, recover_stale_claims
    wd = WorkDir(tmp_path / "fe", "fe")
    write(wd.root / "pending" / "fe-a-002.extxyz", _fake_frame("fe-a-002", [2.5, 2.5], [2.2, 2.2]))
    claim = claim_pending(wd, "fe-a-002")
    assert claim.exists() and claim_pending(wd, "fe-a-002") is None
    assert recover_stale_claims(wd) == []                       # this process is alive
    dead = claim.with_name("fe-a-002.extxyz.claimed-999999999")  # no such pid
    claim.rename(dead)
    assert recover_stale_claims(wd) == ["fe-a-002"]
    assert settle_pending(wd, "fe-a-002") == "ok" and wd.frame("fe-a-002").exists()
    assert not list((wd.root / "pending").iterdir())


def test_spiral_specs_and_q_conversion():
    from mmace_fast.data.dft.spirals import BCC_POINTS, q_scaled, spiral_path
    path = spiral_path(5)
    a = 2.866
    assert len(path) == 16 and path[0][1] == [0.0, 0.0, 0.0]
    assert path[5][1] == [1.0, 0.0, 0.0] and path[10][1] == [0.5, 0.5, 0.0]
    assert path[-1] == ("GP_1.00", [0.5, 0.5, 0.5])
    # the P point: nearest neighbours perpendicular (q.R = +-pi/2, 3 pi/2), second antiparallel
    qp = np.asarray(BCC_POINTS["P"]) * 2 * np.pi / a
    assert np.cos(np.dot(qp, a * np.array([0.5, 0.5, -0.5]))) == pytest.approx(0.0, abs=1e-12)
    assert np.cos(np.dot(qp, a * np.array([1.0, 0.0, 0.0]))) == pytest.approx(-1.0)
    atoms = build_atoms({"id": "x", "family": "t", "material": "fe", "prototype": "bcc_Fe",
                         "cell": "prim_bcc", "order": "SPIRAL", "q_cart_2pi_a": [1, 0, 0]})
    assert atoms.get_initial_magnetic_moments().tolist() == [[2.5, 0.0, 0.0]]
    qh = q_scaled(atoms, BCC_POINTS["H"], a)
    # phase q.R: pi between the corner and the body centre, 2 pi along a cube edge (B2 AFM)
    q = np.asarray(BCC_POINTS["H"]) * 2 * np.pi / a
    assert np.dot(q, a * np.array([0.5, 0.5, 0.5])) == pytest.approx(np.pi)
    assert np.allclose(qh, atoms.cell.array @ q / (2 * np.pi))
    assert np.allclose(np.abs(qh), 0.5)
    specs = [s for s in make_manifest("fe") if s["order"] == "SPIRAL"]
    assert len(specs) == 16 and all(s["tier"] == 6 for s in specs)
    # appending Gamma-P kept the ids of the computed Gamma-H / Gamma-N spirals
    by_id = {s["id"]: s["q_label"] for s in specs}
    assert by_id["fe-spiral-010"] == "GN_1.00" and by_id["fe-spiral-011"] == "GP_0.20"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_files_read_into_configurations(path):
    """The project's reader turns every shipped frame into a Configuration with all labels."""
    _check_reads_into_configurations(path)


def _check_reads_into_configurations(path):
    from mmace_fast.data.readers import read_extxyz
    confs = read_extxyz(path)
    with gzip.open(path, "rt") as fh:
        raw = read(fh, index=":", format="extxyz")
    assert len(confs) == len(raw)
    for c, a in zip(confs, raw):
        assert c.energy is not None and c.forces is not None and c.magmoms is not None
        if a.info.get("noncollinear", False):    # GPAW's stress fails in non-collinear mode
            assert "REF_stress" not in a.info and c.stress is None
            assert np.array_equal(c.magmoms, a.arrays["REF_magmom"])
        else:
            assert c.stress is not None and c.stress.shape == (3, 3)
        assert c.magforces is not None and c.magforces_mask is not None


def test_pipeline_first_argument_is_validated():
    """--first MATERIAL:TIER: malformed text and unknown materials/tiers are refused before any
    calculation starts (a typo must not silently run the default order)."""
    from mmace_fast.data.dft.cli import _material_tier
    from mmace_fast.data.dft.pipeline import run_pipeline

    assert _material_tier("fe:4") == ("fe", 4)
    assert _material_tier(" crn : 2") == ("crn", 2)
    for bad in ("fe", "fe:", "fe:x", "4"):
        with pytest.raises(SystemExit):
            _material_tier(bad)
    for first in ([("pt", 1)], [("fe", 99)], [("fe", -1)]):
        with pytest.raises(ValueError):
            run_pipeline("/nonexistent-root", "/nonexistent-data", first=first)


def _labelled(spec: dict) -> Atoms:
    """The structure of ``spec`` with fake DFT labels (as a finished frame)."""
    atoms = build_atoms(spec)
    n = len(atoms)
    m0 = atoms.get_initial_magnetic_moments()
    atoms.info.update(REF_energy=-10.0 * n, REF_stress=np.eye(3) * 0.01, initial_magmoms=m0,
                      converged_magmoms=0.9 * m0, wall_time_s=5.0, outcome="ok")
    atoms.arrays["REF_forces"] = np.zeros((n, 3))
    atoms.arrays["REF_magmom"] = np.column_stack([np.zeros((n, 2)), 0.9 * m0])
    atoms.arrays["REF_magforces"], atoms.arrays["REF_magforces_mask"] = collinear_magforces(n)
    atoms.set_initial_magnetic_moments(None)
    return atoms


def test_shipped_files_restore_a_lost_workdir_and_collect_never_drops_them(tmp_path):
    """dft_runs/ is lost with its machine; data/ is in the repository. A new work directory is
    rebuilt from the shipped frames, failure records and FD results; a collect from a work
    directory that lacks shipped frames refuses to overwrite the file (CPU hours would be lost)
    unless the frames are withdrawn by name; a shipped frame that is not the structure of its
    spec (manifest changed under the data) is refused."""
    from mmace_fast.data.dft.queue import QueueError, restore_shipped

    specs = [s for s in make_manifest("fe") if s["tier"] == 0][:3]
    old = WorkDir(tmp_path / "old" / "fe", "fe")
    old.load_manifest(seed=20261124)
    for s in specs:
        write(old.frame(s["id"]), _labelled(s), format="extxyz")
    old.record_failure({"id": "fe-bcc2_rattle-000", "reason": "timeout", "kept": False})
    (old.root / "fd").mkdir()
    (old.root / "fd" / "results.jsonl").write_text(json.dumps({"id": specs[0]["id"]}) + "\n")
    out = tmp_path / "data" / "fe.extxyz.gz"
    assert collect("fe", old.root, out)["n_frames"] == 3
    assert (tmp_path / "data" / "fe.failures.jsonl").exists()
    assert (tmp_path / "data" / "fe.fd.jsonl").exists()
    shipped = out.read_bytes()

    new_root = tmp_path / "new" / "fe"
    with pytest.raises(QueueError, match="would drop 3 shipped frames"):
        collect("fe", new_root, out)
    assert out.read_bytes() == shipped
    assert restore_shipped(new_root, "fe", out) == {"frames": 3, "failures": 1, "fd": 1}
    assert restore_shipped(new_root, "fe", out) == {"frames": 0, "failures": 0, "fd": 0}
    new = WorkDir(new_root, "fe")
    assert new.finished_ids() == {s["id"] for s in specs} | {"fe-bcc2_rattle-000"}
    collect("fe", new_root, out)
    with gzip.open(out, "rt") as fh:
        again = read(fh, index=":", format="extxyz")
    assert [a.info["config_id"] for a in again] == sorted(s["id"] for s in specs)
    assert all(a.info["split"] == split_of(a.info["config_id"]) for a in again)

    # a work directory that lost a record (never restored): collect puts it back, never drops it
    new.failures_path.unlink()
    collect("fe", new_root, out)
    assert "fe-bcc2_rattle-000" in (tmp_path / "data" / "fe.failures.jsonl").read_text()
    new.frame(specs[1]["id"]).unlink()
    with pytest.raises(QueueError, match="would drop 1 shipped frames"):
        collect("fe", new_root, out)
    assert collect("fe", new_root, out, withdraw=[specs[1]["id"]])["n_frames"] == 2

    moved = _labelled(specs[0])
    moved.positions += 0.01
    with gzip.open(out, "wt") as fh:
        write(fh, [moved], format="extxyz")
    with pytest.raises(QueueError, match="not the structure its spec builds"):
        restore_shipped(tmp_path / "third" / "fe", "fe", out)


def test_pipeline_materials_are_validated():
    from mmace_fast.data.dft.cli import _materials
    from mmace_fast.data.dft.pipeline import run_pipeline

    assert _materials("feal, crn,") == ["feal", "crn"]
    for materials in (["pt"], [], ["fe", "ni"]):
        with pytest.raises(ValueError, match="materials"):
            run_pipeline("/nonexistent-root", "/nonexistent-data", materials=materials)
    with pytest.raises(ValueError, match="--first"):
        run_pipeline("/nonexistent-root", "/nonexistent-data", materials=["feal"],
                     first=[("fe", 2)])


def test_deadline_defers_what_cannot_finish(tmp_path):
    """A job's processes are killed at its deadline: with a deadline, a calculation whose
    expected wall time (median CPU time of its family's finished frames, else a guess by
    order) would end after it is not started, and counted as deferred."""
    import time

    from mmace_fast.data.dft.cli import _deadline
    from mmace_fast.data.dft.queue import DEFAULT_WALL_S, estimated_wall_s, run_queue

    specs = [s for s in make_manifest("fe") if s["family"] == "bcc2_rattle"]
    wd = WorkDir(tmp_path / "fe", "fe")
    wd.load_manifest(seed=20261124)
    nc = next(s for s in make_manifest("fe") if s["order"] == "NC")
    assert estimated_wall_s(wd, nc) == DEFAULT_WALL_S["NC"]
    for s, wall in zip(specs[:3], (500.0, 700.0, 2000.0)):
        frame = _labelled(s)
        frame.info["wall_time_s"] = wall
        write(wd.frame(s["id"]), frame, format="extxyz")
    assert estimated_wall_s(wd, specs[5]) == 700.0
    # a family not run yet: the frames of its cost class, found through the manifest
    from mmace_fast.data.dft.queue import guess_wall_s
    manifest = wd.load_manifest(seed=20261124)
    new = dict(specs[5], family="bcc2_new", id="fe-bcc2_new-000")
    assert estimated_wall_s(wd, new, manifest) == 700.0
    assert estimated_wall_s(wd, new) == guess_wall_s(new)
    # the CPU time, when recorded, is the cost: a job slowed by a neighbour on the cores took
    # twice its CPU time in wall time, and that wall time would defer jobs that fit
    frame = _labelled(specs[1])
    frame.info.update(wall_time_s=700.0, cpu_time_s=450.0)
    write(wd.frame(specs[1]["id"]), frame, format="extxyz")
    assert estimated_wall_s(wd, specs[5]) == 500.0           # median of 500, 450, 2000
    todo = [s["id"] for s in specs[3:6]]
    counts = run_queue("fe", wd.root, ids=todo, deadline=time.time() + 600.0)
    assert counts == {"deferred": 3}
    assert not any((wd.root / "specs").iterdir())            # nothing was started
    assert abs(_deadline("+30") - time.time() - 1800.0) < 5.0
    # a misspelt id is an error, not a silent "0 to run"; commas separate ids too
    with pytest.raises(ValueError, match="not in the manifest: fe-bcc2_rattle-999"):
        run_queue("fe", wd.root, ids=["fe-bcc2_rattle-999"], deadline=time.time() + 600.0)
    from mmace_fast.data.dft.cli import _split_ids, main
    assert _split_ids([",".join(todo[:2]), todo[2]]) == todo
    with pytest.raises(SystemExit, match="ids not in the manifest"):
        main(["run", "--material", "fe", "--workdir", str(wd.root), "--data-dir",
              str(tmp_path / "none"), "--ids", f"{todo[0]},fe-nope-000"])
    with pytest.raises(SystemExit):
        _deadline("tomorrow")


def test_campaign_plan_counts_from_the_shipped_files(tmp_path):
    """`plan` reads only data/: done = shipped ids, failed = non-kept failure records, the rest
    left with a cost from the family's median CPU time (else the guess by order and size)."""
    from mmace_fast.data.dft.campaign import campaign_status, campaign_table
    from mmace_fast.data.dft.queue import guess_wall_s

    specs = [s for s in make_manifest("fe") if s["family"] == "bcc2_rattle"]
    frames = []
    for s, cpu in zip(specs[:3], (100.0, 300.0, 500.0)):
        a = _labelled(s)
        a.info.update(config_id=s["id"], cpu_time_s=cpu, split=split_of(s["id"]))
        frames.append(a)
    with gzip.open(tmp_path / "fe.extxyz.gz", "wt") as fh:
        write(fh, frames, format="extxyz")
    (tmp_path / "fe.failures.jsonl").write_text(
        json.dumps({"id": specs[3]["id"], "reason": "timeout", "kept": False}) + "\n")
    rows = {(r["material"], r["tier"]): r for r in campaign_status(tmp_path)}
    r = rows[("fe", 1)]
    assert (r["specs"], r["done"], r["failed"], r["left"]) == (len(specs), 3, 1, len(specs) - 4)
    assert r["cpu_h_left"] == pytest.approx((len(specs) - 4) * 300.0 / 3600.0)
    nc = [s for s in make_manifest("fe") if s["tier"] == 5]
    assert rows[("fe", 5)]["cpu_h_left"] == pytest.approx(
        sum(guess_wall_s(s) for s in nc) / 3600.0)
    assert guess_wall_s(nc[0]) == 2 * guess_wall_s(
        next(s for s in make_manifest("fe") if s["tier"] == 4))     # 4 atoms vs 2
    assert rows[("crn", 0)]["done"] == 0
    assert "| fe | 3 | 150 |" in campaign_table(tmp_path)
    # specs of a pattern that only failed its SCF: neither failed nor left
    flipped = _bcc4_by_signature()[((0, 8), (4, 4), (4, 4), (8, 0))]
    with open(tmp_path / "fe.failures.jsonl", "a") as fh:
        for s in flipped[:2]:
            fh.write(json.dumps({"id": s["id"], "reason": "scf_not_converged",
                                 "kept": False}) + "\n")
    r2 = {(r["material"], r["tier"]): r for r in campaign_status(tmp_path)}[("fe", 2)]
    assert r2["failed"] == 2 and r2["scf_risk"] == len(flipped) - 2
    assert r2["left"] == r2["specs"] - len(flipped)


def _bcc4_by_signature() -> dict:
    from mmace_fast.data.dft.queue import neighbour_signature
    out: dict = {}
    for s in make_manifest("fe"):
        if s["family"] in ("bcc4_random", "bcc4_random2"):
            out.setdefault(neighbour_signature(s)[1], []).append(s)
    return out


def test_neighbour_signature_of_collinear_starts():
    """Per magnetic site, parallel / antiparallel nearest neighbours of the ideal cell (bcc:
    8), with the cell; nothing for non-magnetic, non-collinear and spiral specs."""
    from mmace_fast.data.dft.queue import neighbour_signature

    groups = _bcc4_by_signature()
    assert ((8, 0),) * 4 in groups                                   # FM
    assert ((4, 4),) * 4 in groups                                   # (001) double layers
    assert ((0, 8), (4, 4), (4, 4), (8, 0)) in groups                # one moment flipped
    assert ((0, 8),) * 4 in groups                                   # checkerboard
    afm2 = next(s for s in make_manifest("fe") if s["family"] == "bcc2_rattle"
                and s["order"] == "AFM")
    assert neighbour_signature(afm2) == ("cubic", ((0, 8), (0, 8)))  # not the 4-atom class
    feal_nm = next(s for s in make_manifest("feal") if s["order"] == "NM")
    assert neighbour_signature(feal_nm) is None
    for order in ("NC", "SPIRAL"):
        assert neighbour_signature(next(s for s in make_manifest("fe")
                                        if s["order"] == order)) is None
    assert neighbour_signature(make_manifest("fept")[0]) is None


def test_patterns_that_only_failed_their_scf_are_skipped(tmp_path):
    """Two SCF failures of a starting pattern, and no converged frame of it, skip the other
    specs of that pattern (same cell); a converged one, other failure kinds or kept records do
    not; named ids and include_scf_risk still run them."""
    from mmace_fast.data.dft.queue import run_queue, scf_risk_ids

    flipped = _bcc4_by_signature()[((0, 8), (4, 4), (4, 4), (8, 0))]
    assert len(flipped) >= 4
    manifest = make_manifest("fe")
    scf = [{"id": s["id"], "reason": "scf_not_converged", "kept": False} for s in flipped[:2]]
    risky = scf_risk_ids(manifest, scf, set())
    assert set(risky) == {s["id"] for s in flipped[2:]}
    assert "2 SCF failures" in risky[flipped[2]["id"]]
    assert scf_risk_ids(manifest, scf[:1], set()) == {}                    # one is not enough
    assert scf_risk_ids(manifest, scf, {flipped[2]["id"]}) == {}           # one converged
    other = [dict(r, reason="timeout") for r in scf]
    assert scf_risk_ids(manifest, other, set()) == {}
    wandered = [{"id": flipped[0]["id"], "reason": "error", "kept": False,
                 "message": "stopped by hand: SCF wandered between magnetic states"}, scf[1]]
    assert set(scf_risk_ids(manifest, wandered, set())) == set(risky)
    assert scf_risk_ids(manifest, [dict(r, kept=True) for r in scf], set()) == {}
    # the queue: skipped and counted, before anything starts
    wd = WorkDir(tmp_path / "fe", "fe")
    wd.load_manifest(seed=20261124)
    for r in scf:
        wd.record_failure(r)
    tier = flipped[0]["tier"]
    n_tier_risky = sum(s["tier"] == tier for s in flipped[2:])
    counts = run_queue("fe", wd.root, tiers=[tier], max_jobs=0)
    assert counts == {"scf_risk": n_tier_risky}
    past = 0.0                                               # every spec deferred: none starts
    named = run_queue("fe", wd.root, ids=[flipped[2]["id"]], deadline=past)
    assert named == {"deferred": 1}
    assert run_queue("fe", wd.root, tiers=[tier], max_jobs=0, include_scf_risk=True) == {}
    assert not any((wd.root / "specs").iterdir())


def test_cost_of_a_new_family_comes_from_frames_of_its_cost_class():
    """A family without finished frames is costed by the finished specs of the same cost class
    (kind of run, atoms, symmetry kept or not), before any guess; the family's own frames win."""
    from mmace_fast.data.dft.queue import cost_class, estimate_from, guess_wall_s

    manifest = make_manifest("fe")
    by_id = {s["id"]: s for s in manifest}
    rattled = [s for s in manifest if s["family"] == "bcc2_rattle"]
    costs = {s["id"]: [t] for s, t in zip(rattled[:3], (100.0, 300.0, 500.0))}
    new = dict(rattled[5], family="bcc2_new", id="fe-bcc2_new-000")
    assert cost_class(new) == ("collinear", 2, True)
    assert estimate_from(costs, new, by_id) == 300.0
    assert estimate_from(costs, new) == guess_wall_s(new)            # no manifest: the guess
    symmetric = dict(new, rattle=0.0, strain_kind="tet")
    assert cost_class(symmetric) == ("collinear", 2, False)
    assert estimate_from(costs, symmetric, by_id) == guess_wall_s(symmetric)
    # a second family of the same class moves the class median, not the family's own
    other = dict(rattled[8], family="bcc2_other", id="fe-bcc2_other-000")
    costs[other["id"]] = [2000.0, 2000.0, 2000.0]
    by_id[other["id"]] = other
    assert estimate_from(costs, rattled[7], by_id) == 300.0          # its family's median
    assert estimate_from(costs, new, by_id) == 1250.0                # the class's median
    nc = next(s for s in manifest if s["order"] == "NC")
    assert cost_class(nc)[0] == "NC" and estimate_from(costs, nc, by_id) == guess_wall_s(nc)
    assert cost_class(dict(nc, rattle=0.1))[2] is False    # no symmetry in non-collinear runs
    fept = next(s for s in make_manifest("fept"))
    assert cost_class(fept) == ("SOC", 2, False)


def test_data_card_blocks_are_rewritten_in_place(tmp_path):
    """`summary/plan --write` replace only their marked block; a card without it is an error."""
    from mmace_fast.data.dft.cli import replace_block

    card = tmp_path / "DATA.md"
    card.write_text("head\n<!-- PLAN:BEGIN -->\nold\n<!-- PLAN:END -->\ntail\n")
    replace_block(card, "PLAN", "| new |\n")
    assert card.read_text() == "head\n<!-- PLAN:BEGIN -->\n| new |\n<!-- PLAN:END -->\ntail\n"
    with pytest.raises(SystemExit, match="COUNTS"):
        replace_block(card, "COUNTS", "x")


def _fake_noncollinear_frame(spec: dict) -> Atoms:
    """A frame shaped as the non-collinear runner writes it (noncollinear.run_noncollinear):
    converged moments near the targets, penalty magnetic forces, no stress."""
    from mmace_fast.data.dft.noncollinear import constraint_magforces

    atoms = build_atoms(spec)
    n = len(atoms)
    u = np.asarray(spec["directions"], float)
    u /= np.linalg.norm(u, axis=1)[:, None]
    rng = np.random.default_rng(0)
    m = 2.2 * u + 0.03 * rng.normal(size=(n, 3))                    # [n, 3] muB
    atoms.set_initial_magnetic_moments(None)
    atoms.info.update(REF_energy=-10.0 * n, noncollinear=True, outcome="ok",
                      initial_magmoms=(2.5 * u).ravel(), converged_magmoms=m.ravel(),
                      wall_time_s=3600.0, angle_to_target_deg=np.zeros(n), symmetry="off")
    atoms.arrays["REF_forces"] = 0.01 * rng.normal(size=(n, 3))
    atoms.arrays["REF_magmom"] = m
    atoms.arrays["REF_magforces"] = constraint_magforces(m, u, 0.8, np.ones(n, bool))
    atoms.arrays["REF_magforces_mask"] = np.ones((n, 3), dtype=int)
    atoms.arrays["constraint_direction"] = u
    atoms.arrays["constrained"] = np.ones(n, dtype=int)
    return atoms


def test_noncollinear_frames_collect_read_and_train_without_stress(tmp_path):
    """A shipped file mixing collinear and constrained non-collinear frames: collected, read
    with vector moments and transverse magnetic forces, and batched with the stress of the
    non-collinear frame masked out (GPAW has no stress there)."""
    from mmace_fast.data.readers import read_extxyz
    from mmace_fast.training.data import make_targets

    wd = WorkDir(tmp_path / "fe", "fe")
    wd.load_manifest(seed=20261124)
    nc = next(s for s in make_manifest("fe") if s["family"] == "nc2_canted")
    col = next(s for s in make_manifest("fe") if s["family"] == "bcc2_rattle")
    write(wd.frame(nc["id"]), _fake_noncollinear_frame(nc), format="extxyz")
    write(wd.frame(col["id"]), _labelled(col), format="extxyz")
    out = tmp_path / "data" / "fe.extxyz.gz"
    collect("fe", wd.root, out)
    _check_reads_into_configurations(out)
    confs = read_extxyz(out)
    k = next(i for i, c in enumerate(confs) if c.stress is None)
    nc_conf = confs[k]
    assert np.abs(nc_conf.magmoms[:, :2]).max() > 0.1                 # not collinear along z
    assert np.abs(nc_conf.magforces).max() > 1e-3
    t = make_targets(confs)
    assert float(t.stress_mask[k].abs().sum()) == 0.0
    assert float(t.stress_mask[1 - k].abs().sum()) > 0.0
    assert float(t.magforces_mask.sum()) > 0.0


def test_summary_reads_the_shipped_records_not_the_work_directory(tmp_path):
    """The counts block comes from data/ alone: on a new machine (no dft_runs/) it must still
    list the shipped failure and finite-difference records."""
    from mmace_fast.data.dft.fdcheck import fd_table  # noqa: PLC0415
    from mmace_fast.data.dft.queue import summarize_shipped  # noqa: PLC0415

    frames = [Atoms("Fe", cell=np.eye(3) * 2.3, pbc=True) for _ in range(2)]
    for i, a in enumerate(frames):
        a.info.update(config_id=f"fe-x-{i}", config_type="x_FM", split="train",
                      cpu_time_s=1800.0, REF_energy=-8.0)
        a.arrays["REF_magmom"] = np.array([[0.0, 0.0, 2.2]])
    with gzip.open(tmp_path / "fe.extxyz.gz", "wt") as fh:
        write(fh, frames, format="extxyz")
    (tmp_path / "fe.failures.jsonl").write_text(
        json.dumps({"id": "fe-x-9", "reason": "scf_not_converged", "kept": False}) + "\n"
        + json.dumps({"id": "fe-x-8", "reason": "nonmagnetic_physical", "kept": True}) + "\n")
    (tmp_path / "fe.fd.jsonl").write_text(json.dumps(
        {"id": "fe-x-0", "atom": 0, "axis": "z", "h_A": 0.01, "F_analytic": 0.5,
         "F_fd": 0.4999, "abs_diff": 1e-4, "rel_diff": 2e-4}) + "\n")
    text = summarize_shipped(tmp_path)
    assert "| fe | 2 | 2 | 2/0/0 | 1.00 | scf_not_converged: 1 | 1 |" in text
    assert ("| fe | fe-x-0 | atom 0 z | 0.01 | 0.50000 | 0.49990 | 0.10 | 0.02 % |"
            in fd_table(tmp_path))
