// Frozen mMACE model: loading with validation, and the shared kernels (see evaluator_model.hpp).
#include "mmace/evaluator_model.hpp"
#include "mmace/evaluator_simd.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace mmace {

namespace {

std::string shape_str(const std::vector<std::int64_t>& s) {
    std::ostringstream o;
    o << "(";
    for (std::size_t k = 0; k < s.size(); ++k) o << (k ? ", " : "") << s[k];
    o << (s.size() == 1 ? ",)" : ")");
    return o.str();
}

[[noreturn]] void fail(const std::string& msg) { throw InputError("frozen mMACE model: " + msg); }

void require(bool ok, const std::string& msg) {
    if (!ok) fail(msg);
}

int as_int(std::int64_t v, const std::string& what, std::int64_t lo, std::int64_t hi) {
    if (v < lo || v > hi)
        fail(what + " = " + std::to_string(v) + " out of range [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
    return static_cast<int>(v);
}

inline real_t silu(real_t x) { return x / (1.0 + std::exp(-x)); }

}  // namespace

// ----------------------------------------------------------------------------- small_gemm
namespace {

// One register tile: R rows x K::width output channels (K a chunk of evaluator_simd.hpp). With
// scale != nullptr the result is multiplied elementwise by the row's scale vector
// (scale[r] + col) before the store.
template <class K, int R>
__attribute__((always_inline)) inline void tile(const real_t* x, std::size_t xs, int c_in,
                                                const real_t* w, int c_out, real_t* y,
                                                std::size_t ys, bool acc,
                                                const real_t* const* scale, int col) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes;
    V a[R][NV];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) a[r][v] = acc ? S::load(y + r * ys + v * LN) : S::zero();
    for (int ci = 0; ci < c_in; ++ci) {
        const real_t* wr = w + static_cast<std::size_t>(ci) * c_out;
        V wv[NV];
        for (int v = 0; v < NV; ++v) wv[v] = S::load(wr + v * LN);
        for (int r = 0; r < R; ++r) {
            const real_t xv = x[r * xs + ci];
            for (int v = 0; v < NV; ++v) a[r][v] += xv * wv[v];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) {
            if (scale != nullptr) a[r][v] *= S::load(scale[r] + col + v * LN);
            S::store(y + r * ys + v * LN, a[r][v]);
        }
}

// Every row of one column tile: tiles of 4 rows, then the 1-3 left.
template <class K>
__attribute__((always_inline)) inline void tile_rows(const real_t* x, std::size_t xs, int n_rows,
                                                     int c_in, const real_t* w, int c_out,
                                                     real_t* y, std::size_t ys, bool acc,
                                                     const real_t* const* scale, int col) {
    int r = 0;
    auto at = [&](int r0) __attribute__((always_inline)) { return scale ? scale + r0 : nullptr; };
    for (; r + 4 <= n_rows; r += 4)
        tile<K, 4>(x + r * xs, xs, c_in, w, c_out, y + r * ys, ys, acc, at(r), col);
    switch (n_rows - r) {
        case 3: tile<K, 3>(x + r * xs, xs, c_in, w, c_out, y + r * ys, ys, acc, at(r), col); break;
        case 2: tile<K, 2>(x + r * xs, xs, c_in, w, c_out, y + r * ys, ys, acc, at(r), col); break;
        case 1: tile<K, 1>(x + r * xs, xs, c_in, w, c_out, y + r * ys, ys, acc, at(r), col); break;
        default: break;
    }
}

}  // namespace

MMACE_KERNEL
void small_gemm_scaled(const real_t* x, std::size_t xs, int n_rows, int c_in, const real_t* w,
                       int c_out, real_t* y, std::size_t ys, bool acc,
                       const real_t* const* scale) {
    using simd::Chunk;
    int co = 0;
    for (; co + 16 <= c_out; co += 16)
        tile_rows<Chunk<simd::Wide, 2>>(x, xs, n_rows, c_in, w + co, c_out, y + co, ys, acc, scale, co);
    for (; co + 4 <= c_out; co += 4)
        tile_rows<Chunk<simd::Half, 1>>(x, xs, n_rows, c_in, w + co, c_out, y + co, ys, acc, scale, co);
    for (; co < c_out; ++co)
        tile_rows<Chunk<simd::Narrow, 1>>(x, xs, n_rows, c_in, w + co, c_out, y + co, ys, acc, scale, co);
}

void small_gemm(const real_t* x, std::size_t xs, int n_rows, int c_in, const real_t* w, int c_out,
                real_t* y, std::size_t ys, bool acc) {
    small_gemm_scaled(x, xs, n_rows, c_in, w, c_out, y, ys, acc, nullptr);
}

// ----------------------------------------------------------------------------- ArrayStore
void ArrayStore::add_real(const std::string& name, const real_t* data,
                          const std::vector<std::int64_t>& shape) {
    Entry e;
    e.shape = shape;
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    e.f.assign(data, data + n);
    for (real_t v : e.f)
        if (!std::isfinite(v)) fail("array '" + name + "' has non-finite values");
    entries_[name] = std::move(e);
}

void ArrayStore::add_int(const std::string& name, const std::int64_t* data,
                         const std::vector<std::int64_t>& shape) {
    Entry e;
    e.is_int = true;
    e.shape = shape;
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    e.i.assign(data, data + n);
    entries_[name] = std::move(e);
}

const ArrayStore::Entry& ArrayStore::get(const std::string& name,
                                         const std::vector<std::int64_t>& shape,
                                         bool is_int) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("missing array '" + name + "'");
    const Entry& e = it->second;
    if (e.is_int != is_int)
        fail("array '" + name + "' should be " + (is_int ? "integer" : "float64"));
    bool ok = e.shape.size() == shape.size();
    for (std::size_t k = 0; ok && k < shape.size(); ++k)
        ok = shape[k] < 0 || shape[k] == e.shape[k];
    if (!ok)
        fail("array '" + name + "' has shape " + shape_str(e.shape) + ", expected " +
             shape_str(shape));
    return e;
}

const std::vector<real_t>& ArrayStore::real(const std::string& name,
                                            const std::vector<std::int64_t>& shape) const {
    return get(name, shape, false).f;
}

const std::vector<std::int64_t>& ArrayStore::ints(const std::string& name,
                                                  const std::vector<std::int64_t>& shape) const {
    return get(name, shape, true).i;
}

const std::vector<std::int64_t>& ArrayStore::shape(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("missing array '" + name + "'");
    return it->second.shape;
}

real_t ArrayStore::scalar(const std::string& name) const { return real(name, {})[0]; }

std::int64_t ArrayStore::integer(const std::string& name) const { return ints(name, {})[0]; }

// ----------------------------------------------------------------------------- BlockLinear
namespace {
// Validated block table [nb, 3] (input start, output start, size) of a per-l channel mixing.
void load_block_table(const std::vector<std::int64_t>& blocks, int nb, int d_in, int d_out,
                      const std::string& p, std::vector<int>& in0, std::vector<int>& out0,
                      std::vector<int>& dim) {
    for (int b = 0; b < nb; ++b) {
        const int i0 = as_int(blocks[3 * b], p + " block start", 0, d_in - 1);
        const int o0 = as_int(blocks[3 * b + 1], p + " block start", 0, d_out - 1);
        const int dm = as_int(blocks[3 * b + 2], p + " block size", 1, d_in);
        require(i0 + dm <= d_in && o0 + dm <= d_out, p + ": block exceeds the feature size");
        in0.push_back(i0);
        out0.push_back(o0);
        dim.push_back(dm);
    }
}

// w = wt * norm (the file's weights with their normalisation folded in)
void scaled_copy(const std::vector<real_t>& wt, real_t norm, std::vector<real_t>& w) {
    w.resize(wt.size());
    for (std::size_t k = 0; k < wt.size(); ++k) w[k] = wt[k] * norm;
}
}  // namespace

void BlockLinear::load(const ArrayStore& s, const std::string& p, int c) {
    const auto& dims = s.ints(p + ".dims", {2});
    d_in = as_int(dims[0], p + " d_in", 1, 1 << 20);
    d_out = as_int(dims[1], p + " d_out", 1, 1 << 20);
    c_in = c_out = c;
    const auto& blocks = s.ints(p + ".blocks", {-1, 3});
    const int nb = static_cast<int>(blocks.size() / 3);
    const auto& wt = s.real(p + ".weight", {nb, c, c});
    const real_t norm = s.scalar(p + ".norm");
    load_block_table(blocks, nb, d_in, d_out, p, in0, out0, dim);
    scaled_copy(wt, norm, w);
}

void BlockLinear::apply(const real_t* x, real_t* y) const {
    std::fill(y, y + static_cast<std::size_t>(d_out) * c_out, 0.0);
    apply_add(x, y);
}

void BlockLinear::apply_add(const real_t* x, real_t* y) const {
    const int nb = static_cast<int>(in0.size());
    for (int b = 0; b < nb; ++b)
        small_gemm(x + static_cast<std::size_t>(in0[b]) * c_in, c_in, dim[b], c_in,
                   w.data() + static_cast<std::size_t>(b) * c_in * c_out, c_out,
                   y + static_cast<std::size_t>(out0[b]) * c_out, c_out, true);
}

void BlockLinear::apply_batch(const real_t* x, std::size_t n, real_t* y) const {
    std::fill(y, y + n * static_cast<std::size_t>(d_out) * c_out, 0.0);
    apply_batch_add(x, n, y);
}

void BlockLinear::apply_batch_add(const real_t* x, std::size_t n, real_t* y) const {
    const std::size_t xs = static_cast<std::size_t>(d_in) * c_in;
    const std::size_t ys = static_cast<std::size_t>(d_out) * c_out;
    const int nb = static_cast<int>(in0.size());
    for (int b = 0; b < nb; ++b)
        for (int m = 0; m < dim[b]; ++m)
            small_gemm(x + static_cast<std::size_t>(in0[b] + m) * c_in, xs, static_cast<int>(n), c_in,
                       w.data() + static_cast<std::size_t>(b) * c_in * c_out, c_out,
                       y + static_cast<std::size_t>(out0[b] + m) * c_out, ys, true);
}

void BlockLinear::scale(real_t f) {
    for (real_t& v : w) v *= f;
}

// ----------------------------------------------------------------------------- AttrLinear
void AttrLinear::load(const ArrayStore& s, const std::string& p, int cc, int na, int nm) {
    const auto& dims = s.ints(p + ".dims", {2});
    d_in = as_int(dims[0], p + " d_in", 1, 1 << 20);
    d_out = as_int(dims[1], p + " d_out", 1, 1 << 20);
    c = cc;
    n_attr = na;
    n_mag = nm;
    const auto& blocks = s.ints(p + ".blocks", {-1, 3});
    const int nb = static_cast<int>(blocks.size() / 3);
    const auto& wt = s.real(p + ".weight", {nb, na, cc, cc});
    const real_t norm = s.scalar(p + ".norm");
    load_block_table(blocks, nb, d_in, d_out, p, in0, out0, dim);
    scaled_copy(wt, norm, w);
}

MMACE_KERNEL
void AttrLinear::apply(const real_t* x, const NodeAttr& a, real_t* y, real_t* tmp) const {
    std::fill(y, y + static_cast<std::size_t>(d_out) * c, 0.0);
    const std::size_t cc = static_cast<std::size_t>(c) * c;
    const int nb = static_cast<int>(in0.size());
    for (int b = 0; b < nb; ++b) {
        const real_t* wb = w.data() + static_cast<std::size_t>(b) * n_attr * cc;
        const real_t* wi;
        if (a.phi == nullptr) {
            wi = wb + static_cast<std::size_t>(a.species) * cc;
        } else {
            const real_t* w0 = wb + static_cast<std::size_t>(a.species) * n_mag * cc;
            const real_t f0 = a.phi[0];
            for (std::size_t k = 0; k < cc; ++k) tmp[k] = f0 * w0[k];
            for (int q = 1; q < n_mag; ++q) {
                const real_t f = a.phi[q];
                const real_t* __restrict wq = w0 + q * cc;
                for (std::size_t k = 0; k < cc; ++k) tmp[k] += f * wq[k];
            }
            wi = tmp;
        }
        small_gemm(x + static_cast<std::size_t>(in0[b]) * c, c, dim[b], c, wi, c,
                   y + static_cast<std::size_t>(out0[b]) * c, c, false);
    }
}

// ----------------------------------------------------------------------------- Mlp
void Mlp::load(const ArrayStore& s, const std::string& p) {
    const int depth = as_int(s.integer(p + ".depth"), p + " depth", 1, 64);
    widths.clear();
    w.clear();
    for (int k = 0; k < depth; ++k) {
        const std::string name = p + "." + std::to_string(k) + ".weight";
        const auto& sh = s.shape(name);
        require(sh.size() == 2, name + " must be a matrix");
        if (k == 0) widths.push_back(static_cast<int>(sh[0]));
        require(sh[0] == widths.back(), name + ": widths do not chain");
        widths.push_back(static_cast<int>(sh[1]));
        const auto& wt = s.real(name, {sh[0], sh[1]});
        const real_t norm = s.scalar(p + "." + std::to_string(k) + ".norm");
        std::vector<real_t> m(wt.size());
        for (std::size_t q = 0; q < wt.size(); ++q) m[q] = wt[q] * norm;
        w.push_back(std::move(m));
    }
}

int Mlp::max_width() const { return *std::max_element(widths.begin(), widths.end()); }

void Mlp::apply(const real_t* x, real_t* y, real_t* tmp) const {
    const int depth = static_cast<int>(w.size());
    const int mw = max_width();
    const real_t* in = x;
    for (int k = 0; k < depth; ++k) {
        const int a = widths[k], b = widths[k + 1];
        real_t* out = (k == depth - 1) ? y : tmp + (k % 2) * mw;
        small_gemm(in, a, 1, a, w[k].data(), b, out, b, false);
        if (k < depth - 1)
            for (int j = 0; j < b; ++j) out[j] = silu(out[j]);
        in = out;
    }
}

void Mlp::apply_batch(const real_t* x, std::size_t xs, std::size_t n, real_t* y,
                      real_t* tmp) const {
    const int depth = static_cast<int>(w.size());
    const std::size_t mw = static_cast<std::size_t>(max_width());
    const real_t* in = x;
    std::size_t in_stride = xs;
    for (int k = 0; k < depth; ++k) {
        const int a = widths[k], b = widths[k + 1];
        real_t* out = (k == depth - 1) ? y : tmp + (k % 2) * n * mw;
        small_gemm(in, in_stride, static_cast<int>(n), a, w[k].data(), b, out, b, false);
        if (k < depth - 1)
            for (std::size_t j = 0; j < n * b; ++j) out[j] = silu(out[j]);
        in = out;
        in_stride = b;
    }
}

// ----------------------------------------------------------------------------- TensorProduct
void TensorProduct::load(const ArrayStore& s, const std::string& p, int din, int dpsi, int dout) {
    d_in = din;
    d_psi = dpsi;
    d_out = dout;
    const auto& pa = s.ints(p + ".paths", {-1, 4});
    const int np = static_cast<int>(pa.size() / 4);
    g_size = 0;
    for (int q = 0; q < np; ++q) {
        Path path;
        path.in0 = as_int(pa[4 * q], p + " path input start", 0, din - 1);
        path.m1 = as_int(pa[4 * q + 1], p + " path input size", 1, din);
        path.out0 = as_int(pa[4 * q + 2], p + " path output start", 0, dout - 1);
        path.mo = as_int(pa[4 * q + 3], p + " path output size", 1, dout);
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
                     [&](int a, int b) { return idx[4 * a] < idx[4 * b]; });
    for (int e : order) {
        const int q = as_int(idx[4 * e], p + " entry path", 0, np - 1);
        const Path& path = paths[q];
        e_path.push_back(q);
        e_k.push_back(as_int(idx[4 * e + 1], p + " entry psi index", 0, dpsi - 1));
        e_m.push_back(as_int(idx[4 * e + 2], p + " entry input index", 0, path.m1 - 1));
        e_o.push_back(as_int(idx[4 * e + 3], p + " entry output index", 0, path.mo - 1));
        e_val.push_back(val[e]);
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
        out_off[o + 1] = static_cast<int>(out_terms.size());
    }
}

void TensorProduct::fold(const real_t* psi, real_t* g) const {
    std::fill(g, g + g_size, 0.0);
    const std::size_t n = e_val.size();
    for (std::size_t e = 0; e < n; ++e) {
        const Path& p = paths[e_path[e]];
        g[p.g0 + e_m[e] * p.mo + e_o[e]] += e_val[e] * psi[e_k[e]];
    }
}

namespace {

// Messages of R edges for the channels of one chunk K (see evaluator_simd.hpp):
//   acc_r[o][c] += sum over the terms of o of w_r[p][c] * sum_m u_r[in0 + m][c] g_r[g + m gs].
// SHARED: every u_r is u_0 (edges of one sender), loaded once for all R edges. DIFF (R = 2):
// acc_0 += message(u_0, g_0, w_0) - message(u_1, g_1, w_1). R NV accumulation chains per output
// hide the FMA latency.
template <class K, int R, bool SHARED, bool DIFF>
__attribute__((always_inline)) inline void tp_chunk(const TensorProduct& tp,
                                                    const real_t* const* u,
                                                    const real_t* const* g,
                                                    const real_t* const* w, real_t* const* acc,
                                                    std::size_t cs, int c0) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes;
    constexpr int RS = DIFF ? 1 : R;                       // output rows
    static_assert(!DIFF || R == 2, "a difference has two edges");
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
                    if (DIFF && r == 1)
                        sum[0][v] -= x;
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

// n edges in groups of R (4 for chunks of up to 16 channels, 2 for 32), then 2 and 1.
template <class K, bool SHARED>
__attribute__((always_inline)) inline void tp_edges(const TensorProduct& tp, int n,
                                                    const real_t* const* u,
                                                    const real_t* const* g,
                                                    const real_t* const* w, real_t* const* acc,
                                                    std::size_t cs, int c0) {
    constexpr int RB = K::nv >= 4 ? 2 : 4;
    int r = 0;
    auto step = [&](auto rr) __attribute__((always_inline)) {
        constexpr int RR = decltype(rr)::value;
        tp_chunk<K, RR, SHARED, false>(tp, SHARED ? u : u + r, g + r, w + r, acc + r, cs, c0);
        r += RR;
    };
    for (; r + RB <= n;) step(std::integral_constant<int, RB>());
    if (RB > 2 && r + 2 <= n) step(std::integral_constant<int, 2>());
    if (r < n) step(std::integral_constant<int, 1>());
}

}  // namespace

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
        tp_edges<decltype(k), true>(*this, n, &u, g, w, acc, cs, c0);
    });
}

// ----------------------------------------------------------------------------- SymmetricContraction
void SymmetricContractionF::load(const ArrayStore& s, const std::string& p, int da, int dout,
                                 int cc, int na, int nm) {
    d_a = da;
    d_out = dout;
    c = cc;
    n_attr = na;
    n_mag = nm;
    correlation = as_int(s.integer(p + ".correlation"), p + " correlation", 1, 8);
    const int nb = as_int(s.integer(p + ".n_blocks"), p + " n_blocks", 1, 1024);
    std::vector<std::vector<int>> monos(correlation);   // [nu - 1][n_mono * nu] sorted tuples
    for (int nu = 1; nu <= correlation; ++nu) {
        const std::string name = p + ".mono." + std::to_string(nu);
        const auto& sh = s.shape(name);
        require(sh.size() == 2 && sh[1] == nu, name + " must have shape (n, " + std::to_string(nu) + ")");
        for (auto v : s.ints(name, {sh[0], nu}))
            monos[nu - 1].push_back(as_int(v, name + " component", 0, da - 1));
    }
    max_wa = 0;
    for (int b = 0; b < nb; ++b) {
        const std::string pb = p + "." + std::to_string(b);
        const auto& blk = s.ints(pb + ".block", {2});
        Block block;
        block.out0 = as_int(blk[0], pb + " output start", 0, dout - 1);
        block.dim = as_int(blk[1], pb + " output size", 1, dout);
        require(block.out0 + block.dim <= dout, pb + ": block exceeds the output size");
        struct Raw { int m, nu, mono, wa; real_t val; };
        std::vector<Raw> raw;
        for (int nu = 1; nu <= correlation; ++nu) {
            const std::string pn = pb + "." + std::to_string(nu);
            const auto& wsh = s.shape(pn + ".weight");
            require(wsh.size() == 3 && wsh[0] == na && wsh[2] == cc,
                    pn + ".weight must have shape (n_attr, eta, C)");
            Term term;
            term.nu = nu;
            term.eta = static_cast<int>(wsh[1]);
            term.wa0 = block.n_wa;
            term.w = s.real(pn + ".weight", {na, term.eta, cc});
            const auto& idx = s.ints(pn + ".index", {-1, 3});
            const int nnz = static_cast<int>(idx.size() / 3);
            const auto& val = s.real(pn + ".value", {nnz});
            const int n_mono = static_cast<int>(monos[nu - 1].size() / nu);
            for (int e = 0; e < nnz; ++e)
                raw.push_back({as_int(idx[3 * e + 1], pn + " M", 0, block.dim - 1), nu,
                               as_int(idx[3 * e + 2], pn + " monomial", 0, n_mono - 1),
                               term.wa0 + as_int(idx[3 * e], pn + " eta", 0, term.eta - 1), val[e]});
            if (nnz > 0) {
                block.n_wa += term.eta;
                block.terms.push_back(std::move(term));
            }
        }
        // entries by (output row, order); stable: otherwise the file's order
        std::stable_sort(raw.begin(), raw.end(), [](const Raw& x, const Raw& y) {
            return x.m != y.m ? x.m < y.m : x.nu < y.nu;
        });
        block.g_off.assign(block.dim + 1, 0);
        for (std::size_t e = 0; e < raw.size(); ++e) {
            const Raw& r = raw[e];
            block.entries.push_back({static_cast<int>(block.comps.size()), r.wa, r.val});
            for (int q = 0; q < r.nu; ++q) block.comps.push_back(monos[r.nu - 1][r.mono * r.nu + q] * cc);
            const int ei = static_cast<int>(e);
            if (e == 0 || raw[e - 1].m != r.m || raw[e - 1].nu != r.nu) {
                block.groups.push_back({r.nu, ei, ei});
                ++block.g_off[r.m + 1];
            }
            block.groups.back().e1 = ei + 1;
        }
        for (int m = 0; m < block.dim; ++m) block.g_off[m + 1] += block.g_off[m];
        max_wa = std::max(max_wa, block.n_wa);
        blocks.push_back(std::move(block));
    }
}

std::size_t SymmetricContractionF::scratch_size() const {
    return static_cast<std::size_t>(kNodes) * max_wa * c;
}

namespace {

// Entries [e0, e1) of one output row with monomials of order NU (NU = 0: any order, read from
// the entry) for NB nodes, added to the two register chains s0 / s1.
template <class K, int NB, int NU>
__attribute__((always_inline)) inline void sc_group(const SymmetricContractionF::Block& blk,
                                                    int nu_any, int e0, int e1, const real_t* a,
                                                    std::size_t as, const real_t* wa,
                                                    std::size_t wa_n,
                                                    typename K::V (&s0)[NB][K::nv],
                                                    typename K::V (&s1)[NB][K::nv]) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes, W = K::width;
    const int nu = NU > 0 ? NU : nu_any;
    const SymmetricContractionF::Entry* en = blk.entries.data();
    const int* comps = blk.comps.data();
    auto add = [&](V (&sum)[NB][NV], const SymmetricContractionF::Entry& x)
        __attribute__((always_inline)) {
        const int* cp = comps + x.comp;
        const real_t* q0 = wa + x.wa * W;
        for (int n = 0; n < NB; ++n) {
            const real_t* an = a + n * as;
            for (int v = 0; v < NV; ++v) {
                V p = S::load(an + cp[0] + v * LN);
                for (int r = 1; r < nu; ++r) p *= S::load(an + cp[r] + v * LN);
                sum[n][v] += x.val * (S::load(q0 + n * wa_n + v * LN) * p);
            }
        }
    };
    int e = e0;
    for (; e + 2 <= e1; e += 2) {
        add(s0, en[e]);
        add(s1, en[e + 1]);
    }
    if (e < e1) add(s0, en[e]);
}

// The contraction of NB nodes (features a + n as, outputs b + n bs) for the channels
// [c0, c0 + width) of one chunk K (see evaluator_simd.hpp): per node, the attribute-contracted
// weight rows of a block in a scratch table of width channels; each output row a sum over the
// block's entries in registers (two chains per vector for the FMA latency), the monomials
// multiplied out on the fly from the features (L1-resident). The tables are walked once for
// the NB nodes.
template <class K, int NB>
__attribute__((always_inline)) inline void sc_chunk(const SymmetricContractionF& sc,
                                                    const real_t* a, std::size_t as,
                                                    const NodeAttr* at, real_t* b,
                                                    std::size_t bs, real_t* wa, int c0) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes, W = K::width;
    const std::size_t cs = static_cast<std::size_t>(sc.c);
    const std::size_t wa_n = static_cast<std::size_t>(sc.max_wa) * W;
    const real_t* ac = a + c0;
    for (int n = 0; n < NB; ++n)
        for (int o = 0; o < sc.d_out; ++o)
            for (int v = 0; v < NV; ++v) S::store(b + n * bs + o * cs + c0 + v * LN, S::zero());
    for (const SymmetricContractionF::Block& blk : sc.blocks) {
        for (int n = 0; n < NB; ++n) {
            const int nq = at[n].phi == nullptr ? 1 : sc.n_mag;
            const real_t f0 = at[n].phi == nullptr ? 1.0 : at[n].phi[0];
            for (const SymmetricContractionF::Term& term : blk.terms) {
                const std::size_t ec = static_cast<std::size_t>(term.eta) * cs;
                const real_t* w0 = term.w.data() + static_cast<std::size_t>(at[n].species) * nq * ec + c0;
                real_t* wrow = wa + n * wa_n + static_cast<std::size_t>(term.wa0) * W;
                for (int e = 0; e < term.eta; ++e) {
                    V acc[NV];
                    for (int v = 0; v < NV; ++v) acc[v] = f0 * S::load(w0 + e * cs + v * LN);
                    for (int q = 1; q < nq; ++q)
                        for (int v = 0; v < NV; ++v)
                            acc[v] += at[n].phi[q] * S::load(w0 + q * ec + e * cs + v * LN);
                    for (int v = 0; v < NV; ++v) S::store(wrow + e * W + v * LN, acc[v]);
                }
            }
        }
        for (int m = 0; m < blk.dim; ++m) {
            V s0[NB][NV], s1[NB][NV];
            for (int n = 0; n < NB; ++n)
                for (int v = 0; v < NV; ++v) s0[n][v] = s1[n][v] = S::zero();
            for (int gi = blk.g_off[m]; gi < blk.g_off[m + 1]; ++gi) {
                const SymmetricContractionF::Group& g = blk.groups[gi];
                switch (g.nu) {
                    case 1: sc_group<K, NB, 1>(blk, 1, g.e0, g.e1, ac, as, wa, wa_n, s0, s1); break;
                    case 2: sc_group<K, NB, 2>(blk, 2, g.e0, g.e1, ac, as, wa, wa_n, s0, s1); break;
                    case 3: sc_group<K, NB, 3>(blk, 3, g.e0, g.e1, ac, as, wa, wa_n, s0, s1); break;
                    default: sc_group<K, NB, 0>(blk, g.nu, g.e0, g.e1, ac, as, wa, wa_n, s0, s1);
                }
            }
            for (int n = 0; n < NB; ++n) {
                real_t* out = b + n * bs + (blk.out0 + m) * cs + c0;
                for (int v = 0; v < NV; ++v)
                    S::store(out + v * LN, S::load(out + v * LN) + (s0[n][v] + s1[n][v]));
            }
        }
    }
}

template <int NB>
__attribute__((always_inline)) inline void sc_nodes(const SymmetricContractionF& sc,
                                                    const real_t* a, std::size_t as,
                                                    const NodeAttr* at, real_t* b,
                                                    std::size_t bs, real_t* scratch) {
    simd::for_channel_chunks(sc.c, [&](auto k, int c0) __attribute__((always_inline)) {
        sc_chunk<decltype(k), NB>(sc, a, as, at, b, bs, scratch, c0);
    });
}

}  // namespace

MMACE_KERNEL
void SymmetricContractionF::apply(const real_t* a, const NodeAttr& at, real_t* b,
                                  real_t* scratch) const {
    sc_nodes<1>(*this, a, 0, &at, b, 0, scratch);
}

MMACE_KERNEL
void SymmetricContractionF::apply_batch(const real_t* a, std::size_t n, const NodeAttr* at,
                                        real_t* b, real_t* scratch) const {
    const std::size_t as = static_cast<std::size_t>(d_a) * c, bs = static_cast<std::size_t>(d_out) * c;
    std::size_t r = 0;
    for (; r + kNodes <= n; r += kNodes) sc_nodes<kNodes>(*this, a + r * as, as, at + r, b + r * bs, bs, scratch);
    for (; r < n; ++r) sc_nodes<1>(*this, a + r * as, as, at + r, b + r * bs, bs, scratch);
}

// ----------------------------------------------------------------------------- FrozenModel
FrozenModel::FrozenModel(const ArrayStore& s) {
    const auto& sp = s.ints("species", {-1});
    require(!sp.empty(), "no species");
    z_to_species.fill(-1);
    for (std::size_t k = 0; k < sp.size(); ++k) {
        const int z = as_int(sp[k], "atomic number", 1, 118);
        require(z_to_species[z] < 0, "duplicate species " + std::to_string(z));
        z_to_species[z] = static_cast<int>(k);
        species_z.push_back(z);
    }
    const int ns = n_species();
    moment_scale = s.real("moment_scale", {ns});
    for (real_t v : moment_scale) require(v > 0, "moment_scale must be positive");
    e0 = s.real("e0", {ns});
    const auto& lsh = s.shape("landau");
    require(lsh.size() == 2 && lsh[0] == ns, "landau must have shape (n_species, K)");
    landau_order = static_cast<int>(lsh[1]);
    landau = s.real("landau", {ns, landau_order});
    scale = s.scalar("scale");
    shift = s.scalar("shift");
    n_mag = as_int(s.integer("n_mag"), "n_mag", 1, 64);
    l_spin_max = as_int(s.integer("l_spin_max"), "l_spin_max", 0, 8);
    soc = as_int(s.integer("soc"), "soc", 0, 1) == 1;
    centre_spin = as_int(s.integer("centre_spin"), "centre_spin", 0, 1) == 1;
    n_channels = as_int(s.integer("n_channels"), "n_channels", 1, 4096);
    const int n_layers = as_int(s.integer("n_layers"), "n_layers", 1, 16);
    l_max_sh = as_int(s.integer("l_max_sh"), "l_max_sh", 0, 8);
    n_sigma = as_int(s.integer("n_sigma"), "n_sigma", 1, 1 << 20);
    n_attr = centre_spin ? ns * n_mag : ns;
    const int c = n_channels;
    const auto& emb = s.real("embedding", {n_attr, c});
    const real_t en = s.scalar("embedding_norm");
    embedding.resize(emb.size());
    for (std::size_t k = 0; k < emb.size(); ++k) embedding[k] = emb[k] * en;

    sh_l_max = as_int(s.integer("sh.l_max"), "sh.l_max", std::max(l_max_sh, l_spin_max), 12);
    const auto& shi = s.ints("sh.index", {-1});
    const int nnz = static_cast<int>(shi.size());
    const auto& shp = s.ints("sh.powers", {nnz, 3});
    sh_coef = s.real("sh.coef", {nnz});
    const int n_comp = (sh_l_max + 1) * (sh_l_max + 1);
    for (int e = 0; e < nnz; ++e) {
        const int comp = as_int(shi[e], "sh.index", 0, n_comp - 1);
        require(e == 0 || comp >= sh_index.back(), "sh.index must be sorted");
        int l = 0;
        while ((l + 1) * (l + 1) <= comp) ++l;
        for (int d = 0; d < 3; ++d) sh_pow.push_back(as_int(shp[3 * e + d], "sh.powers", 0, l));
        require(shp[3 * e] + shp[3 * e + 1] + shp[3 * e + 2] == l,
                "sh.powers of component " + std::to_string(comp) + " must have degree " +
                    std::to_string(l));
        sh_index.push_back(comp);
    }
    load_spin(s);

    r_cut = s.scalar("radial.r_cut");
    require(r_cut > 0, "radial.r_cut must be positive");
    freq = s.real("radial.freq", {-1});
    radial_pref = s.scalar("radial.prefactor");
    envelope_p = as_int(s.integer("radial.envelope_power"), "radial.envelope_power", 1, 64);
    const auto& ec = s.real("radial.envelope_coef", {3});
    std::copy(ec.begin(), ec.end(), envelope_coef.begin());

    const int d_sh = n_sh();
    const int d_psi_expected = soc ? bond_spin.dk : d_sh;
    int d_prev = 1;
    for (int t = 0; t < n_layers; ++t) {
        const std::string p = "layers." + std::to_string(t);
        LayerModel L;
        const auto& dims = s.ints(p + ".dims", {5});
        L.d_in = as_int(dims[0], p + " D_in", 1, 1 << 16);
        L.d_psi = as_int(dims[1], p + " D_psi", 1, 1 << 16);
        L.d_a = as_int(dims[2], p + " D_A", 1, 1 << 16);
        L.d_out = as_int(dims[3], p + " D_out", 1, 1 << 16);
        L.n_paths = as_int(dims[4], p + " n_paths", 1, 1 << 16);
        require(L.d_in == d_prev, p + ": input size " + std::to_string(L.d_in) +
                                      " differs from the previous output " + std::to_string(d_prev));
        require(L.d_psi == d_psi_expected, p + ": edge-attribute size mismatch");
        L.last = as_int(s.integer(p + ".last"), p + ".last", 0, 1) == 1;
        require(L.last == (t == n_layers - 1), p + ": wrong 'last' flag");
        L.scalar_index = as_int(s.integer(p + ".scalar_index"), p + ".scalar_index", 0, L.d_out - 1);
        L.inv_avg = s.scalar(p + ".inv_avg_num_neighbors");
        L.linear_up.load(s, p + ".linear_up", c);
        L.linear.load(s, p + ".linear", c);
        L.linear.scale(L.inv_avg);          // linear(A / avg_num_neighbors), A the raw sum
        L.linear_out.load(s, p + ".linear_out", c);
        L.skip.load(s, p + ".skip", c, n_attr, centre_spin ? n_mag : 1);
        require(L.linear_up.d_in == L.d_in && L.linear_up.d_out == L.d_in, p + ": linear_up size");
        require(L.linear.d_in == L.d_a && L.linear.d_out == L.d_a, p + ": linear size");
        require(L.linear_out.d_in == L.d_out && L.linear_out.d_out == L.d_out, p + ": linear_out size");
        require(L.skip.d_in == L.d_in && L.skip.d_out == L.d_out, p + ": skip size");
        L.radial_mlp.load(s, p + ".radial_mlp");
        require(L.radial_mlp.n_in() == static_cast<int>(freq.size()),
                p + ": radial MLP input differs from the number of Bessel functions");
        require(L.radial_mlp.n_out() == L.n_paths * c, p + ": radial MLP output must be P * C");
        L.readout.load(s, p + ".readout");
        require(L.readout.n_in() == c && L.readout.n_out() == 1, p + ": readout must map C -> 1");
        // permute columns c * P + p -> p * C + c (torch's channel-major path weights)
        {
            auto& last = L.radial_mlp.w.back();
            const int rows = L.radial_mlp.widths[L.radial_mlp.widths.size() - 2];
            std::vector<real_t> perm(last.size());
            for (int r = 0; r < rows; ++r)
                for (int ch = 0; ch < c; ++ch)
                    for (int q = 0; q < L.n_paths; ++q)
                        perm[static_cast<std::size_t>(r) * L.n_paths * c + q * c + ch] =
                            last[static_cast<std::size_t>(r) * L.n_paths * c + ch * L.n_paths + q];
            last.swap(perm);
        }
        const auto& sw = s.real(p + ".spin_weight", {n_sigma, static_cast<std::int64_t>(L.n_paths) * c});
        L.spin_weight.resize(sw.size());
        for (int r = 0; r < n_sigma; ++r)
            for (int ch = 0; ch < c; ++ch)
                for (int q = 0; q < L.n_paths; ++q)
                    L.spin_weight[static_cast<std::size_t>(r) * L.n_paths * c + q * c + ch] =
                        sw[static_cast<std::size_t>(r) * L.n_paths * c + ch * L.n_paths + q];
        {   // sender-side rows SWs[q][r'] = SW[r' n + q] (see sender_weights_batch)
            const std::size_t pcs = static_cast<std::size_t>(L.n_paths) * c;
            const int nr = n_kappa_s();
            L.spin_weight_s.resize(static_cast<std::size_t>(nr) * n_mag * pcs);
            for (int q = 0; q < n_mag; ++q)
                for (int r = 0; r < nr; ++r)
                    std::copy_n(L.spin_weight.data() + (static_cast<std::size_t>(r) * n_mag + q) * pcs, pcs,
                                L.spin_weight_s.data() + (static_cast<std::size_t>(q) * nr + r) * pcs);
        }
        L.tp.load(s, p + ".tp", L.d_in, L.d_psi, L.d_a);
        require(static_cast<int>(L.tp.paths.size()) == L.n_paths, p + ": path count mismatch");
        L.sc.load(s, p + ".sc", L.d_a, L.d_out, c, n_attr, centre_spin ? n_mag : 1);
        layers.push_back(std::move(L));
        d_prev = layers.back().d_out;
    }
}

void FrozenModel::load_spin(const ArrayStore& s) {
    const int ls = l_spin_max;
    if (!soc) {
        spin_inv_norm = s.real("spin_invariant_norm", {ls + 1});
        const int want = centre_spin ? (ls + 1) * n_mag * n_mag : n_mag;
        require(n_sigma == want, "n_sigma = " + std::to_string(n_sigma) + ", non-SOC model needs " +
                                     std::to_string(want));
    } else {
        spin_pair = load_sparse3(s, "spin_pair");
        bond_spin = load_sparse3(s, "bond_spin");
        require(spin_pair.di == n_spin_sh() && spin_pair.dj == n_spin_sh(),
                "spin_pair dims must match the spin harmonics");
        require(bond_spin.di == n_sh() && bond_spin.dj == spin_pair.dk,
                "bond_spin dims must match bond harmonics x spin pair");
        const int want = centre_spin ? n_mag * n_mag : n_mag;
        require(n_sigma == want, "n_sigma = " + std::to_string(n_sigma) + ", SOC model needs " +
                                     std::to_string(want));
    }
}

FrozenModel::Sparse3 FrozenModel::load_sparse3(const ArrayStore& s, const std::string& p) {
    Sparse3 out;
    const auto& d = s.ints(p + ".dims", {3});
    out.di = as_int(d[0], p + " dim", 1, 1 << 16);
    out.dj = as_int(d[1], p + " dim", 1, 1 << 16);
    out.dk = as_int(d[2], p + " dim", 1, 1 << 16);
    const auto& idx = s.ints(p + ".index", {-1, 3});
    const int nnz = static_cast<int>(idx.size() / 3);
    out.v = s.real(p + ".value", {nnz});
    for (int e = 0; e < nnz; ++e) {
        out.i.push_back(as_int(idx[3 * e], p + " index", 0, out.di - 1));
        out.j.push_back(as_int(idx[3 * e + 1], p + " index", 0, out.dj - 1));
        out.k.push_back(as_int(idx[3 * e + 2], p + " index", 0, out.dk - 1));
    }
    return out;
}

int FrozenModel::species_index(int z) const {
    if (z < 0 || z > 118) return -1;
    return z_to_species[z];
}

void FrozenModel::sh(const Vec3& v, int l_max, real_t* out) const {
    real_t px[13], py[13], pz[13];
    px[0] = py[0] = pz[0] = 1.0;
    for (int k = 1; k <= l_max; ++k) {
        px[k] = px[k - 1] * v.x;
        py[k] = py[k - 1] * v.y;
        pz[k] = pz[k - 1] * v.z;
    }
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
    const real_t sc = moment_scale[s];
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
    real_t e = 0.0, xk = x;
    for (int k = 0; k < landau_order; ++k) {
        e += landau[static_cast<std::size_t>(s) * landau_order + k] * xk;
        xk *= x;
    }
    return e;
}

void FrozenModel::embed(const NodeAttr& a, real_t* h0) const {
    const int c = n_channels;
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
    const LayerModel& L = layers[layer];
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
    const LayerModel& L = layers[layer];
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
    const LayerModel& L = layers[layer];
    const int pc = L.n_paths * n_channels;
    small_gemm_scaled(kappa, nk, n, nk, x, pc, w, pc, false, radial);
}

void FrozenModel::sender_weights_batch(int layer, int n, const real_t* phi, real_t* xs) const {
    const LayerModel& L = layers[layer];
    const int row = n_kappa_s() * L.n_paths * n_channels;
    small_gemm(phi, n_mag, n, n_mag, L.spin_weight_s.data(), row, xs, row, false);
}

void FrozenModel::soc_psi(const real_t* y_bond, const real_t* ys_i, const real_t* ys_j,
                          real_t* psi, real_t* tmp) const {
    real_t* pair = tmp;
    std::fill(pair, pair + spin_pair.dk, 0.0);
    const std::size_t n1 = spin_pair.v.size();
    for (std::size_t e = 0; e < n1; ++e)
        pair[spin_pair.k[e]] += ys_i[spin_pair.i[e]] * ys_j[spin_pair.j[e]] * spin_pair.v[e];
    std::fill(psi, psi + bond_spin.dk, 0.0);
    const std::size_t n2 = bond_spin.v.size();
    for (std::size_t e = 0; e < n2; ++e)
        psi[bond_spin.k[e]] += y_bond[bond_spin.i[e]] * pair[bond_spin.j[e]] * bond_spin.v[e];
}

std::string FrozenModel::describe() const {
    std::ostringstream o;
    o << "FrozenModel(species=" << n_species() << ", C=" << n_channels << ", layers="
      << layers.size() << ", soc=" << soc << ", centre_spin=" << centre_spin
      << ", r_cut=" << r_cut << ")";
    return o.str();
}

}  // namespace mmace
