// BlockLinear: loading and the per-l channel mixings, single and batched (see block_linear.hpp).
#include "mmace/block_linear.hpp"

#include <algorithm>

#include "load_checks.hpp"
#include "mmace/small_gemm.hpp"

namespace mmace {

using detail::as_int;
using detail::load_block_table;
using detail::scaled_copy;

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

void BlockLinear::transpose_add(const real_t* ybar, real_t* xbar) const {
    const int nb = static_cast<int>(in0.size());
    for (int b = 0; b < nb; ++b) {
        const real_t* wb = w.data() + static_cast<std::size_t>(b) * c_in * c_out;   // [c_in][c_out]
        for (int m = 0; m < dim[b]; ++m) {
            const real_t* yr = ybar + static_cast<std::size_t>(out0[b] + m) * c_out;
            real_t* xr = xbar + static_cast<std::size_t>(in0[b] + m) * c_in;
            for (int k = 0; k < c_in; ++k) {
                real_t s = 0.0;
                for (int j = 0; j < c_out; ++j) s += wb[static_cast<std::size_t>(k) * c_out + j] * yr[j];
                xr[k] += s;
            }
        }
    }
}

void BlockLinear::scale(real_t f) {
    for (real_t& v : w) v *= f;
}

}  // namespace mmace
