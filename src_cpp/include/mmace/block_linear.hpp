// BlockLinear: the per-l channel mixings of a layer (linear_up, linear, linear_out);
// kernels in block_linear.cpp.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "mmace/array_store.hpp"
#include "mmace/types.hpp"

namespace mmace {

// Per-l channel mixing (e3nn-style o3.Linear on per-channel irreps); weights pre-scaled.
struct BlockLinear {
    int d_in = 0, d_out = 0, c_in = 0, c_out = 0;
    std::vector<int> in0, out0, dim;         // [n_blocks] input / output start, size
    std::vector<real_t> w;                   // [n_blocks][c_in][c_out]
    void load(const ArrayStore& s, const std::string& prefix, int c);
    void apply(const real_t* x, real_t* y) const;            // x [d_in][c_in] -> y [d_out][c_out]
    void apply_add(const real_t* x, real_t* y) const;        // y += map(x)
    // n features at once: x [n][d_in][c_in] -> y [n][d_out][c_out] (one GEMM per block row)
    void apply_batch(const real_t* x, std::size_t n, real_t* y) const;
    void apply_batch_add(const real_t* x, std::size_t n, real_t* y) const;   // y += map(x)
    void scale(real_t f);                    // map <- f map (folds a constant factor in)
    // adjoint: xbar [d_in][c_in] += map^T(ybar [d_out][c_out])
    void transpose_add(const real_t* ybar, real_t* xbar) const;
};

}  // namespace mmace
