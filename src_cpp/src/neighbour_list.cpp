#include "mmace/neighbour_list.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

namespace mmace {
namespace {

using Mat3 = std::array<real_t, 9>;

// Inverse of a row-major 3x3 matrix; throws if singular.
Mat3 inverse3(const real_t* a) {
    const real_t det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                       a[2] * (a[3] * a[7] - a[4] * a[6]);
    const real_t scale = std::max({std::abs(a[0]), std::abs(a[1]), std::abs(a[2]), std::abs(a[3]),
                                   std::abs(a[4]), std::abs(a[5]), std::abs(a[6]), std::abs(a[7]),
                                   std::abs(a[8])});
    if (!(std::abs(det) > 1e-12 * scale * scale * scale) || !std::isfinite(det))
        throw InputError("neighbour list: singular or non-finite cell (det = " +
                         std::to_string(det) + ")");
    const real_t id = 1.0 / det;
    return {(a[4] * a[8] - a[5] * a[7]) * id, (a[2] * a[7] - a[1] * a[8]) * id,
            (a[1] * a[5] - a[2] * a[4]) * id, (a[5] * a[6] - a[3] * a[8]) * id,
            (a[0] * a[8] - a[2] * a[6]) * id, (a[2] * a[3] - a[0] * a[5]) * id,
            (a[3] * a[7] - a[4] * a[6]) * id, (a[1] * a[6] - a[0] * a[7]) * id,
            (a[0] * a[4] - a[1] * a[3]) * id};
}

// periodic images scanned on each side of a direction, and bins visited per atom, at most
constexpr real_t kMaxImages = 1000.0;
constexpr real_t kMaxScan = 1e7;

struct Grid {
    std::array<int, 3> nbins{};     // bins per direction
    std::array<int, 3> reach{};     // bin offsets to scan on each side
    std::array<real_t, 3> fmin{};   // fractional origin of the bin grid
    std::array<real_t, 3> width{};  // fractional bin width
};

}  // namespace

NeighbourList build_neighbour_list(const real_t* positions, index_t n, const real_t* cell,
                                   const bool* pbc, real_t cutoff) {
    if (!(cutoff > 0) || !std::isfinite(cutoff))
        throw InputError("neighbour list: cutoff must be a positive finite number");
    if (n < 0) throw InputError("neighbour list: negative number of atoms");
    for (index_t k = 0; k < 3 * n; ++k)
        if (!std::isfinite(positions[k]))
            throw InputError("neighbour list: non-finite position of atom " +
                             std::to_string(k / 3));
    const Mat3 inv = inverse3(cell);  // frac = x . inv  (row vector convention)

    // plane spacing along each direction: h_d = 1 / |column d of inv|
    std::array<real_t, 3> h{};
    for (int d = 0; d < 3; ++d)
        h[d] = 1.0 / std::sqrt(inv[d] * inv[d] + inv[3 + d] * inv[3 + d] + inv[6 + d] * inv[6 + d]);

    // fractional coordinates, wrapped along periodic directions; wrap shifts W (x_w = x + W.cell)
    std::vector<real_t> frac(3 * static_cast<std::size_t>(n));
    std::vector<shift_t> wrap(3 * static_cast<std::size_t>(n), 0);
    for (index_t i = 0; i < n; ++i) {
        const real_t* x = positions + 3 * i;
        for (int d = 0; d < 3; ++d) {
            real_t f = x[0] * inv[d] + x[1] * inv[3 + d] + x[2] * inv[6 + d];
            if (pbc[d]) {
                const real_t fl = std::floor(f);
                f -= fl;
                if (f >= 1.0) { f -= 1.0; wrap[3 * i + d] -= 1; }
                wrap[3 * i + d] -= static_cast<shift_t>(fl);
            }
            frac[3 * i + d] = f;
        }
    }

    Grid g;
    for (int d = 0; d < 3; ++d) {
        const real_t wcut = cutoff / h[d];  // fractional extent of the cutoff along d
        if (pbc[d] && !(wcut <= kMaxImages)) {   // also NaN: the int bin offsets would overflow
            throw InputError("neighbour list: the cell is too thin along lattice direction " +
                             std::to_string(d) + ": plane spacing " + std::to_string(h[d]) +
                             " A against a cutoff of " + std::to_string(cutoff) +
                             " A needs more than " + std::to_string(static_cast<int>(kMaxImages)) +
                             " periodic images on each side; the spacing must be at least " +
                             std::to_string(cutoff / kMaxImages) + " A");
        }
        if (pbc[d]) {
            g.fmin[d] = 0.0;
            g.nbins[d] = std::max(1, static_cast<int>(std::floor(1.0 / wcut)));
            g.nbins[d] = std::min(g.nbins[d], std::max(1, static_cast<int>(std::cbrt(n) * 2) + 1));
            g.width[d] = 1.0 / g.nbins[d];
            g.reach[d] = static_cast<int>(std::ceil(wcut / g.width[d]));
        } else {
            real_t lo = std::numeric_limits<real_t>::max(), hi = -lo;
            for (index_t i = 0; i < n; ++i) {
                lo = std::min(lo, frac[3 * i + d]);
                hi = std::max(hi, frac[3 * i + d]);
            }
            if (n == 0) { lo = 0; hi = 0; }
            g.fmin[d] = lo;
            g.width[d] = wcut;
            g.nbins[d] = std::max(1, static_cast<int>(std::floor((hi - lo) / wcut)) + 1);
            g.nbins[d] = std::min(g.nbins[d], std::max(1, n));
            if (g.nbins[d] > 1) g.width[d] = std::max(wcut, (hi - lo) / (g.nbins[d] - 1e-9));
            g.reach[d] = static_cast<int>(std::ceil(wcut / g.width[d]));
        }
    }

    // bins visited per atom: refuse a search that would take hours and all the memory
    real_t scan = 1.0;
    for (int d = 0; d < 3; ++d) scan *= 2.0 * g.reach[d] + 1.0;
    if (scan > kMaxScan)
        throw InputError("neighbour list: the cell is too thin for the cutoff: " +
                         std::to_string(scan) + " periodic bins to scan per atom (limit " +
                         std::to_string(kMaxScan) + "); use a supercell whose plane spacings "
                         "are not far below the cutoff");

    // bin atoms (counting sort)
    const std::size_t nb = static_cast<std::size_t>(g.nbins[0]) * g.nbins[1] * g.nbins[2];
    std::vector<int> bin_of(n);
    std::vector<index_t> bin_start(nb + 1, 0), bin_atoms(n);
    for (index_t i = 0; i < n; ++i) {
        int b[3];
        for (int d = 0; d < 3; ++d) {
            int k = static_cast<int>(std::floor((frac[3 * i + d] - g.fmin[d]) / g.width[d]));
            b[d] = std::min(std::max(k, 0), g.nbins[d] - 1);
        }
        bin_of[i] = (b[0] * g.nbins[1] + b[1]) * g.nbins[2] + b[2];
        ++bin_start[bin_of[i] + 1];
    }
    for (std::size_t b = 0; b < nb; ++b) bin_start[b + 1] += bin_start[b];
    {
        std::vector<index_t> fill(bin_start.begin(), bin_start.end() - 1);
        for (index_t i = 0; i < n; ++i) bin_atoms[fill[bin_of[i]]++] = i;
    }

    // wrapped Cartesian positions
    std::vector<real_t> xw(3 * static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) {
            real_t v = positions[3 * i + c];
            for (int d = 0; d < 3; ++d) v += wrap[3 * i + d] * cell[3 * d + c];
            xw[3 * i + c] = v;
        }

    NeighbourList out;
    const real_t rc2 = cutoff * cutoff;
    struct Hit { index_t j; shift_t s[3]; real_t r2; };
    std::vector<Hit> hits;
    for (index_t i = 0; i < n; ++i) {
        hits.clear();
        const int bi = bin_of[i];
        const int b0 = bi / (g.nbins[1] * g.nbins[2]);
        const int b1 = (bi / g.nbins[2]) % g.nbins[1];
        const int b2 = bi % g.nbins[2];
        const int bc[3] = {b0, b1, b2};
        for (int o0 = -g.reach[0]; o0 <= g.reach[0]; ++o0)
        for (int o1 = -g.reach[1]; o1 <= g.reach[1]; ++o1)
        for (int o2 = -g.reach[2]; o2 <= g.reach[2]; ++o2) {
            const int off[3] = {o0, o1, o2};
            int tb[3];
            shift_t S[3];
            bool skip = false;
            for (int d = 0; d < 3; ++d) {
                const int t = bc[d] + off[d];
                if (pbc[d]) {
                    const int q = static_cast<int>(std::floor(static_cast<real_t>(t) / g.nbins[d]));
                    tb[d] = t - q * g.nbins[d];
                    S[d] = q;
                } else {
                    if (t < 0 || t >= g.nbins[d]) { skip = true; break; }
                    tb[d] = t;
                    S[d] = 0;
                }
            }
            if (skip) continue;
            const real_t sx = S[0] * cell[0] + S[1] * cell[3] + S[2] * cell[6];
            const real_t sy = S[0] * cell[1] + S[1] * cell[4] + S[2] * cell[7];
            const real_t sz = S[0] * cell[2] + S[1] * cell[5] + S[2] * cell[8];
            const int tbin = (tb[0] * g.nbins[1] + tb[1]) * g.nbins[2] + tb[2];
            for (index_t k = bin_start[tbin]; k < bin_start[tbin + 1]; ++k) {
                const index_t j = bin_atoms[k];
                if (j == i && S[0] == 0 && S[1] == 0 && S[2] == 0) continue;
                const real_t dx = xw[3 * j] + sx - xw[3 * i];
                const real_t dy = xw[3 * j + 1] + sy - xw[3 * i + 1];
                const real_t dz = xw[3 * j + 2] + sz - xw[3 * i + 2];
                const real_t r2 = dx * dx + dy * dy + dz * dz;
                if (r2 < rc2) {
                    Hit hit{j, {S[0] + wrap[3 * j] - wrap[3 * i],
                                S[1] + wrap[3 * j + 1] - wrap[3 * i + 1],
                                S[2] + wrap[3 * j + 2] - wrap[3 * i + 2]}, r2};
                    hits.push_back(hit);
                }
            }
        }
        // deterministic order within a centre: by neighbour index, then shift
        std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
            if (a.j != b.j) return a.j < b.j;
            if (a.s[0] != b.s[0]) return a.s[0] < b.s[0];
            if (a.s[1] != b.s[1]) return a.s[1] < b.s[1];
            return a.s[2] < b.s[2];
        });
        for (const Hit& hit : hits) {
            out.first.push_back(i);
            out.second.push_back(hit.j);
            out.shifts.insert(out.shifts.end(), {hit.s[0], hit.s[1], hit.s[2]});
            out.dist.push_back(std::sqrt(hit.r2));
        }
    }
    return out;
}

}  // namespace mmace
