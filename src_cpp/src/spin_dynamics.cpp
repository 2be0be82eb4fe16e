// Stochastic Landau-Lifshitz-Gilbert and Ma-Dudarev Langevin spin dynamics (see spin_dynamics.hpp).
#include "mmace/spin_dynamics.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace mmace {

SpinDynamics::SpinDynamics(Hamiltonian& h, std::uint64_t seed, std::uint64_t stream)
    : h_(h), rng_(seed, stream) {
    const std::size_t n3 = 3 * static_cast<std::size_t>(h.n_sites());
    for (auto* v : {&m_, &pred_, &mid_, &h0_, &h1_, &b_, &xi_}) v->assign(n3, 0.0);
}

void SpinDynamics::set_settings(const LLGSettings& s) {
    auto bad = [](real_t x) { return !std::isfinite(x); };
    if (bad(s.dt) || s.dt <= 0) throw InputError("time step dt must be > 0 fs");
    if (bad(s.gamma) || s.gamma <= 0) throw InputError("gyromagnetic ratio gamma must be > 0");
    if (bad(s.alpha) || s.alpha < 0) throw InputError("damping alpha must be >= 0");
    if (bad(s.kT) || s.kT < 0) throw InputError("kT must be >= 0");
    if (bad(s.eta) || s.eta < 0) throw InputError("longitudinal rate eta must be >= 0");
    if (s.longitudinal && s.alpha != 0)
        throw InputError("the longitudinal dynamics damps through eta (alpha must be 0)");
    if (s.longitudinal && !h_.variable_length())
        throw InputError("longitudinal dynamics needs a Hamiltonian whose energy depends on |m| "
                         "(Landau terms); this one has fixed moment lengths");
    if (!s.longitudinal && s.eta != 0)
        throw InputError("eta applies to the longitudinal dynamics only");
    if (s.kT > 0 && !s.longitudinal && s.alpha == 0)
        throw InputError("a thermostat (kT > 0) needs damping: alpha > 0");
    if (s.kT > 0 && s.longitudinal && s.eta == 0)
        throw InputError("a thermostat (kT > 0) needs damping: eta > 0");
    s_ = s;
}

// m_axis: the moments that set the damping direction m/|m| (transverse); field [n, 3] (noise
// added by the caller); out = the Cayley rotation of m_ by a = A dt / 2.
void SpinDynamics::rotate_all(const real_t* m_axis, const real_t* field, real_t* out) const {
    const std::size_t n = static_cast<std::size_t>(h_.n_sites());
    const real_t pre = -s_.gamma / (1.0 + s_.alpha * s_.alpha) * 0.5 * s_.dt;
    for (std::size_t i = 0; i < n; ++i) {
        const Vec3 m = Vec3::load(&m_[3 * i]);
        const Vec3 H = Vec3::load(field + 3 * i);
        Vec3 a = H;
        if (s_.alpha != 0) {
            const Vec3 u = Vec3::load(m_axis + 3 * i);
            const real_t len = u.norm();
            if (len > 0) {
                const Vec3 e = u * (1.0 / len);
                a += Vec3(e.y * H.z - e.z * H.y, e.z * H.x - e.x * H.z, e.x * H.y - e.y * H.x) *
                     s_.alpha;
            }
        }
        exact_rotate(m, a * pre).store(out + 3 * i);
    }
}

void SpinDynamics::draw_noise(real_t scale) {
    const std::size_t n = static_cast<std::size_t>(h_.n_sites());
    for (std::size_t i = 0; i < n; ++i) {
        real_t* b = &b_[3 * i];
        rng_.normal3(b);
        real_t s = scale;
        if (!s_.longitudinal) {       // transverse: variance 2 alpha kT / (gamma |m| dt)
            const real_t len = Vec3::load(&m_[3 * i]).norm();
            s = len > 0 ? scale / std::sqrt(len) : 0.0;
        }
        b[0] *= s;
        b[1] *= s;
        b[2] *= s;
    }
}

void SpinDynamics::step() {
    const std::size_t n3 = m_.size();
    h_.field_at(m_.data(), h0_.data());
    const bool noise = s_.kT > 0;
    if (!s_.longitudinal) {
        if (noise) {
            draw_noise(std::sqrt(2.0 * s_.alpha * s_.kT / (s_.gamma * s_.dt)));
            for (std::size_t q = 0; q < n3; ++q) h0_[q] += b_[q];
        }
        rotate_all(m_.data(), h0_.data(), pred_.data());                 // predictor
        for (std::size_t q = 0; q < n3; ++q) mid_[q] = 0.5 * (m_[q] + pred_[q]);
        h_.field_at(mid_.data(), h1_.data());
        if (noise)
            for (std::size_t q = 0; q < n3; ++q) h1_[q] += b_[q];
        rotate_all(mid_.data(), h1_.data(), m_.data());                  // corrector
        return;
    }
    // longitudinal: precession by SIB (alpha = 0); relaxation and noise by the Leimkuhler-
    // Matthews step m += eta dt h(m_n) + sqrt(2 eta kT dt) (xi_n + xi_n+1) / 2, second order in
    // the stationary averages of the overdamped part (xi_n kept between steps: xi_)
    rotate_all(m_.data(), h0_.data(), pred_.data());
    for (std::size_t q = 0; q < n3; ++q) mid_[q] = 0.5 * (m_[q] + pred_[q]);
    h_.field_at(mid_.data(), h1_.data());
    rotate_all(mid_.data(), h1_.data(), m_.data());
    const real_t relax = s_.eta * s_.dt;
    for (std::size_t q = 0; q < n3; ++q) m_[q] += relax * h0_[q];
    if (!noise) return;
    const real_t sig = 0.5 * std::sqrt(2.0 * s_.eta * s_.kT * s_.dt);
    if (!have_xi_) {                           // standard normals, scaled when used
        draw_noise(1.0);
        xi_ = b_;
        have_xi_ = true;
    }
    draw_noise(1.0);
    for (std::size_t q = 0; q < n3; ++q) {
        m_[q] += sig * (xi_[q] + b_[q]);
        xi_[q] = b_[q];
    }
}

void SpinDynamics::set_last_noise(const real_t* xi) {
    if (xi == nullptr) {
        have_xi_ = false;
        return;
    }
    std::copy(xi, xi + xi_.size(), xi_.begin());
    have_xi_ = true;
}

std::int64_t SpinDynamics::run(std::int64_t n_steps, std::int64_t sample_every, real_t* e_out,
                               real_t* m_out, std::int64_t max_samples) {
    if (s_.gamma <= 0) throw InputError("spin dynamics settings not set (gamma = 0)");
    if (n_steps < 0 || sample_every < 0) throw InputError("n_steps and sample_every must be >= 0");
    const index_t n = h_.n_sites();
    h_.get_spins(m_.data());
    std::int64_t k = 0;
    for (std::int64_t t = 1; t <= n_steps; ++t) {
        step();
        ++steps_;
        if (sample_every > 0 && t % sample_every == 0 && k < max_samples) {
            h_.set_spins(m_.data());        // validates: a diverging step is an error
            e_out[k] = h_.total_energy();
            real_t sx = 0, sy = 0, sz = 0;
            for (index_t i = 0; i < n; ++i) {
                sx += m_[3 * i];
                sy += m_[3 * i + 1];
                sz += m_[3 * i + 2];
            }
            m_out[3 * k] = sx / n;
            m_out[3 * k + 1] = sy / n;
            m_out[3 * k + 2] = sz / n;
            ++k;
        }
    }
    h_.set_spins(m_.data());
    return k;
}

}  // namespace mmace
