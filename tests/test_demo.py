"""The README main job at smoke-test size: fits the baseline, scans three models through the
same engine, prints the Tc table and ends with one JSON line (CI runs it)."""
import json

import numpy as np
import pytest

pytest.importorskip("scipy")

from mmace_fast import demo  # noqa: E402


def test_demo_quick_runs_and_reports(tmp_path, capsys):
    assert demo.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Curie temperature of bcc Fe" in out
    fig = json.loads(out.strip().splitlines()[-1])
    for key in ("fe_tc_heis_K", "fe_tc_mmace_K", "fe_tc_pajda_K", "fe_tc_exp_K"):
        assert key in fig
    assert fig["fe_tc_exp_K"] == 1043.0
    assert fig["fe_tc_heis_K"] is not None and np.isfinite(fig["fe_tc_heis_K"])
    # scans were checkpointed: a rerun resumes from the files instead of recomputing
    assert any(p.suffix == ".npz" for p in tmp_path.rglob("*.npz"))
