// Frozen mMACE: magnetic forces -dE/dm by one reverse-mode pass through the cached features
// of the full evaluation (see evaluator.hpp). Layer by layer from the last: the readouts and
// node updates give dE/dh_{t+1} -> dE/dA_t (and dE/dphi through the attribute-dependent
// weights); the messages give dE/du_t of the senders and dE/dw of every edge, which the
// edge weights turn into dE/dkappa and dE/dXr and those into the spin features of both ends;
// linear_up and the skip connection give dE/dh_t. Last, the embedding, the Landau term and
// the spin features map everything to dE/dm. Intermediate node features that refresh() does
// not keep (linear(A), the contraction) are recomputed per node.
#include <algorithm>
#include <vector>

#include "mmace/array_view.hpp"
#include "mmace/evaluator.hpp"

namespace mmace {

void FrozenMMACE::moment_gradient(real_t* out) const {
    const FrozenModel& m = *model_;
    const std::size_t n = static_cast<std::size_t>(n_), c = static_cast<std::size_t>(C_);
    const int nm = m.n_mag, ns = m.n_spin_sh();
    std::vector<real_t> phibar(n * nm, 0.0), ysbar(n * ns, 0.0);   // dE/dphi, dE/dys
    std::vector<real_t> hbar_out;           // dE/dh_{t+1} [n][D_out][C] (empty: last layer)
    for (int t = L_ - 1; t >= 0; --t) {
        const LayerModel& Lm = m.layers[t];
        const std::size_t din = Lm.d_in * c, da = Lm.d_a * c, dout = Lm.d_out * c;
        const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
        std::vector<real_t> abar(n * da, 0.0), hbar_in(n * din, 0.0), ubar(n * din, 0.0);
        // node updates: h_{t+1} = skip + linear_out(SC(linear(A), attr)), e_t = readout(h_{t+1})
        {
            std::vector<real_t> alin(da), b(dout), hnext(dout), hb(dout), bbar(dout), alinbar(da);
            std::vector<real_t> mlp_tmp(Lm.readout.backward_scratch());
            std::vector<real_t> sc_fwd(std::max<std::size_t>(Lm.sc.scratch_size(), 1));
            std::vector<real_t> sc_tmp(std::max<std::size_t>(Lm.sc.backward_scratch(), 1));
            std::vector<real_t> lin_tmp(c * c);
            const real_t ebar = m.scale;
            for (std::size_t i = 0; i < n; ++i) {
                const NodeAttr at = attr(static_cast<index_t>(i));
                real_t* pb = phibar.data() + i * nm;
                Lm.linear.apply(a_[t].data() + i * da, alin.data());
                Lm.sc.apply(alin.data(), at, b.data(), sc_fwd.data());
                std::copy(skip_[t].begin() + i * dout, skip_[t].begin() + (i + 1) * dout,
                          hnext.begin());
                Lm.linear_out.apply_add(b.data(), hnext.data());
                if (hbar_out.empty())
                    std::fill(hb.begin(), hb.end(), 0.0);
                else
                    std::copy(hbar_out.begin() + i * dout, hbar_out.begin() + (i + 1) * dout,
                              hb.begin());
                const std::size_t s0 = static_cast<std::size_t>(Lm.scalar_index) * c;
                Lm.readout.backward(hnext.data() + s0, &ebar, hb.data() + s0, mlp_tmp.data());
                Lm.skip.backward(h_[t].data() + i * din, at, hb.data(), hbar_in.data() + i * din,
                                 pb, lin_tmp.data());
                std::fill(bbar.begin(), bbar.end(), 0.0);
                Lm.linear_out.transpose_add(hb.data(), bbar.data());
                std::fill(alinbar.begin(), alinbar.end(), 0.0);
                Lm.sc.backward(alin.data(), at, bbar.data(), alinbar.data(), pb, sc_tmp.data());
                Lm.linear.transpose_add(alinbar.data(), abar.data() + i * da);
            }
        }
        // messages A_t[i] = sum over edges (j -> i) of msg(u_t[j], g_ij, w_ij)
        {
            const int nk = m.n_kappa();
            std::vector<real_t> xr(nk * pc), xrbar(nk * pc), kappa(nk), kappabar(nk), w(pc),
                wbar(pc), gbar(std::max(Lm.tp.g_size, 1)), g_tmp(std::max(Lm.tp.g_size, 1)),
                psibar(m.soc ? m.bond_spin.dk : 1), soc_tmp(m.soc ? 2 * m.spin_pair.dk : 1);
            const int d_sh = m.n_sh();
            for (index_t i = 0; i < n_; ++i) {
                const real_t* xri = m.global_weights(t);
                if (m.centre_spin) {
                    m.receiver_weights(t, phi(i), xr.data());
                    xri = xr.data();
                    std::fill(xrbar.begin(), xrbar.end(), 0.0);
                }
                real_t* ysb_i = ysbar.data() + static_cast<std::size_t>(i) * ns;
                for (index_t e = recv_off_[i]; e < recv_off_[i + 1]; ++e) {
                    const index_t j = send_[e], b = bond_[e];
                    const real_t* radial = bond_r_[t].data() + static_cast<std::size_t>(b) * pc;
                    m.edge_kappa(ys(i), phi(j), ys(j), kappa.data());
                    m.edge_weights(t, radial, kappa.data(), xri, w.data());
                    const real_t* g = edge_g(t, b, ys(i), ys(j), g_tmp.data());
                    std::fill(wbar.begin(), wbar.end(), 0.0);
                    if (m.soc) std::fill(gbar.begin(), gbar.end(), 0.0);
                    Lm.tp.message_backward(u_[t].data() + static_cast<std::size_t>(j) * din, g,
                                           w.data(), abar.data() + static_cast<std::size_t>(i) * da,
                                           C_, ubar.data() + static_cast<std::size_t>(j) * din,
                                           wbar.data(), m.soc ? gbar.data() : nullptr);
                    std::fill(kappabar.begin(), kappabar.end(), 0.0);
                    m.edge_weights_backward(t, radial, kappa.data(), xri, wbar.data(),
                                            kappabar.data(), m.centre_spin ? xrbar.data() : nullptr);
                    real_t* ysb_j = ysbar.data() + static_cast<std::size_t>(j) * ns;
                    m.edge_kappa_backward(ys(i), phi(j), ys(j), kappabar.data(), ysb_i,
                                          phibar.data() + static_cast<std::size_t>(j) * nm, ysb_j);
                    if (m.soc) {
                        std::fill(psibar.begin(), psibar.end(), 0.0);
                        Lm.tp.fold_transpose(gbar.data(), psibar.data());
                        m.soc_psi_backward(bond_y_.data() + static_cast<std::size_t>(b) * d_sh,
                                           ys(i), ys(j), psibar.data(), ysb_i, ysb_j,
                                           soc_tmp.data());
                    }
                }
                if (m.centre_spin)
                    m.receiver_weights_backward(t, xrbar.data(),
                                                phibar.data() + static_cast<std::size_t>(i) * nm);
            }
        }
        for (std::size_t j = 0; j < n; ++j)
            Lm.linear_up.transpose_add(ubar.data() + j * din, hbar_in.data() + j * din);
        hbar_out.swap(hbar_in);
    }
    for (std::size_t i = 0; i < n; ++i) {
        const index_t k = static_cast<index_t>(i);
        m.embed_backward(attr(k), hbar_out.data() + i * c, phibar.data() + i * nm);
        const int s = species_[i];
        const Vec3 g = m.spin_features_backward(s, Vec3::load(spin(k)),
                                                m.landau_derivative(s, x_[i]),
                                                phibar.data() + i * nm, ysbar.data() + i * ns);
        g.store(out + 3 * i);
    }
}

void FrozenMMACE::effective_field(real_t* out) const {
    moment_gradient(out);
    for (std::size_t k = 0; k < 3 * static_cast<std::size_t>(n_); ++k) out[k] = -out[k];
}

void FrozenMMACE::field_at(const real_t* m, real_t* out) const {
    if (!probe_) {
        const EdgeListInput edges{input_.receiver.data(), input_.sender.data(),
                                  input_.shifts.data(), input_.receiver.size()};
        probe_ = std::make_unique<FrozenMMACE>(model_, n_, input_.numbers.data(),
                                               input_.positions.data(), input_.cell.data(),
                                               edges, m, opt_);
    } else {
        probe_->set_spins(m);
    }
    probe_->effective_field(out);
}

}  // namespace mmace
