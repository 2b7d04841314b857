"""Figures of the luminosity projections (``emiss project``): PNG + PDF.

Every line is labelled (legend or text next to it), every value that was not computed or is
zero on a log axis is left out and said so in the legend, never clipped to a floor; the data
label (expected Asimov results, emulated workspaces) is written on each figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from emiss.plotting import draw_data_label, save_figure, use_hep_style

log = logging.getLogger(__name__)

#: Workspace variants in the legend.
_VARIANT_NAMES = {
    "K": r"$B\to K$", "Kstar": r"$B\to K^*$", "K+Kstar": r"$B\to K + K^*$",
    "Kstar_q2": r"$B\to K^*$, $q^2$ only", "K+Kstar_q2": r"$B\to K + K^*$, $q^2$ only",
}


#: Processes in the axis labels.
_PROCESS_TEX = {"B+->K+": r"B^+\to K^+", "B0->K0": r"B^0\to K^0", "B0->K*0": r"B^0\to K^{*0}",
                "B+->K*+": r"B^+\to K^{*+}"}


def _lumi_axis(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(r"integrated luminosity [ab$^{-1}$]", fontsize=14)


def _points(xs: Sequence[float], ys: Sequence[float | None], log_y: bool)\
        -> tuple[list[float], list[float], int]:
    """(x, y) pairs that can be drawn (y computed, and > 0 on a log axis); count of dropped."""
    keep = [(x, y) for x, y in zip(xs, ys, strict=True)
            if y is not None and (y > 0 or not log_y)]
    return [x for x, _ in keep], [y for _, y in keep], len(xs) - len(keep)


def _label(text: str, dropped: int, why: str) -> str:
    return text + (f" ({dropped} point{'s' if dropped > 1 else ''} {why})" if dropped else "")


def plot_sm(doc: Mapping[str, Any], stem: str | os.PathLike) -> list[Path]:
    """SM nu nubar: expected significance and relative precision vs luminosity."""
    use_hep_style()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.5))
    for ws in ("K", "Kstar", "K+Kstar"):
        rows = [r for r in doc["sm"] if r["workspace"] == ws]
        if not rows:
            continue
        x = [r["lumi_ab"] for r in rows]
        name = _VARIANT_NAMES.get(ws, ws)
        for ax, key in ((a1, "Z"), (a2, "precision")):
            xs, ys, n = _points(x, [r[key] for r in rows], log_y=False)
            ax.plot(xs, ys, "o-", label=_label(name, n, "not computed"))
    a1.axhline(5.0, color="grey", ls=":", label=r"$5\sigma$")
    a1.axhline(3.0, color="grey", ls="--", lw=1, label=r"$3\sigma$")
    a1.set_ylabel(r"expected $Z$ (SM $\nu\bar\nu$ vs background only)", fontsize=13)
    a2.set_ylabel(r"expected $\sigma(\mathcal{B})/\mathcal{B}$ (SM $\nu\bar\nu$)", fontsize=13)
    lumis = [r["lumi_ab"] for r in doc["sm"]]
    for a in (a1, a2):
        if not any(len(line.get_xdata()) for line in a.get_lines()):
            a.text(0.5, 0.5, "not computed", ha="center", va="center", transform=a.transAxes)
            if lumis:
                a.set_xlim(min(lumis) / 2, max(lumis) * 2)
        _lumi_axis(a)
        a.set_ylim(bottom=0)
        a.legend(fontsize=11, loc="best")
    draw_data_label(a2, doc.get("settings", {}).get("data"), loc="upper right")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_limits(doc: Mapping[str, Any], stem: str | os.PathLike, workspace: str = "Kstar",
                cl: str = "0.95") -> list[Path]:
    """Expected upper limits on the branching ratio vs m_X, one line per scenario x lumi."""
    use_hep_style()
    fig, ax = plt.subplots(figsize=(9, 6.5))
    rows = [r for r in doc["limits"] if r["workspace"] == workspace]
    styles = ("-", "--", "-.", ":")
    for i, scen in enumerate(dict.fromkeys(r["scenario"] for r in rows)):
        for lumi in dict.fromkeys(r["lumi_ab"] for r in rows):
            sel = sorted((r for r in rows if r["scenario"] == scen and r["lumi_ab"] == lumi),
                         key=lambda r: r["m_X"])
            xs, ys, n = _points([r["m_X"] for r in sel],
                                [r["br_limit"].get(cl) for r in sel], log_y=True)
            ax.plot(xs, ys, marker="o", ls=styles[i % len(styles)],
                    label=_label(f"{scen}, {lumi:g} ab$^{{-1}}$", n, "failed"))
    proc = rows[0]["process"] if rows else ""
    ptex = _PROCESS_TEX.get(proc, proc)
    ax.set_yscale("log")
    ax.set_xlabel(r"$m_X$ [GeV]")
    ax.set_ylabel(rf"expected {float(cl):.0%} CL limit on $\mathcal{{B}}({ptex}X)$", fontsize=14)
    ax.set_title(_VARIANT_NAMES.get(workspace, workspace), fontsize=13, loc="right")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (hi / lo) ** 0.5)  # head room for the legend and the data label
    ax.legend(fontsize=9, loc="upper right", ncol=2)
    draw_data_label(ax, doc.get("settings", {}).get("data"))
    return save_figure(fig, stem)


def plot_separation(doc: Mapping[str, Any], stem: str | os.PathLike) -> list[Path]:
    """Delta chi^2 between scenario pairs vs luminosity, per workspace variant.

    Solid: A true, B fitted; dashed: B true, A fitted. Points with Delta chi^2 = 0 (or not
    computed) cannot sit on the log axis: they are left out and counted in the legend.
    """
    use_hep_style()
    rows = doc["separation"]
    keys = list(dict.fromkeys((r["A"], r["B"], r["m_X"]) for r in rows))
    n = max(len(keys), 1)
    ncol = min(n, 3)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(7 * ncol, 6 * nrow), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    if not keys:
        ax = axes.ravel()[0]
        ax.set_visible(True)
        ax.text(0.5, 0.5, "no scenario pairs (give two scenarios at a common mass)",
                ha="center", va="center", transform=ax.transAxes)
        return save_figure(fig, stem)
    for ax, (a, b, m) in zip(axes.ravel(), keys, strict=False):
        for v in dict.fromkeys(r["variant"] for r in rows):
            sel = [r for r in rows if (r["A"], r["B"], r["m_X"], r["variant"]) == (a, b, m, v)]
            x = [r["lumi_ab"] for r in sel]
            name = _VARIANT_NAMES.get(v, v)
            xs, ys, k = _points(x, [r["delta_chi2_A_true"] for r in sel], log_y=True)
            # an all-zero curve still gets its legend entry (an empty line), saying why
            (line,) = ax.plot(xs, ys, "o-", label=_label(name, k, r"at $\Delta\chi^2$ = 0"))
            xs, ys, k = _points(x, [r.get("delta_chi2_B_true") for r in sel], log_y=True)
            if xs:
                ax.plot(xs, ys, "s--", ms=4, lw=1, color=line.get_color())
        ax.axhline(25.0, color="grey", ls=":", label=r"$\Delta\chi^2 = 25$ ($5\sigma$, 1 dof)")
        ax.axhline(9.0, color="grey", ls="-.", lw=1, label=r"$\Delta\chi^2 = 9$ ($3\sigma$)")
        ax.set_yscale("log")
        _lumi_axis(ax)
        ax.set_ylabel(r"expected $\Delta\chi^2$ (solid: A true; dashed: B true)", fontsize=13)
        ax.set_title(f"A = {a}\nB = {b}, $m_X$ = {m:g} GeV", fontsize=11, loc="right")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * (hi / lo) ** 0.45)  # head room for the legend
        ax.legend(fontsize=9, loc="upper left", ncol=2)
        draw_data_label(ax, doc.get("settings", {}).get("data"), loc="title")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_all(doc: Mapping[str, Any], outdir: str | os.PathLike, prefix: str = "projection")\
        -> list[Path]:
    """All projection figures into outdir.

    Args:
        doc: a projection document (``emiss.studies.projection.run``).
        outdir: output folder.
        prefix: file-name prefix (the CLI passes the projection file's stem): ``<prefix>_sm``,
            ``<prefix>_limits_<workspace>``, ``<prefix>_separation``.

    Returns:
        Written paths.
    """
    out = Path(outdir)
    paths = plot_sm(doc, out / f"{prefix}_sm")
    for ws in dict.fromkeys(r["workspace"] for r in doc["limits"]):
        paths += plot_limits(doc, out / f"{prefix}_limits_{ws.replace('+', '_')}", ws)
    if doc["separation"]:
        paths += plot_separation(doc, out / f"{prefix}_separation")
    return paths
