"""Freeze a trained :class:`mmace_fast.model.MMACE` into the flat arrays of a frozen-model file.

Every number the C++ evaluator uses is read from the model here (weights, Wigner-3j coupling
buffers, symmetric-contraction tensors, normalisation constants, radial constants) or computed
here with the pinned e3nn (real spherical harmonics as monomial coefficient tables), and
written into the file; the C++ side never re-derives a coupling or a convention.

Array names (``layers.{t}.`` prefix per interaction layer; shapes in brackets; see
:mod:`mmace_fast.model.mmace` for the computation order they implement):

global      species [S] i8, moment_scale [S], e0 [S], landau [S, K] (effective a_k), scale [],
            shift [], n_mag [], l_spin_max [], soc [], centre_spin [], n_channels [],
            n_layers [], n_sigma [], l_max_sh [], embedding [n_attr, C], embedding_norm []
harmonics   sh.l_max [], sh.index [nnz] (component), sh.powers [nnz, 3], sh.coef [nnz]:
            Y_comp(v) = sum coef * vx^a vy^b vz^c (e3nn component normalisation; bonds use
            v = r/|r|, moments v = u unnormalised)
spin        spin_invariant_norm [Ls+1] (non-SOC: c_l = Ys_l(i).Ys_l(j) * norm_l);
            SOC: spin_pair.{dims [3], index [nnz, 3], value [nnz]} and bond_spin.{...}
            (out[k] += value * a[i] * b[j])
radial      radial.r_cut [], radial.freq [nb], radial.prefactor [], radial.envelope_power [],
            radial.envelope_coef [3] (u = 1 + c0 t^p + c1 t^(p+1) + c2 t^(p+2) for t < 1)
per layer   dims [5] (D_in, D_psi, D_A, D_out, n_paths), scalar_index [], last [],
            inv_avg_num_neighbors [], spin_weight [n_sigma, C * P] (column c * P + p),
            {linear_up, linear, linear_out}.{dims [2], blocks [nb, 3] (in0, out0, dim),
            weight [nb, C, C], norm []}, skip.{dims, blocks, weight [nb, n_attr, C, C], norm},
            radial_mlp.depth [], radial_mlp.{k}.{weight [a, b], norm []}, readout.{same},
            tp.paths [P, 4] (in0, m1, out0, mo), tp.index [nnz, 4] (path, k, m, mo),
            tp.value [nnz] (msg[out0 + mo] += w_p value psi[k] u[in0 + m]),
            sc.correlation [], sc.n_blocks [], sc.mono.{nu} [n_mono, nu] (sorted A-component
            tuples), sc.{b}.block [2] (out0, M), sc.{b}.{nu}.weight [n_attr, eta, C],
            sc.{b}.{nu}.index [nnz, 3] (eta, M index, monomial), sc.{b}.{nu}.value [nnz]
            (U summed over the permutations of each sorted tuple: exact because the product
            of A components is symmetric)
"""
from __future__ import annotations

import logging
import math
import platform
from typing import Dict, List, Tuple

import numpy as np

from mmace_fast.export.format import FrozenFormatError

log = logging.getLogger(__name__)

SH_TOLERANCE = 1e-13      # max |polynomial - e3nn| in units of max(1, |v|^l)
SPARSE_DROP = 1e-14       # entries below this fraction of a tensor's max |value| are SVD noise


class FreezeError(FrozenFormatError):
    """The model cannot be frozen (unsupported layout or a failed self-check)."""


def _np(t) -> np.ndarray:
    return t.detach().cpu().to(dtype=t.dtype).numpy().copy()


def _f64(t) -> np.ndarray:
    import torch
    return t.detach().cpu().to(torch.float64).numpy().copy()


# ------------------------------------------------------------------------ spherical harmonics
def monomials(l: int) -> List[Tuple[int, int, int]]:
    """Exponents (a, b, c) of the degree-l monomials x^a y^b z^c."""
    return [(a, b, l - a - b) for a in range(l, -1, -1) for b in range(l - a, -1, -1)]


def _design(v: np.ndarray, mons) -> np.ndarray:
    return np.stack([v[:, 0] ** a * v[:, 1] ** b * v[:, 2] ** c for a, b, c in mons], axis=1)


def sh_tables(l_max: int, seed: int = 0):
    """Monomial coefficient tables of e3nn's real spherical harmonics up to ``l_max``.

    e3nn's Y_l(v) with normalize=False is a homogeneous polynomial of degree l in (x, y, z);
    its coefficients are fitted by least squares on random points with the pinned e3nn and
    verified on fresh points (normalize=False on random vectors and normalize=True on random
    directions, including the zero vector) to SH_TOLERANCE. Returns (index [nnz], powers
    [nnz, 3], coef [nnz])."""
    import torch
    from e3nn import o3
    rng = np.random.default_rng(seed)
    idx, pows, coefs = [], [], []
    for l in range(l_max + 1):
        mons = monomials(l)
        pts = rng.normal(size=(40 * len(mons) + 20, 3))
        y = o3.spherical_harmonics(l, torch.as_tensor(pts), normalize=False,
                                   normalization="component").numpy()
        coef, *_ = np.linalg.lstsq(_design(pts, mons), y, rcond=None)   # [n_mon, 2l+1]
        scale = np.abs(coef).max()
        coef[np.abs(coef) < 1e-12 * scale] = 0.0
        for comp in range(2 * l + 1):
            for k, mon in enumerate(mons):
                if coef[k, comp] != 0.0:
                    idx.append(l * l + comp)
                    pows.append(mon)
                    coefs.append(coef[k, comp])
    index, powers, values = (np.array(idx, dtype=np.int32),
                             np.array(pows, dtype=np.int32).reshape(-1, 3),
                             np.array(coefs, dtype=np.float64))
    _check_sh(index, powers, values, l_max, rng)
    return index, powers, values


def eval_sh_table(index, powers, coef, v: np.ndarray, l_max: int) -> np.ndarray:
    """Evaluate the monomial tables at points v [n, 3] -> [n, (l_max+1)^2] (numpy)."""
    out = np.zeros((v.shape[0], (l_max + 1) ** 2))
    for i, (a, b, c), w in zip(index, powers, coef):
        out[:, i] += w * v[:, 0] ** a * v[:, 1] ** b * v[:, 2] ** c
    return out


def _check_sh(index, powers, coef, l_max, rng) -> None:
    """Compare with e3nn: errors in units of |v|^l (the size of a degree-l block)."""
    import torch
    from e3nn import o3
    ls = list(range(l_max + 1))
    pts = np.concatenate([rng.normal(size=(300, 3)), 3.0 * rng.normal(size=(100, 3)),
                          1e-8 * rng.normal(size=(20, 3))])
    ref = o3.spherical_harmonics(ls, torch.as_tensor(pts), normalize=False,
                                 normalization="component").numpy()
    got = eval_sh_table(index, powers, coef, pts, l_max)
    dirs = np.concatenate([rng.normal(size=(300, 3)), np.zeros((1, 3))])
    ref_n = o3.spherical_harmonics(ls, torch.as_tensor(dirs), normalize=True,
                                   normalization="component").numpy()
    norm = np.linalg.norm(dirs, axis=1, keepdims=True)
    unit = np.divide(dirs, norm, out=np.zeros_like(dirs), where=norm > 0)
    got_n = eval_sh_table(index, powers, coef, unit, l_max)
    l_of = np.floor(np.sqrt(np.arange((l_max + 1) ** 2))).astype(int)
    for v, r, g in ((pts, ref, got), (unit, ref_n, got_n)):
        size = np.linalg.norm(v, axis=1, keepdims=True) ** l_of[None, :]
        err = np.abs(r - g) / np.maximum(1.0, size)
        if err.max() > SH_TOLERANCE:
            raise FreezeError(f"spherical-harmonic tables miss e3nn by {err.max():.2e} "
                              f"(tolerance {SH_TOLERANCE} |v|^l)")


# ------------------------------------------------------------------------ sparse helpers
def sparse(t: np.ndarray, drop: float = SPARSE_DROP):
    """Nonzero entries of a dense tensor: (index [nnz, ndim] int32, value [nnz])."""
    t = np.asarray(t, dtype=np.float64)
    top = np.abs(t).max() if t.size else 0.0
    mask = np.abs(t) > drop * top if top > 0 else np.zeros(t.shape, bool)
    idx = np.argwhere(mask).astype(np.int32).reshape(-1, t.ndim)
    return idx, t[mask]


def _linear(prefix: str, mod, d_in: int, out: Dict[str, np.ndarray]) -> None:
    """EquivariantLinear / ElementLinear -> blocks, stacked weights, norm, (d_in, d_out)."""
    for (a, b), (c, d) in mod.pairs:
        if b - a != d - c:
            raise FreezeError(f"{prefix}: block sizes differ ({a}:{b} -> {c}:{d})")
    out[f"{prefix}.blocks"] = np.array([(a, c, b - a) for (a, b), (c, d) in mod.pairs],
                                       dtype=np.int32).reshape(-1, 3)
    ws = [_f64(w) for w in mod.weights]
    if not ws:
        raise FreezeError(f"{prefix}: linear map without blocks")
    out[f"{prefix}.weight"] = np.stack(ws)
    out[f"{prefix}.norm"] = np.array(float(mod.norm))
    out[f"{prefix}.dims"] = np.array([d_in, mod.irreps_out.dim], dtype=np.int64)


def _mlp(prefix: str, mlp, out: Dict[str, np.ndarray]) -> None:
    out[f"{prefix}.depth"] = np.array(len(mlp.weights), dtype=np.int64)
    for k, w in enumerate(mlp.weights):
        out[f"{prefix}.{k}.weight"] = _f64(w)
        out[f"{prefix}.{k}.norm"] = np.array(1.0 / math.sqrt(w.shape[0]))


def _tp(prefix: str, tp, out: Dict[str, np.ndarray]) -> None:
    """ChannelwiseTP buffers (grouped by input block) -> per-path sparse lists."""
    paths = tp.paths            # (l1, l2, l3, s1, e1, s2, e2, out0, out1) per path id
    out[f"{prefix}.paths"] = np.array([(s1, e1 - s1, o0, o1 - o0)
                                       for (_, _, _, s1, e1, _, _, o0, o1) in paths],
                                      dtype=np.int32).reshape(-1, 4)
    entries, values = [], []
    n_cols = 0
    for g, (a1, b1) in enumerate(tp.groups):
        cg = _f64(getattr(tp, f"cg_{g}"))                        # [D2, m1, J]
        path = _np(getattr(tp, f"path_{g}")).astype(np.int64)    # [J]
        target = _np(getattr(tp, f"target_{g}")).astype(np.int64)
        n_cols += len(path)
        for col in range(cg.shape[2]):
            p = int(path[col])
            s1, e1, o0 = paths[p][3], paths[p][4], paths[p][7]
            if (s1, e1) != (a1, b1):
                raise FreezeError(f"{prefix}: path {p} input block mismatch")
            mo = int(target[col]) - o0
            idx, val = sparse(cg[:, :, col])
            for (k, m), v in zip(idx, val):
                entries.append((p, k, m, mo))
                values.append(v)
    out[f"{prefix}.index"] = np.array(entries, dtype=np.int32).reshape(-1, 4)
    out[f"{prefix}.value"] = np.array(values, dtype=np.float64)
    want = sum(o1 - o0 for (*_, o0, o1) in paths)
    if n_cols != want:
        raise FreezeError(f"{prefix}: {n_cols} coupling columns, paths need {want}")


def _symmetric_reduce(u: np.ndarray):
    """U [eta, M, D^nu] -> entries over sorted index tuples: (eta, M, tuple) and value = the
    sum of U over all orderings of the tuple."""
    eta, m = u.shape[:2]
    nu = u.ndim - 2
    idx, val = sparse(u)
    if len(val) == 0:
        return np.zeros((0, 2), np.int64), np.zeros((0, nu), np.int64), np.zeros(0)
    tup = np.sort(idx[:, 2:], axis=1)
    keys = np.concatenate([idx[:, :2], tup], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    summed = np.zeros(len(uniq))
    np.add.at(summed, inv.reshape(-1), val)
    top = np.abs(summed).max()
    keep = np.abs(summed) > SPARSE_DROP * top
    return uniq[keep, :2], uniq[keep, 2:], summed[keep]


def _sc(prefix: str, sc, n_attr: int, out: Dict[str, np.ndarray]) -> None:
    corr = sc.correlation
    out[f"{prefix}.correlation"] = np.array(corr, dtype=np.int64)
    out[f"{prefix}.n_blocks"] = np.array(len(sc.out_blocks), dtype=np.int64)
    monos: Dict[int, Dict[tuple, int]] = {nu: {} for nu in range(1, corr + 1)}
    for b, (l, p, s, e) in enumerate(sc.out_blocks):
        out[f"{prefix}.{b}.block"] = np.array([s, e - s], dtype=np.int32)
        for nu in range(1, corr + 1):
            u = _f64(getattr(sc, f"U_{b}_{nu}"))
            w = _f64(getattr(sc, f"W_{b}_{nu}"))
            if w.shape[:2] != (n_attr, u.shape[0]):
                raise FreezeError(f"{prefix}.{b}.{nu}: weight {w.shape} vs U {u.shape}")
            em, tups, vals = _symmetric_reduce(u)
            ids = []
            table = monos[nu]
            for t in map(tuple, tups.tolist()):
                ids.append(table.setdefault(t, len(table)))
            idx = np.concatenate([em, np.array(ids, dtype=np.int64).reshape(-1, 1)], axis=1)
            out[f"{prefix}.{b}.{nu}.weight"] = w
            out[f"{prefix}.{b}.{nu}.index"] = idx.astype(np.int32).reshape(-1, 3)
            out[f"{prefix}.{b}.{nu}.value"] = vals
    for nu, table in monos.items():
        arr = np.zeros((len(table), nu), dtype=np.int32)
        for t, k in table.items():
            arr[k] = t
        out[f"{prefix}.mono.{nu}"] = arr


# ------------------------------------------------------------------------ whole model
def landau_coefficients(model) -> np.ndarray:
    """Effective Landau coefficients a_k [S, K] eV (the model's own mapping when it has one)."""
    if hasattr(model, "landau_coefficients"):
        return _f64(model.landau_coefficients())
    return _f64(model.landau)


def freeze(model) -> Tuple[dict, Dict[str, np.ndarray]]:
    """(header dict, arrays) of a frozen file for an :class:`MMACE` model (float64)."""
    import e3nn
    import torch
    from mmace_fast import conventions
    cfg = model.config
    if e3nn.__version__ != conventions.E3NN_VERSION:
        raise FreezeError(f"e3nn {e3nn.__version__} is not the pinned "
                          f"{conventions.E3NN_VERSION}: coupling signs would differ")
    a: Dict[str, np.ndarray] = {}
    s = len(cfg.species)
    a["species"] = np.array(cfg.species, dtype=np.int64)
    a["moment_scale"] = _f64(model.moment_features.moment_scale)
    a["e0"] = _f64(model.e0)
    a["landau"] = landau_coefficients(model).reshape(s, -1)
    a["scale"] = _f64(model.scale).reshape(())
    a["shift"] = _f64(model.shift).reshape(())
    a["n_mag"] = np.array(model.moment_features.n_mag, dtype=np.int64)
    a["l_spin_max"] = np.array(model.moment_features.l_spin_max, dtype=np.int64)
    a["soc"] = np.array(int(bool(cfg.soc)), dtype=np.int64)
    a["centre_spin"] = np.array(int(bool(cfg.centre_spin)), dtype=np.int64)
    a["n_channels"] = np.array(cfg.n_channels, dtype=np.int64)
    a["n_layers"] = np.array(len(model.layers), dtype=np.int64)
    a["l_max_sh"] = np.array(cfg.l_max_sh, dtype=np.int64)
    a["embedding"] = _f64(model.embedding)
    a["embedding_norm"] = np.array(1.0 / math.sqrt(model.n_attr))
    l_tab = max(cfg.l_max_sh, cfg.l_spin_max)
    a["sh.l_max"] = np.array(l_tab, dtype=np.int64)
    a["sh.index"], a["sh.powers"], a["sh.coef"] = sh_tables(l_tab)
    ls = cfg.l_spin_max
    if cfg.soc:
        for name, mod in (("spin_pair", model.spin_pair.coupling), ("bond_spin", model.bond_spin)):
            cg = _f64(mod.cg)
            a[f"{name}.dims"] = np.array(cg.shape, dtype=np.int64)
            a[f"{name}.index"], a[f"{name}.value"] = sparse(cg)
    else:
        a["spin_invariant_norm"] = np.array([1.0 / (2 * l + 1) for l in range(ls + 1)])
    rb = model.radial_basis
    a["radial.r_cut"] = np.array(float(rb.r_cut))
    a["radial.freq"] = _f64(rb.freq)
    a["radial.prefactor"] = np.array(math.sqrt(2.0 / rb.r_cut))
    p = rb.p
    a["radial.envelope_power"] = np.array(p, dtype=np.int64)
    a["radial.envelope_coef"] = np.array([-0.5 * (p + 1) * (p + 2), float(p * (p + 2)),
                                          -0.5 * p * (p + 1)])
    n_sigma = None
    for t, layer in enumerate(model.layers):
        pre = f"layers.{t}"
        tp = layer.tp
        a[f"{pre}.dims"] = np.array([tp.irreps1.dim, tp.irreps2.dim, tp.dim_out,
                                     layer.symmetric_contraction.irreps_out.dim, tp.n_paths],
                                    dtype=np.int64)
        a[f"{pre}.scalar_index"] = np.array(layer.scalar_index, dtype=np.int64)
        a[f"{pre}.last"] = np.array(int(layer.last), dtype=np.int64)
        a[f"{pre}.inv_avg_num_neighbors"] = np.array(1.0 / layer.avg_num_neighbors)
        a[f"{pre}.spin_weight"] = _f64(layer.spin_weight)
        n_sigma = layer.spin_weight.shape[0]
        d_h, d_a = tp.irreps1.dim, tp.dim_out
        d_b = layer.symmetric_contraction.irreps_out.dim
        _linear(f"{pre}.linear_up", layer.linear_up, d_h, a)
        _linear(f"{pre}.linear", layer.linear, d_a, a)
        _linear(f"{pre}.linear_out", layer.linear_out, d_b, a)
        _linear(f"{pre}.skip", layer.skip, d_h, a)
        _mlp(f"{pre}.radial_mlp", layer.radial_mlp, a)
        _mlp(f"{pre}.readout", layer.readout, a)
        _tp(f"{pre}.tp", tp, a)
        _sc(f"{pre}.sc", layer.symmetric_contraction, model.n_attr, a)
    a["n_sigma"] = np.array(n_sigma, dtype=np.int64)
    header = {
        "model_config": cfg.to_dict(),
        "species": [int(z) for z in cfg.species],
        "r_cut": float(cfg.r_cut),
        "versions": {"e3nn": e3nn.__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
    }
    return header, a


def export_model(model, path) -> str:
    """Freeze ``model`` into the file ``path``; returns the file's sha256 identity."""
    from mmace_fast.export import format as fmt
    header, arrays = freeze(model)
    digest = fmt.write(path, header, arrays)
    log.info("froze mMACE (%d arrays, sha256 %s) to %s", len(arrays), digest[:12], path)
    return digest
