"""A user's own material (issue 33): a cell ASE reads, its magnetic species and order, through the
baseline fit, the Monte Carlo lattices and the whole command-line chain (train, freeze,
fit-baseline, compare) on a small synthetic material made here.

The material: a tetragonal "FeAl" cell that is none of the shipped prototypes (a = 2.9 A,
c = 3.1 A, Fe at the corner, Al at the body centre), labelled by the toy spin Hamiltonian of
tests/data/make_samples.py (Fe-Fe exchange J(r), Landau terms, Morse pair repulsion; Al moments
zero).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from mmace_fast import materials
from mmace_fast.materials import MaterialSpecError, material_from_structure

A, C = 2.9, 3.1
HERE = Path(__file__).resolve().parent


def _toy():
    spec = importlib.util.spec_from_file_location("make_samples", HERE / "data" / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cell(kind="tetragonal") -> Atoms:
    if kind == "tetragonal":
        return Atoms("FeAl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]],
                     cell=np.diag([A, A, C]), pbc=True)
    # two Fe layers along z (the magnetic cell of an A-type antiferromagnet)
    return Atoms("FeAlFeAl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.25], [0, 0, 0.5],
                                               [0.5, 0.5, 0.75]],
                 cell=np.diag([A, A, 2 * C]), pbc=True)


# ----------------------------------------------------------------------------- the record
def test_material_from_structure_reads_species_cell_and_order():
    m = material_from_structure(cell("layers"), "toy", ["Fe"], [1, -1])
    assert m.species == (26, 13) and m.magnetic == (26,) and m.prototype == "user"
    assert m.mc_orders == ("FM", materials.USER_ORDER) and m.ground_order == materials.USER_ORDER
    assert dict(m.order_signs)[materials.USER_ORDER] == (1, 0, -1, 0)
    np.testing.assert_allclose(m.unit_cell().cell[:], np.diag([A, A, 2 * C]))
    assert m.a == pytest.approx(A)
    fm = material_from_structure(cell(), "toy", 26)
    assert fm.ground_order == "FM" and fm.order_signs == ()
    assert materials.resolve(fm) is fm and materials.resolve("fe") is materials.get("fe")
    assert "toy" not in materials.MATERIALS                    # the registry stays the shipped


@pytest.mark.parametrize("kwargs, match", [
    (dict(magnetic=["Mn"]), "not in the structure"),
    (dict(magnetic=["Fe"], signs=[1]), "one sign"),
    (dict(magnetic=["Fe"], signs=[1, 2]), "one sign"),
    (dict(magnetic=[]), "at least one"),
    (dict(magnetic=["Fe"], key="fe"), "shipped material"),
    (dict(magnetic=["Fe"], key="a b"), "letters, digits"),
])
def test_bad_user_materials_are_refused(kwargs, match):
    kw = dict(key="toy", signs=None)
    kw.update(kwargs)
    with pytest.raises(MaterialSpecError, match=match):
        material_from_structure(cell("layers"), kw["key"], kw["magnetic"], kw["signs"])


def test_a_non_periodic_structure_is_refused():
    at = cell()
    at.pbc = [True, True, False]
    with pytest.raises(MaterialSpecError, match="periodic"):
        material_from_structure(at, "toy", ["Fe"])


# ------------------------------------------------------------------ lattices and reference
def test_user_lattice_repeats_the_cell_and_its_signs():
    from mmace_fast.mc.lattice import lattice_of

    m = material_from_structure(cell("layers"), "toy", ["Fe"], [1, -1])
    lat = lattice_of(m, 3)
    assert lat.n_sites == 4 * 27
    np.testing.assert_allclose(lat.cell, np.diag([3 * A, 3 * A, 6 * C]))
    np.testing.assert_array_equal(lat.magnetic, lat.numbers == 26)
    s = lat.signs[materials.USER_ORDER]
    fe = lat.numbers == 26
    assert np.all(s[~fe] == 0) and np.all(np.abs(s[fe]) == 1) and s.sum() == 0
    # the sign is the layer's: + at z = 0 (mod 2c), - at z = c
    z = np.round(lat.positions[fe, 2] / C).astype(int)
    np.testing.assert_array_equal(s[fe], np.where(z % 2 == 0, 1.0, -1.0))
    assert lat.domain_patterns(materials.USER_ORDER).shape == (1, lat.n_sites)
    m_ord = lat.moments(materials.USER_ORDER, 2.0)
    np.testing.assert_allclose(np.abs(m_ord[fe, 2]), 2.0)


def test_shipped_materials_build_the_same_lattice_by_key_and_by_record():
    from mmace_fast.mc.lattice import lattice_of, material_lattice

    for key in materials.monte_carlo_materials():
        m = materials.get(key)
        a, b = lattice_of(key, 2), material_lattice(m.prototype, 2, m.a)
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.signs.keys() == b.signs.keys()


def test_user_reference_structure_is_the_cell():
    from mmace_fast.baseline import reference_structure

    m = material_from_structure(cell(), "toy", ["Fe"])
    ref = reference_structure(m)
    np.testing.assert_allclose(ref.positions, [[0, 0, 0], [A / 2, A / 2, C / 2]])
    np.testing.assert_array_equal(ref.numbers, [26, 13])


# ---------------------------------------------------------------------- the command line
def synthetic_frames(rng, n):
    """Strained, rattled 2x2x2 supercells of the tetragonal cell with toy labels (two cells
    along every axis: a bond to an atom's own image would look like a Landau term)."""
    toy = _toy()
    base = cell().repeat((2, 2, 2))
    out = []
    for k in range(n):
        at = base.copy()
        strain = np.eye(3) + 0.01 * rng.standard_normal((3, 3))
        at.set_cell(at.cell[:] @ strain, scale_atoms=True)
        at.positions += 0.03 * rng.standard_normal(at.positions.shape)
        fe = at.numbers == 26
        d = rng.standard_normal((len(at), 3))
        m = d / np.linalg.norm(d, axis=1, keepdims=True)
        m *= np.where(fe, rng.uniform(1.8, 2.6, len(at)), 0.0)[:, None]
        if k < 3:                                  # FM frames near the ground state
            m = np.where(fe[:, None], [0.0, 0.0, 2.2], 0.0)
        e, f, s, mf = toy.toy_labels(at.positions, at.cell[:], [True] * 3, at.numbers, m)
        at.info.update(REF_energy=e, REF_stress=s, config_type="ideal_FM" if k < 3 else "rand",
                       split="test" if k % 6 == 5 else "valid" if k % 6 == 4 else "train")
        at.arrays.update(REF_forces=f, REF_magmom=m, REF_magforces=mf)
        out.append(at)
    return out


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The user's files, a tiny mMACE trained and frozen by the command line."""
    import ase.io

    from mmace_fast import cli

    tmp = tmp_path_factory.mktemp("user_material")
    ase.io.write(tmp / "POSCAR", cell(), format="vasp")
    ase.io.write(tmp / "toy.extxyz", synthetic_frames(np.random.default_rng(0), 36),
                 format="extxyz")
    run = tmp / "run"
    (tmp / "train.yaml").write_text(json.dumps({
        "train_file": str(tmp / "toy.extxyz"), "out_dir": str(run),
        "model": {"r_cut": 4.0, "n_channels": 8, "n_bessel": 6, "radial_mlp": [16],
                  "l_max_sh": 1, "l_max_message": 1, "l_max_hidden": 0, "n_layers": 1,
                  "correlation": 2, "readout_mlp": [8], "l_spin_max": 2,
                  "n_mag_features": 3, "soc": False},
        "energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 1.0,
        "magforces_weight": 10.0, "batch_size": 6, "max_epochs": 15, "lr": 0.01, "seed": 0}))
    assert cli.main(["train", "--config", str(tmp / "train.yaml")]) == 0
    assert cli.main(["freeze", str(run)]) == 0
    return tmp


def test_fit_baseline_of_a_user_structure_recovers_the_toy_exchange(chain, capsys):
    from mmace_fast import cli

    toy = _toy()
    out = chain / "fit.json"
    assert cli.main(["fit-baseline", "--structure", str(chain / "POSCAR"), "--magnetic", "Fe",
                     "--data", str(chain / "toy.extxyz"), "--json", str(out)]) == 0
    assert "| 26-26 | 1 | 2.900 |" in capsys.readouterr().out
    fit = json.loads(out.read_text())[0]
    shells = {round(r["distance"], 2): r["J"] for r in fit["exchange"]}

    def j_toy(r):
        fc = (1 - (r / toy.RC) ** 2) ** 2
        return toy.J0[(26, 26)] * np.exp(-(r - toy.R0) / toy.LAM) * fc

    # nearest Fe-Fe shells: a (4 bonds in plane) and c (2 along z), pair-once eV/muB^2
    assert shells[A] == pytest.approx(j_toy(A), rel=0.03)
    assert shells[C] == pytest.approx(j_toy(C), rel=0.1)


def test_compare_of_a_user_material_runs_accuracy_and_the_tc_protocol(chain, capsys):
    from mmace_fast import cli

    out = chain / "cmp"
    argv = ["compare", "--structure", str(chain / "POSCAR"), "--magnetic", "Fe", "--name",
            "toy", "--data", str(chain / "toy.extxyz"), "--model",
            str(chain / "run" / "model.mmace"), "--out", str(out), "--quick",
            "--models", "heis", "mmace_fixed"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    res = json.loads((out / "compare.json").read_text())
    assert res["material"]["key"] == "toy" and res["material"]["order"] == "FM"
    acc = res["accuracy"]
    assert acc["split"] == "test" and acc["n_frames"] == 6
    assert {"mmace", "fixed_lattice"} <= set(acc["errors"])
    assert {"energy", "forces", "magforces"} <= set(acc["errors"]["mmace"])
    assert set(res["tc"]) == {"heis", "mmace_fixed"}
    for name, r in res["tc"].items():
        assert r["sizes"] == ([3, 4] if name == "heis" else [2, 3])
        assert r["order"] == "FM" and r["material"] == "toy"
    assert "mmace_fixed" in text and "fixed_lattice" in text
    # a rerun (resuming from the checkpoints) reports the same temperatures: reproducible
    assert cli.main(argv) == 0
    again = json.loads((out / "compare.json").read_text())
    assert [r["tc_K"] for r in again["tc"].values()] == [r["tc_K"] for r in res["tc"].values()]


def test_compare_refuses_inputs_that_cannot_work(chain, capsys):
    from mmace_fast import cli

    base = ["compare", "--data", str(chain / "toy.extxyz"), "--model",
            str(chain / "run" / "model.mmace"), "--quick"]
    for extra, match in (([], "--structure is required"),
                         (["--structure", str(chain / "POSCAR")], "--magnetic"),
                         (["--structure", str(chain / "POSCAR"), "--magnetic", "Mn"],
                          "not in the structure"),
                         (["--structure", str(chain / "nothing.cif"), "--magnetic", "Fe"],
                          "not found"),
                         (["--structure", str(chain / "POSCAR"), "--magnetic", "Fe",
                           "--tmin", "10"], "both --tmin and --tmax")):
        with pytest.raises(SystemExit) as exc:
            cli.main(base + extra)
        assert exc.value.code == 2
        assert match in capsys.readouterr().err
