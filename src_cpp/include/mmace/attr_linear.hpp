// AttrLinear: the attribute-dependent per-l channel mixing of the skip connection; kernel in
// attr_linear.cpp.
#pragma once
#include <string>
#include <vector>

#include "mmace/array_store.hpp"
#include "mmace/node_attr.hpp"
#include "mmace/types.hpp"

namespace mmace {

// Attribute-dependent per-l channel mixing (the skip connection); weights pre-scaled.
struct AttrLinear {
    int d_in = 0, d_out = 0, c = 0, n_attr = 0, n_mag = 1;
    std::vector<int> in0, out0, dim;         // [n_blocks] input / output start, size
    std::vector<real_t> w;                   // [n_blocks][n_attr][c][c]
    void load(const ArrayStore& s, const std::string& prefix, int c, int n_attr, int n_mag);
    // y [d_out][c] = map(x [d_in][c]); tmp needs c * c reals
    void apply(const real_t* x, const NodeAttr& a, real_t* y, real_t* tmp) const;
    // adjoint of apply at (x, a): xbar [d_in][c] += dE/dx, phibar [n_mag] += dE/dphi (centre
    // spin only) from ybar = dE/dy [d_out][c]; tmp needs 2 c * c reals
    void backward(const real_t* x, const NodeAttr& a, const real_t* ybar, real_t* xbar,
                  real_t* phibar, real_t* tmp) const;
};

}  // namespace mmace
