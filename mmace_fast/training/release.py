"""The release of the shipped models: data snapshot, training from the recipe, checks, shipping.

    mmace models train fe [--grade mc] [--quick] [--out runs/release] [--ship]
    mmace models ship-run fe --out runs/release [--grade mc]   # ship a finished run as is
    mmace models evaluate [fe feal ...]                        # the shipped models on the data

1. snapshot: the data file is read once into memory (the DFT pipeline rewrites it from time to
   time), its SHA-256 and frame counts recorded, and the bytes written to the run directory;
   training reads only that snapshot, so a run is reproducible from (snapshot, seed). Spin
   spirals (data/<m>_spirals.extxyz.gz) enter as their commensurate supercells, split by
   mmace_fast.data.spirals.spiral_split;
2. training: the recipe (:mod:`mmace_fast.models.recipes`) with the trainer on the fixed
   ``train`` split, ``valid`` for the scheduler / early stopping, seed 0, one thread;
3. checks (:mod:`mmace_fast.training.release_checks`), written to ``<run>/results.json``;
4. shipping: the model, its provenance (data hash, frame counts, command, checks) and its
   training domain into mmace_fast/models/<material>[_mc]/, frozen for the C++ evaluator.

benchmarks/bench_dft_models.py drives the same functions to compare training choices
(``--model-set`` / ``--train-set``) and prints its JSON figures.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from mmace_fast import datasets
from mmace_fast.data.readers import atoms_to_configuration
from mmace_fast.data.spirals import SPIRAL_TEST_X, spiral_training_frames, spirals_file_of
from mmace_fast.materials import MATERIALS as REGISTRY
from mmace_fast.model.io import load_model, read_model_json, save_model
from mmace_fast.models.recipes import MOMENT_SCALE, model_settings, train_settings
from mmace_fast.training.config import TrainConfig
from mmace_fast.training.release_checks import BULKY, evaluate_material, starting_moments
from mmace_fast.training.trainer import Trainer

log = logging.getLogger(__name__)
MATERIALS = tuple(REGISTRY)          # every material of the registry (mmace_fast.materials)

# --------------------------------------------------------------------------------------------
# data snapshot
# --------------------------------------------------------------------------------------------
#: folder of the data files (--data-dir; the DFT pipeline rewrites data/ while it runs, so a
#: comparison between training settings reads a fixed copy); None: mmace_fast.datasets.data_dir()
DATA_DIR: Path | None = None

#: a material whose data file holds fewer frames is not trained unless named (--materials)
MIN_FRAMES = 10


def n_frames(path: Path) -> int:
    """Number of frames in an extxyz(.gz) file (counted from its comment lines' Lattice=)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return sum(1 for line in fh if "Lattice=" in line)


def data_file(material: str) -> Path:
    """The frames of ``material`` (written by ``python -m mmace_fast.data.dft collect``)."""
    return (DATA_DIR or datasets.data_dir()) / REGISTRY[material].data_file


def snapshot(material: str, run_dir: Path, src: Path | None = None) -> dict:
    """Copy data/<material>.extxyz.gz (read once) into ``run_dir``; parse the copy. Spiral
    frames (data/<material>_spirals.extxyz.gz), where they exist, are written next to it as
    their real-space supercells, split by ``spiral_split``.

    Returns {"path", "sha256", "frames" [(Configuration, initial moments [n, 3] muB)],
    "counts" {split: n}, "spiral_path" (None without spirals), "spirals" [(Configuration,
    q [3] in 2 pi / a)]}."""
    src = data_file(material) if src is None else Path(src)       # --ship-run: the run's copy
    raw = src.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    run_dir.mkdir(parents=True, exist_ok=True)
    dst = run_dir / f"{material}.extxyz.gz"
    dst.write_bytes(raw)
    import ase.io
    text = gzip.decompress(raw).decode()
    atoms_list = ase.io.read(io.StringIO(text), index=":", format="extxyz")
    frames = []
    for k, atoms in enumerate(atoms_list):
        conf = atoms_to_configuration(atoms, f"{dst}:{k}")
        frames.append((conf, starting_moments(atoms)))
    counts = {}
    for conf, _ in frames:
        split = conf.info.get("split", "train")
        counts[split] = counts.get(split, 0) + 1
    log.info("%s: %d frames %s, sha256 %s", material, len(frames), counts, sha[:12])
    snap = {"path": dst, "sha256": sha, "frames": frames, "counts": counts,
            "spiral_path": None, "spirals": [], "spirals_sha256": None}
    snap.update(spiral_snapshot(material, run_dir, src))
    return snap


def spiral_snapshot(material: str, run_dir: Path, data: Path | None = None) -> dict:
    """data/<material>_spirals.extxyz.gz (read once) -> run_dir/<material>_spirals_sc.extxyz:
    every q != 0 spiral as its commensurate supercell with the split of ``spiral_split``."""
    src = spirals_file_of(data_file(material) if data is None else data)
    if not src.exists():
        return {}
    import ase.io
    raw = src.read_bytes()
    copy = run_dir / src.name
    copy.write_bytes(raw)
    sc = spiral_training_frames(copy)
    if not sc:
        return {}
    dst = run_dir / f"{material}_spirals_sc.extxyz"
    ase.io.write(str(dst), sc, format="extxyz")
    confs = [(atoms_to_configuration(a, f"{dst}:{k}"), a.info["qspiral_cart_2pi_over_a"])
             for k, a in enumerate(sc)]
    log.info("%s: %d spiral supercells (%d train)", material, len(confs),
             sum(c.info["split"] == "train" for c, _ in confs))
    return {"spiral_path": dst, "spirals": confs,
            "spirals_sha256": hashlib.sha256(raw).hexdigest()}


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------
def species_of(frames) -> list[int]:
    return sorted({int(z) for conf, _ in frames for z in conf.numbers})


def train_material(material: str, snap: dict, run_dir: Path, quick: bool,
                   model_changes: dict | None = None, grade: str = "accurate",
                   **changes) -> tuple:
    """Fresh training run in run_dir/model; returns (best model, its config, seconds).
    The recipe of ``grade`` (mmace_fast.models.recipes); model_changes: architecture settings
    replacing the recipe's (``--model-set``); changes: training settings replacing it."""
    species = species_of(snap["frames"])
    model_cfg = dict(model_settings(material, quick, grade), **(model_changes or {}),
                     species=species,
                     moment_scale=[MOMENT_SCALE[material].get(z, 1.0) for z in species])
    out = run_dir / "model"
    if out.exists():
        shutil.rmtree(out)         # re-runnable: always a fresh, seeded run
    files = [str(snap["path"])] + ([str(snap["spiral_path"])] if snap["spiral_path"] else [])
    cfg = TrainConfig(train_file=files, model=model_cfg, out_dir=str(out),
                      resume=False, **train_settings(material, quick, **changes))
    t0 = time.perf_counter()
    Trainer(cfg).setup().fit()
    seconds = time.perf_counter() - t0
    model, mcfg, _ = load_model(out)
    return model, mcfg, seconds


def train_changes(args) -> dict:
    """Command-line overrides of the training settings (recorded in the model's metadata):
    --max-epochs, --patience and every ``--train-set KEY=VALUE`` (VALUE parsed as JSON, e.g.
    forces_weight=50 or moment_stability_range=[0.3,2.5]); unknown keys are refused."""
    out = {k: v for k, v in (("max_epochs", args.max_epochs), ("patience", args.patience))
           if v is not None}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for item in args.train_set or []:
        key, sep, value = item.partition("=")
        if not sep or key not in known or key in ("train_file", "model", "out_dir"):
            raise SystemExit(f"--train-set {item!r}: expected KEY=VALUE with KEY a TrainConfig "
                             f"field other than train_file/model/out_dir")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value                          # a bare string, e.g. scheduler=plateau
    return out


#: architecture settings --model-set may not change: they come from the data or the material
MODEL_SET_FIXED = ("species", "moment_scale", "e0", "avg_num_neighbors", "scale", "shift")


def model_changes(args) -> dict:
    """``--model-set KEY=VALUE`` overrides of the architecture (VALUE parsed as JSON, e.g.
    n_layers=1 or radial_mlp=[32,32]); recorded in the model's metadata through the command.
    Unknown keys and the data-derived ones (MODEL_SET_FIXED) are refused."""
    from mmace_fast.model.config import ModelConfig
    known = {f.name for f in dataclasses.fields(ModelConfig)} - set(MODEL_SET_FIXED)
    out = {}
    for item in args.model_set or []:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise SystemExit(f"--model-set {item!r}: expected KEY=VALUE with KEY one of "
                             f"{sorted(known)}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--model-set {item!r}: VALUE is not JSON ({exc})") from exc
    return out



def shipped_comparison(material: str, snap: dict, tie_ev: float) -> dict:
    """The shipped model of ``material`` evaluated on this run's snapshot and split, under
    ``shipped_<key>`` (its own data hash and frame count alongside); {} where none is shipped.
    Must run before :func:`ship` overwrites it."""
    from mmace_fast.models import UnknownModelError, load_default
    try:
        model, mcfg, meta = load_default(material)
    except UnknownModelError:
        return {}
    res = evaluate_material(material, model, mcfg, snap, tie_ev)
    out = {f"shipped_{k}": v for k, v in res.items() if k not in BULKY}
    out.update(shipped_data_sha256=meta.get("data_sha256"),
               shipped_data_frames=meta.get("data_frames"))
    return out


def evaluate_shipped(material: str, run_dir: Path, tie_ev: float) -> dict:
    """The shipped model of ``material`` on the current data file and its fixed split (no
    training): the held-out error table of what users get. A frame's split is a hash of its id
    (mmace_fast.data.dft.structures.split_of), so test frames added after the model was trained
    are still frames it never saw. Raises UnknownModelError where none is shipped."""
    from mmace_fast.models import load_default
    model, mcfg, meta = load_default(material)
    snap = snapshot(material, run_dir)
    res = evaluate_material(material, model, mcfg, snap, tie_ev)
    res.update(data_sha256=snap["sha256"], frames=sum(snap["counts"].values()),
               split_counts=snap["counts"], model_data_sha256=meta.get("data_sha256"),
               model_data_frames=meta.get("data_frames"),
               model_data_current=meta.get("data_sha256") == snap["sha256"])
    return res



# --------------------------------------------------------------------------------------------
# shipping
# --------------------------------------------------------------------------------------------
def ship(material: str, run_dir: Path, snap: dict, results: dict, command: str,
         grade: str = "accurate") -> Path:
    """Copy the best model into mmace_fast/models/<material><grade suffix>/ with provenance
    metadata, and freeze it (model.mmace) for the C++ evaluator."""
    from mmace_fast.export import export_model
    from mmace_fast.models import FROZEN_NAME, GRADES, MODELS_DIR
    model, mcfg, meta = load_model(run_dir / "model")
    doc = read_model_json(run_dir / "model")
    meta = dict(doc.get("metadata", {}))
    for k in ("training_files", "saved_at"):
        meta.pop(k, None)
    train_cfg = dict(meta.get("train_config", {}))
    train_cfg.pop("out_dir", None)
    train_cfg["train_file"] = f"data/{material}.extxyz.gz (snapshot, sha256 below)"
    meta["train_config"] = train_cfg
    meta.update({
        "material": material,
        "data_file": f"data/{material}.extxyz.gz",
        "data_sha256": snap["sha256"],
        "data_frames": sum(snap["counts"].values()),
        "data_split_counts": snap["counts"],
        "spirals_file": (f"data/{material}_spirals.extxyz.gz (supercells; held out: "
                         f"x = {list(SPIRAL_TEST_X)} of each path, Gamma-H, -N and -P)"
                         if snap["spiral_path"] else None),
        "spirals_sha256": snap["spirals_sha256"],
        "made_by": command,
        "grade": grade,
        "results": {k: v for k, v in results.items() if k not in BULKY},
    })
    # where the training data were (shortest bonds, longest moments, densities): evaluations
    # far outside warn (mmace_fast.export.domain)
    from mmace_fast.export.domain import TrainingDomain
    from mmace_fast.model.io import cutoff_of
    dom = TrainingDomain.from_frames([c for c, _ in snap["frames"]], cutoff_of(mcfg)).to_dict()
    meta["training_domain"] = dict(dom, data_sha256=snap["sha256"], same_data_as_training=True)
    dest = MODELS_DIR / (material + GRADES[grade])
    # a spin-orbit model's derived coupling buffers make model.pt ~14 MB: shipped gzipped
    save_model(dest, model, mcfg, meta, compress=bool(getattr(mcfg, "soc", False)))
    export_model(model, dest / FROZEN_NAME)
    log.info("shipped %s (%s grade) -> %s", material, grade, dest)
    return dest


RESULTS_NAME = "results.json"


def write_run_results(run_dir: Path, material: str, command: str, res: dict) -> Path:
    """``run_dir/results.json``: what :func:`ship_run` needs to ship this run later."""
    path = run_dir / RESULTS_NAME
    path.write_text(json.dumps({"material": material, "command": command, "results": res},
                               indent=1))
    return path


class ShipRunError(RuntimeError):
    """An earlier run cannot be shipped (missing files, or its snapshot changed)."""


def ship_run(material: str, run_dir: Path, grade: str = "accurate") -> Path:
    """Ship the model of the finished run in ``run_dir`` (model/, its data snapshot and
    results.json) as :func:`ship` would have at the end of that run."""
    path = run_dir / RESULTS_NAME
    if not path.exists() or not (run_dir / "model" / "model.json").exists():
        raise ShipRunError(f"{run_dir} holds no finished run ({RESULTS_NAME} and model/ are "
                           "written at the end of a run)")
    doc = json.loads(path.read_text())
    if doc.get("material") != material:
        raise ShipRunError(f"{path} is a run of {doc.get('material')!r}, not {material!r}")
    snap = snapshot(material, run_dir, run_dir / f"{material}.extxyz.gz")   # the run's copy
    recorded = doc["results"].get("data_sha256")
    if snap["sha256"] != recorded:
        raise ShipRunError(f"{run_dir}: snapshot sha256 {snap['sha256'][:12]} is not the "
                           f"{str(recorded)[:12]} its results were computed on")
    return ship(material, run_dir, snap, doc["results"],
                f"{doc['command']} (shipped afterwards with --ship-run)", grade)


def evaluate_shipped_all(materials: list[str], out: Path, args) -> dict:
    """``--evaluate-shipped``: one JSON object over ``materials`` (those without a shipped
    model are listed under ``not_shipped``)."""
    from mmace_fast.models import available
    result, t_all, shipped = {}, time.perf_counter(), set(available())
    for material in [m for m in materials if m in shipped]:
        res = evaluate_shipped(material, out / "shipped" / material, 1e-3 * args.tie_mev)
        log.info("%s (shipped): %s", material, json.dumps(
            {k: v for k, v in res.items() if k not in BULKY}))
        result.update({f"{material}_{k}": v for k, v in res.items()})
    result.update(evaluated="shipped models", tie_mev=args.tie_mev, dtype="float64",
                  not_shipped=[m for m in materials if m not in shipped],
                  wall_s=round(time.perf_counter() - t_all, 1))
    return result




# --------------------------------------------------------------------------------------------
# command line: mmace models train | ship-run | evaluate
# --------------------------------------------------------------------------------------------
def run_material(material: str, out: Path, quick: bool = False, grade: str = "accurate",
                 ship_it: bool = False, command: str = "", tie_mev: float = 1.0,
                 model_changes: dict | None = None, compare_shipped: bool = False,
                 **changes) -> dict:
    """Snapshot, train, check (and ship) one material; the run lives in
    ``out/<full|quick>/<material>[_mc]``. Returns the checks (:func:`evaluate_material`) with
    the data provenance and the training time."""
    run_dir = Path(out) / ("quick" if quick else "full") / (material + ("_mc" if grade == "mc"
                                                                        else ""))
    snap = snapshot(material, run_dir)
    model, mcfg, seconds = train_material(material, snap, run_dir, quick, model_changes,
                                          grade, **changes)
    res = evaluate_material(material, model, mcfg, snap, 1e-3 * tie_mev)
    res.update(data_sha256=snap["sha256"], frames=sum(snap["counts"].values()),
               split_counts=snap["counts"], train_s=round(seconds, 1), grade=grade)
    if compare_shipped:
        res.update(shipped_comparison(material, snap, 1e-3 * tie_mev))
    write_run_results(run_dir, material, command, res)
    if ship_it:
        ship(material, run_dir, snap, res, command, grade)
    return res


def run_settings() -> None:
    """Logging and torch settings of a release run: timed INFO lines with the trainer's
    per-epoch tables quiet, one torch thread, float64."""
    import torch  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("mmace_fast.training.trainer", "mmace_fast.training.data",
                  "mmace_fast.data.readers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)


def _summary(res: dict) -> str:
    keys = ("e_mae_mev_atom", "f_mae_mev_a", "s_mae_mev_a3", "magf_mae_mev_mub",
            "moment_dft_mub", "moment_relaxed_mub", "ordering_ok", "train_s")
    return ", ".join(f"{k} {res.get(k)}" for k in keys)


def _parser():
    p = argparse.ArgumentParser(prog="mmace models", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (and --ship) a shipped material's model from its "
                                     "recipe; example: mmace models train fe --grade mc")
    t.add_argument("materials", nargs="+", choices=MATERIALS)
    t.add_argument("--grade", default="accurate", choices=("accurate", "mc"))
    t.add_argument("--quick", action="store_true", help="tiny model, few epochs (< 1 min)")
    t.add_argument("--ship", action="store_true", help="replace the shipped model (full runs)")
    t.add_argument("--compare-shipped", action="store_true",
                   help="also check the model shipped now on the same snapshot")
    s = sub.add_parser("ship-run", help="ship a finished run of `mmace models train` as it is; "
                                        "example: mmace models ship-run fe --grade mc")
    s.add_argument("materials", nargs="+", choices=MATERIALS)
    s.add_argument("--grade", default="accurate", choices=("accurate", "mc"))
    e = sub.add_parser("evaluate", help="the shipped models' checks on the current data; "
                                        "example: mmace models evaluate fe feal")
    e.add_argument("materials", nargs="*", choices=MATERIALS, default=None)
    for q in (t, s, e):
        q.add_argument("--out", default="runs/release", help="run directory")
        q.add_argument("--data-dir", default=None, help="read the data files from here")
        q.add_argument("--tie-mev", type=float, default=1.0,
                       help="DFT energy differences below this (meV/atom) are not ordered")
    return p


def main(argv=None) -> int:
    """``mmace models train | ship-run | evaluate`` (see the module docstring)."""
    global DATA_DIR
    p = _parser()
    args = p.parse_args(argv)
    run_settings()
    if args.data_dir is not None:
        DATA_DIR = Path(args.data_dir).resolve()
    out = Path(args.out)
    if args.cmd == "ship-run":
        for m in args.materials:
            run_dir = out / "full" / (m + ("_mc" if args.grade == "mc" else ""))
            try:
                print(ship_run(m, run_dir, args.grade))
            except ShipRunError as exc:
                p.error(str(exc))
        return 0
    if args.cmd == "evaluate":
        print(json.dumps(evaluate_shipped_all(args.materials or list(MATERIALS), out, args)))
        return 0
    if args.ship and args.quick:
        p.error("--ship needs a full run (no --quick)")
    missing = [m for m in args.materials if not data_file(m).exists()]
    if missing:
        p.error(f"no data file for {missing}; collect the DFT frames first (DATA.md)")
    command = " ".join(["mmace models", *(argv if argv is not None else sys.argv[1:])])
    for m in args.materials:
        res = run_material(m, out, args.quick, args.grade, args.ship, command, args.tie_mev,
                           compare_shipped=args.compare_shipped)
        print(f"{m} ({args.grade}): {_summary(res)}")
    return 0
