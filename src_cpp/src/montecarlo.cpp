#include "mmace/montecarlo.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace mmace {

namespace {
constexpr real_t KB_EV_PER_K = 8.617333262e-5;  // mirrors mmace_fast.conventions
}

MonteCarlo::MonteCarlo(Hamiltonian& h, std::uint64_t seed, std::uint64_t stream)
    : h_(h), spin_h_(dynamic_cast<SpinHamiltonian*>(&h)), rng_(seed, stream),
      signs_(h.n_sites(), 1.0), len_(h.n_sites(), 0.0), active_(h.n_sites()), mark_(h.n_sites(), 0),
      mssum_(1) {
    for (index_t i = 0; i < h.n_sites(); ++i) active_[i] = i;
    set_temperature(300.0);
    sync_observables();   // the Hamiltonian's caches follow its moments (set_spins refreshes)
}

void MonteCarlo::set_temperature(real_t kelvin) {
    if (!(kelvin > 0) || !std::isfinite(kelvin))
        throw InputError("temperature must be positive and finite (got " + std::to_string(kelvin) + " K)");
    temperature_ = kelvin;
    beta_ = 1.0 / (KB_EV_PER_K * kelvin);
}

void MonteCarlo::set_sublattice_signs(const real_t* s, int n_patterns) {
    if (n_patterns < 1) throw InputError("at least one sublattice-sign pattern is needed");
    const std::size_t n = static_cast<std::size_t>(h_.n_sites());
    std::vector<real_t> w(n * static_cast<std::size_t>(n_patterns));
    for (int d = 0; d < n_patterns; ++d)
        for (std::size_t i = 0; i < n; ++i) {
            const real_t v = s[static_cast<std::size_t>(d) * n + i];
            if (!std::isfinite(v)) throw InputError("non-finite sublattice sign");
            w[i * static_cast<std::size_t>(n_patterns) + d] = v;
        }
    signs_.swap(w);
    n_patterns_ = n_patterns;
    mssum_.assign(static_cast<std::size_t>(n_patterns), Vec3());
    sync_observables();
}

void MonteCarlo::set_active_sites(const index_t* idx, index_t n_active) {
    if (n_active < 1) throw InputError("at least one active site is needed");
    std::vector<index_t> a(idx, idx + n_active);
    for (index_t k = 0; k < n_active; ++k) {
        if (a[k] < 0 || a[k] >= h_.n_sites())
            throw InputError("active site index " + std::to_string(a[k]) + " out of range");
        if (k > 0 && a[k] <= a[k - 1]) throw InputError("active sites must be sorted and unique");
    }
    if (static_cast<index_t>(a.size()) != h_.n_sites() && cfg_.wolff_per_sweep > 0)
        throw InputError("Wolff updates need every site active");
    active_.swap(a);
    sync_observables();
}

void MonteCarlo::set_surrogate(Hamiltonian* s) {
    Vec3 probe;
    if (s == nullptr && cfg_.overrelax_per_sweep > 0 && !h_.reflection_axis(0, probe))
        throw InputError("over-relaxation takes its axis from the surrogate here: switch it off "
                         "before removing the surrogate");
    if (s != nullptr) {
        if (s == &h_) throw InputError("the surrogate must be a different Hamiltonian object");
        if (s->n_sites() != h_.n_sites()) throw InputError("surrogate has a different number of sites");
        if (cfg_.wolff_per_sweep > 0) throw InputError("Wolff updates cannot be combined with delayed acceptance");
    }
    surrogate_ = s;
    if (surrogate_) surrogate_->set_spins(h_.spins());
    sync_observables();
}

void MonteCarlo::set_settings(const MCSettings& s) {
    if (s.move < MOVE_UNIFORM || s.move > MOVE_HINZKE_NOWAK) throw InputError("unknown move kind");
    if (!(s.sigma > 0) || !std::isfinite(s.sigma)) throw InputError("sigma must be > 0");
    if (!(s.p_longitudinal >= 0 && s.p_longitudinal <= 1)) throw InputError("p_longitudinal must be in [0, 1]");
    if (s.p_longitudinal > 0 && !h_.variable_length())
        throw InputError("longitudinal moves need a Hamiltonian with longitudinal (|m|-dependent) terms");
    if (!(s.sigma_long > 0) || !std::isfinite(s.sigma_long)) throw InputError("sigma_long must be > 0");
    if (s.wolff_per_sweep < 0) throw InputError("wolff_per_sweep must be >= 0");
    if (s.overrelax_per_sweep < 0) throw InputError("overrelax_per_sweep must be >= 0");
    if (s.overrelax_per_sweep > 0) {
        Vec3 probe;
        if (!h_.reflection_axis(0, probe) && !(surrogate_ && surrogate_->reflection_axis(0, probe)))
            throw InputError("over-relaxation needs a Hamiltonian or a surrogate that provides a "
                             "reflection axis");
    }
    if (s.wolff_per_sweep > 0 && !(spin_h_ && spin_h_->wolff_compatible()))
        throw InputError("Wolff updates need a classical Hamiltonian with isotropic bilinear exchange only "
                         "(no tensor, biquadratic, anisotropy or field terms)");
    if (!s.metropolis && s.wolff_per_sweep == 0 && s.overrelax_per_sweep == 0)
        throw InputError("no update selected");
    if (s.wolff_per_sweep > 0 && !all_active()) throw InputError("Wolff updates need every site active");
    if (s.wolff_per_sweep > 0 && surrogate_) throw InputError("Wolff updates cannot be combined with delayed acceptance");
    if (!(s.target_acceptance > 0 && s.target_acceptance < 1)) throw InputError("target_acceptance must be in (0, 1)");
    cfg_ = s;
}

void MonteCarlo::resync() {
    h_.refresh();
    if (surrogate_) surrogate_->set_spins(h_.spins());
    sync_observables();
}

// The tracked energy and magnetisation sums from the Hamiltonian's current caches (no full
// re-evaluation: what changing the signs, the active sites or the surrogate needs).
void MonteCarlo::sync_observables() {
    energy_ = h_.total_energy();
    msum_ = Vec3();
    std::fill(mssum_.begin(), mssum_.end(), Vec3());
    for (const index_t i : active_) {
        const Vec3 m = Vec3::load(h_.spin(i));
        msum_ += m;
        add_staggered(i, m);
        len_[i] = m.norm();
        if (!h_.variable_length() && !(len_[i] > 0))
            throw InputError("zero-length moment on site " + std::to_string(i) +
                             " with a fixed-length Hamiltonian");
    }
}

void MonteCarlo::reset_stats() {
    std::fill(tried_, tried_ + N_STAT, 0);
    std::fill(accepted_, accepted_ + N_STAT, 0);
}

void MonteCarlo::set_stats(const std::uint64_t* t, const std::uint64_t* a) {
    std::copy(t, t + N_STAT, tried_);
    std::copy(a, a + N_STAT, accepted_);
}

template <class H>
inline void MonteCarlo::apply(H& h, index_t i, const Vec3& mo, const Vec3& mn, real_t de, int kind) {
    h.accept();
    if (surrogate_) surrogate_->accept();  // its proposal of mn is pending (metropolis_test)
    energy_ += de;
    const Vec3 d = mn - mo;
    msum_ += d;
    add_staggered(i, d);
    ++accepted_[kind];
    if (kind == STAT_LONGITUDINAL) len_[i] = mn.norm();
}

// One Metropolis decision for moment i -> mn; on true the proposal is pending in h (and in the
// surrogate) for apply(), on false everything was rejected. de: the exact energy change.
template <class H>
inline bool MonteCarlo::metropolis_test(H& h, index_t i, const Vec3& mn, real_t& de) {
    const real_t beta = beta_;
    if (!surrogate_) {
        de = h.propose(i, mn);
        if (de <= 0.0 || rng_.uniform() < std::exp(-beta * de)) return true;
        h.reject();
        return false;
    }
    const real_t ds = surrogate_->propose(i, mn);
    if (!(ds <= 0.0 || rng_.uniform() < std::exp(-beta * ds))) {
        surrogate_->reject();
        ++da_screened_;
        return false;
    }
    ++da_exact_;
    de = h.propose(i, mn);
    const real_t d2 = de - ds;
    if (d2 <= 0.0 || rng_.uniform() < std::exp(-beta * d2)) return true;
    h.reject();
    surrogate_->reject();
    return false;
}

template <class H>
void MonteCarlo::sweep(H& h) {
    const index_t n = static_cast<index_t>(active_.size());
    const index_t* act = active_.data();
    const real_t sigma = cfg_.sigma, sl = cfg_.sigma_long, pl = cfg_.p_longitudinal;
    const int move = cfg_.move;
    const bool rnd = cfg_.random_order;
    for (index_t step = 0; step < n; ++step) {
        const index_t i = act[rnd ? static_cast<index_t>(rng_.below(n)) : step];
        const Vec3 mo = Vec3::load(h.spin(i));
        Vec3 mn;
        int kind;
        if (pl > 0.0 && rng_.uniform() < pl) {
            kind = STAT_LONGITUDINAL;
            real_t g[3];
            rng_.normal3(g);
            mn = Vec3(mo.x + sl * g[0], mo.y + sl * g[1], mo.z + sl * g[2]);
        } else {
            kind = (move == MOVE_HINZKE_NOWAK) ? static_cast<int>(rng_.below(3)) : move;
            const real_t len = len_[i];
            if (kind == MOVE_UNIFORM) {
                real_t u[3];
                rng_.unit_vector(u);
                mn = Vec3(u[0], u[1], u[2]) * len;
            } else if (kind == MOVE_GAUSSIAN) {
                const real_t inv = len > 0 ? 1.0 / len : 0.0;
                real_t g[3];
                rng_.normal3(g);
                Vec3 e(mo.x * inv + sigma * g[0], mo.y * inv + sigma * g[1], mo.z * inv + sigma * g[2]);
                const real_t en = e.norm();
                mn = en > 0 ? e * (len / en) : mo;
            } else {
                mn = -mo;
            }
        }
        real_t de;
        ++tried_[kind];
        if (metropolis_test(h, i, mn, de)) apply(h, i, mo, mn, de, kind);
    }
}

template <class H>
void MonteCarlo::overrelax_sweep(H& h) {
    Vec3 probe;
    const bool own = h.reflection_axis(0, probe);
    for (const index_t i : active_) {
        Vec3 ax;
        if (own) h.reflection_axis(i, ax);
        else surrogate_->reflection_axis(i, ax);  // the surrogate's axis: still independent of m_i
        const real_t a2 = ax.dot(ax);
        if (!(a2 > 0.0)) continue;  // no axis here: nothing to reflect about (not counted)
        const Vec3 mo = Vec3::load(h.spin(i));
        const Vec3 mn = ax * (2.0 * mo.dot(ax) / a2) - mo;
        real_t de;
        ++tried_[STAT_OVERRELAX];
        if (metropolis_test(h, i, mn, de)) apply(h, i, mo, mn, de, STAT_OVERRELAX);
    }
}

void MonteCarlo::wolff_cluster(SpinHamiltonian& h) {
    const index_t n = h.n_sites();
    real_t rr[3];
    rng_.unit_vector(rr);
    const Vec3 r(rr[0], rr[1], rr[2]);
    if (++generation_ == 0) {  // wrapped: clear marks
        std::fill(mark_.begin(), mark_.end(), 0);
        generation_ = 1;
    }
    const auto& offs = h.offsets();
    const auto& nbr = h.neighbours();
    const auto& J = h.couplings();
    auto flip = [&](index_t k) {
        const Vec3 mo = Vec3::load(h.spin(k));
        const Vec3 mn = mo - r * (2.0 * r.dot(mo));
        const real_t de = h.delta_energy(k, mn);
        h.set_spin_unchecked(k, mn);
        energy_ += de;
        msum_ += mn - mo;
        add_staggered(k, mn - mo);
        mark_[k] = generation_;
        stack_.push_back(k);
    };
    const index_t seed = static_cast<index_t>(rng_.below(n));
    stack_.clear();
    flip(seed);
    std::uint64_t size = 1;
    while (!stack_.empty()) {
        const index_t k = stack_.back();
        stack_.pop_back();
        const real_t pk = r.dot(Vec3::load(h.spin(k)));  // projection after the flip
        for (index_t e = offs[k]; e < offs[k + 1]; ++e) {
            const index_t j = nbr[e];
            if (mark_[j] == generation_) continue;
            const real_t x = 2.0 * beta_ * J[e] * pk * r.dot(Vec3::load(h.spin(j)));
            if (x < 0.0 && rng_.uniform() < -std::expm1(x)) {
                flip(j);
                ++size;
            }
        }
    }
    ++tried_[STAT_WOLFF];
    accepted_[STAT_WOLFF] += size;  // for Wolff: total cluster size
}

void MonteCarlo::adapt_widths(const std::uint64_t* t0, const std::uint64_t* a0) {
    auto rate = [&](int k) -> real_t {
        const std::uint64_t t = tried_[k] - t0[k];
        return t ? static_cast<real_t>(accepted_[k] - a0[k]) / t : -1.0;
    };
    auto update = [&](real_t& width, real_t acc, real_t lo, real_t hi) {
        if (acc < 0) return;
        const real_t f = std::clamp(acc / cfg_.target_acceptance, 0.8, 1.25);
        width = std::clamp(width * f, lo, hi);
    };
    update(cfg_.sigma, rate(STAT_GAUSSIAN), 1e-4, 20.0);
    update(cfg_.sigma_long, rate(STAT_LONGITUDINAL), 1e-5, 10.0);
}

template <class H>
std::int64_t MonteCarlo::run_impl(H& h, std::int64_t n_steps, std::int64_t every, bool adapt,
                                  real_t* e_out, real_t* m_out, real_t* ms_out, std::int64_t max_samples,
                                  bool resync_first) {
    if (resync_first) resync();
    const real_t invn = 1.0 / static_cast<real_t>(active_.size());
    std::int64_t written = 0;
    for (std::int64_t s = 1; s <= n_steps; ++s) {
        if (cfg_.metropolis) {
            std::uint64_t t0[N_STAT], a0[N_STAT];
            std::copy(tried_, tried_ + N_STAT, t0);
            std::copy(accepted_, accepted_ + N_STAT, a0);
            sweep(h);
            if (adapt) adapt_widths(t0, a0);
        }
        for (int o = 0; o < cfg_.overrelax_per_sweep; ++o) overrelax_sweep(h);
        for (int w = 0; w < cfg_.wolff_per_sweep; ++w) wolff_cluster(*spin_h_);
        if (every > 0 && s % every == 0 && written < max_samples) {
            if (e_out) e_out[written] = energy_;
            if (m_out) (msum_ * invn).store(m_out + 3 * written);
            if (ms_out)
                for (int d = 0; d < n_patterns_; ++d)
                    (mssum_[d] * invn).store(ms_out + 3 * (written * n_patterns_ + d));
            ++written;
        }
    }
    return written;
}

std::int64_t MonteCarlo::run(std::int64_t n_steps, std::int64_t every, bool adapt, real_t* e_out,
                             real_t* m_out, real_t* ms_out, std::int64_t max_samples,
                             bool resync_first) {
    if (n_steps < 0) throw InputError("n_steps must be >= 0");
    if (every < 0) throw InputError("sample_every must be >= 0");
    if (spin_h_)
        return run_impl(*spin_h_, n_steps, every, adapt, e_out, m_out, ms_out, max_samples,
                        resync_first);
    return run_impl(h_, n_steps, every, adapt, e_out, m_out, ms_out, max_samples, resync_first);
}

}  // namespace mmace
