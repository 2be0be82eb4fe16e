// Metropolis single-spin and Wolff cluster Monte Carlo on any Hamiltonian.
//
// Moves (trial moment written only through Hamiltonian::propose/accept, so every dE is computed
// on one consistent configuration):
//   uniform   new direction uniform on the sphere, |m| kept
//   gaussian  direction normalize(e + sigma g), g ~ N(0, 1)^3, |m| kept (symmetric "cone" move)
//   flip      m -> -m
//   hinzke_nowak  uniform / gaussian / flip with probability 1/3 each
//   longitudinal  m -> m + sigma_long g (symmetric in R^3): with direction moves this samples
//                 exp(-E/kT) d^3m (conventions.MEASURE); only for variable-length Hamiltonians.
//   over-relaxation  m -> 2 (m.h) h / |h|^2 - m about the Hamiltonian's reflection axis h (which
//                 does not depend on m_i), accepted by Metropolis on the exact dE: microcanonical
//                 for isotropic bilinear exchange + Zeeman (dE = 0), still exact otherwise.
//                 ``overrelax_per_sweep`` sweeps over the active sites after each Metropolis sweep.
//                 A Hamiltonian without an axis (the frozen mMACE) borrows the surrogate's: the
//                 surrogate's moments follow every accepted move, so its axis for site i is a
//                 function of the other moments only, the reflection stays an involution, and
//                 the two-stage test below keeps the exact target ("guided over-relaxation").
// sigma and sigma_long adapt toward a target acceptance only when run(adapt=true).
// Wolff: embedded-Ising single-cluster updates (isotropic bilinear exchange of either sign).
// Delayed acceptance (Christen and Fox 2005): with a surrogate Hamiltonian set, a trial is first
// screened with the surrogate's dE_s (accept with min(1, exp(-beta dE_s))); only survivors pay for
// the exact dE, accepted with min(1, exp(-beta (dE - dE_s))). For the symmetric proposals here
// the chain keeps the exact target distribution. The surrogate follows every accepted move.
// Active sites: by default every site is moved; set_active_sites restricts trials (and the
// magnetisation observables, normalised per active site) to a subset, e.g. the magnetic
// sublattice of CrN or FeAl with mMACE, whose N / Al moments stay fixed.
#pragma once
#include <cstdint>
#include <vector>

#include "mmace/hamiltonian.hpp"
#include "mmace/rng.hpp"
#include "mmace/spin_hamiltonian.hpp"

namespace mmace {

enum MoveKind : int { MOVE_UNIFORM = 0, MOVE_GAUSSIAN = 1, MOVE_FLIP = 2, MOVE_HINZKE_NOWAK = 3 };
enum StatKind : int { STAT_UNIFORM = 0, STAT_GAUSSIAN = 1, STAT_FLIP = 2, STAT_LONGITUDINAL = 3,
                      STAT_WOLFF = 4, STAT_OVERRELAX = 5, N_STAT = 6 };

struct MCSettings {
    int move = MOVE_UNIFORM;
    real_t sigma = 0.5;             // Gaussian move width (dimensionless, on unit vectors)
    real_t p_longitudinal = 0.0;    // probability that a trial is a longitudinal move
    real_t sigma_long = 0.1;        // muB
    bool random_order = false;      // random site per trial instead of sequential sweeps
    bool metropolis = true;         // one Metropolis sweep per MC step
    int wolff_per_sweep = 0;        // Wolff clusters per MC step
    int overrelax_per_sweep = 0;    // over-relaxation sweeps per MC step
    real_t target_acceptance = 0.5;
};

class MonteCarlo {
public:
    MonteCarlo(Hamiltonian& h, std::uint64_t seed, std::uint64_t stream);

    void set_temperature(real_t kelvin);
    real_t temperature() const { return temperature_; }
    // Weights of the staggered order parameter: s [n_patterns][n] (+1/-1 or any weights);
    // every pattern gives one staggered vector Ms_d = sum_{i active} s_d,i m_i / n_active (the
    // symmetry-equivalent domains of an antiferromagnetic order: its norm over d sees every
    // domain).
    void set_sublattice_signs(const real_t* s, int n_patterns = 1);
    int n_patterns() const { return n_patterns_; }
    // Sites that Metropolis trials visit: sorted unique indices [n_active], n_active >= 1.
    void set_active_sites(const index_t* idx, index_t n_active);
    const std::vector<index_t>& active_sites() const { return active_; }
    // Delayed-acceptance surrogate (same sites; nullptr switches it off). Not owned.
    void set_surrogate(Hamiltonian* s);
    bool has_surrogate() const { return surrogate_ != nullptr; }
    // screened: trials rejected by the surrogate stage; exact: trials that reached the exact dE
    std::uint64_t da_screened() const { return da_screened_; }
    std::uint64_t da_exact() const { return da_exact_; }
    void set_da_counters(std::uint64_t screened, std::uint64_t exact) { da_screened_ = screened; da_exact_ = exact; }
    bool all_active() const { return static_cast<index_t>(active_.size()) == h_.n_sites(); }
    void set_settings(const MCSettings& s);
    const MCSettings& settings() const { return cfg_; }

    // Run n_steps MC steps; every sample_every steps write E (eV, total), M [3] and Ms
    // [n_patterns][3] (vectors per site, muB) to the next row of the output arrays. Returns the number of rows written.
    // resync_first: recompute the cached energies from the moments first (a full evaluation).
    // Only a caller that changed nothing but the temperature and the move widths since the last
    // run may skip it (parallel tempering between exchanges): the caches then carry over.
    std::int64_t run(std::int64_t n_steps, std::int64_t sample_every, bool adapt, real_t* e_out,
                     real_t* m_out, real_t* ms_out, std::int64_t max_samples,
                     bool resync_first = true);
    // Recompute the Hamiltonian's caches (a full evaluation), then the tracked energy and
    // magnetisations. The setters above only re-derive the tracked quantities from the
    // Hamiltonian's current caches (no full evaluation before the first sweep).
    void resync();

    real_t energy() const { return energy_; }
    Rng& rng() { return rng_; }
    const std::uint64_t* tried() const { return tried_; }
    const std::uint64_t* accepted() const { return accepted_; }
    void reset_stats();
    void set_stats(const std::uint64_t* tried, const std::uint64_t* accepted);

private:
    template <class H> void sweep(H& h);
    template <class H> void overrelax_sweep(H& h);
    template <class H> bool metropolis_test(H& h, index_t i, const Vec3& mn, real_t& de);
    template <class H> std::int64_t run_impl(H& h, std::int64_t, std::int64_t, bool, real_t*,
                                             real_t*, real_t*, std::int64_t, bool);
    void wolff_cluster(SpinHamiltonian& h);
    void adapt_widths(const std::uint64_t* tried0, const std::uint64_t* acc0);
    void sync_observables();
    template <class H> void apply(H& h, index_t i, const Vec3& mo, const Vec3& mn, real_t de,
                                  int kind);

    Hamiltonian& h_;
    SpinHamiltonian* spin_h_;   // non-null when h_ is the classical model (devirtualised loops)
    Rng rng_;
    MCSettings cfg_;
    real_t temperature_ = 0.0, beta_ = 0.0;
    std::vector<real_t> signs_, len_;  // signs_ [n][n_patterns] (site-major)
    int n_patterns_ = 1;
    std::vector<index_t> active_;      // [n_active] sites visited by Metropolis trials
    Hamiltonian* surrogate_ = nullptr;
    std::uint64_t da_screened_ = 0, da_exact_ = 0;
    std::vector<std::uint32_t> mark_;
    std::vector<index_t> stack_;
    std::uint32_t generation_ = 0;
    real_t energy_ = 0.0;
    Vec3 msum_;
    std::vector<Vec3> mssum_;          // [n_patterns]
    void add_staggered(index_t i, const Vec3& d) {
        if (n_patterns_ == 1) {
            mssum_[0] += d * signs_[i];
            return;
        }
        const real_t* w = signs_.data() + static_cast<std::size_t>(i) * n_patterns_;
        for (int k = 0; k < n_patterns_; ++k) mssum_[k] += d * w[k];
    }
    std::uint64_t tried_[N_STAT] = {0, 0, 0, 0, 0, 0}, accepted_[N_STAT] = {0, 0, 0, 0, 0, 0};
};

}  // namespace mmace
