// FrozenModel: loading and validation of every constant of the model file (species, spin and
// harmonic tables, radial basis, the layers), see frozen_model.hpp.
#include "mmace/frozen_model.hpp"

#include <algorithm>
#include <sstream>

#include "load_checks.hpp"
#include "mmace/array_view.hpp"

namespace mmace {

using detail::as_int;
using detail::require;

FrozenModel::FrozenModel(const ArrayStore& s) {
    const auto& sp = s.ints("species", {-1});
    require(!sp.empty(), "no species");
    z_to_species.fill(-1);
    for (std::size_t k = 0; k < sp.size(); ++k) {
        const int z = as_int(sp[k], "atomic number", 1, 118);
        require(MMACE_AT(z_to_species, z) < 0, "duplicate species " + std::to_string(z));
        MMACE_AT(z_to_species, z) = static_cast<int>(k);
        species_z.push_back(z);
    }
    const int ns = n_species();
    moment_scale = s.real("moment_scale", {ns});
    for (real_t v : moment_scale) require(v > 0, "moment_scale must be positive");
    e0 = s.real("e0", {ns});
    const auto& lsh = s.shape("landau");
    require(lsh.size() == 2 && lsh[0] == ns, "landau must have shape (n_species, K)");
    landau_order = static_cast<int>(lsh[1]);
    landau = s.real("landau", {ns, landau_order});
    scale = s.scalar("scale");
    shift = s.scalar("shift");
    n_mag = as_int(s.integer("n_mag"), "n_mag", 1, 64);
    l_spin_max = as_int(s.integer("l_spin_max"), "l_spin_max", 0, 8);
    soc = as_int(s.integer("soc"), "soc", 0, 1) == 1;
    centre_spin = as_int(s.integer("centre_spin"), "centre_spin", 0, 1) == 1;
    n_channels = as_int(s.integer("n_channels"), "n_channels", 1, 4096);
    const int n_layers = as_int(s.integer("n_layers"), "n_layers", 1, 16);
    l_max_sh = as_int(s.integer("l_max_sh"), "l_max_sh", 0, 8);
    n_sigma = as_int(s.integer("n_sigma"), "n_sigma", 1, 1 << 20);
    n_attr = centre_spin ? ns * n_mag : ns;
    const int c = n_channels;
    const auto& emb = s.real("embedding", {n_attr, c});
    const real_t en = s.scalar("embedding_norm");
    embedding.resize(emb.size());
    for (std::size_t k = 0; k < emb.size(); ++k) embedding[k] = emb[k] * en;

    sh_l_max = as_int(s.integer("sh.l_max"), "sh.l_max", std::max(l_max_sh, l_spin_max), 12);
    const auto& shi = s.ints("sh.index", {-1});
    const int nnz = static_cast<int>(shi.size());
    const auto& shp = s.ints("sh.powers", {nnz, 3});
    sh_coef = s.real("sh.coef", {nnz});
    const int n_comp = (sh_l_max + 1) * (sh_l_max + 1);
    for (int e = 0; e < nnz; ++e) {
        const int comp = as_int(MMACE_AT(shi, e), "sh.index", 0, n_comp - 1);
        require(e == 0 || comp >= sh_index.back(), "sh.index must be sorted");
        int l = 0;
        while ((l + 1) * (l + 1) <= comp) ++l;
        for (int d = 0; d < 3; ++d) sh_pow.push_back(as_int(MMACE_AT(shp, 3 * e + d), "sh.powers", 0, l));
        require(MMACE_AT(shp, 3 * e) + MMACE_AT(shp, 3 * e + 1) + MMACE_AT(shp, 3 * e + 2) == l,
                "sh.powers of component " + std::to_string(comp) + " must have degree " +
                    std::to_string(l));
        sh_index.push_back(comp);
    }
    load_spin(s);

    r_cut = s.scalar("radial.r_cut");
    require(r_cut > 0, "radial.r_cut must be positive");
    freq = s.real("radial.freq", {-1});
    radial_pref = s.scalar("radial.prefactor");
    envelope_p = as_int(s.integer("radial.envelope_power"), "radial.envelope_power", 1, 64);
    const auto& ec = s.real("radial.envelope_coef", {3});
    std::copy(ec.begin(), ec.end(), envelope_coef.begin());

    const int d_sh = n_sh();
    const int d_psi_expected = soc ? bond_spin.dk : d_sh;
    int d_prev = 1;
    for (int t = 0; t < n_layers; ++t) {
        const std::string p = "layers." + std::to_string(t);
        LayerModel L;
        const auto& dims = s.ints(p + ".dims", {5});
        L.d_in = as_int(dims[0], p + " D_in", 1, 1 << 16);
        L.d_psi = as_int(dims[1], p + " D_psi", 1, 1 << 16);
        L.d_a = as_int(dims[2], p + " D_A", 1, 1 << 16);
        L.d_out = as_int(dims[3], p + " D_out", 1, 1 << 16);
        L.n_paths = as_int(dims[4], p + " n_paths", 1, 1 << 16);
        require(L.d_in == d_prev, p + ": input size " + std::to_string(L.d_in) +
                                      " differs from the previous output " + std::to_string(d_prev));
        require(L.d_psi == d_psi_expected, p + ": edge-attribute size mismatch");
        L.last = as_int(s.integer(p + ".last"), p + ".last", 0, 1) == 1;
        require(L.last == (t == n_layers - 1), p + ": wrong 'last' flag");
        L.scalar_index = as_int(s.integer(p + ".scalar_index"), p + ".scalar_index", 0, L.d_out - 1);
        L.inv_avg = s.scalar(p + ".inv_avg_num_neighbors");
        L.linear_up.load(s, p + ".linear_up", c);
        L.linear.load(s, p + ".linear", c);
        L.linear.scale(L.inv_avg);          // linear(A / avg_num_neighbors), A the raw sum
        L.linear_out.load(s, p + ".linear_out", c);
        L.skip.load(s, p + ".skip", c, n_attr, centre_spin ? n_mag : 1);
        require(L.linear_up.d_in == L.d_in && L.linear_up.d_out == L.d_in, p + ": linear_up size");
        require(L.linear.d_in == L.d_a && L.linear.d_out == L.d_a, p + ": linear size");
        require(L.linear_out.d_in == L.d_out && L.linear_out.d_out == L.d_out, p + ": linear_out size");
        require(L.skip.d_in == L.d_in && L.skip.d_out == L.d_out, p + ": skip size");
        L.radial_mlp.load(s, p + ".radial_mlp");
        require(L.radial_mlp.n_in() == static_cast<int>(freq.size()),
                p + ": radial MLP input differs from the number of Bessel functions");
        require(L.radial_mlp.n_out() == L.n_paths * c, p + ": radial MLP output must be P * C");
        L.readout.load(s, p + ".readout");
        require(L.readout.n_in() == c && L.readout.n_out() == 1, p + ": readout must map C -> 1");
        // permute columns c * P + p -> p * C + c (torch's channel-major path weights)
        {
            auto& last = L.radial_mlp.w.back();
            const int rows = L.radial_mlp.widths[L.radial_mlp.widths.size() - 2];
            std::vector<real_t> perm(last.size());
            for (int r = 0; r < rows; ++r)
                for (int ch = 0; ch < c; ++ch)
                    for (int q = 0; q < L.n_paths; ++q)
                        MMACE_AT(perm, static_cast<std::size_t>(r) * L.n_paths * c + q * c + ch) =
                            MMACE_AT(last, static_cast<std::size_t>(r) * L.n_paths * c + ch * L.n_paths + q);
            last.swap(perm);
        }
        const auto& sw = s.real(p + ".spin_weight", {n_sigma, static_cast<std::int64_t>(L.n_paths) * c});
        L.spin_weight.resize(sw.size());
        for (int r = 0; r < n_sigma; ++r)
            for (int ch = 0; ch < c; ++ch)
                for (int q = 0; q < L.n_paths; ++q)
                    MMACE_AT(L.spin_weight, static_cast<std::size_t>(r) * L.n_paths * c + q * c + ch) =
                        MMACE_AT(sw, static_cast<std::size_t>(r) * L.n_paths * c + ch * L.n_paths + q);
        {   // sender-side rows SWs[q][r'] = SW[r' n + q] (see sender_weights_batch)
            const std::size_t pcs = static_cast<std::size_t>(L.n_paths) * c;
            const int nr = n_kappa_s();
            L.spin_weight_s.resize(static_cast<std::size_t>(nr) * n_mag * pcs);
            for (int q = 0; q < n_mag; ++q)
                for (int r = 0; r < nr; ++r) {
                    MMACE_CHECK_INDEX(r * n_mag + q, n_sigma);   // a row of SW [n_sigma][P][C]
                    std::copy_n(L.spin_weight.data() + (static_cast<std::size_t>(r) * n_mag + q) * pcs, pcs,
                                L.spin_weight_s.data() + (static_cast<std::size_t>(q) * nr + r) * pcs);
                }
        }
        L.tp.load(s, p + ".tp", L.d_in, L.d_psi, L.d_a);
        require(static_cast<int>(L.tp.paths.size()) == L.n_paths, p + ": path count mismatch");
        L.sc.load(s, p + ".sc", L.d_a, L.d_out, c, n_attr, centre_spin ? n_mag : 1);
        layers.push_back(std::move(L));
        d_prev = layers.back().d_out;
    }
}

void FrozenModel::load_spin(const ArrayStore& s) {
    const int ls = l_spin_max;
    if (!soc) {
        spin_inv_norm = s.real("spin_invariant_norm", {ls + 1});
        const int want = centre_spin ? (ls + 1) * n_mag * n_mag : n_mag;
        require(n_sigma == want, "n_sigma = " + std::to_string(n_sigma) + ", non-SOC model needs " +
                                     std::to_string(want));
    } else {
        spin_pair = load_sparse3(s, "spin_pair");
        bond_spin = load_sparse3(s, "bond_spin");
        require(spin_pair.di == n_spin_sh() && spin_pair.dj == n_spin_sh(),
                "spin_pair dims must match the spin harmonics");
        require(bond_spin.di == n_sh() && bond_spin.dj == spin_pair.dk,
                "bond_spin dims must match bond harmonics x spin pair");
        const int want = centre_spin ? n_mag * n_mag : n_mag;
        require(n_sigma == want, "n_sigma = " + std::to_string(n_sigma) + ", SOC model needs " +
                                     std::to_string(want));
    }
}

FrozenModel::Sparse3 FrozenModel::load_sparse3(const ArrayStore& s, const std::string& p) {
    Sparse3 out;
    const auto& d = s.ints(p + ".dims", {3});
    out.di = as_int(d[0], p + " dim", 1, 1 << 16);
    out.dj = as_int(d[1], p + " dim", 1, 1 << 16);
    out.dk = as_int(d[2], p + " dim", 1, 1 << 16);
    const auto& idx = s.ints(p + ".index", {-1, 3});
    const int nnz = static_cast<int>(idx.size() / 3);
    out.v = s.real(p + ".value", {nnz});
    for (int e = 0; e < nnz; ++e) {
        out.i.push_back(as_int(MMACE_AT(idx, 3 * e), p + " index", 0, out.di - 1));
        out.j.push_back(as_int(MMACE_AT(idx, 3 * e + 1), p + " index", 0, out.dj - 1));
        out.k.push_back(as_int(MMACE_AT(idx, 3 * e + 2), p + " index", 0, out.dk - 1));
    }
    return out;
}

int FrozenModel::species_index(int z) const {
    if (z < 0 || z > 118) return -1;
    return z_to_species[z];
}

std::string FrozenModel::describe() const {
    std::ostringstream o;
    o << "FrozenModel(species=" << n_species() << ", C=" << n_channels << ", layers="
      << layers.size() << ", soc=" << soc << ", centre_spin=" << centre_spin
      << ", r_cut=" << r_cut << ")";
    return o.str();
}

}  // namespace mmace
