// Basic types shared by every mmace_fast kernel.
#pragma once
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mmace {

using real_t = double;          // all physics in float64
using index_t = std::int32_t;   // atom / site / pair indices
using shift_t = std::int32_t;   // periodic image shifts

struct Vec3 {
    real_t x = 0, y = 0, z = 0;
    Vec3() = default;
    Vec3(real_t a, real_t b, real_t c) : x(a), y(b), z(c) {}
    static Vec3 load(const real_t* p) { return {p[0], p[1], p[2]}; }
    void store(real_t* p) const { p[0] = x; p[1] = y; p[2] = z; }
    Vec3 operator+(const Vec3& o) const { return {x + o.x, y + o.y, z + o.z}; }
    Vec3 operator-(const Vec3& o) const { return {x - o.x, y - o.y, z - o.z}; }
    Vec3 operator*(real_t s) const { return {x * s, y * s, z * s}; }
    Vec3 operator-() const { return {-x, -y, -z}; }
    Vec3& operator+=(const Vec3& o) { x += o.x; y += o.y; z += o.z; return *this; }
    Vec3& operator-=(const Vec3& o) { x -= o.x; y -= o.y; z -= o.z; return *this; }
    real_t dot(const Vec3& o) const { return x * o.x + y * o.y + z * o.z; }
    real_t norm2() const { return dot(*this); }
    real_t norm() const { return std::sqrt(norm2()); }
};

// Row-major 3x3 matrix product m^T-free helpers: y = A x
inline Vec3 matvec(const real_t* a, const Vec3& v) {
    return {a[0] * v.x + a[1] * v.y + a[2] * v.z,
            a[3] * v.x + a[4] * v.y + a[5] * v.z,
            a[6] * v.x + a[7] * v.y + a[8] * v.z};
}
// y = A^T x
inline Vec3 matTvec(const real_t* a, const Vec3& v) {
    return {a[0] * v.x + a[3] * v.y + a[6] * v.z,
            a[1] * v.x + a[4] * v.y + a[7] * v.z,
            a[2] * v.x + a[5] * v.y + a[8] * v.z};
}

// Error thrown on bad input; mapped to ValueError by the Cython layer.
struct InputError : std::invalid_argument {
    explicit InputError(const std::string& msg) : std::invalid_argument(msg) {}
};

}  // namespace mmace
