"""The "distinct kinematic signatures" figure: normalised q^2 spectra of the scenarios side by side.

Panels: (a) two-body lines (delta functions at q^2 = m_X^2, drawn as arrows); (b) three-body
pairs by spin and current at a common mass; (c) mass dependence of a pair spectrum with the SM
and a heavy-NP (C_R != 0) spectrum. For K* processes a second row shows F_L(q^2).
All physics comes from ``emiss.physics.scenarios``; this module only draws.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from emiss.physics.predict import integrate
from emiss.physics.processes import get_process
from emiss.physics.scenarios import get_scenario
from emiss.plotting import save_figure, use_hep_style

log = logging.getLogger(__name__)

#: Three-body scenarios shown in panel (b), with labels.
PAIRS = (
    ("threebody-scalar", r"scalar, $i\phi^*\overleftrightarrow{\partial}\phi$", "tab:blue", "--"),
    ("threebody-scalar-s", r"scalar, $|\phi|^2$", "tab:cyan", "--"),
    ("threebody-fermion", r"fermion, $\bar\psi\gamma P_L\psi$", "tab:red", "-"),
    ("threebody-fermion-vector", r"fermion, $\bar\psi\gamma\psi$", "tab:orange", "-"),
    ("threebody-fermion-axial", r"fermion, $\bar\psi\gamma\gamma_5\psi$", "tab:brown", "-"),
    ("threebody-fermion-scalar", r"fermion, $\bar\psi\psi$", "tab:pink", "-"),
    ("threebody-fermion-pseudoscalar", r"fermion, $\bar\psi i\gamma_5\psi$", "tab:purple", "-"),
    ("threebody-vector", r"vector, $iV^\dagger\overleftrightarrow{\partial}V$", "tab:green", ":"),
    ("threebody-vector-s", r"vector, $V^\dagger V$", "tab:olive", ":"),
)
PAIR_MASS = 0.6
LINE_MASSES = (1.0, 2.1, 3.0, 4.0)
MASS_SCAN = ("threebody-fermion", (0.0, 0.5, 1.0, 1.5))
HEAVY_NP = {"C_R": 3.0}
#: Base font size of the figure.
FONT_SIZE = 12


def _slug(process: str) -> str:
    return process.replace("->", "_").replace("*", "st").replace("+", "p")


def _latex_meson(meson: str) -> str:
    """'K*0' -> 'K^{*0}', 'K+' -> 'K^{+}'."""
    return f"K^{{{meson[1:]}}}"


def _curve(name: str, process: str, q2: np.ndarray, mass: float | None = None,
           params: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalised 1/B dB/dq^2 and F_L(q^2) (None for B -> K)."""
    spec = get_scenario(name).spectrum(process, mass=mass, params=params)
    br, _ = integrate(spec)
    d = spec.dBdq2(q2)
    fl = None
    if spec.continuum_long is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            fl = np.where(d > 0, spec.dBLdq2(q2) / d, np.nan)
    return d / br, fl


def plot_spectra(process: str, outdir: str | os.PathLike = "plots") -> list[Path]:
    """Draw and save the spectra figure for one process (PNG and PDF).

    Args:
        process: one of PROCESSES.
        outdir: output directory.

    Returns:
        Written paths.
    """
    proc = get_process(process)
    use_hep_style()
    is_vec = proc.is_vector
    nrow = 2 if is_vec else 1
    fig, axes = plt.subplots(nrow, 3, figsize=(19, 5.6 * nrow), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [1.6, 1] if is_vec else [1]})
    q2 = np.linspace(0.0, proc.q2_max, 400)
    meson = _latex_meson(proc.meson)
    xlab = r"$q^2$ [GeV$^2$]"
    sm_shape, sm_fl = _curve("sm", process, q2)
    _panel_lines(axes[0, 0], q2, sm_shape, meson)
    fls_b = _panel_pairs(axes[0, 1], process, q2, sm_shape, meson)
    fls_c, hfl = _panel_mass_scan(axes[0, 2], process, q2, sm_shape)
    if is_vec:
        _panels_fl(axes[1], process, q2, sm_fl, fls_b, fls_c, hfl)
    for ax in axes[-1]:
        ax.set_xlabel(xlab, fontsize=FONT_SIZE + 2)
    for ax in axes.ravel():
        ax.set_xlim(0, proc.q2_max)
        ax.tick_params(labelsize=FONT_SIZE - 1)
    parent = proc.parent.replace("+", "^{+}").replace("0", "^{0}")
    fig.tight_layout()
    fig.suptitle(f"${parent}\\to {meson}$ + invisible: normalised $q^2$ spectra by spin, mass "
                 "and multiplicity", fontsize=FONT_SIZE + 4, y=1.01 if is_vec else 1.03)
    return save_figure(fig, Path(outdir) / f"spectra_{_slug(process)}")


#: (F_L curve or None, line style, colour) of one curve of a panel, for the F_L row.
_FlCurve = tuple[np.ndarray | None, str, Any]


def _panel_lines(ax: Axes, q2: np.ndarray, sm_shape: np.ndarray, meson: str) -> None:
    """(a) two-body lines as arrows at q^2 = m_X^2, the SM shape on a right axis."""
    fsz = FONT_SIZE
    for i, m in enumerate(LINE_MASSES):
        ax.annotate("", xy=(m * m, 1.0), xytext=(m * m, 0.0),
                    arrowprops={"arrowstyle": "-|>", "color": f"C{i}", "lw": 2.5})
        ax.text(m * m + 0.15, 1.03, f"$m_X$={m:g}", ha="left", fontsize=fsz, color=f"C{i}")
    ax.set_ylim(0, 1.2)
    ax.set_ylabel(r"fraction of $\mathcal{B}$ at $q^2=m_X^2$", fontsize=fsz + 2)
    ax.set_title(f"(a) two-body $B\\to {meson}X$: lines, spin 0 and 1 ($m_X$ in GeV)",
                 fontsize=fsz + 1)
    axt = ax.twinx()
    axt.plot(q2, sm_shape, "k--", lw=1.2, label=r"SM $\nu\bar\nu$ (right axis)")
    axt.set_ylim(0, sm_shape.max() * 1.25)
    axt.set_ylabel(r"SM $1/\mathcal{B}\ d\mathcal{B}/dq^2$ [GeV$^{-2}$]", fontsize=fsz)
    axt.tick_params(labelsize=fsz - 1)
    axt.legend(loc="upper right", fontsize=fsz - 1, frameon=False)


def _panel_pairs(ax: Axes, process: str, q2: np.ndarray, sm_shape: np.ndarray, meson: str
                 ) -> list[_FlCurve]:
    """(b) three-body pairs by spin and current at ``PAIR_MASS``; returns their F_L curves."""
    fsz = FONT_SIZE
    fls_b = []
    for name, lab, col, ls in PAIRS:
        y, fl = _curve(name, process, q2, mass=PAIR_MASS)
        ax.plot(q2, y, ls, color=col, lw=2.2, label=lab)
        fls_b.append((fl, ls, col))
    ax.plot(q2, sm_shape, "k-", lw=1, alpha=0.5, label=r"SM $\nu\bar\nu$")
    ax.set_title(f"(b) $B\\to {meson}X\\bar X$, $m_X$ = {PAIR_MASS:g} GeV", fontsize=fsz + 1)
    ax.set_ylabel(r"$1/\mathcal{B}\ d\mathcal{B}/dq^2$ [GeV$^{-2}$]", fontsize=fsz + 2)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.6)
    ax.legend(fontsize=fsz - 2, frameon=False, ncol=2, loc="upper left", columnspacing=0.8)
    return fls_b


def _panel_mass_scan(ax: Axes, process: str, q2: np.ndarray, sm_shape: np.ndarray
                     ) -> tuple[list[_FlCurve], np.ndarray | None]:
    """(c) a pair spectrum by mass with the SM and heavy NP; returns the F_L curves (pairs,
    heavy NP)."""
    fsz = FONT_SIZE
    name, masses = MASS_SCAN
    fls_c = []
    for i, m in enumerate(masses):
        y, fl = _curve(name, process, q2, mass=m)
        ax.plot(q2, y, "-", color=plt.cm.viridis(i / len(masses)), lw=2,
                label=rf"$\bar\psi\gamma P_L\psi$, $m_X$={m:g} GeV")
        fls_c.append((fl, "-", plt.cm.viridis(i / len(masses))))
    ax.plot(q2, sm_shape, "k--", lw=2, label=r"SM $\nu\bar\nu$")
    hy, hfl = _curve("heavy-np", process, q2, params=HEAVY_NP)
    ax.plot(q2, hy, "r:", lw=2.5, label=rf"heavy NP, $C_R$={HEAVY_NP['C_R']:g}")
    ax.set_title("(c) fermion pairs by mass vs SM / heavy NP", fontsize=fsz + 1)
    ax.set_ylabel(r"$1/\mathcal{B}\ d\mathcal{B}/dq^2$ [GeV$^{-2}$]", fontsize=fsz + 2)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)
    ax.legend(fontsize=fsz - 2, frameon=False, ncol=2, loc="upper left", columnspacing=0.8)
    return fls_c, hfl


def _panels_fl(axes: np.ndarray, process: str, q2: np.ndarray, sm_fl: np.ndarray | None,
               fls_b: list[_FlCurve], fls_c: list[_FlCurve], hfl: np.ndarray | None) -> None:
    """The F_L(q^2) row of a K* process (``axes``: its three Axes) under (a), (b), (c)."""
    fsz = FONT_SIZE
    ax = axes[0]
    for i, m in enumerate(LINE_MASSES):
        for sname, mk in (("twobody-scalar", "o"), ("twobody-vector", "s")):
            s = get_scenario(sname).spectrum(process, mass=m)
            ax.plot([m * m], [s.fl()], mk, color=f"C{i}", ms=9)
    ax.plot([], [], "ko", label=r"scalar $X$ ($F_L=1$)")
    ax.plot([], [], "ks", label=r"vector $X$")
    ax.plot(q2, sm_fl, "k--", lw=1.2, label="SM")
    ax.legend(fontsize=fsz - 1, frameon=False, loc="lower left")
    axes[1].plot(q2, sm_fl, "k-", lw=1, alpha=0.5)
    for fl, ls, c in fls_b:
        axes[1].plot(q2, fl, ls, color=c, lw=2)
    for fl, ls, rgba in fls_c:
        axes[2].plot(q2, fl, ls, color=rgba, lw=2)
    axes[2].plot(q2, sm_fl, "k--", lw=2)
    axes[2].plot(q2, hfl, "r:", lw=2.5)
    for ax in axes:
        ax.set_ylim(0, 1.08)
        ax.set_ylabel(r"$F_L(q^2)$", fontsize=fsz + 2)
