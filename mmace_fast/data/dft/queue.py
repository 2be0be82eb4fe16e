"""Resumable queue of GPAW calculations for one material, and collection into shipped files.

Work directory layout (``dft_runs/<material>/``)::

    manifest.json      the specs (deterministic from the seed); written once, checked on resume
    specs/<id>.json    the spec handed to the child process
    pending/<id>.extxyz  a child's finished frame, before classification
    frames/<id>.extxyz accepted frames (the data)
    rejected/<id>.extxyz frames rejected by a check (e.g. moment collapse), kept for inspection
    failures.jsonl     one JSON line per failed or noted calculation (never silently dropped)
    txt/<id>.txt       GPAW logs
    log                the queue's log

An id is finished when ``frames/<id>.extxyz`` exists or failures.jsonl holds a terminal record
for it; finished ids are skipped. Every calculation runs in its own subprocess with a timeout.
"""
from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mmace_fast.pidfile import alive

from .settings import MaterialSettings, get_settings
from .structures import build_atoms, make_manifest, spec_json, split_of

log = logging.getLogger(__name__)


#: a constrained moment further than this from its target direction is rejected
MAX_CONSTRAINT_ANGLE_DEG = 10.0


class QueueError(ValueError):
    """Inconsistent work directory (e.g. a manifest made from another seed)."""


# --- outcome classification (pure; tested without GPAW) ----------------------------------------

def classify_outcome(symbols: list[str], m0: np.ndarray, m: np.ndarray,
                     st: MaterialSettings) -> tuple[str, str]:
    """('ok' | 'nonmagnetic_physical' | 'collapse', note) for initial moments ``m0`` [n] and
    converged moments ``m`` [n] (muB).

    A site of a magnetic species started with |m0| >= 1 muB that ends with
    |m| < ``st.collapse_below`` has collapsed. For materials where a non-magnetic outcome is
    physical (B2 FeAl) this is reported as 'nonmagnetic_physical' and the frame is kept.
    Changes of order (e.g. AFM start converging to FM) are noted, not rejected."""
    m0 = np.asarray(m0, dtype=float)
    m = np.asarray(m, dtype=float)
    is_mag = np.array([s in st.magnetic_species for s in symbols])
    started = is_mag & (np.abs(m0) >= 1.0)
    collapsed = started & (np.abs(m) < st.collapse_below)
    notes = []
    flipped = started & ~collapsed & (np.sign(m) != np.sign(m0))
    if flipped.any():
        notes.append(f"moment sign changed on sites {np.flatnonzero(flipped).tolist()}")
    if collapsed.any():
        where = np.flatnonzero(collapsed).tolist()
        msg = (f"moment collapse on sites {where}: |m0| = {np.abs(m0[where]).round(2).tolist()}"
               f" -> |m| = {np.abs(m[where]).round(3).tolist()} muB")
        if st.nonmagnetic_physical:
            return "nonmagnetic_physical", "; ".join([msg + " (physical for this material)"]
                                                     + notes)
        return "collapse", "; ".join([msg] + notes)
    return "ok", "; ".join(notes)


# --- work directory ----------------------------------------------------------------------------

class WorkDir:
    """Paths and bookkeeping of one material's work directory."""

    def __init__(self, root: str | Path, material: str):
        self.root = Path(root)
        self.material = material
        for sub in ("specs", "pending", "frames", "rejected", "txt"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def failures_path(self) -> Path:
        return self.root / "failures.jsonl"

    def frame(self, cid: str) -> Path:
        return self.root / "frames" / f"{cid}.extxyz"

    def load_manifest(self, seed: int) -> list[dict]:
        """The manifest for ``seed``: created on first use; on resume the stored one must
        agree with a fresh one on every stored id (new families may be appended)."""
        fresh = make_manifest(self.material, seed)
        if not self.manifest_path.exists():
            _write_text_atomic(self.manifest_path,
                               json.dumps({"material": self.material, "seed": seed,
                                           "specs": fresh}, indent=1))
            return fresh
        stored = json.loads(self.manifest_path.read_text())
        if stored["seed"] != seed or stored["material"] != self.material:
            raise QueueError(f"{self.manifest_path} was made for material "
                             f"{stored['material']!r} seed {stored['seed']}, not "
                             f"{self.material!r} seed {seed}")
        by_id = {s["id"]: s for s in fresh}
        finished = {p.stem for p in (self.root / "frames").glob("*.extxyz")}
        changed = False
        for s in stored["specs"]:
            if s["id"] in by_id and spec_json(by_id[s["id"]]) != spec_json(s):
                if s["id"] in finished:
                    raise QueueError(f"spec {s['id']} changed since its frame was computed")
                changed = True
        if changed or len(by_id) != len(stored["specs"]):
            _write_text_atomic(self.manifest_path,
                               json.dumps({"material": self.material, "seed": seed,
                                           "specs": fresh}, indent=1))
        return fresh

    def failures(self) -> list[dict]:
        if not self.failures_path.exists():
            return []
        out = []
        for line in self.failures_path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def record_failure(self, record: dict) -> None:
        """Append one JSON line (flushed and fsynced)."""
        record = dict(record, time=time.strftime("%Y-%m-%dT%H:%M:%S"))
        with open(self.failures_path, "a") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def finished_ids(self, retry_failed: bool = False) -> set[str]:
        done = {p.stem for p in (self.root / "frames").glob("*.extxyz")}
        if not retry_failed:
            done |= {r["id"] for r in self.failures() if not r.get("kept", False)}
        return done


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- running -----------------------------------------------------------------------------------

def claim_pending(wd: WorkDir, cid: str) -> Path | None:
    """Take pending/<cid>.extxyz for settling by renaming it (atomic) to
    ``<cid>.extxyz.claimed-<pid>``; None when it is gone (another process sharing the work
    directory, e.g. a ``run --ids`` beside a pipeline, settled it first)."""
    src = wd.root / "pending" / f"{cid}.extxyz"
    claim = src.with_name(f"{src.name}.claimed-{os.getpid()}")
    try:
        os.rename(src, claim)
    except FileNotFoundError:
        return None
    return claim


def recover_stale_claims(wd: WorkDir) -> list[str]:
    """Put back the claimed pending frames of processes that died while settling them (ids)."""
    out = []
    for p in (wd.root / "pending").glob("*.extxyz.claimed-*"):
        pid = int(p.name.rsplit("-", 1)[1])
        if not alive(pid):
            os.replace(p, p.with_name(p.name.split(".claimed-")[0]))
            out.append(p.name.split(".extxyz")[0])
    return out


def _settled_status(wd: WorkDir, cid: str) -> str:
    """Outcome of a frame another process has settled (frames/ or rejected/)."""
    from ase.io import read  # noqa: PLC0415
    for sub in ("frames", "rejected"):
        p = wd.root / sub / f"{cid}.extxyz"
        if p.exists():
            return str(read(p, format="extxyz").info.get("outcome", "ok"))
    raise FileNotFoundError(f"{cid}: no pending, settled or rejected frame in {wd.root}")


def settle_pending(wd: WorkDir, cid: str) -> str:
    """Classify a finished child frame in pending/ and move it to frames/ or rejected/.
    Safe when two processes share the work directory: the frame is claimed by an atomic rename
    first, and the loser returns the winner's outcome."""
    from ase.io import read, write  # noqa: PLC0415

    claim = claim_pending(wd, cid)
    if claim is None:
        return _settled_status(wd, cid)
    src = wd.root / "pending" / f"{cid}.extxyz"
    atoms = read(claim, format="extxyz")
    st = get_settings(wd.material)
    m0 = np.atleast_1d(np.asarray(atoms.info["initial_magmoms"], dtype=float))
    m = np.atleast_1d(np.asarray(atoms.info["converged_magmoms"], dtype=float))
    if atoms.info.get("spiral", False):
        m0 = np.linalg.norm(m0.reshape(-1, 3), axis=1)
        m = np.linalg.norm(m.reshape(-1, 3), axis=1)
        status, note = classify_outcome(atoms.get_chemical_symbols(), m0, m, st)
    elif atoms.info.get("noncollinear", False):
        # lengths for the collapse check; the constraint must have held the directions
        m0 = np.linalg.norm(m0.reshape(-1, 3), axis=1)
        m = np.linalg.norm(m.reshape(-1, 3), axis=1)
        status, note = classify_outcome(atoms.get_chemical_symbols(), m0, m, st)
        angles = np.atleast_1d(np.asarray(atoms.info["angle_to_target_deg"], dtype=float))
        constrained = np.asarray(atoms.arrays["constrained"], dtype=bool)
        if status == "ok" and np.any(angles[constrained] > MAX_CONSTRAINT_ANGLE_DEG):
            status = "collapse"
            note = (f"constraint not held: angles to target {angles.round(1).tolist()} deg "
                    f"(limit {MAX_CONSTRAINT_ANGLE_DEG})")
    else:
        status, note = classify_outcome(atoms.get_chemical_symbols(), m0, m, st)
    atoms.info["outcome"] = status
    if note:
        atoms.info["note"] = note
    dest = (wd.root / "rejected" if status == "collapse" else wd.root / "frames") / src.name
    tmp = dest.with_name(dest.name + ".tmp")
    write(tmp, atoms, format="extxyz")
    os.replace(tmp, dest)
    claim.unlink()
    if status != "ok" or note:
        wd.record_failure({"id": cid, "reason": status, "note": note,
                           "kept": status != "collapse",
                           "wall_time_s": atoms.info.get("wall_time_s")})
    return status


def run_one(wd: WorkDir, spec: dict, timeout_s: float, nice: int = 0) -> str:
    """Run one spec in a child process; returns the outcome status."""
    cid = spec["id"]
    spec_path = wd.root / "specs" / f"{cid}.json"
    _write_text_atomic(spec_path, json.dumps(spec, indent=1))
    out = wd.root / "pending" / f"{cid}.extxyz"
    err = Path(str(out) + ".error.json")
    err.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "mmace_fast.data.dft.runner", str(spec_path), str(out),
           "--txt", str(wd.root / "txt" / f"{cid}.txt")]
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout_s, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        wd.record_failure({"id": cid, "reason": "timeout", "timeout_s": timeout_s,
                           "kept": False, "wall_time_s": time.perf_counter() - t0})
        return "timeout"
    if proc.returncode != 0 or not out.exists():
        info = json.loads(err.read_text()) if err.exists() else {}
        wd.record_failure({"id": cid, "reason": info.get("reason", "error"),
                           "exception": info.get("exception"),
                           "message": info.get("message", proc.stderr[-2000:]),
                           "returncode": proc.returncode, "kept": False,
                           "wall_time_s": time.perf_counter() - t0})
        err.unlink(missing_ok=True)
        return info.get("reason", "error")
    return settle_pending(wd, cid)


#: wall-time guesses (s) of a 2-atom cell for a family with no finished frame yet, by starting
#: order (constrained non-collinear cells and spirals at the protocol settings take about an
#: hour), scaled linearly with the number of atoms beyond 2 (fixed k density: k points ~ 1/N,
#: plane waves and bands ~ N)
DEFAULT_WALL_S = {"NC": 3600.0, "SPIRAL": 3600.0}
DEFAULT_WALL_OTHER_S = 900.0


#: spin-orbit runs (non-collinear spinors + SOC, symmetry off): cost of one SCF iteration of
#: the 2-atom L1_0 FePt cell at 400 eV = fixed part + per k-point part, fitted to the run
#: averages of 2026-12-05 (DATA.md "FePt": soc_validate, 48 k-points, ~20 s per iteration;
#: kpt_convergence --mode torque D = 3.5, 486 k-points, 89 s), both beside another GPAW job
#: and a training run: a rough average (early iterations at 968 k-points took 0.35-0.4 s per
#: k-point, late ones far less; the 2026-12-05 D = 4.5 torque, 968 k-points, averaged 207 s,
#: 19 % above this model); and the SCF iterations those runs took (15-16; 20 allows for
#: strained / rattled cells)
SOC_S_PER_ITERATION_FIXED = 12.0
SOC_S_PER_KPOINT_ITERATION = 0.16
SOC_REFERENCE = {"n_atoms": 2, "ecut_ev": 400.0}
SOC_SCF_ITERATIONS = 20


def guess_wall_s(spec: dict) -> float:
    """Wall-time guess (s) of a spec whose family has no finished frame yet. Spin-orbit specs
    use the measured cost of an iteration (fixed + per k-point of the full mesh: no symmetry),
    scaled with the plane waves (ecut^1.5 x volume) and the bands (n_atoms): ~ n^2 ecut^1.5."""
    st = get_settings(spec["material"]) if "material" in spec else None
    if st is not None and st.soc:
        from .runner import kpoint_mesh  # noqa: PLC0415
        atoms = build_atoms(spec)
        n_k = int(np.prod(kpoint_mesh(atoms, st)))
        scale = ((len(atoms) / SOC_REFERENCE["n_atoms"]) ** 2
                 * (st.ecut_ev / SOC_REFERENCE["ecut_ev"]) ** 1.5)
        per_iteration = SOC_S_PER_ITERATION_FIXED + SOC_S_PER_KPOINT_ITERATION * n_k
        return per_iteration * scale * SOC_SCF_ITERATIONS
    base = DEFAULT_WALL_S.get(spec.get("order"), DEFAULT_WALL_OTHER_S)
    return base * max(1.0, len(build_atoms(spec)) / 2.0)


#: margin on the estimate when deciding whether a job still fits before a deadline
WALL_SAFETY = 1.3


def cost_class(spec: dict) -> tuple:
    """What a calculation's cost mostly depends on, for specs of a family not run yet: the kind
    of run (collinear, constrained non-collinear, spiral; spin-orbit materials are their own
    kind), the number of atoms and whether the cell kept its symmetry (a rattled or generally
    strained cell loses the point group: 4-5x the k-points of a collinear symmetric cell)."""
    key = spec_json(spec)
    if key not in _CLASS_CACHE:
        st = get_settings(spec["material"])
        kind = "SOC" if st.soc else (spec["order"] if spec["order"] in ("NC", "SPIRAL")
                                     else "collinear")
        # non-collinear and spin-orbit runs use no symmetry at all (GPAW refuses it)
        low_symmetry = kind == "collinear" and (float(spec.get("rattle", 0.0) or 0.0) > 0.0
                                                or spec.get("strain_kind") == "general")
        _CLASS_CACHE[key] = (kind, len(build_atoms(spec)), low_symmetry)
    return _CLASS_CACHE[key]


_CLASS_CACHE: dict[str, tuple] = {}


# --- starting patterns whose SCF does not converge ---------------------------------------------
#
# Fe's random up/down 4-atom cells (2026-11-25 to 2026-12-05): every start in which some Fe has
# all eight nearest neighbours antiparallel (the checkerboard, or one moment flipped in a
# ferromagnetic cell) ran into the SCF cap after ~25 CPU-min (5 of 5), every other start
# converged (10 of 10). The queue defers a spec whose neighbour pattern has failed like that at
# least SCF_RISK_MIN_FAILURES times in the same cell and never converged; it stays in the
# manifest and runs with ``include_scf_risk`` (e.g. after a change of mixer).

#: failures of a pattern class, with no success, before its other specs are deferred
SCF_RISK_MIN_FAILURES = 2
_SIGNATURE_CACHE: dict[str, tuple | None] = {}


def neighbour_signature(spec: dict) -> tuple | None:
    """(cell, sorted per-site (n parallel, n antiparallel) nearest magnetic neighbours) of a
    collinear magnetic start, from the unstrained, unrattled cell; None for non-magnetic,
    non-collinear and spiral specs (nothing to compare)."""
    key = spec_json(spec)
    if key not in _SIGNATURE_CACHE:
        _SIGNATURE_CACHE[key] = _signature(spec)
    return _SIGNATURE_CACHE[key]


def _signature(spec: dict) -> tuple | None:
    from ase.neighborlist import neighbor_list  # noqa: PLC0415

    if spec.get("order") in (None, "NM", "NC", "SPIRAL") or get_settings(spec["material"]).soc:
        return None
    ideal = dict(spec, rattle=0.0, strain=np.zeros((3, 3)).tolist())
    atoms = build_atoms(ideal)
    m = np.asarray(atoms.get_initial_magnetic_moments(), dtype=float)    # [n] muB, collinear
    mag = np.flatnonzero(np.abs(m) > 1e-8)
    if len(mag) == 0:
        return None
    i, j, d = neighbor_list("ijd", atoms, 2.0 * float(atoms.cell.lengths().max()))
    pair = np.isin(i, mag) & np.isin(j, mag)                        # magnetic-magnetic pairs
    i, j, d = i[pair], j[pair], d[pair]
    shell = d < 1.05 * d.min()                                       # nearest shell only
    counts = []
    for site in mag:
        nb = j[shell & (i == site)]
        par = int(np.sum(np.sign(m[nb]) == np.sign(m[site])))
        counts.append((par, len(nb) - par))
    return (spec["cell"], tuple(sorted(counts)))


def _is_scf_failure(record: dict) -> bool:
    return (record.get("reason") == "scf_not_converged"
            or "SCF" in str(record.get("message", "")))


def scf_risk_ids(specs: list[dict], failures: list[dict], done: set[str]) -> dict[str, str]:
    """{id: reason} of the unfinished ``specs`` whose :func:`neighbour_signature` class has at
    least SCF_RISK_MIN_FAILURES SCF failures (records of ``failures``) and no finished frame
    (``done`` ids) among the specs of that class."""
    by_id = {s["id"]: s for s in specs}
    failed = {r["id"] for r in failures if _is_scf_failure(r) and not r.get("kept", False)}
    n_fail: dict[tuple, int] = {}
    n_done: dict[tuple, int] = {}
    for cid in failed | done:
        spec = by_id.get(cid)
        sig = neighbour_signature(spec) if spec is not None else None
        if sig is None:
            continue
        tally = n_fail if cid in failed else n_done
        tally[sig] = tally.get(sig, 0) + 1
    out = {}
    for s in specs:
        if s["id"] in failed or s["id"] in done:
            continue
        sig = neighbour_signature(s)
        if sig is not None and n_fail.get(sig, 0) >= SCF_RISK_MIN_FAILURES \
                and n_done.get(sig, 0) == 0:
            out[s["id"]] = (f"pattern {sig[1]} in cell {sig[0]}: {n_fail[sig]} SCF failures, "
                            "no converged frame")
    return out


#: cost of finished frames by path, with the file's mtime (frames are read once)
_COST_CACHE: dict[Path, tuple[float, float | None]] = {}


def _frame_cost_s(path: Path) -> float | None:
    """Cost (s) of a finished frame: its calculation's CPU time (``cpu_time_s``), else its wall
    time. The runner is single-threaded, so CPU time is the wall time the job takes on an
    otherwise idle core; the wall time itself doubles when training shares the cores, and an
    estimate from it would defer jobs that fit (seen on FePt: 1400 s alone, up to 3600 s)."""
    from ase.io import read  # noqa: PLC0415

    mtime = path.stat().st_mtime
    hit = _COST_CACHE.get(path)
    if hit is None or hit[0] != mtime:
        info = read(path, format="extxyz").info
        w = info.get("cpu_time_s", info.get("wall_time_s"))
        hit = (mtime, None if w is None else float(w))
        _COST_CACHE[path] = hit
    return hit[1]


def estimate_from(costs: dict[str, list[float]], spec: dict,
                  specs_by_id: dict[str, dict] | None = None) -> float:
    """Cost (s) of ``spec`` from measured costs ``{config_id: [s]}`` (ids material-family-k):
    the median of its family's, else (with ``specs_by_id``, the manifest) the median of the
    finished specs of the same :func:`cost_class`, else :func:`guess_wall_s`."""
    family = f"{spec['material']}-{spec['family']}"
    fam = [t for cid, ts in costs.items() if cid.rsplit("-", 1)[0] == family for t in ts]
    if fam:
        return float(np.median(fam))
    if specs_by_id:
        cls = cost_class(spec)
        same = [t for cid, ts in costs.items()
                if cid in specs_by_id and cost_class(specs_by_id[cid]) == cls for t in ts]
        if same:
            return float(np.median(same))
    return guess_wall_s(spec)


def estimated_wall_s(wd: WorkDir, spec: dict, specs: list[dict] | None = None) -> float:
    """Expected wall time (s) of ``spec`` on an unloaded core: :func:`estimate_from` the CPU
    time (``cpu_time_s``, else ``wall_time_s``) of the finished frames in this work directory
    (``specs``, the manifest, enables the fallback to frames of the same cost class)."""
    pattern = (f"{wd.material}-*.extxyz" if specs
               else f"{wd.material}-{spec['family']}-*.extxyz")
    walls: dict[str, list[float]] = {}
    for p in (wd.root / "frames").glob(pattern):
        w = _frame_cost_s(p)
        if w is not None:
            walls.setdefault(p.stem, []).append(float(w))
    return estimate_from(walls, spec, {s["id"]: s for s in specs} if specs else None)


def run_queue(material: str, workdir: str | Path, seed: int = 20261124,
              tiers: list[int] | None = None, ids: list[str] | None = None,
              max_jobs: int | None = None, timeout_s: float = 3600.0, nice: int = 0,
              retry_failed: bool = False, stop_file: str | Path | None = None,
              deadline: float | None = None, include_scf_risk: bool = False) -> dict:
    """Run unfinished specs of ``material`` one at a time; returns counts of outcomes.

    Specs of a starting pattern that has only failed its SCF (:func:`scf_risk_ids`) are skipped
    (counted as 'scf_risk') unless ``include_scf_risk``, ``retry_failed`` or named in ``ids``.

    ``deadline`` (epoch seconds, e.g. the end of the allotted machine time, when the processes
    are killed): a spec whose estimated wall time (:func:`estimated_wall_s` x ``WALL_SAFETY``)
    would end after it is skipped for a later run (counted as 'deferred'), so that CPU hours go
    to calculations expected to finish (one slower than its estimate is still killed)."""
    wd = WorkDir(workdir, material)
    handler = logging.FileHandler(wd.root / "log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("mmace_fast").addHandler(handler)
    try:
        return _run_queue(wd, seed, tiers, ids, max_jobs, timeout_s, nice, retry_failed,
                          stop_file, deadline, include_scf_risk)
    finally:
        logging.getLogger("mmace_fast").removeHandler(handler)
        handler.close()


def _run_queue(wd, seed, tiers, ids, max_jobs, timeout_s, nice, retry_failed, stop_file,
               deadline=None, include_scf_risk=False):
    material = wd.material
    specs = wd.load_manifest(seed)
    for cid in recover_stale_claims(wd):
        log.info("%s: a settling process died; its frame is pending again", cid)
    for p in (wd.root / "pending").glob("*.extxyz"):      # finished before an interruption
        log.info("settling %s left in pending/", p.stem)
        settle_pending(wd, p.stem)
    if ids is not None:
        unknown = sorted(set(ids) - {s["id"] for s in specs})
        if unknown:
            raise ValueError(f"{material}: ids not in the manifest: {', '.join(unknown)} "
                             f"(ids look like {specs[0]['id']!r})")
    done = wd.finished_ids(retry_failed)
    todo = [s for s in specs if s["id"] not in done
            and (tiers is None or s["tier"] in tiers) and (ids is None or s["id"] in ids)]
    counts: dict[str, int] = {}
    if not include_scf_risk and not retry_failed and ids is None:     # named ids always run
        risky = scf_risk_ids(specs, wd.failures(),
                             {p.stem for p in (wd.root / "frames").glob("*.extxyz")})
        for s in todo:
            if s["id"] in risky:
                log.info("%s skipped: %s (run with include_scf_risk)", s["id"], risky[s["id"]])
        counts["scf_risk"] = sum(s["id"] in risky for s in todo)
        todo = [s for s in todo if s["id"] not in risky]
        if not counts["scf_risk"]:
            del counts["scf_risk"]
    log.info("%s: %d specs, %d finished, %d to run", material, len(specs), len(done), len(todo))
    n_run = 0
    for spec in todo:
        if max_jobs is not None and n_run >= max_jobs:
            break
        if stop_file is not None and Path(stop_file).exists():
            log.info("stop file %s present: stopping", stop_file)
            break
        if deadline is not None:                # no job runs longer than its timeout
            need = min(WALL_SAFETY * estimated_wall_s(wd, spec, specs), timeout_s)
            if time.time() + need > deadline:
                log.info("%s deferred: needs ~%.0f s, %.0f s left before the deadline",
                         spec["id"], need, deadline - time.time())
                counts["deferred"] = counts.get("deferred", 0) + 1
                continue
        n_run += 1
        t0 = time.perf_counter()
        status = run_one(wd, spec, timeout_s, nice)
        counts[status] = counts.get(status, 0) + 1
        log.info("%s %s (%.0f s)", spec["id"], status, time.perf_counter() - t0)
    return counts


# --- the shipped files as the durable record ---------------------------------------------------
#
# dft_runs/ lives on one machine; data/ is in the repository. A work directory on a new machine
# is rebuilt from the shipped files before anything runs, and a collect refuses to write a file
# that would lose a shipped frame, so CPU hours of DFT are never lost with a machine.

def shipped_paths(out_path: str | Path, material: str) -> tuple[Path, Path, Path, Path]:
    """(frames file, spirals file, failure records, finite-difference results) shipped for
    ``material`` beside ``out_path`` (``data/<material>.extxyz.gz``)."""
    out_path = Path(out_path)
    return (out_path, out_path.with_name(f"{material}_spirals.extxyz.gz"),
            out_path.with_name(f"{material}.failures.jsonl"),
            out_path.with_name(f"{material}.fd.jsonl"))


def _merge_jsonl(src: Path, dest: Path) -> int:
    """Append the records of ``src`` that ``dest`` lacks (compared as parsed JSON)."""
    if not src.exists():
        return 0
    have = set()
    if dest.exists():
        have = {json.dumps(json.loads(line), sort_keys=True)
                for line in dest.read_text().splitlines() if line.strip()}
    new = [line for line in src.read_text().splitlines()
           if line.strip() and json.dumps(json.loads(line), sort_keys=True) not in have]
    if new:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "a") as fh:
            fh.write("\n".join(new) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return len(new)


def _read_gz_frames(path: Path) -> list:
    from ase.io import read  # noqa: PLC0415

    if not path.exists():
        return []
    with gzip.open(path, "rt") as fh:
        return read(fh, index=":", format="extxyz")


def _check_geometry(frame, spec: dict, tol: float = 1e-6) -> None:
    """A restored frame must be the structure its manifest spec builds (positions [n, 3] A,
    cell [3, 3] A, atomic numbers), else the manifest changed under the data."""
    ref = build_atoms(spec)
    same = (len(ref) == len(frame)
            and np.array_equal(ref.numbers, frame.numbers)
            and np.allclose(ref.cell.array, frame.cell.array, atol=tol)
            and np.allclose(ref.positions, frame.positions, atol=tol))
    if not same:
        raise QueueError(f"shipped frame {spec['id']} is not the structure its spec builds: "
                         "the manifest changed since the frame was computed")


def restore_shipped(workdir: str | Path, material: str, out_path: str | Path,
                    seed: int = 20261124) -> dict:
    """Write every shipped frame that ``frames/`` lacks back into it, and merge the shipped
    failure records and finite-difference results into ``failures.jsonl`` and
    ``fd/results.jsonl``; returns counts. Each restored frame is checked against the structure
    of its spec in the manifest for ``seed``."""
    from ase.io import write  # noqa: PLC0415

    wd = WorkDir(workdir, material)
    by_id = {s["id"]: s for s in wd.load_manifest(seed)}
    frames_file, spirals_file, failures_file, fd_file = shipped_paths(out_path, material)
    restored = 0
    for atoms in _read_gz_frames(frames_file) + _read_gz_frames(spirals_file):
        cid = str(atoms.info["config_id"])
        if cid not in by_id:
            raise QueueError(f"shipped frame {cid} ({frames_file}) is not in the manifest")
        dest = wd.frame(cid)
        if dest.exists():
            continue
        _check_geometry(atoms, by_id[cid])
        atoms.info.pop("split", None)              # assigned again by collect
        tmp = dest.with_name(dest.name + ".tmp")
        write(tmp, atoms, format="extxyz")
        os.replace(tmp, dest)
        restored += 1
    merged = _merge_jsonl(failures_file, wd.failures_path)
    fd_merged = _merge_jsonl(fd_file, wd.root / "fd" / "results.jsonl")
    if restored or merged or fd_merged:
        log.info("%s: restored %d shipped frames, %d failure records and %d FD results into %s",
                 material, restored, merged, fd_merged, wd.root)
    return {"frames": restored, "failures": merged, "fd": fd_merged}


# --- collection --------------------------------------------------------------------------------

def collect(material: str, workdir: str | Path, out_path: str | Path,
            withdraw: tuple[str, ...] | list[str] = ()) -> dict:
    """Gather accepted frames into one gzipped extxyz with a fixed split per id, the spirals
    into ``<material>_spirals.extxyz.gz`` and the failure records into
    ``<material>.failures.jsonl`` and the finite-difference results into ``<material>.fd.jsonl``
    beside it.

    Frames are ordered by id; ``info['split']`` is :func:`split_of` of the id. A shipped frame
    missing from ``frames/`` is an error (run :func:`restore_shipped` first) unless its id is
    in ``withdraw`` (frames deliberately taken out, e.g. superseded settings: the frame file
    must also be gone from ``frames/``, the flag only allows the smaller file). Shipped failure
    and FD records missing from the work directory are merged into it first, so they are never
    dropped either. Returns a summary (counts per split and config_type, summed wall time)."""
    from ase.io import read, write  # noqa: PLC0415

    wd = WorkDir(workdir, material)
    frames_file, spirals_file, failures_file, fd_file = shipped_paths(out_path, material)
    have = {p.stem for p in (wd.root / "frames").glob("*.extxyz")}
    lost = sorted({str(a.info["config_id"]) for a in
                   _read_gz_frames(frames_file) + _read_gz_frames(spirals_file)}
                  - have - set(withdraw))
    if lost:
        raise QueueError(f"collecting {wd.root} into {frames_file} would drop {len(lost)} "
                         f"shipped frames ({', '.join(lost[:5])}{', ...' if len(lost) > 5 else ''})"
                         ": restore them first (restore_shipped) or withdraw them explicitly")
    _merge_jsonl(failures_file, wd.failures_path)
    _merge_jsonl(fd_file, wd.root / "fd" / "results.jsonl")
    frames, spirals = [], []
    for p in sorted((wd.root / "frames").glob("*.extxyz")):
        atoms = read(p, format="extxyz")
        if atoms.info.get("spiral", False):       # energy-only test set, shipped separately
            atoms.info["split"] = "test"
            spirals.append(atoms)
            continue
        if "magforces_mask" in atoms.arrays:          # key of the first frames of this run
            atoms.arrays["REF_magforces_mask"] = atoms.arrays.pop("magforces_mask")
        atoms.info["split"] = split_of(atoms.info["config_id"])
        frames.append(atoms)
    for fr, path in ((frames, frames_file), (spirals, spirals_file)):
        if fr:                                  # no empty files: the loader needs frames
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            # mtime=0: the same frames give the same bytes (and sha256) on every collect
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                    io.TextIOWrapper(gz, encoding="utf-8") as fh:
                write(fh, fr, format="extxyz")
            os.replace(tmp, path)
        elif path.exists():                     # frames withdrawn (e.g. superseded settings)
            path.unlink()
    records = wd.failures()
    if records:
        _write_text_atomic(failures_file, "".join(json.dumps(r, sort_keys=True, default=_jsonable)
                                                  + "\n" for r in records))
    fd_results = wd.root / "fd" / "results.jsonl"
    if fd_results.exists():
        _write_text_atomic(fd_file, fd_results.read_text())
    summary = {"material": material, "n_frames": len(frames), "n_spirals": len(spirals),
               "splits": {}, "config_types": {},
               "n_atoms_total": int(sum(len(a) for a in frames)),
               "wall_time_s": float(sum(a.info.get("wall_time_s", 0.0) for a in frames)),
               "cpu_time_s": float(sum(a.info.get("cpu_time_s", a.info.get("wall_time_s", 0.0))
                                       for a in frames)),
               "failures": {}}
    for a in frames:
        summary["splits"][a.info["split"]] = summary["splits"].get(a.info["split"], 0) + 1
        ct = a.info["config_type"]
        summary["config_types"][ct] = summary["config_types"].get(ct, 0) + 1
    failed_wall = 0.0
    for r in wd.failures():
        key = f"{r['reason']}{'(kept)' if r.get('kept') else ''}"
        summary["failures"][key] = summary["failures"].get(key, 0) + 1
        if not r.get("kept"):
            failed_wall += float(r.get("wall_time_s") or 0.0)
    summary["failed_wall_time_s"] = failed_wall
    return summary


def _read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file, [] when it does not exist."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize_shipped(data_dir: str | Path = "data") -> str:
    """Markdown table of the shipped files: frames, atoms, splits, config types, CPU time,
    and the failures shipped beside each file (``<material>.failures.jsonl``, the durable
    record that ``collect`` merges the work directory into)."""
    from ase.io import read  # noqa: PLC0415

    lines = ["| material | frames | atoms | train/valid/test | CPU time (h) | "
             "failures (rejected) | kept with note |",
             "|---|---|---|---|---|---|---|"]
    types_lines = []
    for path in sorted(Path(data_dir).glob("*.extxyz.gz")):
        material = path.name.split(".")[0]
        if material.endswith("_spirals"):
            continue
        with gzip.open(path, "rt") as fh:
            frames = read(fh, index=":", format="extxyz")
        sp = [a.info["split"] for a in frames]
        wall = sum(float(a.info.get("cpu_time_s", a.info.get("wall_time_s", 0.0)))
                   for a in frames)
        rej, kept = {}, 0
        for r in _read_jsonl(Path(data_dir) / f"{material}.failures.jsonl"):
            if r.get("kept"):
                kept += 1
            else:
                rej[r["reason"]] = rej.get(r["reason"], 0) + 1
        rej_s = ", ".join(f"{k}: {v}" for k, v in sorted(rej.items())) or "0"
        lines.append(f"| {material} | {len(frames)} | {sum(len(a) for a in frames)} | "
                     f"{sp.count('train')}/{sp.count('valid')}/{sp.count('test')} | "
                     f"{wall / 3600:.2f} | {rej_s} | {kept} |")
        ct: dict[str, list] = {}
        for a in frames:
            ct.setdefault(a.info["config_type"], []).append(a)
        for name, fr in sorted(ct.items()):
            mags = [np.abs(np.asarray(a.arrays["REF_magmom"])).max() for a in fr]
            types_lines.append(f"| {material} | {name} | {len(fr)} | {len(fr[0])} | "
                               f"{min(mags):.2f}-{max(mags):.2f} |")
    return "\n".join(lines + ["", "| material | config_type | frames | atoms/frame | "
                              "max abs moment (muB) |", "|---|---|---|---|---|"] + types_lines
                     + ["", ideal_states_table(data_dir)])


def ideal_states_table(data_dir: str | Path = "data") -> str:
    """Energies per atom of the unstrained reference cells (families ``ideal*``) relative to
    the lowest of the material, with the converged moments per species."""
    from ase.io import read  # noqa: PLC0415

    rows = ["| material | state (cell) | E - E_min (meV/atom) | moments (muB) |",
            "|---|---|---|---|"]
    for path in sorted(Path(data_dir).glob("*.extxyz.gz")):
        if "_spirals" in path.name:
            continue
        with gzip.open(path, "rt") as fh:
            frames = [a for a in read(fh, index=":", format="extxyz")
                      if str(a.info["config_type"]).startswith("ideal")]
        if not frames:
            continue
        e = np.array([a.info["REF_energy"] / len(a) for a in frames])
        for a, ea in sorted(zip(frames, e), key=lambda t: t[1]):
            m = np.asarray(a.arrays["REF_magmom"])[:, 2]
            mom = ", ".join(f"{s} {mi:+.2f}" for s, mi in zip(a.get_chemical_symbols(), m)
                            if abs(mi) > 0.05 or s in ("Fe", "Cr"))
            rows.append(f"| {path.name.split('.')[0]} | {a.info['config_type']} ({len(a)} atoms)"
                        f" | {1000 * (ea - e.min()):.1f} | {mom} |")
    return "\n".join(rows)
