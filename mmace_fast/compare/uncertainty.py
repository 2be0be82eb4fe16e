"""Committee spreads against reference errors on labelled frames (issue 30).

    errs = committee_errors(committee, frames)        # {property: (err, spread)}
    recal = fit_recalibration(errs_valid)             # {property: factor}, validation frames
    table = calibration_table(errs_test, recal)       # {property: calibration.report(...)}

Derived observables of a frozen committee (torch-free): :func:`committee_magnons` (adiabatic
magnon energies, meV) and :func:`committee_exchange` (exchange per shell extracted from each
member's energies, meV for unit spins, pair once), each as per-member values with the committee
mean and spread.

Command line (``mmace committee``): ``build`` a committee directory from trained members
(recalibrated on validation frames), ``evaluate`` its calibration on labelled frames.

Units: energy per atom meV/atom, force components meV/A, magnetic-force components meV/muB
(only the components the reference defines: ``magforces_mask``), stress components meV/A^3.
Errors are committee mean - reference; spreads are raw (before recalibration). Components fixed
by symmetry (zero error and zero spread) are left out.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from mmace_fast.compare import calibration as cal
from mmace_fast.export.committee import mean, spread

#: components whose error and spread are both below this (in the units above) are fixed by
#: symmetry (e.g. forces on atoms at inversion centres): every member gets them right, and
#: they would count as covered at any spread, so they are left out
SYMMETRY_ZERO = 1e-6
#: property -> (output key of Committee.predict, unit label)
UNITS = {"energy": "meV/atom", "forces": "meV/A", "magforces": "meV/muB", "stress": "meV/A^3"}


def _batches(items: Sequence, size: int):
    for k in range(0, len(items), size):
        yield items[k:k + size]


def committee_errors(committee, frames: Sequence, batch_size: int = 8) -> dict:
    """{property: (err [n], spread [n])} over ``frames`` (Configurations with labels), plus
    "forces_atom": (|mean - ref| [atoms], sqrt of the summed component variances [atoms]),
    the per-atom ranking the Spearman figure uses."""
    acc = {p: ([], []) for p in ("energy", "forces", "forces_atom", "magforces", "stress")}
    for chunk in _batches(list(frames), batch_size):
        periodic = all(bool(np.all(c.pbc)) for c in chunk)
        per = committee.predict(chunk, derivatives=True, stress=periodic)
        stats = committee.summarise(per)
        std = {k: spread(per[k]) for k in per}          # raw: no recalibration
        n_at = np.array([c.n_atoms for c in chunk], dtype=float)
        e_ref = np.array([np.nan if c.energy is None else c.energy for c in chunk])
        ok = np.isfinite(e_ref)
        acc["energy"][0].append(1e3 * (stats["energy"] - e_ref)[ok] / n_at[ok])
        acc["energy"][1].append(1e3 * std["energy"][ok] / n_at[ok])
        start = 0
        for c in chunk:
            sl = slice(start, start + c.n_atoms)
            start += c.n_atoms
            if c.forces is not None:
                d = 1e3 * (stats["forces"][sl] - c.forces)
                s = 1e3 * std["forces"][sl]
                acc["forces"][0].append(d.ravel())
                acc["forces"][1].append(s.ravel())
                acc["forces_atom"][0].append(np.linalg.norm(d, axis=1))
                acc["forces_atom"][1].append(np.sqrt(np.sum(s ** 2, axis=1)))
            if c.magforces is not None:
                mask = (np.ones((c.n_atoms, 3), bool) if c.magforces_mask is None
                        else c.magforces_mask)
                acc["magforces"][0].append(1e3 * (stats["magforces"][sl] - c.magforces)[mask])
                acc["magforces"][1].append(1e3 * std["magforces"][sl][mask])
        if "stress" in per:
            for f, c in enumerate(chunk):
                if c.stress is not None:
                    acc["stress"][0].append(1e3 * (stats["stress"][f] - c.stress).ravel())
                    acc["stress"][1].append(1e3 * std["stress"][f].ravel())
    out = {}
    for p, (e, s) in acc.items():
        if not e:
            continue
        e, s = np.concatenate(e), np.concatenate(s)
        keep = ~((np.abs(e) < SYMMETRY_ZERO) & (s < SYMMETRY_ZERO))
        out[p] = (e[keep], s[keep])
    return out


def fit_recalibration(errors: dict, method: str = "coverage") -> dict:
    """{property: factor} fitted on validation errors (:func:`committee_errors`)."""
    return {p: cal.fit_scale(e, s, method) for p, (e, s) in errors.items()
            if p in UNITS and np.any(s > 0)}


def calibration_table(errors: dict, recalibration: dict, n_bins: int = 5) -> dict:
    """{property: calibration.report} of test errors against the recalibrated spread; the
    force entry's "spearman_atoms" ranks atoms by |F error| against the atom's spread."""
    out = {}
    for p, (e, s) in errors.items():
        if p not in UNITS:
            continue
        out[p] = dict(cal.report(e, s, recalibration.get(p, 1.0), n_bins), unit=UNITS[p])
    if "forces_atom" in errors and "forces" in out:
        e, s = errors["forces_atom"]
        out["forces"]["spearman_atoms"] = cal.rank_correlation(e, s)
    return out


# ------------------------------------------------------------------------- command line
def _summary(members: np.ndarray, factor: float) -> dict:
    """Per-member values [K, n] -> members, mean, raw spread and spread x ``factor``."""
    return {"members": members.tolist(), "mean": mean(members).tolist(),
            "spread": spread(members).tolist(),
            "spread_recalibrated": spread(members, factor).tolist(), "factor": factor}


def committee_magnons(committee, lattice, q, moment: float) -> dict:
    """Adiabatic magnon energies hbar omega(q) [n_q] meV of every member of a FrozenCommittee
    on ``lattice`` (a MaterialLattice whose cell the q [n_q, 3] 1/A are commensurate with) at
    |m| = ``moment`` muB (:func:`mmace_fast.dynamics.magnons.adiabatic_magnons`). The spread is
    also given times the committee's energy recalibration factor (spiral energies are energy
    differences of one structure)."""
    from mmace_fast.dynamics.magnons import adiabatic_magnons  # noqa: PLC0415
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415

    magnetic = getattr(lattice, "magnetic", None)
    if magnetic is not None and not np.all(magnetic):
        raise ValueError("adiabatic magnons are defined here for lattices whose every site "
                         "carries a moment (one Bravais lattice of moments, e.g. bcc Fe); this "
                         "one has non-magnetic sites")
    vals = []
    for m in committee.members:
        ham = FrozenMMACEHamiltonian.from_arrays(m, lattice.positions, lattice.cell, lattice.pbc,
                                                 lattice.numbers)
        vals.append(adiabatic_magnons(ham, lattice.positions, q, moment))
    return _summary(np.array(vals), committee.recalibration["energy"])


def committee_exchange(committee, material: str, moment: float, L: int = 3, n_shells: int = 3,
                       n_configs: int = 48, cone_deg: float = 30.0, seed: int = 0) -> dict:
    """Exchange J per shell (meV, unit spins, pair once) extracted from every member's energies
    of the same ``n_configs`` random directions in a ``cone_deg`` cap around the ferromagnet at
    |m| = ``moment`` on the material's L^3 supercell (the demo's extraction), with the
    committee mean and spread (the raw spread and the energy-recalibrated one)."""
    from mmace_fast.baseline import extract_from_frozen, reference_structure  # noqa: PLC0415
    from mmace_fast.materials import get as get_material  # noqa: PLC0415
    from mmace_fast.mc.lattice import material_lattice  # noqa: PLC0415
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415

    mat = get_material(material)
    lat = material_lattice(mat.prototype, L, mat.a)
    species = tuple(sorted({int(z) for z in np.asarray(lat.numbers)[lat.magnetic]}))
    vals, non_heis = [], []
    for m in committee.members:
        ham = FrozenMMACEHamiltonian.from_arrays(m, lat.positions, lat.cell, lat.pbc,
                                                 lat.numbers)
        res = extract_from_frozen(ham, lat, reference_structure(material), species,
                                  {z: float(moment) for z in species}, n_shells=n_shells,
                                  n_configs=n_configs, cone_deg=cone_deg, seed=seed)
        vals.append([r["unit_once_meV"] for r in res.rows][:n_shells])
        non_heis.append(float(res.non_heisenberg))
    out = _summary(np.array(vals), committee.recalibration["energy"])
    out["non_heisenberg"] = non_heis
    return out


def _frames(paths, split: str | None, species) -> list:
    """Frames of ``paths``; only those with info['split'] == ``split`` when given (files
    without split labels count as entirely that split)."""
    from mmace_fast.data.readers import read_configurations
    out = []
    for path in paths:
        confs = read_configurations(path, species=species)
        if split is not None and any("split" in c.info for c in confs):
            confs = [c for c in confs if c.info.get("split") == split]
        out += confs
    if not out:
        raise ValueError(f"no frames{f' of split {split!r}' if split else ''} in {list(paths)}")
    return out


def cmd_build(args) -> int:
    """Committee from trained model directories; recalibration on validation frames."""
    from pathlib import Path

    from mmace_fast.export import export_model
    from mmace_fast.export.committee import write_committee
    from mmace_fast.model.committee import Committee
    from mmace_fast.model.io import load_model
    for d in args.members:
        if not (Path(d) / "model.mmace").exists():
            export_model(load_model(d)[0], Path(d) / "model.mmace")
    meta = {"members_from": [str(d) for d in args.members], "made_by": "mmace committee build"}
    recal = {}
    if args.valid:
        com = Committee.from_model_dirs(args.members)
        valid = _frames(args.valid, "valid", com.species)
        recal = fit_recalibration(committee_errors(com, valid))
        meta.update(recalibration_frames=len(valid), recalibration_data=list(args.valid))
    out = write_committee(args.out, args.members, recal, meta)
    print(json.dumps({"committee": str(out), "members": len(args.members),
                      "recalibration": recal}))
    return 0


def cmd_evaluate(args) -> int:
    """Calibration table of a committee on labelled frames (one JSON object)."""
    from mmace_fast.model.committee import Committee
    com = Committee.load(args.committee)
    frames = _frames(args.data, args.split, com.species)
    table = calibration_table(committee_errors(com, frames), com.recalibration)
    print(json.dumps({"committee": str(args.committee), "frames": len(frames),
                      "table": table}, indent=1))
    return 0


def main(argv=None) -> int:
    import argparse
    import logging
    p = argparse.ArgumentParser(prog="mmace committee", description="Committees of mMACE "
                                "models: build one from trained members, evaluate its "
                                "calibration. Examples: mmace committee build runs/m0 runs/m1 "
                                "runs/m2 --out runs/committee --valid data.extxyz; mmace "
                                "committee evaluate runs/committee --data data.extxyz")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="committee directory from trained model directories")
    b.add_argument("members", nargs="+", help="model directories (same architecture)")
    b.add_argument("--out", required=True, help="committee directory to write")
    b.add_argument("--valid", nargs="+", default=None,
                   help="labelled frames for the recalibration (their 'valid' split when the "
                        "file has split labels); without it spreads are raw")
    e = sub.add_parser("evaluate", help="calibration table on labelled frames (JSON)")
    e.add_argument("committee", help="committee directory")
    e.add_argument("--data", nargs="+", required=True, help="extxyz / MP JSON files")
    e.add_argument("--split", default="test",
                   help="frames of this split label where the file has labels (default test)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return {"build": cmd_build, "evaluate": cmd_evaluate}[args.command](args)
