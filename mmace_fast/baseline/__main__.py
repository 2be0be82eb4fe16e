"""Command line: fit the baselines to the shipped data.

    python -m mmace_fast.baseline fit --material fe [--kind spin_lattice] [--data PATH]
                                      [--json OUT.json]
    python -m mmace_fast.baseline fit --structure my.cif --magnetic Mn --data my.extxyz
    python -m mmace_fast.baseline report [--materials fe feal crn] [--json OUT.json]

``fit`` prints the exchange and error tables of one material; ``report`` fits both model kinds
for every material and prints the markdown of the RESULTS.md section.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from mmace_fast.baseline.material import MATERIALS, fit_material
from mmace_fast.baseline.report import (error_table, exchange_table, fe_spiral_table,
                                        pajda_sentence)
from mmace_fast.materials import MaterialSpecError, add_structure_flags, material_from_flags

KINDS = ("fixed_lattice", "spin_lattice")


def _parser():
    p = argparse.ArgumentParser(prog="python -m mmace_fast.baseline",
                                description="Heisenberg baselines fitted to the DFT data")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit one material")
    f.add_argument("--material", default=None, choices=sorted(MATERIALS),
                   help="a shipped material (or --structure for your own)")
    f.add_argument("--kind", default="fixed_lattice", choices=KINDS)
    f.add_argument("--data", default=None, help="extxyz file (default: the shipped one)")
    f.add_argument("--n-shells", type=int, default=None)
    f.add_argument("--json", default=None, help="write the result summary here")
    add_structure_flags(f)
    r = sub.add_parser("report", help="fit all materials, print the markdown tables")
    r.add_argument("--materials", nargs="+", default=sorted(MATERIALS), choices=sorted(MATERIALS))
    r.add_argument("--json", default=None)
    for q in (f, r):
        q.add_argument("--root", default=".", help="project root for relative data paths")
        q.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv=None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.cmd == "fit":
        material = args.material
        if (args.structure is None) == (material is None):
            p.error("give --material (a shipped one) or --structure (your own), not both")
        if args.structure is not None:
            if args.data is None:
                p.error("--structure needs --data (the labelled frames to fit)")
            try:
                material = material_from_flags(args)
            except MaterialSpecError as exc:
                p.error(str(exc))
        fits = [fit_material(material, args.data, kind=args.kind, n_shells=args.n_shells,
                             root=args.root)]
    else:
        fits = [fit_material(m, kind=k, root=args.root) for m in args.materials for k in KINDS]
    lines = exchange_table(fits) + [""] + error_table(fits)
    fe = [f for f in fits if f.material == "fe"]
    lines += [""] + [pajda_sentence(f) for f in fe]
    if fe:
        lines += ["", "Fe flat spirals, E(q) - E(0) in meV/atom (relaxed moment in muB), q in "
                  "units of 2 pi / a:", ""] + fe_spiral_table(fe)
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([f.summary() for f in fits], fh, indent=1, default=_jsonable)
    return 0


def _jsonable(x):
    import numpy as np
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
