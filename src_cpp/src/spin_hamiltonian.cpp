#include "mmace/spin_hamiltonian.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace mmace {
namespace {

bool any_nonzero(const real_t* a, std::size_t n) {
    if (!a) return false;
    for (std::size_t k = 0; k < n; ++k)
        if (a[k] != 0.0) return true;
    return false;
}

void check_finite(const real_t* a, std::size_t n, const char* what) {
    if (!a) return;
    for (std::size_t k = 0; k < n; ++k)
        if (!std::isfinite(a[k])) throw InputError(std::string("non-finite value in ") + what);
}

std::vector<real_t> copy_or_empty(const real_t* a, std::size_t n, bool keep) {
    return keep ? std::vector<real_t>(a, a + n) : std::vector<real_t>();
}

}  // namespace

SpinHamiltonian::SpinHamiltonian(index_t n, const PairInput& p, const SiteInput& s)
    : Hamiltonian(n) {
    if (n <= 0) throw InputError("spin Hamiltonian needs at least one site");
    const std::size_t np = p.n_pairs, un = static_cast<std::size_t>(n);
    check_finite(p.J, np, "exchange J");
    check_finite(p.T, 9 * np, "exchange tensor");
    check_finite(p.B, np, "biquadratic B");
    for (std::size_t k = 0; k < np; ++k)
        if (p.i[k] < 0 || p.i[k] >= n || p.j[k] < 0 || p.j[k] >= n)
            throw InputError("pair " + std::to_string(k) + " has a site index out of range");
    has_tensor_ = any_nonzero(p.T, 9 * np);
    has_biquad_ = any_nonzero(p.B, np);

    // directed CSR: every unordered pair once per direction
    std::vector<index_t> count(un + 1, 0);
    for (std::size_t k = 0; k < np; ++k) { ++count[p.i[k] + 1]; ++count[p.j[k] + 1]; }
    for (std::size_t a = 0; a < un; ++a) count[a + 1] += count[a];
    offs_ = count;
    const std::size_t nd = 2 * np;
    nbr_.resize(nd);
    J_.assign(nd, 0.0);
    self_.assign(nd, 0);
    if (has_tensor_) T_.assign(9 * nd, 0.0);
    if (has_biquad_) B_.assign(nd, 0.0);
    std::vector<index_t> fill(offs_.begin(), offs_.end() - 1);
    for (std::size_t k = 0; k < np; ++k) {
        const index_t a = p.i[k], b = p.j[k];
        const index_t ea = fill[a]++, eb = fill[b]++;
        nbr_[ea] = b;
        nbr_[eb] = a;
        const real_t Jk = p.J ? p.J[k] : 0.0;
        J_[ea] = J_[eb] = Jk;
        if (a == b) { self_[ea] = self_[eb] = 1; has_self_ = true; }
        if (has_tensor_)
            for (int r = 0; r < 3; ++r)
                for (int c = 0; c < 3; ++c) {
                    T_[9 * ea + 3 * r + c] = p.T[9 * k + 3 * r + c];
                    T_[9 * eb + 3 * c + r] = p.T[9 * k + 3 * r + c];  // reverse: transpose
                }
        if (has_biquad_) B_[ea] = B_[eb] = p.B[k];
    }

    check_finite(s.Ku, un, "uniaxial K");
    check_finite(s.axis, 3 * un, "anisotropy axis");
    check_finite(s.Kc, un, "cubic K");
    check_finite(s.field, 3 * un, "Zeeman field");
    check_finite(s.a2, un, "Landau a2");
    check_finite(s.a4, un, "Landau a4");
    check_finite(s.a6, un, "Landau a6");
    has_uniaxial_ = any_nonzero(s.Ku, un);
    if (has_uniaxial_ && !s.axis) throw InputError("uniaxial anisotropy needs an axis per site");
    has_cubic_ = any_nonzero(s.Kc, un);
    has_field_ = any_nonzero(s.field, 3 * un);
    has_landau_ = any_nonzero(s.a2, un) || any_nonzero(s.a4, un) || any_nonzero(s.a6, un);
    Ku_ = copy_or_empty(s.Ku, un, has_uniaxial_);
    axis_ = copy_or_empty(s.axis, 3 * un, has_uniaxial_);
    Kc_ = copy_or_empty(s.Kc, un, has_cubic_);
    field_ = copy_or_empty(s.field, 3 * un, has_field_);
    if (has_landau_) {
        a2_ = s.a2 ? std::vector<real_t>(s.a2, s.a2 + un) : std::vector<real_t>(un, 0.0);
        a4_ = s.a4 ? std::vector<real_t>(s.a4, s.a4 + un) : std::vector<real_t>(un, 0.0);
        a6_ = s.a6 ? std::vector<real_t>(s.a6, s.a6 + un) : std::vector<real_t>(un, 0.0);
    }
    build_packed();
    if (has_uniaxial_)
        for (std::size_t a = 0; a < un; ++a) {
            const real_t nn = Vec3::load(&axis_[3 * a]).norm();
            if (Ku_[a] != 0.0 && std::abs(nn - 1.0) > 1e-8)
                throw InputError("anisotropy axis of site " + std::to_string(a) +
                                 " is not a unit vector");
        }
}

void SpinHamiltonian::build_packed() {
    // Isotropic models with few distinct couplings (lattices: one per shell) store each directed
    // entry as one 32-bit word, neighbour index | coupling id << 24: 3x less memory traffic.
    packed_.clear();
    jtab_.clear();
    if (has_tensor_ || has_biquad_ || has_self_ || n_ > static_cast<index_t>(PACK_MASK)) return;
    std::vector<real_t> distinct(J_);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() > 256) return;
    jtab_ = distinct;
    packed_.resize(nbr_.size());
    for (std::size_t e = 0; e < nbr_.size(); ++e) {
        const auto id = static_cast<std::uint32_t>(
            std::lower_bound(jtab_.begin(), jtab_.end(), J_[e]) - jtab_.begin());
        packed_[e] = static_cast<std::uint32_t>(nbr_[e]) | (id << PACK_SHIFT);
    }
}

real_t SpinHamiltonian::onsite(index_t i, const Vec3& m) const {
    real_t e = 0.0;
    if (has_uniaxial_) {
        const real_t c = m.dot(Vec3::load(&axis_[3 * i]));
        e -= Ku_[i] * c * c;
    }
    if (has_cubic_) e -= Kc_[i] * (m.x * m.x * m.x * m.x + m.y * m.y * m.y * m.y + m.z * m.z * m.z * m.z);
    if (has_field_) e -= Vec3::load(&field_[3 * i]).dot(m);
    if (has_landau_) {
        const real_t r2 = m.norm2();
        e += r2 * (a2_[i] + r2 * (a4_[i] + r2 * a6_[i]));
    }
    return e;
}

Vec3 SpinHamiltonian::onsite_field(index_t i, const Vec3& m) const {
    Vec3 f;
    if (has_uniaxial_) {
        const Vec3 n = Vec3::load(&axis_[3 * i]);
        f += n * (2.0 * Ku_[i] * m.dot(n));
    }
    if (has_cubic_) f += Vec3(m.x * m.x * m.x, m.y * m.y * m.y, m.z * m.z * m.z) * (4.0 * Kc_[i]);
    if (has_field_) f += Vec3::load(&field_[3 * i]);
    if (has_landau_) {
        const real_t r2 = m.norm2();
        f -= m * (2.0 * a2_[i] + r2 * (4.0 * a4_[i] + 6.0 * a6_[i] * r2));
    }
    return f;
}

real_t SpinHamiltonian::pair_energy(std::size_t e, const Vec3& mi, const Vec3& mj) const {
    real_t d = mi.dot(mj);
    real_t en = -J_[e] * d;
    if (has_tensor_) en -= mi.dot(matvec(&T_[9 * e], mj));
    if (has_biquad_) en -= B_[e] * d * d;
    return en;
}

real_t SpinHamiltonian::total_energy() const {
    real_t e = 0.0;
    for (index_t i = 0; i < n_; ++i) {
        const Vec3 mi = Vec3::load(spin(i));
        real_t pe = 0.0;
        for (index_t k = offs_[i]; k < offs_[i + 1]; ++k) pe += pair_energy(k, mi, Vec3::load(spin(nbr_[k])));
        e += 0.5 * pe + onsite(i, mi);
    }
    return e;
}

void SpinHamiltonian::site_energies(real_t* out) const {
    for (index_t i = 0; i < n_; ++i) {
        const Vec3 mi = Vec3::load(spin(i));
        real_t pe = 0.0;
        for (index_t k = offs_[i]; k < offs_[i + 1]; ++k) pe += pair_energy(k, mi, Vec3::load(spin(nbr_[k])));
        out[i] = 0.5 * pe + onsite(i, mi);
    }
}

void SpinHamiltonian::effective_field(real_t* out) const { field_at(spins_.data(), out); }

void SpinHamiltonian::field_at(const real_t* m, real_t* out) const {
    for (index_t i = 0; i < n_; ++i) {
        const Vec3 mi = Vec3::load(m + 3 * static_cast<std::size_t>(i));
        Vec3 f = onsite_field(i, mi);
        for (index_t k = offs_[i]; k < offs_[i + 1]; ++k) {
            const Vec3 mj = Vec3::load(m + 3 * static_cast<std::size_t>(nbr_[k]));
            f += mj * J_[k];
            if (has_tensor_) f += matvec(&T_[9 * k], mj);
            if (has_biquad_) f += mj * (2.0 * B_[k] * mi.dot(mj));
        }
        f.store(out + 3 * i);
    }
}

bool SpinHamiltonian::reflection_axis(index_t i, Vec3& h) const {
    Vec3 f;
    if (has_field_) f = Vec3::load(&field_[3 * static_cast<std::size_t>(i)]);
    for (index_t k = offs_[i]; k < offs_[i + 1]; ++k) {
        if (has_self_ && self_[k]) continue;  // m_i . m_(i+S) terms depend on m_i: not in the axis
        const Vec3 mj = Vec3::load(spin(nbr_[k]));
        f += mj * J_[k];
        if (has_tensor_) f += matvec(&T_[9 * k], mj);
    }
    h = f;
    return true;
}

real_t SpinHamiltonian::delta_energy(index_t i, const Vec3& mn) const {
    const Vec3 mo = Vec3::load(spin(i));
    const index_t k0 = offs_[i], k1 = offs_[i + 1];
    real_t de = onsite(i, mn) - onsite(i, mo);
    if (!packed_.empty()) {  // fast path: isotropic exchange, packed (neighbour, coupling id)
        // two independent accumulator sets halve the floating-point add latency chain
        real_t ax = 0, ay = 0, az = 0, bx = 0, by = 0, bz = 0;
        const std::uint32_t* e = packed_.data() + k0;
        const index_t len = k1 - k0;
        index_t k = 0;
        for (; k + 1 < len; k += 2) {
            const std::uint32_t p0 = e[k], p1 = e[k + 1];
            const real_t* m0 = spin(static_cast<index_t>(p0 & PACK_MASK));
            const real_t* m1 = spin(static_cast<index_t>(p1 & PACK_MASK));
            const real_t j0 = jtab_[p0 >> PACK_SHIFT], j1 = jtab_[p1 >> PACK_SHIFT];
            ax += j0 * m0[0]; ay += j0 * m0[1]; az += j0 * m0[2];
            bx += j1 * m1[0]; by += j1 * m1[1]; bz += j1 * m1[2];
        }
        if (k < len) {
            const std::uint32_t p0 = e[k];
            const real_t* m0 = spin(static_cast<index_t>(p0 & PACK_MASK));
            const real_t j0 = jtab_[p0 >> PACK_SHIFT];
            ax += j0 * m0[0]; ay += j0 * m0[1]; az += j0 * m0[2];
        }
        return de - ((mn.x - mo.x) * (ax + bx) + (mn.y - mo.y) * (ay + by) + (mn.z - mo.z) * (az + bz));
    }
    if (!has_tensor_ && !has_biquad_ && !has_self_) {  // isotropic exchange, many distinct J
        real_t hx = 0, hy = 0, hz = 0;
        for (index_t k = k0; k < k1; ++k) {
            const real_t* mj = spin(nbr_[k]);
            const real_t J = J_[k];
            hx += J * mj[0];
            hy += J * mj[1];
            hz += J * mj[2];
        }
        return de - ((mn.x - mo.x) * hx + (mn.y - mo.y) * hy + (mn.z - mo.z) * hz);
    }
    // general path: E_loc(x) = sum_{entries from i} w_e pair(x, m_j or x), w = 1 (others), 1/2 (self)
    for (index_t k = k0; k < k1; ++k) {
        if (self_[k]) {
            de += 0.5 * (pair_energy(k, mn, mn) - pair_energy(k, mo, mo));
        } else {
            const Vec3 mj = Vec3::load(spin(nbr_[k]));
            de += pair_energy(k, mn, mj) - pair_energy(k, mo, mj);
        }
    }
    return de;
}

real_t SpinHamiltonian::propose(index_t i, const Vec3& m_new) {
    prop_i_ = i;
    prop_m_ = m_new;
    return delta_energy(i, m_new);
}

void SpinHamiltonian::accept() {
    if (prop_i_ < 0) throw std::logic_error("accept() without a pending proposal");
    prop_m_.store(spins_.data() + 3 * prop_i_);
    prop_i_ = -1;
}

}  // namespace mmace
