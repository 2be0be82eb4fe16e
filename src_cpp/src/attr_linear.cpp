// AttrLinear: loading and the attribute-dependent channel mixing of the skip connection
// (see attr_linear.hpp), one multi-versioned kernel.
#include "mmace/attr_linear.hpp"

#include <algorithm>

#include "load_checks.hpp"
#include "mmace/array_view.hpp"
#include "mmace/kernel_clones.hpp"
#include "mmace/small_gemm.hpp"

namespace mmace {

using detail::as_int;
using detail::load_block_table;
using detail::scaled_copy;

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
    // the species selects a weight block [n_attr / n_mag or n_attr][c][c] (input, not hot)
    MMACE_CHECK_INDEX(a.species, a.phi == nullptr ? n_attr : n_attr / n_mag);
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

void AttrLinear::backward(const real_t* x, const NodeAttr& a, const real_t* ybar, real_t* xbar,
                          real_t* phibar, real_t* tmp) const {
    MMACE_CHECK_INDEX(a.species, a.phi == nullptr ? n_attr : n_attr / n_mag);
    const std::size_t cc = static_cast<std::size_t>(c) * c;
    const int nb = static_cast<int>(in0.size());
    const int nq = a.phi == nullptr ? 1 : n_mag;
    for (int b = 0; b < nb; ++b) {
        const real_t* wb = w.data() + static_cast<std::size_t>(b) * n_attr * cc;
        const real_t* w0 = wb + static_cast<std::size_t>(a.species) * nq * cc;   // [nq][c][c]
        real_t* wphi = tmp + cc;                                               // W(phi) [c][c]
        for (std::size_t k = 0; k < cc; ++k) {
            real_t s = 0.0;
            for (int q = 0; q < nq; ++q) s += (a.phi == nullptr ? 1.0 : a.phi[q]) * w0[q * cc + k];
            wphi[k] = s;
        }
        // G[k][j] = sum_m x[m][k] ybar[m][j]: dE/dW(phi) of this block
        std::fill(tmp, tmp + cc, 0.0);
        for (int m = 0; m < dim[b]; ++m) {
            const real_t* xr = x + static_cast<std::size_t>(in0[b] + m) * c;
            const real_t* yr = ybar + static_cast<std::size_t>(out0[b] + m) * c;
            real_t* xo = xbar + static_cast<std::size_t>(in0[b] + m) * c;
            for (int k = 0; k < c; ++k) {
                real_t s = 0.0;
                for (int j = 0; j < c; ++j) {
                    tmp[static_cast<std::size_t>(k) * c + j] += xr[k] * yr[j];
                    s += wphi[static_cast<std::size_t>(k) * c + j] * yr[j];
                }
                xo[k] += s;
            }
        }
        if (a.phi != nullptr)
            for (int q = 0; q < nq; ++q) {
                real_t s = 0.0;
                for (std::size_t k = 0; k < cc; ++k) s += tmp[k] * w0[q * cc + k];
                phibar[q] += s;
            }
    }
}

}  // namespace mmace
