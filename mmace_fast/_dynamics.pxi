# Spin dynamics wrapper (included by _core.pyx; declarations in _cpp.pxd).
from mmace_fast._cpp cimport LLGSettings, SpinDynamics


cdef extern from *:
    """
    #include "mmace/spin_dynamics.hpp"
    static inline void mmace_llg_get_rng(mmace::SpinDynamics& d, unsigned long long* out) {
        const auto& s = d.rng().state();
        for (int k = 0; k < 4; ++k) out[k] = s[k];
    }
    static inline void mmace_llg_set_rng(mmace::SpinDynamics& d, const unsigned long long* in) {
        mmace::Rng::state_t s;
        for (int k = 0; k < 4; ++k) s[k] = in[k];
        d.rng().set_state(s);
    }
    """
    void mmace_llg_get_rng(SpinDynamics& d, unsigned long long* out)
    void mmace_llg_set_rng(SpinDynamics& d, const unsigned long long* inp)


cdef class SpinDynamicsCore:
    """Stochastic spin dynamics of a Hamiltonian's moments (src_cpp/include/mmace/spin_dynamics.hpp).

    Settings: dt (fs), gamma (rad / (fs eV)), alpha, kT (eV), longitudinal (bool), eta. The
    moments live in the Hamiltonian (set_spins / get_spins there); run() reads them, integrates
    and writes them back.
    """
    cdef unique_ptr[SpinDynamics] d
    cdef readonly HamiltonianBase hamiltonian

    def __cinit__(self, HamiltonianBase hamiltonian, uint64_t seed, uint64_t stream=0):
        self.hamiltonian = hamiltonian
        self.d.reset(new SpinDynamics(hamiltonian.ptr()[0], seed, stream))

    def get_settings(self):
        cdef const LLGSettings* s = &self.d.get().settings()
        return dict(dt=s.dt, gamma=s.gamma, alpha=s.alpha, kT=s.kT,
                    longitudinal=bool(s.longitudinal), eta=s.eta)

    def set_settings(self, **kw):
        cur = self.get_settings()
        unknown = set(kw) - set(cur)
        if unknown:
            raise ValueError(f"unknown spin dynamics settings: {sorted(unknown)}")
        cur.update(kw)
        cdef LLGSettings s
        s.dt = float(cur["dt"])
        s.gamma = float(cur["gamma"])
        s.alpha = float(cur["alpha"])
        s.kT = float(cur["kT"])
        s.longitudinal = bool(cur["longitudinal"])
        s.eta = float(cur["eta"])
        self.d.get().set_settings(s)

    def run(self, int64_t n_steps, int64_t sample_every=0):
        """n_steps steps; returns (E [k] eV, M [k, 3] per-site mean moment) sampled every
        sample_every steps (none if 0)."""
        if n_steps < 0 or sample_every < 0:
            raise ValueError("n_steps and sample_every must be >= 0")
        cdef int64_t k = n_steps // sample_every if sample_every > 0 else 0
        e = np.empty(k)
        m = np.empty((k, 3))
        cdef double[::1] ev = e
        cdef double[:, ::1] mv = m
        cdef double* ep = &ev[0] if k > 0 else NULL
        cdef double* mp = &mv[0, 0] if k > 0 else NULL
        cdef SpinDynamics* d = self.d.get()
        cdef int64_t got
        with nogil:
            got = d.run(n_steps, sample_every, ep, mp, k)
        return e[:got], m[:got]

    @property
    def steps(self):
        return self.d.get().steps()

    @steps.setter
    def steps(self, int64_t n):
        if n < 0:
            raise ValueError("steps must be >= 0")
        self.d.get().set_steps(n)

    def get_last_noise(self):
        """The longitudinal integrator's last standard-normal draw [n, 3], or None."""
        cdef const double* p = self.d.get().last_noise()
        if p == NULL:
            return None
        n = self.hamiltonian.n_sites
        out = np.empty((n, 3))
        cdef double[:, ::1] ov = out
        cdef Py_ssize_t k
        for k in range(3 * n):
            ov[k // 3, k % 3] = p[k]
        return out

    def set_last_noise(self, xi):
        if xi is None:
            self.d.get().set_last_noise(NULL)
            return
        a = _as_array(xi, (self.hamiltonian.n_sites, 3), "last noise")
        cdef double[:, ::1] av = a
        self.d.get().set_last_noise(&av[0, 0])

    def get_rng_state(self):
        out = np.empty(4, dtype=np.uint64)
        cdef unsigned long long[::1] ov = out
        mmace_llg_get_rng(self.d.get()[0], &ov[0])
        return out

    def set_rng_state(self, state):
        a = np.ascontiguousarray(state, dtype=np.uint64)
        if a.shape != (4,):
            raise ValueError("RNG state must be 4 uint64 words")
        if not a.any():
            raise ValueError("RNG state of all zeros is invalid")
        cdef unsigned long long[::1] av = a
        mmace_llg_set_rng(self.d.get()[0], &av[0])
