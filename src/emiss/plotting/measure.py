"""Post-fit figure of ``emiss measure``: per channel, data vs stacked backgrounds vs signal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from emiss.plotting import plt, save_figure, use_hep_style

log = logging.getLogger(__name__)

#: Stack colours per sample (backgrounds bottom to top, signal last).
_COLOURS = {
    "bkg_bplus": "#3f90da", "bkg_b0": "#92dadd", "bkg_uds": "#ffa90e", "bkg_ccbar": "#bd1f01",
    "bkg_tautau": "#94a4a2", "bkg_btaunu": "#832db6", "signal": "#e76300",
}


def plot_postfit(postfit: dict[str, dict], out_dir: str | os.PathLike, stem: str,
                 mu_hat: float | None = None, note: str = "") -> list[Path]:
    """One post-fit figure per channel (PNG + PDF): stacked samples and observed data.

    Args:
        postfit: channel -> {"samples": {name: yields}, "data": observed}
            (from ``emiss.inference.measure.postfit_yields``).
        out_dir: output folder.
        stem: file-name prefix (workspace stem).
        mu_hat: fitted signal strength for the legend.
        note: text drawn in the corner (e.g. "emulated data").

    Returns:
        Written paths.
    """
    use_hep_style()
    out = []
    for ch, d in postfit.items():
        names = [s for s in d["samples"] if s != "signal"] + (
            ["signal"] if "signal" in d["samples"] else [])
        n = len(d["data"])
        x = np.arange(n + 1)
        fig, ax = plt.subplots(figsize=(8, 5.5))
        bottom = np.zeros(n)
        for s in names:
            y = np.asarray(d["samples"][s], dtype=float)
            label = s if s != "signal" or mu_hat is None else f"signal (mu = {mu_hat:.2f})"
            ax.stairs(bottom + y, x, baseline=bottom, fill=True, label=label,
                      color=_COLOURS.get(s))
            bottom = bottom + y
        data = np.asarray(d["data"], dtype=float)
        ax.errorbar(np.arange(n) + 0.5, data, yerr=np.sqrt(np.clip(data, 0, None)), fmt="ko",
                    label="data", markersize=4)
        ax.set_xlabel(f"{ch} fit bin")
        ax.set_ylabel("events per bin")
        ax.set_ylim(0, 1.45 * max(float(bottom.max(initial=0)), float(data.max(initial=0)), 1.0))
        ax.set_title(f"{stem}: {ch} (post-fit)", fontsize=12)
        if note:
            ax.text(0.02, 0.97, note, transform=ax.transAxes, va="top", fontsize=9)
        ax.legend(fontsize=8, ncol=2, loc="upper right")
        out += save_figure(fig, Path(out_dir) / f"{stem}_{ch}_postfit")
    return out
