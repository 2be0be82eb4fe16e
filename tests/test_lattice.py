"""Material supercells for Monte Carlo: composition, magnetic mask, order patterns checked by
nearest-neighbour parallel/antiparallel counts (textbook values)."""
import numpy as np
import pytest

from mmace_fast.mc.lattice import material_lattice
from mmace_fast.neighbours import neighbour_list


def _nn_counts(lat, order, d_nn):
    i, j, _, d = neighbour_list(lat.positions, lat.cell, lat.pbc, d_nn * 1.01,
                                return_distances=True)
    keep = lat.magnetic[i] & lat.magnetic[j] & (np.abs(d - d_nn) < 1e-6)
    s = lat.signs[order]
    prod = (s[i] * s[j])[keep].reshape(-1)
    n_mag = lat.magnetic.sum()
    return np.sum(prod > 0) / n_mag, np.sum(prod < 0) / n_mag


@pytest.mark.parametrize("prototype,a,d_factor,order,expected", [
    ("bcc_Fe", 2.866, np.sqrt(3) / 2, "FM", (8, 0)),
    ("bcc_Fe", 2.866, np.sqrt(3) / 2, "AFM", (0, 8)),
    ("b2_FeAl", 2.91, 1.0, "AFM001", (4, 2)),     # Fe-Fe neighbours of B2 are simple cubic
    ("b2_FeAl", 2.91, 1.0, "AFMG", (0, 6)),
    ("rocksalt_CrN", 4.15, np.sqrt(0.5), "AFM1", (4, 8)),
    ("rocksalt_CrN", 4.15, np.sqrt(0.5), "AFM2", (6, 6)),
    ("rocksalt_CrN", 4.15, np.sqrt(0.5), "FM", (12, 0)),
    ("rocksalt_CrN", 4.15, np.sqrt(0.5), "AFM3", (4, 8)),
    ("rocksalt_CrN", 4.15, 1.0, "AFM3", (4, 2)),        # second shell: type III differs from I
    ("rocksalt_CrN", 4.15, 1.0, "AFM1", (6, 0)),
])
def test_order_patterns_nearest_neighbour_counts(prototype, a, d_factor, order, expected):
    lat = material_lattice(prototype, 2, a)
    par, anti = _nn_counts(lat, order, a * d_factor)
    assert (par, anti) == expected
    assert lat.signs[order].sum() == (lat.magnetic.sum() if order == "FM" else 0)


def test_composition_and_moments():
    lat = material_lattice("rocksalt_CrN", 2, 4.15)
    assert lat.n_sites == 64 and sorted(set(lat.numbers)) == [7, 24]
    np.testing.assert_array_equal(lat.magnetic, lat.numbers == 24)
    m = lat.moments("AFM2", 2.3)
    assert np.all(m[~lat.magnetic] == 0) and np.allclose(np.abs(m[lat.magnetic, 2]), 2.3)
    with pytest.raises(ValueError):
        lat.moments("AFM7", 1.0)
    odd = material_lattice("rocksalt_CrN", 1, 4.15)         # AFM2 / AFM3 need a period of 2a
    assert set(odd.incommensurate) == {"AFM2", "AFM3"} and "AFM1" in odd.signs
    with pytest.raises(ValueError, match="not periodic"):
        odd.moments("AFM2", 2.3)
    for bad in (dict(prototype="fcc_Ni", L=2, a=3.5), dict(prototype="bcc_Fe", L=0, a=2.8),
                dict(prototype="bcc_Fe", L=2, a=-1.0)):
        with pytest.raises(ValueError):
            material_lattice(**bad)
