"""Check of the spin-spiral code path at reduced settings (see spirals.py):
q = 0 must reproduce the collinear ferromagnet on the same k grid (exact up to SCF tolerance);
q = H must approach the collinear B2-type antiferromagnet of the 2-atom cubic cell (same
physical state; the k samplings differ, so agreement is only to the k-point error).

    python -m mmace_fast.data.dft.spiral_validate --outdir dft_runs/spiral_check
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from .settings import get_settings
from .spirals import BCC_POINTS, run_spiral
from .structures import build_atoms

log = logging.getLogger(__name__)


def validate(outdir: Path, ecut: float = 400.0, k1: int = 8, k2: int = 6) -> dict:
    st = dataclasses.replace(get_settings("fe"), ecut_ev=ecut)
    outdir.mkdir(parents=True, exist_ok=True)
    base = {"family": "check", "material": "fe", "prototype": "bcc_Fe"}
    fe1 = build_atoms(dict(base, id="fe1", cell="prim_bcc", order="FM"))
    fe2 = build_atoms(dict(base, id="fe2", cell="cubic", order="AFM"))
    kp1 = {"size": [k1] * 3, "gamma": True}
    res = {"settings": {"ecut_ev": ecut, "k_1atom": k1, "k_2atom_cubic": k2}}
    s0, _ = run_spiral(fe1, st, BCC_POINTS["G"], 2.5, str(outdir / "q0.txt"), st.lattice_a,
                       kpts=kp1)
    sh, _ = run_spiral(fe1, st, BCC_POINTS["H"], 2.5, str(outdir / "qH.txt"), st.lattice_a,
                       kpts=kp1)
    st_k1 = dataclasses.replace(st)
    import gpaw  # noqa: F401,PLC0415  (environment already configured by run_spiral)
    from gpaw import PW, FermiDirac  # noqa: PLC0415
    from gpaw.new.ase_interface import GPAW  # noqa: PLC0415

    def collinear(atoms, k, tag):
        w = atoms.copy()
        w.calc = GPAW(mode=PW(ecut), xc=st_k1.xc, kpts={"size": [k] * 3, "gamma": True},
                      occupations=FermiDirac(st.smearing_ev),
                      convergence={"energy": st.conv_energy, "density": st.conv_density},
                      txt=str(outdir / f"{tag}.txt"))
        return w.get_potential_energy(force_consistent=True), w.get_magnetic_moments()

    e_fm, m_fm = collinear(fe1, k1, "fm1")
    e_afm, m_afm = collinear(fe2, k2, "afm2")
    res.update({
        "spiral_q0": {"E": s0.info["REF_energy"], "m": s0.arrays["REF_magmom"].tolist()},
        "collinear_fm": {"E": float(e_fm), "m": m_fm.tolist()},
        "spiral_qH": {"E": sh.info["REF_energy"], "m": sh.arrays["REF_magmom"].tolist()},
        "collinear_afm_per_atom": {"E": float(e_afm) / 2, "m": m_afm.tolist()},
        "q0_minus_fm_meV": 1000 * (s0.info["REF_energy"] - e_fm),
        "qH_minus_afm_meV_per_atom": 1000 * (sh.info["REF_energy"] - e_afm / 2),
        "E_H_minus_E_0_meV": 1000 * (sh.info["REF_energy"] - s0.info["REF_energy"]),
        "wall_time_spirals_s": s0.info["wall_time_s"] + sh.info["wall_time_s"],
    })
    (outdir / "result.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--outdir", default="dft_runs/spiral_check")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(json.dumps(validate(Path(args.outdir))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
