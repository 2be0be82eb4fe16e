// Classical spin Hamiltonian on a pair list (conventions in mmace_fast/conventions.py):
//   E = sum_{pairs once} [ -J m_i.m_j - m_i^T T m_j - B (m_i.m_j)^2 ]
//     + sum_i [ -Ku (m_i.n_i)^2 - Kc (mx^4 + my^4 + mz^4) - h_i.m_i + a2|m|^2 + a4|m|^4 + a6|m|^6 ]
// Pairs are stored as a directed CSR list (each pair once per direction; the reverse of tensor T
// is T^T); self-image pairs (i, i + S) are allowed and handled exactly.
#pragma once
#include <cstdint>
#include <vector>

#include "mmace/hamiltonian.hpp"

namespace mmace {

struct PairInput {          // one entry per unordered pair (pair-once convention)
    const index_t* i = nullptr;
    const index_t* j = nullptr;
    const real_t* J = nullptr;       // [n_pairs] or nullptr
    const real_t* T = nullptr;       // [n_pairs, 3, 3] row-major or nullptr
    const real_t* B = nullptr;       // [n_pairs] or nullptr
    std::size_t n_pairs = 0;
};

struct SiteInput {          // per-site coefficients, each may be nullptr (term absent)
    const real_t* Ku = nullptr;      // [n]   eV/muB^2
    const real_t* axis = nullptr;    // [n,3] unit vectors
    const real_t* Kc = nullptr;      // [n]   eV/muB^4
    const real_t* field = nullptr;   // [n,3] eV/muB
    const real_t* a2 = nullptr;      // [n]   eV/muB^2
    const real_t* a4 = nullptr;      // [n]   eV/muB^4
    const real_t* a6 = nullptr;      // [n]   eV/muB^6
};

class SpinHamiltonian final : public Hamiltonian {
public:
    SpinHamiltonian(index_t n_sites, const PairInput& pairs, const SiteInput& sites);

    real_t total_energy() const override;
    void site_energies(real_t* out) const override;
    void effective_field(real_t* out) const override;
    void field_at(const real_t* m, real_t* out) const override;
    real_t propose(index_t i, const Vec3& m_new) override;
    void accept() override;
    bool variable_length() const override { return has_landau_; }
    // sum over neighbours (self-images excluded) of J m_j + T m_j, plus the Zeeman field
    bool reflection_axis(index_t i, Vec3& h) const override;

    // Wolff support: only isotropic bilinear exchange (+ Landau terms, which depend on |m|).
    bool wolff_compatible() const {
        return !has_tensor_ && !has_biquad_ && !has_uniaxial_ && !has_cubic_ && !has_field_;
    }
    // Local energy change of moment i -> m_new (same as propose, without remembering).
    real_t delta_energy(index_t i, const Vec3& m_new) const;
    void set_spin_unchecked(index_t i, const Vec3& m) { m.store(spins_.data() + 3 * i); }

    // CSR access for cluster algorithms
    const std::vector<index_t>& offsets() const { return offs_; }
    const std::vector<index_t>& neighbours() const { return nbr_; }
    const std::vector<real_t>& couplings() const { return J_; }
    std::size_t n_directed() const { return nbr_.size(); }

private:
    static constexpr std::uint32_t PACK_SHIFT = 24, PACK_MASK = (1u << PACK_SHIFT) - 1;
    void build_packed();
    real_t onsite(index_t i, const Vec3& m) const;
    Vec3 onsite_field(index_t i, const Vec3& m) const;
    real_t pair_energy(std::size_t e, const Vec3& mi, const Vec3& mj) const;  // one directed entry

    std::vector<index_t> offs_, nbr_;
    std::vector<real_t> J_, T_, B_;
    std::vector<unsigned char> self_;
    std::vector<std::uint32_t> packed_;  // [n_directed] neighbour | coupling id << 24 (fast path)
    std::vector<real_t> jtab_;           // distinct couplings
    std::vector<real_t> Ku_, axis_, Kc_, field_, a2_, a4_, a6_;
    bool has_tensor_ = false, has_biquad_ = false, has_self_ = false;
    bool has_uniaxial_ = false, has_cubic_ = false, has_field_ = false, has_landau_ = false;
    // pending proposal
    index_t prop_i_ = -1;
    Vec3 prop_m_;
};

}  // namespace mmace
