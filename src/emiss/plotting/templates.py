"""``emiss plot templates``: folded signal templates per channel next to the stacked backgrounds.

Each hypothesis is shown at the same branching ratio (``DISPLAY_BR``), so the panels compare
shapes: a two-body line fills the fit bins its kinematic box reaches, pairs start at
q^2 = 4 m_X^2, the SM/heavy-NP spectrum is broad. Channels carry their human titles and real
bin labels, backgrounds their fixed colours (``emiss.plotting.labels``), and the data source
has a line of its own above the figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from emiss.bundles.bundle import Bundle
from emiss.contracts import PatchBlock
from emiss.names import SIGNAL_SAMPLE
from emiss.patches.grid import GridEntry, Hypothesis, make_entry
from emiss.patches.hypotheses import check_masses, resolve_entry
from emiss.patches.templates import TemplateBuilder
from emiss.plotting import draw_header, plt, save_figure, use_hep_style
from emiss.plotting.labels import (
    ChannelBins,
    sample_colour,
    sample_name,
    scenario_label,
    spec_channel_bins,
    stack_key,
)
from emiss.plotting.measure import draw_bin_axis, draw_separators

log = logging.getLogger(__name__)

#: Branching ratio at which every hypothesis is drawn.
DISPLAY_BR = 2e-5
#: Most hypotheses drawn in one figure.
MAX_HYPOTHESES = 8


#: Line styles cycled so that identical templates (e.g. scalar and vector lines at one mass)
#: stay visible on top of each other.
_STYLES = ("-", "--", "-.", ":")


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


def _tex_number(x: float) -> str:
    """Mathtext a × 10^b of a number (2e-05 -> 2 \\times 10^{-5})."""
    mant, exp = f"{x:.1e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return rf"{mant} \times 10^{{{int(exp)}}}"


def _label(hyp: Hypothesis) -> str:
    parts = [scenario_label(hyp.scenario)]
    if hyp.mass is not None:
        parts.append(f"$m_X$ = {hyp.mass:g} GeV")
    if hyp.scenario not in ("sm",):
        parts += [f"{k} = {v:g}" for k, v in hyp.params]
    return ", ".join(parts)


def signal_templates(target: Bundle, entries: Sequence[GridEntry],
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
    out: list[tuple[str, dict[str, np.ndarray]]] = []
    for entry in entries:
        res = resolve_entry(entry)
        if entry.masses is not None:
            check_masses(res.scenario, entry.masses, builder.processes)
        for hyp in res.hypotheses:
            if len(out) >= max_hypotheses:
                return out
            t = builder.template(res, hyp)
            sig = next(s for s in t.samples if s.name == SIGNAL_SAMPLE)
            f = DISPLAY_BR / PatchBlock.from_dict(t.emiss, check=False).reference_branching_ratio
            out.append((_label(hyp), {c: f * np.asarray(y) for c, y in sig.nominal.items()}))
    return out


def plot_templates(target: Bundle, entries: Sequence[GridEntry],
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
    bins = spec_channel_bins(spec, None, target.response)
    use_hep_style()
    fig, axes = plt.subplots(2, len(channels), figsize=(6.0 * len(channels) + 1.0, 9),
                             squeeze=False, gridspec_kw={"height_ratios": [3, 2],
                                                         "hspace": 0.08, "wspace": 0.22})
    top_handles: dict[str, tuple[Any, tuple[int, str]]] = {}
    sig_handles: dict[str, Any] = {}
    for j, ch in enumerate(channels):
        _draw_channel(axes[0, j], axes[1, j], ch, chans[ch], obs.get(ch), bins.get(ch),
                      templates, data, j == 0, top_handles, sig_handles)
    _draw_legends(axes, top_handles, sig_handles)
    for j, ch in enumerate(channels):
        draw_bin_axis(fig, axes[1, j], bins.get(ch), len(chans[ch]["samples"][0]["data"]))
    return save_figure(fig, stem)


def _draw_channel(ax: Axes, axs: Axes, ch: str, channel: Mapping[str, Any],
                  observed: Sequence[float] | None, cb: ChannelBins | None,
                  templates: list[tuple[str, dict]], data: Mapping[str, Any] | None,
                  first: bool, top_handles: dict[str, tuple[Any, tuple[int, str]]],
                  sig_handles: dict[str, Any]) -> None:
    """One channel: stacked backgrounds, data and background + signal lines on ``ax``, the
    signal templates alone on ``axs``; the legend entries go into the two dicts.

    Args:
        ax: upper Axes.
        axs: lower Axes.
        ch: channel name.
        channel: its pyhf channel spec.
        observed: its observed counts (None: no observation).
        cb: its bin labels (``spec_channel_bins``) or None.
        templates: [(label, {channel: yields})] of the hypotheses.
        data: data info of the workspace.
        first: the leftmost channel, which carries the header.
        top_handles: legend entries of the upper row (label -> (handle, sort key)).
        sig_handles: legend entries of the lower row (label -> handle).
    """
    # tab10 is a ListedColormap: its ten colours
    colors = cast("Sequence[Any]", cast(ListedColormap, plt.get_cmap("tab10")).colors)
    samples = sorted(channel["samples"], key=lambda s: stack_key(s["name"]))
    n = len(samples[0]["data"])
    edges = np.arange(n + 1)
    bottom = np.zeros(n)
    for s in samples:
        y = np.asarray(s["data"], dtype=float)
        h = ax.stairs(bottom + y, edges, baseline=bottom, fill=True,
                      color=sample_colour(s["name"]), label=sample_name(s["name"]))
        top_handles.setdefault(sample_name(s["name"]), (h, stack_key(s["name"])))
        bottom = bottom + y
    high = bottom.copy()
    if observed is not None:
        d = np.asarray(observed, dtype=float)
        bars = ax.errorbar(np.arange(n) + 0.5, d, yerr=np.sqrt(d), fmt="ko", ms=4)
        top_handles.setdefault("data (emulated)" if data and data.get("emulated_data")
                               else "data", (bars, (1000, "")))
        high = np.fmax(high, d + np.sqrt(d))
    for k, (label, ys) in enumerate(templates):
        if ch in ys:
            col = colors[k % len(colors)]
            ls = _STYLES[k % len(_STYLES)]
            ax.stairs(bottom + ys[ch], edges, color=col, lw=1.6, ls=ls)
            high = np.fmax(high, bottom + ys[ch])
            axs.stairs(ys[ch], edges, color=col, lw=2.0, ls=ls, label=label)
    title = cb.title if cb is not None else ch
    if first:
        draw_header(ax, data, title=title, fontsize=13)
    else:
        ax.set_title(title, loc="left", fontsize=13)
    ax.set_ylabel("events per bin", fontsize=14)
    axs.set_ylabel(f"signal events at\n$\\mathcal{{B}} = {_tex_number(DISPLAY_BR)}$",
                   fontsize=13)
    shapes = [ys[ch] / ys[ch].sum() for _, ys in templates if ch in ys and ys[ch].sum() > 0]
    top_sig = max((float(ys[ch].max()) for _, ys in templates if ch in ys), default=1.0)
    axs.set_ylim(0, 1.25 * top_sig)
    if len(shapes) > 1 and max(float(np.max(np.abs(a - shapes[0]))) for a in shapes) < 1e-6:
        axs.text(0.03, 0.95, "all hypotheses: same shape here\n(efficiency flat in $q^2$)",
                 transform=axs.transAxes, ha="left", va="top", fontsize=9)
    ax.set_ylim(0, 1.08 * max(float(high.max()), 1.0))
    for a in (ax, axs):
        a.set_xlim(0, n)
        a.tick_params(axis="y", labelsize=12)
        draw_separators(a, cb)
    ax.tick_params(axis="x", labelbottom=False)
    for handle, lab in zip(*axs.get_legend_handles_labels(), strict=True):
        sig_handles.setdefault(lab, handle)


def _draw_legends(axes: np.ndarray, top_handles: dict[str, tuple[Any, tuple[int, str]]],
                  sig_handles: dict[str, Any]) -> None:
    """The two legends right of the last channel: stack and data above, signals below."""
    from matplotlib.lines import Line2D

    top_handles["background + signal (lines)"] = (Line2D([], [], color="grey", lw=1.6),
                                                  (1001, ""))
    order = sorted(top_handles, key=lambda k: top_handles[k][1], reverse=True)
    axes[0, -1].legend([top_handles[k][0] for k in order], order, fontsize=11,
                       loc="upper left", bbox_to_anchor=(1.03, 1.0), frameon=False,
                       borderaxespad=0.0)
    axes[1, -1].legend(list(sig_handles.values()), list(sig_handles), fontsize=11,
                       loc="upper left", bbox_to_anchor=(1.03, 1.0), frameon=False,
                       borderaxespad=0.0, title="signal alone", title_fontsize=11)
