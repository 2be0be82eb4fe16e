#include "mmace/hamiltonian.hpp"

#include <cmath>
#include <string>

namespace mmace {

void Hamiltonian::set_spins(const real_t* m) {
    for (std::size_t k = 0; k < spins_.size(); ++k)
        if (!std::isfinite(m[k]))
            throw InputError("non-finite moment on site " + std::to_string(k / 3));
    std::copy(m, m + spins_.size(), spins_.begin());
    on_spins_changed();
}

void Hamiltonian::get_spins(real_t* out) const { std::copy(spins_.begin(), spins_.end(), out); }

}  // namespace mmace
