"""Profile likelihoods of the WET fit (``emiss wet --plot``), with Belle II's published result."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from emiss.plotting import plt, save_figure, use_hep_style

log = logging.getLogger(__name__)


def plot_wet_profiles(result: dict, out_dir: str | os.PathLike, stem: str,
                      note: str = "") -> list[Path]:
    """One figure: -2 Δln L versus |C| for the three WET magnitudes (PNG + PDF).

    Args:
        result: ``emiss.studies.wet.fit_wet`` output with ``curves``.
        out_dir: output folder.
        stem: file-name prefix (the workspace stem).
        note: data-source line drawn on the figure.

    Returns:
        Written paths.
    """
    use_hep_style()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharey=True)
    for ax, (par, label) in zip(axes, result["labels"].items(), strict=True):
        cur = result["curves"][par]
        ax.plot(cur["c"], cur["delta_twice_nll"], color="k", label="emiss profile likelihood")
        for lv, ls in ((1.0, ":"), (3.84, "--")):
            ax.axhline(lv, color="grey", ls=ls, lw=1)
        pub = result["belle2_2507_12393"][par]
        ax.axvline(pub["mode"], color="#e76300", lw=1.5,
                   label="Belle II posterior mode (2507.12393)")
        ax.axvspan(*pub["ci95"], color="#e76300", alpha=0.12, label="Belle II 95% credible")
        ax.axvline(result["best"][par], color="#3f90da", ls="-.", lw=1.5, label="emiss best fit")
        ax.set_xlabel(label)
        ax.set_xlim(0, max(cur["c"]))
        ax.set_ylim(0, 8)
    axes[0].set_ylabel(r"$-2\,\Delta\ln L$ (others profiled)")
    axes[0].legend(fontsize=9, loc="upper left")
    if note:
        fig.suptitle(note, fontsize=10)
    return save_figure(fig, Path(out_dir) / f"{stem}_wet_profiles")
