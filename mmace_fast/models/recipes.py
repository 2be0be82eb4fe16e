"""The recipes of the shipped models: architecture and training settings per material and grade.

Data, no code paths: the release (:mod:`mmace_fast.training.release`, ``mmace models train``)
trains from these, the benchmarks that compare training choices (benchmarks/bench_dft_models.py,
bench_arch_table.py, bench_finetune.py, bench_uncertainty.py) start from them, and a shipped
model's model.json records the settings it was trained with. The comments say why each
per-material override exists (measured in benchmarks/RESULTS.md). Pure Python (no torch).

Grades: "accurate" (:data:`MODEL`, two layers) and "mc", the Monte Carlo grade (one layer, 8
channels, correlation 2, r_cut 6 A: the front of the cost-accuracy table of issue 29,
:data:`GRADE_MODEL`), shipped as models/<material> and models/<material>_mc.
"""
from __future__ import annotations

from mmace_fast.materials import MATERIALS as REGISTRY

MAGNETIC = {k: m.magnetic[0] for k, m in REGISTRY.items()}   # species carrying the moment
REFERENCE_STATE = {"fe": "ideal1_FM", "feal": "ideal2_FM", "crn": "ideal4_AFM1",
                   "fept": "ideal2_aniso_FM001"}
#: per-species moment scales (muB): the typical moment sits at ~0.8 of the scale, so the
#: magnitude features resolve it (FeAl's Fe moment is ~0.8 muB, Fe's ~2.2, Cr's ~2.4; in
#: L1_0 FePt Fe ~2.9 and the induced Pt moment ~0.35)
MOMENT_SCALE = {"fe": {26: 2.8}, "feal": {26: 1.0, 13: 0.5}, "crn": {24: 3.0, 7: 0.5},
                "fept": {26: 3.5, 78: 0.5}}

MODEL = dict(r_cut=5.0, n_bessel=8, cutoff_p=6, radial_mlp=[32, 32], n_channels=16,
             l_max_sh=2, l_max_message=2, l_max_hidden=1, n_layers=2, correlation=3,
             readout_mlp=[16], soc=False, l_spin_max=2, n_mag_features=4, centre_spin=True,
             landau_order=2)
QUICK_MODEL = dict(MODEL, radial_mlp=[16], n_channels=8, correlation=2)
#: per-material changes to MODEL: FePt is the spin-orbit material (DATA.md "FePt"), its energy
#: depends on the moment directions relative to the lattice, so its model is the SOC variant
MODEL_OVERRIDES = {"fept": dict(soc=True)}
TRAIN = dict(energy_weight=1000.0, forces_weight=10.0, stress_weight=1000.0,
             magforces_weight=10.0, batch_size=4, valid_batch_size=8, lr=0.01,
             scheduler="plateau", lr_factor=0.5, scheduler_patience=25, patience=80,
             max_epochs=400, ema=True, ema_decay=0.99, seed=0, e0s="fit", progress=False,
             moment_stability_weight=10.0, moment_stability_min_moment=0.5,
             moment_stability_curvature=0.1,
             moment_stability_range=[0.3, 2.5])
#: what --quick changes, applied after a material's overrides (which may set max_epochs)
QUICK_CHANGES = dict(max_epochs=30, patience=None)
QUICK_TRAIN = dict(TRAIN, **QUICK_CHANGES)
#: per-material changes to TRAIN. FeAl's Fe moment (0.78 muB) is small and its Landau well
#: shallow (NM 15.7 meV/atom above FM): a constant curvature threshold from s = 0.3 contradicts
#: a Landau well below its inflection (s < 0.58) and left an unconstrained spurious barrier
#: at s < 0.3 through which relaxation fell to m = 0; the "landau" threshold c_min s (s + 1) / 2
#: down to s = 0.05 asks for E to fall monotonically from m = 0 to the DFT moment instead.
#: The species without a moment of their own (Al, N, Pt) get the induced-moment prior
#: (mmace_fast.training.loss): with forces_weight 50 an FeAl model without it put -2.9 muB on
#: Al and 2.9 eV/atom below the DFT ground state. FeAl's G-type AFM starts all collapse to the
#: non-magnetic state in DFT; without the collapse prior (training/loss.py) every FeAl model of
#: 2026-12-05 invented an AFM-G minimum at ~0.78 muB; with it, forces_weight 50 fits FeAl
#: better on every held-out label than 10 (benchmarks/RESULTS.md, 2026-12-05).
#: CrN's N prior probes +-axis sign patterns (``"mixed"``) from 0.05 muB: with random 3-D
#: directions from 0.3 muB only, a CrN model relaxed orthorhombic AFM2 into +-0.26 muB on N,
#: 16.6 meV/atom above the DFT state (RESULTS.md, 2026-12-06).
TRAIN_OVERRIDES = {"feal": dict(moment_stability_profile="landau",
                                moment_stability_range=[0.05, 2.5],
                                moment_stability_induced_species=[13],
                                # 2026-12-06: with random Al probes from 0.3 muB the 84-frame
                                # model kept 0.22 muB on Al in the AFM001 cell (a spurious
                                # minimum 62 meV/atom up); +-axis probes from 0.05 muB (as for
                                # N in CrN) remove it
                                moment_stability_induced_directions="mixed",
                                moment_stability_induced_range=[0.05, 1.5],
                                moment_collapse_prior=True, forces_weight=50.0),
                   # 2026-12-06: with the Gamma-P spirals in training the best-valid pick was
                   # epoch 71 of 400 (high lr; its valid loss 0.1 % below the converged one,
                   # every valid MAE worse); the converged last epoch is kept instead
                   "fe": dict(patience=None, keep_model="last"),
                   "crn": dict(moment_stability_induced_species=[7],
                               moment_stability_induced_range=[0.05, 1.5],
                               moment_stability_induced_directions="mixed"),
                   # FePt (2026-12-06, RESULTS.md): magnetic-force weight 10 doubled the
                   # anisotropy through a torque on the free Pt moment; the Pt prior with
                   # random directions from 0.3 muB left a 160-280 meV/atom hole in E(m_Pt).
                   # With weight 100, +-axis Pt probes from 0.05 muB and a full-batch cosine
                   # schedule (10 frames): hole 0.3 meV/atom, K1 2.7 of DFT's 3.5 meV/f.u.
                   # 2026-12-06 (18 frames, 9 strained): batches of 2 (7 steps per epoch,
                   # 11 s per epoch against 20 s for one full batch beside two GPAW jobs), the
                   # cosine schedule to lr 0 and its last epoch (the valid split is one frame,
                   # too few to pick an epoch by). 2026-12-06 (23 frames, RESULTS.md): forces
                   # weight 300 (the rattled cells are a few per cent of the force components,
                   # the rest zero by symmetry), energy weight 10000 (at 1000 the train energy
                   # stalled at 6 meV/atom and E(V) went through the Fe moment) and the
                   # anisotropy frames' energies and magnetic forces weighted x10 (their
                   # direction dependence, 1.8 meV/atom over 90 deg, is below the other frames'
                   # errors): test E 0.61 meV/atom, dE/dV 67 of 69 meV/A^3, E(hard) 3.58 of 3.65
                   # meV/f.u., relaxed Fe 2.73 of 2.75 muB
                   "fept": dict(moment_stability_induced_species=[78],
                                moment_stability_induced_directions="mixed",
                                moment_stability_induced_range=[0.05, 1.5],
                                magforces_weight=100.0, batch_size=2, scheduler="cosine",
                                lr=0.005, ema=False, patience=None, max_epochs=150,
                                keep_model="last", forces_weight=300.0, energy_weight=10000.0,
                                config_type_weights={"ideal2_aniso_*": {"energy": 10.0,
                                                                        "magforces": 10.0}})}


def model_settings(material: str, quick: bool, grade: str = "accurate") -> dict:
    """MODEL (or QUICK_MODEL) with the material's overrides and, for a full run, the grade's
    changes (:data:`GRADE_MODEL`)."""
    if grade not in GRADE_MODEL:
        raise ValueError(f"unknown grade {grade!r}; choose from {sorted(GRADE_MODEL)}")
    return dict(QUICK_MODEL if quick else MODEL, **MODEL_OVERRIDES.get(material, {}),
                **({} if quick else GRADE_MODEL[grade]))


def train_settings(material: str, quick: bool, **changes) -> dict:
    """TRAIN with the material's overrides, then QUICK_CHANGES (--quick), then ``changes``
    (command line)."""
    return {**TRAIN, **TRAIN_OVERRIDES.get(material, {}), **(QUICK_CHANGES if quick else {}),
            **changes}


#: architecture changes of each grade to MODEL (benchmarks/RESULTS.md, "Cost against accuracy
#: of mMACE architectures": L1 C8 c2 6 A is the most accurate one-layer variant on energies and
#: magnetic forces at 19 times the accurate model's trial rate)
GRADE_MODEL = {"accurate": {}, "mc": dict(n_layers=1, n_channels=8, correlation=2, r_cut=6.0)}
