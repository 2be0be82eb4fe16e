// Frozen mMACE on a fixed geometry: geometry and bond caches, full evaluation (refresh).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "mmace/array_view.hpp"
#include "mmace/evaluator.hpp"

namespace mmace {

namespace {

struct BondKey {
    std::int64_t v[5];
    bool operator==(const BondKey& o) const { return std::memcmp(v, o.v, sizeof(v)) == 0; }
};

struct BondKeyHash {
    std::size_t operator()(const BondKey& k) const {
        std::uint64_t h = 1469598103934665603ull;
        for (std::int64_t x : k.v) {
            h ^= static_cast<std::uint64_t>(x) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        }
        return static_cast<std::size_t>(h);
    }
};

}  // namespace

FrozenMMACE::FrozenMMACE(std::shared_ptr<const FrozenModel> model, index_t n_sites,
                         const std::int64_t* numbers, const real_t* positions, const real_t* cell,
                         const EdgeListInput& edges, const real_t* moments,
                         const EvaluatorOptions& options)
    : Hamiltonian(n_sites), model_(std::move(model)), opt_(options) {
    if (!model_) throw InputError("FrozenMMACE: no model");
    if (n_sites < 1) throw InputError("FrozenMMACE: need at least one site");
    if (!(opt_.bond_tol >= 0) || !std::isfinite(opt_.bond_tol))
        throw InputError("FrozenMMACE: bond_tol must be finite and >= 0");
    C_ = model_->n_channels;
    L_ = static_cast<int>(model_->layers.size());
    species_.resize(n_sites);
    for (index_t i = 0; i < n_sites; ++i) {
        const int s = model_->species_index(static_cast<int>(numbers[i]));
        if (s < 0) {
            std::string known;
            for (int z : model_->species_z) known += (known.empty() ? "" : ", ") + std::to_string(z);
            throw InputError("atomic number " + std::to_string(numbers[i]) + " (site " +
                             std::to_string(i) + ") is not a species of the model (knows " +
                             known + ")");
        }
        species_[i] = s;
    }
    for (index_t k = 0; k < 3 * n_sites; ++k)
        if (!std::isfinite(positions[k])) throw InputError("non-finite positions");
    for (int k = 0; k < 9; ++k)
        if (!std::isfinite(cell[k])) throw InputError("non-finite cell");
    build_geometry(positions, cell, edges);
    build_bond_caches();
    alloc_caches();
    if (moments != nullptr) {
        for (index_t k = 0; k < 3 * n_sites; ++k)
            if (!std::isfinite(moments[k]))
                throw InputError("non-finite moment on site " + std::to_string(k / 3));
        std::copy(moments, moments + 3 * static_cast<std::size_t>(n_sites), spins_.begin());
    }
    refresh();
}

FrozenMMACE::FrozenMMACE(const FrozenMMACE& o, ProbeTag)
    : Hamiltonian(o.n_), model_(o.model_), opt_(o.opt_), C_(o.C_), L_(o.L_),
      species_(o.species_), recv_off_(o.recv_off_), send_(o.send_), recv_(o.recv_),
      bond_(o.bond_), out_off_(o.out_off_), out_edge_(o.out_edge_), out_pos_(o.out_pos_),
      out_recv_(o.out_recv_), out_bond_(o.out_bond_), n_bonds_(o.n_bonds_),
      bond_vec_(o.bond_vec_), bond_y_(o.bond_y_), bond_r_(o.bond_r_), bond_g_(o.bond_g_) {
    alloc_caches();
    spins_ = o.spins_;
    refresh();
}

void FrozenMMACE::build_geometry(const real_t* pos, const real_t* cell, const EdgeListInput& in) {
    const index_t n = n_;
    const std::size_t ne = in.n_edges;
    if (ne > 0 && (in.receiver == nullptr || in.sender == nullptr || in.shifts == nullptr))
        throw InputError("edge arrays missing");
    std::vector<index_t> count(n + 1, 0);
    for (std::size_t e = 0; e < ne; ++e) {
        const index_t i = in.receiver[e], j = in.sender[e];
        if (i < 0 || i >= n || j < 0 || j >= n)
            throw InputError("edge " + std::to_string(e) + " has a site index out of range");
        ++MMACE_AT(count, i + 1);
    }
    recv_off_.assign(n + 1, 0);
    for (index_t i = 0; i < n; ++i) recv_off_[i + 1] = recv_off_[i] + count[i + 1];
    std::vector<index_t> fill(recv_off_.begin(), recv_off_.end() - 1);
    std::vector<std::size_t> order(ne);
    for (std::size_t e = 0; e < ne; ++e) order[MMACE_AT(fill, in.receiver[e])++] = e;   // stable by receiver
    send_.resize(ne);
    recv_.resize(ne);
    bond_.resize(ne);
    std::unordered_map<BondKey, index_t, BondKeyHash> seen;
    bond_vec_.clear();
    const real_t tol = opt_.bond_tol;
    for (std::size_t q = 0; q < ne; ++q) {
        const std::size_t e = order[q];
        const index_t i = in.receiver[e], j = in.sender[e];
        const std::int64_t* s = in.shifts + 3 * e;
        real_t sv[3];
        for (int l = 0; l < 3; ++l)
            sv[l] = static_cast<real_t>(s[0]) * cell[l] + static_cast<real_t>(s[1]) * cell[3 + l] +
                    static_cast<real_t>(s[2]) * cell[6 + l];
        real_t v[3];
        for (int l = 0; l < 3; ++l) v[l] = pos[3 * j + l] - pos[3 * i + l] + sv[l];
        const real_t r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        if (!(r2 > 0)) throw InputError("zero-length bond between sites " + std::to_string(i) +
                                        " and " + std::to_string(j));
        send_[q] = j;
        recv_[q] = i;
        index_t b;
        if (tol > 0) {
            BondKey key{{MMACE_AT(species_, i), MMACE_AT(species_, j), std::llround(v[0] / tol),
                         std::llround(v[1] / tol), std::llround(v[2] / tol)}};
            auto it = seen.find(key);
            if (it == seen.end()) {
                b = static_cast<index_t>(bond_vec_.size() / 3);
                seen.emplace(key, b);
                bond_vec_.insert(bond_vec_.end(), v, v + 3);
            } else {
                b = it->second;
            }
        } else {
            b = static_cast<index_t>(q);
            bond_vec_.insert(bond_vec_.end(), v, v + 3);
        }
        bond_[q] = b;
    }
    n_bonds_ = bond_vec_.size() / 3;
    // edges by sender
    std::vector<index_t> oc(n + 1, 0);
    for (std::size_t q = 0; q < ne; ++q) ++MMACE_AT(oc, send_[q] + 1);
    out_off_.assign(n + 1, 0);
    for (index_t i = 0; i < n; ++i) out_off_[i + 1] = out_off_[i] + oc[i + 1];
    std::vector<index_t> of(out_off_.begin(), out_off_.end() - 1);
    out_edge_.resize(ne);
    for (std::size_t q = 0; q < ne; ++q) out_edge_[MMACE_AT(of, send_[q])++] = static_cast<index_t>(q);
    out_pos_.resize(ne);
    out_recv_.resize(ne);
    out_bond_.resize(ne);
    for (std::size_t q = 0; q < ne; ++q) {
        MMACE_AT(out_pos_, out_edge_[q]) = static_cast<index_t>(q);
        out_recv_[q] = MMACE_AT(recv_, out_edge_[q]);
        out_bond_[q] = MMACE_AT(bond_, out_edge_[q]);
    }
}

void FrozenMMACE::build_bond_caches() {
    const FrozenModel& m = *model_;
    const int d_sh = m.n_sh();
    const int nb = static_cast<int>(m.freq.size());
    std::vector<real_t> y(d_sh), rb(nb), tmp;
    bond_r_.assign(L_, {});
    bond_g_.assign(L_, {});
    if (m.soc) bond_y_.assign(n_bonds_ * d_sh, 0.0);
    for (int t = 0; t < L_; ++t) {
        const LayerModel& Lm = m.layers[t];
        bond_r_[t].assign(n_bonds_ * Lm.n_paths * C_, 0.0);
        if (!m.soc) bond_g_[t].assign(n_bonds_ * Lm.tp.g_size, 0.0);
    }
    int mw = 0;
    for (const auto& Lm : m.layers) mw = std::max(mw, Lm.radial_mlp.max_width());
    // radial MLPs in chunks of bonds (one GEMM per matrix and chunk: a rattled structure has
    // as many bonds as edges)
    constexpr std::size_t kChunk = 64;
    tmp.assign(2 * kChunk * mw, 0.0);
    std::vector<real_t> rbs(kChunk * nb);                 // [chunk][n_bessel]
    for (std::size_t b0 = 0; b0 < n_bonds_; b0 += kChunk) {
        const std::size_t nc = std::min(kChunk, n_bonds_ - b0);
        for (std::size_t r = 0; r < nc; ++r) {
            const std::size_t b = b0 + r;
            const Vec3 v = Vec3::load(&bond_vec_[3 * b]);
            m.bond_sh(v, y.data());
            m.radial_basis(v.norm(), rbs.data() + r * nb);
            if (m.soc) std::copy(y.begin(), y.end(), bond_y_.begin() + b * d_sh);
            if (!m.soc)
                for (int t = 0; t < L_; ++t)
                    m.layers[t].tp.fold(y.data(), bond_g_[t].data() + b * m.layers[t].tp.g_size);
        }
        for (int t = 0; t < L_; ++t) {
            const LayerModel& Lm = m.layers[t];
            const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * C_;
            Lm.radial_mlp.apply_batch(rbs.data(), nb, nc, bond_r_[t].data() + b0 * pc,
                                      tmp.data());
        }
    }
}

void FrozenMMACE::alloc_caches() {
    const FrozenModel& m = *model_;
    const std::size_t n = static_cast<std::size_t>(n_);
    x_.assign(n, 0.0);
    phi_.assign(n * m.n_mag, 0.0);
    ys_.assign(n * m.n_spin_sh(), 0.0);
    h_.assign(L_, {});
    u_.assign(L_, {});
    a_.assign(L_, {});
    skip_.assign(L_, {});
    e_.assign(L_, {});
    w_cache_.assign(L_, {});
    std::size_t max_pc = 0, max_g = 0, max_sc = 0;
    for (int t = 0; t < L_; ++t) {
        const LayerModel& Lm = m.layers[t];
        const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * C_;
        h_[t].assign(n * Lm.d_in * C_, 0.0);
        u_[t].assign(n * Lm.d_in * C_, 0.0);
        a_[t].assign(n * Lm.d_a * C_, 0.0);
        skip_[t].assign(n * Lm.d_out * C_, 0.0);
        e_[t].assign(n, 0.0);
        if (opt_.cache_edge_weights && t >= 1) w_cache_[t].assign(send_.size() * pc, 0.0);
        max_pc = std::max(max_pc, pc);
        max_g = std::max(max_g, static_cast<std::size_t>(Lm.tp.g_size));
        max_sc = std::max(max_sc, Lm.sc.scratch_size());
    }
    site_.assign(n, 0.0);
    const std::size_t c = static_cast<std::size_t>(C_);
    const std::size_t nk = static_cast<std::size_t>(std::max(m.n_kappa(), m.n_kappa_s()));
    kappa_batch_.assign(kBatch * nk, 0.0);
    kappa_new_.assign(kBatch * nk, 0.0);
    w_batch_.assign(kBatch * max_pc, 0.0);
    w_new_.assign(kBatch * max_pc, 0.0);
    kappa_diff_.assign(kBatch * 2 * nk, 0.0);
    xr_tmp_.assign(2 * m.n_kappa() * max_pc, 0.0);
    g_old_.assign(std::max<std::size_t>(max_g, 1), 0.0);
    g_new_.assign(std::max<std::size_t>(max_g, 1), 0.0);
    sc_scratch_.assign(std::max<std::size_t>(max_sc, 1), 0.0);
    skip_tmp_.assign(c * c, 0.0);
    psi_tmp_.assign(m.soc ? m.bond_spin.dk : 1, 0.0);
    pair_tmp_.assign(m.soc ? m.spin_pair.dk : 1, 0.0);
    prop_phi_.assign(m.n_mag, 0.0);
    prop_ys_.assign(m.n_spin_sh(), 0.0);
    levels_.assign(L_ + 1, {});
    for (auto& lv : levels_) lv.set.init(n_);
}

void FrozenMMACE::refresh_pair_invariants() {
    const FrozenModel& m = *model_;
    if (!m.pair_factorised()) return;
    const std::size_t nc = static_cast<std::size_t>(m.l_spin_max) + 1;
    pair_c_.resize(send_.size() * nc);
    for (index_t j = 0; j < n_; ++j)
        for (index_t q = out_off_[j]; q < out_off_[j + 1]; ++q)
            m.pair_invariants(ys(out_recv_[q]), ys(j), pair_c_.data() + q * nc);
}

NodeAttr FrozenMMACE::attr(index_t i) const {
    NodeAttr a;
    a.species = MMACE_AT(species_, i);
    a.phi = model_->centre_spin ? phi(i) : nullptr;
    return a;
}

const real_t* FrozenMMACE::edge_g(int t, index_t b, const real_t* ys_i, const real_t* ys_j,
                                  real_t* scratch) const {
    const FrozenModel& m = *model_;
    const TensorProduct& tp = m.layers[t].tp;
    if (!m.soc) return bond_g_[t].data() + static_cast<std::size_t>(b) * tp.g_size;
    const int d_sh = m.n_sh();
    m.soc_psi(bond_y_.data() + static_cast<std::size_t>(b) * d_sh, ys_i, ys_j,
              psi_tmp_.data(), pair_tmp_.data());
    tp.fold(psi_tmp_.data(), scratch);
    return scratch;
}

void FrozenMMACE::compute_skip(int t, const real_t* h_in, const NodeAttr& at, real_t* skip) {
    model_->layers[t].skip.apply(h_in, at, skip, skip_tmp_.data());
}

void FrozenMMACE::node_updates(int t, std::size_t n, const real_t* a_raw, const real_t* skip,
                               const NodeAttr* attrs, real_t* h_next, real_t* e) {
    const LayerModel& Lm = model_->layers[t];
    const std::size_t da = static_cast<std::size_t>(Lm.d_a) * C_;
    const std::size_t dout = static_cast<std::size_t>(Lm.d_out) * C_;
    const std::size_t nc = std::min(n, kNodeChunk);
    auto grow = [](std::vector<real_t>& v, std::size_t sz) {
        if (v.size() < sz) v.resize(sz);
    };
    grow(nb_alin_, nc * da);
    grow(nb_sc_, nc * dout);
    grow(nb_h_, nc * dout);
    grow(nb_mlp_, 2 * nc * static_cast<std::size_t>(Lm.readout.max_width()));
    // chunks of nodes small enough for their intermediate features to stay in L1 / L2
    for (std::size_t r0 = 0; r0 < n; r0 += kNodeChunk) {
        const std::size_t nr = std::min(kNodeChunk, n - r0);
        real_t* h = h_next != nullptr ? h_next + r0 * dout : nb_h_.data();
        Lm.linear.apply_batch(a_raw + r0 * da, nr, nb_alin_.data());   // 1 / avg folded in
        Lm.sc.apply_batch(nb_alin_.data(), nr, attrs + r0, nb_sc_.data(), sc_scratch_.data());
        std::copy(skip + r0 * dout, skip + (r0 + nr) * dout, h);
        Lm.linear_out.apply_batch_add(nb_sc_.data(), nr, h);
        Lm.readout.apply_batch(h + static_cast<std::size_t>(Lm.scalar_index) * C_, dout, nr,
                               e + r0, nb_mlp_.data());
    }
}

real_t FrozenMMACE::site_energy(index_t i) const {
    const FrozenModel& m = *model_;
    const int s = species_[i];
    real_t el = 0.0;
    for (int t = 0; t < L_; ++t) el += e_[t][i];
    return m.e0[s] + m.scale * el + m.shift + m.landau_energy(s, x_[i]);
}

void FrozenMMACE::refresh() {
    const FrozenModel& m = *model_;
    const std::size_t n = static_cast<std::size_t>(n_);
    pending_ = false;
    for (std::size_t i = 0; i < n; ++i)
        m.spin_features(species_[i], Vec3::load(spin(static_cast<index_t>(i))), &x_[i],
                        phi_.data() + i * m.n_mag, ys_.data() + i * m.n_spin_sh());
    for (std::size_t i = 0; i < n; ++i) m.embed(attr(static_cast<index_t>(i)), h_[0].data() + i * C_);
    refresh_pair_invariants();
    const std::size_t c = static_cast<std::size_t>(C_);
    const int nk = m.n_kappa();
    nb_attr_.resize(kNodeBatch);
    std::vector<real_t> e_chunk(kNodeBatch);
    for (int t = 0; t < L_; ++t) {
        const LayerModel& Lm = m.layers[t];
        const std::size_t din = Lm.d_in * c, da = Lm.d_a * c, dout = Lm.d_out * c;
        const std::size_t pc = static_cast<std::size_t>(Lm.n_paths) * c;
        for (std::size_t i = 0; i < n; ++i) Lm.linear_up.apply(h_[t].data() + i * din, u_[t].data() + i * din);
        // neighbour sums, receiver by receiver (spin weights contracted on the receiver side)
        for (index_t i = 0; i < n_; ++i) {
            const real_t* xr = m.global_weights(t);
            if (m.centre_spin) {
                m.receiver_weights(t, phi(i), xr_tmp_.data());
                xr = xr_tmp_.data();
            }
            real_t* acc = a_[t].data() + static_cast<std::size_t>(i) * da;
            std::fill(acc, acc + da, 0.0);
            for (index_t e0 = recv_off_[i]; e0 < recv_off_[i + 1]; e0 += kBatch) {
                const int nb = std::min<index_t>(kBatch, recv_off_[i + 1] - e0);
                const real_t* radial[kBatch];
                for (int r = 0; r < nb; ++r) {
                    const index_t e = e0 + r, j = send_[e];
                    m.edge_kappa(ys(i), phi(j), ys(j), kappa_batch_.data() + r * nk);
                    radial[r] = bond_r_[t].data() + static_cast<std::size_t>(bond_[e]) * pc;
                }
                real_t* wb = w_batch_.data();
                m.edge_weights_batch(t, nb, kappa_batch_.data(), nk, xr, radial, wb);
                if (!w_cache_[t].empty())
                    for (int r = 0; r < nb; ++r)
                        std::copy(wb + r * pc, wb + (r + 1) * pc, cached_w(t, e0 + r, pc));
                for (int r = 0; r < nb; ++r) {
                    const index_t e = e0 + r, j = send_[e];
                    const real_t* g = edge_g(t, bond_[e], ys(i), ys(j), g_new_.data());
                    Lm.tp.message(u_[t].data() + static_cast<std::size_t>(j) * din, g, wb + r * pc,
                                  C_, acc);
                }
            }
            compute_skip(t, h_[t].data() + static_cast<std::size_t>(i) * din, attr(i),
                         skip_[t].data() + static_cast<std::size_t>(i) * dout);
        }
        // node updates in batches
        for (std::size_t i0 = 0; i0 < n; i0 += kNodeBatch) {
            const std::size_t nb = std::min(kNodeBatch, n - i0);
            for (std::size_t r = 0; r < nb; ++r) nb_attr_[r] = attr(static_cast<index_t>(i0 + r));
            real_t* h_next = t + 1 < L_ ? h_[t + 1].data() + i0 * dout : nullptr;
            node_updates(t, nb, a_[t].data() + i0 * da, skip_[t].data() + i0 * dout,
                         nb_attr_.data(), h_next, e_chunk.data());
            for (std::size_t r = 0; r < nb; ++r) e_[t][i0 + r] = e_chunk[r];
        }
    }
    for (index_t i = 0; i < n_; ++i) site_[i] = site_energy(i);
}

real_t FrozenMMACE::drift_and_refresh() {
    std::vector<real_t> before(site_);
    refresh();
    real_t worst = 0.0;
    for (index_t i = 0; i < n_; ++i) worst = std::max(worst, std::abs(before[i] - site_[i]));
    return worst;
}

real_t FrozenMMACE::total_energy() const {
    real_t e = 0.0;
    for (real_t v : site_) e += v;
    return e;
}

void FrozenMMACE::site_energies(real_t* out) const { std::copy(site_.begin(), site_.end(), out); }

std::size_t FrozenMMACE::geometry_bytes() const {
    std::size_t b = bond_vec_.size() + bond_y_.size();
    for (const auto& v : bond_r_) b += v.size();
    for (const auto& v : bond_g_) b += v.size();
    b *= sizeof(real_t);
    b += (recv_off_.size() + send_.size() + recv_.size() + bond_.size() + out_off_.size() +
          out_edge_.size() + out_pos_.size() + out_recv_.size() + out_bond_.size()) *
         sizeof(index_t);
    return b;
}

std::size_t FrozenMMACE::node_cache_bytes() const {
    std::size_t b = x_.size() + phi_.size() + ys_.size() + site_.size() + pair_c_.size();
    for (int t = 0; t < L_; ++t)
        b += h_[t].size() + u_[t].size() + a_[t].size() + skip_[t].size() + e_[t].size() +
             w_cache_[t].size();
    b *= sizeof(real_t);
    b += species_.size() * sizeof(int);
    for (const auto& lv : levels_)
        b += lv.set.stamp.size() * sizeof(std::uint32_t) + lv.set.slot.size() * sizeof(index_t);
    return b;
}

std::size_t FrozenMMACE::scratch_bytes() const {
    std::size_t b = 0;
    for (const auto& lv : levels_)
        b += lv.h.capacity() + lv.u.capacity() + lv.du.capacity() + lv.a.capacity() +
             lv.skip.capacity() + lv.e.capacity() + lv.inc_w.capacity();
    b += nb_alin_.capacity() + nb_sc_.capacity() + nb_h_.capacity() +
         nb_mlp_.capacity();
    return b * sizeof(real_t);
}

std::vector<std::size_t> FrozenMMACE::last_touched() const {
    std::vector<std::size_t> out;
    for (const auto& lv : levels_) out.push_back(lv.set.list.size());
    return out;
}

void frozen_site_energies(std::shared_ptr<const FrozenModel> model, index_t n,
                          const std::int64_t* numbers, const real_t* positions, const real_t* cell,
                          const EdgeListInput& edges, const real_t* moments, real_t bond_tol,
                          real_t* out) {
    EvaluatorOptions opt;
    opt.bond_tol = bond_tol;
    opt.cache_edge_weights = false;
    FrozenMMACE h(std::move(model), n, numbers, positions, cell, edges, moments, opt);
    h.site_energies(out);
}

}  // namespace mmace
