"""Fixed-lattice Heisenberg-plus-anisotropy model: the design matrix of a spin Monte Carlo
Hamiltonian (conventions: :mod:`mmace_fast.conventions`, pairs once, J > 0 ferromagnetic).

    E = sum_Z E0_Z N_Z + N sum_k c_k eps^k                              (constants in spin MC)
      + N (s_t e_t + s_o e_o) + sum_Z k_Z sum_{i in Z} |u_i|^2          (lattice background)
      - sum_{pairs once} [ J_{ab,s} m_i.m_j + B_{ab,s} (m_i.m_j)^2 + D_{ab,s,d}.(m_a x m_b) ]
      - sum_i [ Ku_Z (m_i.n)^2 + Kc_Z (m_ix^4 + m_iy^4 + m_iz^4) ]
      + sum_i sum_k a_{2k,Z} |m_i|^(2k)
      + sum_i |m_i|^2 sum_k a'_{k,Z} eps^k - sum_{pairs once} m_i.m_j sum_k J'_{ab,s,k} eps^k

- pairs: among the magnetic species only, grouped by species pair (ab) and shell s of the
  reference lattice (:mod:`mmace_fast.baseline.shells`; bins scaled with the frame's volume);
- eps = v / v_ref - 1 (v = volume per atom): an optional equation-of-state background that lets
  strained frames enter the fit; it is a constant for spin Monte Carlo at fixed lattice;
- lattice background (``lattice_background``, default on), terms that vanish on the ideal
  reference lattice and let strained and rattled frames enter the fit without biasing the
  magnetic constants: with the Green-Lagrange strain E of the frame's cell relative to the
  reference supercell (ideal-site mapping, see :mod:`.shells`), e_t = sum_a (E_aa - tr E/3)^2
  and e_o = 2 sum_{a<b} E_ab^2 (the two quadratic shear invariants of a cubic lattice), and
  u_i the displacement of atom i from its ideal site (undeformed frame, mean removed), an
  Einstein-like term per species. Frames that are not deformed supercells of the reference get
  only the volume terms;
- chemical background (``chemical_shells`` = k > 0): sum_{ab, s <= k} V_{ab,s} n_{ab,s}, with
  n_{ab,s} the number of unlike-species bonds (a < b) in shell s of the parent lattice: the pair
  terms of a cluster expansion, so that antisite and off-stoichiometric frames (whose ordering
  energy is ~0.1-1 eV per defect and not magnetic) enter the fit without biasing the magnetic
  constants; a constant for spin Monte Carlo at fixed chemistry. ``parent_shells`` puts the
  magnetic pairs' shells on the parent lattice too, so an antisite's Fe-Fe nearest-neighbour
  bond has its own J (zero count on the ordered reference);
- DMI, E = -D.(m_a x m_b) with (a, b) the canonical bond orientation (the antisymmetric part of
  the tensor exchange -m_i^T T m_j of :class:`mmace_fast.mc.SpinHamiltonian`):
  ``dmi="free"``: a free vector per bond class (species pair, shell, reference direction);
  ``dmi="bulk"``: D = D_s r_ab / |r_ab| (chiral B20-type form, one number per shell).
  DMI, single-ion anisotropy and non-z moments need spin-orbit data to be meaningful;
- Landau: a_2 |m|^2 + a_4 |m|^4 (+ a_6 |m|^6) per magnetic species;
- magneto-volume terms a'_k (``landau_volume_order``, default 1) and J'_k
  (``exchange_volume_order``, default 0): the volume dependence of the Landau coefficient and of
  the exchange, so that strained frames (whose moments follow the volume) do not bias the
  constants of the reference lattice. At the reference volume (eps = 0, the spin Monte Carlo
  lattice) they vanish; :func:`~mmace_fast.baseline.model.to_spin_hamiltonian` on a strained
  cell folds them into a_2 and J.

Units of parameters: J, D in eV/muB^2, B in eV/muB^4, Ku eV/muB^2, Kc eV/muB^4, a_2k eV/muB^2k,
E0 eV, c_k eV/atom. Forces on atoms are not part of this model (fixed lattice): its design
has energies and magnetic forces only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mmace_fast.baseline.design import FrameDesign, Param
from mmace_fast.baseline.geometry import (BaselineInputError, Neighbours, Structure,
                                          neighbours, species_pair)
from mmace_fast.baseline.shells import Assignment, ShellTable

log = logging.getLogger(__name__)

DMI_MODES = ("none", "free", "bulk")
_E = np.eye(3)


@dataclass
class FixedLatticeSpec:
    """Which terms the fixed-lattice model has.

    species            all species (each gets E0)
    magnetic_species   species carrying exchange, anisotropy and Landau terms
    n_shells           exchange shells per magnetic species pair (int or {pair: int})
    biquadratic_shells biquadratic B on the first k shells (0 = off)
    dmi, dmi_shells    DMI mode (none / free / bulk) on the first k shells
    uniaxial, axis     single-ion -Ku (m.n)^2 per magnetic species, n = axis
    cubic              single-ion -Kc sum m_a^4 per magnetic species
    landau_order       powers |m|^2 .. |m|^(2K) per magnetic species (0 = off)
    volume_order       eps, eps^2, ... background (0 = off)
    lattice_background shear-strain and displacement background terms
    landau_volume_order, exchange_volume_order   magneto-volume couplings (0 = off)
    scale_with_volume  scale the shell bins by the frame's (v / v_ref)^(1/3)
    parent_shells      exchange shells on the parent (species-blind) lattice of the reference
    chemical_shells    unlike-pair count background on the first k parent shells (0 = off)
    assign             "ideal" (map to ideal lattice sites, fallback bins) or "bins"
    shell_tol          A, distances closer than this are one shell on the reference
    """

    species: tuple
    magnetic_species: tuple
    n_shells: object = 2
    biquadratic_shells: int = 0
    dmi: str = "none"
    dmi_shells: int = 1
    uniaxial: bool = False
    axis: tuple = (0.0, 0.0, 1.0)
    cubic: bool = False
    landau_order: int = 2
    volume_order: int = 2
    lattice_background: bool = True
    landau_volume_order: int = 1
    exchange_volume_order: int = 0
    scale_with_volume: bool = True
    parent_shells: bool = False
    chemical_shells: int = 0
    shell_tol: float = 1e-3
    assign: str = "ideal"

    def __post_init__(self):
        self.species = tuple(sorted(int(z) for z in self.species))
        self.magnetic_species = tuple(sorted(int(z) for z in self.magnetic_species))
        if not set(self.magnetic_species) <= set(self.species):
            raise BaselineInputError("magnetic_species must be a subset of species")
        if self.dmi not in DMI_MODES:
            raise BaselineInputError(f"dmi must be one of {DMI_MODES}, got {self.dmi!r}")
        if self.assign not in ("ideal", "bins"):
            raise BaselineInputError(f"assign must be 'ideal' or 'bins', got {self.assign!r}")
        if min(self.landau_order, self.volume_order, self.landau_volume_order,
               self.exchange_volume_order, self.chemical_shells) < 0:
            raise BaselineInputError("orders must be >= 0")
        ax = np.asarray(self.axis, dtype=float)
        if ax.shape != (3,) or np.linalg.norm(ax) == 0:
            raise BaselineInputError("axis must be a non-zero 3-vector")
        self.axis = tuple(ax / np.linalg.norm(ax))

    @property
    def magnetic_pairs(self) -> list:
        ms = self.magnetic_species
        return [(a, b) for k, a in enumerate(ms) for b in ms[k:]]

    @property
    def unlike_pairs(self) -> list:
        sp = self.species
        return [(a, b) for k, a in enumerate(sp) for b in sp[k + 1:]]

    def to_dict(self) -> dict:
        d = dict(vars(self))
        if isinstance(d["n_shells"], dict):
            d["n_shells"] = {f"{a}-{b}": v for (a, b), v in d["n_shells"].items()}
        return d


@dataclass
class PreparedFrame:
    """Geometry of a frame, computed once for any number of moment configurations."""

    structure: Structure
    nb: Neighbours
    assign: Assignment
    eps: float               #: v / v_ref - 1
    strain: np.ndarray       # [3, 3] Green-Lagrange strain vs the ideal supercell (or None)
    disp: np.ndarray         # [n, 3] A displacements from ideal sites, mean removed (or None)
    bond_unit: np.ndarray    # [B, 3] unit vectors of the assigned bonds (i -> j)
    chem: Assignment = None  # unlike-pair bonds in the chemical shells (or None)


class FixedLatticeDesign:
    """Design-matrix builder of the fixed-lattice model on a reference lattice."""

    def __init__(self, spec: FixedLatticeSpec, reference: Structure):
        self.spec = spec
        self.reference = Structure.of(reference)
        missing = set(spec.magnetic_species) - set(self.reference.numbers.tolist())
        if missing:
            raise BaselineInputError(f"reference structure lacks magnetic species {missing}")
        n_max = self._shell_counts()
        self.shells = ShellTable.from_reference(self.reference, spec.magnetic_pairs, n_max,
                                                spec.shell_tol, parent=spec.parent_shells)
        self.chem_shells = None
        if spec.chemical_shells > 0 and spec.unlike_pairs:
            self.chem_shells = ShellTable.from_reference(self.reference, spec.unlike_pairs,
                                                         spec.chemical_shells, spec.shell_tol,
                                                         parent=True)
        self.params = self._build_params()
        self._slices = self._slices_by_kind()

    # ------------------------------------------------------------------ parameters
    def _shell_counts(self):
        s = self.spec
        need = max(s.biquadratic_shells, s.dmi_shells if s.dmi != "none" else 0)
        if isinstance(s.n_shells, dict):
            return {species_pair(*k): max(int(v), need) for k, v in s.n_shells.items()}
        return max(int(s.n_shells), need)

    def n_exchange_shells(self, pair) -> int:
        s = self.spec
        if isinstance(s.n_shells, dict):
            return int({species_pair(*k): v for k, v in s.n_shells.items()}.get(pair, 0))
        return int(s.n_shells)

    def _build_params(self) -> list:
        s = self.spec
        ps = [Param("e0", (z,), 0, unit="eV", penalty=1e-6) for z in s.species]
        ps += [Param("volume", (), k, unit="eV/atom") for k in range(1, s.volume_order + 1)]
        if s.lattice_background:
            ps += [Param("shear", (), k, unit="eV/atom") for k in range(2)]
            ps += [Param("rattle", (z,), 0, unit="eV/A^2") for z in s.species]
        if self.chem_shells is not None:
            ps += [Param("chem", pair, k, unit="eV/bond")
                   for pair, sh in self.chem_shells.pairs.items() for k in range(sh.n_shells)]
        for pair, sh in self.shells.pairs.items():
            ps += [Param("J", pair, k, unit="eV/muB^2")
                   for k in range(min(sh.n_shells, self.n_exchange_shells(pair)))]
        for pair, sh in self.shells.pairs.items():
            for k in range(min(sh.n_shells, self.n_exchange_shells(pair))):
                ps += [Param("J_v", pair, k, component=f"v{o}", unit="eV/muB^2")
                       for o in range(1, s.exchange_volume_order + 1)]
        for pair, sh in self.shells.pairs.items():
            ps += [Param("B", pair, k, unit="eV/muB^4")
                   for k in range(min(sh.n_shells, s.biquadratic_shells))]
        if s.dmi == "free":
            for pair, sh in self.shells.pairs.items():
                for k in range(min(sh.n_shells, s.dmi_shells)):
                    for d in range(len(sh.directions[k])):
                        ps += [Param("D", pair, k, component=f"d{d}{c}", unit="eV/muB^2")
                               for c in "xyz"]
        elif s.dmi == "bulk":
            for pair, sh in self.shells.pairs.items():
                ps += [Param("D", pair, k, component="bond", unit="eV/muB^2")
                       for k in range(min(sh.n_shells, s.dmi_shells))]
        for z in s.magnetic_species:
            if s.uniaxial:
                ps.append(Param("Ku", (z,), 0, unit="eV/muB^2"))
            if s.cubic:
                ps.append(Param("Kc", (z,), 0, unit="eV/muB^4"))
            ps += [Param("landau", (z,), 2 * k, unit=f"eV/muB^{2 * k}")
                   for k in range(1, s.landau_order + 1)]
            ps += [Param("landau_v", (z,), k, unit="eV/muB^2")
                   for k in range(1, s.landau_volume_order + 1)]
        return ps

    def _slices_by_kind(self) -> dict:
        out = {}
        for c, p in enumerate(self.params):
            out.setdefault(p.kind, []).append(c)
        return out

    def column(self, kind, species, index=0, component="") -> int:
        """Column of a parameter (raises KeyError if the model has none)."""
        target = Param(kind, tuple(species), index, component).name
        for c, p in enumerate(self.params):
            if p.name == target:
                return c
        raise KeyError(f"no parameter {target}")

    @property
    def n_params(self) -> int:
        return len(self.params)

    # ------------------------------------------------------------------ geometry
    def prepare(self, structure) -> PreparedFrame:
        """Neighbours and shell assignment of a frame (ideal-site mapping when the frame is a
        deformed supercell of the reference, else volume-scaled distance bins)."""
        st = Structure.of(structure)
        scale = self.shells.scale_of(st, self.spec.scale_with_volume)
        eps = 0.0
        if self.shells.volume_per_atom is not None and st.volume is not None:
            eps = st.volume / st.n_atoms / self.shells.volume_per_atom - 1.0
        ideal = self.shells.ideal_sites(st) if self.spec.assign == "ideal" else None
        tables = [t for t in (self.shells, self.chem_shells) if t is not None]
        if ideal is not None:
            dmax = max((p.distances[-1] for t in tables for p in t.pairs.values()), default=0.0)
            f_norm = np.linalg.norm(np.linalg.inv(ideal[2]), 2)          # max stretch of F
            cutoff = dmax * f_norm + 2 * ideal[3] + 1e-6
            nb = neighbours(st, max(cutoff, 1e-3))
            asg = self.shells.assign_ideal(st, nb, ideal[0], ideal[1])
            chem = (self.chem_shells.assign_ideal(st, nb, ideal[0], ideal[1])
                    if self.chem_shells is not None else None)
            f_t = np.linalg.inv(ideal[2])                                 # F^T
            strain = 0.5 * (f_t @ f_t.T - np.eye(3))                      # F^T F with F = f_t.T
            disp = st.positions @ ideal[2] - ideal[0]
            disp -= disp.mean(axis=0)
        else:
            if self.spec.assign == "ideal":
                log.debug("frame is not a deformed supercell of the reference: distance bins")
            cutoff = max(max(t.max_edge for t in tables) * scale, 1e-3) + 1e-6
            nb = neighbours(st, cutoff)
            asg = self.shells.assign(st, nb, scale)
            chem = (self.chem_shells.assign(st, nb, scale)
                    if self.chem_shells is not None else None)
            strain = disp = None
        vec = nb.vec[asg.edge]
        unit = vec / np.linalg.norm(vec, axis=1)[:, None]
        return PreparedFrame(st, nb, asg, float(eps), strain, disp, unit, chem)

    # ------------------------------------------------------------------ features
    def features(self, frame, magmoms, magforces: bool = True) -> FrameDesign:
        """Design block of one frame (a Structure-like or a :class:`PreparedFrame`) with
        moments ``magmoms`` [n, 3] muB: energy [p] and magnetic forces [n, 3, p]."""
        pf = frame if isinstance(frame, PreparedFrame) else self.prepare(frame)
        st = pf.structure
        m = np.asarray(magmoms, dtype=np.float64)
        if m.shape != (st.n_atoms, 3):
            raise BaselineInputError(f"magmoms has shape {m.shape}, expected ({st.n_atoms}, 3)")
        p = self.n_params
        x = np.zeros(p)
        mf = np.zeros((st.n_atoms, 3, p)) if magforces else None
        self._site_terms(st, m, pf.eps, x, mf)
        self._background(pf, x)
        self._pair_terms(pf, m, x, mf)
        return FrameDesign(energy=x, magforces=mf, n_atoms=st.n_atoms)

    def _chemical(self, pf: PreparedFrame, x):
        """Unlike-pair bond counts per chemical shell (pair once)."""
        if pf.chem is None or len(pf.chem.edge) == 0:
            return
        keys = pf.chem.keys
        for c in self._slices.get("chem", []):
            par = self.params[c]
            x[c] = np.sum((pf.chem.pair == keys.index(par.species)) & (pf.chem.shell == par.index))

    def _background(self, pf: PreparedFrame, x):
        self._chemical(pf, x)
        if not self.spec.lattice_background or pf.strain is None:
            return
        e = pf.strain
        n = pf.structure.n_atoms
        dev = np.diag(e) - np.trace(e) / 3.0
        inv = (np.sum(dev ** 2), 2.0 * (e[0, 1] ** 2 + e[0, 2] ** 2 + e[1, 2] ** 2))
        for c in self._slices.get("shear", []):
            x[c] = n * inv[self.params[c].index]
        u2 = np.sum(pf.disp ** 2, axis=1)
        for c in self._slices.get("rattle", []):
            x[c] = np.sum(u2[pf.structure.numbers == self.params[c].species[0]])

    def _site_terms(self, st, m, eps, x, mf):
        s = self.spec
        z = st.numbers
        for c in self._slices.get("e0", []):
            x[c] = np.sum(z == self.params[c].species[0])
        for c in self._slices.get("volume", []):
            x[c] = st.n_atoms * eps ** self.params[c].index
        r2 = np.sum(m * m, axis=1)                                       # [n] muB^2
        n_ax = np.asarray(s.axis)
        for kind in ("Ku", "Kc", "landau", "landau_v"):
            for c in self._slices.get(kind, []):
                par = self.params[c]
                sel = z == par.species[0]
                ms = m[sel]
                if kind == "Ku":
                    proj = ms @ n_ax
                    x[c] = -np.sum(proj ** 2)
                    g = 2.0 * proj[:, None] * n_ax[None, :]
                elif kind == "Kc":
                    x[c] = -np.sum(ms ** 4)
                    g = 4.0 * ms ** 3
                elif kind == "landau_v":
                    f = eps ** par.index
                    x[c] = f * np.sum(r2[sel])
                    g = -2.0 * f * ms
                else:
                    k = par.index // 2
                    x[c] = np.sum(r2[sel] ** k)
                    g = -2.0 * k * (r2[sel] ** (k - 1))[:, None] * ms
                if mf is not None:
                    mf[sel, :, c] = g

    def _table(self, kind, component_of):
        """Lookup array [n_pairs, n_shells, n_dir] -> column (-1 absent) for pair terms;
        component_of(param) gives the direction index (or 0) when the param matches."""
        keys = list(self.shells.pairs)
        n_sh = max((ps.n_shells for ps in self.shells.pairs.values()), default=0)
        n_dir = max((len(d) for ps in self.shells.pairs.values() for d in ps.directions),
                    default=1)
        table = np.full((max(len(keys), 1), max(n_sh, 1), max(n_dir, 1)), -1, dtype=np.int64)
        for c in self._slices.get(kind, []):
            par = self.params[c]
            d = component_of(par)
            if d is not None:
                table[keys.index(par.species), par.index, d] = c
        return table

    def _dmi_columns(self, asg: Assignment, comp: str):
        """Column per assigned bond of the free-DMI component ``comp`` (-1 absent)."""
        cache = self.__dict__.setdefault("_dmi_tables", {})
        if comp not in cache:
            cache[comp] = self._table(
                "D", lambda p: int(p.component[1:-1]) if p.component.endswith(comp) else None)
        if len(asg.pair) == 0:
            return np.zeros(0, dtype=np.int64)
        return cache[comp][asg.pair, asg.shell, asg.direction]

    def _pair_columns(self, kind, asg: Assignment, component: str = ""):
        """Column index per assigned bond for J / J_v / B / bulk-D (-1 where absent)."""
        cache = self.__dict__.setdefault("_pair_tables", {})
        if (kind, component) not in cache:
            cache[(kind, component)] = self._table(
                kind, lambda p: 0 if p.component in (component, "bond") else None)
        if len(asg.pair) == 0:
            return np.zeros(0, dtype=np.int64)
        return cache[(kind, component)][asg.pair, asg.shell, 0]

    def _pair_terms(self, pf: PreparedFrame, m, x, mf):
        asg, nb = pf.assign, pf.nb
        if len(asg.edge) == 0:
            return
        i, j = nb.i[asg.edge], nb.j[asg.edge]
        mi, mj = m[i], m[j]
        dot = np.sum(mi * mj, axis=1)                                    # [B] muB^2
        terms = [("J", "", 1.0), ("B", "", 1.0)]
        terms += [("J_v", f"v{o}", pf.eps ** o)
                  for o in range(1, self.spec.exchange_volume_order + 1)]
        for kind, comp, fac in terms:
            col = self._pair_columns(kind, asg, comp)
            ok = col >= 0
            if not ok.any():
                continue
            if kind != "B":
                np.add.at(x, col[ok], -fac * dot[ok])
                gi, gj = fac * mj, fac * mi                               # -dx/dm_i = +m_j
            else:
                np.add.at(x, col[ok], -dot[ok] ** 2)
                gi, gj = 2 * dot[:, None] * mj, 2 * dot[:, None] * mi
            if mf is not None:
                np.add.at(mf, (i[ok], slice(None), col[ok]), gi[ok])
                np.add.at(mf, (j[ok], slice(None), col[ok]), gj[ok])
        if self.spec.dmi == "free":
            self._dmi_free(pf, i, j, mi, mj, x, mf)
        elif self.spec.dmi == "bulk":
            self._dmi_bulk(pf, i, j, mi, mj, x, mf)

    def _dmi_free(self, pf, i, j, mi, mj, x, mf):
        asg = pf.assign
        cross = np.cross(mi, mj)                                         # [B, 3]
        for a, comp in enumerate("xyz"):
            col = self._dmi_columns(asg, comp)
            ok = col >= 0
            if not ok.any():
                continue
            o = asg.orient[ok]
            np.add.at(x, col[ok], -o * cross[ok, a])
            if mf is not None:
                gi = o[:, None] * np.cross(mj[ok], _E[a])                # d(m_i x m_j)_a/dm_i
                gj = o[:, None] * np.cross(_E[a], mi[ok])
                np.add.at(mf, (i[ok], slice(None), col[ok]), gi)
                np.add.at(mf, (j[ok], slice(None), col[ok]), gj)

    def _dmi_bulk(self, pf, i, j, mi, mj, x, mf):
        col = self._pair_columns("D", pf.assign)
        ok = col >= 0
        if not ok.any():
            return
        u = pf.bond_unit[ok]
        np.add.at(x, col[ok], -np.sum(u * np.cross(mi[ok], mj[ok]), axis=1))
        if mf is not None:
            np.add.at(mf, (i[ok], slice(None), col[ok]), np.cross(mj[ok], u))
            np.add.at(mf, (j[ok], slice(None), col[ok]), np.cross(u, mi[ok]))

    # ------------------------------------------------------------------ bond couplings
    def bond_couplings(self, pf: PreparedFrame, theta) -> dict:
        """Per assigned bond (pair once) the couplings of parameters ``theta``: J [B], B [B],
        T [B, 3, 3] (DMI as the antisymmetric tensor of E = -m_i^T T m_j), and i, j [B]."""
        theta = np.asarray(theta, dtype=np.float64)
        asg, nb = pf.assign, pf.nb
        nbond = len(asg.edge)
        out = {"i": nb.i[asg.edge], "j": nb.j[asg.edge], "J": np.zeros(nbond),
               "B": np.zeros(nbond), "T": np.zeros((nbond, 3, 3))}
        for kind in ("J", "B"):
            col = self._pair_columns(kind, asg)
            ok = col >= 0
            out[kind][ok] = theta[col[ok]]
        for o in range(1, self.spec.exchange_volume_order + 1):
            col = self._pair_columns("J_v", asg, f"v{o}")
            ok = col >= 0
            out["J"][ok] += theta[col[ok]] * pf.eps ** o
        dvec = np.zeros((nbond, 3))                                       # D_ij, (i, j) order
        if self.spec.dmi == "free":
            for a, comp in enumerate("xyz"):
                col = self._dmi_columns(asg, comp)
                ok = col >= 0
                dvec[ok, a] = asg.orient[ok] * theta[col[ok]]
        elif self.spec.dmi == "bulk":
            col = self._pair_columns("D", asg)
            ok = col >= 0
            dvec[ok] = theta[col[ok]][:, None] * pf.bond_unit[ok]
        out["T"] = dmi_tensor(dvec)
        return out


def dmi_tensor(d):
    """D [B, 3] -> antisymmetric T [B, 3, 3] with m_i^T T m_j = D.(m_i x m_j)."""
    d = np.asarray(d, dtype=np.float64).reshape(-1, 3)
    t = np.zeros((len(d), 3, 3))
    t[:, 0, 1], t[:, 1, 0] = d[:, 2], -d[:, 2]
    t[:, 1, 2], t[:, 2, 1] = d[:, 0], -d[:, 0]
    t[:, 2, 0], t[:, 0, 2] = d[:, 1], -d[:, 1]
    return t
