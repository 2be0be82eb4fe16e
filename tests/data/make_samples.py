"""Write the small shipped samples in tests/data from a known toy spin Hamiltonian.

    python tests/data/make_samples.py          # rewrites the sample files next to this script

Toy Hamiltonian (units of mmace_fast.conventions: eV, A, muB; each pair once):

    E = sum_i e0(Z_i) + sum_i [a2(Z_i) |m_i|^2 + a4(Z_i) |m_i|^4]
        + sum_{pairs} [ phi(r) - J_{Z_i Z_j}(r) m_i . m_j ]
    phi(r) = D (exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))) fc(r)        (Morse)
    J(r)   = J0_{Z_i Z_j} exp(-(r - r0) / lam) fc(r),   fc(r) = (1 - (r/rc)^2)^2 for r < rc

Forces, stress (ASE sign, (1/V) dE/d strain) and magnetic forces -dE/dm are analytic.

Files:
- fe_al_noncollinear.extxyz: 5 frames of B2 FeAl (4-atom cells), non-collinear moment vectors,
  mace-style keys REF_energy / REF_forces / REF_stress (3x3, eV/A^3) / REF_magmom /
  REF_magforces; frame 3 has REF_magforces_mask (z components undefined), frame 4 has
  split=valid and config_weight=2.
- fe_al_collinear_mp.json: 4 MatPES-style records, collinear moments (scalars), stress as 6
  numbers in kbar with the VASP sign (positive = compressive), ASE Voigt order; record 2 keeps
  its moments in the structure's site properties instead of a 'magmoms' key.
- fe_al_nonmagnetic_mp.json: 2 records carrying only 'initial_magmoms' site properties (as in
  MatPES) and no final moments: readable only with non_magnetic=True.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

EV_PER_A3_IN_GPA = 160.21766208
HERE = Path(__file__).resolve().parent

E0 = {26: -3.0, 13: -1.0}
A2 = {26: -0.484, 13: 0.5}          # Fe: Landau minimum near |m| = 2.2 muB with A4
A4 = {26: 0.05, 13: 0.0}
J0 = {(26, 26): 0.010, (13, 26): 0.002, (26, 13): 0.002, (13, 13): 0.0}
D, ALPHA, R0, LAM, RC = 0.3, 1.5, 2.5, 1.0, 4.0


def _fc(r):
    x = (r / RC) ** 2
    return (1 - x) ** 2, -4 * r / RC**2 * (1 - x)


def toy_labels(positions, cell, pbc, numbers, magmoms):
    """(energy eV, forces [n,3] eV/A, stress [3,3] eV/A^3 ASE sign, magforces [n,3] eV/muB)."""
    from ase.neighborlist import primitive_neighbor_list
    positions = np.asarray(positions, float)
    m = np.asarray(magmoms, float)
    i, j, dvec = primitive_neighbor_list("ijD", pbc, np.asarray(cell, float), positions, RC,
                                         self_interaction=False)
    r = np.linalg.norm(dvec, axis=1)
    fc, dfc = _fc(r)
    ex1, ex2 = np.exp(-ALPHA * (r - R0)), np.exp(-2 * ALPHA * (r - R0))
    phi0 = D * (ex2 - 2 * ex1)
    dphi0 = D * (-2 * ALPHA * ex2 + 2 * ALPHA * ex1)
    jj = np.array([J0[(int(numbers[a]), int(numbers[b]))] for a, b in zip(i, j)])
    g0 = jj * np.exp(-(r - R0) / LAM)
    jr, djr = g0 * fc, -g0 / LAM * fc + g0 * dfc
    mm = np.einsum("pk,pk->p", m[i], m[j])
    e_pair = phi0 * fc - jr * mm                          # full list: each pair twice
    de_dr = dphi0 * fc + phi0 * dfc - djr * mm
    a2 = np.array([A2[int(z)] for z in numbers])
    a4 = np.array([A4[int(z)] for z in numbers])
    m2 = np.einsum("ik,ik->i", m, m)
    energy = (sum(E0[int(z)] for z in numbers) + np.sum(a2 * m2 + a4 * m2**2)
              + 0.5 * e_pair.sum())
    unit = dvec / r[:, None]
    forces = np.zeros_like(positions)
    np.add.at(forces, i, 0.5 * de_dr[:, None] * unit)
    np.add.at(forces, j, -0.5 * de_dr[:, None] * unit)
    volume = abs(np.linalg.det(cell))
    stress = 0.5 * np.einsum("p,pa,pb->ab", de_dr / r, dvec, dvec) / volume
    magforces = -(2 * a2 + 4 * a4 * m2)[:, None] * m
    np.add.at(magforces, i, jr[:, None] * m[j])
    return float(energy), forces, stress, magforces


def _frames(rng, n_frames, collinear):
    """B2 FeAl, 2x1x1 cubic supercell (4 atoms), strained + rattled, random moments."""
    out = []
    for _ in range(n_frames):
        a = 2.9 * (1 + 0.02 * rng.standard_normal())
        cell = np.diag([2 * a, a, a]) + 0.03 * rng.standard_normal((3, 3))
        frac = np.array([[0, 0, 0], [0.25, 0.5, 0.5], [0.5, 0, 0], [0.75, 0.5, 0.5]])
        pos = frac @ cell + 0.05 * rng.standard_normal((4, 3))
        numbers = np.array([26, 13, 26, 13])
        size = np.where(numbers == 26, 2.2 + 0.2 * rng.standard_normal(4),
                        0.05 * rng.standard_normal(4))
        if collinear:
            m = np.zeros((4, 3))
            m[:, 2] = size * rng.choice([-1.0, 1.0], 4)
        else:
            d = rng.standard_normal((4, 3))
            m = size[:, None] * d / np.linalg.norm(d, axis=1, keepdims=True)
        out.append((pos, cell, numbers, m))
    return out


def write_extxyz(path: Path, rng):
    import ase.io
    from ase import Atoms
    images = []
    for k, (pos, cell, numbers, m) in enumerate(_frames(rng, 5, collinear=False)):
        e, f, s, mf = toy_labels(pos, cell, [True] * 3, numbers, m)
        at = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
        at.info["REF_energy"] = e
        at.info["REF_stress"] = s
        at.info["config_type"] = "toy_b2"
        at.new_array("REF_forces", f)
        at.new_array("REF_magmom", m)
        at.new_array("REF_magforces", mf)
        if k == 3:
            mask = np.ones((4, 3), bool)
            mask[:, 2] = False
            at.new_array("REF_magforces_mask", mask)
        if k == 4:
            at.info["split"] = "valid"
            at.info["config_weight"] = 2.0
        images.append(at)
    ase.io.write(str(path), images, format="extxyz")


def _structure_dict(pos, cell, numbers, site_props=None):
    from ase.data import chemical_symbols
    inv = np.linalg.inv(cell)
    sites = []
    for k, (x, z) in enumerate(zip(pos, numbers)):
        el = chemical_symbols[int(z)]
        site = {"species": [{"element": el, "occu": 1}], "abc": (x @ inv).tolist(),
                "label": el, "properties": {}}
        if k % 2 == 0:
            site["xyz"] = x.tolist()        # both forms occur in pymatgen dicts
        if site_props:
            for name, vals in site_props.items():
                site["properties"][name] = vals[k]
        sites.append(site)
    return {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0,
            "lattice": {"matrix": cell.tolist(), "pbc": [True, True, True]},
            "properties": {}, "sites": sites}


def _kbar_vasp_voigt(stress):
    """ASE-sign eV/A^3 3x3 -> VASP-sign kbar, 6 numbers in ASE Voigt order (xx yy zz yz xz xy)."""
    s = -stress * EV_PER_A3_IN_GPA * 10.0
    return [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]


def write_mp_json(path: Path, rng):
    records = []
    for k, (pos, cell, numbers, m) in enumerate(_frames(rng, 4, collinear=True)):
        e, f, s, _ = toy_labels(pos, cell, [True] * 3, numbers, m)
        mz = m[:, 2].tolist()
        rec = {"matpes_id": f"toy-{k}", "nsites": 4, "elements": ["Al", "Fe"],
               "energy": e, "forces": f.tolist(), "stress": _kbar_vasp_voigt(s),
               "functional": "toy"}
        if k == 2:
            rec["structure"] = _structure_dict(pos, cell, numbers, {"magmom": mz})
        else:
            rec["structure"] = _structure_dict(pos, cell, numbers,
                                               {"initial_magmoms": [0.6] * 4})
            rec["magmoms"] = mz
        records.append(rec)
    path.write_text(json.dumps(records, indent=1))


def write_nonmagnetic_json(path: Path, rng):
    records = []
    for k, (pos, cell, numbers, _) in enumerate(_frames(rng, 2, collinear=True)):
        e, f, s, _ = toy_labels(pos, cell, [True] * 3, numbers, np.zeros((4, 3)))
        records.append({"matpes_id": f"toy-nm-{k}", "energy": e, "forces": f.tolist(),
                        "stress": _kbar_vasp_voigt(s),
                        "structure": _structure_dict(pos, cell, numbers,
                                                     {"initial_magmoms": [0.6] * 4})})
    path.write_text(json.dumps(records, indent=1))


def main():
    rng = np.random.default_rng(20240611)
    write_extxyz(HERE / "fe_al_noncollinear.extxyz", rng)
    write_mp_json(HERE / "fe_al_collinear_mp.json", rng)
    write_nonmagnetic_json(HERE / "fe_al_nonmagnetic_mp.json", rng)


if __name__ == "__main__":
    main()
