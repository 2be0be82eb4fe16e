"""Training domains: recorded per shipped model, checked on evaluation, a warning once per model
when a structure is clearly outside, and the Monte Carlo summary says so."""
import logging

import numpy as np
import pytest

from mmace_fast.export.domain import BOND_FACTOR, TrainingDomain
from mmace_fast.models import available, load_frozen, training_domain

A_FE = 2.866


def _bcc(a, n=2):
    from mmace_fast.mc.lattice import material_lattice
    return material_lattice("bcc_Fe", n, a)


@pytest.mark.parametrize("grade", ["accurate", "mc"])
def test_every_shipped_model_records_its_domain(grade):
    for m in available(grade):
        dom = training_domain(m, grade)
        assert dom is not None and dom.min_bond and dom.moment_max and dom.density
        assert all(0.5 < r < 4.0 for r in dom.min_bond.values())


def test_domain_from_frames_is_what_the_frames_hold():
    from mmace_fast.data.records import Configuration
    cell = np.eye(3) * 4.0
    f = Configuration(positions=[[0, 0, 0], [1.5, 0, 0]], cell=cell, pbc=[True] * 3,
                      numbers=[26, 13], magmoms=[[0, 0, 2.2], [0, 0, 0.1]])
    dom = TrainingDomain.from_frames([f], cutoff=3.0)
    assert dom.min_bond == {"13-26": pytest.approx(1.5)}      # Fe-Fe / Al-Al only at 4 A > 3
    assert dom.moment_max == {"13": pytest.approx(0.1), "26": pytest.approx(2.2)}
    assert dom.density == [pytest.approx(2 / 64)] * 2
    assert TrainingDomain.from_dict(dom.to_dict()) == dom
    # inside: the frame itself; outside: compressed, a new pair, a long moment
    assert dom.check(f.positions, cell, f.pbc, f.numbers, f.magmoms) == []
    squeezed = dom.check(f.positions * 0.8, cell * 0.8, f.pbc, f.numbers, f.magmoms)
    assert any("13-26 bond 1.20 A" in r for r in squeezed) and any("density" in r for r in squeezed)
    new_pair = dom.check([[0, 0, 0], [2.0, 0, 0]], cell, f.pbc, [26, 26], f.magmoms)
    assert any("26-26" in r and "no such pair" in r for r in new_pair)
    long_m = dom.check(f.positions, cell, f.pbc, f.numbers, [[0, 0, 3.0], [0, 0, 0.1]])
    assert long_m == ["Z=26 moment 3.00 muB, longest in training 2.20 muB"]


def test_frozen_model_warns_once_and_the_protocol_says_so(caplog, tmp_path):
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    frozen = load_frozen("fe", "mc")
    ok = _bcc(A_FE)
    with caplog.at_level(logging.WARNING):
        ham = FrozenMMACEHamiltonian.from_arrays(frozen, ok.positions, ok.cell, ok.pbc,
                                                 ok.numbers)
    assert ham.extrapolation == [] and "outside its training data" not in caplog.text
    a_small = 0.95 * BOND_FACTOR * frozen.domain.min_bond["26-26"] * 2 / np.sqrt(3)
    bad = _bcc(a_small)
    with caplog.at_level(logging.WARNING):
        ham = FrozenMMACEHamiltonian.from_arrays(frozen, bad.positions, bad.cell, bad.pbc,
                                                 bad.numbers)
        FrozenMMACEHamiltonian.from_arrays(frozen, bad.positions, bad.cell, bad.pbc,
                                           bad.numbers)
    assert any("26-26 bond" in r for r in ham.extrapolation)
    assert caplog.text.count("outside its training data") == 1          # once per model
    # the Monte Carlo summary carries it
    from mmace_fast.compare.thermo import SMOKE_PLANS
    from mmace_fast.mc.protocol import TcProtocol, run_tc_protocol
    from mmace_fast.mc.scan import System

    def build(L):
        lat = _bcc(a_small, L)
        h = FrozenMMACEHamiltonian.from_arrays(frozen, lat.positions, lat.cell, lat.pbc,
                                               lat.numbers)
        return System(h, lat.moments("FM", 2.2))
    proto = TcProtocol(**dict(SMOKE_PLANS["mmace"], bracket=(600.0, 1400.0), threads=1))
    res = run_tc_protocol(build, {"move": "gaussian"}, proto, workdir=str(tmp_path), seed=1)
    assert "outside its training data" in res.note and "26-26 bond" in res.note
    assert res.runs[0].extrapolation


@pytest.mark.parametrize("kind", ["torch", "default"])
def test_calculators_warn_once(caplog, kind):
    """The torch calculator and the default (frozen, C++) one watch the training domain."""
    from mmace_fast.models import default_calculator, torch_calculator
    if kind == "torch":
        pytest.importorskip("torch")
        calc = torch_calculator("fe", "mc")
        watch = calc.watch
    else:
        calc = default_calculator("fe", "mc")
        watch = calc.model.watch
    lat = _bcc(0.8 * A_FE, 1)
    from ase import Atoms
    atoms = Atoms(numbers=lat.numbers, positions=lat.positions, cell=lat.cell, pbc=True)
    atoms.set_initial_magnetic_moments([2.2] * len(atoms))
    atoms.calc = calc
    with caplog.at_level(logging.WARNING):
        atoms.get_potential_energy()
        atoms.positions += 0.01
        atoms.get_forces()
    assert caplog.text.count("outside its training data") == 1
    assert any("density" in r for r in watch.warned)
