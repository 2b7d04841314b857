"""Post-fit figure of ``emiss measure``: per channel, data vs the stacked fit and a pull panel.

Upper panel: the post-fit samples stacked (readable names, ``emiss.plotting.labels``), the
total's 1σ band (fit covariance propagated, ``emiss.inference.measure.postfit``) and the data
with Poisson errors √n. Lower panel: the pull (n − ν̂)/√(ν̂ + σ_ν̂²) per bin. The x axis names
the real fit bins (``channel_bins``): q²_rec × η(BDT2), BDTh, q²_rec × cos θ_K; the data source
(emulated or real, ``emiss.inference.results.data_info``) is written on the figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emiss.plotting import draw_data_label, plt, save_figure, use_hep_style
from emiss.plotting.labels import ChannelBins, sample_name

log = logging.getLogger(__name__)

#: Stack colours per sample (backgrounds bottom to top, signal last).
_COLOURS = {
    "bkg_bplus": "#3f90da", "bkg_b0": "#92dadd", "bkg_uds": "#ffa90e", "bkg_ccbar": "#bd1f01",
    "bkg_tautau": "#94a4a2", "bkg_btaunu": "#832db6", "sm_nunu": "#a96b59", "signal": "#e76300",
}


def _bin_axis(ax: Any, bins: ChannelBins | None, n: int) -> None:
    """Tick labels per bin and, for grouped bins, the outer-axis labels below them."""
    centres = np.arange(n) + 0.5
    labels = bins.labels if bins is not None else [str(i + 1) for i in range(n)]
    rot = 90 if n > 8 else 0
    ax.set_xticks(centres)
    ax.set_xticklabels(labels, rotation=rot, fontsize=9 if n <= 12 else 8)
    ax.tick_params(axis="x", which="minor", bottom=False, top=False)
    pad = 4
    if bins is not None and bins.groups:
        longest = max(len(s) for s in labels)
        off = -(12 + (6 * longest if rot else 10))
        for text, lo, hi in bins.groups:
            ax.annotate(text, xy=((lo + hi) / 2, 0), xycoords=("data", "axes fraction"),
                        xytext=(0, off), textcoords="offset points", ha="center", va="top",
                        fontsize=9)
        pad = -off + 6
    ax.set_xlabel(bins.xlabel if bins is not None else "fit bin", labelpad=pad, fontsize=14)


def _separators(ax: Any, bins: ChannelBins | None) -> None:
    if bins is None:
        return
    for _, lo, _hi in bins.groups[1:]:
        ax.axvline(lo, color="grey", ls=":", lw=1)


def plot_postfit(postfit: Mapping[str, Mapping[str, Any]], out_dir: str | os.PathLike, stem: str,
                 mu_hat: float | None = None, bins: Mapping[str, ChannelBins] | None = None,
                 data: Mapping[str, Any] | None = None, note: str = "") -> list[Path]:
    """One post-fit figure per channel (PNG + PDF): stacked samples, band, data and pulls.

    Args:
        postfit: channel -> {"samples": {name: yields}, "data": observed, and optionally
            "total", "total_err"} (``emiss.inference.measure.postfit``).
        out_dir: output folder.
        stem: file-name prefix (workspace stem): ``<stem>_<channel>_postfit.png``.
        mu_hat: fitted signal strength for the legend.
        bins: channel -> bin labels (``emiss.plotting.labels.channel_bins``); numbers if None.
        data: data info (``emiss.inference.results.data_info``) written on the figure.
        note: extra text under the data label.

    Returns:
        Written paths.
    """
    use_hep_style()
    out = []
    for ch, d in postfit.items():
        samples = {s: np.asarray(y, dtype=float) for s, y in d["samples"].items()}
        names = [s for s in samples if s != "signal" and samples[s].sum() > 0]
        if "signal" in samples and samples["signal"].sum() > 0:
            names.append("signal")
        obs = np.asarray(d["data"], dtype=float)
        n = len(obs)
        x = np.arange(n + 1)
        total = np.asarray(d.get("total", sum(samples.values())), dtype=float)
        err = np.asarray(d.get("total_err", np.zeros(n)), dtype=float)
        cb = (bins or {}).get(ch)
        fig, (ax, axp) = plt.subplots(2, 1, figsize=(max(8.0, 0.42 * n + 3), 7.0), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06})
        bottom = np.zeros(n)
        for s in names:
            y = samples[s]
            label = sample_name(s)
            if s == "signal":
                label = "SM-shaped signal" + (rf", $\hat\mu$ = {mu_hat:.2f}"
                                              if mu_hat is not None else "")
            ax.stairs(bottom + y, x, baseline=bottom, fill=True, label=label,
                      color=_COLOURS.get(s))
            bottom = bottom + y
        if np.any(err > 0):
            ax.stairs(total + err, x, baseline=total - err, fill=True, facecolor="none",
                      edgecolor="black", hatch="////", lw=0, label=r"fit uncertainty (1$\sigma$)")
        ax.errorbar(np.arange(n) + 0.5, obs, yerr=np.sqrt(np.clip(obs, 0, None)), fmt="ko",
                    label="data", markersize=4)
        ax.set_ylabel("events per bin", fontsize=15)
        top = max(float((total + err).max(initial=0)), float(obs.max(initial=0)), 1.0)
        ax.set_ylim(0, 1.15 * top)
        ax.set_xlim(0, n)
        ax.set_title(f"{stem}: {ch} (post-fit)", fontsize=12, loc="right")
        draw_data_label(ax, data)
        if note:
            ax.text(0.02, 0.88, note, transform=ax.transAxes, va="top", fontsize=9)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], fontsize=10, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)
        _separators(ax, cb)
        sigma = np.sqrt(np.clip(total, 0, None) + err**2)
        pull = np.divide(obs - total, sigma, out=np.zeros(n), where=sigma > 0)
        axp.bar(np.arange(n) + 0.5, pull, width=0.8, color="#555555")
        axp.axhline(0, color="black", lw=1)
        for lev in (-2, 2):
            axp.axhline(lev, color="grey", ls="--", lw=0.8)
        lim = max(3.0, float(np.abs(pull).max(initial=0)) * 1.2)
        axp.set_ylim(-lim, lim)
        axp.set_ylabel(r"pull $(n - \hat\nu)/\sigma$", fontsize=12)
        for a in (ax, axp):
            a.tick_params(axis="y", labelsize=12)
        _separators(axp, cb)
        _bin_axis(axp, cb, n)
        out += save_figure(fig, Path(out_dir) / f"{stem}_{ch}_postfit")
    return out
