// Frozen mMACE model: every constant read from the exported file (mmace_fast/export/freeze.py
// documents the array names), plus the per-node / per-edge kernels the evaluators share.
//
// Feature layout (internal): a node feature with D components and C channels is stored
// component-major, [D][C] (channels contiguous, the inner, vectorised loop). The torch model
// uses [C][D]; the two only differ in memory order.
// Path weights w [P][C] (path-major); the exported radial MLP / spin weights are in torch's
// channel-major order c * P + p and are permuted once at load time (a relabelling, no
// arithmetic).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmace/types.hpp"

// Hot kernels are compiled for several instruction sets and picked at load time (GCC function
// multi-versioning), so the default portable build still uses AVX2 / AVX-512 where available.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(MMACE_NO_CLONES)
#define MMACE_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MMACE_KERNEL
#endif

namespace mmace {

// y[r][:c_out] (+)= sum_k x[r][k] w[k][:c_out] for r < n_rows (row strides xs, ys): the small
// dense products of the channel mixings, register-blocked over rows and output channels.
void small_gemm(const real_t* x, std::size_t xs, int n_rows, int c_in, const real_t* w, int c_out,
                real_t* y, std::size_t ys, bool accumulate);
// the same, each output row r then multiplied elementwise by scale[r][:c_out]
void small_gemm_scaled(const real_t* x, std::size_t xs, int n_rows, int c_in, const real_t* w,
                       int c_out, real_t* y, std::size_t ys, bool accumulate,
                       const real_t* const* scale);

// Named arrays handed over by the file reader. Shapes are validated on access.
class ArrayStore {
public:
    void add_real(const std::string& name, const real_t* data, const std::vector<std::int64_t>& shape);
    void add_int(const std::string& name, const std::int64_t* data, const std::vector<std::int64_t>& shape);
    bool has(const std::string& name) const { return entries_.count(name) > 0; }
    // shape entries < 0 match anything; throws InputError naming the array on mismatch
    const std::vector<real_t>& real(const std::string& name, const std::vector<std::int64_t>& shape) const;
    const std::vector<std::int64_t>& ints(const std::string& name, const std::vector<std::int64_t>& shape) const;
    const std::vector<std::int64_t>& shape(const std::string& name) const;
    real_t scalar(const std::string& name) const;
    std::int64_t integer(const std::string& name) const;

private:
    struct Entry {
        bool is_int = false;
        std::vector<real_t> f;
        std::vector<std::int64_t> i;
        std::vector<std::int64_t> shape;
    };
    const Entry& get(const std::string& name, const std::vector<std::int64_t>& shape, bool is_int) const;
    std::map<std::string, Entry> entries_;
};

// Node attributes a = onehot(species) (x) phi (centre spin) or onehot(species): species index
// plus the magnitude features (nullptr without centre spin).
struct NodeAttr {
    int species = 0;
    const real_t* phi = nullptr;
};

// Per-l channel mixing (e3nn-style o3.Linear on per-channel irreps); weights pre-scaled.
struct BlockLinear {
    int d_in = 0, d_out = 0, c_in = 0, c_out = 0;
    std::vector<int> in0, out0, dim;
    std::vector<real_t> w;                   // [n_blocks][c_in][c_out]
    void load(const ArrayStore& s, const std::string& prefix, int c);
    void apply(const real_t* x, real_t* y) const;            // x [d_in][c_in] -> y [d_out][c_out]
    void apply_add(const real_t* x, real_t* y) const;        // y += map(x)
    // n features at once: x [n][d_in][c_in] -> y [n][d_out][c_out] (one GEMM per block row)
    void apply_batch(const real_t* x, std::size_t n, real_t* y) const;
    void apply_batch_add(const real_t* x, std::size_t n, real_t* y) const;   // y += map(x)
    void scale(real_t f);                    // map <- f map (folds a constant factor in)
};

// Attribute-dependent per-l channel mixing (the skip connection); weights pre-scaled.
struct AttrLinear {
    int d_in = 0, d_out = 0, c = 0, n_attr = 0, n_mag = 1;
    std::vector<int> in0, out0, dim;
    std::vector<real_t> w;                   // [n_blocks][n_attr][c][c]
    void load(const ArrayStore& s, const std::string& prefix, int c, int n_attr, int n_mag);
    // y [d_out][c] = map(x [d_in][c]); tmp needs c * c reals
    void apply(const real_t* x, const NodeAttr& a, real_t* y, real_t* tmp) const;
};

// Bias-free MLP, h <- silu(h W_k) except after the last matrix; weights pre-scaled.
struct Mlp {
    std::vector<int> widths;
    std::vector<std::vector<real_t>> w;      // [a][b] per matrix
    void load(const ArrayStore& s, const std::string& prefix);
    int n_in() const { return widths.front(); }
    int n_out() const { return widths.back(); }
    int max_width() const;
    void apply(const real_t* x, real_t* y, real_t* tmp) const;   // tmp: 2 * max_width reals
    // n inputs with row stride xs -> y [n][n_out]; tmp: 2 * n * max_width reals
    void apply_batch(const real_t* x, std::size_t xs, std::size_t n, real_t* y, real_t* tmp) const;
};

// Channel-wise tensor product of node features u [D_in][C] with edge attributes psi [D_psi]:
// msg[out0 + o][c] += w[p][c] * sum_{m,k} cg_p[k, m, o] psi[k] u[in0 + m][c].
// psi is first folded into G [g_size] (G_p[m][o] = sum_k cg_p[k, m, o] psi[k]).
struct TensorProduct {
    struct Path { int in0, m1, out0, mo, g0; };
    // the same couplings listed by output component: out[o] += w_p * sum_m u[in0 + m] g[g + m * gs]
    struct OutTerm { int p, in0, m1, g, gs; };
    std::vector<Path> paths;
    std::vector<int> out_off;                // [d_out + 1] into out_terms
    std::vector<OutTerm> out_terms;
    std::vector<int> e_path, e_k, e_m, e_o;  // sparse couplings, sorted by path
    std::vector<real_t> e_val;
    int d_in = 0, d_psi = 0, d_out = 0, g_size = 0;
    void load(const ArrayStore& s, const std::string& prefix, int d_in, int d_psi, int d_out);
    void fold(const real_t* psi, real_t* g) const;
    // acc [d_out][C] += message(u [d_in][C], g, w [P][C])
    void message(const real_t* u, const real_t* g, const real_t* w, int c, real_t* acc) const;
    // acc += message(u1, g, w1) - message(u0, g0, w0) (an edge whose weights changed)
    void message_diff(const real_t* u1, const real_t* g1, const real_t* w1, const real_t* u0,
                      const real_t* g0, const real_t* w0, int c, real_t* acc, real_t* tmp) const;
    // n edges of one sender (the same u): acc[r] += message(u, g[r], w[r]) for r < n
    void message_shared(const real_t* u, int n, const real_t* const* g, const real_t* const* w,
                        real_t* const* acc, int c) const;
};

// Symmetric contraction B = sum_nu W_nu(a) . U_nu . A^nu, U reduced to sorted index tuples.
// Evaluation: per block, the attribute-contracted weights of all its terms form a scratch table
// wa; then each output row m is one sum over the block's entries of m,
//   B[out0 + m][c] += val * wa[wa_row][c] * prod_{r < nu} A[comp_r][c],
// entries grouped by (m, nu) so that the products are unrolled for nu <= 3.
struct SymmetricContractionF {
    struct Term {
        int nu = 1, eta = 0, wa0 = 0;        // wa0: first row of its weights in the block table
        std::vector<real_t> w;               // [n_attr][eta][C]
    };
    struct Entry {
        int comp = 0, wa = 0;                // first of its nu offsets in `comps`, weight row
        real_t val = 0;
    };
    struct Group { int nu = 1, e0 = 0, e1 = 0; };   // entries [e0, e1) of one (m, nu)
    struct Block {
        int out0 = 0, dim = 0, n_wa = 0;     // n_wa: weight rows of all its terms
        std::vector<Term> terms;
        std::vector<Entry> entries;          // sorted by (output row, nu)
        std::vector<Group> groups;
        std::vector<int> g_off;              // [dim + 1] groups of output row m
        std::vector<int> comps;              // feature offsets comp * C of the entries' monomials
    };
    int correlation = 1, d_a = 0, d_out = 0, c = 0, n_attr = 0, n_mag = 1;
    std::vector<Block> blocks;
    int max_wa = 0;
    static constexpr int kNodes = 4;         // nodes per walk of the tables in apply_batch
    void load(const ArrayStore& s, const std::string& prefix, int d_a, int d_out, int c,
              int n_attr, int n_mag);
    std::size_t scratch_size() const;
    // b [d_out][C] = SC(A [d_a][C], attributes); blocks absent from the output stay zero
    void apply(const real_t* a, const NodeAttr& at, real_t* b, real_t* scratch) const;
    // n nodes: a [n][d_a][C], at [n] -> b [n][d_out][C]
    void apply_batch(const real_t* a, std::size_t n, const NodeAttr* at, real_t* b,
                     real_t* scratch) const;
};

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
