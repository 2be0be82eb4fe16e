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

// Sender-side spin weights Xs [n][n_kappa_s][P][C] of n nodes with magnitude features phi [n]
// (pointers), into xs_all_ (one GEMM; n small, so that they stay in L1 for the edge weights).
const real_t* FrozenMMACE::sender_weights_rows(int t, const real_t* const* phis, int n) {
    const FrozenModel& m = *model_;
    const std::size_t row = static_cast<std::size_t>(m.n_kappa_s()) * m.layers[t].n_paths * C_;
    const std::size_t nn = static_cast<std::size_t>(n);
    if (xs_all_.size() < nn * row) xs_all_.resize(nn * row);
    if (phi_rows_.size() < nn * m.n_mag) phi_rows_.resize(nn * m.n_mag);
    for (int r = 0; r < n; ++r) std::copy(phis[r], phis[r] + m.n_mag, phi_rows_.data() + r * m.n_mag);
    m.sender_weights_batch(t, n, phi_rows_.data(), xs_all_.data());
    return xs_all_.data();
}

// inc_ (and their pair invariants after / before the move) for a move of site k, once per
// proposal for every layer; the edges leaving k are read in out_edge_ order (contiguous rows of
// out_recv_ / out_bond_), not through the scattered recv_ / send_ / bond_ of their edge ids.
void FrozenMMACE::list_incident_edges(index_t k) {
    const FrozenModel& m = *model_;
    inc_.clear();
    for (index_t q = out_off_[k]; q < out_off_[k + 1]; ++q)
        inc_.push_back({out_edge_[q], q, out_recv_[q], k, out_bond_[q]});
    n_inc_out_ = static_cast<int>(inc_.size());
    for (index_t e = recv_off_[k]; e < recv_off_[k + 1]; ++e)
        if (send_[e] != k) inc_.push_back({e, out_pos_[e], k, send_[e], bond_[e]});
    if (!m.pair_factorised()) return;
    const std::size_t nc = static_cast<std::size_t>(m.l_spin_max) + 1;
    if (inc_c_.size() < 2 * inc_.size() * nc) inc_c_.resize(4 * inc_.size() * nc);
    for (std::size_t r = 0; r < inc_.size(); ++r) {
        // recomputed from the (L2-resident) spin harmonics rather than read from pair_c_,
        // whose rows of the edges into k are scattered: the same operands, the same bits
        const IncidentEdge& ie = inc_[r];
        real_t* c = inc_c_.data() + 2 * r * nc;
        m.pair_invariants(ie.i == k ? prop_ys_.data() : ys(ie.i),
                          ie.j == k ? prop_ys_.data() : ys(ie.j), c);
        m.pair_invariants(ys(ie.i), ys(ie.j), c + nc);
    }
}

// Edges (j -> i) incident to the moved site k, whose weights change (rows of inc_): adds
// msg(new) - msg(old) to the receivers' sums, n <= kBatch edges at a time. Sender side (the
// edges leaving k; x_old / x_new = Xs_k before / after): kappa' = c_l(i, k) phi(i). Receiver
// side (the edges into k from other senders; x_old / x_new = Xr_k, stacked as [x_new; x_old]
// when they differ): kappa = c_l(k, j) phi(j). Old weights from the weight cache when there is
// one, new ones into the level's slots for accept(). Where only the weights change (receiver
// side, u_j and the edge attributes unchanged, no weight cache) the change is one message of
// dw = R (kappa_new . x_new - kappa_old . x_old), a single product over [kappa_new | -kappa_old].
void FrozenMMACE::changed_messages(int t, index_t k, const int* rows, int n, bool sender_side,
                                   const real_t* x_old, const real_t* x_new, Level& in,
                                   Level& out) {
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
    const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
    const int nk = sender_side ? m.n_kappa_s() : m.n_kappa();
    const bool wc = !w_cache_[t].empty();
    const bool pf = m.pair_factorised();
    const std::size_t nc = static_cast<std::size_t>(m.l_spin_max) + 1;
    const real_t* radial[kBatch] = {};
    bool u_fixed = !sender_side && !wc && !m.soc;
    for (int r = 0; r < n; ++r) {
        const IncidentEdge& ie = inc_[rows[r]];
        const index_t i = ie.i, j = ie.j;
        real_t* ko = kappa_batch_.data() + r * nk;
        real_t* kn = kappa_new_.data() + r * nk;
        if (pf) {                            // invariants before / after the move
            const real_t* far_old = sender_side ? phi(i) : phi(j);
            const real_t* far_new = (sender_side ? i : j) == k ? prop_phi_.data() : far_old;
            const real_t* c_new = inc_c_.data() + 2 * static_cast<std::size_t>(rows[r]) * nc;
            m.kappa_from_invariants(c_new + nc, far_old, ko);
            m.kappa_from_invariants(c_new, far_new, kn);
        } else {
            const real_t* ys_i_new = i == k ? prop_ys_.data() : ys(i);
            const real_t* ys_j_new = j == k ? prop_ys_.data() : ys(j);
            if (sender_side) {
                m.edge_kappa_s(ys(i), phi(i), ys(j), ko);
                m.edge_kappa_s(ys_i_new, i == k ? prop_phi_.data() : phi(i), ys_j_new, kn);
            } else {
                m.edge_kappa(ys(i), phi(j), ys(j), ko);
                m.edge_kappa(ys_i_new, j == k ? prop_phi_.data() : phi(j), ys_j_new, kn);
            }
        }
        radial[r] = bond_r_[t].data() + static_cast<std::size_t>(ie.b) * pc;
        if (in.set.has(j, epoch_)) u_fixed = false;
    }
    if (u_fixed) {
        real_t* kd = kappa_diff_.data();
        const bool same_x = x_old == x_new;   // no centre spin: Xr_k does not move
        const int nk2 = same_x ? nk : 2 * nk;
        for (int r = 0; r < n; ++r) {
            const real_t* ko = kappa_batch_.data() + r * nk;
            const real_t* kn = kappa_new_.data() + r * nk;
            real_t* row = kd + r * nk2;
            if (same_x) {
                for (int q = 0; q < nk; ++q) row[q] = kn[q] - ko[q];
            } else {
                for (int q = 0; q < nk; ++q) row[q] = kn[q];
                for (int q = 0; q < nk; ++q) row[nk + q] = -ko[q];
            }
        }
        real_t* dw = w_new_.data();
        m.edge_weights_batch(t, n, kd, nk2, x_new, radial, dw);
        const real_t* u[kBatch];
        const real_t* g[kBatch];
        const real_t* w[kBatch];
        for (int r = 0; r < n; ++r) {
            const IncidentEdge& ie = inc_[rows[r]];
            g[r] = bond_g_[t].data() + static_cast<std::size_t>(ie.b) * Lm.tp.g_size;
            u[r] = u_[t].data() + static_cast<std::size_t>(ie.j) * din;
            w[r] = dw + r * pc;
        }
        // every receiver is k
        real_t* acc = out.a.data() + static_cast<std::size_t>(out.set.slot[k]) * da;
        Lm.tp.message_gather(n, u, g, w, acc, C_);
        return;
    }
    const real_t* w_old[kBatch];
    if (wc) {
        for (int r = 0; r < n; ++r)
            w_old[r] = w_cache_[t].data() + static_cast<std::size_t>(inc_[rows[r]].q) * pc;
    } else {
        m.edge_weights_batch(t, n, kappa_batch_.data(), nk, x_old, radial, w_batch_.data());
        for (int r = 0; r < n; ++r) w_old[r] = w_batch_.data() + r * pc;
    }
    real_t* w_new = w_new_.data();
    if (wc) {
        w_new = out.inc_w.data() + out.inc_edge.size() * pc;
        for (int r = 0; r < n; ++r) out.inc_edge.push_back(inc_[rows[r]].e);
    }
    m.edge_weights_batch(t, n, kappa_new_.data(), nk, x_new, radial, w_new);
    if (m.soc) {                             // edge attributes per edge and spin state
        for (int r = 0; r < n; ++r) {
            const IncidentEdge& ie = inc_[rows[r]];
            const index_t i = ie.i, j = ie.j;
            const real_t* g_old = edge_g(t, ie.b, ys(i), ys(j), g_old_.data());
            const real_t* g_new = edge_g(t, ie.b, i == k ? prop_ys_.data() : ys(i),
                                         j == k ? prop_ys_.data() : ys(j), g_new_.data());
            const real_t* u_old = u_[t].data() + static_cast<std::size_t>(j) * din;
            const real_t* u_new = in.set.has(j, epoch_)
                ? in.u.data() + static_cast<std::size_t>(in.set.slot[j]) * din : u_old;
            real_t* acc = out.a.data() + static_cast<std::size_t>(out.set.slot[i]) * da;
            Lm.tp.message_diff(u_new, g_new, w_new + r * pc, u_old, g_old, w_old[r], C_, acc, nullptr);
        }
        return;
    }
    // bond-only edge attributes: all the differences of the batch in one call
    const real_t* u[2 * kBatch];             // rows new, old, new, old, ...
    const real_t* g[2 * kBatch];
    const real_t* w[2 * kBatch];
    real_t* acc[kBatch];
    for (int r = 0; r < n; ++r) {
        const IncidentEdge& ie = inc_[rows[r]];
        const real_t* u_old = u_[t].data() + static_cast<std::size_t>(ie.j) * din;
        u[2 * r] = in.set.has(ie.j, epoch_)
            ? in.u.data() + static_cast<std::size_t>(in.set.slot[ie.j]) * din : u_old;
        u[2 * r + 1] = u_old;
        g[2 * r] = g[2 * r + 1] = bond_g_[t].data() + static_cast<std::size_t>(ie.b) * Lm.tp.g_size;
        w[2 * r] = w_new + r * pc;
        w[2 * r + 1] = w_old[r];
        acc[r] = out.a.data() + static_cast<std::size_t>(out.set.slot[ie.i]) * da;
    }
    Lm.tp.message_diff_batch(n, u, g, w, acc, C_);
}

// The edges leaving sender j != k (slot si of the changed nodes) that do not end at k: unchanged
// weights (recomputed from the sender-side Xs_j in batches, or read from the weight cache) and
// messages msg(u_j' - u_j) (linear in u), batched over edges sharing du_j.
void FrozenMMACE::unchanged_messages(int t, index_t k, std::size_t si, Level& in, Level& out) {
    const FrozenModel& m = *model_;
    const LayerModel& Lm = m.layers[t];
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t din = Lm.d_in * c, da = Lm.d_a * c;
    const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
    const int nks = m.n_kappa_s();
    const bool wc = !w_cache_[t].empty();
    const index_t j = in.set.list[si];
    const real_t* phi_j = phi(j);
    const real_t* xs = sender_weights_rows(t, &phi_j, 1);
    const real_t* du = in.du.data() + si * din;
    index_t batch[kBatch];                                // positions q in the sender's edge list
    int nb = 0;
    auto flush = [&]() {
        const real_t* wrow[kBatch];
        real_t* arow[kBatch];
        if (wc) {
            for (int r = 0; r < nb; ++r) wrow[r] = w_cache_[t].data() + static_cast<std::size_t>(batch[r]) * pc;
        } else {
            const real_t* radial[kBatch];
            const bool pf = !pair_c_.empty();
            const std::size_t nc = static_cast<std::size_t>(m.l_spin_max) + 1;
            for (int r = 0; r < nb; ++r) {
                const index_t i = out_recv_[batch[r]];
                if (pf)
                    m.kappa_from_invariants(pair_c_.data() + batch[r] * nc, phi(i),
                                            kappa_batch_.data() + r * nks);
                else
                    m.edge_kappa_s(ys(i), phi(i), ys(j), kappa_batch_.data() + r * nks);
                radial[r] = bond_r_[t].data() + static_cast<std::size_t>(out_bond_[batch[r]]) * pc;
                wrow[r] = w_batch_.data() + r * pc;
            }
            m.edge_weights_batch(t, nb, kappa_batch_.data(), nks, xs, radial, w_batch_.data());
        }
        for (int r = 0; r < nb; ++r)
            arow[r] = out.a.data() + static_cast<std::size_t>(out.set.slot[out_recv_[batch[r]]]) * da;
        if (m.soc) {                                      // edge attributes per edge
            for (int r = 0; r < nb; ++r) {
                const real_t* g = edge_g(t, out_bond_[batch[r]], ys(out_recv_[batch[r]]), ys(j),
                                         g_old_.data());
                Lm.tp.message(du, g, wrow[r], C_, arow[r]);
            }
        } else {
            const real_t* grow[kBatch];
            for (int r = 0; r < nb; ++r)
                grow[r] = bond_g_[t].data() + static_cast<std::size_t>(out_bond_[batch[r]]) * Lm.tp.g_size;
            Lm.tp.message_shared(du, nb, grow, wrow, arow, C_);
        }
        nb = 0;
    };
    for (index_t q = out_off_[j]; q < out_off_[j + 1]; ++q) {
        if (out_recv_[q] == k) continue;                  // incident: into_k_messages
        batch[nb++] = q;
        if (nb == kBatch) flush();
    }
    if (nb > 0) flush();
}

// Every edge leaving the moved site k (self-images k -> k included): sender side, Xs_k before
// and after the move.
void FrozenMMACE::moved_site_messages(int t, index_t k, Level& in, Level& out) {
    const FrozenModel& m = *model_;
    const std::size_t row = static_cast<std::size_t>(m.n_kappa_s()) * m.layers[t].n_paths * C_;
    const real_t* phis[2] = {phi(k), prop_phi_.data()};
    const real_t* xs_old = sender_weights_rows(t, phis, 2);
    const real_t* xs_new = xs_old + row;
    int rows[kBatch];
    for (int r0 = 0; r0 < n_inc_out_; r0 += kBatch) {
        const int n = std::min(kBatch, n_inc_out_ - r0);
        for (int r = 0; r < n; ++r) rows[r] = r0 + r;
        changed_messages(t, k, rows, n, true, xs_old, xs_new, in, out);
    }
}

// Edges j -> k from every other sender: only their weights change through phi(k) and c_l(k, j)
// (and u_j where j's input changed too). Receiver side, Xr_k before / after the move. Edges
// whose u_j is unchanged and those whose u_j changed are batched apart (see changed_messages).
void FrozenMMACE::into_k_messages(int t, index_t k, Level& in, Level& out) {
    const FrozenModel& m = *model_;
    const real_t* xr_old = m.global_weights(t);
    const real_t* xr_new = xr_old;
    if (m.centre_spin) {
        const std::size_t block = static_cast<std::size_t>(m.n_kappa()) * m.layers[t].n_paths * C_;
        m.receiver_weights(t, prop_phi_.data(), xr_tmp_.data());
        m.receiver_weights(t, phi(k), xr_tmp_.data() + block);
        xr_new = xr_tmp_.data();
        xr_old = xr_new + block;
    }
    int fixed[kBatch], moved[kBatch];        // rows of inc_: u_j unchanged / changed
    int nf = 0, nm = 0;
    const int n_inc = static_cast<int>(inc_.size());
    for (int r = n_inc_out_; r < n_inc; ++r) {
        if (in.set.has(inc_[r].j, epoch_)) {
            moved[nm++] = r;
            if (nm == kBatch) {
                changed_messages(t, k, moved, nm, false, xr_old, xr_new, in, out);
                nm = 0;
            }
        } else {
            fixed[nf++] = r;
            if (nf == kBatch) {
                changed_messages(t, k, fixed, nf, false, xr_old, xr_new, in, out);
                nf = 0;
            }
        }
    }
    if (nf > 0) changed_messages(t, k, fixed, nf, false, xr_old, xr_new, in, out);
    if (nm > 0) changed_messages(t, k, moved, nm, false, xr_old, xr_new, in, out);
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
    list_incident_edges(k);

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
            for (index_t q = out_off_[j]; q < out_off_[j + 1]; ++q) out.set.add(out_recv_[q], ep);
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
        // messages: unchanged weights from every other changed sender, then the edges incident
        // to k (weights changed)
        for (std::size_t si = 0; si < n_in; ++si)
            if (in.set.list[si] != k) unchanged_messages(t, k, si, in, out);
        moved_site_messages(t, k, in, out);
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
    if (m.pair_factorised()) {               // the invariants of the edges incident to k
        const std::size_t nc = static_cast<std::size_t>(m.l_spin_max) + 1;
        for (std::size_t r = 0; r < inc_.size(); ++r)
            std::copy(inc_c_.data() + 2 * r * nc, inc_c_.data() + (2 * r + 1) * nc,
                      pair_c_.data() + static_cast<std::size_t>(inc_[r].q) * nc);
    }
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
                          cached_w(t, out.inc_edge[q], pc));
        }
    }
    for (index_t i : levels_[L_].set.list) site_[i] = site_energy(i);
    site_[k] = site_energy(k);
    pending_ = false;
}

void FrozenMMACE::reject() { pending_ = false; }

}  // namespace mmace
