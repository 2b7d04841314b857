"""``emiss plot templates``: folded signal templates per channel next to the stacked backgrounds.

Each hypothesis is shown at the same branching ratio (``DISPLAY_BR``), so the panels compare
shapes: a two-body line fills the fit bins its kinematic box reaches, pairs start at
q^2 = 4 m_X^2, the SM/heavy-NP spectrum is broad.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emiss.patches.grid import GridEntry, make_entry
from emiss.patches.hypotheses import check_masses, resolve_entry
from emiss.patches.target import Target
from emiss.patches.templates import TemplateBuilder
from emiss.plotting import draw_data_label, plt, save_figure, use_hep_style
from emiss.plotting.labels import sample_name

log = logging.getLogger(__name__)

#: Branching ratio at which every hypothesis is drawn.
DISPLAY_BR = 2e-5
#: Most hypotheses drawn in one figure.
MAX_HYPOTHESES = 8


#: Line styles cycled so that identical templates (e.g. scalar and vector lines at one mass)
#: stay visible on top of each other.
_STYLES = ("-", "--", "-.", ":")


def _mark_groups(target: Target, channel: str, axes, n_bins: int) -> None:
    """Dotted separators between classifier bins and q^2_rec ranges, when the response has
    a q^2_rec axis (fit bins = classifier bins x q^2_rec bins, q^2_rec inner)."""
    kernel = getattr(target.response.channels[channel], "kernel", None)
    q2e = list(getattr(kernel, "q2rec_edges", ()) or ())
    if len(q2e) < 2:
        return
    nq = len(q2e) - 1
    if n_bins % nq:
        return
    for ax in axes:
        for b in range(nq, n_bins, nq):
            ax.axvline(b - 0.5, color="grey", ls=":", lw=1)
    bottom = axes[-1]
    bottom.set_xticks(range(n_bins))
    bottom.set_xticklabels([f"[{q2e[i % nq]:g}, {q2e[i % nq + 1]:g})" for i in range(n_bins)],
                           rotation=90, fontsize=8)
    bottom.set_xlabel("fit bin: classifier bin (dotted groups) x q2_rec range (GeV^2)",
                      fontsize=11)


def default_entries() -> list[GridEntry]:
    """A representative set: SM, two-body scalar at 0.5 and 2.1 GeV (2.1: the Belle II best fit,
    arXiv:2503.19025), vector at 2.1 GeV, pairs at 0.6 GeV (arXiv:2312.12507)."""
    return [
        make_entry("sm"),
        make_entry("twobody-scalar", masses="0.5,2.1"),
        make_entry("twobody-vector", masses="2.1"),
        make_entry("threebody-scalar", masses="0.6"),
        make_entry("threebody-fermion", masses="0.6"),
        make_entry("threebody-vector", masses="0.6"),
    ]


def _label(hyp) -> str:
    parts = [hyp.scenario]
    if hyp.mass is not None:
        parts.append(f"m_X = {hyp.mass:g} GeV")
    if hyp.scenario not in ("sm",):
        parts += [f"{k} = {v:g}" for k, v in hyp.params]
    return ", ".join(parts)


def signal_templates(target: Target, entries: Sequence[GridEntry],
                     max_hypotheses: int = MAX_HYPOTHESES) -> list[tuple[str, dict]]:
    """Folded signal yields at B = DISPLAY_BR for the hypotheses of the entries.

    Args:
        target: the workspace.
        entries: grid entries (the first ``max_hypotheses`` hypotheses are used).
        max_hypotheses: cap on the number of curves.

    Returns:
        [(label, {channel: yields})].
    """
    builder = TemplateBuilder(target, n_samples=0)
    out = []
    for entry in entries:
        res = resolve_entry(entry)
        if entry.masses is not None:
            check_masses(res.scenario, entry.masses, builder.processes)
        for hyp in res.hypotheses:
            if len(out) >= max_hypotheses:
                return out
            t = builder.template(res, hyp)
            sig = next(s for s in t.samples if s.name == "signal")
            f = DISPLAY_BR / t.emiss["reference_branching_ratio"]
            out.append((_label(hyp), {c: f * np.asarray(y) for c, y in sig.nominal.items()}))
    return out


def plot_templates(target: Target, entries: Sequence[GridEntry],
                   stem: str | os.PathLike, data: Mapping[str, Any] | None = None) -> list[Path]:
    """Draw the figure: per channel, stacked backgrounds + data with background + signal on top,
    and below the signal templates alone.

    Args:
        target: the workspace.
        entries: hypotheses to draw.
        stem: output path without suffix (PNG and PDF are written).
        data: data info of the workspace (``emiss.inference.results.data_info`` of its
            sidecar): the data are called emulated only when the sidecar says so, and the label
            is written on the figure.

    Returns:
        The written files.
    """
    templates = signal_templates(target, entries)
    channels = target.channels()
    spec = target.spec
    chans = {c["name"]: c for c in spec["channels"]}
    obs = {o["name"]: o["data"] for o in spec.get("observations", [])}
    use_hep_style()
    fig, axes = plt.subplots(2, len(channels), figsize=(6.5 * len(channels), 9),
                             squeeze=False, gridspec_kw={"height_ratios": [3, 2]})
    colors = plt.get_cmap("tab10").colors
    bkg_colors = plt.get_cmap("Pastel1").colors
    for j, ch in enumerate(channels):
        ax, axs = axes[0, j], axes[1, j]
        samples = chans[ch]["samples"]
        n = len(samples[0]["data"])
        edges = np.arange(n + 1) - 0.5
        bottom = np.zeros(n)
        for k, s in enumerate(samples):
            y = np.asarray(s["data"], dtype=float)
            ax.stairs(bottom + y, edges, baseline=bottom, fill=True,
                      color=bkg_colors[k % len(bkg_colors)], label=sample_name(s["name"]))
            bottom = bottom + y
        if ch in obs:
            d = np.asarray(obs[ch], dtype=float)
            ax.errorbar(np.arange(n), d, yerr=np.sqrt(d), fmt="ko", ms=4,
                        label="data (emulated)" if data and data.get("emulated_data")
                        else "data")
        for k, (label, ys) in enumerate(templates):
            if ch in ys:
                col = colors[k % len(colors)]
                ls = _STYLES[k % len(_STYLES)]
                ax.stairs(bottom + ys[ch], edges, color=col, lw=1.6, ls=ls)
                axs.stairs(ys[ch], edges, color=col, lw=2.0, ls=ls, label=label)
        ax.set_title(ch, fontsize=14, loc="right")
        ax.set_ylabel("events / bin", fontsize=12)
        axs.set_ylabel(f"signal events at B = {DISPLAY_BR:g}", fontsize=12)
        axs.set_xlabel("fit bin (flattened)", fontsize=12)
        _mark_groups(target, ch, (ax, axs), n)
        shapes = [ys[ch] / ys[ch].sum() for _, ys in templates if ch in ys and ys[ch].sum() > 0]
        top_sig = max((float(ys[ch].max()) for _, ys in templates if ch in ys), default=1.0)
        axs.set_ylim(0, 1.9 * top_sig)
        if len(shapes) > 1 and max(float(np.max(np.abs(a - shapes[0]))) for a in shapes) < 1e-6:
            axs.text(0.03, 0.95, "all hypotheses: same shape here\n(efficiency flat in q2)",
                     transform=axs.transAxes, ha="left", va="top", fontsize=9)
        ax.set_ylim(0, 1.35 * max(float(bottom.max()), 1.0))
        ax.legend(fontsize=8, ncol=2, loc="upper right")
        axs.legend(fontsize=8, loc="upper right")
        draw_data_label(ax, data, loc="title")
    fig.suptitle(f"{target.name}: background stack + signal (lines: background + signal)",
                 fontsize=14)
    return save_figure(fig, stem)
