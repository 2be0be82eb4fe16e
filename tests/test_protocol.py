"""The Tc protocol (bracket, parallel-tempering windows, stopping rule, reweighted crossings)
against the simple cubic Heisenberg ferromagnet, kTc/J = 1.44293 (Chen, Ferrenberg, Landau
1993), and its bookkeeping: resumption from its checkpoints, refusal of a changed request."""
import json

import numpy as np
import pytest

from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc.cli import build_system
from mmace_fast.mc.engine import CheckpointError
from mmace_fast.mc.protocol import ProtocolError, TcProtocol, run_tc_protocol

J = 1e-3                                  # eV, the CLI's nearest-neighbour models
TC_SC = 1.44293                           # kTc / J
KELVIN = J / KB_EV_PER_K                  # K per unit of kT/J
SETTINGS = {"move": "gaussian", "overrelax_per_sweep": 1, "wolff_per_sweep": 2}


def _protocol(sizes=(4, 6, 8), **kw):
    base = dict(sizes=sizes, bracket=(1.2 * KELVIN, 1.7 * KELVIN), n_bracket_replicas=8,
                bracket_sweeps=(200, 400), n_replicas=8, n_equil=300, min_prod=2000,
                chunk=2000, max_prod=8000, target_u4_err=0.003)
    base.update(kw)
    return TcProtocol(**base)


def _sc(L):
    return build_system("sc-nn", L)


def test_sc_heisenberg_tc_small_sizes(tmp_path):
    res = run_tc_protocol(_sc, SETTINGS, _protocol(), workdir=str(tmp_path), seed=1, order="m")
    tc = res.tc / KELVIN
    assert res.method == "binder_largest_pair"
    assert res.errors_reliable and res.note == ""
    assert all(r.stop == "converged" for r in res.runs)
    err = res.tc_err / KELVIN
    assert 0 < err < 0.02
    assert abs(tc - TC_SC) < max(3 * err, 0.01), (tc, err)
    # the window was centred by the bracket's crossing, and swaps were accepted everywhere
    assert res.protocol["centre_from"]["how"] == "bracket crossing"
    for r in res.runs:
        assert min(r.exchange_acceptance) > 0.2
    on_disk = json.loads((tmp_path / "tc_protocol.json").read_text())
    assert on_disk["tc"] == pytest.approx(res.tc) and on_disk["largest_L"] == 8
    # a rerun resumes from the checkpoints: same answer, bit for bit
    again = run_tc_protocol(_sc, SETTINGS, _protocol(), workdir=str(tmp_path), seed=1,
                            order="m")
    assert again.tc == res.tc and again.tc_err == res.tc_err
    # a changed request does not silently reuse them
    with pytest.raises(CheckpointError, match="seed"):
        run_tc_protocol(_sc, SETTINGS, _protocol(), workdir=str(tmp_path), seed=2, order="m")


def test_budget_stop_makes_the_error_a_stated_bound():
    res = run_tc_protocol(_sc, SETTINGS, _protocol(sizes=(4, 6), min_prod=100, chunk=100,
                                                   max_prod=100, target_u4_err=1e-4),
                          seed=3, order="m", centre=TC_SC * KELVIN)
    assert not res.errors_reliable
    assert all(r.stop == "budget" for r in res.runs)
    assert "lower bound" in res.note
    assert res.protocol["centre_from"]["how"] == "given"


def test_a_resumed_budget_run_checks_each_chunk_once(tmp_path, caplog):
    """A rerun of a finished size loads its checkpoint past the early stopping checks: it
    neither repeats them nor samples more, and gives the same answer."""
    import logging

    proto = _protocol(sizes=(3, 4), min_prod=100, chunk=100, max_prod=300, target_u4_err=1e-5)
    first = run_tc_protocol(_sc, SETTINGS, proto, workdir=str(tmp_path), seed=3, order="m",
                            centre=TC_SC * KELVIN)
    assert [r.sweeps for r in first.runs] == [300, 300]
    with caplog.at_level(logging.INFO, logger="mmace_fast.mc.protocol"):
        again = run_tc_protocol(_sc, SETTINGS, proto, workdir=str(tmp_path), seed=3, order="m",
                                centre=TC_SC * KELVIN)
    lines = [r.getMessage() for r in caplog.records if " sweeps, tau_max" in r.getMessage()]
    assert lines == [ln for ln in lines if "300 sweeps" in ln] and len(lines) == 2
    assert [r.sweeps for r in again.runs] == [300, 300] and again.tc == first.tc


def test_a_surrogate_in_the_settings_is_refused():
    with pytest.raises(ProtocolError, match="belongs to the System"):
        run_tc_protocol(_sc, dict(SETTINGS, surrogate=object()), _protocol(sizes=(3, 4)),
                        centre=TC_SC * KELVIN)


@pytest.mark.parametrize("bad", [dict(sizes=(4,)), dict(sizes=(4, 4)), dict(bracket=(20, 10)),
                                 dict(n_replicas=1), dict(window=1.5), dict(min_prod=10,
                                                                            max_prod=5)])
def test_bad_protocol_settings(bad):
    with pytest.raises(ProtocolError):
        _protocol(**bad)


def test_staggered_order_needs_signs():
    def ferro(L):
        s = build_system("sc-nn", L)
        s.signs = None
        return s
    with pytest.raises(ProtocolError, match="sublattice signs"):
        run_tc_protocol(ferro, SETTINGS, _protocol(sizes=(3, 4)), order="ms",
                        centre=TC_SC * KELVIN)
    with pytest.raises(ProtocolError, match="order"):
        run_tc_protocol(ferro, SETTINGS, _protocol(sizes=(3, 4)), order="x")


@pytest.mark.slow
def test_sc_heisenberg_tc_to_three_per_mille_up_to_L24():
    """The issue's literature check: kTc/J = 1.44293 within 0.3 % from the crossing of the two
    largest sizes (L = 16, 24; 13 824 spins), a few minutes on 2 cores."""
    proto = _protocol(sizes=(8, 16, 24), bracket=(1.2 * KELVIN, 1.7 * KELVIN),
                      n_bracket_replicas=6, n_equil=500, min_prod=2000, chunk=2000,
                      max_prod=6000, target_u4_err=0.002, threads=2)
    res = run_tc_protocol(_sc, SETTINGS, proto, seed=2, order="m")
    tc, err = res.tc / KELVIN, res.tc_err / KELVIN
    assert res.method == "binder_largest_pair"
    assert abs(tc - TC_SC) < 0.003 * TC_SC, (tc, err, res.pairs)
    assert err < 0.003 * TC_SC
    assert abs(tc - TC_SC) < 3 * err + 1e-4


def test_cli_tc_runs_the_protocol(capsys, tmp_path):
    from mmace_fast.mc import cli
    assert cli.main(["tc", "--model", "sc-nn", "--sizes", "4", "6", "--tmin", "1.2", "--tmax",
                     "1.7", "--reduced", "--min-prod", "1000", "--max-prod", "2000",
                     "--threads", "1", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["method"] == "binder_largest_pair"
    assert abs(out["kTc_over_J"] - TC_SC) < 0.04
    assert (tmp_path / "tc_protocol.json").exists()
    with pytest.raises(SystemExit):
        cli.main(["tc", "--model", "pajda-fe", "--tmin", "800", "--tmax", "1000", "--reduced"])


def test_cli_refuses_an_output_directory_of_another_run(capsys, tmp_path, caplog):
    """A scan (or tc) rerun into the same --out with another seed must not report the old
    run's result under the new seed: it refuses, naming the field, with exit code 2."""
    from mmace_fast.mc import cli
    base = ["scan", "--model", "sc-nn", "--sizes", "3", "--tmin", "1.3", "--tmax", "1.5",
            "--nt", "2", "--reduced", "--n-equil", "10", "--n-prod", "20", "--out",
            str(tmp_path)]
    assert cli.main(base + ["--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert cli.main(base + ["--seed", "1"]) == 0                 # the same run resumes
    assert capsys.readouterr().out == first
    assert cli.main(base + ["--seed", "2"]) == 2
    assert "seed is 4 in the checkpoint, 5 here" in caplog.text   # seed + L
    assert capsys.readouterr().out == ""


def test_an_ill_conditioned_largest_pair_falls_back_to_the_widest():
    """Two largest curves that cross several times (too close for their errors) do not give
    Tc when the smallest and largest cross once; otherwise the largest pair stands."""
    from mmace_fast.mc.protocol import select_tc

    def pr(a, b, tc, roots):
        return {"L1": a, "L2": b, "tc": tc, "tc_err": 1.0 + a, "roots": roots}
    clean = [pr(8, 10, 1018.0, [1018.0]), pr(8, 12, 1017.0, [1017.0]),
             pr(10, 12, 1016.0, [1016.0])]
    assert select_tc(clean, [8, 10, 12], None)[:3] == (1016.0, 11.0, "binder_largest_pair")
    ill = clean[:2] + [pr(10, 12, 1031.0, [984.0, 1015.0, 1031.0])]
    assert select_tc(ill, [8, 10, 12], None)[:3] == (1017.0, 9.0, "binder_widest_pair")
    # with only two sizes there is no wider pair; a unique widest crossing is required
    assert select_tc(ill[2:], [10, 12], None)[2] == "binder_largest_pair"
    both_ill = [pr(8, 12, 1017.0, [1000.0, 1017.0]), ill[2]]
    assert select_tc(both_ill, [8, 10, 12], None)[2] == "binder_largest_pair"
    none = [pr(10, 12, float("nan"), [])]
    assert select_tc(none, [10, 12], {"t": 1040.0, "t_err": 9.0})[:3] == (1040.0, 9.0,
                                                                          "chi_peak")
    assert select_tc(none, [10, 12], None)[2] == "none"


def test_a_u4_dip_on_the_largest_size_flags_a_first_order_transition():
    """Coexisting ordered (|m| = 1) and disordered (|m| ~ 0) phases give <m^4> > (5/3) <m^2>^2,
    i.e. U4 < 0: the rule flags the dip where it lies, never a continuous curve."""
    from types import SimpleNamespace

    import numpy as np

    from mmace_fast.mc.protocol import U4_FIRST_ORDER, _first_order

    grid = np.linspace(100.0, 200.0, 11)
    frac = np.clip((160.0 - grid) / 40.0, 0.05, 1.0)        # ordered fraction falls with T
    m2, m4 = frac, frac                                       # mixture of |m| = 1 and |m| = 0
    u4 = 1.0 - m4 / (3.0 * m2 ** 2)
    curves = SimpleNamespace(grid=grid, values={"u4_m": u4}, reliable=np.ones(11, bool))
    fo = _first_order(curves, 6)
    assert fo["L"] == 6 and fo["T"] == pytest.approx(grid[np.argmin(u4)])
    assert fo["u4_min"] == pytest.approx(u4.min()) and fo["u4_min"] < U4_FIRST_ORDER
    smooth = SimpleNamespace(grid=grid, values={"u4_m": np.linspace(0.66, 0.45, 11)},
                             reliable=np.ones(11, bool))
    assert _first_order(smooth, 6) is None
    # a dip on unreliable grid points (outside the sampled range) is no evidence
    curves.reliable[u4 < U4_FIRST_ORDER] = False
    assert _first_order(curves, 6) is None


def test_a_window_without_a_crossing_moves_towards_tc():
    """Ordered curves (larger more ordered) move up, disordered ones (both near 4/9, as in the
    CrN Heisenberg windows above its first-order T_N) move down whatever their order, and a
    first-order dip keeps the window where it is."""
    from mmace_fast.mc.protocol import recentre_side

    t = np.linspace(0.0, 1.0, 9)
    assert recentre_side(0.62 - 0.02 * t, 0.65 - 0.02 * t) == "up"
    assert recentre_side(0.55 - 0.05 * t, 0.52 - 0.06 * t) == "down"
    # disordered windows: the larger size's U4 above the smaller's must not send it up
    assert recentre_side(0.40 + 0.03 * t, 0.44 + 0.007 * t) == "down"
    assert recentre_side(0.62 - 0.3 * t, 0.6 - 0.9 * t) == "stay"


def test_two_windows_that_bracket_tc_centre_the_next_between_them():
    """Seen on the free-length Fe mMACE (2026-12-07): 831-930 K said "below", the window one
    width lower (737-824 K) said "above"; a full step up would land back on the first. The
    next window is centred in the gap instead; windows on one side alone keep stepping."""
    from mmace_fast.mc.protocol import bracketed_centre

    history = [(831.0, 930.0, "down")]
    assert bracketed_centre(history, 737.0, 824.0, "up") == pytest.approx(np.sqrt(824 * 831))
    assert bracketed_centre([(737.0, 824.0, "up")], 831.0, 930.0, "down") == \
        pytest.approx(np.sqrt(824 * 831))
    assert bracketed_centre(history, 737.0, 824.0, "down") is None      # same direction
    assert bracketed_centre([(700.0, 760.0, "down")], 737.0, 824.0, "up") is None   # below
    assert bracketed_centre([], 737.0, 824.0, "up") is None
