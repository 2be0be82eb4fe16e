"""Where the DFT campaign stands: per material and tier, what is done, what failed, what is left
and about how many CPU hours the rest needs, read from the shipped files alone (no GPAW, no work
directory), so any machine can plan the next background run.

    python -m mmace_fast.data.dft plan [--data-dir data]

Cost estimates: the median CPU time (``cpu_time_s``, else ``wall_time_s``) of the shipped frames
of the same family; families with none yet use the shipped frames of the same cost class (kind
of run, atoms, symmetric or not: :func:`mmace_fast.data.dft.queue.cost_class`), else the
queue's guess by starting order and cell size (:func:`mmace_fast.data.dft.queue.guess_wall_s`).
The targets are those of the data issue (frames per material). "SCF risk": unfinished specs whose
starting pattern has only failed its SCF so far (:func:`mmace_fast.data.dft.queue.scf_risk_ids`),
skipped by the queue and not counted in "left" or the CPU hours.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from mmace_fast.materials import get as get_material

from .queue import estimate_from, scf_risk_ids, shipped_paths
from .structures import make_manifest

#: frames per material the data set aims for
TARGETS = {"fe": 150, "feal": 80, "crn": 80, "fept": 40}


def _shipped_frames(data_dir: Path, material: str) -> list:
    from ase.io import read  # noqa: PLC0415

    frames = []
    for path in shipped_paths(data_dir / get_material(material).data_file, material)[:2]:
        if path.exists():
            with gzip.open(path, "rt") as fh:
                frames += read(fh, index=":", format="extxyz")
    return frames


def _failure_records(data_dir: Path, material: str) -> list[dict]:
    path = shipped_paths(data_dir / get_material(material).data_file, material)[2]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def campaign_status(data_dir: str | Path = "data", seed: int = 20261124) -> list[dict]:
    """One row per (material, tier): specs, done, failed, left, estimated CPU hours left."""
    data_dir = Path(data_dir)
    rows = []
    for material in TARGETS:
        frames = _shipped_frames(data_dir, material)
        done = {str(a.info["config_id"]) for a in frames}
        records = _failure_records(data_dir, material)
        failed = {r["id"] for r in records if not r.get("kept", False)} - done
        cost: dict[str, list] = {}
        for a in frames:
            t = a.info.get("cpu_time_s", a.info.get("wall_time_s"))
            if t is not None:
                cost.setdefault(str(a.info["config_id"]), []).append(float(t))
        manifest = make_manifest(material, seed)
        specs_by_id = {s["id"]: s for s in manifest}
        risky = scf_risk_ids(manifest, records, done)
        by_tier: dict[int, dict] = {}
        for spec in manifest:
            r = by_tier.setdefault(spec["tier"], {"material": material, "tier": spec["tier"],
                                                  "families": set(), "specs": 0, "done": 0,
                                                  "failed": 0, "scf_risk": 0, "left": 0,
                                                  "cpu_h_left": 0.0})
            r["families"].add(spec["family"])
            r["specs"] += 1
            if spec["id"] in done:
                r["done"] += 1
            elif spec["id"] in failed:
                r["failed"] += 1
            elif spec["id"] in risky:
                r["scf_risk"] += 1
            else:
                r["left"] += 1
                r["cpu_h_left"] += estimate_from(cost, spec, specs_by_id) / 3600.0
        for tier in sorted(by_tier):
            r = by_tier[tier]
            r["families"] = ", ".join(sorted(r["families"]))
            rows.append(r)
    return rows


def campaign_table(data_dir: str | Path = "data", seed: int = 20261124) -> str:
    """Markdown table of :func:`campaign_status` with per-material totals against the targets."""
    rows = campaign_status(data_dir, seed)
    lines = ["| material | tier | families | specs | done | failed | SCF risk | left | "
             "CPU h left (est.) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['material']} | {r['tier']} | {r['families']} | {r['specs']} | "
                     f"{r['done']} | {r['failed']} | {r['scf_risk']} | {r['left']} | "
                     f"{r['cpu_h_left']:.1f} |")
    lines += ["", "| material | frames shipped | target | specs left | CPU h left (est.) |",
              "|---|---|---|---|---|"]
    for m, target in TARGETS.items():
        mine = [r for r in rows if r["material"] == m]
        lines.append(f"| {m} | {sum(r['done'] for r in mine)} | {target} | "
                     f"{sum(r['left'] for r in mine)} | "
                     f"{sum(r['cpu_h_left'] for r in mine):.1f} |")
    return "\n".join(lines)
