"""Committee spreads against reference errors on labelled frames (issue 30).

    errs = committee_errors(committee, frames)        # {property: (err, spread)}
    recal = fit_recalibration(errs_valid)             # {property: factor}, validation frames
    table = calibration_table(errs_test, recal)       # {property: calibration.report(...)}

Units: energy per atom meV/atom, force components meV/A, magnetic-force components meV/muB
(only the components the reference defines: ``magforces_mask``), stress components meV/A^3.
Errors are committee mean - reference; spreads are raw (before recalibration). Components fixed
by symmetry (zero error and zero spread) are left out.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mmace_fast.compare import calibration as cal
from mmace_fast.export.committee import spread

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
