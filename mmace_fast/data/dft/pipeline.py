"""The background pipeline: all materials, cheapest work first, one calculation at a time.

Steps (each resumable, so re-running the pipeline continues where it stopped):
  1. tier 0 (symmetric, cheap cells) of fe, feal, crn
  2. a first slice of tier 1 (rattled cells) per material, then a finite-difference force
     check on one rattled frame per material
  3. the rest of tiers 1, 2, 3, material by material within each tier
After each step every material is collected into ``data/<material>.extxyz.gz``.
A file ``<root>/STOP`` stops the pipeline before its next calculation.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from .fdcheck import auto_pick, done_fd_ids, fd_check
from .queue import collect, run_queue

log = logging.getLogger(__name__)

MATERIALS = ("fe", "feal", "crn")


def run_pipeline(root: str | Path = "dft_runs", data_dir: str | Path = "data",
                 seed: int = 20261124, nice: int = 10, timeout_s: float = 5400.0,
                 fd_per_material: int = 2, first_slice: int = 4) -> None:
    root = Path(root)
    stop = root / "STOP"

    def step(tiers, max_jobs=None, materials=MATERIALS):
        for m in materials:
            if stop.exists():
                return False
            run_queue(m, root / m, seed=seed, tiers=tiers, max_jobs=max_jobs,
                      timeout_s=timeout_s, nice=nice, stop_file=stop)
        return not stop.exists()

    def collect_all():
        for m in MATERIALS:
            if (root / m / "manifest.json").exists():
                summary = collect(m, root / m, Path(data_dir) / f"{m}.extxyz.gz")
                log.info("collected %s", json.dumps(summary))

    def fd_step():
        for m in MATERIALS:
            have = len(done_fd_ids(root / m))
            if stop.exists() or have >= fd_per_material:
                continue
            ids = auto_pick(root / m, m, 1)
            if ids:
                try:
                    fd_check(m, root / m, ids, h=0.01, timeout_s=timeout_s, nice=nice)
                except RuntimeError as exc:
                    log.error("FD check failed: %s", exc)

    if not step([0]):
        return collect_all()
    collect_all()
    if not step([1], max_jobs=first_slice):
        return collect_all()
    fd_step()
    collect_all()
    for tier in (1, 2, 3):
        if not step([tier]):
            break
        collect_all()
        fd_step()
    collect_all()
