// The small dense products of the channel mixings (kernel in small_gemm.cpp).
#pragma once
#include <cstddef>

#include "mmace/types.hpp"

namespace mmace {

// y[r][:c_out] (+)= sum_k x[r][k] w[k][:c_out] for r < n_rows (row strides xs, ys), each output
// row r then multiplied elementwise by scale[r][:c_out] (scale == nullptr: not scaled);
// register-blocked over rows and output channels. x [n_rows][>= c_in] (stride xs),
// w [c_in][c_out], y [n_rows][>= c_out] (stride ys).
void small_gemm_scaled(const real_t* x, std::size_t xs, int n_rows, int c_in, const real_t* w,
                       int c_out, real_t* y, std::size_t ys, bool accumulate,
                       const real_t* const* scale);

// the same without the scale
inline void small_gemm(const real_t* x, std::size_t xs, int n_rows, int c_in, const real_t* w,
                       int c_out, real_t* y, std::size_t ys, bool accumulate) {
    small_gemm_scaled(x, xs, n_rows, c_in, w, c_out, y, ys, accumulate, nullptr);
}

}  // namespace mmace
