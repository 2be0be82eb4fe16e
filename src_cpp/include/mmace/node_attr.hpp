// NodeAttr: the node attributes that select the attribute-dependent weights of the skip
// connection, the symmetric contraction and the embedding.
#pragma once
#include "mmace/types.hpp"

namespace mmace {

// Node attributes a = onehot(species) (x) phi (centre spin) or onehot(species): species index
// plus the magnitude features (nullptr without centre spin).
struct NodeAttr {
    int species = 0;
    const real_t* phi = nullptr;
};

}  // namespace mmace
