"""Baseline design matrices: conventions round trip, neighbour shells per species pair, ideal-site
shell assignment, derivatives against finite differences, and equality with the C++
SpinHamiltonian that the Monte Carlo engine runs."""
import numpy as np
import pytest

from mmace_fast import conventions as cv
from mmace_fast.baseline.design import Param
from mmace_fast.baseline.fixed_lattice import FixedLatticeDesign, FixedLatticeSpec, dmi_tensor
from mmace_fast.baseline.geometry import BaselineInputError, Structure
from mmace_fast.baseline.model import BaselineModel, mean_field_from_pairs, to_spin_hamiltonian
from mmace_fast.baseline.shells import ShellTable, primitive_cell
from mmace_fast.baseline.spin_lattice import SpinLatticeDesign, SpinLatticeSpec
from mmace_fast.baseline.units import ConventionError, convert_exchange, literature_forms
from mmace_fast.baseline.material import reference_structure
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.presets import PAJDA_J_MRY, pajda_fe_exchange_ev
from mmace_fast.neighbours import neighbour_list


def _rattled(struct, reps, strain, sigma, seed):
    rng = np.random.default_rng(seed)
    st = struct.repeat(reps)
    f = np.eye(3) + strain * rng.normal(size=(3, 3))
    return Structure(st.positions @ f + rng.normal(0, sigma, st.positions.shape), st.cell @ f,
                     st.pbc, st.numbers)


def _model(design, seed, top_landau=None):
    rng = np.random.default_rng(seed)
    th = rng.normal(size=design.n_params) * 0.01
    for c, p in enumerate(design.params):
        if p.kind == "landau" and top_landau is not None and p.index == top_landau:
            th[c] = 0.01
    return BaselineModel(design, th, np.zeros((len(th), len(th))))


class _Frame:
    def __init__(self, st, m):
        self.positions, self.cell, self.pbc, self.numbers, self.magmoms = (
            st.positions, st.cell, st.pbc, st.numbers, m)


# ------------------------------------------------------------------------------ conventions
def test_conventions_round_trip_units_and_counting():
    rng = np.random.default_rng(0)
    j = rng.normal(size=7) * 0.05                                      # pair once, eV
    for unit in ("eV", "meV", "mRy"):
        for count in ("once", "twice"):
            there = convert_exchange(j, dst_unit=unit, dst_count=count)
            back = convert_exchange(there, src_unit=unit, src_count=count)
            np.testing.assert_allclose(back, j, rtol=1e-14)
    # Pajda's first shell: 1.432 mRy pair twice = 2 * 1.432 * 13.6057 meV pair once
    once_mev = convert_exchange(1.432, src_unit="mRy", src_count="twice", dst_unit="meV")
    assert once_mev == pytest.approx(2 * 1.432 * 13.605693122994, rel=1e-12)
    np.testing.assert_allclose(convert_exchange(PAJDA_J_MRY, src_unit="mRy", src_count="twice"),
                               pajda_fe_exchange_ev(), rtol=1e-14)
    f = literature_forms(0.01)
    assert f["once_meV"] == pytest.approx(10.0)
    assert f["twice_meV"] == pytest.approx(5.0)
    assert f["twice_mRy"] == pytest.approx(5.0 / 13.605693122994)
    with pytest.raises(ConventionError):
        convert_exchange(1.0, dst_unit="kcal")
    with pytest.raises(ConventionError):
        convert_exchange(1.0, src_count="thrice")


def test_pair_once_energy_equals_pair_twice_energy_with_converted_constants():
    """-sum_{pairs once} J_once e.e == -sum_{i != j} J_twice e.e with J_twice = J_once / 2."""
    ref = reference_structure("fe")
    st = ref.repeat(2)
    j_once = np.array([0.03, 0.012])
    ham = SpinHamiltonian.from_shells(st.positions, st.cell, st.pbc, j_once)
    rng = np.random.default_rng(1)
    e = rng.normal(size=(st.n_atoms, 3))
    e /= np.linalg.norm(e, axis=1)[:, None]
    i, j, s, d = neighbour_list(st.positions, st.cell, st.pbc, 2.9, return_distances=True)
    shell = np.where(d < 2.7, 0, 1)
    j_twice = convert_exchange(j_once, dst_count="twice")
    e_twice = -np.sum(j_twice[shell] * np.einsum("ka,ka->k", e[i], e[j]))     # i != j, directed
    assert ham.energy(e) == pytest.approx(e_twice, rel=1e-12)


# ------------------------------------------------------------------------------ shells
def test_bcc_shells_and_counts():
    ref = reference_structure("fe")
    sh = ShellTable.from_reference(ref, [(26, 26)], 8).pairs[(26, 26)]
    np.testing.assert_array_equal(sh.counts_a, [8, 6, 12, 24, 8, 6, 24, 24])
    np.testing.assert_allclose(sh.distances / 2.866,
                               np.sqrt([0.75, 1, 2, 2.75, 3, 4, 4.75, 5]), rtol=1e-10)


def test_b2_shells_per_species_pair():
    ref = reference_structure("feal")                                   # Fe at 0, Al at centre
    t = ShellTable.from_reference(ref, [(26, 26), (13, 26), (13, 13)], 4)
    a = 2.91
    np.testing.assert_array_equal(t.pairs[(26, 26)].counts_a, [6, 12, 8, 6])
    np.testing.assert_array_equal(t.pairs[(13, 13)].counts_a, [6, 12, 8, 6])
    np.testing.assert_array_equal(t.pairs[(13, 26)].counts_a, [8, 24, 24, 32])
    np.testing.assert_allclose(t.pairs[(13, 26)].distances / a,
                               np.sqrt([0.75, 2.75, 4.75, 6.75]), rtol=1e-10)
    np.testing.assert_allclose(t.pairs[(26, 26)].distances / a, np.sqrt([1, 2, 3, 4]), rtol=1e-10)


def test_b2_parent_lattice_shells_give_antisite_bonds_their_own_shell():
    """Parent-lattice shells of B2: bcc distances for every pair; the Fe-Fe nearest-neighbour
    shell has zero count on ordered B2 and holds exactly the antisite's bonds in Fe3Al."""
    ref = reference_structure("feal")
    a = 2.91
    t = ShellTable.from_reference(ref, [(26, 26)], 3, parent=True).pairs[(26, 26)]
    np.testing.assert_allclose(t.distances / a, np.sqrt([0.75, 1, 2]), rtol=1e-10)
    np.testing.assert_array_equal(t.counts_a, [0, 6, 12])
    assert len(t.directions[0]) == 4                     # the bcc <111> bond classes
    spec = FixedLatticeSpec((13, 26), (26,), n_shells=3, parent_shells=True, chemical_shells=2)
    des = FixedLatticeDesign(spec, ref)
    st = ref.repeat((1, 1, 2))
    z = st.numbers.copy()
    z[np.flatnonzero(z == 13)[0]] = 26                    # one Al -> Fe: Fe3Al
    st = Structure(st.positions, st.cell, st.pbc, z)
    pf = des.prepare(st)
    assert pf.strain is not None
    # counted by hand (pairs once, 1x1x2 cell: the other site of a sublattice is the +-z
    # neighbour at distance a, every other shell-2/3 neighbour of a site is its own image):
    # shell 1: antisite 8 Fe + two Fe x 4 Fe, halved = 8; shell 2: (6 + 6 + 4) / 2 = 8;
    # shell 3: (12 + 12 + 4) / 2 = 14
    np.testing.assert_array_equal(np.bincount(pf.assign.shell, minlength=3), [8, 8, 14])
    c0 = des.column("chem", (13, 26), 0)
    c1 = des.column("chem", (13, 26), 1)
    x = des.features(pf, np.zeros((4, 3)), magforces=False).energy
    assert x[c0] == 8 and x[c1] == 2                     # Al: 8 Fe neighbours; +-z antisite
    x_ord = des.features(des.prepare(ref.repeat((1, 1, 2))), np.zeros((4, 3)), False).energy
    assert x_ord[c0] == 16 and x_ord[c1] == 0


def test_rocksalt_shells_and_primitive_cells():
    ref = reference_structure("crn")
    t = ShellTable.from_reference(ref, [(24, 24), (7, 24)], 3)
    np.testing.assert_array_equal(t.pairs[(24, 24)].counts_a, [12, 6, 24])
    np.testing.assert_array_equal(t.pairs[(7, 24)].counts_a, [6, 8, 24])
    for mat, frac in (("fe", 0.5), ("feal", 1.0), ("crn", 0.25)):
        r = reference_structure(mat)
        vol = abs(np.linalg.det(primitive_cell(r)))
        assert vol == pytest.approx(frac * abs(np.linalg.det(r.cell)), rel=1e-10)


@pytest.mark.parametrize("mat", ["fe", "feal", "crn"])
def test_ideal_assignment_survives_strain_and_rattle(mat):
    """A 2 % strained cell with 0.15 A rattle keeps every bond in its reference shell, where
    plain distance bins misassign some (the reason for the ideal-site mapping)."""
    ref = reference_structure(mat)
    mag = (26,) if mat != "crn" else (24,)
    species = tuple(sorted(set(ref.numbers.tolist())))
    des = FixedLatticeDesign(FixedLatticeSpec(species, mag, n_shells=3), ref)
    bins = FixedLatticeDesign(FixedLatticeSpec(species, mag, n_shells=3, assign="bins"), ref)
    want = {pr: ps.counts_a for pr, ps in des.shells.pairs.items()}
    n_bad_bins = 0
    for seed in range(4):
        st = _rattled(ref, 2, 0.02, 0.15, seed)
        pf = des.prepare(st)
        assert pf.strain is not None
        counts = np.bincount(pf.assign.shell, minlength=3)
        n_mag = np.sum(np.isin(st.numbers, mag))
        np.testing.assert_allclose(counts / n_mag * 2, 2 * np.asarray(want[(mag[0],) * 2]) / 2)
        cb = np.bincount(bins.prepare(st).assign.shell, minlength=3)
        n_bad_bins += int(np.any(cb != counts))
    assert n_bad_bins > 0


# ------------------------------------------------------------------------------ derivatives
def _fd_magforces(energy, m, h=1e-6):
    """-dx/dm by central differences of a vector-valued x(m)  # [n, 3, p]."""
    out = None
    for a in range(m.shape[0]):
        for c in range(3):
            mp, mm = m.copy(), m.copy()
            mp[a, c] += h
            mm[a, c] -= h
            d = -(energy(mp) - energy(mm)) / (2 * h)
            if out is None:
                out = np.zeros(m.shape + d.shape)
            out[a, c] = d
    return out


@pytest.mark.parametrize("dmi", ["free", "bulk"])
def test_fixed_lattice_magnetic_forces_equal_finite_differences(dmi):
    ref = reference_structure("feal")
    spec = FixedLatticeSpec((13, 26), (13, 26), n_shells=2, biquadratic_shells=1, dmi=dmi,
                            dmi_shells=2, uniaxial=True, axis=(1, 1, 0), cubic=True,
                            landau_order=3, landau_volume_order=2, exchange_volume_order=1)
    des = FixedLatticeDesign(spec, ref)
    st = _rattled(ref, (2, 1, 1), 0.02, 0.05, 3)
    m = np.random.default_rng(4).normal(size=(st.n_atoms, 3))
    pf = des.prepare(st)
    blk = des.features(pf, m)
    fd = _fd_magforces(lambda mm: des.features(pf, mm, False).energy, m)
    scale = np.abs(blk.magforces).max(axis=(0, 1)) + 1.0
    assert np.all(np.abs(fd - blk.magforces).max(axis=(0, 1)) / scale < 1e-7)


@pytest.mark.parametrize("unit", [False, True])
def test_fixed_lattice_model_equals_spin_hamiltonian(unit):
    """Every term of the design (J, J_v, B, free DMI as the antisymmetric tensor, Ku, Kc,
    Landau with its volume term) gives the C++ SpinHamiltonian's energy and -dE/dm."""
    ref = reference_structure("feal")
    spec = FixedLatticeSpec((13, 26), (13, 26), n_shells=3, biquadratic_shells=1, dmi="free",
                            dmi_shells=2, uniaxial=True, cubic=True, landau_order=3,
                            exchange_volume_order=1)
    des = FixedLatticeDesign(spec, ref)
    model = _model(des, 5, top_landau=6)
    st = _rattled(ref, (2, 2, 1), 0.02, 0.05, 6)
    rng = np.random.default_rng(7)
    e = rng.normal(size=(st.n_atoms, 3))
    e /= np.linalg.norm(e, axis=1)[:, None]
    lengths = {26: 2.2, 13: 0.4}
    m = e * np.array([lengths[z] for z in st.numbers])[:, None] if unit else e * 1.3
    pred = model.predict(_Frame(st, m))
    ham = to_spin_hamiltonian(model, st, moment_lengths=lengths if unit else None)
    spins = e if unit else m
    assert ham.energy(spins) + ham.energy_offset == pytest.approx(pred["energy"], rel=1e-12)
    if not unit:
        np.testing.assert_allclose(ham.effective_field(m), pred["magforces"], atol=1e-12)


def test_antisite_model_with_chemical_background_equals_spin_hamiltonian():
    """Parent shells and the chemical background on an Fe3Al antisite cell: the spin
    Hamiltonian gives the model's energy (chemical terms in the offset) and -dE/dm."""
    ref = reference_structure("feal")
    spec = FixedLatticeSpec((13, 26), (26,), n_shells=3, parent_shells=True, chemical_shells=2)
    des = FixedLatticeDesign(spec, ref)
    model = _model(des, 8, top_landau=4)
    st = ref.repeat((2, 2, 1))
    z = st.numbers.copy()
    z[np.flatnonzero(z == 13)[0]] = 26
    st = _rattled(Structure(st.positions, st.cell, st.pbc, z), 1, 0.02, 0.05, 9)
    m = np.random.default_rng(10).normal(size=(st.n_atoms, 3)) * (z == 26)[:, None]
    pred = model.predict(_Frame(st, m))
    ham = to_spin_hamiltonian(model, st)
    assert len(ham.sites) == np.sum(z == 26)              # the Fe atoms, antisite included
    assert ham.energy(m[ham.sites]) + ham.energy_offset == pytest.approx(pred["energy"],
                                                                         rel=1e-12)
    np.testing.assert_allclose(ham.effective_field(m[ham.sites]), pred["magforces"][ham.sites],
                               atol=1e-12)
    c0 = des.column("chem", (13, 26), 0)
    assert des.features(des.prepare(st), m, False).energy[c0] > 0


def test_dmi_tensor_is_cross_product():
    rng = np.random.default_rng(0)
    d, a, b = rng.normal(size=(3, 3))
    t = dmi_tensor(d)[0]
    assert a @ t @ b == pytest.approx(d @ np.cross(a, b), rel=1e-13)


def _spin_lattice(**kw):
    spec = SpinLatticeSpec((13, 26), (26,), r_cut=4.5, n_pair=3, n_density=2, l_max_density=2,
                           r_cut_exchange=4.2, n_exchange=3, n_biquadratic=2, landau_order=3,
                           n_landau_density=2, n_exchange3=2, r_cut3=3.2, **kw)
    return SpinLatticeDesign(spec)


def test_spin_lattice_derivatives_equal_finite_differences():
    des = _spin_lattice()
    ref = reference_structure("feal")
    st = _rattled(ref, (2, 2, 1), 0.02, 0.1, 8)
    m = np.random.default_rng(9).normal(size=(st.n_atoms, 3))
    blk = des.features(st, m)
    h = 1e-5

    def energy(pos=st.positions, cell=st.cell, mm=m):
        return des.features(Structure(pos, cell, st.pbc, st.numbers), mm, False).energy

    scale = np.abs(blk.forces).max(axis=(0, 1)) + 1.0
    for a in range(st.n_atoms):
        for c in range(3):
            p1, p2 = st.positions.copy(), st.positions.copy()
            p1[a, c] += h
            p2[a, c] -= h
            fd = -(energy(pos=p1) - energy(pos=p2)) / (2 * h)
            assert np.all(np.abs(fd - blk.forces[a, c]) / scale < 1e-7)
    np.testing.assert_allclose(_fd_magforces(lambda mm: energy(mm=mm), m, 1e-5), blk.magforces,
                               rtol=1e-6, atol=1e-7)
    vol = st.volume
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] += h / 2
            eps[b, a] += h / 2
            up = energy(pos=st.positions @ (np.eye(3) + eps), cell=st.cell @ (np.eye(3) + eps))
            dn = energy(pos=st.positions @ (np.eye(3) - eps), cell=st.cell @ (np.eye(3) - eps))
            np.testing.assert_allclose((up - dn) / (2 * h) / vol, blk.stress[a, b], atol=1e-8)
    # the three-body exchange is really exercised
    assert np.abs(blk.forces[:, :, [c for c, p in enumerate(des.params)
                                    if p.kind == "J3"]]).max() > 1e-3


def test_spin_lattice_symmetries_and_smooth_cutoff():
    des = _spin_lattice()
    ref = reference_structure("feal")
    st = _rattled(ref, (2, 1, 1), 0.02, 0.1, 10)
    rng = np.random.default_rng(11)
    m = rng.normal(size=(st.n_atoms, 3))
    blk = des.features(st, m)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = Structure(st.positions @ q.T, st.cell @ q.T, st.pbc, st.numbers)
    blk_r = des.features(rot, m @ q.T)           # joint rotation (non-SOC: spins may rotate too)
    np.testing.assert_allclose(blk_r.energy, blk.energy, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(blk_r.forces, np.einsum("ab,nbp->nap", q, blk.forces), atol=1e-10)
    blk_s = des.features(st, m @ q.T)            # spin-only rotation: same energy (non-SOC)
    np.testing.assert_allclose(blk_s.energy, blk.energy, rtol=1e-11, atol=1e-12)
    # two atoms in vacuum at the cutoff: every feature except E0 vanishes smoothly
    for r in (4.5 - 1e-7, 4.5 + 1e-7):
        pair = Structure([[0, 0, 0], [r, 0, 0]], np.zeros((3, 3)), [False] * 3, [26, 26])
        b = des.features(pair, np.ones((2, 3)))
        e0 = [c for c, p in enumerate(des.params) if p.kind == "e0" or p.kind == "landau"]
        rest = np.delete(b.energy, e0)
        assert np.abs(rest).max() < 1e-12
        assert np.abs(b.forces).max() < 1e-10


def test_spin_lattice_hamiltonian_at_fixed_geometry():
    des = _spin_lattice()
    model = _model(des, 12, top_landau=6)
    st = _rattled(reference_structure("feal"), (2, 2, 1), 0.02, 0.08, 13)
    m = np.random.default_rng(14).normal(size=(st.n_atoms, 3))
    m[st.numbers == 13] = 0.0
    pred = model.predict(_Frame(st, m))
    ham = to_spin_hamiltonian(model, st)
    s = ham.sites
    assert ham.energy(m[s]) + ham.energy_offset == pytest.approx(pred["energy"], rel=1e-12)
    np.testing.assert_allclose(ham.effective_field(m[s]), pred["magforces"][s], atol=1e-12)


def test_mean_field_matches_closed_form_for_ferromagnet():
    from mmace_fast.mc.presets import mean_field_tc
    st = reference_structure("fe").repeat(4)
    j = np.array([0.04, 0.015])
    ham = SpinHamiltonian.from_shells(st.positions, st.cell, st.pbc, j)
    t, vec = mean_field_from_pairs(ham.n_sites, ham.terms["pair_i"], ham.terms["pair_j"],
                                   ham.terms["J"])
    assert t == pytest.approx(mean_field_tc(j, [8, 6]), rel=1e-10)
    assert abs(vec.sum()) / np.sqrt(len(vec)) == pytest.approx(1.0, rel=1e-8)


def test_bad_input_raises():
    ref = reference_structure("fe")
    with pytest.raises(BaselineInputError):
        FixedLatticeSpec((26,), (24,))
    with pytest.raises(BaselineInputError):
        FixedLatticeSpec((26,), (26,), dmi="sideways")
    des = FixedLatticeDesign(FixedLatticeSpec((26,), (26,)), ref)
    with pytest.raises(BaselineInputError):
        des.features(ref, np.zeros((3, 3)))
    with pytest.raises(BaselineInputError):
        _spin_lattice().features(Structure(ref.positions, ref.cell, ref.pbc, [26, 24]),
                                 np.zeros((2, 3)))
    assert Param("J", (26, 26), 1).name == "J[26-26]1"
    assert cv.EXCHANGE_SIGN == -1


def test_spiral_energy_commensurate_limit_and_cell_independence():
    """E(q) of a flat spiral equals the energy of the commensurate collinear cell at q = H
    (B2-type AFM), and the 1-atom and 2-atom cells give the same E(q) per atom."""
    from mmace_fast.baseline.spiral import spiral_energies
    ref = reference_structure("fe")
    a = 2.866
    des = FixedLatticeDesign(FixedLatticeSpec((26,), (26,), n_shells=3, landau_order=2), ref)
    model = _model(des, 20)
    for c, p in enumerate(des.params):
        if p.kind == "landau":
            model.theta[c] = -0.05 if p.index == 2 else 0.01
    prim = Structure([[0.0, 0.0, 0.0]], np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]]) * a / 2,
                     [True] * 3, [26])
    qs = np.array([[0, 0, 0], [0.3, 0, 0], [1, 0, 0], [0.5, 0.5, 0]]) * 2 * np.pi / a
    e2 = spiral_energies(model, ref, qs, {26: 2.2})
    e1 = spiral_energies(model, prim, qs, {26: 2.2})
    np.testing.assert_allclose(e1["energy"], e2["energy"], rtol=1e-12)
    afm = _Frame(ref, np.array([[2.2, 0, 0], [-2.2, 0, 0]]))
    assert e2["energy"][2] == pytest.approx(model.predict(afm)["energy"] / 2, rel=1e-12)
    relaxed = spiral_energies(model, prim, qs, {26: 2.2}, relax=True)
    assert np.all(relaxed["energy"] <= e1["energy"] + 1e-12)
