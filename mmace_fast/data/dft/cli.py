"""Command line of the GPAW data generator.

    python -m mmace_fast.data.dft run --material fe --workdir dft_runs/fe [--tiers 0 1]
    python -m mmace_fast.data.dft collect --material fe --workdir dft_runs/fe
        [--out data/fe.extxyz.gz]
    python -m mmace_fast.data.dft fdcheck --material fe --workdir dft_runs/fe --ids ID [ID ...]
    python -m mmace_fast.data.dft pipeline --root dft_runs --nice 10   (the background run)
    python -m mmace_fast.data.dft restore --material fe --workdir dft_runs/fe   (from data/)
    python -m mmace_fast.data.dft plan          (done / left / CPU hours per tier, from data/)
    python -m mmace_fast.data.dft manifest --material fe       (list the specs, no GPAW needed)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .fdcheck import auto_pick, fd_check, fd_table
from .pipeline import run_pipeline
from .queue import collect, restore_shipped, run_queue, summarize_shipped
from .structures import make_manifest

DEFAULT_SEED = 20261124


def _materials(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _material_tier(text: str) -> tuple[str, int]:
    m, sep, tier = text.partition(":")
    if not sep or not tier.strip().isdigit():
        raise SystemExit(f"--first expects MATERIAL:TIER (e.g. fe:4), got {text!r}")
    return m.strip(), int(tier)


def _deadline(text: str) -> float:
    """Epoch seconds from '+MINUTES' or an ISO date-time (local time)."""
    import datetime as dt  # noqa: PLC0415
    import time  # noqa: PLC0415

    text = text.strip()
    try:
        if text.startswith("+"):
            return time.time() + 60.0 * float(text[1:])
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise SystemExit(f"--deadline expects +MINUTES or an ISO date-time, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mmace_fast.data.dft",
                                description="GPAW spin-DFT reference data generator")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run unfinished calculations, one process at a time")
    r.add_argument("--material", required=True)
    r.add_argument("--workdir", required=True)
    r.add_argument("--seed", type=int, default=DEFAULT_SEED)
    r.add_argument("--tiers", type=int, nargs="*", default=None)
    r.add_argument("--ids", nargs="*", default=None)
    r.add_argument("--max-jobs", type=int, default=None)
    r.add_argument("--timeout", type=float, default=3600.0, help="per calculation, s")
    r.add_argument("--nice", type=int, default=0, help="niceness of each child process")
    r.add_argument("--retry-failed", action="store_true")
    r.add_argument("--include-scf-risk", action="store_true",
                   help="also run specs whose starting pattern has only failed its SCF so far "
                        "(skipped by default, see queue.scf_risk_ids)")
    r.add_argument("--stop-file", default=None, help="stop before the next job if it exists")
    r.add_argument("--deadline", type=_deadline, default=None, metavar="TIME",
                   help="start no calculation that would not finish by TIME (see pipeline)")
    r.add_argument("--data-dir", default="data",
                   help="restore the shipped frames of this folder into the workdir first")

    c = sub.add_parser("collect", help="gather accepted frames into data/<material>.extxyz.gz")
    c.add_argument("--material", required=True)
    c.add_argument("--workdir", required=True)
    c.add_argument("--out", default=None)
    c.add_argument("--withdraw", nargs="*", default=[], metavar="ID",
                   help="shipped frames deliberately left out (else a missing one is an error)")

    s = sub.add_parser("restore", help="rebuild a workdir's frames and records from data/")
    s.add_argument("--material", required=True)
    s.add_argument("--workdir", required=True)
    s.add_argument("--data-dir", default="data")
    s.add_argument("--seed", type=int, default=DEFAULT_SEED)

    f = sub.add_parser("fdcheck", help="central finite differences of the free energy")
    f.add_argument("--material", required=True)
    f.add_argument("--workdir", required=True)
    f.add_argument("--ids", nargs="*", default=None)
    f.add_argument("--auto", type=int, default=0, help="pick N frames automatically")
    f.add_argument("--h", type=float, default=0.01, help="displacement, A")
    f.add_argument("--timeout", type=float, default=3600.0)
    f.add_argument("--nice", type=int, default=0)

    q = sub.add_parser("pipeline", help="all materials, cheapest first, with FD checks")
    q.add_argument("--root", default="dft_runs")
    q.add_argument("--data-dir", default="data")
    q.add_argument("--seed", type=int, default=DEFAULT_SEED)
    q.add_argument("--nice", type=int, default=0)
    q.add_argument("--timeout", type=float, default=5400.0)
    q.add_argument("--first", nargs="*", default=[], metavar="MATERIAL:TIER",
                   help="run these (material, tier) pairs to completion first, e.g. fe:4 fe:5")
    q.add_argument("--deadline", type=_deadline, default=None, metavar="TIME",
                   help="start no calculation that would not finish by TIME: ISO date-time "
                        "(2026-12-04T06:40) or +MINUTES from now (the end of the allotted "
                        "machine time)")
    q.add_argument("--materials", type=_materials, default=None,
                   help="comma-separated subset, e.g. fe or feal,crn,fept (default: all); "
                        "pipelines on disjoint subsets can share a root, one per core")

    t = sub.add_parser("summary", help="markdown table of the shipped files (for DATA.md)")
    t.add_argument("--data-dir", default="data")
    t.add_argument("--write", default=None, metavar="DATA_MD",
                   help="also replace the COUNTS block of this data card (e.g. DATA.md)")

    c2 = sub.add_parser("plan", help="per material and tier: done, failed, left, CPU hours left")
    c2.add_argument("--data-dir", default="data")
    c2.add_argument("--seed", type=int, default=DEFAULT_SEED)
    c2.add_argument("--write", default=None, metavar="DATA_MD",
                    help="also replace the PLAN block of this data card (e.g. DATA.md)")

    m = sub.add_parser("manifest", help="print the specs as JSON lines")
    m.add_argument("--material", required=True)
    m.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return p


def replace_block(path: str | Path, name: str, body: str) -> None:
    """Replace the text between ``<!-- NAME:BEGIN -->`` and ``<!-- NAME:END -->`` in a
    markdown file (the generated parts of DATA.md); a file without both markers is an error,
    so a renamed card is never silently left stale."""
    path = Path(path)
    text = path.read_text()
    begin, end = f"<!-- {name}:BEGIN -->", f"<!-- {name}:END -->"
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{path}: no {begin} ... {end} block to replace")
    path.write_text(text[:i + len(begin)] + "\n" + body.strip("\n") + "\n" + text[j:])


def _split_ids(ids: list[str] | None) -> list[str] | None:
    """``--ids a b`` and ``--ids a,b`` name the same calculations."""
    if ids is None:
        return None
    return [x for item in ids for x in item.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "run":
        restore_shipped(args.workdir, args.material,
                        Path(args.data_dir) / f"{args.material}.extxyz.gz", seed=args.seed)
        try:
            counts = run_queue(args.material, args.workdir, seed=args.seed, tiers=args.tiers,
                               ids=_split_ids(args.ids), max_jobs=args.max_jobs,
                               timeout_s=args.timeout, nice=args.nice,
                               retry_failed=args.retry_failed,
                               include_scf_risk=args.include_scf_risk,
                               stop_file=args.stop_file, deadline=args.deadline)
        except ValueError as exc:
            raise SystemExit(f"run: {exc}") from None
        print(json.dumps({"material": args.material, "outcomes": counts}))
    elif args.command == "collect":
        out = args.out or str(Path("data") / f"{args.material}.extxyz.gz")
        print(json.dumps(collect(args.material, args.workdir, out, withdraw=args.withdraw)))
    elif args.command == "restore":
        print(json.dumps(restore_shipped(args.workdir, args.material,
                                         Path(args.data_dir) / f"{args.material}.extxyz.gz",
                                         seed=args.seed)))
    elif args.command == "fdcheck":
        ids = list(args.ids or []) + auto_pick(args.workdir, args.material, args.auto)
        res = fd_check(args.material, args.workdir, ids, h=args.h,
                       timeout_s=args.timeout, nice=args.nice)
        print(json.dumps(res))
    elif args.command == "pipeline":
        run_pipeline(args.root, args.data_dir, seed=args.seed, nice=args.nice,
                     timeout_s=args.timeout, first=[_material_tier(x) for x in args.first],
                     deadline=args.deadline,
                     **({"materials": args.materials} if args.materials is not None else {}))
    elif args.command == "summary":
        text = summarize_shipped(args.data_dir) + "\n\n" + fd_table(args.data_dir)
        print(text)
        if args.write:
            replace_block(args.write, "COUNTS", text)
    elif args.command == "plan":
        from .campaign import campaign_table  # noqa: PLC0415
        text = campaign_table(args.data_dir, args.seed)
        print(text)
        if args.write:
            replace_block(args.write, "PLAN", text)
    elif args.command == "manifest":
        for spec in make_manifest(args.material, args.seed):
            print(json.dumps(spec, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
