#include "mmace/mean_hamiltonian.hpp"

#include <algorithm>
#include <string>

namespace mmace {

MeanHamiltonian::MeanHamiltonian(std::vector<Hamiltonian*> members)
    : Hamiltonian(members.empty() || !members[0] ? 0 : members[0]->n_sites()),
      members_(std::move(members)) {
    if (members_.empty()) throw InputError("a mean Hamiltonian needs at least one member");
    for (std::size_t k = 0; k < members_.size(); ++k) {
        if (!members_[k]) throw InputError("member " + std::to_string(k) + " is null");
        if (members_[k]->n_sites() != n_)
            throw InputError("member " + std::to_string(k) + " has " +
                             std::to_string(members_[k]->n_sites()) + " sites, member 0 has " +
                             std::to_string(n_));
    }
    de_.assign(members_.size(), 0.0);
    scratch_.resize(3 * static_cast<std::size_t>(n_));
    members_[0]->get_spins(spins_.data());
    for (std::size_t k = 1; k < members_.size(); ++k) members_[k]->set_spins(spins_.data());
}

real_t MeanHamiltonian::total_energy() const {
    real_t e = 0.0;
    for (const Hamiltonian* h : members_) e += h->total_energy();
    return e / static_cast<real_t>(members_.size());
}

void MeanHamiltonian::site_energies(real_t* out) const {
    const std::size_t n = static_cast<std::size_t>(n_);
    std::fill(out, out + n, 0.0);
    for (const Hamiltonian* h : members_) {
        h->site_energies(scratch_.data());
        for (std::size_t i = 0; i < n; ++i) out[i] += scratch_[i];
    }
    for (std::size_t i = 0; i < n; ++i) out[i] /= static_cast<real_t>(members_.size());
}

void MeanHamiltonian::effective_field(real_t* out) const {
    const std::size_t n3 = 3 * static_cast<std::size_t>(n_);
    std::fill(out, out + n3, 0.0);
    for (const Hamiltonian* h : members_) {
        h->effective_field(scratch_.data());
        for (std::size_t q = 0; q < n3; ++q) out[q] += scratch_[q];
    }
    for (std::size_t q = 0; q < n3; ++q) out[q] /= static_cast<real_t>(members_.size());
}

void MeanHamiltonian::field_at(const real_t* m, real_t* out) const {
    const std::size_t n3 = 3 * static_cast<std::size_t>(n_);
    std::fill(out, out + n3, 0.0);
    for (const Hamiltonian* h : members_) {
        h->field_at(m, scratch_.data());
        for (std::size_t q = 0; q < n3; ++q) out[q] += scratch_[q];
    }
    for (std::size_t q = 0; q < n3; ++q) out[q] /= static_cast<real_t>(members_.size());
}

real_t MeanHamiltonian::propose(index_t i, const Vec3& m_new) {
    real_t de = 0.0;
    for (std::size_t k = 0; k < members_.size(); ++k) {
        de_[k] = members_[k]->propose(i, m_new);
        de += de_[k];
    }
    site_ = i;
    m_new_ = m_new;
    return de / static_cast<real_t>(members_.size());
}

void MeanHamiltonian::accept() {
    for (Hamiltonian* h : members_) h->accept();
    real_t* s = spins_.data() + 3 * static_cast<std::size_t>(site_);
    s[0] = m_new_.x;
    s[1] = m_new_.y;
    s[2] = m_new_.z;
}

void MeanHamiltonian::reject() {
    for (Hamiltonian* h : members_) h->reject();
}

bool MeanHamiltonian::variable_length() const {
    for (const Hamiltonian* h : members_)
        if (h->variable_length()) return true;
    return false;
}

void MeanHamiltonian::refresh() {
    for (Hamiltonian* h : members_) h->refresh();
}

void MeanHamiltonian::member_energies(real_t* out) const {
    for (std::size_t k = 0; k < members_.size(); ++k) out[k] = members_[k]->total_energy();
}

void MeanHamiltonian::on_spins_changed() {
    for (Hamiltonian* h : members_) h->set_spins(spins_.data());
}

}  // namespace mmace
