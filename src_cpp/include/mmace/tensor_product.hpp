// TensorProduct: the channel-wise tensor product of a layer's messages (node features x edge
// attributes, weighted per path); loader and kernels in tensor_product.cpp.
#pragma once
#include <string>
#include <vector>

#include "mmace/array_store.hpp"
#include "mmace/types.hpp"

namespace mmace {

// Channel-wise tensor product of node features u [D_in][C] with edge attributes psi [D_psi]:
// msg[out0 + o][c] += w[p][c] * sum_{m,k} cg_p[k, m, o] psi[k] u[in0 + m][c].
// psi is first folded into G [g_size] (G_p[m][o] = sum_k cg_p[k, m, o] psi[k]).
struct TensorProduct {
    struct Path { int in0, m1, out0, mo, g0; };
    // the same couplings listed by output component: out[o] += w_p * sum_m u[in0 + m] g[g + m * gs]
    struct OutTerm { int p, in0, m1, g, gs; };
    std::vector<Path> paths;                 // [P]
    std::vector<int> out_off;                // [d_out + 1] into out_terms
    std::vector<OutTerm> out_terms;
    std::vector<int> e_path, e_k, e_m, e_o;  // sparse couplings, sorted by path
    std::vector<real_t> e_val;
    int d_in = 0, d_psi = 0, d_out = 0, g_size = 0;
    void load(const ArrayStore& s, const std::string& prefix, int d_in, int d_psi, int d_out);
    void fold(const real_t* psi, real_t* g) const;
    // adjoint of fold: psibar [d_psi] += fold^T(gbar [g_size])
    void fold_transpose(const real_t* gbar, real_t* psibar) const;
    // adjoint of message at (u, g, w) for abar = dE/dacc [d_out][C]: ubar [d_in][C] += dE/du,
    // wbar [P][C] += dE/dw, gbar [g_size] += dE/dg (gbar may be nullptr: g is fixed)
    void message_backward(const real_t* u, const real_t* g, const real_t* w, const real_t* abar,
                          int c, real_t* ubar, real_t* wbar, real_t* gbar) const;
    // acc [d_out][C] += message(u [d_in][C], g, w [P][C])
    void message(const real_t* u, const real_t* g, const real_t* w, int c, real_t* acc) const;
    // acc += message(u1, g, w1) - message(u0, g0, w0) (an edge whose weights changed)
    void message_diff(const real_t* u1, const real_t* g1, const real_t* w1, const real_t* u0,
                      const real_t* g0, const real_t* w0, int c, real_t* acc, real_t* tmp) const;
    // n edges whose weights changed: acc[r] += message(u[2r], g[2r], w[2r]) - message(u[2r+1],
    // g[2r+1], w[2r+1]) for r < n (rows new, old, new, old, ...)
    void message_diff_batch(int n, const real_t* const* u, const real_t* const* g,
                            const real_t* const* w, real_t* const* acc, int c) const;
    // n edges into one receiver: acc += sum_{r < n} message(u[r], g[r], w[r])
    void message_gather(int n, const real_t* const* u, const real_t* const* g,
                        const real_t* const* w, real_t* acc, int c) const;
    // n edges of one sender (the same u): acc[r] += message(u, g[r], w[r]) for r < n
    void message_shared(const real_t* u, int n, const real_t* const* g, const real_t* const* w,
                        real_t* const* acc, int c) const;
};

}  // namespace mmace
