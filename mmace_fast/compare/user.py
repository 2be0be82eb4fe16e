"""A user's own material end to end (``mmace compare``): does the mMACE trained on their spin-DFT
data give another ordering temperature than a Heisenberg model fitted to the same data?

Inputs: a periodic cell ASE reads, its magnetic species and starting order
(:func:`mmace_fast.materials.material_from_structure`); the labelled frames (extxyz or
Materials-Project-style JSON; ``info['split']`` train / valid / test is respected: the baselines
are fitted on train + valid, every model is scored on test, or on valid + test where no frame is
labelled test); the frozen mMACE trained on them (``mmace freeze``). Steps:

1. accuracy: errors of the frozen mMACE (C++ forward and reverse pass) and of the fitted
   fixed-lattice and spin-lattice baselines on the held-out frames, and their ratios;
2. ordering temperatures of the fitted Heisenberg model and of the mMACE (fixed and, if asked,
   free moment length) by the one Tc protocol (:mod:`mmace_fast.mc.protocol`), on L x L x L
   repeats of the cell, with the order parameter of the given order. Brackets: the fitted
   model's from its mean-field temperature, the mMACE's from the mean-field temperature of the
   Heisenberg model extracted from it, unless given.

Everything is checkpointed under the output folder, keyed by the fitted parameters and the
frozen file's content: a rerun resumes, and never resumes another model's chains. No torch.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Optional

from mmace_fast.compare import accuracy as acc
from mmace_fast.materials import Material

log = logging.getLogger(__name__)

#: the Tc-protocol models a user's comparison can run (names of compare.thermo.tc_models)
USER_MODELS = ("heis", "mmace_fixed", "mmace_free")
#: the mMACE bracket as fractions of the mean-field temperature of the Heisenberg model
#: extracted from it (classical spins order at 0.6-0.8 T_MF on unfrustrated lattices)
MMACE_BRACKET_OF_MF = (0.3, 1.2)
#: mMACE protocol sizes when none are given (L x L x L cells)
DEFAULT_MMACE_SIZES = (4, 6, 8)


class UserCompareError(ValueError):
    """Inputs of a user's comparison that cannot work together."""


def held_out(configs) -> tuple[str, list]:
    """(name, frames) the models are scored on: the test split, else valid + test."""
    test = acc.select_split(configs, ["test"])
    if test:
        return "test", test
    frames = acc.select_split(configs, ["valid"])
    if not frames:
        raise UserCompareError("no held-out frames: label some frames split=test (or "
                               "split=valid) in the data file")
    return "valid", frames


def fit_baselines(material: Material, configs) -> tuple[dict, dict]:
    """({kind: MaterialFit}, {kind: why it could not be fitted}) of both baseline kinds."""
    from mmace_fast.baseline import fit_material  # noqa: PLC0415

    fits, failed = {}, {}
    for kind in ("fixed_lattice", "spin_lattice"):
        try:
            fits[kind] = fit_material(material, kind=kind, configs=configs)
        except Exception as exc:             # e.g. no forces / stress for the spin lattice
            log.warning("%s baseline on %s: %s", kind, material.key, exc)
            failed[kind] = str(exc)
    if "fixed_lattice" not in fits:
        raise UserCompareError(f"the fixed-lattice baseline cannot be fitted: "
                               f"{failed['fixed_lattice']}")
    return fits, failed


def accuracy_table(frozen, fits: dict, configs) -> dict:
    """Errors (meV units) of the frozen mMACE and the fitted baselines on the held-out frames,
    and the baseline / mMACE MAE ratios."""
    split, frames = held_out(configs)
    preds = {"mmace": acc.frozen_predictor(frozen)}
    preds.update({k: acc.baseline_predictor(f.model) for k, f in fits.items()})
    errors = {name: acc.error_stats(acc.predict_frames(p, frames)) for name, p in preds.items()}
    ratios = {name: acc.error_ratios(errors[name], errors["mmace"]) for name in preds
              if name != "mmace"}
    return {"split": split, "n_frames": len(frames), "errors": errors, "ratios": ratios}


def mmace_bracket(material: Material, surrogate, moment: float) -> tuple[float, float]:
    """K, the mMACE bracket from the mean-field temperature of the Heisenberg model extracted
    from it (``surrogate``, a BaselineModel: compare.thermo.extracted_surrogate)."""
    from mmace_fast.baseline import mean_field_tc, reference_structure  # noqa: PLC0415

    mf = mean_field_tc(surrogate, reference_structure(material),
                       {z: moment for z in material.magnetic})
    t = float(mf.get("T_K", 0.0) or 0.0)
    if not t > 0.0:
        raise UserCompareError("the Heisenberg model extracted from the mMACE does not order "
                               "(mean-field T = 0): give the bracket (--tmin, --tmax)")
    return MMACE_BRACKET_OF_MF[0] * t, MMACE_BRACKET_OF_MF[1] * t


def protocol_plans(quick: bool, sizes=None, classical_sizes=None) -> dict:
    """TcProtocol settings (no bracket) per family, "classical" and "mmace"."""
    from mmace_fast.compare.headtohead import CLASSICAL_FULL, MMACE_FULL  # noqa: PLC0415
    from mmace_fast.compare.thermo import SMOKE_PLANS  # noqa: PLC0415

    if quick:
        plans = {k: dict(v) for k, v in SMOKE_PLANS.items()}
    else:
        plans = {"classical": dict(CLASSICAL_FULL),
                 "mmace": dict(MMACE_FULL, sizes=DEFAULT_MMACE_SIZES)}
    if sizes:
        plans["mmace"]["sizes"] = tuple(int(s) for s in sizes)
    if classical_sizes:
        plans["classical"]["sizes"] = tuple(int(s) for s in classical_sizes)
    return plans


def ordering_temperatures(material: Material, fit, frozen, frozen_sha: str, workdir,
                          names=("heis", "mmace_fixed"), quick: bool = False, sizes=None,
                          classical_sizes=None, bracket: Optional[tuple] = None,
                          threads: int = 1, sampler: str = "guided", seed: int = 0) -> dict:
    """Ordering temperatures of the fitted Heisenberg model ``fit`` and the frozen mMACE by the
    one Tc protocol; {name: record of compare.headtohead.protocol_entry, or tc_K None with a
    reason}."""
    from mmace_fast.compare import thermo  # noqa: PLC0415
    from mmace_fast.compare.headtohead import fit_key, protocol_entry  # noqa: PLC0415
    from mmace_fast.mc.protocol import TcProtocol  # noqa: PLC0415

    unknown = sorted(set(names) - set(USER_MODELS))
    if unknown:
        raise UserCompareError(f"unknown models {unknown}; choose from {USER_MODELS}")
    moment = float(max(fit.moments.values()))
    plans = protocol_plans(quick, sizes, classical_sizes)
    brackets, surrogate = {}, None
    if any(n.startswith("mmace") for n in names) and (sampler == "guided" or bracket is None):
        surrogate = thermo.extracted_surrogate(material, frozen, moment)   # made once
    if bracket is not None:
        brackets = {n: tuple(bracket) for n in names}
    elif surrogate is not None:
        b = mmace_bracket(material, surrogate[0], moment)
        brackets = {n: b for n in names if n.startswith("mmace")}
    models, notes = thermo.tc_models(material, names, fit, frozen, moment, sampler=sampler,
                                     brackets=brackets,
                                     surrogate=surrogate if sampler == "guided" else None)
    dirs = {"heis": Path(workdir) / f"heis_{fit_key(fit)}",
            "mmace": Path(workdir) / f"mmace_{frozen_sha[:12]}_m{moment:.3f}_{sampler}"}
    out = {}
    for name in names:
        if name not in models:
            out[name] = {"name": name, "tc_K": None, "reason": notes[name]}
            log.warning("%s %s: %s; not run", material.key, name, notes[name])
            continue
        ms, br = models[name]
        fam = "mmace" if name.startswith("mmace") else "classical"
        protocol = TcProtocol(**plans[fam], bracket=br, threads=threads)
        log.info("%s %s: order %s, bracket %.0f-%.0f K, sizes %s", material.key, name,
                 material.ground_order, *br, protocol.sizes)
        res = thermo.protocol_tc(ms, protocol, workdir=str(dirs["heis" if fam == "classical"
                                                                 else "mmace"]), seed=seed)
        out[name] = protocol_entry(res, ms, material.ground_order)
        if fam == "mmace" and "surrogate" in notes:
            out[name]["surrogate"] = notes["surrogate"]
    return out


def compare_material(material: Material, data_path, model_path, workdir, *,
                     names=("heis", "mmace_fixed"), quick: bool = False, sizes=None,
                     classical_sizes=None, bracket: Optional[tuple] = None, threads: int = 1,
                     seed: int = 0) -> dict:
    """Accuracy and ordering temperatures of a user's material; the JSON-able result, also
    written to ``workdir/compare.json``."""
    from mmace_fast.compare.headtohead import _jsonable  # noqa: PLC0415
    from mmace_fast.data.readers import read_configurations  # noqa: PLC0415
    from mmace_fast.export import FrozenModel  # noqa: PLC0415

    t0 = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    configs = read_configurations(data_path, species=material.species)
    frozen = FrozenModel.load(model_path)
    missing = sorted(set(material.species) - set(frozen.species))
    if missing:
        raise UserCompareError(f"the model {model_path} knows species {frozen.species}, the "
                               f"structure also has {missing}")
    fits, failed = fit_baselines(material, configs)
    fit = fits["fixed_lattice"]
    out = {"material": {"key": material.key, "formula": material.formula,
                        "magnetic": list(material.magnetic), "order": material.ground_order,
                        "cell_atoms": len(material.cell.numbers) if material.cell else None,
                        "t_exp_K": material.t_exp},
           "data": str(data_path), "n_frames": len(configs), "model": str(model_path),
           "model_sha256": frozen.sha256, "moments_muB": fit.moments,
           "baseline_failed": failed,
           "exchange": fit.exchange, "mean_field_heis": fit.mean_field,
           "accuracy": accuracy_table(frozen, fits, configs)}
    out["tc"] = ordering_temperatures(material, fit, frozen, frozen.sha256, workdir, names,
                                      quick=quick, sizes=sizes, classical_sizes=classical_sizes,
                                      bracket=bracket, threads=threads, seed=seed)
    out["quick"] = bool(quick)
    out["wall_s"] = time.perf_counter() - t0
    out = _jsonable(out)
    with open(workdir / "compare.json", "w") as fh:
        json.dump(out, fh, indent=1)
    return out


def report(res: dict) -> str:
    """The accuracy and Tc tables of :func:`compare_material`'s result, as text."""
    m = res["material"]
    acc_ = res["accuracy"]
    lines = [f"{m['formula']} ({m['key']}), order {m['order']}, {res['n_frames']} frames; "
             f"errors on the {acc_['split']} split ({acc_['n_frames']} frames), MAE / RMSE:",
             "", f"{'model':<14} {'E meV/atom':>16} {'F meV/A':>16} {'magF meV/muB':>16}"]
    for name, e in acc_["errors"].items():
        cells = [f"{e[q]['mae']:.3g} / {e[q]['rmse']:.3g}" if q in e else "-"
                 for q in ("energy", "forces", "magforces")]
        lines.append(f"{name:<14} " + " ".join(f"{c:>16}" for c in cells))
    lines += ["", f"{'model':<14} {'T_c (K)':>18}  sizes (sweeps)  note"]
    for name, r in res["tc"].items():
        if r.get("tc_K") is None:
            lines.append(f"{name:<14} {'-':>18}  {r.get('reason', '')}")
            continue
        err = f"{r['tc_err_K']:.1f}" + ("" if r.get("errors_reliable") else "+")
        sw = ", ".join(f"{L} ({s})" for L, s in zip(r["sizes"], r["sweeps"]))
        lines.append(f"{name:<14} {r['tc_K']:>9.1f} +- {err:<6}  {sw}  {r.get('note', '')}")
    if m.get("t_exp_K"):
        lines.append(f"{'experiment':<14} {m['t_exp_K']:>9.1f}")
    lines.append("(+: the error is a lower bound; the run stopped on its budget)")
    return "\n".join(lines)


def _parser():
    from mmace_fast.materials import add_structure_flags  # noqa: PLC0415

    p = argparse.ArgumentParser(
        prog="mmace compare",
        description="Accuracy and ordering temperature of your own material: the frozen mMACE "
                    "against the Heisenberg model fitted to the same data. Example: mmace "
                    "compare --structure MnAl.cif --magnetic Mn --data mnal.extxyz --model "
                    "runs/mnal/model.mmace --out runs/mnal_compare")
    add_structure_flags(p)
    p.add_argument("--data", required=True, help="labelled frames (extxyz or MP-style JSON)")
    p.add_argument("--model", required=True, help="frozen mMACE (mmace freeze)")
    p.add_argument("--out", default=None, help="folder of checkpoints and compare.json "
                                               "(default runs/compare_<name>)")
    p.add_argument("--models", nargs="+", default=["heis", "mmace_fixed"], choices=USER_MODELS)
    p.add_argument("--sizes", nargs="+", type=int, default=None,
                   help=f"mMACE lattice sizes L (default {DEFAULT_MMACE_SIZES})")
    p.add_argument("--classical-sizes", nargs="+", type=int, default=None)
    p.add_argument("--tmin", type=float, default=None, help="K, bracket low end (all models)")
    p.add_argument("--tmax", type=float, default=None, help="K, bracket high end")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke-test effort (seconds)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv=None) -> int:
    from mmace_fast.materials import MaterialSpecError, material_from_flags  # noqa: PLC0415

    p = _parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.structure is None:
        p.error("--structure is required (the shipped materials: mmace demo, "
                "benchmarks/bench_head_to_head.py)")
    if (args.tmin is None) != (args.tmax is None):
        p.error("give both --tmin and --tmax, or neither")
    try:
        material = material_from_flags(args)
        res = compare_material(material, args.data, args.model,
                               args.out or f"runs/compare_{material.key}", names=args.models,
                               quick=args.quick, sizes=args.sizes,
                               classical_sizes=args.classical_sizes,
                               bracket=None if args.tmin is None else (args.tmin, args.tmax),
                               threads=args.threads, seed=args.seed)
    except (MaterialSpecError, UserCompareError, FileNotFoundError) as exc:
        p.error(str(exc))
    print(report(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
