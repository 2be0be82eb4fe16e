// Frozen mMACE evaluators on a fixed geometry: full evaluation and exact incremental energy
// changes for single-moment Monte Carlo moves (a Hamiltonian for MonteCarlo).
//
// Geometry (bond harmonics, radial-MLP outputs, psi-folded couplings) is computed once per
// DISTINCT bond: edges with the same species pair and the same bond vector (to bond_tol A) share
// one entry, so a perfect lattice stores a few dozen bonds whatever its size; with bond_tol = 0,
// or in a rattled structure, every edge is its own bond.
//
// Caches per node and layer t: h_t (layer input), u_t = linear_up(h_t), the raw neighbour sum
// A_t (before / avg_num_neighbors and the linear map), the skip output and the layer readout
// e_t; optionally the edge weights w_ij of layers t >= 1 (P C reals per edge and layer).
// Edge weights w_ij = R_b (x) (sigma_ij . SW), contracted either on the receiver side (full
// evaluation: sum_r kappa_r(i, j) Xr_i[r], Xr_i[l, q] = sum_p phi_p(i) SW[l, p, q], kappa =
// c_l(i, j) phi_q(j)) or on the sender side (proposals: the few changed senders;
// see FrozenModel::sender_weights_batch), as small GEMMs over the edges of one receiver / sender.
//
// propose(k, m): a move of moment k changes h_0 at k, and the weights (and SOC edge attributes)
// of the edges incident to k. Layer t then changes at the nodes S_{t+1} = S_t + receivers of
// edges leaving S_t (+ k): their neighbour sums change by
//   sum over edges (j -> i) incident to k:   msg(u_j', w_ij') - msg(u_j, w_ij)
//   sum over other edges with j in S_t:      msg(u_j' - u_j, w_ij)   (messages are linear in u)
// The new neighbour sums of all changed receivers are accumulated sender by sender, then their
// node updates run batched. New node features and layer energies go into scratch slots
// (epoch-stamped node marks, no O(N) work per trial); accept() copies them into the caches,
// reject() forgets them.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>
#include <vector>

#include "mmace/evaluator_model.hpp"
#include "mmace/hamiltonian.hpp"

namespace mmace {

struct EvaluatorOptions {
    real_t bond_tol = 1e-9;           // A; 0: every edge is its own bond
    // Optional cache of the edge weights w_ij of layers t >= 1 (P C reals per edge and layer).
    // Off by default: on bcc Fe (one core) recomputing them is as fast as (64 channels) or
    // faster than (16 channels) reading them back from memory, where they do not fit in cache.
    bool cache_edge_weights = false;
};

// Edges of the model's neighbour list: receiver i, sender j, integer image shift S, with
// r_ij = positions[j] - positions[i] + S . cell (rows of cell are lattice vectors).
struct EdgeListInput {
    const index_t* receiver = nullptr;
    const index_t* sender = nullptr;
    const std::int64_t* shifts = nullptr;   // [E, 3]
    std::size_t n_edges = 0;
};

class FrozenMMACE final : public Hamiltonian {
public:
    // numbers [n] atomic numbers (must be known to the model); positions [n, 3] A; cell [3, 3];
    // moments [n, 3] muB (nullptr: zero).
    FrozenMMACE(std::shared_ptr<const FrozenModel> model, index_t n_sites, const std::int64_t* numbers,
                const real_t* positions, const real_t* cell, const EdgeListInput& edges,
                const real_t* moments, const EvaluatorOptions& options);

    real_t total_energy() const override;
    void site_energies(real_t* out) const override;
    // -dE/dm [n, 3] eV/muB at the current moments: one reverse pass through the cached
    // features (evaluator_gradient.cpp)
    void effective_field(real_t* out) const override;
    // -dE/dm at other moments m [n, 3]: evaluated on a second evaluator of the same structure
    // (built on the first call, kept), so this one's caches and moments stay as they are
    void field_at(const real_t* m, real_t* out) const override;
    // dE/dm [n, 3] eV/muB at the current moments
    void moment_gradient(real_t* out) const { gradients(out, nullptr, nullptr); }
    // One reverse pass at the current moments and positions (evaluator_gradient.cpp); each
    // output may be nullptr: dE_dm [n, 3] eV/muB, dE_dpos [n, 3] eV/A, dE_dstrain [3, 3] eV
    // (the symmetric part of sum over edges of dE/dr_ij (x) r_ij: the derivative under a
    // symmetric strain r -> (1 + eps) r; the stress is dE_dstrain / volume)
    void gradients(real_t* dE_dm, real_t* dE_dpos, real_t* dE_dstrain) const;
    real_t propose(index_t i, const Vec3& m_new) override;
    void accept() override;
    void reject() override;
    bool variable_length() const override { return true; }

    // Recompute every cache from the current moments (also what set_spins does).
    void refresh();
    // Largest |site energy (cached) - site energy (recomputed)| eV, leaves the caches refreshed.
    real_t drift_and_refresh();

    std::size_t n_edges() const { return send_.size(); }
    std::size_t n_bonds() const { return n_bonds_; }
    std::size_t geometry_bytes() const;      // per-bond caches
    std::size_t node_cache_bytes() const;    // per-node caches
    std::size_t scratch_bytes() const;
    // nodes touched by the last proposal per layer (diagnostics)
    std::vector<std::size_t> last_touched() const;

protected:
    void on_spins_changed() override { refresh(); }

private:
    struct NodeSet {
        std::vector<std::uint32_t> stamp;    // [n] epoch of membership
        std::vector<index_t> slot;           // [n] slot when stamped
        std::vector<index_t> list;
        void init(index_t n) { stamp.assign(n, 0); slot.assign(n, -1); list.clear(); }
        bool has(index_t i, std::uint32_t ep) const { return stamp[i] == ep; }
        index_t add(index_t i, std::uint32_t ep) {
            if (stamp[i] == ep) return slot[i];
            stamp[i] = ep;
            slot[i] = static_cast<index_t>(list.size());
            list.push_back(i);
            return slot[i];
        }
    };
    struct Level {                           // nodes whose layer-t input changes
        NodeSet set;
        std::vector<real_t> h, u, du;        // [slot][D_in_t][C] (t < L)
        std::vector<real_t> a, skip, e;      // outputs of layer t-1 for these nodes (t >= 1)
        std::vector<index_t> inc_edge;       // edges incident to the moved site (layer t-1) ...
        std::vector<real_t> inc_w;           // ... and their new weights [P][C] (weight cache)
    };

    void build_geometry(const real_t* positions, const real_t* cell, const EdgeListInput& edges);
    void build_bond_caches();
    void alloc_caches();
    NodeAttr attr(index_t i) const;
    const real_t* phi(index_t i) const { return phi_.data() + static_cast<std::size_t>(i) * model_->n_mag; }
    const real_t* ys(index_t i) const { return ys_.data() + static_cast<std::size_t>(i) * model_->n_spin_sh(); }
    // psi-folded couplings of an edge (bond b) at layer t from the spin harmonics of its ends
    const real_t* edge_g(int t, index_t b, const real_t* ys_i, const real_t* ys_j, real_t* scratch) const;
    // Layer-t node updates of n nodes: a_raw [n][D_A][C], skip [n][D_out][C] -> h_next
    // [n][D_out][C] (nullptr: not kept) and the layer energies e [n]. Batched: the channel
    // mixings run as one GEMM per irrep component over the n nodes.
    void node_updates(int t, std::size_t n, const real_t* a_raw, const real_t* skip,
                      const NodeAttr* attrs, real_t* h_next, real_t* e);
    void compute_skip(int t, const real_t* h_in, const NodeAttr& at, real_t* skip);
    // reverse pass of layer t (evaluator_gradient.cpp): the node updates, dE/dh_{t+1}
    // [n][D_out][C] (empty: last layer) -> dE/dA_t (abar) and into dE/dh_t (hbar_in) and
    // dE/dphi; the messages, dE/dA_t -> dE/du_t (ubar), dE/dphi, dE/dys and, if dv is not
    // nullptr, dE/dr of every edge [n_edges][3] (added to dv)
    void backward_node_updates(int t, const std::vector<real_t>& hbar_out, real_t* abar,
                               real_t* hbar_in, real_t* phibar) const;
    void backward_messages(int t, const real_t* abar, real_t* ubar, real_t* phibar,
                           real_t* ysbar, real_t* dv) const;
    real_t site_energy(index_t i) const;
    void ensure_level(int t, std::size_t n_slots);
    // Message changes of layer t (see propose), added into the receivers' slots of `out`:
    const real_t* sender_weights_rows(int t, const real_t* const* phis, int n);
    void unchanged_messages(int t, index_t k, std::size_t si, Level& in, Level& out);
    void changed_messages(int t, index_t k, const int* rows, int n, bool sender_side,
                          const real_t* x_old, const real_t* x_new, Level& in, Level& out);
    void moved_site_messages(int t, index_t k, Level& in, Level& out);
    void into_k_messages(int t, index_t k, Level& in, Level& out);

    std::shared_ptr<const FrozenModel> model_;
    EvaluatorOptions opt_;
    // field_at's second evaluator: the same geometry (copied from this one on first use),
    // other moments
    mutable std::unique_ptr<FrozenMMACE> probe_;
    struct ProbeTag {};
    FrozenMMACE(const FrozenMMACE& o, ProbeTag);
    int C_ = 0, L_ = 0;
    std::vector<int> species_;               // [n]
    // geometry: edges sorted by receiver
    std::vector<index_t> recv_off_, send_, recv_, bond_;   // recv_off_ [n+1]
    std::vector<index_t> out_off_, out_edge_;               // edges by sender
    std::vector<index_t> out_pos_;           // [n_edges] position of an edge in out_edge_
    std::vector<index_t> out_recv_, out_bond_;   // receiver and bond of out_edge_[q]
    // pair invariants c_l(i, j) of out_edge_[q] [n_edges][Ls + 1] (models whose edge kappa
    // factorise, see FrozenModel::pair_factorised; else empty), kept current on accept()
    std::vector<real_t> pair_c_;
    void refresh_pair_invariants();          // every edge
    std::size_t n_bonds_ = 0;
    std::vector<real_t> bond_vec_;           // [n_bonds][3]
    std::vector<real_t> bond_y_;             // [n_bonds][d_sh] (SOC)
    std::vector<std::vector<real_t>> bond_r_;   // [t][n_bonds][P_t][C]
    std::vector<std::vector<real_t>> bond_g_;   // [t][n_bonds][g_size] (non-SOC)
    // node caches
    std::vector<real_t> x_, phi_, ys_;       // spin features
    std::vector<std::vector<real_t>> h_, u_, a_, skip_, e_;  // per layer
    // [t][n_edges][P][C] (empty: not cached), rows in out_edge_ order: the edges of one sender
    // are contiguous, read as one stream when the sender's input changes
    std::vector<std::vector<real_t>> w_cache_;
    real_t* cached_w(int t, std::size_t e, std::size_t pc) {
        return w_cache_[t].data() + static_cast<std::size_t>(out_pos_[e]) * pc;
    }
    std::vector<real_t> site_;               // [n] site energies
    // proposal state
    std::uint32_t epoch_ = 0;
    index_t prop_i_ = -1;
    bool pending_ = false;
    Vec3 prop_m_;
    real_t prop_x_ = 0;
    std::vector<real_t> prop_phi_, prop_ys_;
    std::vector<Level> levels_;              // L + 1 levels
    // The edges incident to the moved site of the pending proposal, listed once per propose():
    // the edges leaving k (self-images included) in out_edge_ order, then the edges into k
    // from other senders. e: edge, q: its position in out_edge_, i / j: receiver / sender,
    // b: bond. With pair-factorised kappa, inc_c_ [row][2][Ls + 1] holds their pair invariants
    // after and before the move; the first are copied into pair_c_ (at q) by accept().
    struct IncidentEdge { index_t e, q, i, j, b; };
    std::vector<IncidentEdge> inc_;
    std::vector<real_t> inc_c_;
    int n_inc_out_ = 0;                      // rows [0, n_inc_out_) leave k
    void list_incident_edges(index_t k);
    static constexpr int kBatch = 8;         // edges whose weights are computed together
    static constexpr std::size_t kNodeBatch = 128;   // nodes per batched update in refresh()
    static constexpr std::size_t kNodeChunk = 32;    // nodes per pass of node_updates()
    // work buffers
    std::vector<real_t> kappa_batch_, kappa_new_, w_batch_, w_new_;   // kBatch rows
    std::vector<real_t> kappa_diff_;         // [kBatch][2 n_kappa] rows [kappa_new | -kappa_old]
    // receiver-side spin weights: [n_kappa][P][C] in refresh(); in a proposal Xr_k after and
    // before the move, stacked [2][n_kappa][P][C] (weight changes as one product)
    std::vector<real_t> xr_tmp_;
    std::vector<real_t> g_old_, g_new_, sc_scratch_, skip_tmp_;
    std::vector<real_t> xs_all_, phi_rows_;  // sender-side spin weights of a level's nodes
    std::vector<real_t> nb_alin_, nb_sc_, nb_h_, nb_mlp_, nb_e_;
    std::vector<NodeAttr> nb_attr_;
    mutable std::vector<real_t> psi_tmp_, pair_tmp_;
};

// One-shot site energies [n] eV of any structure (the evaluator above without the incremental
// caches). moments [n, 3] muB.
void frozen_site_energies(std::shared_ptr<const FrozenModel> model, index_t n, const std::int64_t* numbers,
                          const real_t* positions, const real_t* cell, const EdgeListInput& edges,
                          const real_t* moments, real_t bond_tol, real_t* out);

}  // namespace mmace
