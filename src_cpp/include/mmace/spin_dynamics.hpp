// Stochastic spin dynamics of the moments of any Hamiltonian that provides -dE/dm (field_at).
// Units (mmace_fast/conventions.py): time fs, field h = -dE/dm in eV per unit of the
// Hamiltonian's vectors, kT in eV; gamma = g / hbar / (muB per unit vector) in rad / (fs eV).
//
// Transverse (fixed |m|): stochastic Landau-Lifshitz-Gilbert equation (Stratonovich),
//   dm/dt = -gamma / (1 + alpha^2) [ m x H + (alpha / |m|) m x (m x H) ],   H = h + b,
//   <b_a(t) b_c(t')> = 2 alpha kT / (gamma |m|) delta_ac delta(t - t')   (Brown; Garcia-Palacios
//   and Lazaro, PRB 58, 14937 (1998)), integrated with the semi-implicit SIB scheme of Mentink
//   et al., J. Phys.: Condens. Matter 22, 176001 (2010): a predictor and a corrector, each a
//   rotation of m, so |m| is conserved to rounding. The rotation is the exact one (Rodrigues)
//   of the angle that SIB's Cayley transform approximates: with Gaussian noise the Cayley angle
//   2 atan(|a|) shrinks the large random rotations, a colder stationary state (measured: the
//   O(dt) bias of a single anisotropic spin's <cos^2> halves). Weak order 1 with noise; the
//   deterministic precession is second order.
// Longitudinal (free |m|): Langevin spin dynamics of Ma and Dudarev, PRB 83, 134418 (2011),
//   dm/dt = -gamma m x h + eta h + xi,   <xi_a(t) xi_c(t')> = 2 eta kT delta_ac delta(t - t'),
//   whose stationary density is exp(-E/kT) d^3m (the Monte Carlo measure): the precession by the
//   same SIB rotations (energy-conserving), the relaxation and noise by the Leimkuhler-Matthews
//   step (Leimkuhler and Matthews, AMRX 2013, 34; the noise of a step is the mean of two
//   successive draws), whose stationary averages are second order in dt where Euler-Maruyama's
//   are first order (measured in tests/test_spin_dynamics.py).
#pragma once
#include <cstdint>
#include <vector>

#include "mmace/hamiltonian.hpp"
#include "mmace/rng.hpp"

namespace mmace {

struct LLGSettings {
    real_t dt = 0.1;            // fs
    real_t gamma = 0.0;         // rad / (fs eV), from mmace_fast.conventions (never set here)
    real_t alpha = 0.0;         // Gilbert damping (transverse), dimensionless
    real_t kT = 0.0;            // eV
    bool longitudinal = false;  // Ma-Dudarev relaxation of the full vector (free |m|)
    real_t eta = 0.0;           // longitudinal relaxation rate, (unit vector)^2 / (fs eV)
};

class SpinDynamics {
public:
    // Integrates the moments held by h (read at construction and written back after each
    // step); rng stream as in MonteCarlo.
    SpinDynamics(Hamiltonian& h, std::uint64_t seed, std::uint64_t stream);

    void set_settings(const LLGSettings& s);   // validated: throws InputError
    const LLGSettings& settings() const { return s_; }

    // n_steps steps; every sample_every steps (0: never) writes the total energy (eV) to e_out
    // [k] and the per-site mean moment to m_out [k, 3], k <= max_samples. Returns k.
    std::int64_t run(std::int64_t n_steps, std::int64_t sample_every, real_t* e_out,
                     real_t* m_out, std::int64_t max_samples);

    // The longitudinal integrator's last standard-normal draw [n, 3] (nullptr when none yet):
    // part of the state that a checkpoint saves for a bit-identical restart.
    const real_t* last_noise() const { return have_xi_ ? xi_.data() : nullptr; }
    void set_last_noise(const real_t* xi);     // nullptr: none (the next step draws it)

    Rng& rng() { return rng_; }
    std::int64_t steps() const { return steps_; }
    void set_steps(std::int64_t n) { steps_ = n; }

private:
    void step();
    void draw_noise(real_t sigma_scale);       // b_ [n, 3], transverse: per-site |m| scaling
    void rotate_all(const real_t* m_axis, const real_t* field, real_t* out) const;

    Hamiltonian& h_;
    Rng rng_;
    LLGSettings s_;
    std::int64_t steps_ = 0;
    bool have_xi_ = false;                     // longitudinal: xi_ holds the last noise draw
    std::vector<real_t> m_, pred_, mid_, h0_, h1_, b_, xi_;   // [n, 3] each
};

// SIB's step solves x - m = (x + m) x a' (a' = A dt / 2, A the field term at the predictor or
// midpoint), a Cayley rotation of m by 2 atan |a'| about -a'. This is the rotation by the angle
// 2 |a'| about the same axis (Rodrigues), so that a random a' turns m by its own angle.
inline Vec3 exact_rotate(const Vec3& m, const Vec3& a_half) {
    const real_t len = a_half.norm();
    if (len == 0) return m;
    const Vec3 k = a_half * (1.0 / len);
    const real_t th = -2.0 * len, c = std::cos(th), s = std::sin(th);
    const Vec3 kxm(k.y * m.z - k.z * m.y, k.z * m.x - k.x * m.z, k.x * m.y - k.y * m.x);
    return m * c + kxm * s + k * (k.dot(m) * (1.0 - c));
}

}  // namespace mmace
