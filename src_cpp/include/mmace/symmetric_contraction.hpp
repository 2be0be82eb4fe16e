// SymmetricContractionF: the symmetric contraction of a layer (the body-order expansion of the
// neighbour sums); loader and kernels in symmetric_contraction.cpp.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "mmace/array_store.hpp"
#include "mmace/node_attr.hpp"
#include "mmace/types.hpp"

namespace mmace {

// Symmetric contraction B = sum_nu W_nu(a) . U_nu . A^nu, U reduced to sorted index tuples.
// Evaluation: per block, the attribute-contracted weights of all its terms form a scratch table
// wa; then each output row m is one sum over the block's entries of m,
//   B[out0 + m][c] += val * wa[wa_row][c] * prod_{r < nu} A[comp_r][c],
// entries grouped by (m, nu) so that the products are unrolled for nu <= 3.
struct SymmetricContractionF {
    struct Term {
        int nu = 1, eta = 0, wa0 = 0;        // wa0: first row of its weights in the block table
        std::vector<real_t> w;               // [n_attr][eta][C]
    };
    struct Entry {
        int comp = 0, wa = 0;                // first of its nu offsets in `comps`, weight row
        real_t val = 0;
    };
    struct Group { int nu = 1, e0 = 0, e1 = 0; };   // entries [e0, e1) of one (m, nu)
    struct Block {
        int out0 = 0, dim = 0, n_wa = 0;     // n_wa: weight rows of all its terms
        std::vector<Term> terms;
        std::vector<Entry> entries;          // sorted by (output row, nu)
        std::vector<Group> groups;
        std::vector<int> g_off;              // [dim + 1] groups of output row m
        std::vector<int> comps;              // feature offsets comp * C of the entries' monomials
    };
    int correlation = 1, d_a = 0, d_out = 0, c = 0, n_attr = 0, n_mag = 1;
    std::vector<Block> blocks;
    int max_wa = 0;
    static constexpr int kNodes = 4;         // nodes per walk of the tables in apply_batch
    void load(const ArrayStore& s, const std::string& prefix, int d_a, int d_out, int c,
              int n_attr, int n_mag);
    std::size_t scratch_size() const;
    // b [d_out][C] = SC(A [d_a][C], attributes); blocks absent from the output stay zero
    void apply(const real_t* a, const NodeAttr& at, real_t* b, real_t* scratch) const;
    // n nodes: a [n][d_a][C], at [n] -> b [n][d_out][C]
    void apply_batch(const real_t* a, std::size_t n, const NodeAttr* at, real_t* b,
                     real_t* scratch) const;
    // adjoint of apply at (a, at): abar [d_a][C] += dE/da, phibar [n_mag] += dE/dphi (centre
    // spin only) from bbar = dE/db [d_out][C]; scratch: backward_scratch() reals
    void backward(const real_t* a, const NodeAttr& at, const real_t* bbar, real_t* abar,
                  real_t* phibar, real_t* scratch) const;
    std::size_t backward_scratch() const { return 2 * static_cast<std::size_t>(max_wa) * c; }
};

}  // namespace mmace
