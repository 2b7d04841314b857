"""Post-fit figure of ``emiss measure``: per channel, data vs the stacked fit and a pull panel.

Upper panel: the post-fit samples stacked in a fixed order and colour per physics component
(``emiss.plotting.labels``: readable names, colour-blind-safe palette, the same in every figure),
the signal — every sample carrying the POI normfactor, whatever its name — on top in its own
colour, the total's 1σ band (fit covariance propagated, ``emiss.inference.measure.postfit``) and
the data with Poisson errors √n. Lower panel: the pull (n − ν̂)/√(ν̂ + σ_ν̂²) per bin. The x axis
names the real fit bins (``channel_bins``): q²_rec × η(BDT2), η(BDTh), q²_rec × cos θ_K, on a
two-level axis when the bins are a product; the title is the channel's human name and the data
source (emulated or real, ``emiss.inference.results.data_info``) has a line of its own above it.
Files are ``<stem>_<channel key>_postfit.png``/``.pdf`` with the short key of the channel
(``ita_regA``, ``hta``), never Belle II's ~90-character channel names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emiss.names import SIGNAL_SAMPLE
from emiss.plotting import draw_header, plt, save_figure, use_hep_style
from emiss.plotting.labels import (
    ChannelBins,
    channel_key,
    sample_colour,
    sample_name,
    stack_key,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


def _px_to_pt(fig: Figure, px: float) -> float:
    return px * 72.0 / fig.dpi


def draw_bin_axis(fig: Figure, ax: Axes, bins: ChannelBins | None, n: int) -> None:
    """Label the fit bins on the x axis (bins at [i, i + 1)): tick labels per bin (rotated only
    when they would touch) and, for grouped bins, the outer-axis labels on a second row below
    them; the axis title goes below both. Offsets are measured on the rendered labels, so the
    rows never overlap.

    Args:
        fig: the figure (rendered once or twice with Agg to measure the labels).
        ax: the bottom axes.
        bins: labels of the channel (``channel_bins``), or None for bin numbers.
        n: number of bins.
    """
    centres = np.arange(n) + 0.5
    labels = bins.labels if bins is not None else [str(i + 1) for i in range(n)]
    ax.set_xticks(centres)
    ticks = ax.set_xticklabels(labels, fontsize=11 if n <= 12 else 9)
    ax.tick_params(axis="x", which="minor", bottom=False, top=False)
    fig.canvas.draw()  # lay the ticks out, then measure them
    # the Agg canvas of emiss.plotting has get_renderer; matplotlib types the base canvas
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    bin_px = ax.get_window_extent(renderer).width / max(n, 1)
    if max(t.get_window_extent(renderer).width for t in ticks) > 0.85 * bin_px:
        for t in ticks:
            t.set_rotation(90)
        fig.canvas.draw()
    labelpad = 6.0  # between the tick labels and the axis title
    if bins is not None and bins.groups:
        # distance from the axes' bottom edge to the bottom of the lowest tick label
        drop = _px_to_pt(fig, ax.get_window_extent(renderer).y0
                         - min(t.get_window_extent(renderer).y0 for t in ticks))
        notes = [ax.annotate(text, xy=((lo + hi) / 2, 0), xycoords=("data", "axes fraction"),
                             xytext=(0, -(drop + 6)), textcoords="offset points",
                             ha="center", va="top", fontsize=12, annotation_clip=False)
                 for text, lo, hi in bins.groups]
        labelpad += 6 + _px_to_pt(fig, max(a.get_window_extent(renderer).height
                                           for a in notes))
    ax.set_xlabel(bins.xlabel if bins is not None else "fit bin", labelpad=labelpad,
                  fontsize=16)


def draw_separators(ax: Axes, bins: ChannelBins | None) -> None:
    """Dotted lines between the outer-axis groups of the bins (none when flat)."""
    if bins is None:
        return
    for _, lo, _hi in bins.groups[1:]:
        ax.axvline(lo, color="grey", ls=":", lw=1)


def _signal_names(ch: str, samples: Collection[str], bins: ChannelBins | None,
                  signal: Mapping[str, Collection[str]] | None) -> set[str]:
    """The channel's signal samples: as the caller states them (``poi_samples``), else as the
    sidecar does (``ChannelBins.signal``), else a sample named "signal"."""
    if signal is not None and ch in signal:
        return set(signal[ch]) & set(samples)
    if bins is not None and bins.signal:
        return set(bins.signal) & set(samples)
    return {SIGNAL_SAMPLE} & set(samples)


def _draw_stack(ax: Axes, n: int, samples: Mapping[str, np.ndarray], names: Sequence[str],
                sig: Collection[str], mu_hat: float | None) -> None:
    """The stacked samples in the order of ``names``; the signal samples share one legend entry.

    Args:
        ax: the Axes.
        n: number of bins.
        samples: sample -> yields.
        names: the samples to stack, bottom first.
        sig: the signal samples.
        mu_hat: fitted signal strength for the legend.
    """
    x = np.arange(n + 1)
    bottom = np.zeros(n)
    first_signal = True
    for s in names:
        y = samples[s]
        is_sig = s in sig
        label = sample_name(s)
        if is_sig:
            label = ("signal (SM shape)" + (rf", $\hat\mu$ = {mu_hat:.2f}"
                                            if mu_hat is not None else "")
                     if first_signal else "_nolegend_")
            first_signal = False
        ax.stairs(bottom + y, x, baseline=bottom, fill=True, label=label,
                  color=sample_colour(s, signal=is_sig))
        bottom = bottom + y


def _draw_pulls(axp: Axes, obs: np.ndarray, total: np.ndarray, err: np.ndarray) -> None:
    """Pulls (data - fit) / sqrt(fit + err^2) per bin with the 0 and +-2 lines."""
    n = len(obs)
    sigma = np.sqrt(np.clip(total, 0, None) + err**2)
    pull = np.divide(obs - total, sigma, out=np.zeros(n), where=sigma > 0)
    axp.bar(np.arange(n) + 0.5, pull, width=0.8, color="#555555")
    axp.axhline(0, color="black", lw=1)
    for lev in (-2, 2):
        axp.axhline(lev, color="grey", ls="--", lw=0.8)
    lim = max(3.0, float(np.abs(pull).max(initial=0)) * 1.2)
    axp.set_ylim(-lim, lim)
    axp.set_ylabel("pull", fontsize=14)


def plot_postfit(postfit: Mapping[str, Mapping[str, Any]], out_dir: str | os.PathLike, stem: str,
                 mu_hat: float | None = None, bins: Mapping[str, ChannelBins] | None = None,
                 data: Mapping[str, Any] | None = None, note: str = "",
                 signal: Mapping[str, Collection[str]] | None = None) -> list[Path]:
    """One post-fit figure per channel (PNG + PDF): stacked samples, band, data and pulls.

    Args:
        postfit: channel -> {"samples": {name: yields}, "data": observed, and optionally
            "total", "total_err"} (``emiss.inference.measure.postfit``).
        out_dir: output folder.
        stem: file-name prefix (workspace stem): ``<stem>_<channel key>_postfit.png``.
        mu_hat: fitted signal strength for the legend.
        bins: channel -> labels (``emiss.plotting.labels.channel_bins``: bins, title, file key,
            the sidecar's signal sample); bin numbers and the raw channel name if None.
        data: data info (``emiss.inference.results.data_info``) written above the figure.
        note: extra text inside the axes, top left.
        signal: channel -> signal samples (``emiss.plotting.labels.poi_samples`` of the fitted
            workspace: the samples carrying the POI normfactor); default: as ``bins`` says.

    Returns:
        Written paths.
    """
    use_hep_style()
    out: list[Path] = []
    used: set[str] = set()
    for ch, d in postfit.items():
        cb = (bins or {}).get(ch)
        samples = {s: np.asarray(y, dtype=float) for s, y in d["samples"].items()}
        sig = _signal_names(ch, samples, cb, signal)
        names = sorted((s for s in samples if s not in sig and samples[s].sum() > 0),
                       key=stack_key)
        names += sorted(s for s in sig if samples[s].sum() > 0)
        obs = np.asarray(d["data"], dtype=float)
        n = len(obs)
        x = np.arange(n + 1)
        total = np.asarray(d.get("total", sum(samples.values())), dtype=float)
        err = np.asarray(d.get("total_err", np.zeros(n)), dtype=float)
        fig, (ax, axp) = plt.subplots(2, 1, figsize=(max(8.0, 0.42 * n + 3), 7.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06})
        _draw_stack(ax, n, samples, names, sig, mu_hat)
        if np.any(err > 0):
            ax.stairs(total + err, x, baseline=total - err, fill=True, facecolor="none",
                      edgecolor="black", hatch="////", lw=0, label=r"fit uncertainty (1$\sigma$)")
        ax.errorbar(np.arange(n) + 0.5, obs, yerr=np.sqrt(np.clip(obs, 0, None)), fmt="ko",
                    label="data", markersize=4)
        ax.set_ylabel("events per bin", fontsize=16)
        top = max(float((total + err).max(initial=0)), float(obs.max(initial=0)), 1.0)
        ax.set_ylim(0, (1.3 if note else 1.12) * top)
        ax.set_xlim(0, n)
        draw_header(ax, data, title=cb.title if cb is not None and cb.title else ch,
                    right="post-fit")
        if note:
            ax.text(0.02, 0.97, note, transform=ax.transAxes, va="top", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], fontsize=12, loc="upper left",
                  bbox_to_anchor=(1.02, 1.0), frameon=False, borderaxespad=0.0)
        draw_separators(ax, cb)
        _draw_pulls(axp, obs, total, err)
        ax.tick_params(axis="y", labelsize=12)
        axp.tick_params(axis="y", labelsize=12)
        draw_separators(axp, cb)
        draw_bin_axis(fig, axp, cb, n)
        key = cb.key if cb is not None and cb.key else channel_key(ch)
        if key in used:
            key = f"{key}_{len(used)}"
        used.add(key)
        out += save_figure(fig, Path(out_dir) / f"{stem}_{key}_postfit")
    return out
