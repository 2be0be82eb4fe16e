"""Exchange constants of a trained mMACE (or of any energy function of the moments).

Method: on a supercell of the reference lattice with fixed atoms and fixed moment lengths M_Z,
draw random moment directions, evaluate the model's energy and magnetic forces, and fit the
fixed-lattice Heisenberg design (exchange per shell and species pair, optional biquadratic,
plus a constant) by ridge least squares (lambda by CV over configurations):

    rows: energy per atom (sigma_E), and the transverse part of the magnetic forces
          (I - e_i e_i^T) (-dE/dm_i) on magnetic sites (sigma_M); the longitudinal part is a
          statement about moment lengths, which are held fixed here.

Directions are drawn uniformly on a spherical cap of half-angle ``cone_deg`` around a
ground-state pattern (default ferromagnetic along z): 180 deg samples the paramagnetic state
(all directions), small angles the magnon regime around the ordered state (the regime of
Liechtenstein-type constants such as Pajda's). The residual of the fit measures what in the
model is not pairwise Heisenberg at these lengths (multi-spin, biquadratic-like, environment-
dependent terms): ``non_heisenberg`` = rms residual / rms spread of the energies per atom.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from mmace_fast.baseline.fit import QUANTITIES, Rows, ridge_cv
from mmace_fast.baseline.fixed_lattice import FixedLatticeDesign, FixedLatticeSpec
from mmace_fast.baseline.geometry import BaselineInputError, Structure
from mmace_fast.baseline.units import literature_forms

log = logging.getLogger(__name__)

#: energy_fn(moments [B, n, 3] muB) -> (energies [B] eV, magnetic forces [B, n, 3] eV/muB)
EnergyFn = Callable[[np.ndarray], tuple]


@dataclass
class ExtractionResult:
    """Fitted exchange of an energy function (see module docstring).

    rows: per (pair, shell): distance, counts, J (eV/muB^2) +- sigma, J_unit = J M_a M_b in
    pair-once meV and pair-twice meV / mRy.
    """

    design: FixedLatticeDesign
    theta: np.ndarray
    sigma: np.ndarray
    rows: list
    energy_rmse_mev: float          #: rms residual of the energy per atom, meV/atom
    energy_spread_mev: float        #: rms deviation of the energy per atom from its mean
    magforce_rmse_mev: float        #: rms residual of transverse magnetic forces, meV/muB
    magforce_spread_mev: float
    lam: float
    n_configs: int
    cone_deg: float
    moment_lengths: dict
    info: dict = field(default_factory=dict)

    @property
    def non_heisenberg(self) -> float:
        """rms energy residual / rms energy spread (0 = exactly Heisenberg)."""
        return self.energy_rmse_mev / self.energy_spread_mev if self.energy_spread_mev else 0.0


def random_directions(rng, ground, cone_deg: float) -> np.ndarray:
    """Unit vectors uniform on caps of half-angle ``cone_deg`` around ``ground`` [n, 3]."""
    ground = np.asarray(ground, dtype=np.float64)
    ground = ground / np.linalg.norm(ground, axis=1)[:, None]
    n = len(ground)
    cmin = np.cos(np.deg2rad(cone_deg))
    ct = rng.uniform(cmin, 1.0, n)
    st = np.sqrt(np.clip(1 - ct ** 2, 0, None))
    ph = rng.uniform(0, 2 * np.pi, n)
    local = np.stack([st * np.cos(ph), st * np.sin(ph), ct], axis=1)   # around +z
    # rotate z onto each ground direction: Rodrigues rotation about z x g
    c = ground[:, 2]                                                     # cos of the angle
    v = np.stack([-ground[:, 1], ground[:, 0], np.zeros(n)], axis=1)     # z x g
    s = np.linalg.norm(v, axis=1)
    k = np.zeros((n, 3, 3))
    safe = s > 1e-12
    u = np.zeros_like(v)
    u[safe] = v[safe] / s[safe, None]
    k[:, 0, 1], k[:, 0, 2] = -u[:, 2], u[:, 1]
    k[:, 1, 0], k[:, 1, 2] = u[:, 2], -u[:, 0]
    k[:, 2, 0], k[:, 2, 1] = -u[:, 1], u[:, 0]
    rot = np.eye(3)[None] + s[:, None, None] * k + (1 - c)[:, None, None] * (k @ k)
    flip = ~safe & (c < 0)                                               # g = -z
    rot[flip] = np.diag([1.0, -1.0, -1.0])
    return np.einsum("nab,nb->na", rot, local)


def hamiltonian_energy_fn(ham, sites=None) -> EnergyFn:
    """Energy function of a :class:`mmace_fast.mc.SpinHamiltonian` (moments on all atoms;
    ``sites`` maps Hamiltonian sites to atoms if it acts on a subset)."""
    def fn(moments):
        moments = np.asarray(moments, dtype=np.float64)
        e = np.empty(len(moments))
        f = np.zeros_like(moments)
        for b, m in enumerate(moments):
            mm = m if sites is None else m[sites]
            e[b] = ham.energy(mm)
            h = ham.effective_field(mm)
            if sites is None:
                f[b] = h
            else:
                f[b, sites] = h
        return e, f
    return fn


def frozen_energy_fn(ham) -> EnergyFn:
    """Energy function of a torch-free frozen mMACE Hamiltonian
    (:class:`mmace_fast.mc.mmace_hamiltonian.FrozenMMACEHamiltonian`) on its own structure:
    full energies, and zero magnetic forces (the C++ evaluator has no -dE/dm; extract with
    ``sigma_magforce=None``)."""
    def fn(moments):
        e = np.array([ham.energy(m) for m in np.asarray(moments, dtype=np.float64)])
        return e, np.zeros_like(moments)
    return fn


def extract_from_frozen(ham, structure, reference, magnetic_species, moment_lengths: dict,
                        **kw) -> ExtractionResult:
    """:func:`extract_exchange` for a frozen mMACE Hamiltonian built on ``structure`` (a
    supercell of ``reference``), from energies only."""
    kw.setdefault("sigma_magforce", None)
    if kw["sigma_magforce"] is not None:
        raise BaselineInputError("the frozen evaluator has no magnetic forces: "
                                 "use sigma_magforce=None")
    return extract_exchange(frozen_energy_fn(ham), structure, reference, magnetic_species,
                            moment_lengths, **kw)


def extract_exchange(energy_fn: EnergyFn, structure, reference, magnetic_species,
                     moment_lengths: dict, n_shells=2, n_configs: int = 64,
                     cone_deg: float = 180.0, ground=None, biquadratic_shells: int = 0,
                     sigma_energy: float = 1e-3, sigma_magforce: Optional[float] = 1e-2,
                     lambdas=None, n_folds: int = 5, seed: int = 0) -> ExtractionResult:
    """Fit Heisenberg exchange per shell to ``energy_fn`` on ``structure`` (a supercell of
    ``reference``) over random directions with lengths ``moment_lengths`` {Z: M muB}.

    ground [n, 3]: centre directions of the caps (default +z everywhere). sigma_magforce None:
    energies only.
    """
    st = Structure.of(structure)
    ref = Structure.of(reference)
    magnetic_species = tuple(sorted(int(z) for z in magnetic_species))
    missing = set(magnetic_species) - set(int(k) for k in moment_lengths)
    if missing:
        raise BaselineInputError(f"moment_lengths lacks species {sorted(missing)}")
    if n_configs < 4:
        raise BaselineInputError("need at least 4 configurations")
    species = sorted(set(st.numbers.tolist()) | set(ref.numbers.tolist()))
    spec = FixedLatticeSpec(species=tuple(species), magnetic_species=magnetic_species,
                            n_shells=n_shells, biquadratic_shells=biquadratic_shells,
                            landau_order=0, volume_order=0, lattice_background=False,
                            landau_volume_order=0, exchange_volume_order=0)
    design = FixedLatticeDesign(spec, ref)
    pf = design.prepare(st)
    mag = np.isin(st.numbers, magnetic_species)
    lengths = np.array([moment_lengths.get(int(z), 0.0) if mag[a] else 0.0
                        for a, z in enumerate(st.numbers)])
    ground = np.tile([0.0, 0.0, 1.0], (st.n_atoms, 1)) if ground is None else np.asarray(ground)
    rng = np.random.default_rng(seed)
    dirs = np.stack([random_directions(rng, ground, cone_deg) for _ in range(n_configs)])
    moments = dirs * lengths[None, :, None]                              # [B, n, 3] muB
    energies, mforces = energy_fn(moments)
    rows, y_e = _rows(design, pf, moments, dirs, energies, mforces, mag, st.n_atoms,
                      sigma_energy, sigma_magforce)
    penalty = np.array([p.penalty for p in design.params])
    ridge = ridge_cv(rows, penalty, lambdas=lambdas, n_folds=n_folds, seed=seed)
    res = rows.A @ ridge.theta - rows.y
    e_sel = rows.kind == QUANTITIES.index("energy")
    m_sel = rows.kind == QUANTITIES.index("magforces")
    out_rows = _shell_rows(design, ridge, moment_lengths)
    result = ExtractionResult(
        design, ridge.theta, ridge.sigma, out_rows,
        float(np.sqrt(np.mean(res[e_sel] ** 2)) * 1e3),
        float(np.std(y_e) * 1e3),
        float(np.sqrt(np.mean(res[m_sel] ** 2)) * 1e3) if m_sel.any() else float("nan"),
        float(np.sqrt(np.mean(rows.y[m_sel] ** 2)) * 1e3) if m_sel.any() else float("nan"),
        ridge.lam, n_configs, float(cone_deg), dict(moment_lengths))
    log.info("extracted %d couplings from %d configurations: energy residual %.3g meV/atom "
             "(spread %.3g), non-Heisenberg fraction %.3g", len(out_rows), n_configs,
             result.energy_rmse_mev, result.energy_spread_mev, result.non_heisenberg)
    return result


def _rows(design, pf, moments, dirs, energies, mforces, mag, n, sig_e, sig_m):
    As, ys, ws, fr, ks = [], [], [], [], []
    for b in range(len(moments)):
        blk = design.features(pf, moments[b], magforces=sig_m is not None)
        As.append(blk.energy[None, :] / n)
        ys.append([energies[b] / n])
        ws.append([1.0 / sig_e])
        fr.append([b])
        ks.append([QUANTITIES.index("energy")])
        if sig_m is None:
            continue
        e = dirs[b][mag]                                                  # [k, 3]
        proj = np.eye(3)[None] - e[:, :, None] * e[:, None, :]            # [k, 3, 3]
        a = np.einsum("kab,kbp->kap", proj, blk.magforces[mag]).reshape(-1, blk.energy.size)
        y = np.einsum("kab,kb->ka", proj, mforces[b][mag]).reshape(-1)
        As.append(a)
        ys.append(y)
        ws.append(np.full(len(y), 1.0 / sig_m))
        fr.append(np.full(len(y), b))
        ks.append(np.full(len(y), QUANTITIES.index("magforces")))
    rows = Rows(np.concatenate(As), np.concatenate([np.asarray(v, float) for v in ys]),
                np.concatenate([np.asarray(v, float) for v in ws]),
                np.concatenate([np.asarray(v) for v in fr]).astype(int),
                np.concatenate([np.asarray(v) for v in ks]).astype(int))
    return rows, np.asarray(energies) / n


def _shell_rows(design: FixedLatticeDesign, ridge, moment_lengths) -> list:
    out = []
    for c, p in enumerate(design.params):
        if p.kind not in ("J", "B"):
            continue
        ps = design.shells.pairs[p.species]
        mm = moment_lengths[p.species[0]] * moment_lengths[p.species[1]]
        power = 1 if p.kind == "J" else 2
        forms = literature_forms(ridge.theta[c] * mm ** power)
        out.append(dict(kind=p.kind, pair=p.species, shell=p.index + 1,
                        distance=float(ps.distances[p.index]),
                        counts=(float(ps.counts_a[p.index]), float(ps.counts_b[p.index])),
                        value=float(ridge.theta[c]), sigma=float(ridge.sigma[c]),
                        unit_once_meV=float(forms["once_meV"]),
                        unit_twice_meV=float(forms["twice_meV"]),
                        unit_twice_mRy=float(forms["twice_mRy"])))
    return out


def extract_from_mmace(model, reference, moment_lengths: dict, reps=None, n_shells=None,
                       **kw) -> ExtractionResult:
    """:func:`extract_exchange` for a torch MMACE on ``reps`` copies of ``reference``.

    n_shells None: every shell of the magnetic pairs inside the model's cutoff. reps None:
    the smallest cubic repetition whose cell heights exceed twice the cutoff (capped at 4).
    """
    ref = Structure.of(reference)
    r_cut = float(model.config.r_cut)
    magnetic = tuple(sorted(int(z) for z in moment_lengths))
    if reps is None:
        heights = 1.0 / np.linalg.norm(np.linalg.inv(ref.cell), axis=0)
        reps = tuple(int(min(4, max(1, np.ceil(2 * r_cut / h)))) for h in heights)
    if n_shells is None:
        from mmace_fast.baseline.shells import ShellTable
        pairs = [(a, b) for k, a in enumerate(magnetic) for b in magnetic[k:]]
        n_shells = {}
        for pr in pairs:
            probe = ShellTable.from_reference(ref, [pr], 12)
            n_shells[pr] = int(np.sum(probe.pairs[pr].distances < r_cut))
        n_shells = {k: v for k, v in n_shells.items() if v > 0}
        if not n_shells:
            raise BaselineInputError("no magnetic pairs inside the model cutoff")
    st = ref.repeat(reps)
    from mmace_fast.model.energy_fn import mmace_energy_fn   # the torch side, only here
    fn = mmace_energy_fn(model, st.positions, st.cell, st.pbc, st.numbers)
    res = extract_exchange(fn, st, ref, magnetic, moment_lengths, n_shells=n_shells, **kw)
    res.info["reps"] = tuple(int(r) for r in np.broadcast_to(reps, (3,)))
    return res
