"""Posterior figures: marginals of B and m_X, and the joint (m_X, B) credible contours."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emiss.plotting import plt, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


def _hpd_levels(density: np.ndarray, cells: np.ndarray, fractions: Sequence[float]
                ) -> list[float]:
    """Density thresholds enclosing the given probability fractions (highest density first)."""
    flat = density.ravel()
    mass = (density * cells).ravel()
    order = np.argsort(-flat)
    cum = np.cumsum(mass[order]) / mass.sum()
    return [float(flat[order[min(int(np.searchsorted(cum, f)), flat.size - 1)]])
            for f in fractions]


def plot_scenario(scen: Mapping[str, Any], draws: Mapping[str, Any], outdir: Path,
                  label: str = "m_X") -> list[Path]:
    """Marginals and 2D contours of one mass-grid scenario.

    Args:
        scen: the scenario entry of the posterior document.
        draws: {"masses", "probs", "draws": per-point B draws}.
        outdir: output folder.
        label: mass label.

    Returns:
        Written files (PNG + PDF).
    """
    outdir.mkdir(parents=True, exist_ok=True)
    masses = np.asarray(draws["masses"], float)
    probs = np.asarray(draws["probs"], float)
    name = str(scen["scenario"])
    # B range: the bulk of the points that carry the posterior (not the tails of unlikely ones)
    keep = [d for d, p in zip(draws["draws"], probs, strict=True)
            if len(d) and p >= 0.01 * probs.max()]
    bmax = max(float(np.quantile(d, 0.999)) for d in keep)
    bgrid = np.linspace(0.0, bmax * 1.05, 200)
    lo, hi = _mass_cells(masses)
    width = hi - lo
    dens2, mix = _joint_density(draws["draws"], probs, bgrid, width)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    ax.stairs(probs / width, np.concatenate([lo[:1], hi]), color="C0")
    m = scen.get("mass", {})
    if "hpd_68" in m:
        ax.axvspan(*m["hpd_68"], color="C0", alpha=0.2, label="68 % HPD cells")
    ax.set_xlabel(f"{label} [GeV]")
    ax.set_ylabel(f"posterior density in {label}")
    ax.set_title(f"{name}: {label} marginal ({m.get('prior', '')} prior)")
    ax.legend()
    ax = axes[1]
    if mix:
        allb = np.concatenate(mix)
        ax.hist(allb * 1e6, bins=60, density=True, histtype="step", color="C1")
    b = scen.get("B", {})
    if "hpd_68" in b:
        ax.axvspan(b["hpd_68"][0] * 1e6, b["hpd_68"][1] * 1e6, color="C1", alpha=0.2,
                   label="68 % HPD")
        ax.axvline(b["mode"] * 1e6, color="k", lw=1, label="mode")
        ax.legend()
    ax.set_xlabel(r"$\mathcal{B}$ [$10^{-6}$]")
    ax.set_ylabel("posterior density")
    ax.set_title(f"{name}: B marginal")
    ax = axes[2]
    _draw_contours(fig, ax, masses, lo, hi, bgrid, dens2)
    jm = scen.get("joint_mode", {})
    if jm.get("B") is not None:
        ax.plot([jm[label]], [jm["B"] * 1e6], "r*", ms=12, label="joint mode")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right")
    ax.set_xlabel(f"{label} [GeV]")
    ax.set_ylabel(r"$\mathcal{B}$ [$10^{-6}$]")
    ax.set_title(f"{name}: 68 % / 95 % HPD contours")
    fig.tight_layout()
    return save_figure(fig, outdir / f"posterior_{name}")


def _mass_cells(masses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells of the mass grid: half-way between neighbours (width 1 around a single mass).

    Args:
        masses: sorted grid masses.

    Returns:
        (low, high) edge per mass.
    """
    if masses.size > 1:
        mid = 0.5 * (masses[1:] + masses[:-1])
        lo = np.concatenate([[masses[0] - (mid[0] - masses[0])], mid])
        hi = np.concatenate([mid, [masses[-1] + (masses[-1] - mid[-1])]])
    else:
        lo, hi = masses - 0.5, masses + 0.5
    return lo, hi


def _joint_density(draws: Sequence[np.ndarray], probs: np.ndarray, bgrid: np.ndarray,
                   width: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The joint density p_k / width_k x p(B | m_k) on (mass cell, B grid) and B draws.

    p(B | m_k) is a kernel density estimate of the point's draws, reflected at B = 0.

    Args:
        draws: B draws per grid point.
        probs: posterior probability per point.
        bgrid: B values.
        width: mass cell widths.

    Returns:
        (density (n_masses, n_B), draws per point resampled in proportion to its probability).
    """
    from scipy.stats import gaussian_kde

    dens2 = np.zeros((probs.size, bgrid.size))
    mix = []
    for k, d in enumerate(draws):
        if probs[k] < 1e-12 or len(d) < 2 or np.ptp(d) == 0:
            continue
        kde = gaussian_kde(np.concatenate([d, -d]))
        dens2[k] = 2.0 * kde(bgrid) * probs[k] / width[k]
        mix.append(np.random.default_rng(k).choice(d, size=int(probs[k] * 20000) + 1))
    return dens2, mix


def _draw_contours(fig: Figure, ax: Axes, masses: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                   bgrid: np.ndarray, dens2: np.ndarray) -> None:
    """The joint density as a colour mesh with its 68 % and 95 % HPD contours."""
    cells = np.outer(hi - lo, np.full(bgrid.size, bgrid[1] - bgrid[0]))
    if dens2.max() > 0:
        levels = sorted(set(_hpd_levels(dens2, cells, (0.95, 0.6827))))
        mesh = ax.pcolormesh(np.concatenate([lo[:1], hi]), np.concatenate(
            [bgrid - 0.5 * (bgrid[1] - bgrid[0]), [bgrid[-1] + 0.5 * (bgrid[1] - bgrid[0])]])
            * 1e6, dens2.T, cmap="Blues", shading="flat")
        fig.colorbar(mesh, ax=ax, label="posterior density")
        if masses.size > 1 and len(levels) >= 1:
            ax.contour(masses, bgrid * 1e6, dens2.T, levels=levels + [dens2.max() * 1.01],
                       colors=["C3", "C2", "none"][:len(levels) + 1])
            for color, tag in (("C2", "68 % HPD"), ("C3", "95 % HPD")):
                ax.plot([], [], color=color, label=tag)


def plot_single(point: Mapping[str, Any], draws: np.ndarray, outdir: Path, name: str
                ) -> list[Path]:
    """B marginal of a single hypothesis (e.g. the rescaled SM)."""
    outdir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.hist(np.asarray(draws) * 1e6, bins=60, density=True, histtype="step")
    b = point.get("B", {})
    if "hpd_68" in b:
        ax.axvspan(b["hpd_68"][0] * 1e6, b["hpd_68"][1] * 1e6, alpha=0.2, label="68 % HPD")
        ax.axvline(b["mode"] * 1e6, color="k", lw=1, label="mode")
        ax.legend()
    ax.set_xlabel(r"$\mathcal{B}$ [$10^{-6}$]")
    ax.set_ylabel("posterior density")
    ax.set_title(f"{name}: B marginal")
    fig.tight_layout()
    return save_figure(fig, outdir / f"posterior_{name}")
