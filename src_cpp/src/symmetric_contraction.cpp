// SymmetricContractionF: loading (monomial and entry tables, grouped by output row and order)
// and the multi-versioned contraction kernels (see symmetric_contraction.hpp).
#include "mmace/symmetric_contraction.hpp"

#include <algorithm>

#include "load_checks.hpp"
#include "mmace/array_view.hpp"
#include "mmace/evaluator_simd.hpp"
#include "mmace/kernel_clones.hpp"

namespace mmace {

using detail::as_int;
using detail::require;

void SymmetricContractionF::load(const ArrayStore& s, const std::string& p, int da, int dout,
                                 int cc, int na, int nm) {
    d_a = da;
    d_out = dout;
    c = cc;
    n_attr = na;
    n_mag = nm;
    correlation = as_int(s.integer(p + ".correlation"), p + " correlation", 1, 8);
    const int nb = as_int(s.integer(p + ".n_blocks"), p + " n_blocks", 1, 1024);
    std::vector<std::vector<int>> monos(correlation);   // [nu - 1][n_mono * nu] sorted tuples
    for (int nu = 1; nu <= correlation; ++nu) {
        const std::string name = p + ".mono." + std::to_string(nu);
        const auto& sh = s.shape(name);
        require(sh.size() == 2 && sh[1] == nu, name + " must have shape (n, " + std::to_string(nu) + ")");
        for (auto v : s.ints(name, {sh[0], nu}))
            MMACE_AT(monos, nu - 1).push_back(as_int(v, name + " component", 0, da - 1));
    }
    max_wa = 0;
    for (int b = 0; b < nb; ++b) {
        const std::string pb = p + "." + std::to_string(b);
        const auto& blk = s.ints(pb + ".block", {2});
        Block block;
        block.out0 = as_int(MMACE_AT(blk, 0), pb + " output start", 0, dout - 1);
        block.dim = as_int(MMACE_AT(blk, 1), pb + " output size", 1, dout);
        require(block.out0 + block.dim <= dout, pb + ": block exceeds the output size");
        struct Raw { int m, nu, mono, wa; real_t val; };
        std::vector<Raw> raw;
        for (int nu = 1; nu <= correlation; ++nu) {
            const std::string pn = pb + "." + std::to_string(nu);
            const auto& wsh = s.shape(pn + ".weight");
            require(wsh.size() == 3 && wsh[0] == na && wsh[2] == cc,
                    pn + ".weight must have shape (n_attr, eta, C)");
            Term term;
            term.nu = nu;
            term.eta = static_cast<int>(wsh[1]);
            term.wa0 = block.n_wa;
            term.w = s.real(pn + ".weight", {na, term.eta, cc});
            const auto& idx = s.ints(pn + ".index", {-1, 3});
            const int nnz = static_cast<int>(idx.size() / 3);
            const auto& val = s.real(pn + ".value", {nnz});
            const int n_mono = static_cast<int>(MMACE_AT(monos, nu - 1).size() / nu);
            for (int e = 0; e < nnz; ++e)
                raw.push_back({as_int(MMACE_AT(idx, 3 * e + 1), pn + " M", 0, block.dim - 1), nu,
                               as_int(MMACE_AT(idx, 3 * e + 2), pn + " monomial", 0, n_mono - 1),
                               term.wa0 + as_int(MMACE_AT(idx, 3 * e), pn + " eta", 0, term.eta - 1),
                               MMACE_AT(val, e)});
            if (nnz > 0) {
                block.n_wa += term.eta;
                block.terms.push_back(std::move(term));
            }
        }
        // entries by (output row, order); stable: otherwise the file's order
        std::stable_sort(raw.begin(), raw.end(), [](const Raw& x, const Raw& y) {
            return x.m != y.m ? x.m < y.m : x.nu < y.nu;
        });
        block.g_off.assign(block.dim + 1, 0);
        for (std::size_t e = 0; e < raw.size(); ++e) {
            const Raw& r = raw[e];
            block.entries.push_back({static_cast<int>(block.comps.size()), r.wa, r.val});
            const std::vector<int>& mono = MMACE_AT(monos, r.nu - 1);   // [n_mono * nu]
            for (int q = 0; q < r.nu; ++q) block.comps.push_back(MMACE_AT(mono, r.mono * r.nu + q) * cc);
            const int ei = static_cast<int>(e);
            if (e == 0 || raw[e - 1].m != r.m || raw[e - 1].nu != r.nu) {
                block.groups.push_back({r.nu, ei, ei});
                ++MMACE_AT(block.g_off, r.m + 1);
            }
            block.groups.back().e1 = ei + 1;
        }
        for (int m = 0; m < block.dim; ++m) block.g_off[m + 1] += block.g_off[m];
        max_wa = std::max(max_wa, block.n_wa);
        blocks.push_back(std::move(block));
    }
}

std::size_t SymmetricContractionF::scratch_size() const {
    return static_cast<std::size_t>(kNodes) * max_wa * c;
}

namespace {

// Entries [e0, e1) of one output row with monomials of order NU (NU = 0: any order, read from
// the entry) for NB nodes, added to the two register chains s0 / s1.
template <class K, int NB, int NU>
__attribute__((always_inline)) inline void sc_group(const SymmetricContractionF::Block& blk,
                                                    int nu_any, int e0, int e1, const real_t* a,
                                                    std::size_t as, const real_t* wa,
                                                    std::size_t wa_n,
                                                    typename K::V (&s0)[NB][K::nv],
                                                    typename K::V (&s1)[NB][K::nv]) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes, W = K::width;
    const int nu = NU > 0 ? NU : nu_any;
    const SymmetricContractionF::Entry* en = blk.entries.data();
    const int* comps = blk.comps.data();
    auto add = [&](V (&sum)[NB][NV], const SymmetricContractionF::Entry& x)
        __attribute__((always_inline)) {
        const int* cp = comps + x.comp;
        const real_t* q0 = wa + x.wa * W;
        for (int n = 0; n < NB; ++n) {
            const real_t* an = a + n * as;
            for (int v = 0; v < NV; ++v) {
                V p = S::load(an + cp[0] + v * LN);
                for (int r = 1; r < nu; ++r) p *= S::load(an + cp[r] + v * LN);
                sum[n][v] += x.val * (S::load(q0 + n * wa_n + v * LN) * p);
            }
        }
    };
    int e = e0;
    for (; e + 2 <= e1; e += 2) {
        add(s0, en[e]);
        add(s1, en[e + 1]);
    }
    if (e < e1) add(s0, en[e]);
}

// The contraction of NB nodes (features a + n as, outputs b + n bs) for the channels
// [c0, c0 + width) of one chunk K (see evaluator_simd.hpp): per node, the attribute-contracted
// weight rows of a block in a scratch table of width channels; each output row a sum over the
// block's entries in registers (two chains per vector for the FMA latency), the monomials
// multiplied out on the fly from the features (L1-resident). The tables are walked once for
// the NB nodes.
template <class K, int NB>
__attribute__((always_inline)) inline void sc_chunk(const SymmetricContractionF& sc,
                                                    const real_t* a, std::size_t as,
                                                    const NodeAttr* at, real_t* b,
                                                    std::size_t bs, real_t* wa, int c0) {
    using S = typename K::Simd;
    using V = typename K::V;
    constexpr int NV = K::nv, LN = S::lanes, W = K::width;
    const std::size_t cs = static_cast<std::size_t>(sc.c);
    const std::size_t wa_n = static_cast<std::size_t>(sc.max_wa) * W;
    const real_t* ac = a + c0;
    for (int n = 0; n < NB; ++n)
        for (int o = 0; o < sc.d_out; ++o)
            for (int v = 0; v < NV; ++v) S::store(b + n * bs + o * cs + c0 + v * LN, S::zero());
    for (const SymmetricContractionF::Block& blk : sc.blocks) {
        for (int n = 0; n < NB; ++n) {
            const int nq = at[n].phi == nullptr ? 1 : sc.n_mag;
            const real_t f0 = at[n].phi == nullptr ? 1.0 : at[n].phi[0];
            for (const SymmetricContractionF::Term& term : blk.terms) {
                const std::size_t ec = static_cast<std::size_t>(term.eta) * cs;
                const real_t* w0 = term.w.data() + static_cast<std::size_t>(at[n].species) * nq * ec + c0;
                real_t* wrow = wa + n * wa_n + static_cast<std::size_t>(term.wa0) * W;
                for (int e = 0; e < term.eta; ++e) {
                    V acc[NV];
                    for (int v = 0; v < NV; ++v) acc[v] = f0 * S::load(w0 + e * cs + v * LN);
                    for (int q = 1; q < nq; ++q)
                        for (int v = 0; v < NV; ++v)
                            acc[v] += at[n].phi[q] * S::load(w0 + q * ec + e * cs + v * LN);
                    for (int v = 0; v < NV; ++v) S::store(wrow + e * W + v * LN, acc[v]);
                }
            }
        }
        for (int m = 0; m < blk.dim; ++m) {
            V s0[NB][NV], s1[NB][NV];
            for (int n = 0; n < NB; ++n)
                for (int v = 0; v < NV; ++v) s0[n][v] = s1[n][v] = S::zero();
            for (int gi = blk.g_off[m]; gi < blk.g_off[m + 1]; ++gi) {
                const SymmetricContractionF::Group& g = blk.groups[gi];
                switch (g.nu) {
                    case 1: sc_group<K, NB, 1>(blk, 1, g.e0, g.e1, ac, as, wa, wa_n, s0, s1); break;
                    case 2: sc_group<K, NB, 2>(blk, 2, g.e0, g.e1, ac, as, wa, wa_n, s0, s1); break;
                    case 3: sc_group<K, NB, 3>(blk, 3, g.e0, g.e1, ac, as, wa, wa_n, s0, s1); break;
                    default: sc_group<K, NB, 0>(blk, g.nu, g.e0, g.e1, ac, as, wa, wa_n, s0, s1);
                }
            }
            for (int n = 0; n < NB; ++n) {
                real_t* out = b + n * bs + (blk.out0 + m) * cs + c0;
                for (int v = 0; v < NV; ++v)
                    S::store(out + v * LN, S::load(out + v * LN) + (s0[n][v] + s1[n][v]));
            }
        }
    }
}

template <int NB>
__attribute__((always_inline)) inline void sc_nodes(const SymmetricContractionF& sc,
                                                    const real_t* a, std::size_t as,
                                                    const NodeAttr* at, real_t* b,
                                                    std::size_t bs, real_t* scratch) {
    simd::for_channel_chunks(sc.c, [&](auto k, int c0) __attribute__((always_inline)) {
        sc_chunk<decltype(k), NB>(sc, a, as, at, b, bs, scratch, c0);
    });
}

}  // namespace

MMACE_KERNEL
void SymmetricContractionF::apply(const real_t* a, const NodeAttr& at, real_t* b,
                                  real_t* scratch) const {
    // the species selects the rows [n_attr / n_mag or n_attr] of the weights (input, not hot)
    MMACE_CHECK_INDEX(at.species, at.phi == nullptr ? n_attr : n_attr / n_mag);
    sc_nodes<1>(*this, a, 0, &at, b, 0, scratch);
}

MMACE_KERNEL
void SymmetricContractionF::apply_batch(const real_t* a, std::size_t n, const NodeAttr* at,
                                        real_t* b, real_t* scratch) const {
    const std::size_t as = static_cast<std::size_t>(d_a) * c, bs = static_cast<std::size_t>(d_out) * c;
#ifdef MMACE_DEBUG_BOUNDS
    for (std::size_t q = 0; q < n; ++q)
        MMACE_CHECK_INDEX(at[q].species, at[q].phi == nullptr ? n_attr : n_attr / n_mag);
#endif
    std::size_t r = 0;
    for (; r + kNodes <= n; r += kNodes) sc_nodes<kNodes>(*this, a + r * as, as, at + r, b + r * bs, bs, scratch);
    for (; r < n; ++r) sc_nodes<1>(*this, a + r * as, as, at + r, b + r * bs, bs, scratch);
}

MMACE_KERNEL
void SymmetricContractionF::backward(const real_t* a, const NodeAttr& at, const real_t* bbar,
                                     real_t* abar, real_t* phibar, real_t* scratch) const {
    MMACE_CHECK_INDEX(at.species, at.phi == nullptr ? n_attr : n_attr / n_mag);
    const std::size_t cs = static_cast<std::size_t>(c);
    const int nq = at.phi == nullptr ? 1 : n_mag;
    real_t* wa = scratch;                                // [max_wa][C] weights of the block
    real_t* wabar = scratch + static_cast<std::size_t>(max_wa) * cs;   // dE/dwa
    for (const Block& blk : blocks) {
        for (const Term& term : blk.terms) {
            const std::size_t ec = static_cast<std::size_t>(term.eta) * cs;
            const real_t* w0 = term.w.data() + static_cast<std::size_t>(at.species) * nq * ec;
            for (std::size_t k = 0; k < ec; ++k) {
                real_t s = 0.0;
                for (int q = 0; q < nq; ++q) s += (at.phi == nullptr ? 1.0 : at.phi[q]) * w0[q * ec + k];
                wa[term.wa0 * cs + k] = s;
            }
        }
        std::fill(wabar, wabar + static_cast<std::size_t>(blk.n_wa) * cs, 0.0);
        for (int m = 0; m < blk.dim; ++m) {
            const real_t* bb = bbar + static_cast<std::size_t>(blk.out0 + m) * cs;
            for (int gi = blk.g_off[m]; gi < blk.g_off[m + 1]; ++gi) {
                const Group& g = blk.groups[gi];
                for (int e = g.e0; e < g.e1; ++e) {
                    const Entry& x = blk.entries[e];
                    const int* cp = blk.comps.data() + x.comp;
                    real_t* wab = wabar + x.wa * cs;
                    const real_t* wrow = wa + x.wa * cs;
                    // product rule over the monomial's factors (they may repeat: each occurrence
                    // adds its term); orders 1-3 unrolled, the channel loop innermost
                    if (g.nu == 1) {
                        const real_t* a0 = a + cp[0];
                        real_t* b0 = abar + cp[0];
                        for (std::size_t ch = 0; ch < cs; ++ch) {
                            wab[ch] += x.val * a0[ch] * bb[ch];
                            b0[ch] += x.val * wrow[ch] * bb[ch];
                        }
                    } else if (g.nu == 2) {
                        const real_t *a0 = a + cp[0], *a1 = a + cp[1];
                        for (std::size_t ch = 0; ch < cs; ++ch) {
                            const real_t coef = x.val * wrow[ch] * bb[ch];
                            const real_t v0 = a0[ch], v1 = a1[ch];
                            wab[ch] += x.val * v0 * v1 * bb[ch];
                            abar[cp[0] + ch] += coef * v1;
                            abar[cp[1] + ch] += coef * v0;
                        }
                    } else if (g.nu == 3) {
                        const real_t *a0 = a + cp[0], *a1 = a + cp[1], *a2 = a + cp[2];
                        for (std::size_t ch = 0; ch < cs; ++ch) {
                            const real_t coef = x.val * wrow[ch] * bb[ch];
                            const real_t v0 = a0[ch], v1 = a1[ch], v2 = a2[ch];
                            wab[ch] += x.val * v0 * v1 * v2 * bb[ch];
                            abar[cp[0] + ch] += coef * v1 * v2;
                            abar[cp[1] + ch] += coef * v0 * v2;
                            abar[cp[2] + ch] += coef * v0 * v1;
                        }
                    } else {
                        for (std::size_t ch = 0; ch < cs; ++ch) {
                            real_t prod = 1.0;
                            for (int r = 0; r < g.nu; ++r) prod *= a[cp[r] + ch];
                            wab[ch] += x.val * prod * bb[ch];
                            const real_t coef = x.val * wrow[ch] * bb[ch];
                            for (int r = 0; r < g.nu; ++r) {
                                real_t others = 1.0;
                                for (int r2 = 0; r2 < g.nu; ++r2)
                                    if (r2 != r) others *= a[cp[r2] + ch];
                                abar[cp[r] + ch] += coef * others;
                            }
                        }
                    }
                }
            }
        }
        if (at.phi == nullptr) continue;
        for (const Term& term : blk.terms) {
            const std::size_t ec = static_cast<std::size_t>(term.eta) * cs;
            const real_t* w0 = term.w.data() + static_cast<std::size_t>(at.species) * nq * ec;
            for (int q = 0; q < nq; ++q) {
                real_t s = 0.0;
                for (std::size_t k = 0; k < ec; ++k) s += wabar[term.wa0 * cs + k] * w0[q * ec + k];
                phibar[q] += s;
            }
        }
    }
}

}  // namespace mmace
