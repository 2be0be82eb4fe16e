// O(N) cell-list neighbour search for triclinic cells, periodic in any subset of directions.
//
// Returns the FULL directed list: every pair within the cutoff appears as (i, j, S) and
// (j, i, -S); the bond vector is r_ij = x_j - x_i + S . cell (S an integer row vector, cell rows
// are lattice vectors). Self-images (i, i, S != 0) are included when the cutoff exceeds a lattice
// period, and several images of one neighbour are all returned.
#pragma once
#include <vector>

#include "mmace/types.hpp"

namespace mmace {

struct NeighbourList {
    std::vector<index_t> first;   // [n_pairs] centre i
    std::vector<index_t> second;  // [n_pairs] neighbour j
    std::vector<shift_t> shifts;  // [n_pairs * 3] integer image shifts
    std::vector<real_t> dist;     // [n_pairs] |r_ij| in A
    std::size_t size() const { return first.size(); }
};

// positions [n, 3] A, cell [3, 3] A (rows = lattice vectors, must be non-singular),
// pbc [3], cutoff > 0 A. Pairs are ordered by centre atom i.
NeighbourList build_neighbour_list(const real_t* positions, index_t n, const real_t* cell,
                                   const bool* pbc, real_t cutoff);

}  // namespace mmace
