"""The training domain of a model: where its data were, so that evaluating far outside warns.

Recorded per shipped model (``training_domain`` in models/<name>/model.json, computed from its
data file by ``python -m mmace_fast.models domain``) and checked by the frozen model and the
calculators (torch-free):

    min_bond     {"Za-Zb": shortest interatomic distance of that species pair in the data (A)}
    moment_max   {"Z": largest moment length of that species in the data (muB)}
    density      [lowest, highest] atoms per A^3 over the periodic frames

A structure is outside when a pair is closer than ``BOND_FACTOR`` x its shortest training bond
(or is a pair the data never had within the model's cutoff), a moment is longer than
``MOMENT_FACTOR`` x the longest, or a fully periodic cell's density lies more than
``DENSITY_SLACK`` beyond the training range. The thresholds flag clear extrapolation, not
every step off the data: an MLIP is usually fine slightly outside.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from mmace_fast.neighbours import neighbour_list

log = logging.getLogger(__name__)

BOND_FACTOR = 0.9        #: closer than this x the shortest training bond: outside
MOMENT_FACTOR = 1.25     #: longer than this x the longest training moment: outside
DENSITY_SLACK = 0.15     #: relative margin beyond the training density range


def _shortest_by_pair(z, i, j, d) -> dict:
    """{"Za-Zb": shortest distance} over the directed pairs (i, j) at distances d."""
    if len(d) == 0:
        return {}
    a, b = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
    keys, inv = np.unique(a * 1000 + b, return_inverse=True)
    short = np.full(len(keys), np.inf)
    np.minimum.at(short, inv, d)
    return {f"{k // 1000}-{k % 1000}": float(v) for k, v in zip(keys, short)}


@dataclass
class TrainingDomain:
    """See the module docstring. All fields JSON-able."""

    min_bond: dict = field(default_factory=dict)      #: "Za-Zb" -> A
    moment_max: dict = field(default_factory=dict)    #: "Z" -> muB
    density: Optional[list] = None                    #: [lo, hi] atoms / A^3
    cutoff: float = 0.0                               #: A, the range the bonds were read in

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingDomain":
        """From :meth:`to_dict` (other keys, e.g. provenance, are ignored)."""
        return cls(dict(d.get("min_bond", {})), dict(d.get("moment_max", {})),
                   d.get("density"), float(d.get("cutoff", 0.0)))

    def to_dict(self) -> dict:
        return {"min_bond": self.min_bond, "moment_max": self.moment_max,
                "density": self.density, "cutoff": self.cutoff}

    @classmethod
    def from_frames(cls, frames, cutoff: float) -> "TrainingDomain":
        """From frames with ``positions``, ``cell``, ``pbc``, ``numbers`` and (optional)
        ``magmoms`` [n, 3] attributes (e.g. mmace_fast.data.records.Configuration)."""
        bonds, moments, dens = {}, {}, []
        for f in frames:
            z = np.asarray(f.numbers)
            i, j, _, d = neighbour_list(f.positions, f.cell, f.pbc, cutoff,
                                        return_distances=True)
            for k, r in _shortest_by_pair(z, i, j, d).items():
                bonds[k] = min(bonds.get(k, np.inf), r)
            if getattr(f, "magmoms", None) is not None:
                lengths = np.linalg.norm(np.asarray(f.magmoms), axis=1)
                for s in np.unique(z):
                    moments[str(int(s))] = max(moments.get(str(int(s)), 0.0),
                                               float(lengths[z == s].max()))
            if np.all(f.pbc):
                dens.append(len(z) / abs(np.linalg.det(f.cell)))
        density = [float(min(dens)), float(max(dens))] if dens else None
        return cls(bonds, moments, density, float(cutoff))

    def check(self, positions, cell, pbc, numbers, magmoms=None) -> list[str]:
        """Reasons why this structure lies outside the training domain ([] = inside)."""
        return (self.geometry_reasons(positions, cell, pbc, numbers)
                + self.moment_reasons(numbers, magmoms))

    def geometry_reasons(self, positions, cell, pbc, numbers) -> list[str]:
        """Bonds and density outside the domain (needs a neighbour list)."""
        out = []
        z = np.asarray(numbers)
        if self.min_bond and self.cutoff > 0:
            i, j, _, d = neighbour_list(positions, cell, pbc, self.cutoff,
                                        return_distances=True)
            for k, r in sorted(_shortest_by_pair(z, i, j, d).items()):
                ref = self.min_bond.get(k)
                if ref is None:
                    out.append(f"{k} pairs at {r:.2f} A: no such pair within "
                               f"{self.cutoff:g} A in the training data")
                elif r < BOND_FACTOR * ref:
                    out.append(f"{k} bond {r:.2f} A, shortest in training {ref:.2f} A")
        if self.density is not None and np.all(np.asarray(pbc, dtype=bool)):
            rho = len(z) / abs(np.linalg.det(np.asarray(cell, dtype=float)))
            lo, hi = self.density
            if rho < lo * (1 - DENSITY_SLACK) or rho > hi * (1 + DENSITY_SLACK):
                out.append(f"density {rho:.4f} atoms/A^3, training {lo:.4f}-{hi:.4f}")
        return out

    def moment_reasons(self, numbers, magmoms=None) -> list[str]:
        """Moments longer than the domain's (cheap: no geometry)."""
        out = []
        if magmoms is not None and self.moment_max:
            z = np.asarray(numbers)
            lengths = np.linalg.norm(np.asarray(magmoms, dtype=float), axis=1)
            for s in np.unique(z):
                ref = self.moment_max.get(str(int(s)))
                top = float(lengths[z == s].max())
                if ref is not None and top > MOMENT_FACTOR * max(ref, 1e-3):
                    out.append(f"Z={int(s)} moment {top:.2f} muB, longest in training "
                               f"{ref:.2f} muB")
        return out


class DomainWatch:
    """Checks structures against a domain and logs a warning the first time one is outside
    (per watch, i.e. per model object): ``warned`` keeps the reasons given."""

    def __init__(self, domain: Optional[TrainingDomain], label: str):
        self.domain, self.label = domain, label
        self.warned: list[str] = []
        self._geometry = (None, [])      # (key of the last geometry checked, its reasons)

    def __call__(self, positions, cell, pbc, numbers, magmoms=None) -> list[str]:
        if self.domain is None:
            return []
        # the same geometry evaluated again (new moments only) needs no new neighbour list
        key = hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=t).tobytes() for a, t in
                                      ((positions, np.float64), (cell, np.float64),
                                       (pbc, bool), (numbers, np.int64)))).digest()
        if key != self._geometry[0]:
            self._geometry = (key, self.domain.geometry_reasons(positions, cell, pbc, numbers))
        reasons = self._geometry[1] + self.domain.moment_reasons(numbers, magmoms)
        if reasons and not self.warned:
            self.warned = reasons
            log.warning("%s is evaluated outside its training data (%s): expect extrapolation "
                        "errors", self.label, "; ".join(reasons))
        return reasons
