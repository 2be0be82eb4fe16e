// Frozen mMACE: magnetic forces, forces and the strain derivative by one reverse-mode pass
// through the cached features of the full evaluation (see evaluator.hpp). Layer by layer from
// the last: the readouts and node updates give dE/dh_{t+1} -> dE/dA_t (and dE/dphi through the
// attribute-dependent weights); the messages give dE/du_t of the senders and dE/dw of every
// edge, which the edge weights w = R(r) (x) sum_r kappa_r Xr turn into dE/dkappa, dE/dXr (the
// spin features of both ends) and dE/dR, dE/dG (the bond: its length through the radial MLP,
// its direction through the harmonics); linear_up and the skip connection give dE/dh_t. Last,
// the embedding, the Landau term and the spin features map everything to dE/dm. Node features
// that refresh() does not keep (linear(A), the contraction) are recomputed per node; the edge
// weights per receiver in batches (small GEMMs, as in refresh()).
#include <algorithm>
#include <vector>

#include "mmace/array_view.hpp"
#include "mmace/evaluator.hpp"
#include "mmace/small_gemm.hpp"

namespace mmace {

void FrozenMMACE::backward_node_updates(int t, const std::vector<real_t>& hbar_out,
                                        real_t* abar, real_t* hbar_in, real_t* phibar) const {
    // h_{t+1} = skip + linear_out(SC(linear(A), attr)), e_t = readout(h_{t+1} scalars)
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c, dout = Lm.d_out * c;
    std::vector<real_t> alin(da), b(dout), hnext(dout), hb(dout), bbar(dout), alinbar(da);
    std::vector<real_t> mlp_tmp(Lm.readout.backward_scratch());
    std::vector<real_t> sc_fwd(std::max<std::size_t>(Lm.sc.scratch_size(), 1));
    std::vector<real_t> sc_tmp(std::max<std::size_t>(Lm.sc.backward_scratch(), 1));
    std::vector<real_t> lin_tmp(2 * c * c);
    const real_t ebar = m.scale;
    const std::size_t s0 = static_cast<std::size_t>(Lm.scalar_index) * c;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n_); ++i) {
        const NodeAttr at = attr(static_cast<index_t>(i));
        real_t* pb = phibar + i * m.n_mag;
        Lm.linear.apply(a_[t].data() + i * da, alin.data());
        Lm.sc.apply(alin.data(), at, b.data(), sc_fwd.data());
        std::copy(skip_[t].begin() + i * dout, skip_[t].begin() + (i + 1) * dout, hnext.begin());
        Lm.linear_out.apply_add(b.data(), hnext.data());
        if (hbar_out.empty())
            std::fill(hb.begin(), hb.end(), 0.0);
        else
            std::copy(hbar_out.begin() + i * dout, hbar_out.begin() + (i + 1) * dout, hb.begin());
        Lm.readout.backward(hnext.data() + s0, &ebar, hb.data() + s0, mlp_tmp.data());
        Lm.skip.backward(h_[t].data() + i * din, at, hb.data(), hbar_in + i * din, pb,
                         lin_tmp.data());
        std::fill(bbar.begin(), bbar.end(), 0.0);
        Lm.linear_out.transpose_add(hb.data(), bbar.data());
        std::fill(alinbar.begin(), alinbar.end(), 0.0);
        Lm.sc.backward(alin.data(), at, bbar.data(), alinbar.data(), pb, sc_tmp.data());
        Lm.linear.transpose_add(alinbar.data(), abar + i * da);
    }
}

void FrozenMMACE::backward_messages(int t, const real_t* abar, real_t* ubar, real_t* phibar,
                                    real_t* ysbar, real_t* dv) const {
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
    const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
    const int nk = m.n_kappa(), ns = m.n_spin_sh(), nm = m.n_mag, d_sh = m.n_sh();
    const bool pos = dv != nullptr;
    // dR/dr [n_bonds][P][C]: the radial MLP's tangent along the bond length, once per bond
    std::vector<real_t> drad;
    if (pos) {
        constexpr std::size_t kChunk = 64;                          // bonds per GEMM
        const int nb = static_cast<int>(m.freq.size());
        std::vector<real_t> rb(kChunk * nb), drb(kChunk * nb), y(kChunk * pc),
            tmp(4 * kChunk * Lm.radial_mlp.max_width());
        drad.assign(n_bonds_ * pc, 0.0);
        for (std::size_t b0 = 0; b0 < n_bonds_; b0 += kChunk) {
            const std::size_t nc = std::min(kChunk, n_bonds_ - b0);
            for (std::size_t r = 0; r < nc; ++r)
                m.radial_basis_jvp(Vec3::load(&bond_vec_[3 * (b0 + r)]).norm(),
                                   rb.data() + r * nb, drb.data() + r * nb);
            Lm.radial_mlp.jvp_batch(rb.data(), drb.data(), nc, y.data(),
                                    drad.data() + b0 * pc, tmp.data());
        }
    }
    const int gs = std::max(Lm.tp.g_size, 1);
    std::vector<real_t> xr(nk * pc), xrT(pc * nk), xrbar(nk * pc, 0.0), kap(kBatch * nk),
        kapT(nk * kBatch), kbar(kBatch * nk), S(kBatch * pc), W(kBatch * pc), T(kBatch * pc),
        wbar(kBatch * pc), gbar(gs), g_tmp(gs), psibar(std::max(Lm.d_psi, 1)), ybbar(d_sh),
        soc_tmp(m.soc ? 2 * m.spin_pair.dk : 1);
    const bool need_g = m.soc || pos;
    for (index_t i = 0; i < n_; ++i) {
        const real_t* xri = m.global_weights(t);                    // [n_kappa][P][C]
        if (m.centre_spin) {
            m.receiver_weights(t, phi(i), xr.data());
            xri = xr.data();
            std::fill(xrbar.begin(), xrbar.end(), 0.0);
        }
        for (int r = 0; r < nk; ++r)
            for (std::size_t k = 0; k < pc; ++k) xrT[k * nk + r] = xri[r * pc + k];
        real_t* ysb_i = ysbar + static_cast<std::size_t>(i) * ns;
        const real_t* abar_i = abar + static_cast<std::size_t>(i) * da;
        for (index_t e0 = recv_off_[i]; e0 < recv_off_[i + 1]; e0 += kBatch) {
            const int nb = std::min<index_t>(kBatch, recv_off_[i + 1] - e0);
            for (int r = 0; r < nb; ++r) {
                const index_t j = send_[e0 + r];
                m.edge_kappa(ys(i), phi(j), ys(j), kap.data() + r * nk);
            }
            // S = kappa . Xr (the spin part of the weights), W = R (x) S
            small_gemm(kap.data(), nk, nb, nk, xri, static_cast<int>(pc), S.data(), pc, false);
            for (int r = 0; r < nb; ++r) {
                const index_t e = e0 + r, j = send_[e], b = bond_[e];
                const real_t* R = bond_r_[t].data() + static_cast<std::size_t>(b) * pc;
                real_t* w = W.data() + r * pc;
                real_t* wb = wbar.data() + r * pc;
                for (std::size_t k = 0; k < pc; ++k) w[k] = S[r * pc + k] * R[k];
                const real_t* g = edge_g(t, b, ys(i), ys(j), g_tmp.data());
                std::fill(wb, wb + pc, 0.0);
                if (need_g) std::fill(gbar.begin(), gbar.end(), 0.0);
                Lm.tp.message_backward(u_[t].data() + static_cast<std::size_t>(j) * din, g, w,
                                       abar_i, C_, ubar + static_cast<std::size_t>(j) * din, wb,
                                       need_g ? gbar.data() : nullptr);
                for (std::size_t k = 0; k < pc; ++k) T[r * pc + k] = wb[k] * R[k];
                if (!need_g) continue;
                // dE/dG -> the edge attributes psi: SOC ones read the spin harmonics of both
                // ends and the bond harmonics; non-SOC psi = Y(r / |r|)
                std::fill(psibar.begin(), psibar.end(), 0.0);
                Lm.tp.fold_transpose(gbar.data(), psibar.data());
                std::fill(ybbar.begin(), ybbar.end(), 0.0);
                if (m.soc)
                    m.soc_psi_backward(bond_y_.data() + static_cast<std::size_t>(b) * d_sh, ys(i),
                                       ys(j), psibar.data(), ysb_i,
                                       ysbar + static_cast<std::size_t>(j) * ns,
                                       pos ? ybbar.data() : nullptr, soc_tmp.data());
                else
                    std::copy(psibar.begin(), psibar.begin() + d_sh, ybbar.begin());
                if (!pos) continue;
                // dE/dr of the edge: the length through R (dE/dR = dE/dw (x) S), the
                // direction through the bond harmonics (bond_sh: u = r / max(|r|, 1e-12))
                const Vec3 v = Vec3::load(&bond_vec_[3 * static_cast<std::size_t>(b)]);
                const real_t len = std::max(v.norm(), 1e-12);
                const Vec3 u = v * (1.0 / len);
                const real_t* dR = drad.data() + static_cast<std::size_t>(b) * pc;
                real_t dedr = 0.0;
                for (std::size_t k = 0; k < pc; ++k) dedr += wb[k] * S[r * pc + k] * dR[k];
                const Vec3 gu = m.sh_backward(u, m.l_max_sh, ybbar.data());
                const Vec3 g_dir = (gu - u * gu.dot(u)) * (1.0 / len);
                real_t* dve = dv + 3 * static_cast<std::size_t>(e);
                const Vec3 d = u * dedr + g_dir;
                dve[0] += d.x;
                dve[1] += d.y;
                dve[2] += d.z;
            }
            // dE/dkappa = T . Xr^T; dE/dXr += kappa^T . T (T = dE/dw (x) R)
            small_gemm(T.data(), pc, nb, static_cast<int>(pc), xrT.data(), nk, kbar.data(), nk,
                       false);
            if (m.centre_spin) {
                for (int r = 0; r < nb; ++r)
                    for (int q = 0; q < nk; ++q) kapT[q * nb + r] = kap[r * nk + q];
                small_gemm(kapT.data(), nb, nk, nb, T.data(), static_cast<int>(pc), xrbar.data(),
                           pc, true);
            }
            for (int r = 0; r < nb; ++r) {
                const index_t j = send_[e0 + r];
                m.edge_kappa_backward(ys(i), phi(j), ys(j), kbar.data() + r * nk, ysb_i,
                                      phibar + static_cast<std::size_t>(j) * nm,
                                      ysbar + static_cast<std::size_t>(j) * ns);
            }
        }
        if (m.centre_spin)
            m.receiver_weights_backward(t, xrbar.data(), phibar + static_cast<std::size_t>(i) * nm);
    }
}

void FrozenMMACE::gradients(real_t* dE_dm, real_t* dE_dpos, real_t* dE_dstrain) const {
    const FrozenModel& m = *model_;
    const std::size_t n = static_cast<std::size_t>(n_), c = static_cast<std::size_t>(C_);
    const int nm = m.n_mag, ns = m.n_spin_sh();
    const bool pos = dE_dpos != nullptr || dE_dstrain != nullptr;
    std::vector<real_t> phibar(n * nm, 0.0), ysbar(n * ns, 0.0);   // dE/dphi, dE/dys
    std::vector<real_t> dv(pos ? 3 * send_.size() : 0, 0.0);       // dE/dr of each edge
    std::vector<real_t> hbar_out;           // dE/dh_{t+1} [n][D_out][C] (empty: last layer)
    for (int t = L_ - 1; t >= 0; --t) {
        const LayerModel& Lm = m.layers[t];
        const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
        std::vector<real_t> abar(n * da, 0.0), hbar_in(n * din, 0.0), ubar(n * din, 0.0);
        backward_node_updates(t, hbar_out, abar.data(), hbar_in.data(), phibar.data());
        backward_messages(t, abar.data(), ubar.data(), phibar.data(), ysbar.data(),
                          pos ? dv.data() : nullptr);
        for (std::size_t j = 0; j < n; ++j)
            Lm.linear_up.transpose_add(ubar.data() + j * din, hbar_in.data() + j * din);
        hbar_out.swap(hbar_in);
    }
    if (dE_dm != nullptr)
        for (std::size_t i = 0; i < n; ++i) {
            const index_t k = static_cast<index_t>(i);
            m.embed_backward(attr(k), hbar_out.data() + i * c, phibar.data() + i * nm);
            const int s = species_[i];
            const Vec3 g = m.spin_features_backward(s, Vec3::load(spin(k)),
                                                    m.landau_derivative(s, x_[i]),
                                                    phibar.data() + i * nm, ysbar.data() + i * ns);
            g.store(dE_dm + 3 * i);
        }
    if (!pos) return;
    // r_ij = x_j - x_i + S . cell: dE/dx_j += dE/dr, dE/dx_i -= dE/dr; strain: dE/dr (x) r
    if (dE_dpos != nullptr) std::fill(dE_dpos, dE_dpos + 3 * n, 0.0);
    real_t strain[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t e = 0; e < send_.size(); ++e) {
        const real_t* g = &dv[3 * e];
        const real_t* v = &bond_vec_[3 * static_cast<std::size_t>(bond_[e])];
        if (dE_dpos != nullptr)
            for (int a = 0; a < 3; ++a) {
                dE_dpos[3 * static_cast<std::size_t>(send_[e]) + a] += g[a];
                dE_dpos[3 * static_cast<std::size_t>(recv_[e]) + a] -= g[a];
            }
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) strain[3 * a + b] += g[a] * v[b];
    }
    // a symmetric strain eps moves r -> (1 + eps) r: dE/deps is the symmetric part (the
    // antisymmetric one is a rotation of the lattice against the moments, non-zero with SOC)
    if (dE_dstrain != nullptr)
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
                dE_dstrain[3 * a + b] = 0.5 * (strain[3 * a + b] + strain[3 * b + a]);
}

void FrozenMMACE::effective_field(real_t* out) const {
    moment_gradient(out);
    for (std::size_t k = 0; k < 3 * static_cast<std::size_t>(n_); ++k) out[k] = -out[k];
}

void FrozenMMACE::field_at(const real_t* m, real_t* out) const {
    if (!probe_) probe_.reset(new FrozenMMACE(*this, ProbeTag{}));
    probe_->set_spins(m);
    probe_->effective_field(out);
}

}  // namespace mmace
