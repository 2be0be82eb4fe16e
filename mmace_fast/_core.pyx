# cython: language_level=3
"""Thin Cython layer over the C++ core in src_cpp/ (neighbour list, spin Hamiltonian, Monte Carlo).

Inputs are validated for shape here and for values in C++ (which raises ValueError through
``except +`` on bad input); hot loops run with the GIL released and write into arrays allocated
once per call.
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport unique_ptr

from mmace_fast._cpp cimport (
    Hamiltonian, MCSettings, MonteCarlo, N_STAT, NeighbourList, PairInput, SiteInput,
    SpinHamiltonian, Vec3, build_neighbour_list, mmace_get_rng_state, mmace_set_rng_state,
)

MOVE_NAMES = ("uniform", "gaussian", "flip", "hinzke_nowak")
STAT_NAMES = ("uniform", "gaussian", "flip", "longitudinal", "wolff", "overrelax")


def _as_array(x, shape, name, dtype=np.float64):
    a = np.ascontiguousarray(x, dtype=dtype)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    return a


def neighbour_list(positions, cell, pbc, double cutoff):
    """Full directed neighbour list.

    positions [n, 3] A, cell [3, 3] A (rows are lattice vectors), pbc [3] bool, cutoff A.
    Returns (i [P] int64, j [P] int64, shifts [P, 3] int64, dist [P] A) with
    r_ij = positions[j] - positions[i] + shifts @ cell; pairs sorted by i.
    """
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions has shape {pos.shape}, expected (n, 3)")
    c = _as_array(cell, (3, 3), "cell")
    p = np.asarray(pbc, dtype=bool).reshape(-1)
    if p.shape == (1,):
        p = np.repeat(p, 3)
    if p.shape != (3,):
        raise ValueError(f"pbc has shape {p.shape}, expected (3,)")
    cdef cbool cp[3]
    for d in range(3):
        cp[d] = bool(p[d])
    cdef double[:, ::1] pv = pos
    cdef double[:, ::1] cv = c
    cdef int32_t n = pos.shape[0]
    cdef NeighbourList nl
    cdef const double* pptr = &pv[0, 0] if n > 0 else NULL
    with nogil:
        nl = build_neighbour_list(pptr, n, &cv[0, 0], cp, cutoff)
    cdef Py_ssize_t npairs = nl.size(), k
    i_out = np.empty(npairs, dtype=np.int64)
    j_out = np.empty(npairs, dtype=np.int64)
    s_out = np.empty((npairs, 3), dtype=np.int64)
    d_out = np.empty(npairs, dtype=np.float64)
    cdef int64_t[::1] iv = i_out
    cdef int64_t[::1] jv = j_out
    cdef int64_t[:, ::1] sv = s_out
    cdef double[::1] dv = d_out
    for k in range(npairs):
        iv[k] = nl.first[k]
        jv[k] = nl.second[k]
        sv[k, 0] = nl.shifts[3 * k]
        sv[k, 1] = nl.shifts[3 * k + 1]
        sv[k, 2] = nl.shifts[3 * k + 2]
        dv[k] = nl.dist[k]
    return i_out, j_out, s_out, d_out


cdef class HamiltonianBase:
    """Base of every Hamiltonian wrapper that the Monte Carlo engine can drive."""
    cdef Hamiltonian* ptr(self) except NULL:
        raise TypeError("abstract Hamiltonian")

    @property
    def n_sites(self):
        return self.ptr().n_sites()

    @property
    def variable_length(self):
        """True if the energy depends on moment lengths (longitudinal terms)."""
        return bool(self.ptr().variable_length())

    def set_spins(self, spins):
        """Set all moments, [n, 3] muB."""
        m = _as_array(spins, (self.n_sites, 3), "spins")
        cdef double[:, ::1] mv = m
        self.ptr().set_spins(&mv[0, 0])

    def get_spins(self):
        """Copy of the moments, [n, 3] muB."""
        out = np.empty((self.n_sites, 3))
        cdef double[:, ::1] ov = out
        self.ptr().get_spins(&ov[0, 0])
        return out

    def total_energy(self):
        """Total energy, eV."""
        cdef double e
        cdef Hamiltonian* h = self.ptr()
        with nogil:
            e = h.total_energy()
        return e

    def site_energies(self):
        """Site energies [n] eV; they sum to the total energy."""
        out = np.empty(self.n_sites)
        cdef double[::1] ov = out
        cdef Hamiltonian* h = self.ptr()
        with nogil:
            h.site_energies(&ov[0])
        return out

    def effective_field(self):
        """-dE/dm [n, 3] eV/muB."""
        out = np.empty((self.n_sites, 3))
        cdef double[:, ::1] ov = out
        cdef Hamiltonian* h = self.ptr()
        with nogil:
            h.effective_field(&ov[0, 0])
        return out

    def field_at(self, spins):
        """-dE/dm [n, 3] eV/muB at the moments ``spins`` [n, 3] (the state is not changed)."""
        m = _as_array(spins, (self.n_sites, 3), "spins")
        out = np.empty((self.n_sites, 3))
        cdef double[:, ::1] mv = m
        cdef double[:, ::1] ov = out
        cdef Hamiltonian* h = self.ptr()
        with nogil:
            h.field_at(&mv[0, 0], &ov[0, 0])
        return out

    cdef Vec3 _trial(self, int32_t i, m_new) except *:
        if not 0 <= i < self.n_sites:
            raise IndexError(f"site {i} out of range [0, {self.n_sites})")
        v = _as_array(m_new, (3,), "m_new")
        if not np.all(np.isfinite(v)):
            raise ValueError("non-finite trial moment")
        return Vec3(v[0], v[1], v[2])

    def delta_energy(self, int32_t i, m_new):
        """Energy change (eV) if moment i became m_new; the state is left unchanged."""
        cdef Vec3 t = self._trial(i, m_new)
        cdef Hamiltonian* h = self.ptr()
        cdef double de = h.propose(i, t)
        h.reject()
        return de

    def move(self, int32_t i, m_new):
        """Apply moment i -> m_new through propose/accept; returns dE (eV)."""
        cdef Vec3 t = self._trial(i, m_new)
        cdef Hamiltonian* h = self.ptr()
        cdef double de = h.propose(i, t)
        h.accept()
        return de

def _opt(a, shape, name):
    if a is None:
        return None
    return _as_array(a, shape, name)


cdef const double* _ptr1(object a) except? NULL:
    cdef double[::1] v
    if a is None:
        return NULL
    v = a
    return &v[0] if v.shape[0] > 0 else NULL


cdef class SpinHamiltonianCore(HamiltonianBase):
    """Classical spin Hamiltonian (see src_cpp/include/mmace/spin_hamiltonian.hpp).

    Pairs are given once per unordered pair: pair_i, pair_j [P] site indices; J [P] eV/muB^2
    (isotropic, H = -J m_i.m_j), T [P, 3, 3] (E = -m_i^T T m_j), B [P] biquadratic. Per-site
    terms: Ku [n], axis [n, 3], Kc [n], field [n, 3], a2/a4/a6 [n].
    """
    cdef unique_ptr[SpinHamiltonian] h
    cdef object _keep

    def __cinit__(self, int32_t n_sites, pair_i, pair_j, J=None, T=None, B=None, Ku=None,
                  axis=None, Kc=None, field=None, a2=None, a4=None, a6=None):
        pi = np.ascontiguousarray(pair_i, dtype=np.int32).reshape(-1)
        pj = np.ascontiguousarray(pair_j, dtype=np.int32).reshape(-1)
        cdef Py_ssize_t npairs = pi.shape[0]
        if pj.shape[0] != npairs:
            raise ValueError("pair_i and pair_j differ in length")
        Ja = _opt(J, (npairs,), "J")
        Ta = _opt(T, (npairs, 3, 3), "T")
        Ba = _opt(B, (npairs,), "B")
        n = n_sites
        arrays = dict(Ku=_opt(Ku, (n,), "Ku"), axis=_opt(axis, (n, 3), "axis"),
                      Kc=_opt(Kc, (n,), "Kc"), field=_opt(field, (n, 3), "field"),
                      a2=_opt(a2, (n,), "a2"), a4=_opt(a4, (n,), "a4"), a6=_opt(a6, (n,), "a6"))
        self._keep = (pi, pj, Ja, Ta, Ba, arrays)
        cdef int32_t[::1] piv = pi
        cdef int32_t[::1] pjv = pj
        cdef PairInput p
        cdef SiteInput s
        p.n_pairs = npairs
        p.i = &piv[0] if npairs > 0 else NULL
        p.j = &pjv[0] if npairs > 0 else NULL
        p.J = _ptr1(Ja)
        p.T = _ptr1(None if Ta is None else Ta.reshape(-1))
        p.B = _ptr1(Ba)
        s.Ku = _ptr1(arrays["Ku"])
        s.axis = _ptr1(None if arrays["axis"] is None else arrays["axis"].reshape(-1))
        s.Kc = _ptr1(arrays["Kc"])
        s.field = _ptr1(None if arrays["field"] is None else arrays["field"].reshape(-1))
        s.a2 = _ptr1(arrays["a2"])
        s.a4 = _ptr1(arrays["a4"])
        s.a6 = _ptr1(arrays["a6"])
        self.h.reset(new SpinHamiltonian(n_sites, p, s))
        self._keep = None

    cdef Hamiltonian* ptr(self) except NULL:
        return self.h.get()

    @property
    def wolff_compatible(self):
        return bool(self.h.get().wolff_compatible())


cdef class MonteCarloCore:
    """Metropolis / Wolff engine over a Hamiltonian (see src_cpp/include/mmace/montecarlo.hpp)."""
    cdef unique_ptr[MonteCarlo] mc
    cdef readonly HamiltonianBase hamiltonian
    cdef object _surrogate

    def __cinit__(self, HamiltonianBase hamiltonian, uint64_t seed, uint64_t stream=0):
        self.hamiltonian = hamiltonian
        self.mc.reset(new MonteCarlo(hamiltonian.ptr()[0], seed, stream))

    @property
    def temperature(self):
        return self.mc.get().temperature()

    @temperature.setter
    def temperature(self, double kelvin):
        self.mc.get().set_temperature(kelvin)

    def set_sublattice_signs(self, signs):
        """Staggered-order weights: [n] (one pattern) or [n_patterns, n] (one staggered vector
        per pattern)."""
        a = np.asarray(signs, dtype=np.float64)
        n_patterns = 1 if a.ndim == 1 else a.shape[0]
        s = _as_array(a.reshape(-1), (n_patterns * self.hamiltonian.n_sites,), "sublattice signs")
        cdef double[::1] sv = s
        self.mc.get().set_sublattice_signs(&sv[0], n_patterns)

    @property
    def n_patterns(self):
        """Number of staggered-order patterns (columns of Ms: 3 x n_patterns)."""
        return self.mc.get().n_patterns()

    def set_active_sites(self, sites):
        """Restrict Metropolis trials and the magnetisation observables to ``sites`` (sorted
        unique indices)."""
        a = np.ascontiguousarray(np.asarray(sites, dtype=np.int32).reshape(-1))
        if a.shape[0] == 0:
            raise ValueError("at least one active site is needed")
        cdef int32_t[::1] av = a
        self.mc.get().set_active_sites(&av[0], <int32_t>a.shape[0])

    def set_surrogate(self, HamiltonianBase surrogate):
        """Delayed acceptance: screen trials with ``surrogate`` (None switches it off)."""
        if surrogate is None:
            self.mc.get().set_surrogate(NULL)
            self._surrogate = None
            return
        self.mc.get().set_surrogate(surrogate.ptr())
        self._surrogate = surrogate      # keep the C++ object alive

    def get_da_counters(self):
        """(screened, exact): trials rejected by the surrogate stage / that reached the exact dE."""
        return int(self.mc.get().da_screened()), int(self.mc.get().da_exact())

    def set_da_counters(self, uint64_t screened, uint64_t exact):
        self.mc.get().set_da_counters(screened, exact)

    def get_active_sites(self):
        cdef MonteCarlo* mc = self.mc.get()
        cdef Py_ssize_t n = mc.active_sites().size(), k
        out = np.empty(n, dtype=np.int64)
        cdef int64_t[::1] ov = out
        for k in range(n):
            ov[k] = mc.active_sites()[k]
        return out

    def get_settings(self):
        cdef const MCSettings* s = &self.mc.get().settings()
        return dict(move=MOVE_NAMES[s.move], sigma=s.sigma, p_longitudinal=s.p_longitudinal,
                    sigma_long=s.sigma_long, random_order=bool(s.random_order),
                    metropolis=bool(s.metropolis), wolff_per_sweep=s.wolff_per_sweep,
                    overrelax_per_sweep=s.overrelax_per_sweep,
                    target_acceptance=s.target_acceptance)

    def set_settings(self, **kw):
        cur = self.get_settings()
        unknown = set(kw) - set(cur)
        if unknown:
            raise ValueError(f"unknown Monte Carlo settings: {sorted(unknown)}")
        cur.update(kw)
        if cur["move"] not in MOVE_NAMES:
            raise ValueError(f"unknown move {cur['move']!r}; choose from {MOVE_NAMES}")
        cdef MCSettings s
        s.move = MOVE_NAMES.index(cur["move"])
        s.sigma = float(cur["sigma"])
        s.p_longitudinal = float(cur["p_longitudinal"])
        s.sigma_long = float(cur["sigma_long"])
        s.random_order = bool(cur["random_order"])
        s.metropolis = bool(cur["metropolis"])
        s.wolff_per_sweep = int(cur["wolff_per_sweep"])
        s.overrelax_per_sweep = int(cur["overrelax_per_sweep"])
        s.target_acceptance = float(cur["target_acceptance"])
        self.mc.get().set_settings(s)

    def run(self, int64_t n_steps, int64_t sample_every=1, bint adapt=False,
            bint resync=True):
        """Run n_steps MC steps (a Metropolis sweep and/or Wolff clusters each).

        Returns (E [k] eV total, M [k, 3] muB per site, Ms [k, 3 n_patterns] staggered, muB per
        site, pattern-major) with
        k = n_steps // sample_every samples (none if sample_every == 0). resync=False keeps the
        cached energies of the previous run (valid only if nothing but the temperature and the
        move widths changed since: see MonteCarlo::run).
        """
        if n_steps < 0 or sample_every < 0:
            raise ValueError("n_steps and sample_every must be >= 0")
        cdef int64_t k = n_steps // sample_every if sample_every > 0 else 0
        e = np.empty(k)
        m = np.empty((k, 3))
        ms = np.empty((k, 3 * self.mc.get().n_patterns()))
        cdef double[::1] ev = e
        cdef double[:, ::1] mv = m
        cdef double[:, ::1] msv = ms
        cdef double* ep = &ev[0] if k > 0 else NULL
        cdef double* mp = &mv[0, 0] if k > 0 else NULL
        cdef double* msp = &msv[0, 0] if k > 0 else NULL
        cdef MonteCarlo* mc = self.mc.get()
        cdef int64_t got
        with nogil:
            got = mc.run(n_steps, sample_every, adapt, ep, mp, msp, k, resync)
        return e[:got], m[:got], ms[:got]

    def resync(self):
        self.mc.get().resync()

    @property
    def energy(self):
        """Tracked total energy (eV)."""
        return self.mc.get().energy()

    def get_rng_state(self):
        out = np.empty(4, dtype=np.uint64)
        cdef unsigned long long[::1] ov = out
        mmace_get_rng_state(self.mc.get()[0], &ov[0])
        return out

    def set_rng_state(self, state):
        a = np.ascontiguousarray(state, dtype=np.uint64)
        if a.shape != (4,):
            raise ValueError("RNG state must be 4 uint64 words")
        if not a.any():
            raise ValueError("RNG state of all zeros is invalid")
        cdef unsigned long long[::1] av = a
        mmace_set_rng_state(self.mc.get()[0], &av[0])

    def get_stats(self):
        """(tried [N_STAT], accepted [N_STAT]) counters per move kind (see STAT_NAMES)."""
        cdef const uint64_t* t = self.mc.get().tried()
        cdef const uint64_t* a = self.mc.get().accepted()
        return (np.array([t[k] for k in range(N_STAT)], dtype=np.uint64),
                np.array([a[k] for k in range(N_STAT)], dtype=np.uint64))

    def set_stats(self, tried, accepted):
        t = np.ascontiguousarray(tried, dtype=np.uint64)
        a = np.ascontiguousarray(accepted, dtype=np.uint64)
        if t.shape != (N_STAT,) or a.shape != (N_STAT,):
            raise ValueError(f"stats must have {N_STAT} entries")
        cdef uint64_t[::1] tv = t
        cdef uint64_t[::1] av = a
        self.mc.get().set_stats(&tv[0], &av[0])

    def reset_stats(self):
        self.mc.get().reset_stats()


# Frozen mMACE evaluator wrappers (owned separately; declarations and cdef classes live there).
include "_evaluator.pxi"

# Spin dynamics (stochastic LLG, Ma-Dudarev Langevin).
include "_dynamics.pxi"

# The mean of K Hamiltonians (a committee sampled as one chain).
include "_committee.pxi"
