// The mean of K Hamiltonians on the same sites (a model committee): E = (1/K) sum_k E_k. Each
// member keeps its own caches and incremental update; a proposal is proposed to every member,
// their energy changes are kept (the per-member observables of a committee chain) and their
// mean is the chain's dE. The members are not owned (the caller keeps them alive) and must not
// be moved by anyone else while they belong to a mean.
#pragma once
#include <vector>

#include "mmace/hamiltonian.hpp"

namespace mmace {

class MeanHamiltonian : public Hamiltonian {
public:
    // members: K >= 1 Hamiltonians with the same number of sites; their moments are replaced
    // by member 0's (one state for all).
    explicit MeanHamiltonian(std::vector<Hamiltonian*> members);

    real_t total_energy() const override;
    void site_energies(real_t* out) const override;
    void effective_field(real_t* out) const override;
    void field_at(const real_t* m, real_t* out) const override;
    real_t propose(index_t i, const Vec3& m_new) override;
    void accept() override;
    void reject() override;
    bool variable_length() const override;
    void refresh() override;

    int n_members() const { return static_cast<int>(members_.size()); }
    void member_energies(real_t* out) const;               // [K] eV
    const real_t* last_deltas() const { return de_.data(); }  // [K] eV, the last proposal

protected:
    void on_spins_changed() override;

private:
    std::vector<Hamiltonian*> members_;
    std::vector<real_t> de_;      // [K] eV, dE of each member for the last proposal
    mutable std::vector<real_t> scratch_;
    index_t site_ = -1;
    Vec3 m_new_{};
};

}  // namespace mmace
