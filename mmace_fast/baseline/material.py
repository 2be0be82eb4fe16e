"""Fit the baselines to a material's shipped data: ``fit_material("fe")``.

Reference lattices: the conventional cells of the registry's materials (mmace_fast.materials)
at the lattice constants of the DFT data, for every material with a Monte Carlo lattice (bcc Fe,
B2 FeAl, rocksalt CrN). The data's per-frame ``split`` is
respected: the fit (and its cross-validation) uses train + valid frames, errors are reported on
the test frames (and, for reference, on the fitted frames).

Reported exchange constants: the fitted J (eV/muB^2, pair once) and, for comparison with the
literature, the unit-vector constants J M_a M_b (M = the moment of each species in the lowest-
energy ideal cell of the data) in pair-once meV and pair-twice meV and mRy.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Optional

import numpy as np

from mmace_fast.baseline.fit import QuantityWeights
from mmace_fast.baseline.fixed_lattice import FixedLatticeDesign, FixedLatticeSpec
from mmace_fast.baseline.geometry import BaselineInputError, Structure
from mmace_fast.baseline.model import (BaselineModel, _blocks, errors, fit_frames,
                                       mean_field_tc)
from mmace_fast.baseline.spin_lattice import SpinLatticeDesign, SpinLatticeSpec
from mmace_fast.baseline.units import literature_forms
from mmace_fast.datasets import shipped_path
from mmace_fast.materials import MATERIALS as REGISTRY
from mmace_fast.materials import Material, MaterialLike, monte_carlo_materials

log = logging.getLogger(__name__)

MAGNETIC_THRESHOLD = 0.3        #: muB; species whose largest |m| in the data exceeds it
#: lower bounds of the per-quantity noise when weights are re-estimated: the size of the DFT
#: label noise (k sampling ~0.5 meV/atom; finite-difference force checks ~1 meV/A, DATA.md)
DFT_NOISE_FLOOR = {"energy": 5e-4, "forces": 5e-3, "stress": 3e-4, "magforces": 5e-3}
#: couplings dropped when the data do not determine them (prior fraction > PRUNE_LEVEL)
PRUNABLE = ("J", "J_v", "B", "D")
PRUNE_LEVEL = 0.5


def _bcc(a, z1, z2) -> Structure:
    return Structure([[0, 0, 0], [a / 2] * 3], np.eye(3) * a, [True] * 3, [z1, z2])


def _rocksalt(a, zc, za) -> Structure:
    fcc = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]]) * a
    pos = np.concatenate([fcc, fcc + np.array([a / 2, 0, 0])])
    return Structure(pos, np.eye(3) * a, [True] * 3, [zc] * 4 + [za] * 4)


#: prototype -> reference structure builder (a in A, first species, last species)
_REFERENCE = {"bcc_Fe": _bcc, "b2_FeAl": _bcc, "rocksalt_CrN": _rocksalt}
#: largest number of exchange shells the fixed-lattice fit tries (the number used is chosen by
#: cross-validation, see fit_material)
MAX_SHELLS = 3
#: material -> (reference structure, shipped data set (mmace_fast.datasets), MAX_SHELLS), for
#: every material of the registry with a Monte Carlo lattice
MATERIALS = {k: (partial(_REFERENCE[m.prototype], m.a, m.species[0], m.species[-1]), k,
                 MAX_SHELLS) for k, m in REGISTRY.items() if k in monte_carlo_materials()}
#: fixed-lattice options per material (explicit arguments of fit_material override them).
#: FeAl's data hold antisite cells (Fe3Al, FeAl3, swapped pairs): exchange shells on the bcc
#: parent lattice (shell 1 = the antisite's Fe-Fe nearest neighbours, absent on ordered B2;
#: shell 2 = the B2 Fe-Fe bond a) and a two-shell chemical (unlike-pair count) background.
#: On the 63-frame set the 5-fold CV score is 12.6 with two chemical shells, 27.8 with one and
#: 586 without (train energy RMSE 8.5 / 11.6 / 101 meV/atom).
FIXED_LATTICE_OPTS = {
    "feal": {"parent_shells": True, "chemical_shells": 2},
}


def reference_structure(material: MaterialLike) -> Structure:
    """The reference lattice of a shipped material (its key) or of a user's material (a
    :class:`mmace_fast.materials.Material` with its own cell)."""
    if isinstance(material, Material) and material.cell is not None:
        c = material.cell
        lattice = np.array(c.lattice)
        return Structure(np.array(c.frac) @ lattice, lattice, [True] * 3, list(c.numbers))
    key = material.key if isinstance(material, Material) else material
    if key not in MATERIALS:
        raise BaselineInputError(f"unknown material {key!r}; choose from {sorted(MATERIALS)} "
                                 "or build one from a structure "
                                 "(mmace_fast.materials.material_from_structure)")
    return MATERIALS[key][0]()


def magnetic_species_of(configs, threshold: float = MAGNETIC_THRESHOLD) -> tuple:
    """Species whose largest moment length in the data exceeds ``threshold`` (muB)."""
    big = {}
    for c in configs:
        lengths = np.linalg.norm(c.magmoms, axis=1)
        for z in set(c.numbers.tolist()):
            big[z] = max(big.get(z, 0.0), float(lengths[c.numbers == z].max()))
    return tuple(sorted(z for z, v in big.items() if v > threshold))


def reference_moments(configs, species) -> dict:
    """{Z: |m|} in the lowest-energy-per-atom ``ideal*`` frame (any frame if none), mean
    over the atoms of each species."""
    cand = [c for c in configs if c.config_type.startswith("ideal") and c.energy is not None]
    cand = cand or [c for c in configs if c.energy is not None]
    best = min(cand, key=lambda c: c.energy / c.n_atoms)
    out = {}
    for z in species:
        sel = best.numbers == z
        if not sel.any():
            raise BaselineInputError(f"ground-state frame has no species {z}")
        out[int(z)] = float(np.linalg.norm(best.magmoms[sel], axis=1).mean())
    return out


def split_frames(configs):
    """(fit frames = train + valid, test frames) by ``info['split']`` (no key: fit)."""
    fit = [c for c in configs if c.info.get("split", "train") != "test"]
    test = [c for c in configs if c.info.get("split", "train") == "test"]
    return fit, test


@dataclass
class MaterialFit:
    """Result of :func:`fit_material`: the model, its constants, CV curve and errors."""

    material: str
    kind: str
    model: BaselineModel
    reference: Structure
    magnetic_species: tuple
    moments: dict
    exchange: list            #: rows: pair, shell, distance, counts, J, sigma, forms
    lam: float
    cv: dict                  #: lambdas, score, sem
    train_errors: dict
    test_errors: dict
    n_fit: int
    n_test: int
    mean_field: dict = field(default_factory=dict)
    dropped: list = field(default_factory=list)   #: couplings the data do not determine
    selection: list = field(default_factory=list)  #: CV scores of the exchange-range choices

    def summary(self) -> dict:
        return {"material": self.material, "kind": self.kind, "lambda": self.lam,
                "n_fit": self.n_fit, "n_test": self.n_test, "moments": self.moments,
                "exchange": self.exchange, "test_errors": self.test_errors,
                "train_errors": self.train_errors, "mean_field": self.mean_field,
                "dropped": self.dropped, "selection": self.selection,
                "weights_sigma": self.model.weights.sigmas() if self.model.weights else None}


def build_design(kind: str, reference: Structure, species, magnetic, n_shells=2, **opts):
    """A fixed-lattice or spin-lattice design with options ``opts`` for its spec."""
    if kind == "fixed_lattice":
        spec = FixedLatticeSpec(species=tuple(species), magnetic_species=tuple(magnetic),
                                n_shells=n_shells, **opts)
        return FixedLatticeDesign(spec, reference)
    if kind == "spin_lattice":
        spec = SpinLatticeSpec(species=tuple(species), magnetic_species=tuple(magnetic), **opts)
        return SpinLatticeDesign(spec)
    raise BaselineInputError(f"unknown model kind {kind!r}; 'fixed_lattice' or 'spin_lattice'")


def exchange_rows(model: BaselineModel, reference: Structure, moments: dict,
                  n_shells: int = 8) -> list[dict]:
    """Exchange per species pair and shell: J (eV/muB^2) +- sigma and the literature forms of
    the unit-vector constant J M_a M_b. Spin-lattice models: J_ab(r) at the reference shell
    distances (first ``n_shells`` shells inside the exchange cutoff)."""
    des = model.design
    rows = []
    if isinstance(des, FixedLatticeDesign):
        active = getattr(model, "active", np.ones(len(des.params), bool))
        for c, p in enumerate(des.params):
            if p.kind != "J" or not active[c]:
                continue
            ps = des.shells.pairs[p.species]
            rows.append(dict(pair=p.species, shell=p.index + 1,
                             distance=float(ps.distances[p.index]),
                             counts=(float(ps.counts_a[p.index]), float(ps.counts_b[p.index])),
                             J=float(model.theta[c]), sigma=float(model.sigma[c]),
                             prior_fraction=float(model.ridge.prior_fraction[c])
                             if model.ridge is not None else 0.0))
    else:
        rows = _spin_lattice_shell_rows(model, reference, n_shells)
    for r in rows:
        mm = moments[r["pair"][0]] * moments[r["pair"][1]]
        unit = literature_forms(r["J"] * mm)
        unit_s = literature_forms(r["sigma"] * mm)
        r["J_unit_once_meV"] = float(unit["once_meV"])
        r["J_unit_twice_meV"] = float(unit["twice_meV"])
        r["J_unit_twice_mRy"] = float(unit["twice_mRy"])
        r["sigma_unit_once_meV"] = float(unit_s["once_meV"])
        r["sigma_unit_twice_mRy"] = float(unit_s["twice_mRy"])
    return rows


def _spin_lattice_shell_rows(model, reference: Structure, n_shells: int) -> list[dict]:
    """Effective couplings of a spin-lattice model per reference shell (pair term + three-body
    sums), with sigma from the parameter covariance (the couplings are linear in theta)."""
    from mmace_fast.baseline.shells import ShellTable
    des: SpinLatticeDesign = model.design
    spec = des.spec
    pairs = [(a, b) for k, a in enumerate(spec.magnetic_species) for b in spec.magnetic_species[k:]]
    table = ShellTable.from_reference(reference, pairs, n_shells)
    cols = [c for c, p in enumerate(des.params) if p.kind in ("Jr", "J3")]
    base = des.pair_couplings(reference, np.zeros(len(model.theta)))
    jac = np.zeros((len(base["J"]), len(cols)))
    for a, c in enumerate(cols):
        e = np.zeros(len(model.theta))
        e[c] = 1.0
        jac[:, a] = des.pair_couplings(reference, e)["J"]
    d = np.linalg.norm(base["vec"], axis=1)
    zi, zj = reference.numbers[base["i"]], reference.numbers[base["j"]]
    cov = model.cov[np.ix_(cols, cols)]
    th = model.theta[cols]
    prior_var = (model.ridge.prior_var[cols] if model.ridge is not None
                 and len(model.ridge.prior_var) else None)
    rows = []
    for pr, ps in table.pairs.items():
        for k in range(ps.n_shells):
            if ps.distances[k] >= spec.r_cut_exchange:
                break
            msk = ((np.minimum(zi, zj) == pr[0]) & (np.maximum(zi, zj) == pr[1])
                   & (np.abs(d - ps.distances[k]) < 1e-3))
            if not msk.any():
                continue
            g = jac[msk].mean(axis=0)
            post = float(max(g @ cov @ g, 0.0))
            prior = float(g @ (prior_var * g)) if prior_var is not None else float("nan")
            rows.append(dict(pair=pr, shell=k + 1, distance=float(ps.distances[k]),
                             counts=(float(ps.counts_a[k]), float(ps.counts_b[k])),
                             J=float(g @ th), sigma=float(np.sqrt(post)),
                             spread=float(np.ptp(jac[msk] @ th)),
                             prior_fraction=post / prior if prior > 0 else float("nan")))
    return rows


def exchange_cutoffs(reference: Structure, magnetic, n_max: int = 3) -> list[float]:
    """Candidate cutoffs of J(r): d_k + 0.6 (d_{k+1} - d_k) after the k-th distinct distance
    between magnetic atoms of the reference, k = 1..n_max."""
    from mmace_fast.baseline.shells import ShellTable
    pairs = [(a, b) for k, a in enumerate(magnetic) for b in magnetic[k:]]
    table = ShellTable.from_reference(reference, pairs, n_max + 1)
    d = np.unique(np.round(np.concatenate([p.distances for p in table.pairs.values()]), 4))
    return [float(d[k] + 0.6 * (d[k + 1] - d[k])) for k in range(min(n_max, len(d) - 1))]


def select_exchange_range(reference, species, magnetic, configs, weights, lambdas, n_folds,
                          seed, opts, n_exchange=(2, 4)):
    """Choose (r_cut_exchange, n_exchange) of the spin-lattice model by the k-fold CV score
    (held-out weighted squared error at each candidate's own CV regulariser), over the cutoffs
    of :func:`exchange_cutoffs` and ``n_exchange``. The test frames play no part."""
    table = []
    for rc in exchange_cutoffs(reference, magnetic):
        for nx in n_exchange:
            o = dict(opts, r_cut_exchange=rc, n_exchange=nx)
            des = build_design("spin_lattice", reference, species, magnetic, **o)
            m = fit_frames(des, configs, weights, lambdas=lambdas, n_folds=n_folds, seed=seed)
            k = int(np.argmin(np.abs(m.ridge.lambdas - m.ridge.lam)))
            table.append({"r_cut_exchange": rc, "n_exchange": nx,
                          "cv_score": float(m.ridge.cv_score[k]), "lambda": m.ridge.lam})
    best = min(table, key=lambda t: t["cv_score"])
    log.info("spin-lattice exchange range: r_cut %.2f A, %d functions (CV %.4g)",
             best["r_cut_exchange"], best["n_exchange"], best["cv_score"])
    return dict(opts, r_cut_exchange=best["r_cut_exchange"], n_exchange=best["n_exchange"]), table


def select_shells(reference, species, magnetic, configs, weights, lambdas, n_folds, seed, opts,
                  n_max: int, prune: bool = True):
    """Choose the number of exchange shells of the fixed-lattice model (1..n_max) by the
    k-fold CV score of the pruned fit (held-out weighted squared error at each candidate's own
    regulariser, same folds). Returns (n_shells, table). The test frames play no part."""
    table = []
    for n in range(1, int(n_max) + 1):
        des = build_design("fixed_lattice", reference, species, magnetic, n_shells=n, **opts)
        m, dropped = fit_pruned(des, configs, weights, lambdas=lambdas, n_folds=n_folds,
                                seed=seed, prune=prune)
        k = int(np.argmin(np.abs(m.ridge.lambdas - m.ridge.lam)))
        table.append({"n_shells": n, "cv_score": float(m.ridge.cv_score[k]),
                      "cv_sem": float(m.ridge.cv_sem[k]), "lambda": m.ridge.lam,
                      "dropped": [d["name"] for d in dropped]})
    best = min(table, key=lambda t: t["cv_score"])
    log.info("fixed-lattice exchange range: %d shells (CV %.4g; %s)", best["n_shells"],
             best["cv_score"], ", ".join(f"{t['n_shells']}: {t['cv_score']:.4g}" for t in table))
    return best["n_shells"], table


def fit_pruned(design, configs, weights=None, lambdas=None, n_folds=5, seed=0, reweight=0,
               prune=True):
    """Fit, dropping undetermined couplings (see :func:`fit_material`), then re-estimate the
    per-quantity weights ``reweight`` times (floors: DFT_NOISE_FLOOR)."""
    configs = list(configs)
    blocks = _blocks(design, configs)
    active = np.ones(len(design.params), bool)
    dropped = []
    if prune:
        # forward selection in order of shell (shortest range first): a coupling is kept
        # only if the data determine it given the terms already in the model
        kinds = {k: n for n, k in enumerate(PRUNABLE)}
        cand = sorted((c for c, p in enumerate(design.params) if p.kind in PRUNABLE),
                      key=lambda c: (design.params[c].index, kinds[design.params[c].kind], c))
        active[cand] = False
        for c in cand:
            active[c] = True
            model = fit_frames(design, configs, weights, lambdas=lambdas, n_folds=n_folds,
                               seed=seed, active=active, blocks=blocks)
            fr = model.ridge.prior_fraction
            worst = max(fr[k] for k in cand if active[k])      # the new one or an earlier one
            if worst > PRUNE_LEVEL:
                active[c] = False
                dropped.append({"name": design.params[c].name, "prior_fraction": float(fr[c]),
                                "worst_prior_fraction": float(worst)})
                log.info("dropping %s (prior fraction %.2f, worst %.2f)",
                         design.params[c].name, fr[c], worst)
    model = fit_frames(design, configs, weights, lambdas=lambdas, n_folds=n_folds, seed=seed,
                       reweight=reweight, sigma_floor=DFT_NOISE_FLOOR, active=active,
                       blocks=blocks)
    return model, dropped


def fit_material(material: MaterialLike, data_path: Optional[str] = None,
                 kind: str = "fixed_lattice", n_shells: Optional[int] = None,
                 weights: Optional[QuantityWeights] = None,
                 reweight: int = 0, lambdas=None, n_folds: int = 5, seed: int = 0,
                 root: Optional[str] = None, configs=None, prune: bool = True,
                 select: bool = True, **opts) -> MaterialFit:
    """Fit a baseline to a material's data (re-read from ``data_path`` on every call).

    material: a shipped material's key (default data: the shipped file) or a user's
    :class:`mmace_fast.materials.Material` (give ``data_path`` or ``configs``).

    kind: "fixed_lattice" (energies and magnetic forces) or "spin_lattice" (energies, forces,
    stress and magnetic forces). ``opts`` go to the model spec (e.g. biquadratic_shells=1,
    n_exchange=5). ``reweight`` passes of per-quantity maximum-likelihood weights follow the
    first fit with ``weights``. ``prune`` (fixed-lattice): couplings (J, J_v, B, D) are
    added shell by shell (shortest range first) and kept only if their prior fraction at the
    CV regulariser stays below 0.5, i.e. if the data can tell them apart from the terms already
    in the model (same-sublattice shells in 1- and 2-atom cells act exactly like the Landau
    |m|^2 term and are not); the rest are listed in ``dropped``. ``select``: the exchange
    range is chosen by the cross-validation score, for the fixed-lattice model the number of
    shells (1 to the MATERIALS maximum, unless ``n_shells`` is given; :func:`select_shells`),
    for the spin-lattice model the range of J(r) (unless r_cut_exchange / n_exchange are given;
    :func:`select_exchange_range`). Both tables are in ``selection``.
    """
    from mmace_fast.data.spirals import read_with_spirals
    ref = reference_structure(material)
    user = isinstance(material, Material) and material.cell is not None
    material = material.key if isinstance(material, Material) else material
    max_shells = MAX_SHELLS if user else MATERIALS[material][2]
    if configs is None:
        if data_path is None and user:
            raise BaselineInputError(f"{material}: a user's material needs its data file")
        path = Path(data_path or shipped_path(MATERIALS[material][1]))
        if not path.is_absolute() and root is not None:
            path = Path(root) / path
        if not path.exists():
            raise BaselineInputError(f"data file {path} not found")
        configs = read_with_spirals(path)
    fit_set, test_set = split_frames(configs)
    species = sorted(set(np.concatenate([c.numbers for c in configs]).tolist()))
    magnetic = magnetic_species_of(configs)
    if not magnetic:
        raise BaselineInputError(f"{material}: no magnetic species in the data")
    moments = reference_moments(configs, magnetic)
    if kind == "fixed_lattice" and not user:
        opts = {**FIXED_LATTICE_OPTS.get(material, {}), **opts}
    selection = []
    if kind == "fixed_lattice" and n_shells is None and select:
        n_sh, selection = select_shells(ref, species, magnetic, fit_set, weights, lambdas,
                                        n_folds, seed, opts, max_shells, prune)
    else:
        n_sh = max_shells if n_shells is None else int(n_shells)
    if kind == "spin_lattice" and select and not ({"r_cut_exchange", "n_exchange"} & set(opts)):
        opts, selection = select_exchange_range(ref, species, magnetic, fit_set, weights,
                                                lambdas, n_folds, seed, opts)
    design = build_design(kind, ref, species, magnetic, n_shells=n_sh, **opts)
    model, dropped = fit_pruned(design, fit_set, weights, lambdas=lambdas, n_folds=n_folds,
                                seed=seed, reweight=reweight,
                                prune=prune and kind == "fixed_lattice")
    ridge = model.ridge
    rows = exchange_rows(model, ref, moments)
    try:
        mf = mean_field_tc(model, ref, moments, reps=4)
    except Exception as exc:             # a sanity figure: never fail the fit on it
        log.warning("mean-field Tc failed: %s", exc)
        mf = {}
    return MaterialFit(material, kind, model, ref, magnetic, moments, rows, ridge.lam,
                       {"lambdas": ridge.lambdas.tolist(), "score": ridge.cv_score.tolist(),
                        "sem": ridge.cv_sem.tolist()},
                       errors(model, fit_set), errors(model, test_set) if test_set else {},
                       len(fit_set), len(test_set), mf, dropped, selection)
