// small_gemm: the register-blocked small dense products of the channel mixings
// (see small_gemm.hpp), one multi-versioned kernel.
#include "mmace/small_gemm.hpp"

#include "mmace/evaluator_simd.hpp"
#include "mmace/kernel_clones.hpp"

namespace mmace {

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

// Every row of one column tile: tiles of RB rows (8 when a row is a single vector, so that
// eight independent FMA chains hide the latency; else 4), then 4, then the 1-3 left.
template <class K>
__attribute__((always_inline)) inline void tile_rows(const real_t* x, std::size_t xs, int n_rows,
                                                     int c_in, const real_t* w, int c_out,
                                                     real_t* y, std::size_t ys, bool acc,
                                                     const real_t* const* scale, int col) {
    constexpr int RB = (K::nv == 1 && K::Simd::lanes == 8) ? 8 : 4;
    int r = 0;
    auto at = [&](int r0) __attribute__((always_inline)) { return scale ? scale + r0 : nullptr; };
    for (; r + RB <= n_rows; r += RB)
        tile<K, RB>(x + r * xs, xs, c_in, w, c_out, y + r * ys, ys, acc, at(r), col);
    if (RB > 4 && r + 4 <= n_rows) {
        tile<K, 4>(x + r * xs, xs, c_in, w, c_out, y + r * ys, ys, acc, at(r), col);
        r += 4;
    }
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
    if (co + 8 <= c_out) {                   // C = 8 (and the rest of 24, 40, ...): one vector
        tile_rows<Chunk<simd::Wide, 1>>(x, xs, n_rows, c_in, w + co, c_out, y + co, ys, acc, scale, co);
        co += 8;
    }
    for (; co + 4 <= c_out; co += 4)
        tile_rows<Chunk<simd::Half, 1>>(x, xs, n_rows, c_in, w + co, c_out, y + co, ys, acc, scale, co);
    for (; co < c_out; ++co)
        tile_rows<Chunk<simd::Narrow, 1>>(x, xs, n_rows, c_in, w + co, c_out, y + co, ys, acc, scale, co);
}

}  // namespace mmace
