"""The one place where mmace_fast states its units, signs and symmetry conventions.

Every other module (Python and, through the exported model file, C++) takes these from here.

Units
-----
energy        eV
length        Angstrom (A)
magnetic moment  Bohr magneton (muB); moment vectors m_i are [n_atoms, 3] arrays in muB
temperature   K; Boltzmann constant ``KB_EV_PER_K`` converts kT to eV
force         eV/A;  stress eV/A^3;  magnetic force -dE/dm in eV/muB
exchange J    eV per muB^2 when it multiplies moment vectors m_i . m_j, or eV when it multiplies
              unit vectors e_i . e_j (classical Heisenberg with |S| = 1). The spin Hamiltonian in
              ``mmace_fast.mc`` works with whatever vectors it is given: the couplings must be in
              the matching unit.

Sign and double counting of exchange
------------------------------------
    H = - sum_{pairs i<j, counted ONCE} J_ij  m_i . m_j
J > 0 is ferromagnetic. Each unordered pair (including distinct periodic images) appears exactly
once. Literature that writes H = -sum_{i != j} J_ij e_i . e_j (each pair TWICE, e.g. Pajda et al.
PRB 64, 174402 (2001)) has J_once = 2 J_twice: use :func:`pair_twice_to_once`.
Tensor exchange: E_ij = - m_i^T J_ij m_j with J_ij a 3x3 matrix (isotropic part J 1, the
antisymmetric part encodes DMI: D_ij . (m_i x m_j) with D = (J_yz - J_zy, J_zx - J_xz,
J_xy - J_yx)/2 up to the overall minus sign of H; symmetric traceless part = anisotropic exchange).
Biquadratic: E_ij = - B_ij (m_i . m_j)^2.
Single-ion: uniaxial E_i = - K_i (m_i . n_i)^2 (K > 0 easy axis); cubic E_i = - Kc_i (mx^4 + my^4
+ mz^4). Zeeman: E_i = - h . m_i with h in eV/muB; a field B in T gives
h = ``ZEEMAN_EV_PER_T_MUB`` * B.
Longitudinal (Landau) term per species: E_i = a2 |m_i|^2 + a4 |m_i|^4 + a6 |m_i|^6.

Monte Carlo measure for variable moment lengths
-----------------------------------------------
Metropolis with a symmetric proposal in the 3-vector m samples exp(-E/kT) d^3 m
= exp(-E/kT) |m|^2 d|m| dOmega (the measure of Landau-type spin-fluctuation models). This is the
measure of every longitudinal move in mmace_fast (``MEASURE = "d3m"``).

Spin dynamics
-------------
Time in fs. dm/dt = -gamma m x h (+ damping and noise, ``mmace_fast.dynamics``) with h = -dE/dm
in eV/muB and gamma = ``GAMMA_RAD_PER_FS_EV`` = g/hbar; a magnon of angular frequency omega
(rad/fs) has energy hbar omega = ``HBAR_EV_FS`` * omega eV.

Stress
------
Virial stress sigma = (1/V) dE/d(strain), eV/A^3, positive = tensile (ASE convention), Voigt
order (xx, yy, zz, yz, xz, xy).

Irreps and symmetry labels (e3nn ``mul x l p`` notation)
--------------------------------------------------------
positions / bond vectors: 1o (polar). Magnetic moments: axial vectors, 1e, so spherical harmonics
of a moment are all even ("le"), and time reversal T: m -> -m is a separate Z2 that no spatial
operation produces. In SOC mode each feature carries (l, P-parity, T-parity); Y_l(m) has
T-parity (-1)^l. In non-SOC mode space and spin rotate independently; spin-space inversion is T.
Energies are (0, +, +).

e3nn conventions that the C++ evaluator must match (read from the exported model, never
re-derived in C++)
-------------------------------------------------------------------------------------------
- layout ``mul_ir``: multiplicity outer, the 2l+1 components contiguous;
- real spherical harmonics, component normalisation |Y^l|^2 = 2l+1, l = 1 is sqrt(3) (x, y, z)
  in plain order, polar axis y (Y_e3nn(x, y, z) = textbook Y(z, x, y));
- Wigner 3j with Frobenius norm 1; signs differ between e3nn versions, hence e3nn is pinned
  (``E3NN_VERSION``) and every coupling tensor is exported from the trained model.
"""
from __future__ import annotations

import numpy as np

# --- physical constants (CODATA 2018) ---------------------------------------------------------
KB_EV_PER_K: float = 8.617333262e-5        #: Boltzmann constant, eV/K
MRY_IN_EV: float = 13.605693122994e-3      #: 1 mRy in eV
MUB_EV_PER_T: float = 5.7883818060e-5      #: Bohr magneton, eV/T
ZEEMAN_EV_PER_T_MUB: float = MUB_EV_PER_T  #: h [eV/muB] = this * B [T]
EV_PER_A3_IN_GPA: float = 160.21766208     #: 1 eV/A^3 in GPa
HBAR_EV_FS: float = 0.6582119569           #: reduced Planck constant, eV fs
G_SPIN: float = 2.00231930436              #: electron spin g-factor (spin dynamics)
#: gyromagnetic ratio of a moment in the project's units: dm/dt = -GAMMA m x h precesses at
#: GAMMA |h| rad/fs for h = -dE/dm in eV/muB (g / hbar; the moment is antiparallel to the spin)
GAMMA_RAD_PER_FS_EV: float = G_SPIN / HBAR_EV_FS

# --- conventions as data ----------------------------------------------------------------------
EXCHANGE_SIGN: int = -1          #: H = EXCHANGE_SIGN * sum_pairs J m_i.m_j
PAIRS_COUNTED: str = "once"      #: each unordered pair (incl. periodic images) once
MEASURE: str = "d3m"             #: Monte Carlo measure for variable |m|
MOMENT_IRREP: str = "1e"         #: moments are axial vectors
POSITION_IRREP: str = "1o"
VOIGT_ORDER: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")
E3NN_VERSION: str = "0.6.0"      #: pinned; coupling signs differ between e3nn versions
DTYPE = np.float64
#: atoms (or periodic images) closer than this (A) are one point counted twice: every path
#: that builds neighbours refuses them (mmace_fast.neighbours), rather than returning NaN
COINCIDENT_A: float = 1e-6


def kelvin_to_ev(t_kelvin):
    """kT in eV for a temperature in K."""
    return np.asarray(t_kelvin, dtype=float) * KB_EV_PER_K


def ev_to_kelvin(e_ev):
    """Temperature in K whose kT equals ``e_ev`` (eV)."""
    return np.asarray(e_ev, dtype=float) / KB_EV_PER_K


def pair_twice_to_once(j_twice):
    """Exchange from the 'each pair twice' convention (H = -sum_{i!=j} J e_i.e_j) to ours."""
    return 2.0 * np.asarray(j_twice, dtype=float)


def pair_once_to_twice(j_once):
    """Inverse of :func:`pair_twice_to_once`."""
    return 0.5 * np.asarray(j_once, dtype=float)


def mry_to_ev(x_mry):
    """Energy in mRy -> eV."""
    return np.asarray(x_mry, dtype=float) * MRY_IN_EV


def ev_to_mry(x_ev):
    """Energy in eV -> mRy."""
    return np.asarray(x_ev, dtype=float) / MRY_IN_EV
