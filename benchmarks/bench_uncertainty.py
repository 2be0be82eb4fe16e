"""Committee uncertainty of the Monte Carlo grade mMACE (issue 30): calibration on held-out frames.

    python benchmarks/bench_uncertainty.py --train                 # train missing members (hours)
    python benchmarks/bench_uncertainty.py --ship                  # committees -> models/<m>_mc/
    python benchmarks/bench_uncertainty.py                         # calibration of the shipped ones
    python benchmarks/bench_uncertainty.py --quick                 # 4 test frames (< 1 min)
    python benchmarks/bench_uncertainty.py --train --kind seed     # seed-only members (hours)
    python benchmarks/bench_uncertainty.py --tc --kind seed        # their Tc (hours, resumable)
    python benchmarks/bench_uncertainty.py --tc --kind heis        # the fitted Heisenberg
                                                                   # model's posterior draws

Members: the shipped Monte Carlo grade recipe of each material (``bench_dft_models.py`` with the
``fe_mc`` architecture: one layer, 8 channels, correlation 2, r_cut 6 A; the material's training
overrides, the fixed split of ``data/<material>.extxyz.gz``), member k with seed k and a
bootstrap sample of the training frames (``TrainConfig.resample``, seed 1000 + k); the valid and
test frames are the same for every member. Trained one after another in subprocesses into
``runs/committee/<material>/m<k>`` (``--out``); a member with a ``results.json`` is done, and a
PID file (``<out>/queue.pid``) guards the queue. ``--kind seed``: members that differ by their
seed alone (every training frame once), in ``<out>/seed/<material>/m<k>``: the spread of
optimisation alone, against the bootstrap members' data-plus-optimisation spread (not shipped;
``--tc --kind seed`` runs their Tc from the run directories).

``--ship`` freezes the members into ``mmace_fast/models/<material>_mc/committee/`` (see
:mod:`mmace_fast.model.committee`) with the scalar recalibration of each property fitted on the
validation frames (:mod:`mmace_fast.compare.calibration`).

The evaluation runs every shipped committee on its material's test frames: per property the
Gaussian negative log-likelihood of the errors under the recalibrated spread, the Spearman rank
correlation of spread and error over held-out atoms (forces) and frames (energies), the fraction
of errors inside the recalibrated 1-sigma interval, and a binned error-against-spread table;
for Fe the committee's adiabatic magnon energies (against the DFT spirals) and extracted
exchange constants (``observables``); and, with ``--tc``, the Curie temperature of every
member of the Fe committee (and of the shipped Monte Carlo grade model beside them) through the
one Tc protocol, fixed moment length: fe_tc_committee_mean_k, fe_tc_model_std_k (the members'
spread with their sampling variance taken out), fe_tc_stat_err_k (sampling error of the mean);
the same for draws from the fitted Heisenberg model's posterior over its constants
(fe_tc_heis_post_*; alone with ``--tc --kind heis``, written to
``benchmarks/results/bench_uncertainty_heis.json``). The last stdout line is one JSON object;
the full run also writes ``benchmarks/results/bench_uncertainty.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from mmace_fast.pidfile import pid_lock  # noqa: E402


log = logging.getLogger("bench_uncertainty")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from mmace_fast.models.recipes import GRADE_MODEL  # noqa: E402

#: the Monte Carlo grade architecture (models/fe_mc; bench_arch_table.py L1_C8_c2_r6), from its
#: one source, the recipes
MC_ARCH = dict(GRADE_MODEL["mc"])
N_MEMBERS = 5
BOOTSTRAP_SEED0 = 1000
RESULTS_NAME = "results.json"


#: committee kinds: bootstrap members (seed k and a bootstrap sample of the training frames)
#: and seed-only members (seed k, every training frame once)
KINDS = ("bootstrap", "seed", "heis")


def member_spec(k: int, kind: str = "bootstrap") -> dict:
    """Training changes of member k: its seed, and for the bootstrap kind its sample."""
    if kind == "seed":
        return dict(seed=k)
    return dict(seed=k, resample={"kind": "bootstrap", "seed": BOOTSTRAP_SEED0 + k})


def kind_dir(out: Path, kind: str) -> Path:
    """Where the members of ``kind`` are trained (bootstrap: ``out`` itself, as before)."""
    return out if kind == "bootstrap" else out / kind


def member_run(out: Path, material: str, k: int, quick: bool) -> Path:
    """The run directory bench_dft_models.py writes member k's model and results into."""
    return out / material / f"m{k}" / ("quick" if quick else "full") / material


def train_command(out: Path, material: str, k: int, quick: bool,
                  kind: str = "bootstrap") -> list[str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_dft_models.py"), "--materials",
           material, "--out", str(out / material / f"m{k}")]
    cmd += [f"--model-set={key}={json.dumps(v)}" for key, v in MC_ARCH.items()]
    cmd += [f"--train-set={key}={json.dumps(v)}" for key, v in member_spec(k, kind).items()]
    return cmd + (["--quick"] if quick else [])


def train_missing(out: Path, materials: list[str], n_members: int, quick: bool,
                  kind: str = "bootstrap") -> None:
    """Train the members without results, one after another (a PID file guards the queue);
    ``out`` is the kind's directory (:func:`kind_dir`)."""
    out.mkdir(parents=True, exist_ok=True)
    pid_file = out / ("queue_quick.pid" if quick else "queue.pid")
    with pid_lock(pid_file, "a training queue"):
        for material in materials:
            for k in range(n_members):
                if (member_run(out, material, k, quick) / RESULTS_NAME).exists():
                    log.info("%s m%d: done, skipped", material, k)
                    continue
                t0 = time.perf_counter()
                log_file = out / material / f"m{k}{'_quick' if quick else ''}.log"
                log_file.parent.mkdir(parents=True, exist_ok=True)
                log.info("%s m%d: training (%s)", material, k, log_file)
                with open(log_file, "w") as fh:
                    rc = subprocess.run(train_command(out, material, k, quick, kind), stdout=fh,
                                        stderr=subprocess.STDOUT, cwd=str(ROOT)).returncode
                if rc != 0:
                    raise SystemExit(f"{material} m{k}: training failed (exit {rc}), see "
                                     f"{log_file}")
                log.info("%s m%d: trained in %.0f s", material, k, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ shipping
def committee_dir(material: str) -> Path:
    """Where the committee of ``material`` is shipped (mmace_fast.models.committee_dir)."""
    from mmace_fast.models import COMMITTEE_NAME, model_dir
    return model_dir(material, "mc") / COMMITTEE_NAME


def labelled_frames(material: str, run_dir: Path, data: Path | None = None) -> dict:
    """{split: [Configuration]} of the material's data file (``data``: a run's copy)."""
    from mmace_fast.training.release import snapshot
    snap = snapshot(material, run_dir, data)
    out = {}
    for conf, _ in snap["frames"]:
        out.setdefault(conf.info.get("split", "train"), []).append(conf)
    return dict(out, sha256=snap["sha256"])


def ship(material: str, out: Path, n_members: int) -> Path:
    """Freeze the finished members of ``material`` into its committee directory, with the
    spread recalibration fitted on the validation frames."""
    from mmace_fast.compare.uncertainty import committee_errors, fit_recalibration
    from mmace_fast.export import export_model
    from mmace_fast.export.committee import write_committee
    from mmace_fast.model.committee import Committee
    from mmace_fast.model.io import load_model
    runs = [member_run(out, material, k, False) for k in range(n_members)]
    missing = [str(r) for r in runs if not (r / RESULTS_NAME).exists()]
    if missing:
        raise SystemExit(f"{material}: members not trained yet (run --train): {missing}")
    results = [json.loads((r / RESULTS_NAME).read_text())["results"] for r in runs]
    shas = {res["data_sha256"] for res in results}
    if len(shas) != 1:
        raise SystemExit(f"{material}: members trained on different data snapshots {shas}")
    for r in runs:
        if not (r / "model" / "model.mmace").exists():
            export_model(load_model(r / "model")[0], r / "model" / "model.mmace")
    dest = committee_dir(material)
    meta = dict(material=material, grade="mc", architecture=MC_ARCH, data_sha256=shas.pop(),
                members=[dict(member_spec(k), test_e_mae_mev_atom=res.get("e_mae_mev_atom"),
                              test_f_mae_mev_a=res.get("f_mae_mev_a"))
                         for k, res in enumerate(results)],
                recalibration_method="coverage (68.27 % quantile of |err| / spread, valid split)",
                made_by=f"python benchmarks/bench_uncertainty.py --train --ship --materials "
                        f"{material} --members {n_members}")
    members = [r / "model" for r in runs]
    frames = labelled_frames(material, runs[0], runs[0] / f"{material}.extxyz.gz")
    recal = fit_recalibration(committee_errors(Committee.from_model_dirs(members),
                                               frames["valid"]))
    meta["recalibration_frames"] = len(frames["valid"])
    write_committee(dest, members, recal, meta)
    log.info("%s: committee of %d -> %s, recalibration %s", material, n_members, dest,
             {k: round(v, 3) for k, v in recal.items()})
    return dest


# ------------------------------------------------------------------------------------ evaluation
def evaluate(material: str, quick: bool, work: Path) -> dict:
    """Calibration of the shipped committee on the test frames of the current data file."""
    from mmace_fast.compare.uncertainty import calibration_table, committee_errors
    from mmace_fast.model.committee import Committee
    com = Committee.load(committee_dir(material))
    frames = labelled_frames(material, work / material)
    test = frames["test"][:4] if quick else frames["test"]
    t0 = time.perf_counter()
    table = calibration_table(committee_errors(com, test), com.recalibration)
    log.info("%s: %d test frames in %.0f s", material, len(test), time.perf_counter() - t0)
    for prop, rep in table.items():
        log.info("%s %s (%s): rmse %.3g, spread %.3g (x%.2f), coverage %.2f / %.2f, nll %.3g, "
                 "spearman %.2f, worst 10 %% flagged %.2f, bins %s", material, prop,
                 rep["unit"], rep["rmse"], rep["mean_sigma"], rep["scale"],
                 rep["coverage_1sigma"], rep["coverage_2sigma"], rep["nll"], rep["spearman"],
                 rep["worst10_captured"],
                 [(round(b["sigma"], 2), round(b["rmse"], 2), b["n"]) for b in rep["bins"]])
    out = {f"{material}_n_test_frames": len(test), f"{material}_members": len(com),
           f"{material}_data_sha256": frames["sha256"][:12], f"{material}_table": table}
    if "energy" in table:
        out[f"{material}_e_nll"] = table["energy"]["nll"]
        out[f"{material}_e_coverage_1sigma"] = table["energy"]["coverage_1sigma"]
    if "forces" in table:
        out[f"{material}_f_spread_error_corr"] = table["forces"]["spearman_atoms"]
        out[f"{material}_coverage_1sigma"] = table["forces"]["coverage_1sigma"]
    return out


def committee_mc_cost(material: str, quick: bool) -> dict:
    """Trial moves per CPU second of one member and of the K members as one Hamiltonian
    (mmace_fast.mc.committee_hamiltonian: one neighbour list, K incremental evaluators), on the
    material's L^3 lattice in its ground order at 1000 K, one thread;
    committee_mc_cost_ratio = single / committee (K would mean no saving from the shared
    geometry)."""
    from mmace_fast.mc.committee_hamiltonian import CommitteeMMACEHamiltonian
    from mmace_fast.mc.engine import MonteCarlo
    from mmace_fast.mc.lattice import lattice_of
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    from mmace_fast.materials import get
    from mmace_fast.models import load_frozen_committee
    com = load_frozen_committee(material)
    L, sweeps = (4, 4) if quick else (10, 6)
    lat = lattice_of(material, L)
    spins = lat.moments(get(material).ground_order, 2.2)
    hams = {"single": FrozenMMACEHamiltonian(com.members[0], lat.positions, lat.cell, lat.pbc,
                                             lat.numbers),
            "committee": CommitteeMMACEHamiltonian(com, lat.positions, lat.cell, lat.pbc,
                                                   lat.numbers)}
    rates = {}
    active = np.flatnonzero(lat.magnetic)
    for name, ham in hams.items():
        best = 0.0
        for rep in range(3):
            mc = MonteCarlo(ham, spins, temperature=1000.0, seed=rep, move="gaussian",
                            p_longitudinal=0.3, sigma_long=0.1, active_sites=active)
            t0 = time.process_time()
            mc.sample(sweeps)
            best = max(best, sweeps * len(active) / (time.process_time() - t0))
        rates[name] = best
    out = {f"{material}_committee_mc_L": L, f"{material}_committee_members": len(com),
           f"{material}_moves_per_s_single": rates["single"],
           f"{material}_moves_per_s_committee": rates["committee"],
           "committee_mc_cost_ratio": rates["single"] / rates["committee"]}
    log.info("%s: committee MC cost ratio %.2f (%d members; %.3g vs %.3g moves/s)", material,
             out["committee_mc_cost_ratio"], len(com), rates["single"], rates["committee"])
    return out


def observables(material: str, quick: bool) -> dict:
    """Derived observables of the shipped frozen committee (torch-free): adiabatic magnon
    energies along Gamma-H, Gamma-N, Gamma-P of bcc L = 10 (quick: L = 4) against the DFT
    spirals where their q lies on the path (z = |DFT - mean| / recalibrated spread; those
    spirals are training data of every member), and the exchange per shell extracted in a
    30-degree cap (the demo's extraction), at the DFT moment of the data."""
    if material != "fe":
        return {}
    from mmace_fast.baseline import fit_material
    from mmace_fast.compare.headtohead import dft_spirals
    from mmace_fast.compare.uncertainty import committee_exchange, committee_magnons
    from mmace_fast.dynamics.magnons import cubic_q_path, frozen_magnon_mev
    from mmace_fast.materials import get as get_material
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.models import load_frozen_committee
    mat = get_material(material)
    com = load_frozen_committee(material)
    moment = float(dict(fit_material(material).moments)[26])
    L = 4 if quick else 10
    labels, q = cubic_q_path(L, mat.a)
    mag = committee_magnons(com, material_lattice(mat.prototype, L, mat.a), q, moment)
    dft = {tuple(np.round(d["q"], 6)): d["energy"] for d in dft_spirals(mat.a)}
    e0 = dft.get((0.0, 0.0, 0.0))
    ref = [None if e0 is None or tuple(f) not in dft
           else float(frozen_magnon_mev(dft[tuple(f)] - e0, moment))
           for f in np.round(q * mat.a / (2 * np.pi), 6)]
    z = [abs(r - m) / s if r is not None and s > 0 else None
         for r, m, s in zip(ref, mag["mean"], mag["spread_recalibrated"])]
    zs = np.array([v for v in z if v is not None])
    mag.update(labels=labels, dft=ref, z=z)
    ex = committee_exchange(com, material, moment, L=2 if quick else 3,
                            n_configs=16 if quick else 48)
    log.info("%s magnons (meV), committee mean +- recalibrated spread | DFT spirals:\n%s",
             material, "\n".join(f"  {lab:>9} {m:7.1f} +- {s:5.1f} | "
                                 f"{'' if r is None else f'{r:7.1f}'}"
                                 for lab, m, s, r in zip(labels, mag["mean"],
                                                         mag["spread_recalibrated"], ref)))
    log.info("%s exchange (meV, unit spins, pair once): mean %s, spread %s", material,
             np.round(ex["mean"], 2).tolist(), np.round(ex["spread"], 2).tolist())
    return {f"{material}_magnons": mag, f"{material}_exchange": ex,
            f"{material}_magnon_dft_within_1sigma": float(np.mean(zs <= 1)) if len(zs) else None,
            f"{material}_magnon_dft_within_2sigma": float(np.mean(zs <= 2)) if len(zs) else None,
            f"{material}_j1_mev_mean": ex["mean"][0], f"{material}_j1_mev_spread": ex["spread"][0]}


# ------------------------------------------------------------------------------------ Tc
#: Tc protocol of every member (mmace_fast.mc.protocol.TcProtocol fields but the bracket):
#: bench_mmace_tc's Monte Carlo grade plan at one size smaller and 40 % of its per-size budget,
#: so that K members cost what one model costs there
MEMBER_TC_PLAN = dict(sizes=(6, 8, 10), n_bracket_replicas=8, bracket_sweeps=(100, 200),
                      n_replicas=6, n_equil=200, min_prod=600, chunk=400, max_prod=3000,
                      target_u4_err=0.005, max_wall_s=120.0)


#: the fitted Heisenberg model's posterior draws (classical spins: cheap; bench_mmace_tc's
#: classical plan with a fifth of its per-size budget)
HEIS_DRAW_PLAN = dict(sizes=(8, 12, 16), n_bracket_replicas=10, bracket_sweeps=(300, 600),
                      n_replicas=8, n_equil=500, min_prod=2000, chunk=2000, max_prod=20000,
                      target_u4_err=0.003, max_wall_s=60.0)
N_HEIS_DRAWS = 4


def _stats(rows: dict, names: list, prefix: str) -> dict:
    """Mean, member spread, model spread (sampling variance removed) and sampling error of the
    mean over the finite Tc of ``names``."""
    tcs = np.array([rows[n]["tc_k"] for n in names], dtype=float)
    errs = np.array([rows[n]["err_k"] for n in names], dtype=float)
    ok = np.isfinite(tcs) & np.isfinite(errs)
    if ok.sum() < 2:
        return {f"{prefix}_used": int(ok.sum())}
    var = float(np.var(tcs[ok], ddof=1))
    return {f"{prefix}_mean_k": float(tcs[ok].mean()),
            f"{prefix}_member_std_k": float(np.sqrt(var)),
            f"{prefix}_model_std_k": float(np.sqrt(max(0.0, var - np.mean(errs[ok] ** 2)))),
            f"{prefix}_stat_err_k": float(np.sqrt(np.sum(errs[ok] ** 2)) / ok.sum()),
            f"{prefix}_errors_reliable": all(rows[n]["reliable"] for n, k in zip(names, ok)
                                             if k),
            f"{prefix}_used": int(ok.sum())}


def _run_tc(model, bracket, plan: dict, threads: int, wd: Path, label: str) -> dict:
    from mmace_fast.compare.thermo import protocol_tc
    from mmace_fast.mc.protocol import TcProtocol
    protocol = TcProtocol(**plan, bracket=bracket, threads=threads)
    t0 = time.perf_counter()
    res = protocol_tc(model, protocol, workdir=str(wd), seed=0)
    row = dict(tc_k=res.tc, err_k=res.tc_err, reliable=res.errors_reliable, method=res.method,
               note=res.note, wall_s=time.perf_counter() - t0, sizes=[r.L for r in res.runs],
               sweeps=[r.sweeps for r in res.runs], stop=[r.stop for r in res.runs])
    log.info("%s: Tc = %.1f +- %.1f K (%s, reliable %s) in %.0f s", label, res.tc, res.tc_err,
             res.method, res.errors_reliable, row["wall_s"])
    return row


def seed_members(out: Path, material: str, n_members: int) -> list:
    """The seed-only members (FrozenModel each) from their run directories, frozen on first
    use."""
    from mmace_fast.export import FrozenModel, export_model
    from mmace_fast.model.io import load_model
    runs = [member_run(kind_dir(out, "seed"), material, k, False) for k in range(n_members)]
    missing = [str(r) for r in runs if not (r / RESULTS_NAME).exists()]
    if missing:
        raise SystemExit(f"{material}: seed members not trained yet (--train --kind seed): "
                         f"{missing}")
    for r in runs:
        if not (r / "model" / "model.mmace").exists():
            export_model(load_model(r / "model")[0], r / "model" / "model.mmace")
    return [FrozenModel.load(r / "model" / "model.mmace") for r in runs]


def seed_committee_tc(material: str, threads: int, out: Path, n_members: int) -> dict:
    """Tc of every seed-only member through the same plan as the bootstrap members:
    <material>_tc_seed_{mean_k, member_std_k, model_std_k, stat_err_k, ...}."""
    from mmace_fast.training.release import data_file

    from mmace_fast.baseline import fit_material
    from mmace_fast.compare.thermo import tc_models
    fit = fit_material(material, data_path=str(data_file(material)))
    moment = float(max(fit.moments.values()))
    rows = {}
    for k, frozen in enumerate(seed_members(out, material, n_members)):
        models, notes = tc_models(material, ["mmace_fixed"], fit, frozen, moment)
        model, bracket = models["mmace_fixed"]
        rows[f"s{k}"] = dict(_run_tc(model, bracket, MEMBER_TC_PLAN, threads,
                                     out / "tc" / "seed" / f"s{k}_{frozen.sha256[:12]}",
                                     f"{material} seed member {k}"),
                             surrogate=notes.get("surrogate"))
    res = {f"{material}_tc_seed_members": rows, f"{material}_tc_moment_muB": moment}
    res.update(_stats(rows, list(rows), f"{material}_tc_seed"))
    return res


def committee_tc(material: str, quick: bool, threads: int, work: Path) -> dict:
    """Tc (fixed moment length, the guided sampler) of every member of the shipped committee
    through the one Tc protocol, and of the shipped Monte Carlo grade model beside them; the
    fitted Heisenberg model's Tc and that of N_HEIS_DRAWS draws from its posterior over the
    constants. Model spread: the members' standard deviation with their sampling variance
    taken out, sqrt(max(0, var_k(Tc_k) - mean_k(err_k^2)))."""
    from mmace_fast.training.release import data_file

    from mmace_fast.baseline import fit_material
    from mmace_fast.compare.thermo import SMOKE_PLANS, tc_models
    from mmace_fast.export.committee import FrozenCommittee
    from mmace_fast.models import load_frozen
    com = FrozenCommittee.load(committee_dir(material))
    fit = fit_material(material, data_path=str(data_file(material)))
    moment = float(max(fit.moments.values()))
    plan = SMOKE_PLANS["mmace"] if quick else MEMBER_TC_PLAN
    mode = "quick" if quick else "full"
    members = {f"m{k}": m for k, m in enumerate(com.members)}
    members["shipped"] = load_frozen(material, "mc")
    rows = {}
    for name, frozen in members.items():
        models, notes = tc_models(material, ["mmace_fixed"], fit, frozen, moment)
        model, bracket = models["mmace_fixed"]
        rows[name] = dict(_run_tc(model, bracket, plan, threads, work / mode /
                                  f"{name}_{frozen.sha256[:12]}", f"{material} {name}"),
                          surrogate=notes.get("surrogate"))
    out = {f"{material}_tc_members": rows, f"{material}_tc_plan": dict(plan),
           f"{material}_tc_moment_muB": moment}
    out.update(_stats(rows, [f"m{k}" for k in range(len(com))], f"{material}_tc_committee"))
    out[f"{material}_tc_model_std_k"] = out.get(f"{material}_tc_committee_model_std_k")
    out[f"{material}_tc_stat_err_k"] = out.get(f"{material}_tc_committee_stat_err_k")
    out.update(heisenberg_draws_tc(material, quick, threads, work, fit))
    return out


def heisenberg_draws_tc(material: str, quick: bool, threads: int, work: Path,
                        fit=None) -> dict:
    """The fitted Heisenberg model's Tc and that of N_HEIS_DRAWS draws from its Bayesian
    posterior over the constants (BaselineModel.posterior_draws), each through the one Tc
    protocol: the model part of the baseline's Tc error bar."""
    from mmace_fast.baseline import fit_material
    from mmace_fast.compare.headtohead import fit_key
    from mmace_fast.compare.thermo import SMOKE_PLANS, tc_models
    from mmace_fast.training.release import data_file
    if fit is None:
        fit = fit_material(material, data_path=str(data_file(material)))
    mode = "quick" if quick else "full"
    out = {}
    hplan = SMOKE_PLANS["classical"] if quick else HEIS_DRAW_PLAN
    draws = {"fit": fit.model}
    draws.update({f"d{k}": m for k, m in enumerate(fit.model.posterior_draws(N_HEIS_DRAWS))})
    hrows = {}
    for name, bmodel in draws.items():
        fit_k = dataclasses.replace(fit, model=bmodel)
        models, notes = tc_models(material, ["heis"], fit_k)
        if "heis" not in models:
            hrows[name] = dict(tc_k=float("nan"), err_k=float("nan"), reliable=False,
                               note=notes.get("heis"))
            continue
        model, bracket = models["heis"]
        # keyed by the constants: a refit never resumes another model's chains
        wd = work / mode / f"heis_{name}_{fit_key(fit_k)}"
        hrows[name] = _run_tc(model, bracket, hplan, threads, wd,
                              f"{material} heisenberg {name}")
    out[f"{material}_tc_heis_draws"] = hrows
    out[f"{material}_tc_heis_plan"] = dict(hplan)
    out.update(_stats(hrows, [f"d{k}" for k in range(N_HEIS_DRAWS)], f"{material}_tc_heis_post"))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 test frames per material (< 1 min)")
    p.add_argument("--train", action="store_true", help="train the members without results")
    p.add_argument("--ship", action="store_true", help="freeze finished committees into "
                   "mmace_fast/models/<material>_mc/committee/")
    p.add_argument("--materials", nargs="+", default=None,
                   help="default: --train / --ship fe; evaluation: every shipped committee")
    p.add_argument("--members", type=int, default=N_MEMBERS)
    p.add_argument("--tc", action="store_true", help="also Tc of every committee member "
                   "(fixed moment length; Fe: resumable, about 7 min per member on 2 threads)")
    p.add_argument("--threads", type=int, default=2, help="replicas run concurrently (--tc)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "committee")
    p.add_argument("--kind", default="bootstrap", choices=KINDS,
                   help="members of --train / --tc: bootstrap samples (shipped) or seeds only")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.train or args.ship:
        materials = args.materials or ["fe"]
        if args.ship and args.kind != "bootstrap":
            raise SystemExit("only the bootstrap committee is shipped (--ship without --kind)")
        if args.train:
            train_missing(kind_dir(args.out, args.kind), materials, args.members, False,
                          args.kind)
        if args.ship:
            for material in materials:
                ship(material, args.out, args.members)
        return
    if args.kind == "heis":
        if not args.tc:
            raise SystemExit("--kind heis runs the Heisenberg posterior draws' Tc: add --tc")
        result = {"kind": "heis"}
        for material in args.materials or ["fe"]:
            result.update(heisenberg_draws_tc(material, args.quick, args.threads,
                                              args.out / "tc"))
        if not args.quick:
            path = ROOT / "benchmarks" / "results" / "bench_uncertainty_heis.json"
            path.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result))
        return
    if args.kind == "seed":
        if not args.tc:
            raise SystemExit("--kind seed evaluates the seed-only members' Tc: add --tc")
        result = {"kind": "seed"}
        for material in args.materials or ["fe"]:
            result.update(seed_committee_tc(material, args.threads, args.out, args.members))
        path = ROOT / "benchmarks" / "results" / "bench_uncertainty_seed.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result))
        return
    from mmace_fast.materials import MATERIALS
    from mmace_fast.models import UnknownModelError
    from mmace_fast.models import committee_dir as shipped_committee
    shipped = []
    for m in MATERIALS:
        try:
            shipped.append(shipped_committee(m) and m)
        except UnknownModelError:
            pass
    materials = [m for m in (args.materials or shipped) if m in shipped]
    t0 = time.perf_counter()
    result = {"quick": args.quick, "materials": materials}
    for material in materials:
        result.update(evaluate(material, args.quick, args.out / "eval"))
        result.update(observables(material, args.quick))
        if material == "fe":
            result.update(committee_mc_cost(material, args.quick))
        if args.tc and material == "fe":
            result.update(committee_tc(material, args.quick, args.threads, args.out / "tc"))
    result["wall_s"] = time.perf_counter() - t0
    if not args.quick:
        path = ROOT / "benchmarks" / "results" / "bench_uncertainty.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
