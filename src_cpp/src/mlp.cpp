// Mlp: loading and the bias-free MLPs, single and batched (see mlp.hpp).
#include "mmace/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "load_checks.hpp"
#include "mmace/small_gemm.hpp"

namespace mmace {

using detail::as_int;
using detail::require;

namespace {

inline real_t silu(real_t x) { return x / (1.0 + std::exp(-x)); }

}  // namespace

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

std::size_t Mlp::backward_scratch() const {
    // pre-activations and activations of every matrix, then two gradient rows
    std::size_t n = 0;
    for (int v : widths) n += 2 * static_cast<std::size_t>(v);
    return n + 2 * static_cast<std::size_t>(max_width());
}

void Mlp::jvp_batch(const real_t* x, const real_t* dx, std::size_t n, real_t* y, real_t* dy,
                    real_t* tmp) const {
    // 2n rows per layer, the values then their tangents, through one small GEMM per matrix
    const int depth = static_cast<int>(w.size());
    const std::size_t mw = static_cast<std::size_t>(max_width());
    real_t* buf[2] = {tmp, tmp + 2 * n * mw};             // [2n][mw] each
    const std::size_t a0 = static_cast<std::size_t>(widths[0]);
    for (std::size_t r = 0; r < n; ++r) {
        std::copy(x + r * a0, x + (r + 1) * a0, buf[1] + r * mw);
        std::copy(dx + r * a0, dx + (r + 1) * a0, buf[1] + (n + r) * mw);
    }
    for (int k = 0; k < depth; ++k) {
        const int a = widths[k], b = widths[k + 1];
        const real_t* in = buf[(k + 1) % 2];
        real_t* out = buf[k % 2];
        small_gemm(in, mw, static_cast<int>(2 * n), a, w[k].data(), b, out, mw, false);
        if (k < depth - 1)
            for (std::size_t r = 0; r < n; ++r) {
                real_t* z = out + r * mw;
                real_t* dz = out + (n + r) * mw;
                for (int j = 0; j < b; ++j) {         // silu'(z) = sg (1 + z (1 - sg))
                    const real_t sg = 1.0 / (1.0 + std::exp(-z[j]));
                    dz[j] *= sg * (1.0 + z[j] * (1.0 - sg));
                    z[j] *= sg;
                }
            }
    }
    const real_t* last = buf[(depth - 1) % 2];
    const std::size_t bo = static_cast<std::size_t>(widths[depth]);
    for (std::size_t r = 0; r < n; ++r) {
        std::copy(last + r * mw, last + r * mw + bo, y + r * bo);
        std::copy(last + (n + r) * mw, last + (n + r) * mw + bo, dy + r * bo);
    }
}

void Mlp::backward(const real_t* x, const real_t* ybar, real_t* xbar, real_t* tmp) const {
    // forward keeping the pre-activations z_k [widths[k+1]] of every matrix, then back
    const int depth = static_cast<int>(w.size());
    std::vector<real_t*> z(depth);
    real_t* p = tmp;
    const real_t* in = x;
    for (int k = 0; k < depth; ++k) {
        const int a = widths[k], b = widths[k + 1];
        z[k] = p;
        p += b;
        for (int j = 0; j < b; ++j) {
            real_t s = 0.0;
            for (int i = 0; i < a; ++i) s += in[i] * w[k][static_cast<std::size_t>(i) * b + j];
            z[k][j] = s;
        }
        if (k < depth - 1) {                 // the next layer's input: silu(z_k), kept after z
            real_t* act = p;
            p += b;
            for (int j = 0; j < b; ++j) act[j] = silu(z[k][j]);
            in = act;
        }
    }
    const int mw = max_width();
    real_t* gb = p;                          // dE/dz of the current matrix's output
    real_t* ga = p + mw;                     // dE/d(its input)
    std::copy(ybar, ybar + widths[depth], gb);
    for (int k = depth - 1; k >= 0; --k) {
        const int a = widths[k], b = widths[k + 1];
        for (int i = 0; i < a; ++i) {
            real_t s = 0.0;
            for (int j = 0; j < b; ++j) s += w[k][static_cast<std::size_t>(i) * b + j] * gb[j];
            ga[i] = s;
        }
        if (k == 0) {
            for (int i = 0; i < a; ++i) xbar[i] += ga[i];
        } else {                             // through silu of the previous pre-activation
            for (int i = 0; i < a; ++i) {
                const real_t zi = z[k - 1][i], sg = 1.0 / (1.0 + std::exp(-zi));
                gb[i] = ga[i] * sg * (1.0 + zi * (1.0 - sg));
            }
        }
    }
}

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

}  // namespace mmace
