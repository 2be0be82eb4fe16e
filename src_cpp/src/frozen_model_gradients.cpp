// FrozenModel: the adjoints (reverse-mode derivatives) of the per-site and per-edge kernels of
// frozen_model_kernels.cpp, for the magnetic forces of the frozen evaluator (see
// frozen_model.hpp). Plain loops: a gradient is one pass per structure, not a trial move.
#include <algorithm>
#include <cmath>

#include "mmace/array_view.hpp"
#include "mmace/frozen_model.hpp"

namespace mmace {

Vec3 FrozenModel::sh_backward(const Vec3& v, int l_max, const real_t* ybar) const {
    MMACE_CHECK_INDEX(l_max, 13);
    real_t px[13], py[13], pz[13];
    harmonic_powers(v, l_max, px, py, pz);
    const int n = (l_max + 1) * (l_max + 1);
    Vec3 g;
    const std::size_t nnz = sh_index.size();
    for (std::size_t e = 0; e < nnz && sh_index[e] < n; ++e) {
        const int* pw = &sh_pow[3 * e];
        const real_t f = sh_coef[e] * ybar[sh_index[e]];
        if (f == 0.0) continue;
        if (pw[0] > 0) g.x += f * pw[0] * px[pw[0] - 1] * py[pw[1]] * pz[pw[2]];
        if (pw[1] > 0) g.y += f * pw[1] * px[pw[0]] * py[pw[1] - 1] * pz[pw[2]];
        if (pw[2] > 0) g.z += f * pw[2] * px[pw[0]] * py[pw[1]] * pz[pw[2] - 1];
    }
    return g;
}

real_t FrozenModel::landau_derivative(int s, real_t x) const {
    MMACE_CHECK_INDEX(s, n_species());
    real_t d = 0.0, xk = 1.0;
    for (int k = 0; k < landau_order; ++k) {
        d += (k + 1) * landau[static_cast<std::size_t>(s) * landau_order + k] * xk;
        xk *= x;
    }
    return d;
}

Vec3 FrozenModel::spin_features_backward(int s, const Vec3& m, real_t xbar,
                                         const real_t* phibar, const real_t* ysbar) const {
    // forward (spin_features): mt = m / sc, xx = |mt|^2, d = (1 + xx^4)^(1/4),
    // y = 1 - 2 xx / d, phi = Chebyshev T_k(y), ys = Y(mt / sqrt(d))
    const real_t sc = MMACE_AT(moment_scale, s);
    const Vec3 mt(m.x / sc, m.y / sc, m.z / sc);
    const real_t xx = mt.norm2();
    const real_t x4 = xx * xx * xx * xx;
    const real_t d = std::pow(1.0 + x4, 0.25);
    const real_t dd = xx * xx * xx / (d * d * d);             // dd/dxx
    const real_t y = 1.0 - 2.0 * xx / d;
    const real_t dy = -2.0 / d + 2.0 * xx * dd / (d * d);     // dy/dxx
    // dE/dy through the Chebyshev recursion: T'_k = 2 T_{k-1} + 2 y T'_{k-1} - T'_{k-2}
    real_t ybar_cheb = 0.0;
    if (n_mag > 1) {
        real_t t0 = 1.0, t1 = y, d0 = 0.0, d1 = 1.0;
        ybar_cheb += phibar[1] * d1;
        for (int k = 2; k < n_mag; ++k) {
            const real_t t2 = 2.0 * y * t1 - t0, d2 = 2.0 * t1 + 2.0 * y * d1 - d0;
            ybar_cheb += phibar[k] * d2;
            t0 = t1; t1 = t2; d0 = d1; d1 = d2;
        }
    }
    const real_t sd = std::sqrt(d);
    const Vec3 gv = sh_backward(Vec3(mt.x / sd, mt.y / sd, mt.z / sd), l_spin_max, ysbar);
    // v = mt d^(-1/2): through d, dE/dxx = -(gv . mt) dd / (2 d^(3/2)); dxx/dmt = 2 mt
    const real_t xxbar = xbar + ybar_cheb * dy - 0.5 * gv.dot(mt) * dd / (d * sd);
    Vec3 g = gv * (1.0 / sd) + mt * (2.0 * xxbar);            // dE/dmt
    return g * (1.0 / sc);
}

void FrozenModel::embed_backward(const NodeAttr& a, const real_t* h0bar, real_t* phibar) const {
    if (a.phi == nullptr) return;
    const int c = n_channels;
    const real_t* e0p = embedding.data() + static_cast<std::size_t>(a.species) * n_mag * c;
    for (int q = 0; q < n_mag; ++q) {
        real_t s = 0.0;
        for (int k = 0; k < c; ++k) s += e0p[q * c + k] * h0bar[k];
        phibar[q] += s;
    }
}

void FrozenModel::receiver_weights_backward(int layer, const real_t* xrbar,
                                            real_t* phibar) const {
    const LayerModel& L = MMACE_AT(layers, layer);
    const std::size_t pc = static_cast<std::size_t>(L.n_paths) * n_channels;
    const int n = n_mag;
    const int nl = soc ? 1 : (l_spin_max + 1);
    const std::size_t row = n * pc;
    for (int l = 0; l < nl; ++l) {
        const real_t* sw = L.spin_weight.data() + static_cast<std::size_t>(l) * n * row;   // [p][row]
        const real_t* xb = xrbar + l * row;
        for (int p = 0; p < n; ++p) {
            real_t s = 0.0;
            for (std::size_t k = 0; k < row; ++k) s += sw[p * row + k] * xb[k];
            phibar[p] += s;
        }
    }
}

void FrozenModel::edge_weights_backward(int layer, const real_t* radial, const real_t* kappa,
                                        const real_t* xr, const real_t* wbar, real_t* kappabar,
                                        real_t* xrbar) const {
    const LayerModel& L = MMACE_AT(layers, layer);
    const std::size_t pc = static_cast<std::size_t>(L.n_paths) * n_channels;
    const int nk = n_kappa();
    for (int r = 0; r < nk; ++r) {
        const real_t* x = xr + r * pc;
        real_t s = 0.0;
        for (std::size_t k = 0; k < pc; ++k) s += wbar[k] * radial[k] * x[k];
        kappabar[r] += s;
        if (xrbar != nullptr) {
            real_t* xb = xrbar + r * pc;
            const real_t kr = kappa[r];
            for (std::size_t k = 0; k < pc; ++k) xb[k] += kr * wbar[k] * radial[k];
        }
    }
}

void FrozenModel::edge_kappa_backward(const real_t* ys_i, const real_t* phi_j, const real_t* ys_j,
                                      const real_t* kappabar, real_t* ysbar_i, real_t* phibar_j,
                                      real_t* ysbar_j) const {
    if (!pair_factorised()) {                 // kappa = phi_j
        for (int q = 0; q < n_mag; ++q) phibar_j[q] += kappabar[q];
        return;
    }
    real_t c[16];
    pair_invariants(ys_i, ys_j, c);
    for (int l = 0; l <= l_spin_max; ++l) {
        real_t cbar = 0.0;
        for (int q = 0; q < n_mag; ++q) {
            cbar += kappabar[l * n_mag + q] * phi_j[q];
            phibar_j[q] += kappabar[l * n_mag + q] * c[l];
        }
        const real_t f = cbar * spin_inv_norm[l];
        for (int m = l * l; m < (l + 1) * (l + 1); ++m) {
            ysbar_i[m] += f * ys_j[m];
            ysbar_j[m] += f * ys_i[m];
        }
    }
}

void FrozenModel::soc_psi_backward(const real_t* y_bond, const real_t* ys_i, const real_t* ys_j,
                                   const real_t* psibar, real_t* ysbar_i, real_t* ysbar_j,
                                   real_t* ybbar, real_t* tmp) const {
    real_t* pair = tmp;                       // [spin_pair.dk] the forward pair product
    real_t* pairbar = tmp + spin_pair.dk;     // [spin_pair.dk]
    std::fill(pairbar, pairbar + spin_pair.dk, 0.0);
    const std::size_t n1 = spin_pair.v.size(), n2 = bond_spin.v.size();
    if (ybbar != nullptr) {
        std::fill(pair, pair + spin_pair.dk, 0.0);
        for (std::size_t e = 0; e < n1; ++e)
            pair[spin_pair.k[e]] += ys_i[spin_pair.i[e]] * ys_j[spin_pair.j[e]] * spin_pair.v[e];
    }
    for (std::size_t e = 0; e < n2; ++e) {
        const real_t f = psibar[bond_spin.k[e]] * bond_spin.v[e];
        pairbar[bond_spin.j[e]] += y_bond[bond_spin.i[e]] * f;
        if (ybbar != nullptr) ybbar[bond_spin.i[e]] += pair[bond_spin.j[e]] * f;
    }
    for (std::size_t e = 0; e < n1; ++e) {
        const real_t f = pairbar[spin_pair.k[e]] * spin_pair.v[e];
        ysbar_i[spin_pair.i[e]] += f * ys_j[spin_pair.j[e]];
        ysbar_j[spin_pair.j[e]] += f * ys_i[spin_pair.i[e]];
    }
}

void FrozenModel::radial_basis_jvp(real_t r, real_t* out, real_t* dout) const {
    // out_k = pref sin(f_k t) / r env(t), t = r / r_cut, env = 1 + c0 t^p + c1 t^(p+1)
    // + c2 t^(p+2) below the cutoff, 0 beyond
    const real_t t = r / r_cut;
    const int nb = static_cast<int>(freq.size());
    real_t env = 0.0, denv = 0.0;            // env and d env / dr
    if (t < 1.0) {
        const real_t tp = std::pow(t, envelope_p), tpm = std::pow(t, envelope_p - 1);
        env = 1.0 + envelope_coef[0] * tp + envelope_coef[1] * (tp * t) +
              envelope_coef[2] * (tp * t * t);
        denv = (envelope_coef[0] * envelope_p * tpm + envelope_coef[1] * (envelope_p + 1) * tp +
                envelope_coef[2] * (envelope_p + 2) * tp * t) / r_cut;
    }
    for (int k = 0; k < nb; ++k) {
        const real_t s = std::sin(freq[k] * t), c = std::cos(freq[k] * t);
        out[k] = radial_pref * s / r * env;
        dout[k] = radial_pref * ((freq[k] * c / r_cut / r - s / (r * r)) * env + s / r * denv);
    }
}

}  // namespace mmace
