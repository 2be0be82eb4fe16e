"""bench_finetune's figures from finished runs: learning-curve means over subsets and the
frame count at which fine-tuning matches scratch training on all frames; the joint recipe."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("bench_finetune")


def _row(mode, n, s, e, f, m):
    return {"mode": mode, "n": n, "subset": s, "e_mae": e, "f_mae": f, "magf_mae": m}


def test_curve_table_means_and_first_matching_frame_count():
    rows = [_row("scratch", 100, 0, 2.0, 20.0, 10.0),
            _row("scratch", 5, 0, 30.0, 90.0, 40.0), _row("scratch", 5, 1, 34.0, 94.0, 44.0),
            _row("ft", 5, 0, 3.0, 25.0, 9.0), _row("ft", 5, 1, 2.5, 22.0, 8.0),
            _row("ft", 10, 0, 1.9, 19.0, 9.5), _row("ft", 10, 1, 2.0, 20.0, 10.0),
            _row("ft", 100, 0, 1.5, 15.0, 7.0)]
    out = bench.curve_table({str(k): r for k, r in enumerate(rows)}, n_train=100)
    assert out["curves"]["scratch"][5]["e_mae"] == pytest.approx(32.0)
    assert out["curves"]["scratch"][5]["e_mae_std"] == pytest.approx(2 ** 0.5 * 2)
    assert out["curves"]["ft"][100]["e_mae_std"] is None          # one subset
    # n = 5 is worse on forces (23.5 > 20): the first n with every MAE at or below is 10
    assert out["frames_to_match_scratch_all"] == 10
    worse = [_row("scratch", 100, 0, 1.0, 10.0, 5.0), _row("ft", 5, 0, 2.0, 20.0, 9.0)]
    assert bench.curve_table({"a": worse[0], "b": worse[1]}, 100)[
        "frames_to_match_scratch_all"] is None


def test_joint_recipe_weights_each_material_through_its_tagged_frames():
    model, train = bench.joint_recipe(("fe", "feal", "crn", "fept"), quick=True, epochs=3)
    assert model["species"] == [7, 13, 24, 26, 78]
    assert model["moment_scale"] == [bench.JOINT_MOMENT_SCALE[z] for z in model["species"]]
    assert not model["soc"]
    assert train["config_type_weights"] == {"feal:*": {"forces": 5.0},
                                            "fept:*": {"energy": 10.0, "forces": 30.0,
                                                       "magforces": 10.0}}
    assert train["moment_stability_induced_species"] == [7, 13, 78]
    assert train["moment_collapse_prior"] is True
    _, no_feal = bench.joint_recipe(("fe", "crn"), quick=True, epochs=3)
    assert no_feal["moment_collapse_prior"] is False and no_feal["config_type_weights"] == {}
    assert no_feal["moment_stability_induced_species"] == [7]
