// Frozen mMACE: exact incremental energy change of a single-moment move (see evaluator.hpp).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "mmace/evaluator.hpp"

namespace mmace {

void FrozenMMACE::ensure_level(int t, std::size_t n_slots) {
    const FrozenModel& m = *model_;
    Level& lv = levels_[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    auto grow = [n_slots](std::vector<real_t>& v, std::size_t per) {
        if (v.size() < n_slots * per) v.resize(std::max(n_slots * per, 2 * v.size()));
    };
    if (t < L_) {
        const std::size_t din = m.layers[t].d_in * c;
        grow(lv.h, din);
        grow(lv.u, din);
        grow(lv.du, din);
    }
    if (t >= 1) {
        const LayerModel& prev = m.layers[t - 1];
        grow(lv.a, prev.d_a * c);
        grow(lv.skip, prev.d_out * c);
        grow(lv.e, 1);
    }
}

// Edge e (j -> i) incident to the moved site k: add msg(new) - msg(old) to the receiver's sum.
// xs_old / xs_new: sender-side spin weights of j before / after the move.
void FrozenMMACE::incident_message(int t, index_t k, std::size_t e, const real_t* xs_old,
                                   const real_t* xs_new, Level& in, Level& out) {
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
    const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
    const int nks = m.n_kappa_s();
    const index_t i = recv_[e], j = send_[e];
    const bool ik = i == k, jk = j == k;
    const real_t* ys_i_new = ik ? prop_ys_.data() : ys(i);
    const real_t* phi_i_new = ik ? prop_phi_.data() : phi(i);
    const real_t* ys_j_new = jk ? prop_ys_.data() : ys(j);
    const real_t* radial[1] = {bond_r_[t].data() + static_cast<std::size_t>(bond_[e]) * pc};
    const bool wc = !w_cache_[t].empty();
    const real_t* w_old;
    if (wc) {
        w_old = w_cache_[t].data() + e * pc;
    } else {
        m.edge_kappa_s(ys(i), phi(i), ys(j), kappa_old_.data());
        m.edge_weights_batch(t, 1, kappa_old_.data(), nks, xs_old, radial, w_old_.data());
        w_old = w_old_.data();
    }
    real_t* w_new = w_new_.data();
    if (wc) {
        w_new = out.inc_w.data() + out.inc_edge.size() * pc;
        out.inc_edge.push_back(static_cast<index_t>(e));
    }
    m.edge_kappa_s(ys_i_new, phi_i_new, ys_j_new, kappa_new_.data());
    m.edge_weights_batch(t, 1, kappa_new_.data(), nks, xs_new, radial, w_new);
    const real_t* g_old = edge_g(t, e, ys(i), ys(j), g_old_.data());
    const real_t* g_new = edge_g(t, e, ys_i_new, ys_j_new, g_new_.data());
    const real_t* u_old = u_[t].data() + static_cast<std::size_t>(j) * din;
    const real_t* u_new = in.set.has(j, epoch_)
        ? in.u.data() + static_cast<std::size_t>(in.set.slot[j]) * din : u_old;
    real_t* acc = out.a.data() + static_cast<std::size_t>(out.set.slot[i]) * da;
    Lm.tp.message_diff(u_new, g_new, w_new, u_old, g_old, w_old, C_, acc, nullptr);
}

// Every edge leaving sender j (whose layer-t input changed, or j = k): edges incident to k get
// msg(new) - msg(old); the others msg(u_j' - u_j) with unchanged weights, computed in batches
// of edges sharing the sender-side spin weights Xs_j.
void FrozenMMACE::sender_messages(int t, index_t k, index_t j, bool j_in, Level& in, Level& out) {
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
    const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
    const int nks = m.n_kappa_s();
    const bool jk = j == k;
    const bool wc = !w_cache_[t].empty();
    m.sender_weights(t, phi(j), xs_old_.data());
    if (jk) m.sender_weights(t, prop_phi_.data(), xs_new_.data());
    if (!jk && j_in) {
        const real_t* du = in.du.data() + static_cast<std::size_t>(in.set.slot[j]) * din;
        index_t batch[kBatch];
        int nb = 0;
        auto flush = [&]() {
            const real_t* wrow[kBatch];
            if (wc) {
                for (int r = 0; r < nb; ++r)
                    wrow[r] = w_cache_[t].data() + static_cast<std::size_t>(batch[r]) * pc;
            } else {
                const real_t* radial[kBatch];
                for (int r = 0; r < nb; ++r) {
                    const index_t e = batch[r], i = recv_[e];
                    m.edge_kappa_s(ys(i), phi(i), ys(j), kappa_batch_.data() + r * nks);
                    radial[r] = bond_r_[t].data() + static_cast<std::size_t>(bond_[e]) * pc;
                    wrow[r] = w_batch_.data() + r * pc;
                }
                m.edge_weights_batch(t, nb, kappa_batch_.data(), nks, xs_old_.data(), radial,
                                     w_batch_.data());
            }
            if (m.soc) {                                  // edge attributes per edge
                for (int r = 0; r < nb; ++r) {
                    const index_t e = batch[r], i = recv_[e];
                    const real_t* g = edge_g(t, e, ys(i), ys(j), g_old_.data());
                    real_t* acc = out.a.data() + static_cast<std::size_t>(out.set.slot[i]) * da;
                    Lm.tp.message(du, g, wrow[r], C_, acc);
                }
            } else {
                const real_t* grow[kBatch];
                real_t* arow[kBatch];
                for (int r = 0; r < nb; ++r) {
                    const index_t e = batch[r];
                    grow[r] = bond_g_[t].data() + static_cast<std::size_t>(bond_[e]) * Lm.tp.g_size;
                    arow[r] = out.a.data() + static_cast<std::size_t>(out.set.slot[recv_[e]]) * da;
                }
                Lm.tp.message_shared(du, nb, grow, wrow, arow, C_);
            }
            nb = 0;
        };
        for (index_t q = out_off_[j]; q < out_off_[j + 1]; ++q) {
            const index_t e = out_edge_[q];
            if (recv_[e] == k) continue;                  // incident: below
            batch[nb++] = e;
            if (nb == kBatch) flush();
        }
        if (nb > 0) flush();
    }
    for (index_t q = out_off_[j]; q < out_off_[j + 1]; ++q) {
        const index_t e = out_edge_[q];
        if (jk || recv_[e] == k)
            incident_message(t, k, e, xs_old_.data(), jk ? xs_new_.data() : xs_old_.data(), in, out);
    }
}

// Edges j -> k from senders whose layer-t input did not change (u_j unchanged): only the weights
// change, through phi(k) and c_l(k, j). Receiver-side contraction with Xr_k before / after.
void FrozenMMACE::into_k_messages(int t, index_t k, Level& in, Level& out) {
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
    const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
    const int nk = m.n_kappa();
    const bool wc = !w_cache_[t].empty();
    const real_t* xr_old = m.global_weights(t);
    const real_t* xr_new = xr_old;
    bool ready = false;
    real_t* acc = out.a.data() + static_cast<std::size_t>(out.set.slot[k]) * da;
    for (index_t e = recv_off_[k]; e < recv_off_[k + 1]; ++e) {
        const index_t j = send_[e];
        if (in.set.has(j, epoch_)) continue;
        if (!ready && m.centre_spin) {
            m.receiver_weights(t, phi(k), xr_tmp_.data());
            m.receiver_weights(t, prop_phi_.data(), xr_tmp2_.data());
            xr_old = xr_tmp_.data();
            xr_new = xr_tmp2_.data();
        }
        ready = true;
        const real_t* radial[1] = {bond_r_[t].data() + static_cast<std::size_t>(bond_[e]) * pc};
        const real_t* w_old;
        if (wc) {
            w_old = w_cache_[t].data() + static_cast<std::size_t>(e) * pc;
        } else {
            m.edge_kappa(ys(k), phi(j), ys(j), kappa_old_.data());
            m.edge_weights_batch(t, 1, kappa_old_.data(), nk, xr_old, radial, w_old_.data());
            w_old = w_old_.data();
        }
        real_t* w_new = w_new_.data();
        if (wc) {
            w_new = out.inc_w.data() + out.inc_edge.size() * pc;
            out.inc_edge.push_back(e);
        }
        m.edge_kappa(prop_ys_.data(), phi(j), ys(j), kappa_new_.data());
        m.edge_weights_batch(t, 1, kappa_new_.data(), nk, xr_new, radial, w_new);
        const real_t* g_old = edge_g(t, e, ys(k), ys(j), g_old_.data());
        const real_t* g_new = edge_g(t, e, prop_ys_.data(), ys(j), g_new_.data());
        const real_t* u = u_[t].data() + static_cast<std::size_t>(j) * din;
        Lm.tp.message_diff(u, g_new, w_new, u, g_old, w_old, C_, acc, nullptr);
    }
}

real_t FrozenMMACE::propose(index_t k, const Vec3& m_new) {
    if (k < 0 || k >= n_) throw InputError("site " + std::to_string(k) + " out of range");
    if (!std::isfinite(m_new.x) || !std::isfinite(m_new.y) || !std::isfinite(m_new.z))
        throw InputError("non-finite trial moment");
    const FrozenModel& m = *model_;
    if (++epoch_ == 0) {                     // wrapped after 2^32 trials: clear the marks once
        for (auto& lv : levels_) lv.set.init(n_);
        epoch_ = 1;
    }
    const std::uint32_t ep = epoch_;
    prop_i_ = k;
    prop_m_ = m_new;
    pending_ = true;
    const int s = species_[k];
    m.spin_features(s, m_new, &prop_x_, prop_phi_.data(), prop_ys_.data());
    real_t de = m.landau_energy(s, prop_x_) - m.landau_energy(s, x_[k]);
    NodeAttr at_new;
    at_new.species = s;
    at_new.phi = m.centre_spin ? prop_phi_.data() : nullptr;

    const std::size_t c = static_cast<std::size_t>(C_);
    Level& l0 = levels_[0];
    l0.set.list.clear();
    l0.set.add(k, ep);
    ensure_level(0, 1);
    m.embed(at_new, l0.h.data());

    real_t de_net = 0.0;
    for (int t = 0; t < L_; ++t) {
        const LayerModel& Lm = m.layers[t];
        Level& in = levels_[t];
        Level& out = levels_[t + 1];
        const std::size_t din = Lm.d_in * c, da = Lm.d_a * c, dout = Lm.d_out * c;
        const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
        // new u and its change on the nodes whose layer input changed
        const std::size_t n_in = in.set.list.size();
        for (std::size_t si = 0; si < n_in; ++si) {
            const index_t j = in.set.list[si];
            real_t* un = in.u.data() + si * din;
            Lm.linear_up.apply(in.h.data() + si * din, un);
            const real_t* uo = u_[t].data() + static_cast<std::size_t>(j) * din;
            real_t* du = in.du.data() + si * din;
            for (std::size_t q = 0; q < din; ++q) du[q] = un[q] - uo[q];
        }
        // receivers whose neighbour sum or skip input changes (k is in every level)
        out.set.list.clear();
        for (std::size_t si = 0; si < n_in; ++si) {
            const index_t j = in.set.list[si];
            out.set.add(j, ep);
            for (index_t q = out_off_[j]; q < out_off_[j + 1]; ++q) out.set.add(recv_[out_edge_[q]], ep);
        }
        const std::size_t n_out = out.set.list.size();
        ensure_level(t + 1, n_out);
        for (std::size_t so = 0; so < n_out; ++so) {
            const real_t* a_old = a_[t].data() + static_cast<std::size_t>(out.set.list[so]) * da;
            std::copy(a_old, a_old + da, out.a.data() + so * da);
        }
        out.inc_edge.clear();
        if (!w_cache_[t].empty()) {
            const std::size_t deg = static_cast<std::size_t>(recv_off_[k + 1] - recv_off_[k]) +
                                    static_cast<std::size_t>(out_off_[k + 1] - out_off_[k]);
            if (out.inc_w.size() < deg * pc) out.inc_w.resize(deg * pc);
        }
        // messages: from every changed sender, then into k from unchanged senders
        for (std::size_t si = 0; si < n_in; ++si) sender_messages(t, k, in.set.list[si], true, in, out);
        into_k_messages(t, k, in, out);
        // skip connections (changed only where the layer input or the attributes changed)
        nb_attr_.resize(std::max(nb_attr_.size(), n_out));
        for (std::size_t so = 0; so < n_out; ++so) {
            const index_t i = out.set.list[so];
            const bool ik = i == k;
            real_t* skip = out.skip.data() + so * dout;
            const bool i_in = in.set.has(i, ep);
            NodeAttr at = ik ? at_new : attr(i);
            nb_attr_[so] = at;
            if (i_in || ik) {
                const real_t* h_in = i_in ? in.h.data() + static_cast<std::size_t>(in.set.slot[i]) * din
                                          : h_[t].data() + static_cast<std::size_t>(i) * din;
                compute_skip(t, h_in, at, skip);
            } else {
                const real_t* so_old = skip_[t].data() + static_cast<std::size_t>(i) * dout;
                std::copy(so_old, so_old + dout, skip);
            }
        }
        node_updates(t, n_out, out.a.data(), out.skip.data(), nb_attr_.data(),
                     t + 1 < L_ ? out.h.data() : nullptr, out.e.data());
        for (std::size_t so = 0; so < n_out; ++so) de_net += out.e[so] - e_[t][out.set.list[so]];
    }
    de += m.scale * de_net;
    return de;
}

void FrozenMMACE::accept() {
    if (!pending_) throw std::logic_error("FrozenMMACE::accept() without a pending proposal");
    const FrozenModel& m = *model_;
    const index_t k = prop_i_;
    const std::size_t c = static_cast<std::size_t>(C_);
    prop_m_.store(spins_.data() + 3 * static_cast<std::size_t>(k));
    x_[k] = prop_x_;
    std::copy(prop_phi_.begin(), prop_phi_.end(), phi_.begin() + static_cast<std::size_t>(k) * m.n_mag);
    std::copy(prop_ys_.begin(), prop_ys_.end(), ys_.begin() + static_cast<std::size_t>(k) * m.n_spin_sh());
    for (int t = 0; t < L_; ++t) {
        const LayerModel& Lm = m.layers[t];
        const std::size_t din = Lm.d_in * c, da = Lm.d_a * c, dout = Lm.d_out * c;
        const Level& in = levels_[t];
        for (std::size_t si = 0; si < in.set.list.size(); ++si) {
            const std::size_t j = static_cast<std::size_t>(in.set.list[si]);
            std::copy(in.h.data() + si * din, in.h.data() + (si + 1) * din, h_[t].data() + j * din);
            std::copy(in.u.data() + si * din, in.u.data() + (si + 1) * din, u_[t].data() + j * din);
        }
        const Level& out = levels_[t + 1];
        for (std::size_t so = 0; so < out.set.list.size(); ++so) {
            const std::size_t i = static_cast<std::size_t>(out.set.list[so]);
            std::copy(out.a.data() + so * da, out.a.data() + (so + 1) * da, a_[t].data() + i * da);
            std::copy(out.skip.data() + so * dout, out.skip.data() + (so + 1) * dout,
                      skip_[t].data() + i * dout);
            e_[t][i] = out.e[so];
        }
        if (!w_cache_[t].empty()) {
            const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
            for (std::size_t q = 0; q < out.inc_edge.size(); ++q)
                std::copy(out.inc_w.data() + q * pc, out.inc_w.data() + (q + 1) * pc,
                          w_cache_[t].data() + static_cast<std::size_t>(out.inc_edge[q]) * pc);
        }
    }
    for (index_t i : levels_[L_].set.list) site_[i] = site_energy(i);
    site_[k] = site_energy(k);
    pending_ = false;
}

void FrozenMMACE::reject() { pending_ = false; }

}  // namespace mmace
