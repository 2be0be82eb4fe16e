// TensorProduct: loading (path and coupling tables, per-output term lists), the psi fold and
// the multi-versioned message kernels (see tensor_product.hpp).
#include "mmace/tensor_product.hpp"

#include <algorithm>
#include <numeric>
#include <type_traits>

#include "load_checks.hpp"
#include "mmace/array_view.hpp"
#include "mmace/evaluator_simd.hpp"
#include "mmace/kernel_clones.hpp"

namespace mmace {

using detail::as_int;
using detail::require;

void TensorProduct::load(const ArrayStore& s, const std::string& p, int din, int dpsi, int dout) {
    d_in = din;
    d_psi = dpsi;
    d_out = dout;
    const auto& pa = s.ints(p + ".paths", {-1, 4});
    const int np = static_cast<int>(pa.size() / 4);
    g_size = 0;
    for (int q = 0; q < np; ++q) {
        Path path;
        path.in0 = as_int(MMACE_AT(pa, 4 * q), p + " path input start", 0, din - 1);
        path.m1 = as_int(MMACE_AT(pa, 4 * q + 1), p + " path input size", 1, din);
        path.out0 = as_int(MMACE_AT(pa, 4 * q + 2), p + " path output start", 0, dout - 1);
        path.mo = as_int(MMACE_AT(pa, 4 * q + 3), p + " path output size", 1, dout);
        require(path.in0 + path.m1 <= din && path.out0 + path.mo <= dout,
                p + ": path block exceeds the feature size");
        path.g0 = g_size;
        g_size += path.m1 * path.mo;
        paths.push_back(path);
    }
    const auto& idx = s.ints(p + ".index", {-1, 4});
    const int nnz = static_cast<int>(idx.size() / 4);
    const auto& val = s.real(p + ".value", {nnz});
    std::vector<int> order(nnz);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return MMACE_AT(idx, 4 * a) < MMACE_AT(idx, 4 * b); });
    for (int e : order) {
        const int q = as_int(MMACE_AT(idx, 4 * e), p + " entry path", 0, np - 1);
        const Path& path = MMACE_AT(paths, q);
        e_path.push_back(q);
        e_k.push_back(as_int(MMACE_AT(idx, 4 * e + 1), p + " entry psi index", 0, dpsi - 1));
        e_m.push_back(as_int(MMACE_AT(idx, 4 * e + 2), p + " entry input index", 0, path.m1 - 1));
        e_o.push_back(as_int(MMACE_AT(idx, 4 * e + 3), p + " entry output index", 0, path.mo - 1));
        e_val.push_back(MMACE_AT(val, e));
    }
    // Per output component, the terms of the paths that reach it, each restricted to the range
    // of input components m with coupling entries for that output (a path coupling through the
    // scalar harmonic is diagonal, one m per output): G[m][o] is exactly zero outside, for any
    // edge attributes. Paths without entries for o are left out.
    const std::size_t nnz_all = e_val.size();
    out_off.assign(dout + 1, 0);
    out_terms.clear();
    for (int o = 0; o < dout; ++o) {
        for (int q = 0; q < np; ++q) {
            const Path& pa = paths[q];
            if (o < pa.out0 || o >= pa.out0 + pa.mo) continue;
            int lo = pa.m1, hi = -1;
            for (std::size_t e = 0; e < nnz_all; ++e)
                if (e_path[e] == q && e_o[e] == o - pa.out0) {
                    lo = std::min(lo, e_m[e]);
                    hi = std::max(hi, e_m[e]);
                }
            if (hi < lo) continue;
            out_terms.push_back({q, pa.in0 + lo, hi - lo + 1, pa.g0 + lo * pa.mo + (o - pa.out0), pa.mo});
        }
        MMACE_AT(out_off, o + 1) = static_cast<int>(out_terms.size());
    }
}

void TensorProduct::fold(const real_t* psi, real_t* g) const {
    std::fill(g, g + g_size, 0.0);
    const ArrayView<const real_t> pv(psi, d_psi, "TensorProduct psi");   // [d_psi]
    const ArrayView<real_t> gv(g, g_size, "TensorProduct G");          // [g_size]
    const std::size_t n = e_val.size();
    for (std::size_t e = 0; e < n; ++e) {
        const Path& p = MMACE_AT(paths, e_path[e]);
        gv[p.g0 + e_m[e] * p.mo + e_o[e]] += e_val[e] * pv[e_k[e]];
    }
}

void TensorProduct::fold_transpose(const real_t* gbar, real_t* psibar) const {
    const std::size_t n = e_val.size();
    for (std::size_t e = 0; e < n; ++e) {
        const Path& p = MMACE_AT(paths, e_path[e]);
        psibar[e_k[e]] += e_val[e] * gbar[p.g0 + e_m[e] * p.mo + e_o[e]];
    }
}

MMACE_KERNEL
void TensorProduct::message_backward(const real_t* u, const real_t* g, const real_t* w,
                                     const real_t* abar, int c, real_t* ubar, real_t* wbar,
                                     real_t* gbar) const {
    // acc[o][ch] += w[p][ch] sum_m u[in0 + m][ch] g[g + m gs] over the terms of o
    const std::size_t cs = static_cast<std::size_t>(c);
    for (int o = 0; o < d_out; ++o) {
        const real_t* ab = abar + o * cs;
        for (int q = out_off[o]; q < out_off[o + 1]; ++q) {
            const OutTerm& tm = out_terms[q];
            const real_t* wp = w + tm.p * cs;
            real_t* wpb = wbar + tm.p * cs;
            for (int m = 0; m < tm.m1; ++m) {
                const real_t gm = g[tm.g + m * tm.gs];
                const real_t* __restrict ur = u + (tm.in0 + m) * cs;
                real_t* __restrict ub = ubar + (tm.in0 + m) * cs;
                for (std::size_t ch = 0; ch < cs; ++ch) {
                    ub[ch] += ab[ch] * wp[ch] * gm;
                    wpb[ch] += ab[ch] * ur[ch] * gm;
                }
                if (gbar != nullptr) {
                    real_t gsum = 0.0;
                    for (std::size_t ch = 0; ch < cs; ++ch) gsum += ab[ch] * wp[ch] * ur[ch];
                    gbar[tm.g + m * tm.gs] += gsum;
                }
            }
        }
    }
}

namespace {

// Messages of R edges for the channels of one chunk K (see evaluator_simd.hpp):
//   acc_r[o][c] += sum over the terms of o of w_r[p][c] * sum_m u_r[in0 + m][c] g_r[g + m gs].
// SHARED: every u_r is u_0 (edges of one sender), loaded once for all R edges. DIFF (R even):
// acc_s += message(u_2s, g_2s, w_2s) - message(u_2s+1, g_2s+1, w_2s+1). GATHER: acc_0 += sum_r message(u_r,
// g_r, w_r) (edges of one receiver, summed in registers). R NV accumulation chains per output
// hide the FMA latency.
template <class K, int R, bool SHARED, bool DIFF, bool GATHER = false>
__attribute__((always_inline)) inline void tp_chunk(const TensorProduct& tp,
                                                    const real_t* const* u,
                                                    const real_t* const* g,
                                                    const real_t* const* w, real_t* const* acc,
                                                    std::size_t cs, int c0) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes;
    constexpr int RS = GATHER ? 1 : DIFF ? R / 2 : R;      // output rows
    static_assert(!DIFF || R % 2 == 0, "a difference has two edges");
    const TensorProduct::OutTerm* terms = tp.out_terms.data();
    const int* off = tp.out_off.data();
    for (int o = 0; o < tp.d_out; ++o) {
        if (off[o] == off[o + 1]) continue;
        V sum[RS][NV];
        for (int r = 0; r < RS; ++r)
            for (int v = 0; v < NV; ++v) sum[r][v] = S::zero();
        for (int q = off[o]; q < off[o + 1]; ++q) {
            const TensorProduct::OutTerm& tm = terms[q];
            V t[R][NV];
            auto contract = [&](int m, auto first) __attribute__((always_inline)) {
                const std::size_t row = (tm.in0 + m) * cs + c0;
                V us[NV];
                if (SHARED)
                    for (int v = 0; v < NV; ++v) us[v] = S::load(u[0] + row + v * LN);
                for (int r = 0; r < R; ++r) {
                    const real_t gm = g[r][tm.g + m * tm.gs];
                    for (int v = 0; v < NV; ++v) {
                        const V x = (SHARED ? us[v] : S::load(u[r] + row + v * LN)) * gm;
                        if (decltype(first)::value)
                            t[r][v] = x;
                        else
                            t[r][v] += x;
                    }
                }
            };
            contract(0, std::true_type());
            for (int m = 1; m < tm.m1; ++m) contract(m, std::false_type());
            const std::size_t wrow = tm.p * cs + c0;
            for (int r = 0; r < R; ++r)
                for (int v = 0; v < NV; ++v) {
                    const V x = S::load(w[r] + wrow + v * LN) * t[r][v];
                    if (DIFF && r % 2 == 1)
                        sum[r / 2][v] -= x;
                    else if (DIFF)
                        sum[r / 2][v] += x;
                    else if (GATHER)
                        sum[0][v] += x;
                    else
                        sum[r][v] += x;
                }
        }
        for (int r = 0; r < RS; ++r) {
            real_t* out = acc[r] + o * cs + c0;
            for (int v = 0; v < NV; ++v) S::store(out + v * LN, S::load(out + v * LN) + sum[r][v]);
        }
    }
}

// f(integral_constant<int, R>, r) over the rows [0, n) in groups of R = RB (4 or 2), then 2,
// then 1: the register-blocked row loops of every batched message kernel.
template <int RB, class F>
__attribute__((always_inline)) inline void in_groups(int n, F&& f) {
    int r = 0;
    for (; r + RB <= n; r += RB) f(std::integral_constant<int, RB>(), r);
    if (RB > 2 && r + 2 <= n) {
        f(std::integral_constant<int, 2>(), r);
        r += 2;
    }
    if (r < n) f(std::integral_constant<int, 1>(), r);
}

// How a batch of n edges is combined (tp_batch):
//   Shared  every edge has the one sender feature u[0], acc[r] += msg_r;
//   Diffs   rows (new, old) per edge: acc[r] += msg(new) - msg(old), 2n rows of u, g, w;
//   Gather  every edge ends at one receiver: acc[0] += sum_r msg_r, summed in registers.
enum class Batch { Shared, Diffs, Gather };

// n edges of one channel chunk K, in groups of 4 (2 for chunks of 32 channels; Gather: 4).
template <class K, Batch B>
__attribute__((always_inline)) inline void tp_batch(const TensorProduct& tp, int n,
                                                    const real_t* const* u,
                                                    const real_t* const* g,
                                                    const real_t* const* w, real_t* const* acc,
                                                    std::size_t cs, int c0) {
    constexpr int RB = (B != Batch::Gather && K::nv >= 4) ? 2 : 4;
    in_groups<RB>(n, [&](auto rr, int r) __attribute__((always_inline)) {
        constexpr int R = decltype(rr)::value;
        if constexpr (B == Batch::Shared)
            tp_chunk<K, R, true, false>(tp, u, g + r, w + r, acc + r, cs, c0);
        else if constexpr (B == Batch::Diffs)
            tp_chunk<K, 2 * R, false, true>(tp, u + 2 * r, g + 2 * r, w + 2 * r, acc + r, cs,
                                            c0);
        else
            tp_chunk<K, R, false, false, true>(tp, u + r, g + r, w + r, acc, cs, c0);
    });
}

}  // namespace

MMACE_KERNEL
void TensorProduct::message_diff_batch(int n, const real_t* const* u, const real_t* const* g,
                                       const real_t* const* w, real_t* const* acc, int c) const {
    const std::size_t cs = static_cast<std::size_t>(c);
    simd::for_channel_chunks(c, [&](auto k, int c0) __attribute__((always_inline)) {
        tp_batch<decltype(k), Batch::Diffs>(*this, n, u, g, w, acc, cs, c0);
    });
}

MMACE_KERNEL
void TensorProduct::message_gather(int n, const real_t* const* u, const real_t* const* g,
                                   const real_t* const* w, real_t* acc, int c) const {
    const std::size_t cs = static_cast<std::size_t>(c);
    real_t* const a[1] = {acc};
    simd::for_channel_chunks(c, [&](auto k, int c0) __attribute__((always_inline)) {
        tp_batch<decltype(k), Batch::Gather>(*this, n, u, g, w, a, cs, c0);
    });
}

MMACE_KERNEL
void TensorProduct::message(const real_t* u, const real_t* g, const real_t* w, int c,
                            real_t* acc) const {
    const std::size_t cs = static_cast<std::size_t>(c);
    simd::for_channel_chunks(c, [&](auto k, int c0) __attribute__((always_inline)) {
        tp_chunk<decltype(k), 1, true, false>(*this, &u, &g, &w, &acc, cs, c0);
    });
}

MMACE_KERNEL
void TensorProduct::message_diff(const real_t* u1, const real_t* g1, const real_t* w1,
                                 const real_t* u0, const real_t* g0, const real_t* w0, int c,
                                 real_t* acc, real_t*) const {
    const std::size_t cs = static_cast<std::size_t>(c);
    const real_t* u[2] = {u1, u0};
    const real_t* g[2] = {g1, g0};
    const real_t* w[2] = {w1, w0};
    real_t* a[2] = {acc, acc};
    simd::for_channel_chunks(c, [&](auto k, int c0) __attribute__((always_inline)) {
        tp_chunk<decltype(k), 2, false, true>(*this, u, g, w, a, cs, c0);
    });
}

MMACE_KERNEL
void TensorProduct::message_shared(const real_t* u, int n, const real_t* const* g,
                                   const real_t* const* w, real_t* const* acc, int c) const {
    const std::size_t cs = static_cast<std::size_t>(c);
    simd::for_channel_chunks(c, [&](auto k, int c0) __attribute__((always_inline)) {
        tp_batch<decltype(k), Batch::Shared>(*this, n, &u, g, w, acc, cs, c0);
    });
}

}  // namespace mmace
