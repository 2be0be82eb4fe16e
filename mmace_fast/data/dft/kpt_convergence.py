"""k-point convergence of magnetic energy differences at the protocol cutoff (ideal cells).

    python -m mmace_fast.data.dft.kpt_convergence --material crn --densities 3.5 5.0

Runs the ideal cells of the listed states at each k density (everything else from
settings.py) and writes E(state) - E(FM) per atom and the moments per density to
``<outdir>/result.json``. The protocol asks for differences within 1 meV/atom of a denser mesh.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from .runner import kpoint_mesh, run_calculation
from .settings import get_settings
from .structures import build_atoms

log = logging.getLogger(__name__)

STATES = {
    "crn": [("FM", "prim_fcc", "rocksalt_CrN"), ("NM", "prim_fcc", "rocksalt_CrN"),
            ("AFM1", "tet_afm1", "rocksalt_CrN")],
    "feal": [("FM", "cubic", "b2_FeAl"), ("NM", "cubic", "b2_FeAl")],
    "fe": [("FM", "cubic", "bcc_Fe"), ("AFM", "cubic", "bcc_Fe")],
}


def run(material: str, densities: list[float], outdir: Path) -> dict:
    outdir.mkdir(parents=True, exist_ok=True)
    res: dict = {"material": material, "densities": densities, "states": {}}
    for d in densities:
        st = dataclasses.replace(get_settings(material), kpts_density=d)
        row = {}
        for order, cell, proto in STATES[material]:
            atoms = build_atoms({"id": f"k{d}-{order}", "family": "kconv", "material": material,
                                 "prototype": proto, "cell": cell, "order": order})
            fr, _ = run_calculation(atoms, st, txt=str(outdir / f"D{d}_{order}.txt"))
            row[order] = {"E_per_atom": fr.info["REF_energy"] / len(fr),
                          "mesh": kpoint_mesh(atoms, st),
                          "moments": fr.info["converged_magmoms"].tolist()
                          if hasattr(fr.info["converged_magmoms"], "tolist")
                          else [fr.info["converged_magmoms"]],
                          "wall_s": fr.info["wall_time_s"]}
            log.info("D=%s %s %s", d, order, row[order])
        e_fm = row["FM"]["E_per_atom"]
        for k in row:
            row[k]["E_minus_FM_meV"] = 1000 * (row[k]["E_per_atom"] - e_fm)
        res["states"][str(d)] = row
        (outdir / "result.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--material", default="crn")
    p.add_argument("--densities", type=float, nargs="+", default=[3.5, 5.0])
    p.add_argument("--outdir", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    out = Path(args.outdir or f"dft_runs/kconv_{args.material}")
    print(json.dumps(run(args.material, args.densities, out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
