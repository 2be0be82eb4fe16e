"""Head-to-head report: summary JSON keys, reasons for missing figures, markdown, plots."""
import importlib.util
import json

import pytest

from mmace_fast.compare import report


def _result():
    err = {"energy": {"mae": 1.0, "rmse": 1.2}, "forces": {"mae": 10.0, "rmse": 12.0},
           "magforces": {"mae": 3.0, "rmse": 4.0}}
    base = {"energy": {"mae": 3.0, "rmse": 3.5}, "forces": {"mae": 40.0, "rmse": 50.0},
            "magforces": {"mae": 9.0, "rmse": 9.5}}
    acc_fe = {"errors": {"valid_test": {"mmace": err, "spin_lattice": base}},
              "ratios": {"valid_test": {"spin_lattice": {"energy": 3.0, "forces": 4.0,
                                                         "magforces": 3.0}}},
              "parity": {"mmace": {"energy": [[1.0, 2.0, 3.0], [1.1, 2.0, 2.9]],
                                   "forces": [[0.0, 1.0], [0.1, 0.9]]}},
              "states": [{"state": "ideal1_FM", "split": "train", "dft": -8.0, "mmace": -8.0},
                         {"state": "ideal2_AFM", "split": "valid", "dft": -7.6,
                          "mmace": -7.61}],
              "ordering": {"mmace": {"agree": 1, "pairs": 1},
                           "relative": {"ideal1_FM": {"dft": 0.0, "mmace": 0.0},
                                        "ideal2_AFM": {"dft": 400.0, "mmace": 390.0}}}}
    curve = {"T": [900.0, 1000.0, 1100.0], "m_abs": [0.6, 0.4, 0.2], "chi_m": [1.0, 3.0, 1.0],
             "u4_m": [0.65, 0.6, 0.5], "u4_m_err": [0.01, 0.01, 0.01]}
    thermo_fe = {"models": {
        "heisenberg": {"name": "Heis", "tc_K": 1600.0, "tc_err_K": 20.0,
                       "tc_method": "binder_largest_pair", "errors_reliable": True,
                       "order": "FM", "curves": {"4": curve, "6": curve}, "order_key": "m",
                       "sizes": [4, 6], "sweeps": [2000, 4000], "u4_cross": 0.62,
                       "pairs": [{"L1": 4, "L2": 6, "tc": 1600.0}]},
        "mmace_fixed": {"name": "mMACE", "tc_K": None, "reason": "no crossing",
                        "tc_method": "none", "order": "FM", "sizes": [3, 4]}}}
    return {"accuracy": {"fe": acc_fe},
            "spirals": {"rows": [{"path": "Gamma-H", "x": 0.0, "dft": None,
                                  "mmace_fixed": {"e": -8.0, "m": 2.2, "de_mev": 0.0}},
                                 {"path": "Gamma-H", "x": 1.0, "dft": None,
                                  "mmace_fixed": {"e": -7.6, "m": 2.2, "de_mev": 400.0}},
                                 {"path": "Gamma-N", "x": 0.4, "dft_split": "test",
                                  "dft": {"e": -7.9, "m": 2.1, "de_mev": 100.0}}]},
            "thermo": {"fe": thermo_fe}}


def test_summary_keys_and_reasons():
    s = report.summary(_result())
    for k in report.SUMMARY_KEYS:
        assert k in s
    assert s["fe_e_mae_ratio"] == 3.0 and s["fe_f_mae_ratio"] == 4.0
    assert s["fe_magf_mae_ratio"] == 3.0
    assert s["fe_tc_heis_k"] == 1600.0 and s["fe_tc_heis_k_err"] == 20.0
    assert s["fe_tc_mmace_k"] is None and s["fe_tc_mmace_k_reason"] == "no crossing"
    assert s["crn_f_mae_ratio"] is None and "not run" in s["crn_f_mae_ratio_reason"]
    assert s["crn_tn_mmace_k"] is None and s["crn_tn_mmace_k_reason"]
    json.dumps(s)                                  # the benchmark's last line must be JSON


def test_summary_reason_for_zero_mmace_error():
    r = _result()
    r["accuracy"]["fe"]["ratios"]["valid_test"]["spin_lattice"]["forces"] = None
    r["accuracy"]["fe"]["errors"]["valid_test"]["mmace"]["forces"]["mae"] = 0.0
    s = report.summary(r)
    assert s["fe_f_mae_ratio"] is None and "zero" in s["fe_f_mae_ratio_reason"]


def test_markdown_tables():
    md = report.markdown(_result())
    assert "| fe | spin_lattice | 3.00 (3.50) | 40.00 (50.00) |" in md
    assert "| fe | ideal2_AFM | valid | 400.0 | 390.0 |" in md
    assert "| fe | Heis | FM | 4,6 | 2000,4000 | 1600 +- 20 | binder_largest_pair | 0.620 | " \
        "4/6: 1600 | 1043.0 | +53 % |" in md
    assert "| Gamma-H | 1.00 | - | - | - | 400 (2.20) |" in md
    assert "| Gamma-N | 0.40 | test | 100 (2.10) | - |" in md


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="no matplotlib")
def test_plots_written(tmp_path):
    paths = report.plots(_result(), tmp_path)
    names = sorted(p.split("/")[-1] for p in paths)
    assert names == ["head_to_head_parity.png", "head_to_head_spirals.png",
                     "head_to_head_thermo_fe.png"]
    for p in paths:
        assert (tmp_path / p.split("/")[-1]).stat().st_size > 1000


def test_bounds_and_first_order_in_summary_and_table():
    r = _result()
    m = r["thermo"]["fe"]["models"]["mmace_fixed"]
    m.update(tc_K=520.0, tc_err_K=15.0, tc_method="chi_peak", errors_reliable=False,
             first_order={"L": 4, "T": 515.0, "u4_min": -0.2})
    del m["reason"]
    s = report.summary(r)
    assert s["fe_tc_mmace_k"] == 520.0 and s["fe_tc_mmace_k_method"] == "chi_peak"
    assert s["fe_tc_mmace_k_reliable"] is False and s["fe_tc_mmace_k_first_order_T"] == 515.0
    assert "fe_tc_mmace_k_reason" not in s
    assert s["fe_tc_heis_k_method"] == "binder_largest_pair"
    md = report.markdown(r)
    assert "520 +- 15+ | chi_peak; first order (U4 -0.20 at 515 K)" in md
