// Mlp: the bias-free MLPs of a layer (radial MLP, readout); kernels in mlp.cpp.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "mmace/array_store.hpp"
#include "mmace/types.hpp"

namespace mmace {

// Bias-free MLP, h <- silu(h W_k) except after the last matrix; weights pre-scaled.
struct Mlp {
    std::vector<int> widths;                 // [depth + 1]
    std::vector<std::vector<real_t>> w;      // [a][b] per matrix
    void load(const ArrayStore& s, const std::string& prefix);
    int n_in() const { return widths.front(); }
    int n_out() const { return widths.back(); }
    int max_width() const;
    void apply(const real_t* x, real_t* y, real_t* tmp) const;   // tmp: 2 * max_width reals
    // n inputs with row stride xs -> y [n][n_out]; tmp: 2 * n * max_width reals
    void apply_batch(const real_t* x, std::size_t xs, std::size_t n, real_t* y, real_t* tmp) const;
    // adjoint at input x: xbar [n_in] += J^T ybar [n_out]; tmp: backward_scratch() reals
    void backward(const real_t* x, const real_t* ybar, real_t* xbar, real_t* tmp) const;
    std::size_t backward_scratch() const;
    // forward mode, n rows at once: y = f(x) and dy = J dx (one tangent per row) for
    // x, dx [n][n_in] -> y, dy [n][n_out]; tmp: 4 * n * max_width reals
    void jvp_batch(const real_t* x, const real_t* dx, std::size_t n, real_t* y, real_t* dy,
                   real_t* tmp) const;
};

}  // namespace mmace
