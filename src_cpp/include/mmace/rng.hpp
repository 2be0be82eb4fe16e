// Seeded, reproducible random numbers: xoshiro256++ (Blackman & Vigna) seeded by splitmix64.
// Independent streams: stream k starts k long-jumps (2^192 steps each) from the seeded state, so
// replicas never overlap. The full state is 4 uint64 words: saved and restored by checkpoints.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace mmace {

class Rng {
public:
    using state_t = std::array<std::uint64_t, 4>;

    explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) { seed_stream(seed, stream); }

    void seed_stream(std::uint64_t seed, std::uint64_t stream) {
        std::uint64_t z = seed;
        for (auto& w : s_) w = splitmix64(z);
        for (std::uint64_t k = 0; k < stream; ++k) long_jump();
    }

    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // uniform in [0, 1), 53 random bits
    double uniform() { return (next_u64() >> 11) * 0x1.0p-53; }
    // uniform in (0, 1]: safe for log()
    double uniform_pos() { return ((next_u64() >> 11) + 1) * 0x1.0p-53; }
    // uniform integer in [0, n) (Lemire's multiply-shift, negligible bias for n << 2^64)
    std::uint64_t below(std::uint64_t n) {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
    }
    // two independent standard normals (Marsaglia polar method)
    void normal2(double& a, double& b) {
        double u, v, s;
        do {
            u = 2.0 * uniform() - 1.0;
            v = 2.0 * uniform() - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        const double f = std::sqrt(-2.0 * std::log(s) / s);
        a = u * f;
        b = v * f;
    }
    // standard normal; the spare value is dropped so that the state is only s_
    double normal() {
        double a, b;
        normal2(a, b);
        return a;
    }
    // three independent standard normals from two polar pairs (the fourth value is dropped)
    void normal3(double* out) {
        double spare;
        normal2(out[0], out[1]);
        normal2(out[2], spare);
    }
    // uniform unit vector on the sphere (Marsaglia 1972)
    void unit_vector(double* out) {
        double a, b, s;
        do {
            a = 2.0 * uniform() - 1.0;
            b = 2.0 * uniform() - 1.0;
            s = a * a + b * b;
        } while (s >= 1.0);
        const double f = 2.0 * std::sqrt(1.0 - s);
        out[0] = a * f;
        out[1] = b * f;
        out[2] = 1.0 - 2.0 * s;
    }

    const state_t& state() const { return s_; }
    void set_state(const state_t& s) { s_ = s; }

    void long_jump() {
        static const std::uint64_t LJ[] = {0x76e15d3efefdcbbfULL, 0xc5004e441c522fb3ULL,
                                           0x77710069854ee241ULL, 0x39109bb02acbe635ULL};
        state_t t{0, 0, 0, 0};
        for (std::uint64_t word : LJ)
            for (int b = 0; b < 64; ++b) {
                if (word & (std::uint64_t{1} << b))
                    for (int k = 0; k < 4; ++k) t[k] ^= s_[k];
                next_u64();
            }
        s_ = t;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& z) {
        std::uint64_t r = (z += 0x9e3779b97f4a7c15ULL);
        r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ULL;
        r = (r ^ (r >> 27)) * 0x94d049bb133111ebULL;
        return r ^ (r >> 31);
    }
    state_t s_{};
};

}  // namespace mmace
