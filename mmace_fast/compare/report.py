"""Summary, markdown tables and plots of a head-to-head result (see :mod:`.headtohead`).

:func:`summary` reduces the full result to the benchmark's headline keys (:data:`SUMMARY_KEYS`);
:func:`markdown` writes the RESULTS.md tables; :func:`plots` writes PNGs (matplotlib is an
optional dependency: without it :func:`plots` returns [] and logs why).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mmace_fast.compare.thermo import T_EXP

log = logging.getLogger(__name__)

SUMMARY_KEYS = ("fe_e_mae_ratio", "fe_f_mae_ratio", "fe_magf_mae_ratio", "crn_f_mae_ratio",
                "feal_f_mae_ratio", "fe_tc_mmace_k", "fe_tc_heis_k", "crn_tn_mmace_k",
                "crn_tn_heis_k")
QSHORT = {"energy": "e", "forces": "f", "stress": "s", "magforces": "magf"}


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def summary(result: dict, split: str = "valid_test") -> dict:
    """Headline figures: baseline (spin-lattice) / mMACE MAE ratios on ``split`` and the
    ordering temperatures (Binder crossings, K); every None comes with ``<key>_reason``."""
    out = {}
    acc = result.get("accuracy", {})
    for m in ("fe", "feal", "crn"):
        for q, s in QSHORT.items():
            key = f"{m}_{s}_mae_ratio"
            r = _get(acc, m, "ratios", split, "spin_lattice", q)
            out[key] = r
            if r is None:
                if m not in acc:
                    out[key + "_reason"] = "accuracy stage not run for this material"
                elif _get(acc, m, "errors", split, "mmace", q) is None:
                    out[key + "_reason"] = f"no {q} labels in the {split} frames"
                else:
                    out[key + "_reason"] = f"mMACE {q} error is zero (symmetric frames)"
            nm = _get(acc, m, "ratios", split, "nonmagnetic", q)
            if nm is not None:
                out[f"{m}_{s}_mae_ratio_nonmagnetic"] = nm
    th = result.get("thermo", {})
    for m, tag in (("fe", "tc"), ("crn", "tn"), ("feal", "tc")):
        for kind, short in (("mmace_fixed", "mmace"), ("heisenberg", "heis"),
                            ("mmace_free", "mmace_free"), ("pajda", "pajda")):
            key = f"{m}_{tag}_{short}_k"
            mod = _get(th, m, "models", kind)
            if mod is None:
                if m == "fe" or kind in ("mmace_fixed", "heisenberg"):
                    out[key] = None
                    out[key + "_reason"] = "thermo stage not run for this model"
                continue
            out[key] = mod.get("tc_K")
            out[key + "_err"] = mod.get("tc_err_K")
            out[key + "_method"] = mod.get("tc_method")
            out[key + "_reliable"] = mod.get("errors_reliable")
            if mod.get("tc_K") is None:
                out[key + "_reason"] = mod.get("reason", "no estimate")
            if mod.get("first_order"):
                out[key + "_first_order_T"] = mod["first_order"]["T"]
            if m == "crn":
                out[f"crn_order_{short}"] = mod.get("order")
    for k in SUMMARY_KEYS:
        out.setdefault(k, None)
    return out


def _fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.{nd}f}"


def accuracy_table(result: dict, split: str) -> list[str]:
    lines = ["| material | model | E meV/atom | F meV/A | S meV/A^3 | magF meV/muB | "
             "ratio E / F / S / magF (vs mMACE) |",
             "|---|---|---|---|---|---|---|"]
    for m, a in result.get("accuracy", {}).items():
        for name in ("mmace", "spin_lattice", "fixed_lattice", "nonmagnetic"):
            e = _get(a, "errors", split, name) or {}
            cells = [_fmt(_get(e, q, "mae")) + (f" ({_fmt(_get(e, q, 'rmse'))})"
                                                if _get(e, q) else "") for q in QSHORT]
            r = _get(a, "ratios", split, name) or {}
            rat = " / ".join(_fmt(r.get(q), 1) for q in QSHORT) if name != "mmace" else ""
            lines.append(f"| {m} | {name} | " + " | ".join(cells) + f" | {rat} |")
    return lines


def ordering_table(result: dict) -> list[str]:
    lines = ["| material | state | split | DFT | mMACE | fixed-lattice | spin-lattice |",
             "|---|---|---|---|---|---|---|"]
    for m, a in result.get("accuracy", {}).items():
        rel = _get(a, "ordering", "relative") or {}
        for s in a.get("states", []):
            r = rel.get(s["state"], {})
            lines.append(f"| {m} | {s['state']} | {s['split']} | " + " | ".join(
                _fmt(r.get(k), 1) for k in ("dft", "mmace", "fixed_lattice", "spin_lattice"))
                + " |")
        o = a.get("ordering", {})
        lines.append(f"| {m} | pairs agreeing (> 1 meV/atom in DFT) | | | " + " | ".join(
            f"{_get(o, k, 'agree')}/{_get(o, k, 'pairs')}" for k in
            ("mmace", "fixed_lattice", "spin_lattice")) + " |")
    return lines


def spiral_table(result: dict) -> list[str]:
    sp = result.get("spirals")
    if not sp:
        return []
    # "DFT point": train = a training frame of every model (data.spirals.read_with_spirals),
    # test = held out (spiral_split), - = no DFT point or q = 0
    srcs = ["dft", "pajda", "mmace_fixed", "mmace_relaxed", "fixed_lattice_fixed",
            "fixed_lattice_relaxed", "spin_lattice_fixed", "spin_lattice_relaxed"]
    lines = ["| path | x | DFT point | " + " | ".join(srcs) + " |",
             "|---|---|---|" + "---|" * len(srcs)]
    for r in sp["rows"]:
        cells = []
        for s in srcs:
            v = r.get(s)
            cells.append("-" if not v else f"{_fmt(v.get('de_mev'), 0)} ({_fmt(v.get('m'))})")
        lines.append(f"| {r['path']} | {r['x']:.2f} | {r.get('dft_split') or '-'} | "
                     + " | ".join(cells) + " |")
    dis = sp.get("disorder_energy_mev") or {}
    if dis and "error" not in dis:
        lines += ["", "Disorder energy <E(random directions)> - E(FM), meV/Fe atom at the DFT "
                  "moment: " + ", ".join(f"{k} {v['mean']:.0f} +- {v['sem']:.0f}"
                                         for k, v in dis.items())]
    return lines


def thermo_table(result: dict) -> list[str]:
    """One row per material and model: the protocol's Tc (an error marked '+' is a lower
    bound: a size stopped on its budget), how it was obtained, every pair's crossing."""
    lines = ["| material | model | order | sizes | sweeps | Tc (K) | method | U4* | "
             "pair crossings (K) | exp (K) | deviation |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, th in result.get("thermo", {}).items():
        for kind, r in th.get("models", {}).items():
            texp = T_EXP.get(m)
            best, err = r.get("tc_K"), r.get("tc_err_K")
            if best is None:
                est = r.get("reason", "-")
            else:
                est = f"{best:.0f} +- {err:.0f}" + ("" if r.get("errors_reliable") else "+")
            fo = r.get("first_order")
            method = r.get("tc_method", "-") or "-"
            if fo:
                method += f"; first order (U4 {fo['u4_min']:.2f} at {fo['T']:.0f} K)"
            pairs = ", ".join(f"{p['L1']}/{p['L2']}: {p['tc']:.0f}" for p in r.get("pairs", [])
                              if p.get("tc") is not None)
            dev = f"{100 * (best - texp) / texp:+.0f} %" if best is not None and texp else "-"
            sizes = ",".join(str(x) for x in r.get("sizes", [])) or "-"
            sweeps = ",".join(str(x) for x in r.get("sweeps", [])) or "-"
            lines.append(f"| {m} | {r.get('name', kind)} | {r.get('order', '-')} | {sizes} | "
                         f"{sweeps} | {est} | {method} | {_fmt(r.get('u4_cross'), 3)} | "
                         f"{pairs or '-'} | {texp or '-'} | {dev} |")
    return lines


def markdown(result: dict) -> str:
    parts = ["Errors on valid + test (MAE, RMSE in brackets):", ""]
    parts += accuracy_table(result, "valid_test")
    parts += ["", "Errors on the test split only:", ""] + accuracy_table(result, "test")
    parts += ["", "Ideal-cell states (meV/atom above each source's lowest, at the DFT moments):",
              ""] + ordering_table(result)
    sp = spiral_table(result)
    if sp:
        parts += ["", "Fe flat spirals, E(q) - E(0) meV/atom (|m| muB):", ""] + sp
    parts += ["", "Ordering temperatures (the one Tc protocol; '+': the error is a lower "
              "bound):", ""] + thermo_table(result)
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- plots
def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        log.warning("matplotlib not installed: no plots (pip install matplotlib)")
        return None


def plots(result: dict, out_dir) -> list[str]:
    """Parity plots, Fe E(q), and M / chi / U4 against T; returns the written paths."""
    plt = _plt()
    if plt is None:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fn in (_parity_plot, _spiral_plot, _thermo_plot):
        try:
            written += fn(plt, result, out_dir)
        except Exception as exc:                 # one broken plot must not lose the others
            log.warning("plot %s failed: %s", fn.__name__, exc)
    return written


def _parity_plot(plt, result, out_dir) -> list[str]:
    acc = result.get("accuracy", {})
    if not acc:
        return []
    qs = ("energy", "forces", "stress")
    fig, axes = plt.subplots(len(acc), len(qs), figsize=(4 * len(qs), 3.6 * len(acc)),
                             squeeze=False)
    for i, (m, a) in enumerate(acc.items()):
        for j, q in enumerate(qs):
            ax = axes[i][j]
            for name, mk in (("mmace", "o"), ("spin_lattice", "s"), ("nonmagnetic", "^")):
                pair = _get(a, "parity", name, q)
                if pair:
                    y, p = np.asarray(pair[0]), np.asarray(pair[1])
                    if q == "energy":      # energies relative to the mean label
                        y, p = y - y.mean(), p - y.mean()
                    ax.plot(y, p, mk, ms=4, alpha=0.6, label=name)
            lim = ax.get_xlim()
            ax.plot(lim, lim, "k-", lw=0.6)
            unit = {"energy": "meV/atom (minus mean)", "forces": "meV/A",
                    "stress": "meV/A^3"}[q]
            ax.set_title(f"{m} {q} (valid + test)")
            ax.set_xlabel(f"DFT {unit}")
            ax.set_ylabel("model")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.tight_layout()
    p = out_dir / "head_to_head_parity.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [str(p)]


def _spiral_plot(plt, result, out_dir) -> list[str]:
    sp = result.get("spirals")
    if not sp:
        return []
    paths = ("Gamma-H", "Gamma-N", "Gamma-P")
    fig, axes = plt.subplots(1, len(paths), figsize=(15, 4), sharey=True)
    styles = {"dft": "k*-", "pajda": "k:", "mmace_fixed": "o-", "mmace_relaxed": "o--",
              "fixed_lattice_fixed": "s-", "fixed_lattice_relaxed": "s--",
              "spin_lattice_fixed": "^-", "spin_lattice_relaxed": "^--"}
    for ax, path in zip(axes, paths):
        rows = [r for r in sp["rows"] if r["path"] == path]
        for s, st in styles.items():
            pts = [(r["x"], r[s]["de_mev"]) for r in rows if r.get(s) and
                   r[s].get("de_mev") is not None]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, st, label=s, ms=4)
        ax.set_title(f"bcc Fe flat spirals, {path}")
        ax.set_xlabel(f"q / q_{path[-1]}")
    axes[0].set_ylabel("E(q) - E(0) (meV/atom)")
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=7)
    fig.tight_layout()
    p = out_dir / "head_to_head_spirals.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [str(p)]


def _thermo_plot(plt, result, out_dir) -> list[str]:
    """Reweighted |M|, chi and U4 of every size per model, with the Tc and experiment."""
    written = []
    for m, th in result.get("thermo", {}).items():
        models = {k: r for k, r in th.get("models", {}).items() if r.get("curves")}
        if not models:
            continue
        fig, axes = plt.subplots(3, len(models), figsize=(3.6 * len(models), 8.4),
                                 squeeze=False)
        for j, (kind, r) in enumerate(models.items()):
            for L, c in sorted(r["curves"].items(), key=lambda kv: int(kv[0])):
                T = np.asarray(c["T"])
                axes[0][j].plot(T, c["m_abs"], "-", label=f"L={L}")
                axes[1][j].plot(T, c["chi_m"], "-", label=f"L={L}")
                axes[2][j].fill_between(T, np.subtract(c["u4_m"], c["u4_m_err"]),
                                        np.add(c["u4_m"], c["u4_m_err"]), alpha=0.3)
                axes[2][j].plot(T, c["u4_m"], "-", label=f"L={L}")
            for i in range(3):
                if r.get("tc_K") is not None:
                    axes[i][j].axvline(r["tc_K"], color="k", lw=0.6, ls=":")
                if T_EXP.get(m):
                    axes[i][j].axvline(T_EXP[m], color="r", lw=0.6, ls="--")
            axes[0][j].set_title(f"{m}: {r.get('name', kind)} ({r.get('order', '')})",
                                 fontsize=8)
            axes[0][j].set_ylabel("|M|" if r.get("order_key", "m") == "m" else "|M_s|")
            axes[1][j].set_ylabel("chi")
            axes[2][j].set_ylabel("U4")
            axes[2][j].set_xlabel("T (K)")
            axes[0][j].legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / f"head_to_head_thermo_{m}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(str(p))
    return written
