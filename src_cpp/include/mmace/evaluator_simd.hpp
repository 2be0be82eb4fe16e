// Internal to the frozen-mMACE kernels (small_gemm.cpp, tensor_product.cpp,
// symmetric_contraction.cpp): the channel-chunk loop that every per-channel kernel shares.
//
// A kernel is a callable f(K, c0), K = Chunk<S, NV>, handling K::width = NV * S::lanes channels
// from c0 with NV values of type S::V per feature row kept in registers; S is Wide (a GCC
// vector of 8 doubles, lowered to the widest registers of each multi-versioned clone: AVX-512,
// AVX2 or SSE2) or Narrow (one double). for_channel_chunks runs it over [0, c): chunks of 32,
// then 16 and 8 channels, then single channels, so C = 16 is one pass with two vectors per row
// and C = 64 two passes with four. Kernels are templates, instantiated inside each clone.
#pragma once
#include <cstddef>
#include <type_traits>

#include "mmace/types.hpp"

// The helpers below are always inlined, so vectors passed by value never cross an ABI boundary;
// GCC would still warn about the AVX-512 calling convention wherever the baseline clone of a
// kernel calls them, so the warning is off in the files that include this (internal) header.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace mmace {
namespace simd {

// L doubles in one GCC vector (lowered to the widest registers of each clone); unaligned loads
// and stores through a may_alias type.
template <int L>
struct Packed {
    typedef real_t V __attribute__((vector_size(8 * L)));
    typedef real_t U __attribute__((vector_size(8 * L), aligned(8), may_alias));
    static constexpr int lanes = L;
    __attribute__((always_inline)) static V load(const real_t* p) {
        return *reinterpret_cast<const U*>(p);
    }
    __attribute__((always_inline)) static void store(real_t* p, V v) {
        *reinterpret_cast<U*>(p) = v;
    }
    __attribute__((always_inline)) static V zero() { return V{}; }
};
using Wide = Packed<8>;                       // the per-channel kernels
using Half = Packed<4>;                       // narrow column tiles of small_gemm

struct Narrow {
    using V = real_t;
    static constexpr int lanes = 1;
    __attribute__((always_inline)) static V load(const real_t* p) { return *p; }
    __attribute__((always_inline)) static void store(real_t* p, V v) { *p = v; }
    __attribute__((always_inline)) static V zero() { return 0.0; }
};

template <class S, int NV>
struct Chunk {
    using Simd = S;
    using V = typename S::V;
    static constexpr int nv = NV;
    static constexpr int width = NV * S::lanes;
};

template <class F>
__attribute__((always_inline)) inline void for_channel_chunks(int c, F&& f) {
    int c0 = 0;
    for (; c0 + 32 <= c; c0 += 32) f(Chunk<Wide, 4>(), c0);
    if (c0 + 16 <= c) {
        f(Chunk<Wide, 2>(), c0);
        c0 += 16;
    }
    if (c0 + 8 <= c) {
        f(Chunk<Wide, 1>(), c0);
        c0 += 8;
    }
    for (; c0 < c; ++c0) f(Chunk<Narrow, 1>(), c0);
}

}  // namespace simd
}  // namespace mmace
