"""Finite-difference check: analytic forces against central differences of the free energy.

For a finished frame, the atom and Cartesian axis with the largest |force| are displaced by
+-h (A) from the frame's own geometry, both displaced configurations are computed with the same
settings and starting moments, and

    F_fd = -(E(+h) - E(-h)) / (2 h)

is compared with the analytic force component. Results are appended to
``<workdir>/fd/results.jsonl``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mmace_fast.materials import MATERIALS as REGISTRY

from .queue import WorkDir, _read_jsonl, run_one

log = logging.getLogger(__name__)


def pick_component(forces: np.ndarray) -> tuple[int, int]:
    """(atom, axis) of the largest |force| component of ``forces`` [n, 3] eV/A."""
    f = np.asarray(forces, dtype=float)
    i, k = np.unravel_index(np.argmax(np.abs(f)), f.shape)
    return int(i), int(k)


def central_difference(e_plus: float, e_minus: float, h: float) -> float:
    """-dE/dx by central differences, eV/A."""
    return -(e_plus - e_minus) / (2.0 * h)


def done_fd_ids(workdir: str | Path) -> set[str]:
    path = Path(workdir) / "fd" / "results.jsonl"
    if not path.exists():
        return set()
    return {json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()}


def auto_pick(workdir: str | Path, material: str, n: int) -> list[str]:
    """Up to ``n`` accepted frames with more than one atom and no FD result yet, preferring
    the largest force component (a rattled cell)."""
    from ase.io import read  # noqa: PLC0415

    wd = WorkDir(workdir, material)
    done = done_fd_ids(workdir)
    cands = []
    for p in sorted((wd.root / "frames").glob("*.extxyz")):
        if p.stem in done:
            continue
        a = read(p, format="extxyz")
        if len(a) > 1:
            cands.append((float(np.abs(a.arrays["REF_forces"]).max()), p.stem))
    cands.sort(reverse=True)
    return [cid for fmax, cid in cands[:n] if fmax > 0.05]


def fd_check(material: str, workdir: str | Path, ids: list[str], h: float = 0.01,
             timeout_s: float = 3600.0, nice: int = 0) -> list[dict]:
    from ase.io import read  # noqa: PLC0415

    wd = WorkDir(workdir, material)
    fd = WorkDir(Path(workdir) / "fd", material)
    specs = {s["id"]: s for s in json.loads(wd.manifest_path.read_text())["specs"]}
    results = []
    for cid in ids:
        frame = read(wd.frame(cid), format="extxyz")
        i, k = pick_component(frame.arrays["REF_forces"])
        energies = {}
        for sign, tag in ((1.0, "p"), (-1.0, "m")):
            spec = dict(specs[cid], id=f"{cid}-fd{i}{'xyz'[k]}{tag}",
                        displace=[i, k, sign * h])
            status = run_one(fd, spec, timeout_s, nice)
            path = fd.frame(spec["id"])
            if not path.exists():
                raise RuntimeError(f"finite-difference run {spec['id']} failed: {status}")
            info = read(path, format="extxyz").info
            # constrained non-collinear frames: GPAW's forces are the derivative of the
            # penalised energy at fixed targets (see noncollinear.py)
            energies[tag] = info["energy_with_penalty" if info.get("noncollinear") else
                                 "REF_energy"]
        f_fd = central_difference(energies["p"], energies["m"], h)
        f_an = float(frame.arrays["REF_forces"][i, k])
        res = {"id": cid, "atom": i, "axis": "xyz"[k], "h_A": h, "F_analytic": f_an,
               "F_fd": f_fd, "abs_diff": abs(f_fd - f_an),
               "rel_diff": abs(f_fd - f_an) / max(abs(f_an), 1e-12),
               "moments_frame": np.asarray(frame.info["converged_magmoms"]).tolist()}
        log.info("FD %s", res)
        with open(Path(workdir) / "fd" / "results.jsonl", "a") as fh:
            fh.write(json.dumps(res) + "\n")
        results.append(res)
    return results


def fd_table(data_dir: str | Path = "data", materials=tuple(REGISTRY)) -> str:
    """Markdown table of the finite-difference results shipped as
    ``data_dir/<material>.fd.jsonl`` (``collect`` merges the work directory's into them)."""
    lines = ["| material | frame | component | h (A) | F analytic (eV/A) | F finite diff. (eV/A) "
             "| abs. diff. (meV/A) | rel. diff. |", "|---|---|---|---|---|---|---|---|"]
    for m in materials:
        for r in _read_jsonl(Path(data_dir) / f"{m}.fd.jsonl"):
            lines.append(f"| {m} | {r['id']} | atom {r['atom']} {r['axis']} | {r['h_A']} | "
                         f"{r['F_analytic']:.5f} | {r['F_fd']:.5f} | "
                         f"{1000 * r['abs_diff']:.2f} | {100 * r['rel_diff']:.2f} % |")
    return "\n".join(lines)
