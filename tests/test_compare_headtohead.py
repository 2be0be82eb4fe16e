"""Head-to-head thermo driver on a cheap model (Pajda's bcc Fe constants, tiny scans)."""
import json

import numpy as np

from mmace_fast.compare import headtohead as hh
from mmace_fast.compare.thermo import pajda_model

PLAN = dict(sizes=(2, 3), n_coarse=4, pre_equil=10, pre_prod=20, n_fine=3, n_equil=10,
            n_prod=20, extend=2)


def test_thermo_model_window_stored_and_reused(tmp_path):
    r = hh.thermo_model(pajda_model(), "fe", PLAN, tmp_path, t_range=(300.0, 2400.0))
    wfile = tmp_path / "pajda" / "window.json"
    win = json.loads(wfile.read_text())
    assert r["window"]["temperatures"] == win["temperatures"]
    assert len(win["temperatures"]) == 3 and win["method"] == "order_parameter_drop"
    assert set(r["tables"]) == {"2", "3"}                   # JSON-able: string keys
    for t in r["tables"].values():            # window (+ any extension), sorted
        assert len(t["temperature_K"]) == 3 + len(r["extended_below"]) + len(r["extended_above"])
        assert t["temperature_K"] == sorted(t["temperature_K"])
    # either a Binder crossing inside the scanned range or a stated reason, never both/neither
    if r["tc_binder_K"] is None:
        assert isinstance(r.get("reason"), str) and r["reason"]
    else:
        temps = r["tables"]["2"]["temperature_K"]
        assert "reason" not in r and temps[0] <= r["tc_binder_K"] <= temps[-1]
    # a rerun with a different range reuses the stored window (resumable scans)
    r2 = hh.thermo_model(pajda_model(), "fe", PLAN, tmp_path, t_range=(10.0, 20.0))
    assert r2["window"]["temperatures"] == win["temperatures"]
    assert np.allclose(r2["tables"]["2"]["m_abs"], r["tables"]["2"]["m_abs"])


def test_thermo_model_extends_below_a_low_edge_peak(tmp_path):
    # a window far above Tc: chi is largest at its lowest temperature -> extension below
    (tmp_path / "pajda").mkdir()
    (tmp_path / "pajda" / "window.json").write_text(json.dumps(
        {"t_peak": 3000.0, "edge": None, "method": "chi_peak",
         "temperatures": [3000.0, 3500.0, 4000.0]}))
    r = hh.thermo_model(pajda_model(), "fe", PLAN, tmp_path, t_range=(300.0, 2400.0))
    assert r["extended_below"] == [2000.0, 2500.0]
    assert r["tables"]["3"]["temperature_K"][:2] == [2000.0, 2500.0]


def test_thermo_model_extends_above_a_high_edge_peak(tmp_path):
    # a window far below Tc (Pajda: ~900 K at these sizes): chi grows towards its top -> above
    (tmp_path / "pajda").mkdir()
    (tmp_path / "pajda" / "window.json").write_text(json.dumps(
        {"t_peak": 300.0, "edge": None, "method": "chi_peak",
         "temperatures": [200.0, 300.0, 400.0]}))
    r = hh.thermo_model(pajda_model(), "fe", PLAN, tmp_path, t_range=(300.0, 2400.0))
    assert r["extended_above"] == [500.0, 600.0] and r["extended_below"] == []
    assert r["tables"]["3"]["temperature_K"] == [200.0, 300.0, 400.0, 500.0, 600.0]


def test_extension_rules():
    t = [100.0, 110.0, 120.0]
    assert hh._extension(t, [1.0, 2.0, 3.0], 2) == ([], [130.0, 140.0])
    assert hh._extension(t, [3.0, 2.0, 1.0], 3) == ([70.0, 80.0, 90.0], [])
    assert hh._extension(t, [1.0, 3.0, 1.0], 3) == ([], [])
    assert hh._extension(t, [3.0, 2.0, 1.0], 0) == ([], [])
    assert hh._extension([5.0, 10.0], [2.0, 1.0], 3) == ([], [])    # never at or below 0 K


def test_chi_max_on_the_scan_edge_is_a_bound(tmp_path):
    tab = {"temperature_K": [44.0, 80.0, 115.0], "m_abs": [0.7, 0.5, 0.3],
           "chi_m": [5.0, 20.0, 29.0], "u4_m": [0.66, 0.62, 0.55], "u4_m_err": [0.0, 0.01, 0.01]}
    r = {"material": "feal", "models": {"mmace_fixed": {
        "tc_binder_K": None, "order_key": "m", "tables": {"3": tab, "4": tab}}}}
    hh.fill_fallbacks(r, tmp_path)
    m = r["models"]["mmace_fixed"]
    assert m["tc_method"] == "chi_max_grid" and m["tc_K"] == 115.0 and m["tc_bound"] == "lower"
    from mmace_fast.compare.report import thermo_table
    line = [ln for ln in thermo_table({"thermo": {"feal": r}}) if "feal" in ln][0]
    assert "> 115" in line and "bound" in line


def test_fill_fallbacks_rejects_spurious_crossing_and_flags_first_order(tmp_path):
    tab = {"temperature_K": [150.0, 190.0, 230.0], "ms_abs": [2.2, 0.5, 0.1],
           "chi_ms": [5.0, 6000.0, 30.0], "u4_ms": [0.667, -0.14, 0.42],
           "u4_ms_err": [0.0, 0.1, 0.01]}
    r = {"material": "crn", "models": {
        "mmace_fixed": {"tc_binder_K": 295.0, "tc_binder_err_K": 60.0, "u4_cross": 0.40,
                        "order_key": "ms", "tables": {"2": tab, "4": tab}},
        "heisenberg": {"tc_binder_K": 70.0, "tc_binder_err_K": 2.0, "u4_cross": 0.61,
                       "order_key": "ms", "tables": {"4": tab}}}}
    hh.fill_fallbacks(r, tmp_path)                 # no scan.json on disk: grid maximum
    m = r["models"]["mmace_fixed"]
    assert m["tc_binder_K"] is None and m["tc_binder_rejected_K"] == 295.0
    assert m["tc_method"] == "chi_max_grid" and m["tc_K"] == 190.0 and m["tc_err_K"] == 20.0
    assert m["first_order"]["T_K"] == 190.0
    h = r["models"]["heisenberg"]
    assert h["tc_method"] == "binder_crossing" and h["tc_K"] == 70.0


def test_data_dir_snapshot_is_what_the_stages_read(tmp_path, monkeypatch):
    """MMACE_DATA_DIR points every stage at a frozen snapshot instead of data/."""
    import gzip

    from ase.io import read, write

    src = hh.ROOT / "data" / "fe.extxyz.gz"
    with gzip.open(src, "rt") as fh:
        frames = read(fh, index=":3", format="extxyz")
    with gzip.open(tmp_path / "fe.extxyz.gz", "wt") as fh:
        write(fh, frames, format="extxyz")
    assert len(hh.read_material("fe")) > 3
    monkeypatch.setenv("MMACE_DATA_DIR", str(tmp_path))
    assert hh.data_dir() == tmp_path
    assert len(hh.read_material("fe")) == 3
    assert hh.dft_spirals(2.866) == []            # no spiral file in the snapshot
