"""The background pipeline: all materials, cheapest work first, one calculation at a time.

Steps (each resumable, so re-running the pipeline continues where it stopped):
  1. per material (fe, feal, crn): tier 0 (symmetric, cheap cells), the first two rattled
     cells of tier 1, and a finite-difference force check on one rattled frame
  2. rounds over tiers 1..8 (tiers 4-6: non-collinear Fe and spirals), each round running at
     most ``per_round`` calculations of every (tier, material), until nothing is left; a second
     FD check per material after the first round
``first`` (e.g. ``[("fe", 4), ("fe", 5)]``) runs those (material, tier) pairs to completion
before step 1, for when one kind of data is what the models are waiting for.
After each step every material is collected into ``data/<material>.extxyz.gz``.
A file ``<root>/STOP`` stops the pipeline before its next calculation.
Before anything runs, every material's work directory is restored from the shipped files
(:func:`restore_shipped`), so a new machine resumes where ``data/`` stands. ``materials``
restricts a pipeline to some materials: two pipelines on disjoint materials can share a root
(one per core). ``deadline`` (epoch s): calculations that would not finish before it are
deferred (:func:`run_queue`); the pipeline ends when nothing else fits.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from mmace_fast.materials import MATERIALS as REGISTRY

from .fdcheck import auto_pick, done_fd_ids, fd_check
from .queue import (WALL_SAFETY, WorkDir, collect, estimated_wall_s, restore_shipped,
                    run_queue)

log = logging.getLogger(__name__)

MATERIALS = tuple(REGISTRY)          #: every material of the registry (mmace_fast.materials)
MAX_TIER = 8


def run_pipeline(root: str | Path = "dft_runs", data_dir: str | Path = "data",
                 seed: int = 20261124, nice: int = 10, timeout_s: float = 5400.0,
                 fd_per_material: int = 2, first_slice: int = 2,
                 per_round: int = 3,
                 first: list[tuple[str, int]] | None = None,
                 materials: tuple[str, ...] | list[str] = MATERIALS,
                 deadline: float | None = None) -> None:
    root = Path(root)
    materials = tuple(materials)
    unknown = sorted(set(materials) - set(MATERIALS))
    if unknown or not materials:
        raise ValueError(f"materials {unknown or '(none)'}: choose from {MATERIALS}")
    for m, tier in first or ():
        if m not in materials or not 0 <= tier <= MAX_TIER:
            raise ValueError(f"--first {m}:{tier}: material must be one of {materials}, "
                             f"tier 0..{MAX_TIER}")
    stop = root / "STOP"
    for m in materials:
        restore_shipped(root / m, m, Path(data_dir) / REGISTRY[m].data_file, seed=seed)

    def step(tiers, max_jobs=None, only=materials):
        for m in only:
            if stop.exists():
                return False
            run_queue(m, root / m, seed=seed, tiers=tiers, max_jobs=max_jobs,
                      timeout_s=timeout_s, nice=nice, stop_file=stop, deadline=deadline)
        return not stop.exists()

    def collect_all():
        for m in materials:
            if (root / m / "manifest.json").exists():
                summary = collect(m, root / m, Path(data_dir) / REGISTRY[m].data_file)
                log.info("collected %s", json.dumps(summary))

    def fd_step(only=materials, upto=fd_per_material):
        for m in only:
            have = len(done_fd_ids(root / m))
            if stop.exists() or have >= upto:
                continue
            ids = auto_pick(root / m, m, 1)
            if ids and deadline is not None:
                wd = WorkDir(root / m, m)
                manifest = wd.load_manifest(seed)
                spec = {s["id"]: s for s in manifest}[ids[0]]
                if (time.time() + 2 * WALL_SAFETY * estimated_wall_s(wd, spec, manifest)
                        > deadline):
                    log.info("FD check of %s deferred (deadline)", ids[0])
                    continue
            if ids:
                try:
                    fd_check(m, root / m, ids, h=0.01, timeout_s=timeout_s, nice=nice)
                except RuntimeError as exc:
                    log.error("FD check failed: %s", exc)

    def n_finished_all(m):
        return len(list((root / m / "frames").glob("*.extxyz")))

    def n_finished(m, tier):
        manifest = root / m / "manifest.json"
        if not manifest.exists():
            return 0
        ids = {s["id"] for s in json.loads(manifest.read_text())["specs"] if s["tier"] == tier}
        return len(ids & {p.stem for p in (root / m / "frames").glob("*.extxyz")})

    for m, tier in first or ():
        if not step([tier], only=(m,)):
            return collect_all()
        collect_all()
    # per material: cheap symmetric cells, a few rattled cells, one FD check on a rattled cell
    for m in materials:
        if not step([0], only=(m,)):
            return collect_all()
        more = max(0, first_slice - n_finished(m, 1))
        if more and not step([1], max_jobs=more, only=(m,)):
            return collect_all()
        fd_step(only=(m,), upto=1)
        collect_all()
    # then round-robin: a few calculations of every (tier, material) per round, so that every
    # kind of configuration (rattled, random collinear, non-collinear, spirals, larger cells)
    # appears in the data early instead of after hours of one tier
    while True:
        before = sum(n_finished_all(m) for m in materials)
        for tier in range(0, MAX_TIER + 1):       # tier 0 again: ideal cells added later
            for m in materials:
                if not step([tier], max_jobs=per_round, only=(m,)):
                    return collect_all()
            collect_all()
        fd_step()
        if sum(n_finished_all(m) for m in materials) == before:
            break
    collect_all()
