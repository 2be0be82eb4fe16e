// FrozenModel: the per-site and per-edge kernels the evaluators share (harmonics, radial basis,
// spin features, Landau energy, embedding, spin / path weights, SOC edge attributes), see
// frozen_model.hpp.
#include "mmace/frozen_model.hpp"

#include <algorithm>
#include <cmath>

#include "mmace/array_view.hpp"
#include "mmace/kernel_clones.hpp"
#include "mmace/small_gemm.hpp"

namespace mmace {

void FrozenModel::sh(const Vec3& v, int l_max, real_t* out) const {
    MMACE_CHECK_INDEX(l_max, 13);            // the power tables below hold l <= 12
    real_t px[13], py[13], pz[13];
    harmonic_powers(v, l_max, px, py, pz);
    const int n = (l_max + 1) * (l_max + 1);
    std::fill(out, out + n, 0.0);
    const std::size_t nnz = sh_index.size();
    for (std::size_t e = 0; e < nnz && sh_index[e] < n; ++e) {
        const int* pw = &sh_pow[3 * e];
        out[sh_index[e]] += sh_coef[e] * (px[pw[0]] * py[pw[1]] * pz[pw[2]]);
    }
}

void FrozenModel::bond_sh(const Vec3& r, real_t* out) const {
    // e3nn normalize=True: v = r / max(|r|, 1e-12)
    const real_t n = std::max(r.norm(), 1e-12);
    sh(Vec3(r.x / n, r.y / n, r.z / n), l_max_sh, out);
}

void FrozenModel::radial_basis(real_t r, real_t* out) const {
    const real_t t = r / r_cut;
    const int nb = static_cast<int>(freq.size());
    real_t env = 0.0;
    if (t < 1.0) {
        const real_t tp = std::pow(t, envelope_p);
        env = 1.0 + envelope_coef[0] * tp + envelope_coef[1] * (tp * t) +
              envelope_coef[2] * (tp * t * t);
    }
    for (int k = 0; k < nb; ++k) out[k] = radial_pref * std::sin(freq[k] * t) / r * env;
}

void FrozenModel::spin_features(int s, const Vec3& m, real_t* x, real_t* phi, real_t* ys) const {
    const real_t sc = MMACE_AT(moment_scale, s);
    const Vec3 mt(m.x / sc, m.y / sc, m.z / sc);
    const real_t xx = mt.x * mt.x + mt.y * mt.y + mt.z * mt.z;
    const real_t d = std::pow(1.0 + std::pow(xx, 4), 0.25);
    const real_t y = 1.0 - 2.0 * xx / d;
    phi[0] = 1.0;
    if (n_mag > 1) phi[1] = y;
    for (int k = 2; k < n_mag; ++k) phi[k] = 2.0 * y * phi[k - 1] - phi[k - 2];
    const real_t sd = std::sqrt(d);
    sh(Vec3(mt.x / sd, mt.y / sd, mt.z / sd), l_spin_max, ys);
    *x = xx;
}

real_t FrozenModel::landau_energy(int s, real_t x) const {
    MMACE_CHECK_INDEX(s, n_species());
    real_t e = 0.0, xk = x;
    for (int k = 0; k < landau_order; ++k) {
        e += landau[static_cast<std::size_t>(s) * landau_order + k] * xk;
        xk *= x;
    }
    return e;
}

void FrozenModel::embed(const NodeAttr& a, real_t* h0) const {
    const int c = n_channels;
    // embedding [n_attr][C]: rows of the species, n_mag of them with centre spin
    MMACE_CHECK_INDEX(a.species, a.phi == nullptr ? n_attr : n_attr / n_mag);
    if (a.phi == nullptr) {
        const real_t* e = embedding.data() + static_cast<std::size_t>(a.species) * c;
        std::copy(e, e + c, h0);
        return;
    }
    const real_t* e0p = embedding.data() + static_cast<std::size_t>(a.species) * n_mag * c;
    for (int k = 0; k < c; ++k) h0[k] = a.phi[0] * e0p[k];
    for (int q = 1; q < n_mag; ++q)
        for (int k = 0; k < c; ++k) h0[k] += a.phi[q] * e0p[q * c + k];
}

void FrozenModel::receiver_weights(int layer, const real_t* phi_i, real_t* xr) const {
    // sigma index: non-SOC (l, p, q) -> l n^2 + p n + q; SOC (p, q) -> p n + q. For each l the
    // rows p of SW are [q][P][C] blocks: Xr[l] = phi_i^T SW[l] (one GEMM row).
    const LayerModel& L = MMACE_AT(layers, layer);
    const std::size_t pc = static_cast<std::size_t>(L.n_paths) * n_channels;
    const int n = n_mag;
    const int nl = soc ? 1 : (l_spin_max + 1);
    const int row = static_cast<int>(n * pc);
    for (int l = 0; l < nl; ++l)
        small_gemm(phi_i, n, 1, n, L.spin_weight.data() + static_cast<std::size_t>(l) * n * row,
                   row, xr + static_cast<std::size_t>(l) * row, row, false);
}

MMACE_KERNEL
void FrozenModel::edge_weights(int layer, const real_t* radial, const real_t* kappa,
                               const real_t* xr, real_t* w) const {
    const LayerModel& L = MMACE_AT(layers, layer);
    const std::size_t pc = static_cast<std::size_t>(L.n_paths) * n_channels;
    const int nk = n_kappa();
    {
        const real_t k0 = kappa[0];
        for (std::size_t k = 0; k < pc; ++k) w[k] = k0 * xr[k];
    }
    for (int r = 1; r < nk; ++r) {
        const real_t kr = kappa[r];
        const real_t* __restrict x = xr + static_cast<std::size_t>(r) * pc;
        for (std::size_t k = 0; k < pc; ++k) w[k] += kr * x[k];
    }
    for (std::size_t k = 0; k < pc; ++k) w[k] *= radial[k];
}

void FrozenModel::edge_weights_batch(int layer, int n, const real_t* kappa, int nk,
                                     const real_t* x, const real_t* const* radial,
                                     real_t* w) const {
    const LayerModel& L = MMACE_AT(layers, layer);
    const int pc = L.n_paths * n_channels;
    small_gemm_scaled(kappa, nk, n, nk, x, pc, w, pc, false, radial);
}

void FrozenModel::sender_weights_batch(int layer, int n, const real_t* phi, real_t* xs) const {
    const LayerModel& L = MMACE_AT(layers, layer);
    const int row = n_kappa_s() * L.n_paths * n_channels;
    small_gemm(phi, n_mag, n, n_mag, L.spin_weight_s.data(), row, xs, row, false);
}

void FrozenModel::soc_psi(const real_t* y_bond, const real_t* ys_i, const real_t* ys_j,
                          real_t* psi, real_t* tmp) const {
    const ArrayView<real_t> pair(tmp, spin_pair.dk, "soc_psi pair");      // [dk of spin_pair]
    const ArrayView<const real_t> yi(ys_i, n_spin_sh(), "soc_psi ys_i");   // [(Ls+1)^2]
    const ArrayView<const real_t> yj(ys_j, n_spin_sh(), "soc_psi ys_j");
    const ArrayView<const real_t> yb(y_bond, n_sh(), "soc_psi y_bond");    // [(l_max_sh+1)^2]
    const ArrayView<real_t> out(psi, bond_spin.dk, "soc_psi psi");        // [D_psi]
    std::fill(pair.data(), pair.data() + spin_pair.dk, 0.0);
    const std::size_t n1 = spin_pair.v.size();
    for (std::size_t e = 0; e < n1; ++e)
        pair[spin_pair.k[e]] += yi[spin_pair.i[e]] * yj[spin_pair.j[e]] * spin_pair.v[e];
    std::fill(psi, psi + bond_spin.dk, 0.0);
    const std::size_t n2 = bond_spin.v.size();
    for (std::size_t e = 0; e < n2; ++e)
        out[bond_spin.k[e]] += yb[bond_spin.i[e]] * pair[bond_spin.j[e]] * bond_spin.v[e];
}

}  // namespace mmace
