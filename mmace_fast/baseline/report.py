"""Markdown tables of baseline fits (the "Heisenberg baseline fits (issue 6)" section of
benchmarks/RESULTS.md is made from :func:`markdown_section`)."""
from __future__ import annotations

import numpy as np

from mmace_fast.mc.presets import PAJDA_J_MRY

_ERR = (("energy", "E meV/atom"), ("forces", "F meV/A"), ("stress", "S meV/A^3"),
        ("magforces", "magF meV/muB"))


def _fmt(x, nd=2):
    return "-" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def exchange_table(fits) -> list[str]:
    """Rows: material, model, pair, shell, d, z, J (pair once, meV per muB^2 and for unit
    vectors), pair-twice mRy, sigma, lambda."""
    out = ["| material | model | pair | shell | d (A) | z | J (meV/muB^2, pair once) | "
           "J M^2 (meV, pair once) | J M^2 (mRy, pair twice) | prior fraction | lambda |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in fits:
        for r in f.exchange:
            out.append(
                f"| {f.material} | {f.kind} | {r['pair'][0]}-{r['pair'][1]} | {r['shell']} | "
                f"{r['distance']:.3f} | {r['counts'][0]:g} | {1e3 * r['J']:.3f} +- "
                f"{1e3 * r['sigma']:.3f} | {r['J_unit_once_meV']:.2f} +- "
                f"{r['sigma_unit_once_meV']:.2f} | {r['J_unit_twice_mRy']:.3f} +- "
                f"{r['sigma_unit_twice_mRy']:.3f} | {_fmt(r['prior_fraction'])} | {f.lam:.0e} |")
        for d in f.dropped:
            out.append(f"| {f.material} | {f.kind} | {d['name']} | dropped | | | not determined "
                       f"by the data | | | {d['worst_prior_fraction']:.2f} | |")
    return out


def error_table(fits) -> list[str]:
    out = ["| material | model | frames fit / test | " + " | ".join(
        f"test {lab} (MAE / RMSE)" for _, lab in _ERR)
           + " | train E (RMSE) | mean-field T (K), mode |",
           "|---|---|---|" + "---|" * len(_ERR) + "---|---|"]
    for f in fits:
        cells = []
        for q, _ in _ERR:
            e = f.test_errors.get(q)
            cells.append("-" if e is None else f"{e['mae']:.2f} / {e['rmse']:.2f}")
        tr = f.train_errors.get("energy", {}).get("rmse")
        mf = f.mean_field.get("T_K")
        order = ""
        if f.mean_field:
            q = ", ".join(f"{x:g}" for x in f.mean_field.get("q", ()))
            order = " (FM)" if f.mean_field.get("fm_weight", 0) > 0.99 else f" (q = {q})"
        out.append(f"| {f.material} | {f.kind} | {f.n_fit} / {f.n_test} | " + " | ".join(cells)
                   + f" | {_fmt(tr)} | {_fmt(mf, 0)}{order} |")
    return out


def pajda_sentence(fe_fit) -> str:
    """One sentence comparing the Fe J1 (and J2 if fitted) with Pajda et al."""
    rows = {r["shell"]: r for r in fe_fit.exchange if r["pair"] == (26, 26)}
    parts = []
    for k in (1, 2):
        if k in rows:
            r = rows[k]
            parts.append(f"J{k} = {r['J_unit_twice_mRy']:.2f} +- {r['sigma_unit_twice_mRy']:.2f}"
                         f" mRy (Pajda {PAJDA_J_MRY[k - 1]:.3f})")
        else:
            parts.append(f"J{k} not determined by the data (Pajda {PAJDA_J_MRY[k - 1]:.3f})")
    return f"Fe {fe_fit.kind}: " + "; ".join(parts) + " (pair twice, unit vectors, M = " \
        f"{fe_fit.moments[26]:.2f} muB)."


def fe_spiral_table(fe_fits, n: int = 6) -> list[str]:
    """E(q) - E(0) (meV/atom) of Fe flat spirals along Gamma-H, Gamma-N and Gamma-P with the moment
    length relaxed at every q (Landau terms), for each fitted model."""
    from mmace_fast.baseline.spiral import spiral_energies
    if not fe_fits:
        return []
    a = float(fe_fits[0].reference.cell[0, 0])
    t = np.linspace(0.0, 1.0, n)
    paths = {"Gamma-H": np.outer(t, [1.0, 0, 0]), "Gamma-N": np.outer(t, [0.5, 0.5, 0]),
             "Gamma-P": np.outer(t, [0.5, 0.5, 0.5])}
    out = ["| model | path | " + " | ".join(f"{x:.1f}" for x in t) + " |",
           "|---|---|" + "---|" * n]
    for f in fe_fits:
        for name, q in paths.items():
            s = spiral_energies(f.model, f.reference, q * 2 * np.pi / a, f.moments, relax=True)
            e = (s["energy"] - s["energy"][0]) * 1e3
            m = s["lengths"][:, 0]
            out.append(f"| {f.kind} | {name} | " + " | ".join(
                f"{v:.0f} ({mm:.2f})" for v, mm in zip(e, m)) + " |")
    return out
