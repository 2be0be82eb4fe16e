"""Crystal prototypes and magnetic order patterns, shared by the DFT generator
(:mod:`mmace_fast.data.dft.structures`) and the Monte Carlo lattices (:mod:`mmace_fast.mc.lattice`).

A prototype is a conventional cell with its species (:func:`conventional_cell`); an order pattern
is a sign +-1 per site as a function of the site's ideal Cartesian position in units of the
cubic lattice constant a (:data:`PATTERNS`). Which prototype and patterns each material uses is
in the registry, :mod:`mmace_fast.materials`. No torch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from ase import Atoms


class PrototypeError(ValueError):
    """Unknown prototype."""


_FCC = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])

#: prototype -> (species of the sites, fractional coordinates [n, 3]) of the conventional cell
_CELLS: dict[str, tuple[list[str], np.ndarray]] = {
    "bcc_Fe": (["Fe", "Fe"], np.array([[0, 0, 0], [0.5, 0.5, 0.5]])),
    "b2_FeAl": (["Fe", "Al"], np.array([[0, 0, 0], [0.5, 0.5, 0.5]])),
    "rocksalt_CrN": (["Cr"] * 4 + ["N"] * 4, np.vstack([_FCC, _FCC + [0.5, 0, 0]]) % 1.0),
    # CuAu-type L1_0: Fe (001) planes at z = 0, Pt planes at z = c/2
    "l10_FePt": (["Fe", "Fe", "Pt", "Pt"], np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                                     [0, 0.5, 0.5]])),
}
#: prototypes whose conventional cell is tetragonal a x a x c (the rest are cubic)
TETRAGONAL = ("l10_FePt",)
PROTOTYPES = tuple(_CELLS)


def conventional_cell(prototype: str, a: float, c: float | None = None) -> Atoms:
    """Conventional cell of ``prototype`` at lattice constant ``a`` (A); cubic, except the
    :data:`TETRAGONAL` ones: a x a x ``c`` (``c`` defaults to ``a``, ignored for cubic ones)."""
    if prototype not in _CELLS:
        raise PrototypeError(f"unknown prototype {prototype!r}; known: {sorted(_CELLS)}")
    sym, frac = _CELLS[prototype]
    c = a if c is None or prototype not in TETRAGONAL else float(c)
    return Atoms(sym, scaled_positions=frac, cell=np.diag([a, a, c]), pbc=True)


# --- magnetic patterns: sign per site from ideal positions in units of a ---------------------

def _sign_fm(u: np.ndarray) -> int:
    return 1


def _sign_afm_bcc(u: np.ndarray) -> int:
    """bcc checkerboard (B2-type magnetic order): corner +, body centre -."""
    return 1 if int(np.rint(2 * u[0])) % 2 == 0 else -1


def _sign_afm_001(u: np.ndarray) -> int:
    """Simple-cubic (001) layers alternating every a (B2 FeAl, Fe sublattice)."""
    return 1 if int(np.rint(u[2])) % 2 == 0 else -1


def _sign_afm_g(u: np.ndarray) -> int:
    """Simple-cubic G-type checkerboard (B2 FeAl, Fe sublattice)."""
    return 1 if int(np.rint(u.sum())) % 2 == 0 else -1


def _sign_afm1(u: np.ndarray) -> int:
    """fcc (001) planes alternating (rocksalt AFM1); planes a/2 apart."""
    return 1 if int(np.rint(2 * u[2])) % 2 == 0 else -1


def _sign_afm2(u: np.ndarray) -> int:
    """fcc (110) planes stacked up-up-down-down along [110] (rocksalt AFM2)."""
    return 1 if int(np.rint(2 * (u[0] + u[1]))) % 4 in (0, 1) else -1


def _sign_afm3(u: np.ndarray) -> int:
    """fcc type III, q = (2 pi / a)(1, 1/2, 0): sign of cos(q.R - pi/4) (rocksalt AFM3)."""
    return 1 if int(np.rint(4 * u[0] + 2 * u[1])) % 4 in (0, 1) else -1


#: order pattern -> sign (+-1) of a site at ideal position u (units of a)
PATTERNS: dict[str, Callable[[np.ndarray], int]] = {
    "FM": _sign_fm, "AFM": _sign_afm_bcc, "AFM001": _sign_afm_001, "AFMG": _sign_afm_g,
    "AFM1": _sign_afm1, "AFM2": _sign_afm2, "AFM3": _sign_afm3,
}
