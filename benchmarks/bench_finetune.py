"""One mMACE for all our materials, and what pre-training buys a new one (issue 34).

    python benchmarks/bench_finetune.py --train                # every missing run (hours)
    python benchmarks/bench_finetune.py --train --stage joint  # only the joint model
    python benchmarks/bench_finetune.py                        # tables of the finished runs
    python benchmarks/bench_finetune.py --quick                # tiny models, the whole chain

Joint model (stage ``joint``): one non-SOC mMACE of the shipped architecture
(mmace_fast.models.recipes.MODEL) on the train / valid splits of all four materials at once (Fe
with its spiral supercells, FeAl, CrN, FePt; species N, Al, Cr, Fe, Pt), evaluated per material
on the same test splits and with the same physics checks as the shipped per-material models
(mmace_fast.training.release_checks.evaluate_material). How the materials share one recipe:

* one moment scale per species (:data:`JOINT_MOMENT_SCALE`; Fe's 2.8 muB fits Fe and FePt,
  FeAl's 0.78 muB Fe sits at 0.28 of it, still resolved by the magnitude features);
* the loss weights of the shipped recipes per material through config-type weights on tagged
  frames (every frame's config_type becomes ``<material>:<type>``): FeAl forces x5 (its recipe
  has forces_weight 50), FePt energies x10, forces x30, magnetic forces x10 (its recipe's
  10 000 / 300 / 100);
* the moment priors of every material at once: the Landau-profile stability prior from
  s = 0.05 (FeAl's), the induced-moment prior with +-axis probes on Al, N and Pt, the collapse
  prior on FeAl's collapsed starts;
* spin-orbit coupling: not in the joint model. FePt's SOC model trains about 20 times slower
  per frame than the non-SOC one (RESULTS.md "spin-orbit model"), which would make every run
  here hours per epoch on this machine; the joint model learns FePt's chemistry, moments and
  elasticity, and FePt's anisotropy (1.8 meV/atom over 90 degrees) stays the job of its own
  SOC model (or a SOC fine-tune from the joint backbone, not built yet).

Learning curves (stage ``curves``): for each left-out material L in :data:`LEFT_OUT` (Fe and
FeAl) a model is pre-trained jointly on the other three (stage ``pretrain``), then for n in
:data:`N_FRAMES` training frames of L (:data:`N_SUBSETS` random subsets per n, one for all) a
model is fine-tuned from it (``ft``: every weight trainable, lr :data:`FT_LR`, the pre-trained
moment scales, the reference energies of L's species refitted to the pre-trained model's
residuals on the n frames, ``init_e0s="refit"``) and one trained from scratch (``scratch``:
L's shipped recipe and architecture) on the same frames with the same budget of
:data:`STEPS` optimiser steps (cosine schedule to 0, last epoch kept). Both are evaluated
on L's valid + test frames (E, F, magF MAE; the held-out spirals for Fe).

Runs live in ``<out>/<quick|full>/`` (joint/, pretrain_wo_<L>/, curves/<L>/<mode>_n<n>_s<s>/),
each with its ``results.json`` when done (a rerun skips it; a killed training resumes from its
checkpoint). Figures (last stdout line, one JSON object; the full run also writes
benchmarks/results/bench_finetune.json): joint_<m>_{e,f,magf}_mae (test split) beside the
shipped model's, and per left-out material and n: ft / scratch e_mae, f_mae, magf_mae (mean
and std over subsets), n_train_frames {material: count}, frames_to_match_scratch_all
{material: the smallest n whose fine-tuned E, F and magF errors (means over subsets) are all at
or below the scratch model's with all frames; null if none} (goal <= 10 % of n_train_frames
for Fe and FeAl).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

log = logging.getLogger("bench_finetune")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

ALL_MATERIALS = ("fe", "feal", "crn", "fept")
LEFT_OUT = ("fe", "feal")
#: one moment scale per species (muB) for every material at once
JOINT_MOMENT_SCALE = {7: 0.5, 13: 0.5, 24: 3.0, 26: 2.8, 78: 0.5}
#: per-material loss weights of the shipped recipes, as factors on the tagged config types
MATERIAL_WEIGHTS = {"feal": {"forces": 5.0},
                    "fept": {"energy": 10.0, "forces": 30.0, "magforces": 10.0}}
#: species that carry no moment of their own (the induced-moment prior probes them)
INDUCED = (7, 13, 78)
N_FRAMES = (5, 10, 20, 40)
N_SUBSETS = 3
STEPS = 3000
FT_LR = 0.002
JOINT_EPOCHS = 300
QUICK = dict(n_frames=(5,), n_subsets=1, steps=12, joint_epochs=2,
             materials=("fe", "feal"), left_out=("fe",))
RESULTS = "results.json"


# ------------------------------------------------------------------------------------ data
def material_snapshot(material: str, work: Path) -> dict:
    """The release's snapshot of ``material`` (data copy, spiral supercells) in ``work``."""
    from mmace_fast.training.release import snapshot
    return snapshot(material, work / "data" / material)


def snapshot_files(snap: dict) -> list[str]:
    return [str(snap["path"])] + ([str(snap["spiral_path"])] if snap["spiral_path"] else [])


def tagged_file(materials, snaps: dict, work: Path, name: str) -> Path:
    """One extxyz of the materials' frames (their split labels kept), every config_type
    prefixed with its material."""
    import ase.io
    path = work / "data" / f"{name}.extxyz"
    if path.exists():
        return path
    frames = []
    for m in materials:
        for f in snapshot_files(snaps[m]):
            for atoms in ase.io.read(f, index=":"):
                atoms.info["config_type"] = f"{m}:{atoms.info.get('config_type', 'default')}"
                frames.append(atoms)
    tmp = path.with_suffix(".tmp")
    ase.io.write(str(tmp), frames, format="extxyz")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------ recipes
def joint_recipe(materials, quick: bool, epochs: int) -> tuple[dict, dict]:
    """(model settings, train settings) of a joint model of ``materials``."""
    from mmace_fast.models.recipes import MODEL, QUICK_MODEL, TRAIN
    species = sorted({int(z) for m in materials for z in _species(m)})
    model = dict(QUICK_MODEL if quick else MODEL, species=species,
                 moment_scale=[JOINT_MOMENT_SCALE[z] for z in species])
    induced = [z for z in INDUCED if z in species]
    train = dict(TRAIN, moment_stability_profile="landau", moment_stability_range=[0.05, 2.5],
                 moment_stability_induced_species=induced,
                 moment_stability_induced_directions="mixed",
                 moment_stability_induced_range=[0.05, 1.5],
                 moment_collapse_prior="feal" in materials, scheduler="cosine", patience=None,
                 keep_model="last", max_epochs=epochs,
                 config_type_weights={f"{m}:*": w for m, w in MATERIAL_WEIGHTS.items()
                                      if m in materials})
    return model, train


def _species(material: str) -> tuple:
    from mmace_fast.materials import get
    return get(material).species


def curve_recipe(material: str, mode: str, n: int, n_train: int, subset: int, quick: bool,
                 steps: int, pretrained: Path) -> tuple[dict | None, dict]:
    """(model settings or None for a fine-tune, train settings) of one learning-curve run."""
    from mmace_fast.models.recipes import MOMENT_SCALE, model_settings, train_settings
    batch = 4
    epochs = max(1, math.ceil(steps / math.ceil(min(n, n_train) / batch)))
    train = dict(train_settings(material, quick), batch_size=batch, scheduler="cosine",
                 patience=None, keep_model="last", max_epochs=epochs, lr_min=0.0)
    if n < n_train:
        train["resample"] = {"kind": "subset", "n": int(n), "seed": 100 * int(n) + subset}
    if mode == "ft":
        train.update(init_from=str(pretrained / "model"), lr=FT_LR, init_e0s="refit")
        return None, train
    species = sorted(int(z) for z in _species(material))
    model = dict(model_settings(material, quick), species=species,
                 moment_scale=[MOMENT_SCALE[material].get(z, 1.0) for z in species])
    return model, train


# ------------------------------------------------------------------------------------ runs
def train_run(run: Path, files: list, model: dict | None, train: dict) -> None:
    """Train into run/model (resuming a killed run from its checkpoint)."""
    from mmace_fast.training.config import TrainConfig
    from mmace_fast.training.trainer import Trainer
    kw = dict(train, train_file=files, out_dir=str(run / "model"), resume=True,
              progress=False)
    if model is not None:
        kw["model"] = model
    Trainer(TrainConfig(**kw)).setup().fit()


def held_out_errors(model, mcfg, snap: dict) -> dict:
    """MAE (meV units) on the valid + test frames of a material, and its held-out spirals."""
    from mmace_fast.training.trainer import evaluate_configs
    confs = [c for c, _ in snap["frames"] if c.info.get("split") in ("valid", "test")]
    res = evaluate_configs(model, confs, float(mcfg.r_cut), batch_size=8)
    out = {"e_mae": res["energy_mae"], "f_mae": res["forces_mae"],
           "magf_mae": res["magforces_mae"], "n_held_out": len(confs)}
    spirals = [c for c, _ in snap["spirals"] if c.info.get("split") in ("valid", "test")]
    if spirals:
        sp = evaluate_configs(model, spirals, float(mcfg.r_cut), batch_size=8)
        out["spiral_e_mae"] = sp["energy_mae"]
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def finish(run: Path, result: dict) -> dict:
    from mmace_fast.model.io import atomic_write_text
    atomic_write_text(run / RESULTS, json.dumps(result, indent=1) + "\n")
    return result


def done(run: Path) -> dict | None:
    p = run / RESULTS
    return json.loads(p.read_text()) if p.exists() else None


def joint_stage(work: Path, snaps: dict, materials, quick: bool, epochs: int, train: bool
                ) -> dict | None:
    """The joint model of ``materials`` and its per-material evaluation."""
    run = work / "joint"
    res = done(run)
    if res is not None or not train:
        return res
    from mmace_fast.training.release_checks import evaluate_material
    from mmace_fast.model.io import load_model
    model_s, train_s = joint_recipe(materials, quick, epochs)
    t0 = time.perf_counter()
    train_run(run, [str(tagged_file(materials, snaps, work, "joint"))], model_s, train_s)
    model, mcfg, _ = load_model(run / "model")
    res = {"materials": list(materials), "train_s": time.perf_counter() - t0, "per_material": {}}
    for m in materials:
        ev = evaluate_material(m, model, mcfg, snaps[m], tie_ev=1e-3)
        res["per_material"][m] = {k: ev.get(k) for k in (
            "e_mae_mev_atom", "f_mae_mev_a", "magf_mae_mev_mub", "s_mae_mev_a3",
            "moment_relaxed_mub", "moment_dft_mub", "ordering_ok", "ordering_relaxed_ok",
            "spiral_e_mae_test_mev_atom", "relax_gain_max_mev_atom")}
    return finish(run, res)


def pretrain_stage(work: Path, snaps: dict, left_out: str, materials, quick: bool,
                   epochs: int, train: bool) -> Path | None:
    """The joint model of every material but ``left_out``; its run directory when done."""
    run = work / f"pretrain_wo_{left_out}"
    if done(run) is not None:
        return run
    if not train:
        return None
    others = [m for m in materials if m != left_out]
    model_s, train_s = joint_recipe(others, quick, epochs)
    t0 = time.perf_counter()
    train_run(run, [str(tagged_file(others, snaps, work, f"wo_{left_out}"))], model_s,
              train_s)
    finish(run, {"materials": others, "train_s": time.perf_counter() - t0})
    return run


def curve_stage(work: Path, snap: dict, material: str, pretrained: Path | None, plan: dict,
                quick: bool, train: bool) -> dict:
    """Every (mode, n, subset) run of one left-out material: {run name: results}."""
    from mmace_fast.model.io import load_model
    n_train = snap["counts"].get("train", 0)
    sizes = [n for n in plan["n_frames"] if n < n_train] + [n_train]
    rows = {}
    for n in sizes:
        for s in range(plan["n_subsets"] if n < n_train else 1):
            for mode in ("scratch", "ft"):
                name = f"{mode}_n{n}_s{s}"
                run = work / "curves" / material / name
                res = done(run)
                if res is None and train and (mode == "scratch" or pretrained is not None):
                    model_s, train_s = curve_recipe(material, mode, n, n_train, s, quick,
                                                    plan["steps"], pretrained)
                    t0 = time.perf_counter()
                    train_run(run, snapshot_files(snap), model_s, train_s)
                    model, mcfg, _ = load_model(run / "model")
                    res = finish(run, dict(held_out_errors(model, mcfg, snap), mode=mode, n=n,
                                           subset=s, train_s=time.perf_counter() - t0))
                if res is not None:
                    rows[name] = res
    return rows


# ------------------------------------------------------------------------------------ figures
def curve_table(rows: dict, n_train: int) -> dict:
    """{mode: {n: {e_mae, e_mae_std, f_mae, ..., subsets}}} and frames_to_match_scratch_all."""
    table = {}
    for r in rows.values():
        table.setdefault(r["mode"], {}).setdefault(r["n"], []).append(r)
    out = {}
    for mode, by_n in table.items():
        out[mode] = {}
        for n, rs in sorted(by_n.items()):
            cell = {"subsets": len(rs)}
            for key in ("e_mae", "f_mae", "magf_mae", "spiral_e_mae"):
                vals = [r[key] for r in rs if r.get(key) is not None]
                if vals:
                    cell[key] = float(np.mean(vals))
                    cell[f"{key}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
            out[mode][n] = cell
    ref = out.get("scratch", {}).get(n_train)
    match = None
    if ref is not None:
        for n, cell in sorted(out.get("ft", {}).items()):
            if all(cell.get(k) is not None and cell[k] <= ref[k]
                   for k in ("e_mae", "f_mae", "magf_mae")):
                match = n
                break
    return {"curves": out, "frames_to_match_scratch_all": match}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny models, a few steps (< 1 min)")
    p.add_argument("--train", action="store_true", help="train every missing run")
    p.add_argument("--stage", choices=("joint", "pretrain", "curves"), nargs="+",
                   default=("joint", "pretrain", "curves"), help="stages to train")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "finetune")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    quick = args.quick
    plan = dict(QUICK) if quick else dict(n_frames=N_FRAMES, n_subsets=N_SUBSETS, steps=STEPS,
                                          joint_epochs=JOINT_EPOCHS, materials=ALL_MATERIALS,
                                          left_out=LEFT_OUT)
    work = args.out / ("quick" if quick else "full")
    train = args.train or quick
    t0 = time.perf_counter()
    snaps = {m: material_snapshot(m, work) for m in plan["materials"]}
    result = {"quick": quick, "plan": {k: list(v) if isinstance(v, tuple) else v
                                       for k, v in plan.items()},
              "n_train_frames": {m: s["counts"].get("train", 0) for m, s in snaps.items()}}
    joint = joint_stage(work, snaps, plan["materials"], quick, plan["joint_epochs"],
                        train and "joint" in args.stage)
    result["joint"] = joint
    match = {}
    for m in plan["left_out"]:
        pre = pretrain_stage(work, snaps, m, plan["materials"], quick, plan["joint_epochs"],
                             train and "pretrain" in args.stage)
        rows = curve_stage(work, snaps[m], m, pre, plan, quick, train and "curves" in args.stage)
        table = curve_table(rows, result["n_train_frames"][m])
        result[f"{m}_curves"] = table["curves"]
        match[m] = table["frames_to_match_scratch_all"]
    result["frames_to_match_scratch_all"] = match
    result["wall_s"] = time.perf_counter() - t0
    if not quick:
        path = ROOT / "benchmarks" / "results" / "bench_finetune.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
