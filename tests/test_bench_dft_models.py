"""The release of the shipped models (mmace_fast.training.release and release_checks, driven by
benchmarks/bench_dft_models.py and `mmace models train`): the pieces that are not timing (fits,
moment starts, the spin-orbit material's anisotropy table) and quick end-to-end runs on a
synthetic FePt file."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from mmace_fast.data.dft.settings import get_settings
from mmace_fast.data.dft.structures import build_atoms, make_manifest
from mmace_fast.data.records import Configuration
from mmace_fast.training import release
from mmace_fast.training import release_checks as checks

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dft_models.py"
_spec = importlib.util.spec_from_file_location("bench_dft_models", _path)
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_dft_models"] = bench
_spec.loader.exec_module(bench)

K1, K2 = 1.7, -0.4                      # meV per formula unit, the synthetic anisotropy


def test_fit_uniaxial_recovers_k1_and_k2():
    theta = np.array([0, 15, 30, 45, 60, 75, 90, 90.0])
    s2 = np.sin(np.radians(theta)) ** 2
    fit = checks.fit_uniaxial(theta, 3.0 + K1 * s2 + K2 * s2 ** 2)
    assert fit["k1_mev_fu"] == pytest.approx(K1, abs=1e-10)
    assert fit["k2_mev_fu"] == pytest.approx(K2, abs=1e-10)
    two = checks.fit_uniaxial([0.0, 90.0], [0.0, K1])                 # two angles: K1 only
    assert two == {"k1_mev_fu": pytest.approx(K1), "k2_mev_fu": None}
    assert checks.fit_uniaxial([0.0, 180.0], [0.0, 1.0])["k1_mev_fu"] is None   # same sin^2


def _conf(magmoms):
    return Configuration(positions=np.zeros((2, 3)), cell=np.eye(3) * 3, pbc=(True,) * 3,
                         numbers=np.array([26, 78]), magmoms=np.asarray(magmoms, float))


def test_relax_start_seeds_zero_moments_only_in_noncollinear_frames():
    # collinear (along z): the DFT starting moments as they are, zeros kept
    init = np.array([[0, 0, 2.8], [0, 0, 0.0]])
    out = checks.relax_start(_conf([[0, 0, 2.2], [0, 0, -0.1]]), init)
    assert np.array_equal(out, init)
    # non-collinear: the unstarted Pt gets 0.05 muB along its converged DFT direction
    u = np.array([np.sin(0.6), 0.0, np.cos(0.6)])
    out = checks.relax_start(_conf([2.9 * u, 0.3 * u]), np.array([2.8 * u, [0, 0, 0]]))
    assert np.allclose(out[0], 2.8 * u) and np.allclose(out[1], 0.05 * u)


def _aniso_frame(spec: dict, e0: float, split: str):
    """A frame of the FePt anisotropy family labelled with E = e0 + K1 sin^2 + K2 sin^4 (one
    formula unit per 2-atom cell), zero forces, the exact transverse magnetic force on Fe."""
    atoms = build_atoms(spec)
    u = np.asarray(spec["directions"][0], dtype=float)           # Fe target (unit)
    th = np.arccos(np.clip(u[2], -1, 1))
    s2 = np.sin(th) ** 2
    m = np.array([2.9 * u, 0.3 * u])                             # [2, 3] muB
    e = e0 + 1e-3 * (K1 * s2 + K2 * s2 ** 2)                      # eV
    de_dth = 1e-3 * (K1 + 2 * K2 * s2) * np.sin(2 * th)           # eV / rad
    ph = np.arctan2(u[1], u[0])
    e_th = np.array([np.cos(th) * np.cos(ph), np.cos(th) * np.sin(ph), -np.sin(th)])
    magf = np.zeros((2, 3))
    magf[0] = -de_dth / 2.9 * e_th                               # -dE/dm on Fe, transverse
    atoms.info.update(REF_energy=e, initial_magmoms=np.array([2.8 * u, [0, 0, 0]]).ravel(),
                      converged_magmoms=m.ravel(), noncollinear=True, soc=True,
                      config_id=spec["id"], config_type=spec["config_type"], split=split)
    atoms.info.update(get_settings("fept").as_info())
    atoms.arrays["REF_forces"] = np.zeros((2, 3))
    atoms.arrays["REF_magmom"] = m
    atoms.arrays["REF_magforces"] = magf
    atoms.set_initial_magnetic_moments(None)
    return atoms


def test_quick_fept_run_trains_a_soc_model_and_reports_the_anisotropy(tmp_path, monkeypatch,
                                                                       capsys):
    specs = [s for s in make_manifest("fept") if s["family"] == "ideal2_aniso"]
    assert [s["config_type"] for s in specs][:2] == ["ideal2_aniso_FM001", "ideal2_aniso_FM100"]
    splits = ["train"] * (len(specs) - 2) + ["valid", "test"]
    frames = [_aniso_frame(s, -19.5, sp) for s, sp in zip(specs, splits)]
    data = tmp_path / "data" / "fept.extxyz.gz"
    data.parent.mkdir()
    write(str(data), frames, format="extxyz")
    monkeypatch.setattr(release, "DATA_DIR", release.DATA_DIR)      # main() sets it: restore after
    bench.main(["--quick", "--materials", "fept", "--out", str(tmp_path / "runs"),
                "--max-epochs", "5", "--data-dir", str(data.parent)])
    assert release.DATA_DIR == data.parent.resolve()
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model_json = json.loads((tmp_path / "runs" / "quick" / "fept" / "model" / "model.json")
                            .read_text())
    assert model_json["model_config"]["soc"] is True                    # the spin-orbit model
    assert res["model_overrides"] == {"fept": {"soc": True}}
    rows = res["fept_anisotropy"]
    assert len(rows) == len(specs)
    for r in rows:                           # DFT column: the labels relative to [001]
        s2 = np.sin(np.radians(r["theta_deg"])) ** 2
        assert r["dft_mev_fu"] == pytest.approx(K1 * s2 + K2 * s2 ** 2, abs=2e-3)
        # torque of the labels: dE/dtheta of the uniaxial form (Fe tilted alone)
        th = np.radians(r["theta_deg"])
        assert r["torque_dft_mev_rad"] == pytest.approx((K1 + 2 * K2 * s2) * np.sin(2 * th),
                                                        abs=2e-3)
        assert np.isfinite(r["torque_model_mev_rad"])
    assert res["fept_anisotropy_torque_other_max_mev_rad"] >= 0.0
    assert res["fept_anisotropy_k1_dft_mev_fu"] == pytest.approx(K1, abs=1e-3)
    assert res["fept_anisotropy_k2_dft_mev_fu"] == pytest.approx(K2, abs=1e-3)
    assert np.isfinite(res["fept_anisotropy_k1_model_mev_fu"])
    assert res["fept_anisotropy_curve_mae_mev_fu"] == pytest.approx(
        np.mean([abs(r["model_mev_fu"] - r["dft_mev_fu"]) for r in rows]), abs=2e-3)
    hard = [r["dft_mev_fu"] for r in rows if abs(r["theta_deg"] - 90) < 1e-3]
    assert hard                              # FM100 and FM110 of the manifest
    assert res["fept_anisotropy_e_hard_dft_mev_fu"] == pytest.approx(K1 + K2, abs=2e-3)
    assert res["fept_moment_dft_mub"] == pytest.approx(2.9)
    assert res["fept_relax_gain_max_mev_atom"] >= -1e-6     # relaxation never raises E
    assert res["fept_moment_other_max_mub"] >= 0.0
    assert res["fept_n_test"] == 1


def test_named_material_without_data_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(release, "data_file", lambda m: tmp_path / f"{m}.extxyz.gz")
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--materials", "fept", "--out", str(tmp_path / "runs")])


def test_train_set_overrides_parse_json_and_refuse_unknown_keys():
    p = argparse.Namespace(max_epochs=7, patience=None,
                                 train_set=["forces_weight=50", "moment_stability_range=[0.1,2]",
                                            "scheduler=plateau"])
    assert release.train_changes(p) == {"max_epochs": 7, "forces_weight": 50,
                                      "moment_stability_range": [0.1, 2],
                                      "scheduler": "plateau"}
    for bad in (["no_such_setting=1"], ["forces_weight"], ["out_dir=/tmp/x"]):
        with pytest.raises(SystemExit, match="KEY=VALUE"):
            release.train_changes(argparse.Namespace(max_epochs=None, patience=None,
                                                         train_set=bad))


def test_default_materials_skip_a_campaign_that_just_started(tmp_path, monkeypatch):
    """Without --materials, a material whose data file holds fewer than MIN_FRAMES frames (the
    first FePt frames of a campaign) is skipped, not trained on a split it cannot have."""
    specs = [s for s in make_manifest("fept") if s["family"] == "ideal2_aniso"][:2]
    data = tmp_path / "fept.extxyz.gz"
    write(str(data), [_aniso_frame(s, -19.5, "train") for s in specs], format="extxyz")
    assert release.n_frames(data) == 2
    monkeypatch.setattr(release, "data_file", lambda m: data if m == "fept"
                        else tmp_path / f"{m}.extxyz.gz")
    monkeypatch.setattr(release, "DATA_DIR", release.DATA_DIR)
    calls = []
    monkeypatch.setattr(release, "snapshot", lambda *a: calls.append(a))
    bench.main(["--quick", "--out", str(tmp_path / "runs")])
    assert calls == []                                   # nothing trained


def test_shipped_comparison_reproduces_the_shipped_figures(tmp_path):
    """--compare-shipped: on the data a shipped model was trained on (same SHA-256), its
    evaluation reproduces the held-out figures recorded in its metadata at ship time."""
    import hashlib

    import torch

    from mmace_fast.models import available, load_default
    torch.set_default_dtype(torch.float64)
    same = [m for m in available() if bench.data_file(m).exists()
            and load_default(m)[2].get("data_sha256")
            == hashlib.sha256(bench.data_file(m).read_bytes()).hexdigest()]
    if not same:
        pytest.skip("every shipped model predates its material's current data file")
    material = same[0]
    snap = release.snapshot(material, tmp_path / material)
    out = release.shipped_comparison(material, snap, 1e-3)
    recorded = load_default(material)[2]["results"]
    assert out["shipped_data_sha256"] == snap["sha256"]
    for key in ("e_mae_mev_atom", "f_mae_mev_a", "s_mae_mev_a3", "magf_mae_mev_mub",
                "moment_relaxed_mub", "n_test"):
        assert out[f"shipped_{key}"] == pytest.approx(recorded[key], abs=1e-3), key


def test_shipped_comparison_without_a_shipped_model_is_empty(monkeypatch, tmp_path):
    from mmace_fast import models
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)                 # nothing shipped
    assert release.shipped_comparison("fept", {"frames": []}, 1e-3) == {}


def test_induced_relaxations_find_a_spurious_induced_moment_minimum():
    """Landau-only model (E = sum_i a1 x_i + a2 x_i^2, x = |m_i|^2 / ms^2): with Al's well at
    m = 0 (a1 > 0) every start at +-0.1 / +-0.3 muB on Al relaxes back to 0 at the DFT-moment
    energy; with a1 < 0, Al has a spurious minimum at |m| = ms sqrt(-a1 / (2 a2)), which the
    check reports (moment left there, energy change -a1^2 / (4 a2) per Al site)."""
    import torch

    from mmace_fast.model.io import build_model
    torch.set_default_dtype(torch.float64)
    tiny = dict(r_cut=4.0, n_bessel=4, radial_mlp=[8], n_channels=4, l_max_sh=1,
                l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2, readout_mlp=[4],
                l_spin_max=1, spin_pair_l_max=1, n_mag_features=2)
    ms = 0.5
    m_fe = 2.0 * np.sqrt(2.0)             # the minimum of Fe's well below (x = 2, ms = 2)
    model, mcfg = build_model(dict(tiny, species=[13, 26], moment_scale=[ms, 2.0]))
    with torch.no_grad():
        model.scale.zero_()
    conf = Configuration(positions=[[0, 0, 0], [1.45, 1.45, 1.45]], cell=2.9 * np.eye(3),
                         pbc=[True] * 3, numbers=np.array([26, 13]),
                         magmoms=np.array([[0, 0, m_fe], [0, 0, 0.0]]), config_type="ideal2_FM")
    rattled = Configuration(positions=[[0, 0, 0], [1.45, 1.45, 1.45]], cell=2.9 * np.eye(3),
                            pbc=[True] * 3, numbers=np.array([26, 13]),
                            magmoms=np.array([[0, 0, 0.7], [0, 0, 0.0]]),
                            config_type="b2_rattle_FM")            # not an ideal cell: ignored
    frames = [(conf, conf.magmoms), (rattled, rattled.magmoms)]
    start = checks.induced_start(conf, conf.numbers == 13, 0.3, "alternating")
    assert np.allclose(start, [[0, 0, m_fe], [0, 0, 0.3]])
    model.set_landau_coefficients([[0.4, 0.1], [-0.2, 0.05]])          # Al well at 0
    good = checks.induced_relaxations("feal", model, mcfg.r_cut, frames)
    assert good["induced_relax_max_mub"] < 1e-3
    assert abs(good["induced_relax_max_mev_atom"]) < 1e-3
    a1, a2 = -0.3, 0.05
    model.set_landau_coefficients([[a1, a2], [-0.2, 0.05]])            # Al well at 0.866
    bad = checks.induced_relaxations("feal", model, mcfg.r_cut, frames)
    assert bad["induced_relax_max_mub"] == pytest.approx(ms * np.sqrt(-a1 / (2 * a2)), abs=2e-3)
    assert bad["induced_relax_max_mev_atom"] == pytest.approx(1e3 * -a1 ** 2 / (4 * a2) / 2,
                                                              abs=1e-2)
    assert checks.induced_relaxations("fe", model, mcfg.r_cut, []) == {}


def test_ship_run_ships_an_earlier_run_and_refuses_a_changed_snapshot(tmp_path, monkeypatch,
                                                                      capsys):
    """--ship-run: the model, snapshot and results.json of a finished run go to the models
    folder as --ship would have sent them; a run whose snapshot changed is refused."""
    import torch
    from mmace_fast import models
    specs = [s for s in make_manifest("fept") if s["family"] == "ideal2_aniso"]
    splits = ["train"] * (len(specs) - 2) + ["valid", "test"]
    data = tmp_path / "data" / "fept.extxyz.gz"
    data.parent.mkdir()
    write(str(data), [_aniso_frame(s, -19.5, sp) for s, sp in zip(specs, splits)],
          format="extxyz")
    monkeypatch.setattr(release, "DATA_DIR", release.DATA_DIR)
    out = tmp_path / "runs"
    bench.main(["--quick", "--materials", "fept", "--out", str(out), "--max-epochs", "2",
                "--data-dir", str(data.parent)])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (out / "quick").rename(out / "full")              # a quick run stands in for a full one
    run_dir = out / "full" / "fept"
    doc = json.loads((run_dir / release.RESULTS_NAME).read_text())
    assert doc["results"]["e_mae_mev_atom"] == res["fept_e_mae_mev_atom"]
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path / "models")
    with pytest.raises(SystemExit):                   # nothing to ship for a named material
        bench.main(["--ship-run", "--materials", "feal", "--out", str(out)])
    bench.main(["--ship-run", "--out", str(out)])     # finds the fept run
    shipped = tmp_path / "models" / "fept"
    meta = json.loads((shipped / "model.json").read_text())["metadata"]
    assert meta["data_sha256"] == res["fept_data_sha256"]
    assert meta["results"]["anisotropy_k1_dft_mev_fu"] == res["fept_anisotropy_k1_dft_mev_fu"]
    assert "--ship-run" in meta["made_by"] and "--quick" in meta["made_by"]
    from mmace_fast.model.io import load_state
    assert not (shipped / "model.pt").exists()        # a spin-orbit model ships gzipped
    a = load_state(shipped)
    b = torch.load(run_dir / "model" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    frames = [_aniso_frame(s, -19.5, sp) for s, sp in zip(specs, splits)]
    write(str(run_dir / "fept.extxyz.gz"), frames[1:], format="extxyz")   # changed since
    with pytest.raises(release.ShipRunError, match="sha256"):
        release.ship_run("fept", run_dir)


def test_rotation_torques_are_the_tilt_derivatives_of_a_model_energy():
    """rotation_torques against finite differences of E = -h . m_Fe - g m_Pt,z for a tilt of
    each moment alone about z x m (the torque of each group is dE/dtheta of its own tilt)."""
    h, g = np.array([0.3, -0.2, 0.5]), 0.7                     # eV/muB
    u = np.array([np.sin(0.7) * np.cos(0.4), np.sin(0.7) * np.sin(0.4), np.cos(0.7)])
    conf = _conf([2.9 * u, 0.3 * u])
    magf = np.array([h, [0.0, 0.0, g]])                         # -dE/dm
    tau_fe, tau_pt = checks.rotation_torques(conf, magf, 26)
    axis = np.cross([0, 0, 1.0], u)
    axis /= np.linalg.norm(axis)

    def energy(m):
        return -h @ m[0] - g * m[1, 2]

    def rotated(i, d):                                           # Rodrigues, site i only
        m = np.array(conf.magmoms, dtype=float)
        v = m[i]
        m[i] = (v * np.cos(d) + np.cross(axis, v) * np.sin(d)
                + axis * (axis @ v) * (1 - np.cos(d)))
        return m

    d = 1e-6
    for i, tau in ((0, tau_fe), (1, tau_pt)):
        fd = 1e3 * (energy(rotated(i, d)) - energy(rotated(i, -d))) / (2 * d)
        assert tau == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert checks.rotation_torques(_conf([[0, 0, 2.9], [0, 0, 0.3]]), magf, 26) == (0.0, 0.0)


def test_dispersion_check_matches_pajdas_lattice_sum_and_the_supercell_energies():
    """Pajda's column is the closed-form bcc lattice sum; the model's column is the shipped Fe
    model's energy on each commensurate supercell; P is where nearest neighbours are
    perpendicular and second neighbours antiparallel."""
    from mmace_fast.compare.headtohead import mmace_spiral_energy
    from mmace_fast.mc.presets import PAJDA_SHELLS, pajda_fe_exchange_ev
    from mmace_fast.models import load_default
    model, cfg, _ = load_default("fe")
    out = checks.dispersion_check(model, cfg, 2.193)
    rows = {r["q_label"]: r for r in out["dispersion"]}
    assert set(rows) == {lab for lab, _ in checks.DISPERSION_Q}
    # Pajda at P: E(P) - E(0) = sum_n J_n z_n (1 - <cos q.R>_n) / 2 per atom (pair once): the
    # 8 first neighbours have cos = 0, the 6 second -1, the 12 third (110) +1, ...
    J = pajda_fe_exchange_ev()                                             # [8] eV
    from itertools import permutations, product
    qp = np.pi * np.ones(3)                                             # 2 pi / a (1/2,1/2,1/2) * a
    e_p = 0.0
    for jn, sh in zip(J, PAJDA_SHELLS):
        vecs = {tuple(s * np.array(p)) for p in set(permutations(sh.tolist()))
                for s in product((1, -1), repeat=3)}
        e_p += 0.5 * jn * sum(1 - np.cos(qp @ np.array(v)) for v in vecs)
    assert rows["P"]["pajda_mev"] == pytest.approx(1e3 * e_p, abs=0.02)
    e0 = mmace_spiral_energy(model, cfg, [0, 0, 0], 2.866, 2.193, False)[0]
    ep = mmace_spiral_energy(model, cfg, [0.5, 0.5, 0.5], 2.866, 2.193, False)[0]
    assert out["e_p_mev"] == rows["P"]["model_mev"] == pytest.approx(1e3 * (ep - e0), abs=0.01)


def test_volume_response_separates_the_moment_route_from_the_geometry():
    """Landau-only model (no geometry dependence at all): over strained FePt cells whose Fe
    moment grows with the volume, the model's dE/dV at the DFT moments is the Landau energy's
    slope through the moment, its longitudinal magnetic force -dE/d|m| = -(2 a1 m / ms^2 +
    4 a2 m^3 / ms^4) on Fe; the DFT slope is the one put into the labels. Frames of other
    families and materials without strained families are ignored."""
    import torch

    from mmace_fast.model.io import build_model
    torch.set_default_dtype(torch.float64)
    tiny = dict(r_cut=4.0, n_bessel=4, radial_mlp=[8], n_channels=4, l_max_sh=1,
                l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2, readout_mlp=[4],
                l_spin_max=1, spin_pair_l_max=1, n_mag_features=2)
    ms = 2.0
    model, mcfg = build_model(dict(tiny, species=[26, 78], moment_scale=[ms, 0.5]))
    with torch.no_grad():
        model.scale.zero_()
    a1, a2 = -0.3, 0.05
    model.set_landau_coefficients([[a1, a2], [0.4, 0.1]])

    def cell_frame(a, m_fe, energy, config_type):
        c = 1.35 * a
        return Configuration(positions=[[0, 0, 0], [a / 2, a / 2, c / 2]],
                             cell=np.diag([a, a, c]), pbc=[True] * 3, numbers=np.array([26, 78]),
                             magmoms=np.array([[0, 0, m_fe], [0, 0, 0.3]]), energy=energy,
                             config_type=config_type)

    slope_dft = 0.05                                           # eV/A^3 per atom
    frames, vols, moms = [], [], []
    for a, m in ((2.70, 2.6), (2.74, 2.7), (2.78, 2.85)):
        v = 1.35 * a ** 3 / 2                                  # A^3 per atom
        frames.append(cell_frame(a, m, 2 * (-10.0 + slope_dft * v), "strain2_FM"))
        vols.append(v)
        moms.append(m)
    frames.append(cell_frame(2.9, 1.0, -5.0, "ideal2_aniso_FM001"))          # ignored
    pairs = [(f, f.magmoms) for f in frames]
    res = checks.volume_response("fept", model, mcfg.r_cut, pairs)
    x = (np.array(moms) / ms) ** 2
    landau = (a1 * x + a2 * x ** 2) / 2                        # eV per atom (Fe only varies)
    assert res["volume_n_frames"] == 3
    assert res["volume_slope_dft_mev_a3"] == pytest.approx(1e3 * slope_dft, abs=1e-3)
    assert res["volume_slope_model_mev_a3"] == pytest.approx(
        1e3 * np.polyfit(vols, landau, 1)[0], abs=1e-3)   # rounded to 3 digits
    m = np.array(moms)
    long = -(2 * a1 * m / ms ** 2 + 4 * a2 * m ** 3 / ms ** 4)  # eV/muB
    assert res["volume_long_magf_model_mev_mub"] == pytest.approx(1e3 * np.abs(long).mean(),
                                                                  abs=1e-3)
    assert checks.volume_response("fe", model, mcfg.r_cut, pairs) == {}
    assert checks.volume_response("fept", model, mcfg.r_cut, pairs[-1:]) == {}


def test_evaluate_shipped_prints_the_error_table_of_the_embedded_models(tmp_path, capsys):
    """--evaluate-shipped trains nothing: on the data a shipped model was trained on, its
    table reproduces the figures recorded at ship time, with the model's provenance; training
    flags are refused."""
    import json

    from mmace_fast.models import available, load_default
    if "feal" not in available() or not bench.data_file("feal").exists():
        pytest.skip("no shipped FeAl model or data")
    bench.main(["--evaluate-shipped", "--materials", "feal", "--out", str(tmp_path)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    meta = load_default("feal")[2]
    assert out["feal_model_data_frames"] == meta["data_frames"]
    assert out["feal_model_data_current"] == (meta["data_sha256"] == out["feal_data_sha256"])
    assert out["feal_frames"] == sum(out["feal_split_counts"].values())
    rows = out["feal_frame_e_err_mev_atom"]                     # one row per frame
    assert len(rows) == out["feal_frames"]
    assert sum(split == "test" for split, _ in rows.values()) == out["feal_n_test"]
    test_mae = np.mean([abs(e) for split, e in rows.values() if split == "test"])
    assert test_mae == pytest.approx(out["feal_e_mae_mev_atom"], abs=0.01)
    assert out["feal_e_max_err_heldout_mev_atom"] >= test_mae
    if out["feal_model_data_current"]:
        for key in ("e_mae_mev_atom", "f_mae_mev_a", "magf_mae_mev_mub", "n_test"):
            assert out[f"feal_{key}"] == pytest.approx(meta["results"][key], abs=1e-3), key
    assert not list(tmp_path.glob("**/model.json"))                  # nothing trained
    with pytest.raises(SystemExit):
        bench.main(["--evaluate-shipped", "--materials", "feal", "--max-epochs", "3",
                    "--out", str(tmp_path)])


def test_recipes_reproduce_the_shipped_architectures():
    """The recipe of each shipped model (grade included) is the architecture it was trained
    with: `mmace models train` would make the same kind of model."""
    from mmace_fast.model.io import read_model_json
    from mmace_fast.models import GRADES, MODELS_DIR, available
    from mmace_fast.models.recipes import model_settings
    checked = 0
    for grade in GRADES:
        for material in available(grade):
            cfg = read_model_json(MODELS_DIR / (material + GRADES[grade]))["model_config"]
            for key, value in model_settings(material, False, grade).items():
                assert cfg[key] == value, (material, grade, key)
            checked += 1
    assert checked >= 6                  # fe, feal, crn, fept + fe_mc, feal_mc


def test_models_train_and_ship_run_from_the_command_line(tmp_path, monkeypatch, capsys):
    """`mmace models train` runs the release on a material's recipe; `mmace models ship-run`
    ships that run with its provenance."""
    from mmace_fast import cli, models
    specs = [s for s in make_manifest("fept") if s["family"] == "ideal2_aniso"]
    splits = ["train"] * (len(specs) - 2) + ["valid", "test"]
    data = tmp_path / "data" / "fept.extxyz.gz"
    data.parent.mkdir()
    write(str(data), [_aniso_frame(s, -19.5, sp) for s, sp in zip(specs, splits)],
          format="extxyz")
    monkeypatch.setattr(release, "DATA_DIR", release.DATA_DIR)
    out = tmp_path / "runs"
    assert cli.main(["models", "train", "fept", "--quick", "--out", str(out), "--data-dir",
                     str(data.parent)]) == 0
    assert "fept (accurate): e_mae_mev_atom" in capsys.readouterr().out
    doc = json.loads((out / "quick" / "fept" / release.RESULTS_NAME).read_text())
    assert doc["command"].startswith("mmace models train fept --quick")
    with pytest.raises(SystemExit):
        cli.main(["models", "train", "fept", "--quick", "--ship", "--out", str(out)])
    (out / "quick").rename(out / "full")
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path / "models")
    assert cli.main(["models", "ship-run", "fept", "--out", str(out)]) == 0
    meta = json.loads((tmp_path / "models" / "fept" / "model.json").read_text())["metadata"]
    assert meta["data_sha256"] == doc["results"]["data_sha256"]
    assert meta["made_by"].startswith("mmace models train fept")
    assert (tmp_path / "models" / "fept" / "model.mmace").exists()
