"""A fitted linear baseline: parameters with uncertainties, prediction, errors, and the bridge to
the Monte Carlo engine (:func:`to_spin_hamiltonian`) and mean-field critical temperatures."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from mmace_fast import conventions as cv
from mmace_fast.baseline.fit import (QUANTITIES, FitError, QuantityWeights, RidgeFit,
                                     frame_rows, ridge_cv, stack_rows)
from mmace_fast.baseline.fixed_lattice import FixedLatticeDesign
from mmace_fast.baseline.geometry import BaselineInputError, Structure
from mmace_fast.baseline.spin_lattice import SpinLatticeDesign

log = logging.getLogger(__name__)

#: reporting units of the error table: (unit, factor from eV-based SI of the labels)
ERROR_UNITS = {"energy": ("meV/atom", 1e3), "forces": ("meV/A", 1e3),
               "stress": ("meV/A^3", 1e3), "magforces": ("meV/muB", 1e3)}


@dataclass
class BaselineModel:
    """A design with fitted parameters ``theta`` [p], covariance [p, p] and the ridge record."""

    design: object
    theta: np.ndarray
    cov: np.ndarray
    ridge: Optional[RidgeFit] = None
    weights: Optional[QuantityWeights] = None
    history: list = field(default_factory=list)   #: reweighting steps

    @property
    def kind(self) -> str:
        return "fixed_lattice" if isinstance(self.design, FixedLatticeDesign) else "spin_lattice"

    @property
    def params(self):
        return self.design.params

    @property
    def sigma(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    def block(self, config, derivatives: bool = True):
        st = Structure.of(config)
        m = _moments_of(config)
        if isinstance(self.design, FixedLatticeDesign):
            return self.design.features(st, m, magforces=derivatives)
        return self.design.features(st, m, derivatives=derivatives)

    def predict(self, config) -> dict:
        """energy (eV), magforces [n, 3] eV/muB, and for the spin-lattice model forces [n, 3]
        eV/A and stress [3, 3] eV/A^3 (periodic frames) of a Configuration-like object."""
        return self.block(config).predict(self.theta)

    def posterior_draws(self, n: int, seed: int = 0) -> list["BaselineModel"]:
        """``n`` copies with theta drawn from the fit's Gaussian posterior N(theta, cov) (cov
        symmetrised; directions with round-off negative eigenvalues get no spread). What a
        quantity derived from the constants (e.g. an ordering temperature) inherits from
        their uncertainty."""
        import dataclasses
        cov = 0.5 * (self.cov + self.cov.T)
        w, v = np.linalg.eigh(cov)
        root = v * np.sqrt(np.clip(w, 0.0, None))          # root @ root.T = cov (w >= 0 part)
        rng = np.random.default_rng(seed)
        return [dataclasses.replace(self, theta=self.theta + root @ rng.normal(size=w.size))
                for _ in range(int(n))]

    def value(self, kind, species, index=0, component="") -> tuple[float, float]:
        """(value, sigma) of one parameter."""
        name = _param_name(kind, species, index, component)
        for c, p in enumerate(self.params):
            if p.name == name:
                return float(self.theta[c]), float(self.sigma[c])
        raise KeyError(f"no parameter {name}")

    def table(self) -> list[dict]:
        """One dict per parameter: name, kind, species, index, unit, value, sigma,
        prior_fraction (1 = set by the prior, not the data)."""
        frac = (self.ridge.prior_fraction if self.ridge is not None
                else np.zeros(len(self.theta)))
        return [dict(name=p.name, kind=p.kind, species=p.species, index=p.index,
                     component=p.component, unit=p.unit, value=float(self.theta[c]),
                     sigma=float(self.sigma[c]), prior_fraction=float(frac[c]))
                for c, p in enumerate(self.params)]


def _param_name(kind, species, index, component):
    from mmace_fast.baseline.design import Param
    return Param(kind, tuple(species), index, component).name


def _moments_of(config) -> np.ndarray:
    m = getattr(config, "magmoms", None)
    n = len(config.numbers)
    if m is None:
        return np.zeros((n, 3))
    m = np.asarray(m, dtype=np.float64)
    if m.shape == (n,):
        out = np.zeros((n, 3))
        out[:, 2] = m
        return out
    return m


def _blocks(design, configs):
    out = []
    for c in configs:
        st = Structure.of(c)
        m = _moments_of(c)
        if isinstance(design, FixedLatticeDesign):
            out.append(design.features(st, m))
        else:
            out.append(design.features(st, m))
    return out


def fit_frames(design, configs: Sequence, weights: Optional[QuantityWeights] = None,
               lambdas=None, n_folds: int = 5, seed: int = 0, lam: Optional[float] = None,
               reweight: int = 0, sigma_floor: Optional[dict] = None, active=None,
               blocks=None) -> BaselineModel:
    """Fit a design to labelled frames (ridge + k-fold CV over frames).

    reweight: number of extra passes that replace each quantity's weight by 1 / (its
    residual mean square, dof-corrected): a maximum-likelihood estimate of the per-quantity
    noise, bounded below by ``sigma_floor`` {quantity: sigma} (default: 1e-3 of the starting
    sigma). active [p] bool: parameters outside it are fixed at 0 (sigma 0).
    """
    configs = list(configs)
    if not configs:
        raise FitError("no frames to fit")
    weights0 = weights = weights or QuantityWeights()
    blocks = _blocks(design, configs) if blocks is None else blocks
    p = len(design.params)
    active = np.ones(p, bool) if active is None else np.asarray(active, bool)
    penalty = np.array([q.penalty for q in design.params])[active]
    history = []
    for it in range(int(reweight) + 1):
        rows = stack_rows([frame_rows(b, c, weights, g) for g, (b, c) in
                           enumerate(zip(blocks, configs))])
        rows.A = rows.A[:, active]
        ridge = ridge_cv(rows, penalty, lambdas=lambdas, n_folds=n_folds, seed=seed, lam=lam)
        history.append({"sigmas": weights.sigmas(), "lam": ridge.lam, "sigma2": ridge.sigma2})
        if it == reweight:
            break
        weights = _reweighted(rows, ridge, weights, weights0, sigma_floor)
    theta, cov = np.zeros(p), np.zeros((p, p))
    theta[active] = ridge.theta
    cov[np.ix_(active, active)] = ridge.cov
    ridge = _expand_ridge(ridge, active)
    model = BaselineModel(design, theta, cov, ridge, weights, history)
    model.active = active
    return model


def _expand_ridge(ridge: RidgeFit, active) -> RidgeFit:
    """Per-parameter arrays of a fit on the active columns, expanded to all columns."""
    frac = np.zeros(len(active))
    frac[active] = ridge.prior_fraction
    absent = np.ones(len(active), bool)
    absent[active] = ridge.absent
    prior = np.zeros(len(active))
    prior[active] = ridge.prior_var
    ridge.prior_fraction, ridge.absent, ridge.prior_var = frac, absent, prior
    return ridge


def _reweighted(rows, ridge: RidgeFit, weights: QuantityWeights, weights0: QuantityWeights,
                floor) -> QuantityWeights:
    res = rows.A @ ridge.theta - rows.y
    corr = rows.A.shape[0] / max(rows.A.shape[0] - ridge.dof, 1.0)
    new = {}
    for k, q in enumerate(QUANTITIES):
        w0 = getattr(weights0, q)
        sel = rows.kind == k
        if w0 <= 0 or not sel.any():
            new[q] = getattr(weights, q)
            continue
        msq = float(np.mean(res[sel] ** 2)) * corr
        fl = (floor or {}).get(q, 1e-3 * w0 ** -0.5)
        new[q] = 1.0 / max(msq, fl ** 2)
    return QuantityWeights(**new)


def errors(model: BaselineModel, configs: Sequence) -> dict:
    """MAE and RMSE per quantity in meV units (ERROR_UNITS) over ``configs`` (labelled ones)."""
    res = {q: [] for q in QUANTITIES}
    for c in configs:
        pred = model.predict(c)
        n = len(c.numbers)
        if c.energy is not None:
            res["energy"].append(np.array([(pred["energy"] - c.energy) / n]))
        for q in ("forces", "magforces"):
            ref = getattr(c, q, None)
            if ref is None or q not in pred:
                continue
            mask = None
            if q == "magforces" and getattr(c, "magforces_mask", None) is not None:
                mask = np.asarray(c.magforces_mask, bool)
            d = pred[q] - np.asarray(ref)
            res[q].append(d[mask] if mask is not None else d.reshape(-1))
        if getattr(c, "stress", None) is not None and "stress" in pred:
            res["stress"].append((pred["stress"] - c.stress).reshape(-1))
    out = {}
    for q, parts in res.items():
        if not parts:
            continue
        d = np.concatenate(parts)
        unit, f = ERROR_UNITS[q]
        out[q] = {"unit": unit, "mae": float(np.mean(np.abs(d)) * f),
                  "rmse": float(np.sqrt(np.mean(d ** 2)) * f), "n": int(d.size)}
    return out


# ------------------------------------------------------------------------- spin Hamiltonian
def to_spin_hamiltonian(model: BaselineModel, structure, moment_lengths: Optional[dict] = None,
                        magnetic_only: bool = True, include_landau: bool = True):
    """A fitted model as a :class:`mmace_fast.mc.SpinHamiltonian` on ``structure``.

    Fixed-lattice models: ``structure`` is any (deformed) supercell of the reference lattice.
    Spin-lattice models: the Hamiltonian of the spins at the fixed geometry ``structure``
    (pair couplings J_ab(r_ij) plus the three-body sums, B_ab(r_ij), and Landau a_2 including
    the local-density term); the lattice energy at zero moments goes into ``energy_offset``.

    moment_lengths None: the Hamiltonian acts on moment vectors (muB), couplings as fitted,
    Landau terms included (variable-length Monte Carlo). {Z: M}: it acts on unit vectors e_i
    with m_i = M_Z e_i: J -> J M_i M_j, B -> B M_i^2 M_j^2, D -> D M_i M_j, Ku -> Ku M^2,
    Kc -> Kc M^4, Landau terms dropped (constant). magnetic_only: sites are the atoms of the
    magnetic species (``ham.sites`` maps them to atoms of ``structure``). The energy constant
    (E0, volume background, and in the unit-vector case the Landau energy) is
    ``ham.energy_offset`` (eV), so that model energy = ham.energy(spins) + ham.energy_offset.
    ``ham.bond_vectors`` [P, 3] A are the bond vectors r_ij of the pairs.
    """
    from mmace_fast.mc.hamiltonian import SpinHamiltonian

    if isinstance(model.design, SpinLatticeDesign):
        return _spin_lattice_hamiltonian(model, structure, moment_lengths, magnetic_only,
                                         include_landau)
    des: FixedLatticeDesign = model.design
    spec = des.spec
    st = Structure.of(structure)
    pf = des.prepare(st)
    bc = des.bond_couplings(pf, model.theta)
    z = st.numbers
    mag = np.isin(z, spec.magnetic_species)
    sites = np.flatnonzero(mag) if magnetic_only else np.arange(st.n_atoms)
    index = np.full(st.n_atoms, -1)
    index[sites] = np.arange(len(sites))
    theta = model.theta
    if moment_lengths is not None:
        missing = set(spec.magnetic_species) - set(int(k) for k in moment_lengths)
        if missing:
            raise BaselineInputError(f"moment_lengths lacks species {sorted(missing)}")
        length = np.array([float(moment_lengths.get(int(zz), 0.0)) for zz in z])
    else:
        length = np.ones(st.n_atoms)
    li, lj = length[bc["i"]], length[bc["j"]]
    kw = dict(J=bc["J"] * li * lj, B=bc["B"] * (li * lj) ** 2,
              T=bc["T"] * (li * lj)[:, None, None])
    site_kw = {}
    for kind, power in (("Ku", 2), ("Kc", 4)):
        table = {zz: 0.0 for zz in spec.species}
        for c, p in enumerate(des.params):
            if p.kind == kind:
                table[p.species[0]] = theta[c]
        if any(v != 0 for v in table.values()):
            site_kw[kind] = np.array([table[int(zz)] for zz in z]) * length ** power
    offset = _constant_energy(des, theta, pf)
    landau = {k: np.zeros(st.n_atoms) for k in ("a2", "a4", "a6")}
    for c, p in enumerate(des.params):
        if p.kind == "landau":
            landau[f"a{p.index}"][z == p.species[0]] += theta[c]
        elif p.kind == "landau_v":
            landau["a2"][z == p.species[0]] += theta[c] * pf.eps ** p.index
    if moment_lengths is None and include_landau and spec.landau_order > 0:
        site_kw.update({k: v for k, v in landau.items() if np.any(v != 0)})
    elif moment_lengths is not None:
        offset += float(sum(np.sum(landau[f"a{2 * k}"] * length ** (2 * k)) for k in (1, 2, 3)))
    nonzero = (bc["J"] != 0) | (bc["B"] != 0) | np.any(bc["T"] != 0, axis=(1, 2))
    keep = (index[bc["i"]] >= 0) & (index[bc["j"]] >= 0) & nonzero    # zero bonds left out
    dropped = (index[bc["i"]] < 0) | (index[bc["j"]] < 0)
    dropped &= nonzero
    if dropped.any():
        raise BaselineInputError("couplings to non-magnetic sites; use magnetic_only=False")
    pi, pj = index[bc["i"][keep]], index[bc["j"][keep]]
    site_kw = {k: v[sites] for k, v in site_kw.items()}        # all per-atom arrays [n]
    if "Ku" in site_kw:
        site_kw["axis"] = np.array(spec.axis)
    has_t = spec.dmi != "none"
    ham = SpinHamiltonian(len(sites), pi, pj, J=kw["J"][keep],
                          B=kw["B"][keep] if spec.biquadratic_shells > 0 else None,
                          T=kw["T"][keep] if has_t else None, **site_kw)
    ham.sites = sites
    ham.bond_vectors = pf.nb.vec[pf.assign.edge][keep]                  # [P, 3] A, r_ij
    ham.energy_offset = offset
    ham.unit_vectors = moment_lengths is not None
    return ham


def _spin_lattice_hamiltonian(model, structure, moment_lengths, magnetic_only, include_landau):
    from mmace_fast.mc.hamiltonian import SpinHamiltonian
    des: SpinLatticeDesign = model.design
    spec = des.spec
    theta = model.theta
    st = Structure.of(structure)
    z = st.numbers
    pc = des.pair_couplings(st, theta)
    mag = np.isin(z, spec.magnetic_species)
    sites = np.flatnonzero(mag) if magnetic_only else np.arange(st.n_atoms)
    index = np.full(st.n_atoms, -1)
    index[sites] = np.arange(len(sites))
    if moment_lengths is not None:
        missing = set(spec.magnetic_species) - set(int(k) for k in moment_lengths)
        if missing:
            raise BaselineInputError(f"moment_lengths lacks species {sorted(missing)}")
        length = np.array([float(moment_lengths.get(int(a), 0.0)) for a in z])
    else:
        length = np.ones(st.n_atoms)
    i, j = pc["i"], pc["j"]
    li, lj = length[i], length[j]
    B = None
    if spec.n_biquadratic > 0:
        r = np.linalg.norm(pc["vec"], axis=1)
        B = np.zeros(len(i))
        g, _ = des.basis_x(r) if len(r) else (np.zeros((0, 1)), None)
        for pr in {(int(min(a, b)), int(max(a, b))) for a, b in zip(z[i], z[j])}:
            msk = (np.minimum(z[i], z[j]) == pr[0]) & (np.maximum(z[i], z[j]) == pr[1])
            cols = des.cols("Br", pr)
            B[msk] = g[msk][:, : len(cols)] @ theta[cols]
        B = B * (li * lj) ** 2
    # Landau coefficients per site: a2 from the model's |m|^2 derivative at unit moments
    unit = np.zeros((st.n_atoms, 3))
    blk0 = des.features(st, unit, derivatives=False).energy
    a2 = np.zeros(st.n_atoms)
    a4 = np.zeros(st.n_atoms)
    a6 = np.zeros(st.n_atoms)
    for zz in spec.magnetic_species:
        for c in des.cols("landau", (zz,)):
            k = des.params[c].index
            {2: a2, 4: a4, 6: a6}[k][z == zz] += theta[c]
    if spec.n_landau_density > 0:
        rho = _local_density(des, st)                                    # [n, K]
        for zz in spec.magnetic_species:
            cols = des.cols("landau_rho", (zz,))
            a2[z == zz] += rho[z == zz] @ theta[cols]
    offset = float(blk0 @ theta)                                         # lattice energy, m = 0
    site_kw = {}
    if moment_lengths is None and include_landau:
        site_kw = {k: v[sites] for k, v in (("a2", a2), ("a4", a4), ("a6", a6)) if np.any(v)}
    elif moment_lengths is not None:
        offset += float(np.sum(a2 * length ** 2 + a4 * length ** 4 + a6 * length ** 6))
    ham = SpinHamiltonian(len(sites), index[i], index[j], J=pc["J"] * li * lj,
                          B=B, **site_kw)
    ham.sites = sites
    ham.bond_vectors = pc["vec"]                                         # [P, 3] A, r_ij
    ham.energy_offset = offset
    ham.unit_vectors = moment_lengths is not None
    return ham


def _local_density(des: SpinLatticeDesign, st: Structure) -> np.ndarray:
    """rho_i^k = sum_j f_k(r_ij) of the Landau-density term  # [n, K]."""
    from mmace_fast.baseline.geometry import neighbours
    nb = neighbours(st, des.spec.r_cut)
    k = des.spec.n_landau_density
    rho = np.zeros((st.n_atoms, k))
    if len(nb.i):
        f, _ = des.basis(nb.dist)
        np.add.at(rho, nb.i, f[:, :k])
    return rho


def _constant_energy(des: FixedLatticeDesign, theta, pf) -> float:
    """E0 and lattice-background energy of a prepared frame (eV)."""
    blk = des.features(pf, np.zeros((pf.structure.n_atoms, 3)), magforces=False)
    cols = [c for c, p in enumerate(des.params)
            if p.kind in ("e0", "volume", "shear", "rattle", "chem")]
    return float(blk.energy[cols] @ np.asarray(theta)[cols])


# ------------------------------------------------------------------------- mean field
def mean_field_from_pairs(n_sites: int, pair_i, pair_j, J) -> tuple[float, np.ndarray]:
    """Mean-field ordering temperature (K) of a classical model with unit spins and pair-once
    couplings J (eV): kT = lambda_max(Jmat) / 3, Jmat_ij = sum of J over the (i, j) bonds in
    both directions. Returns (T, eigenvector of the ordering mode)."""
    mat = np.zeros((n_sites, n_sites))
    np.add.at(mat, (np.asarray(pair_i), np.asarray(pair_j)), J)
    np.add.at(mat, (np.asarray(pair_j), np.asarray(pair_i)), J)
    w, v = np.linalg.eigh(mat)
    return float(w[-1] / 3.0 / cv.KB_EV_PER_K), v[:, -1]


def mean_field_tc(model: BaselineModel, reference, moment_lengths: dict, reps=4) -> dict:
    """Mean-field T (K) of the fitted exchange with unit spins of lengths ``moment_lengths``
    on ``reps`` copies of the reference cell per direction (even reps host the AFM orders of
    the conventional cells), with the ordering mode: its ferromagnetic weight
    |sum_i v_i| / sqrt(n) (1 = FM) and its dominant wave vector q in units of 2 pi / a
    (a the reference cell edges; components sorted by size, a representative of the star)."""
    ref = Structure.of(reference)
    st = ref.repeat(reps)
    ham = to_spin_hamiltonian(model, st, moment_lengths=moment_lengths)
    n = ham.n_sites
    t, vec = mean_field_from_pairs(n, ham.terms["pair_i"], ham.terms["pair_j"], ham.terms["J"])
    pos = st.positions[ham.sites]                                        # [n, 3] A
    grid = np.stack(np.meshgrid(*[np.arange(2 * reps)] * 3, indexing="ij"), -1).reshape(-1, 3)
    qs = 2 * np.pi * grid @ np.linalg.inv(st.cell).T                     # [Q, 3] 1/A
    amp = np.abs(np.exp(1j * pos @ qs.T).T @ vec)                        # [Q]
    q_red = qs[int(np.argmax(amp))] @ ref.cell.T / (2 * np.pi)           # units of 2 pi / a
    q_red = np.abs(q_red - np.round(q_red / 2) * 2)                      # fold (period 2)
    return {"T_K": t, "fm_weight": float(abs(vec.sum()) / np.sqrt(n)), "n_sites": int(n),
            "q": tuple(float(x) for x in np.sort(np.round(q_red, 4))[::-1])}
