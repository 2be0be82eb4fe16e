// The interface every Monte Carlo Hamiltonian implements (classical spin model now, frozen mMACE
// later). The Hamiltonian owns the moment vectors; a move is propose(i, m_new) -> dE computed on
// the current, consistent configuration, then accept() (commit spin and any caches) or reject().
#pragma once
#include <stdexcept>
#include <vector>

#include "mmace/types.hpp"

namespace mmace {

class Hamiltonian {
public:
    explicit Hamiltonian(index_t n_sites) : spins_(3 * static_cast<std::size_t>(n_sites), 0.0), n_(n_sites) {}
    virtual ~Hamiltonian() = default;
    Hamiltonian(const Hamiltonian&) = delete;
    Hamiltonian& operator=(const Hamiltonian&) = delete;

    index_t n_sites() const { return n_; }
    const real_t* spin(index_t i) const { return spins_.data() + 3 * static_cast<std::size_t>(i); }
    const real_t* spins() const { return spins_.data(); }

    // Replace all moments [n, 3] muB (validated finite); refreshes every cache.
    void set_spins(const real_t* m);
    void get_spins(real_t* out) const;

    virtual real_t total_energy() const = 0;                 // eV
    virtual void site_energies(real_t* out) const = 0;       // [n] eV, sums to total_energy
    virtual void effective_field(real_t* out) const = 0;     // [n, 3] -dE/dm, eV/muB
    // -dE/dm [n, 3] at the moments m [n, 3] (not the state's; nothing cached changes): what spin
    // dynamics evaluates at its predictor and midpoint configurations. Hamiltonians without
    // magnetic forces throw std::logic_error.
    virtual void field_at(const real_t* /*m*/, real_t* /*out*/) const {
        throw std::logic_error("this Hamiltonian provides no magnetic forces (-dE/dm)");
    }
    // Energy change if moment i became m_new (state unchanged). Remembers the proposal.
    virtual real_t propose(index_t i, const Vec3& m_new) = 0;
    // Commit the last proposal (moment and caches).
    virtual void accept() = 0;
    // Drop the last proposal (restores caches if propose touched any).
    virtual void reject() {}
    // True if the energy depends on |m| (longitudinal terms): enables length moves.
    virtual bool variable_length() const = 0;
    // Over-relaxation support: an axis h for site i that does not depend on m_i itself (e.g. the
    // bilinear exchange + Zeeman field of the neighbours). Reflecting m_i about h is then an
    // involution with unit Jacobian, a valid symmetric Metropolis proposal for any Hamiltonian
    // (energy-conserving when the energy of m_i is linear in m_i along h). Returns false if the
    // Hamiltonian offers no axis.
    virtual bool reflection_axis(index_t /*i*/, Vec3& /*h*/) const { return false; }
    // Rebuild every cache from the current moments (drops accumulated rounding). The Monte
    // Carlo engine calls it in resync(), i.e. at the start of every run() chunk, so a chain
    // restarted from a checkpoint and an uninterrupted one see bit-identical energies.
    virtual void refresh() {}

protected:
    virtual void on_spins_changed() {}
    std::vector<real_t> spins_;  // [n, 3] muB
    index_t n_;
};

}  // namespace mmace
