"""The README main job at smoke-test size: fits the baseline, runs three models through the one
Tc protocol, prints the Tc table and ends with one JSON line (CI runs it)."""
import json

import pytest

pytest.importorskip("scipy")

from mmace_fast import demo  # noqa: E402
from mmace_fast.compare.thermo import BRACKETS  # noqa: E402


def _small_cells(tmp_path):
    """The shipped Fe frames of 1- and 2-atom cells: data that place J1 only (a ferromagnet)."""
    import gzip
    from pathlib import Path

    from ase.io import read, write
    src = Path(demo.__file__).resolve().parents[1] / "data" / "fe.extxyz.gz"
    with gzip.open(src, "rt") as fh:
        frames = [a for a in read(fh, index=":", format="extxyz") if len(a) <= 2]
    path = tmp_path / "fe_small.extxyz"
    write(path, frames, format="extxyz")
    return str(path)


def _run(args, capsys):
    assert demo.main(["--quick"] + args) == 0
    out = capsys.readouterr().out
    assert "Curie temperature of bcc Fe" in out
    fig = json.loads(out.strip().splitlines()[-1])
    for key in ("fe_tc_heis_K", "fe_tc_mmace_K", "fe_tc_pajda_K", "fe_tc_exp_K",
                "fe_heis_ferromagnetic", "fe_heis_mean_field", "fe_data_is_model_training_data",
                "fe_data_frames", "fe_model_training_frames"):
        assert key in fig
    assert fig["fe_tc_exp_K"] == 1043.0
    # Pajda's constants at L = 3, 4: the crossing lies near the literature's ~900 K
    assert fig["fe_tc_pajda_method"] == "binder_largest_pair"
    assert 820.0 < fig["fe_tc_pajda_K"] < 980.0
    # what each model ran is reported: the protocol's sizes and production sweeps (quick plan)
    plan = demo.PLANS["quick"]
    assert fig["fe_tc_pajda_sizes"] == list(plan["classical"]["sizes"])
    assert fig["fe_tc_mmace_sizes"] == list(plan["mmace"]["sizes"])
    assert fig["fe_tc_mmace_sweeps"] == [plan["mmace"]["max_prod"]] * 2
    assert fig["mmace_grade"] == "mc"
    # the mMACE row ran the protocol: a Tc with its method, or none with the method saying so
    method = fig["fe_tc_mmace_method"]
    assert method in ("binder_largest_pair", "binder_widest_pair", "chi_peak", "none")
    if method == "none":
        assert fig["fe_tc_mmace_K"] is None
    else:                      # inside the bracket the windows were placed in (+- a window)
        lo, hi = BRACKETS["fe"]["mmace_free"]
        assert 0.8 * lo <= fig["fe_tc_mmace_K"] <= 1.2 * hi and fig["fe_tc_mmace_err_K"] > 0
    # smoke-test budgets cannot converge tau_int: the errors are flagged as bounds, in print
    assert fig["fe_tc_pajda_reliable"] is False and "lower bound" in out
    return out, fig


def test_demo_quick_runs_and_reports(tmp_path, capsys):
    out, fig = _run(["--out", str(tmp_path / "a"), "--data", _small_cells(tmp_path)], capsys)
    assert fig["fe_heis_ferromagnetic"] is True
    # a J1-only ferromagnet fitted to the 1- and 2-atom cells orders well above Pajda's model
    assert fig["fe_tc_heis_method"] == "binder_largest_pair"
    assert 0.5 * fig["fe_tc_mfa_fit_K"] < fig["fe_tc_heis_K"] < fig["fe_tc_mfa_fit_K"]
    # scans were checkpointed: a rerun resumes from the files instead of recomputing
    assert any(p.suffix == ".npz" for p in tmp_path.rglob("*.npz"))


def test_demo_reports_a_fitted_model_that_is_not_a_ferromagnet(tmp_path, capsys, monkeypatch):
    """An FM scan of a model whose mean-field ordering mode is not the ferromagnet measures no
    Curie point: the demo skips it and says why instead of printing a number."""
    from mmace_fast import baseline

    fit_material = baseline.fit_material

    def afm_fit(*args, **kw):
        fit = fit_material(*args, **kw)
        fit.mean_field = dict(fit.mean_field, fm_weight=0.0, q=(0.5, 0.5, 0.5))
        return fit

    monkeypatch.setattr(baseline, "fit_material", afm_fit)
    out, fig = _run(["--out", str(tmp_path), "--data", _small_cells(tmp_path)], capsys)
    assert fig["fe_heis_ferromagnetic"] is False and fig["fe_tc_heis_K"] is None
    assert "not a ferromagnet: mean-field ordering at q = (0.5, 0.5, 0.5)" in out


def test_training_data_check_compares_the_models_recorded_hash(tmp_path, caplog):
    """The demo says when data/fe.extxyz.gz is not the file the shipped mMACE was trained on."""
    import hashlib
    import logging

    from mmace_fast.models import metadata
    small = _small_cells(tmp_path)
    sha = hashlib.sha256(open(small, "rb").read()).hexdigest()
    meta = {"data_sha256": sha, "data_frames": 3}
    same = demo.training_data_check(small, meta)
    assert same["same"] is True and same["model_frames"] == 3 and same["data_frames"] > 0
    with caplog.at_level(logging.WARNING, logger="mmace_fast.demo"):
        other = demo.training_data_check(small, dict(meta, data_sha256="0" * 64))
    assert other["same"] is False and "not the shipped mMACE's training data" in caplog.text
    assert demo.training_data_check(small, {})["same"] is None
    # the spirals file beside the data counts too (absent here: recorded but missing differs)
    assert demo.training_data_check(small, dict(meta, spirals_sha256="1" * 64))["same"] is False
    # the shipped Fe model records what it was trained on
    shipped = metadata("fe")
    assert len(shipped["data_sha256"]) == 64 and shipped["data_frames"] > 0
