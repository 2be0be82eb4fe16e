# Declarations of the C++ core (src_cpp/include/mmace), shared by the Cython wrappers.
from libc.stdint cimport int32_t, int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.vector cimport vector
from libcpp.memory cimport unique_ptr


cdef extern from "mmace/types.hpp" namespace "mmace":
    cdef cppclass Vec3:
        Vec3()
        Vec3(double, double, double)


cdef extern from "mmace/neighbour_list.hpp" namespace "mmace":
    cdef cppclass NeighbourList:
        vector[int32_t] first
        vector[int32_t] second
        vector[int32_t] shifts
        vector[double] dist
        size_t size()
    NeighbourList build_neighbour_list(const double* positions, int32_t n, const double* cell,
                                       const cbool* pbc, double cutoff) except + nogil


cdef extern from "mmace/hamiltonian.hpp" namespace "mmace":
    cdef cppclass Hamiltonian:
        int32_t n_sites()
        void set_spins(const double* m) except +
        void get_spins(double* out)
        double total_energy() nogil
        void site_energies(double* out) nogil
        void effective_field(double* out) except + nogil
        void field_at(const double* m, double* out) except + nogil
        double propose(int32_t i, const Vec3& m_new) except + nogil
        void accept() except + nogil
        void reject() except + nogil
        cbool variable_length()


cdef extern from "mmace/spin_hamiltonian.hpp" namespace "mmace":
    cdef cppclass PairInput:
        const int32_t* i
        const int32_t* j
        const double* J
        const double* T
        const double* B
        size_t n_pairs
    cdef cppclass SiteInput:
        const double* Ku
        const double* axis
        const double* Kc
        const double* field
        const double* a2
        const double* a4
        const double* a6
    cdef cppclass SpinHamiltonian(Hamiltonian):
        SpinHamiltonian(int32_t n_sites, const PairInput& pairs, const SiteInput& sites) except +
        double delta_energy(int32_t i, const Vec3& m_new) nogil
        cbool wolff_compatible()


cdef extern from "mmace/rng.hpp" namespace "mmace":
    cdef cppclass Rng:
        uint64_t next_u64() nogil
        double uniform() nogil


cdef extern from "mmace/montecarlo.hpp" namespace "mmace":
    cdef int N_STAT
    cdef cppclass MCSettings:
        int move
        double sigma
        double p_longitudinal
        double sigma_long
        cbool random_order
        cbool metropolis
        int wolff_per_sweep
        int overrelax_per_sweep
        double target_acceptance
    cdef cppclass MonteCarlo:
        MonteCarlo(Hamiltonian& h, uint64_t seed, uint64_t stream) except +
        void set_temperature(double kelvin) except +
        double temperature()
        void set_sublattice_signs(const double* s, int n_patterns) except +
        int n_patterns()
        void set_active_sites(const int32_t* idx, int32_t n_active) except +
        void set_surrogate(Hamiltonian* s) except +
        cbool has_surrogate()
        uint64_t da_screened()
        uint64_t da_exact()
        void set_da_counters(uint64_t screened, uint64_t exact)
        const vector[int32_t]& active_sites()
        void set_settings(const MCSettings& s) except +
        const MCSettings& settings()
        int64_t run(int64_t n_steps, int64_t sample_every, cbool adapt, double* e_out,
                    double* m_out, double* ms_out, int64_t max_samples,
                    cbool resync_first) except + nogil
        void resync() except +
        double energy()
        Rng& rng()
        const uint64_t* tried()
        const uint64_t* accepted()
        void reset_stats()
        void set_stats(const uint64_t* tried, const uint64_t* accepted)


cdef extern from *:
    """
    #include "mmace/rng.hpp"
    #include "mmace/montecarlo.hpp"
    static inline void mmace_get_rng_state(mmace::MonteCarlo& mc, unsigned long long* out) {
        const auto& s = mc.rng().state();
        for (int k = 0; k < 4; ++k) out[k] = s[k];
    }
    static inline void mmace_set_rng_state(mmace::MonteCarlo& mc, const unsigned long long* in) {
        mmace::Rng::state_t s;
        for (int k = 0; k < 4; ++k) s[k] = in[k];
        mc.rng().set_state(s);
    }
    """
    void mmace_get_rng_state(MonteCarlo& mc, unsigned long long* out)
    void mmace_set_rng_state(MonteCarlo& mc, const unsigned long long* inp)


cdef extern from "mmace/spin_dynamics.hpp" namespace "mmace":
    cdef cppclass LLGSettings:
        double dt
        double gamma
        double alpha
        double kT
        cbool longitudinal
        double eta
    cdef cppclass SpinDynamics:
        SpinDynamics(Hamiltonian& h, uint64_t seed, uint64_t stream) except +
        void set_settings(const LLGSettings& s) except +
        const LLGSettings& settings()
        int64_t run(int64_t n_steps, int64_t sample_every, double* e_out, double* m_out,
                    int64_t max_samples) except + nogil
        const double* last_noise()
        void set_last_noise(const double* xi)
        Rng& rng()
        int64_t steps()
        void set_steps(int64_t n)
