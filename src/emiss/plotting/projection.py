"""Figures of the luminosity projections (``emiss project``): PNG + PDF."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from emiss.plotting import save_figure, use_hep_style

log = logging.getLogger(__name__)


def _lumi_axis(ax: Any) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(r"integrated luminosity [ab$^{-1}$]")


def plot_sm(doc: Mapping[str, Any], stem: str | os.PathLike) -> list[Path]:
    """SM nu nubar: expected significance and relative precision vs luminosity."""
    use_hep_style()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5))
    for ws in ("K", "Kstar", "K+Kstar"):
        rows = [r for r in doc["sm"] if r["workspace"] == ws]
        if not rows:
            continue
        x = [r["lumi_ab"] for r in rows]
        a1.plot(x, [r["Z"] for r in rows], "o-", label=ws)
        a2.plot(x, [r["precision"] for r in rows], "o-", label=ws)
    a1.axhline(5.0, color="grey", ls=":")
    a1.set_ylabel(r"expected $Z$ (SM $\nu\bar\nu$)")
    a2.set_ylabel(r"expected $\sigma(\mathcal{B})/\mathcal{B}$ (SM)")
    for a in (a1, a2):
        _lumi_axis(a)
        a.legend(fontsize=11)
    return save_figure(fig, stem)


def plot_limits(doc: Mapping[str, Any], stem: str | os.PathLike, workspace: str = "Kstar",
                cl: str = "0.95") -> list[Path]:
    """Expected upper limits on the branching ratio vs m_X, one line per scenario x lumi."""
    use_hep_style()
    fig, ax = plt.subplots(figsize=(8, 6))
    rows = [r for r in doc["limits"] if r["workspace"] == workspace]
    for scen in dict.fromkeys(r["scenario"] for r in rows):
        for lumi in dict.fromkeys(r["lumi_ab"] for r in rows):
            sel = sorted((r for r in rows if r["scenario"] == scen and r["lumi_ab"] == lumi),
                         key=lambda r: r["m_X"])
            if sel:
                ax.plot([r["m_X"] for r in sel], [r["br_limit"][cl] for r in sel], "o-",
                        label=f"{scen}, {lumi:g} ab$^{{-1}}$")
    proc = rows[0]["process"] if rows else ""
    ax.set_yscale("log")
    ax.set_xlabel(r"$m_X$ [GeV]")
    ax.set_ylabel(f"expected {float(cl):.0%} CL limit on B({proc} X)")
    ax.legend(fontsize=9)
    return save_figure(fig, stem)


def plot_separation(doc: Mapping[str, Any], stem: str | os.PathLike) -> list[Path]:
    """Delta chi^2 between scenario pairs vs luminosity, per workspace variant."""
    use_hep_style()
    rows = doc["separation"]
    keys = list(dict.fromkeys((r["A"], r["B"], r["m_X"]) for r in rows))
    n = max(len(keys), 1)
    ncol = min(n, 3)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 * ncol, 5.5 * nrow), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (a, b, m) in zip(axes.ravel(), keys, strict=False):
        for v in dict.fromkeys(r["variant"] for r in rows):
            sel = [r for r in rows if (r["A"], r["B"], r["m_X"], r["variant"]) == (a, b, m, v)]
            y = [max(r["delta_chi2_A_true"] or 0.0, 1e-3) for r in sel]
            ax.plot([r["lumi_ab"] for r in sel], y, "o-", label=v)
        ax.axhline(25.0, color="grey", ls=":")
        ax.set_yscale("log")
        _lumi_axis(ax)
        ax.set_ylabel(r"expected $\Delta\chi^2$ (A true, B fitted)", fontsize=14)
        ax.xaxis.label.set_size(14)
        ax.set_title(f"A={a}, B={b}, $m_X$={m:g} GeV", fontsize=11)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_all(doc: Mapping[str, Any], outdir: str | os.PathLike) -> list[Path]:
    """All projection figures into outdir (projection_sm, _limits_*, _separation)."""
    out = Path(outdir)
    paths = plot_sm(doc, out / "projection_sm")
    for ws in dict.fromkeys(r["workspace"] for r in doc["limits"]):
        paths += plot_limits(doc, out / f"projection_limits_{ws.replace('+', '_')}", ws)
    if doc["separation"]:
        paths += plot_separation(doc, out / "projection_separation")
    return paths
