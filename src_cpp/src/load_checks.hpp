// Internal to the frozen-model loaders (src_cpp/src/*.cpp): validation helpers that turn a bad
// model file into an InputError naming the array and the value, and the block tables shared by
// the two channel mixings. Load time only, never in a kernel.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "mmace/array_view.hpp"
#include "mmace/types.hpp"

namespace mmace {
namespace detail {

// "(2, 3)", "(4,)", "()"
inline std::string shape_str(const std::vector<std::int64_t>& s) {
    std::ostringstream o;
    o << "(";
    for (std::size_t k = 0; k < s.size(); ++k) o << (k ? ", " : "") << s[k];
    o << (s.size() == 1 ? ",)" : ")");
    return o.str();
}

[[noreturn]] inline void fail(const std::string& msg) {
    throw InputError("frozen mMACE model: " + msg);
}

inline void require(bool ok, const std::string& msg) {
    if (!ok) fail(msg);
}

// v as an int, InputError unless lo <= v <= hi
inline int as_int(std::int64_t v, const std::string& what, std::int64_t lo, std::int64_t hi) {
    if (v < lo || v > hi)
        fail(what + " = " + std::to_string(v) + " out of range [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
    return static_cast<int>(v);
}

// Validated block table blocks [nb][3] (input start, output start, size) of a per-l channel
// mixing (BlockLinear, AttrLinear), appended to in0 / out0 / dim [nb].
inline void load_block_table(const std::vector<std::int64_t>& blocks, int nb, int d_in, int d_out,
                             const std::string& p, std::vector<int>& in0, std::vector<int>& out0,
                             std::vector<int>& dim) {
    for (int b = 0; b < nb; ++b) {
        const int i0 = as_int(MMACE_AT(blocks, 3 * b), p + " block start", 0, d_in - 1);
        const int o0 = as_int(MMACE_AT(blocks, 3 * b + 1), p + " block start", 0, d_out - 1);
        const int dm = as_int(MMACE_AT(blocks, 3 * b + 2), p + " block size", 1, d_in);
        require(i0 + dm <= d_in && o0 + dm <= d_out, p + ": block exceeds the feature size");
        in0.push_back(i0);
        out0.push_back(o0);
        dim.push_back(dm);
    }
}

// w = wt * norm (the file's weights with their normalisation folded in)
inline void scaled_copy(const std::vector<real_t>& wt, real_t norm, std::vector<real_t>& w) {
    w.resize(wt.size());
    for (std::size_t k = 0; k < wt.size(); ++k) w[k] = wt[k] * norm;
}

}  // namespace detail
}  // namespace mmace
