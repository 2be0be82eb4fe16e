"""Spin-lattice baseline: distance-dependent Heisenberg exchange on an explicit, linear lattice
potential, so energies, forces, stress and magnetic forces exist for any geometry and the whole
model is one linear least-squares problem.

    E = sum_Z E0_Z N_Z
      + sum_{pairs once} sum_k c^pair_{ab,k} f_k(r_ij)                          (pair potential)
      + sum_i sum_{l, c <= c'} w_{Z_i, l, c, c'} <A_i^{l,c}, A_i^{l,c'}>         (density term)
      - sum_{pairs once, magnetic} [ J_ab(r_ij) m_i.m_j + B_ab(r_ij) (m_i.m_j)^2 ]
      - sum_{pairs once, magnetic} m_i.m_j sum_{k != i, j} sum_a t_{ab,Z_k,a} h_a(r_ik) h_a(r_jk)
                                                                        (three-body exchange)
      + sum_i [ sum_k a_{2k,Z} |m_i|^(2k) + |m_i|^2 sum_k e_{Z,k} rho_i^k ]     (Landau)

with J_ab(r) = sum_k J_{ab,k} g_k(r), B_ab(r) likewise, and the density channels

    A_i^{l,c} = sum_{j, Z_j = s} f_k(r_ij) T_l(r_ij / r_ij),     c = (s, k),
    T_0 = 1,  T_1 = r^,  T_2 = r^ r^T - 1/3   (Cartesian tensors; <.,.> the full contraction),
    rho_i^k  = sum_j f_k(r_ij)  (all neighbours)

Choice of lattice part: a pair potential plus the rotation-invariant two-channel products of a
linear ACE-like density (body order 3, angular l <= 2). It is linear in its coefficients, smooth
at the cutoffs (the Bessel-times-envelope basis of :mod:`.radial`, the same as mMACE's), and the
Landau-density coupling e_{Z,k} lets the moment length follow the local volume (magneto-volume
effect). The optional three-body exchange (``n_exchange3`` functions h_a with cutoff
``r_cut3`` for both legs i-k and j-k) lets a bridging atom k modulate the coupling of i and j
(superexchange through an anion): without it, magnetic order exerts no force on non-magnetic
atoms. Non-SOC, so no DMI or single-ion anisotropy here: those live in the fixed-lattice model.
All derivatives are analytic: forces -dE/dR, stress (1/V) dE/d(strain), magnetic forces -dE/dm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmace_fast.baseline.design import FrameDesign, Param, accumulate_bond_derivatives
from mmace_fast.baseline.geometry import BaselineInputError, Structure, neighbours, species_pair
from mmace_fast.baseline.radial import BesselBasis


@dataclass
class SpinLatticeSpec:
    """Terms and radial bases of the spin-lattice model (cutoffs in A).

    n_pair            radial functions of the pair potential per species pair (0 = off)
    n_density, l_max_density   density channels per neighbour species, max angular l (-1 = off)
    species_resolved_density   channels per neighbour species (True) or species-blind
    n_exchange        radial functions of J_ab(r) per magnetic species pair
    n_biquadratic     radial functions of B_ab(r) (0 = off)
    landau_order      powers |m|^2 .. |m|^(2K) per magnetic species
    n_landau_density  functions rho^k coupled to |m|^2 (0 = off)
    n_exchange3, r_cut3   three-body exchange through a bridging atom (0 = off; default 3)
    """

    species: tuple
    magnetic_species: tuple
    r_cut: float = 5.0
    n_pair: int = 6
    n_density: int = 3
    l_max_density: int = 2
    species_resolved_density: bool = True
    r_cut_exchange: float = 5.0
    n_exchange: int = 4
    n_biquadratic: int = 0
    landau_order: int = 2
    n_landau_density: int = 2
    n_exchange3: int = 3
    r_cut3: float = 3.0
    envelope_p: int = 6

    def __post_init__(self):
        self.species = tuple(sorted(int(z) for z in self.species))
        self.magnetic_species = tuple(sorted(int(z) for z in self.magnetic_species))
        if not set(self.magnetic_species) <= set(self.species):
            raise BaselineInputError("magnetic_species must be a subset of species")
        if self.l_max_density > 2:
            raise BaselineInputError("l_max_density must be <= 2")
        for name in ("n_pair", "n_density", "n_exchange", "n_biquadratic", "landau_order",
                     "n_landau_density", "n_exchange3"):
            if getattr(self, name) < 0:
                raise BaselineInputError(f"{name} must be >= 0")

    def to_dict(self) -> dict:
        return dict(vars(self))


def _tensor_basis(l, vec, r, f, df):
    """phi_l = f(r) T_l(r^) and d phi / d r_vec.

    vec [E, 3] A, r [E], f, df [E, K]. Returns phi [E, K, n_comp], dphi [E, K, n_comp, 3].
    """
    e = len(r)
    rhat = vec / r[:, None]
    if l == 0:
        return f[:, :, None], (df[:, :, None] * rhat[:, None, :])[:, :, None, :]
    if l == 1:
        h = f / r[:, None]                                               # [E, K]
        dh = (df * r[:, None] - f) / r[:, None] ** 2
        phi = h[:, :, None] * vec[:, None, :]
        dphi = (h[:, :, None, None] * np.eye(3)[None, None]
                + dh[:, :, None, None] * vec[:, None, :, None] * rhat[:, None, None, :])
        return phi, dphi
    q = f / r[:, None] ** 2
    dq = (df * r[:, None] - 2 * f) / r[:, None] ** 3
    rr = np.einsum("ea,eb->eab", vec, vec).reshape(e, 9)                  # [E, 9]
    eye = np.eye(3).reshape(9)
    phi = q[:, :, None] * rr[:, None, :] - f[:, :, None] * eye[None, None, :] / 3.0
    d_rr = (np.einsum("ac,eb->eabc", np.eye(3), vec)
            + np.einsum("ea,bc->eabc", vec, np.eye(3))).reshape(e, 9, 3)  # d(r_a r_b)/d r_c
    dphi = (dq[:, :, None, None] * rr[:, None, :, None] * rhat[:, None, None, :]
            + q[:, :, None, None] * d_rr[:, None, :, :]
            - df[:, :, None, None] * eye[None, None, :, None] * rhat[:, None, None, :] / 3.0)
    return phi, dphi


class SpinLatticeDesign:
    """Design-matrix builder of the spin-lattice model."""

    def __init__(self, spec: SpinLatticeSpec):
        self.spec = spec
        s = spec
        self.basis = BesselBasis(s.r_cut, max(s.n_pair, s.n_density, s.n_landau_density, 1),
                                 s.envelope_p)
        self.basis_x = BesselBasis(s.r_cut_exchange, max(s.n_exchange, s.n_biquadratic, 1),
                                   s.envelope_p)
        self.basis3 = BesselBasis(s.r_cut3, max(s.n_exchange3, 1), s.envelope_p)
        self.cutoff = max(s.r_cut, s.r_cut_exchange, s.r_cut3)
        self.channels = ([(z, k) for z in s.species for k in range(s.n_density)]
                         if s.species_resolved_density else
                         [(0, k) for k in range(s.n_density)])
        c = len(self.channels)
        self.tri = np.triu_indices(c)
        self.params = self._build_params()
        self._cols = {}
        for col, p in enumerate(self.params):
            self._cols.setdefault((p.kind, p.species), []).append(col)

    @property
    def n_params(self) -> int:
        return len(self.params)

    def _build_params(self) -> list:
        s = self.spec
        ps = [Param("e0", (z,), 0, penalty=1e-6) for z in s.species]
        pairs = [(a, b) for k, a in enumerate(s.species) for b in s.species[k:]]
        mpairs = [(a, b) for k, a in enumerate(s.magnetic_species)
                  for b in s.magnetic_species[k:]]
        for pr in pairs:
            ps += [Param("pair", pr, k) for k in range(s.n_pair)]
        if s.n_density > 0:
            for z in s.species:
                for l in range(s.l_max_density + 1):
                    for t, (a, b) in enumerate(zip(*self.tri)):
                        ca, cb = self.channels[a], self.channels[b]
                        ps.append(Param("density", (z,), l,
                                        component=f"{ca[0]}.{ca[1]}x{cb[0]}.{cb[1]}"))
        for pr in mpairs:
            ps += [Param("Jr", pr, k, unit="eV/muB^2") for k in range(s.n_exchange)]
        for pr in mpairs:
            ps += [Param("Br", pr, k, unit="eV/muB^4") for k in range(s.n_biquadratic)]
        for pr in mpairs:
            for zk in s.species:
                ps += [Param("J3", pr + (zk,), k, unit="eV A^2/muB^2")
                       for k in range(s.n_exchange3)]
        for z in s.magnetic_species:
            ps += [Param("landau", (z,), 2 * k, unit=f"eV/muB^{2 * k}")
                   for k in range(1, s.landau_order + 1)]
            ps += [Param("landau_rho", (z,), k, unit="eV A/muB^2")
                   for k in range(s.n_landau_density)]
        return ps

    def cols(self, kind, species) -> list:
        return self._cols.get((kind, tuple(species)), [])

    # ------------------------------------------------------------------ features
    def features(self, structure, magmoms, derivatives: bool = True) -> FrameDesign:
        """Energy [p], forces [n, 3, p], stress [3, 3, p] (periodic frames) and magnetic forces
        [n, 3, p] of one frame; ``magmoms`` [n, 3] muB."""
        st = Structure.of(structure)
        m = np.asarray(magmoms, dtype=np.float64)
        n = st.n_atoms
        if m.shape != (n, 3):
            raise BaselineInputError(f"magmoms has shape {m.shape}, expected ({n}, 3)")
        unknown = set(st.numbers.tolist()) - set(self.spec.species)
        if unknown:
            raise BaselineInputError(f"species {sorted(unknown)} not in the model "
                                     f"{self.spec.species}")
        p = self.n_params
        nb = neighbours(st, self.cutoff)
        x = np.zeros(p)
        dxdr = np.zeros((len(nb.i), 3, p)) if derivatives else None       # per directed edge
        mf = np.zeros((n, 3, p)) if derivatives else None
        z = st.numbers
        for zz in self.spec.species:
            x[self.cols("e0", (zz,))] = np.sum(z == zz)
        r = nb.dist
        rhat = nb.vec / r[:, None] if len(r) else nb.vec
        f, df = self.basis(r) if len(r) else (np.zeros((0, self.basis.n)),) * 2
        g, dg = self.basis_x(r) if len(r) else (np.zeros((0, self.basis_x.n)),) * 2
        self._pair(nb, z, f, df, rhat, x, dxdr)
        self._exchange(nb, z, m, g, dg, rhat, x, dxdr, mf)
        self._landau(nb, z, m, f, df, rhat, x, dxdr, mf)
        if self.spec.n_density > 0 and self.spec.l_max_density >= 0:
            self._density(nb, z, f, df, x, dxdr)
        out = FrameDesign(energy=x, n_atoms=n)
        if derivatives:
            out.forces, out.stress = accumulate_bond_derivatives(n, nb.i, nb.j, nb.vec, dxdr,
                                                                 st.volume)
            out.magforces = mf
        if self.spec.n_exchange3 > 0:
            self._exchange3(nb, z, m, x, out, st.volume, derivatives)
        return out

    def _pair(self, nb, z, f, df, rhat, x, dxdr):
        k = self.spec.n_pair
        if k == 0:
            return
        once = np.flatnonzero(nb.once)
        lo = np.minimum(z[nb.i[once]], z[nb.j[once]])
        hi = np.maximum(z[nb.i[once]], z[nb.j[once]])
        for a, za in enumerate(self.spec.species):
            for zb in self.spec.species[a:]:
                e = once[(lo == za) & (hi == zb)]
                if len(e) == 0:
                    continue
                cols = self.cols("pair", (za, zb))
                x[cols] += f[e, :k].sum(axis=0)
                if dxdr is not None:
                    dxdr[np.ix_(e, range(3), cols)] += (df[e, None, :k] * rhat[e, :, None])

    def _exchange(self, nb, z, m, g, dg, rhat, x, dxdr, mf):
        s = self.spec
        once = np.flatnonzero(nb.once)
        i, j = nb.i[once], nb.j[once]
        mag = np.isin(z[i], s.magnetic_species) & np.isin(z[j], s.magnetic_species)
        once, i, j = once[mag], i[mag], j[mag]
        lo, hi = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
        dot = np.sum(m[i] * m[j], axis=1)
        for kind, nk in (("Jr", s.n_exchange), ("Br", s.n_biquadratic)):
            if nk == 0:
                continue
            w = -dot if kind == "Jr" else -dot ** 2                     # energy weight [B]
            for pr in {(int(a), int(b)) for a, b in zip(lo, hi)}:
                sel = (lo == pr[0]) & (hi == pr[1])
                e = once[sel]
                cols = self.cols(kind, pr)
                x[cols] += (g[e, :nk] * w[sel, None]).sum(axis=0)
                if dxdr is None:
                    continue
                dxdr[np.ix_(e, range(3), cols)] += (dg[e, None, :nk] * rhat[e, :, None]
                                                    * w[sel, None, None])
                if kind == "Jr":
                    gi, gj = m[j[sel]], m[i[sel]]
                else:
                    gi = 2 * dot[sel, None] * m[j[sel]]
                    gj = 2 * dot[sel, None] * m[i[sel]]
                for col, kk in zip(cols, range(nk)):
                    np.add.at(mf[:, :, col], i[sel], g[e, kk, None] * gi)
                    np.add.at(mf[:, :, col], j[sel], g[e, kk, None] * gj)

    def _landau(self, nb, z, m, f, df, rhat, x, dxdr, mf):
        s = self.spec
        r2 = np.sum(m * m, axis=1)
        for zz in s.magnetic_species:
            sel = z == zz
            for col, par in zip(self.cols("landau", (zz,)),
                                [p for p in self.params if p.kind == "landau"
                                 and p.species == (zz,)]):
                k = par.index // 2
                x[col] = np.sum(r2[sel] ** k)
                if mf is not None:
                    mf[sel, :, col] = -2.0 * k * (r2[sel] ** (k - 1))[:, None] * m[sel]
            nk = s.n_landau_density
            if nk == 0:
                continue
            cols = self.cols("landau_rho", (zz,))
            e = np.flatnonzero(sel[nb.i])                                 # edges centred on Z
            w = r2[nb.i[e]]
            x[cols] += (f[e, :nk] * w[:, None]).sum(axis=0)
            if dxdr is None:
                continue
            dxdr[np.ix_(e, range(3), cols)] += df[e, None, :nk] * rhat[e, :, None] * w[:, None,
                                                                                     None]
            rho = np.zeros((len(z), nk))
            np.add.at(rho, nb.i[e], f[e, :nk])
            for c, col in enumerate(cols):
                mf[sel, :, col] = -2.0 * rho[sel, c, None] * m[sel]

    def _density(self, nb, z, f, df, x, dxdr):
        s = self.spec
        n, E = len(z), len(nb.i)
        K = s.n_density
        chan = self.channels
        C = len(chan)
        if s.species_resolved_density:
            sidx = np.searchsorted(np.array(s.species), z[nb.j])            # [E]
        else:
            sidx = np.zeros(E, dtype=np.int64)
        ch = sidx[:, None] * K + np.arange(K)[None, :]                      # [E, K] channel
        tri_a, tri_b = self.tri
        for l in range(s.l_max_density + 1):
            phi, dphi = _tensor_basis(l, nb.vec, nb.dist, f[:, :K], df[:, :K])
            ncomp = phi.shape[2]
            A = np.zeros((n, C, ncomp))
            np.add.at(A, (nb.i[:, None], ch), phi)                            # [n, C, comp]
            M = np.einsum("nac,nbc->nab", A, A)                               # [n, C, C]
            if dxdr is not None:
                G = np.einsum("ekcx,ebc->ekbx", dphi, A[nb.i])                # [E, K, C, 3]
                dfull = np.zeros((E, C, C, 3))
                rows = np.arange(E)
                for k in range(K):
                    dfull[rows, ch[:, k]] += G[:, k]
                    dfull[rows, :, ch[:, k]] += G[:, k]
                dtri = dfull[:, tri_a, tri_b, :]                              # [E, T, 3]
            for zz in s.species:
                cols = [c for c in self.cols("density", (zz,)) if self.params[c].index == l]
                sel = z == zz
                x[cols] += M[sel][:, tri_a, tri_b].sum(axis=0)
                if dxdr is not None:
                    e = np.flatnonzero(sel[nb.i])
                    dxdr[np.ix_(e, range(3), cols)] += dtri[e].transpose(0, 2, 1)

    def _triplets(self, nb, z):
        """Triplets of the three-body exchange: pair edge (i-j once, magnetic, within
        r_cut_exchange) and leg edge (i -> k within r_cut3) with |r_jk| < r_cut3.
        Returns tp, tk [T] edge indices, r_ik, r_jk [T, 3] A, d_ik, d_jk [T] A (or None)."""
        s = self.spec
        r3 = s.r_cut3
        mags = np.isin(z, s.magnetic_species)
        pair_e = np.flatnonzero(nb.once & mags[nb.i] & mags[nb.j] & (nb.dist < s.r_cut_exchange))
        leg = np.flatnonzero(nb.dist < r3)                                  # candidate i -> k
        if len(pair_e) == 0 or len(leg) == 0:
            return None
        leg = leg[np.argsort(nb.i[leg], kind="stable")]
        starts = np.searchsorted(nb.i[leg], np.arange(len(z) + 1))
        counts = starts[nb.i[pair_e] + 1] - starts[nb.i[pair_e]]
        tp = np.repeat(pair_e, counts)
        tk = np.concatenate([leg[starts[a]:starts[a + 1]] for a in nb.i[pair_e]])
        r_ik = nb.vec[tk]                                                   # [T, 3]
        r_jk = r_ik - nb.vec[tp]
        d_jk = np.linalg.norm(r_jk, axis=1)
        ok = (d_jk < r3) & (d_jk > 1e-8)
        if not ok.any():
            return None
        return tp[ok], tk[ok], r_ik[ok], r_jk[ok], nb.dist[tk[ok]], d_jk[ok]

    def _exchange3(self, nb, z, m, x, out, volume, derivatives):
        """Three-body exchange features (see module docstring)."""
        nk = self.spec.n_exchange3
        tri = self._triplets(nb, z)
        if tri is None:
            return
        tp, tk, r_ik, r_jk, d_ik, d_jk = tri
        i, j, k = nb.i[tp], nb.j[tp], nb.j[tk]
        h_i, dh_i = self.basis3(d_ik)
        h_j, dh_j = self.basis3(d_jk)
        h_i, dh_i, h_j, dh_j = (a[:, :nk] for a in (h_i, dh_i, h_j, dh_j))
        dot = np.sum(m[i] * m[j], axis=1)
        lo, hi = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
        for key in {(int(a), int(b), int(c)) for a, b, c in zip(lo, hi, z[k])}:
            sel = (lo == key[0]) & (hi == key[1]) & (z[k] == key[2])
            cols = self.cols("J3", key)
            hh = h_i[sel] * h_j[sel]                                          # [t, nk]
            x[cols] += -(dot[sel, None] * hh).sum(axis=0)
            if not derivatives:
                continue
            w = -dot[sel]
            d1 = (w[:, None, None] * dh_i[sel, None, :] * h_j[sel, None, :]
                  * (r_ik[sel] / d_ik[sel, None])[:, :, None])                 # dx/dr_ik
            d2 = (w[:, None, None] * h_i[sel, None, :] * dh_j[sel, None, :]
                  * (r_jk[sel] / d_jk[sel, None])[:, :, None])                 # dx/dr_jk
            f1, s1 = accumulate_bond_derivatives(len(z), i[sel], k[sel], r_ik[sel], d1, volume)
            f2, s2 = accumulate_bond_derivatives(len(z), j[sel], k[sel], r_jk[sel], d2, volume)
            out.forces[:, :, cols] += f1 + f2
            if out.stress is not None:
                out.stress[:, :, cols] += s1 + s2
            for c, col in enumerate(cols):
                np.add.at(out.magforces[:, :, col], i[sel], hh[:, c, None] * m[j[sel]])
                np.add.at(out.magforces[:, :, col], j[sel], hh[:, c, None] * m[i[sel]])

    # ------------------------------------------------------------------ analysis
    def pair_couplings(self, structure, theta) -> dict:
        """Effective Heisenberg couplings of fitted ``theta`` on a fixed geometry: for every
        magnetic pair once within r_cut_exchange, J_ij = J_ab(r_ij) + three-body sum over
        bridging atoms (eV/muB^2). Returns i, j [P], vec [P, 3] A, J [P]."""
        st = Structure.of(structure)
        theta = np.asarray(theta, dtype=np.float64)
        nb = neighbours(st, self.cutoff)
        z = st.numbers
        mags = np.isin(z, self.spec.magnetic_species)
        sel = np.flatnonzero(nb.once & mags[nb.i] & mags[nb.j]
                             & (nb.dist < self.spec.r_cut_exchange))
        jmap = np.full(len(nb.i), -1)
        jmap[sel] = np.arange(len(sel))
        J = np.zeros(len(sel))
        zi, zj = z[nb.i[sel]], z[nb.j[sel]]
        for pr in {(int(min(a, b)), int(max(a, b))) for a, b in zip(zi, zj)}:
            msk = (np.minimum(zi, zj) == pr[0]) & (np.maximum(zi, zj) == pr[1])
            if self.cols("Jr", pr):
                J[msk] = self.exchange_function(theta, pr, nb.dist[sel][msk])
        tri = self._triplets(nb, z) if self.spec.n_exchange3 > 0 else None
        if tri is not None:
            tp, tk, _, _, d_ik, d_jk = tri
            nk = self.spec.n_exchange3
            hh = self.basis3(d_ik)[0][:, :nk] * self.basis3(d_jk)[0][:, :nk]
            i, j, k = nb.i[tp], nb.j[tp], nb.j[tk]
            lo, hi = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
            contrib = np.zeros(len(tp))
            for key in {(int(a), int(b), int(c)) for a, b, c in zip(lo, hi, z[k])}:
                msk = (lo == key[0]) & (hi == key[1]) & (z[k] == key[2])
                contrib[msk] = hh[msk] @ theta[self.cols("J3", key)]
            np.add.at(J, jmap[tp], contrib)
        return {"i": nb.i[sel], "j": nb.j[sel], "vec": nb.vec[sel], "J": J}

    def exchange_function(self, theta, pair, r):
        """J_ab(r) eV/muB^2 of fitted ``theta`` at distances r [..] A (pair once)."""
        cols = self.cols("Jr", species_pair(*pair))
        if not cols:
            raise BaselineInputError(f"no exchange for pair {pair}")
        g, _ = self.basis_x(np.asarray(r, dtype=float).reshape(-1))
        return g[:, : len(cols)] @ np.asarray(theta)[cols]
