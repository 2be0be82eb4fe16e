// FrozenModel: every constant of a frozen mMACE model read from the exported file, with the
// per-layer parts (LayerModel) and the per-site / per-edge kernels the evaluators share.
// Loader in frozen_model.cpp, kernels in frozen_model_kernels.cpp; the layout of features and
// path weights is described in evaluator_model.hpp.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "mmace/array_store.hpp"
#include "mmace/attr_linear.hpp"
#include "mmace/block_linear.hpp"
#include "mmace/mlp.hpp"
#include "mmace/node_attr.hpp"
#include "mmace/symmetric_contraction.hpp"
#include "mmace/tensor_product.hpp"
#include "mmace/types.hpp"

namespace mmace {

// px[k] = v.x^k (and y, z) for k <= l_max: the power tables of the harmonic polynomials
// (l_max <= 12)
inline void harmonic_powers(const Vec3& v, int l_max, real_t* px, real_t* py, real_t* pz) {
    px[0] = py[0] = pz[0] = 1.0;
    for (int k = 1; k <= l_max; ++k) {
        px[k] = px[k - 1] * v.x;
        py[k] = py[k - 1] * v.y;
        pz[k] = pz[k - 1] * v.z;
    }
}

// One interaction layer: its channel mixings, MLPs, spin weights, tensor product and
// symmetric contraction.
struct LayerModel {
    int d_in = 0, d_psi = 0, d_a = 0, d_out = 0, n_paths = 0, scalar_index = 0;
    bool last = false;
    real_t inv_avg = 1.0;                    // folded into `linear` at load time
    BlockLinear linear_up, linear, linear_out;
    AttrLinear skip;
    Mlp radial_mlp, readout;
    std::vector<real_t> spin_weight;         // [n_sigma][P][C]
    std::vector<real_t> spin_weight_s;       // [n_mag][n_kappa_s][P][C] sender-side rows
    TensorProduct tp;
    SymmetricContractionF sc;
};

// Magnitude / direction features of one moment.
struct SpinFeatures {
    real_t x = 0;                            // |m / scale|^2
    std::vector<real_t> phi;                 // [n_mag] Chebyshev features
    std::vector<real_t> ys;                  // [(Ls+1)^2] harmonics of u (normalize=False)
};

class FrozenModel {
public:
    explicit FrozenModel(const ArrayStore& store);

    // --- sizes
    int n_species() const { return static_cast<int>(species_z.size()); }
    int species_index(int z) const;          // -1 if unknown
    int n_sh() const { return (l_max_sh + 1) * (l_max_sh + 1); }
    int n_spin_sh() const { return (l_spin_max + 1) * (l_spin_max + 1); }
    // Number of kappa coefficients per edge: s_ij = sum_r kappa_r Xr_i[r] (see evaluator.hpp).
    int n_kappa() const { return (!soc && centre_spin) ? (l_spin_max + 1) * n_mag : n_mag; }
    bool node_dependent_xr() const { return centre_spin; }

    // --- kernels
    // features of moment m (muB) on a site of species s; out.phi / out.ys must be sized
    void spin_features(int s, const Vec3& m, real_t* x, real_t* phi, real_t* ys) const;
    real_t landau_energy(int s, real_t x) const;
    void sh(const Vec3& v, int l_max, real_t* out) const;     // polynomial tables at v
    void bond_sh(const Vec3& r, real_t* out) const;           // Y(r / |r|), l <= l_max_sh
    void radial_basis(real_t r, real_t* out) const;           // [n_bessel]
    // h0 [C] = embedding(a)
    void embed(const NodeAttr& a, real_t* h0) const;
    // Xr [n_kappa][P][C] for receiver features phi_i (centre spin only)
    void receiver_weights(int layer, const real_t* phi_i, real_t* xr) const;
    const real_t* global_weights(int layer) const { return layers[layer].spin_weight.data(); }
    // kappa [n_kappa] of an edge from the spin features of receiver i and sender j
    void edge_kappa(const real_t* ys_i, const real_t* phi_j, const real_t* ys_j, real_t* kappa) const {
        if (!soc && centre_spin)
            pair_kappa(ys_i, ys_j, phi_j, kappa);
        else
            for (int q = 0; q < n_mag; ++q) kappa[q] = phi_j[q];
    }
    // w [P][C] = R [P][C] * sum_r kappa_r xr[r]
    void edge_weights(int layer, const real_t* radial, const real_t* kappa, const real_t* xr,
                      real_t* w) const;
    // the same for n edges sharing their receiver (xr, kappa [n][n_kappa]) or their sender
    // (xs, kappa [n][n_kappa_s]) at once (a small GEMM): w[r] [P][C] = radial[r] * kappa[r] . x
    void edge_weights_batch(int layer, int n, const real_t* kappa, int nk, const real_t* x,
                            const real_t* const* radial, real_t* w) const;
    // Sender-side factorisation: sigma_ij . SW = sum_r' kappa'_r'(i, j) Xs_j[r'] with
    // Xs_j[r'] = sum_q phi_q(j) SW[r' n + q] and kappa' = c_l(i, j) phi_p(i) (non-SOC, centre
    // spin), phi_p(i) (SOC, centre spin), 1 (no centre spin).
    int n_kappa_s() const { return centre_spin ? (soc ? n_mag : (l_spin_max + 1) * n_mag) : 1; }
    // n nodes at once: phi [n][n_mag] -> xs [n][n_kappa_s][P][C] (one GEMM)
    void sender_weights_batch(int layer, int n, const real_t* phi, real_t* xs) const;
    void edge_kappa_s(const real_t* ys_i, const real_t* phi_i, const real_t* ys_j,
                      real_t* kappa) const {
        if (!centre_spin)
            kappa[0] = 1.0;
        else if (soc)
            for (int p = 0; p < n_mag; ++p) kappa[p] = phi_i[p];
        else
            pair_kappa(ys_i, ys_j, phi_i, kappa);
    }
    // Pair invariants c [Ls + 1], c_l = (ys_i . ys_j)_l spin_inv_norm[l] (non-SOC, centre spin)
    void pair_invariants(const real_t* ys_i, const real_t* ys_j, real_t* c) const {
        for (int l = 0; l <= l_spin_max; ++l) {
            real_t dot = 0.0;
            for (int m = l * l; m < (l + 1) * (l + 1); ++m) dot += ys_i[m] * ys_j[m];
            c[l] = dot * spin_inv_norm[l];
        }
    }
    // kappa[l n_mag + q] = c_l phi[q]
    void kappa_from_invariants(const real_t* c, const real_t* phi, real_t* kappa) const {
        for (int l = 0; l <= l_spin_max; ++l)
            for (int q = 0; q < n_mag; ++q) kappa[l * n_mag + q] = c[l] * phi[q];
    }
    void pair_kappa(const real_t* ys_i, const real_t* ys_j, const real_t* phi, real_t* kappa) const {
        real_t c[16];
        pair_invariants(ys_i, ys_j, c);
        kappa_from_invariants(c, phi, kappa);
    }
    // whether the edge kappa factorise into pair invariants and magnitude features
    bool pair_factorised() const { return !soc && centre_spin; }
    // SOC edge attributes psi [D_psi] from Y(r) and the spin harmonics of receiver / sender
    void soc_psi(const real_t* y_bond, const real_t* ys_i, const real_t* ys_j, real_t* psi,
                 real_t* tmp) const;

    // --- adjoints (reverse mode; every one adds into its outputs; frozen_model_gradients.cpp)
    // dE/dv of the harmonics Y(v) [(l_max+1)^2] given ybar = dE/dY
    Vec3 sh_backward(const Vec3& v, int l_max, const real_t* ybar) const;
    // dE/dm (muB^-1 eV) of a moment m on species s through its features, given xbar = dE/dx,
    // phibar [n_mag] = dE/dphi and ysbar [(Ls+1)^2] = dE/dys
    Vec3 spin_features_backward(int s, const Vec3& m, real_t xbar, const real_t* phibar,
                                const real_t* ysbar) const;
    real_t landau_derivative(int s, real_t x) const;          // dE_Landau/dx
    // radial_basis(r) [n_bessel] and its derivative d/dr [n_bessel]
    void radial_basis_jvp(real_t r, real_t* out, real_t* dout) const;
    // phibar [n_mag] += dE/dphi of h0 = embed(a) given h0bar [C] (centre spin only)
    void embed_backward(const NodeAttr& a, const real_t* h0bar, real_t* phibar) const;
    // phibar_i [n_mag] += dE/dphi_i of Xr = receiver_weights(phi_i) given xrbar [n_kappa][P][C]
    void receiver_weights_backward(int layer, const real_t* xrbar, real_t* phibar) const;
    // w = R (x) sum_r kappa_r xr[r]: kappabar [n_kappa] += dE/dkappa and, if xrbar is not
    // nullptr, xrbar [n_kappa][P][C] += dE/dxr, given wbar [P][C]
    void edge_weights_backward(int layer, const real_t* radial, const real_t* kappa,
                               const real_t* xr, const real_t* wbar, real_t* kappabar,
                               real_t* xrbar) const;
    // kappa = edge_kappa(ys_i, phi_j, ys_j): ysbar_i, phibar_j, ysbar_j += given kappabar
    void edge_kappa_backward(const real_t* ys_i, const real_t* phi_j, const real_t* ys_j,
                             const real_t* kappabar, real_t* ysbar_i, real_t* phibar_j,
                             real_t* ysbar_j) const;
    // psi = soc_psi(y_bond, ys_i, ys_j): ysbar_i, ysbar_j and (if not nullptr) ybbar
    // [(l_max_sh+1)^2] += given psibar; tmp: 2 spin_pair.dk
    void soc_psi_backward(const real_t* y_bond, const real_t* ys_i, const real_t* ys_j,
                          const real_t* psibar, real_t* ysbar_i, real_t* ysbar_j, real_t* ybbar,
                          real_t* tmp) const;

    // --- constants (public: read-only after construction)
    std::vector<int> species_z;
    std::array<int, 119> z_to_species{};
    int n_channels = 0, n_mag = 0, l_spin_max = 0, l_max_sh = 0, n_sigma = 0, n_attr = 0;
    bool soc = false, centre_spin = true;
    std::vector<real_t> moment_scale, e0, landau;  // landau [S][K]
    int landau_order = 0;
    real_t scale = 1.0, shift = 0.0;
    std::vector<real_t> embedding;                 // [n_attr][C] pre-scaled
    int sh_l_max = 0;
    std::vector<int> sh_index, sh_pow;             // sh_pow [nnz][3]
    std::vector<real_t> sh_coef;
    std::vector<real_t> spin_inv_norm;             // [Ls+1]
    struct Sparse3 { std::vector<int> i, j, k; std::vector<real_t> v; int di = 0, dj = 0, dk = 0; };
    Sparse3 spin_pair, bond_spin;                  // SOC only
    real_t r_cut = 0, radial_pref = 0;
    int envelope_p = 0;
    std::array<real_t, 3> envelope_coef{};
    std::vector<real_t> freq;
    std::vector<LayerModel> layers;
    std::string describe() const;

private:
    void load_spin(const ArrayStore& s);
    static Sparse3 load_sparse3(const ArrayStore& s, const std::string& prefix);
};

}  // namespace mmace
