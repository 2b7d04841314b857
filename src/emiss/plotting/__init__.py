"""Figures: one module per stage's plots; this module holds the shared style and saving."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from emiss.io import atomic_write_bytes  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)


def use_hep_style() -> None:
    """Apply the usual HEP look (mplhep's ROOT-like style), falling back to matplotlib defaults."""
    try:
        import mplhep

        plt.style.use(mplhep.style.ROOT)
    except Exception as exc:  # pragma: no cover - mplhep is a dependency
        log.warning("mplhep style unavailable (%s); using matplotlib defaults", exc)


def data_label(info: Mapping[str, Any] | None) -> str:
    """Short text naming the data of a figure (``emiss.inference.results.data_info``), or "".

    Args:
        info: ``{"emulated_data", "source", "label", ...}`` (a sidecar's data info, a results
            file's ``workspace`` block) or None.

    Returns:
        "emulated data (...)" for the emulation, "Belle II data (HEPData ..., arXiv:...)" for
        real data,
        "" when unknown.
    """
    if not info:
        return ""
    if info.get("label"):
        return str(info["label"])
    from emiss.inference.results import data_info

    return data_info(info)["label"] if info.get("emulated_data") is not None else ""


def _data_colour(info: Mapping[str, Any] | None) -> str:
    return "#b00000" if info and info.get("emulated_data") else "black"


def draw_data_label(ax: Axes, info: Mapping[str, Any] | None, loc: str = "upper left") -> None:
    """Write the data label (``data_label``) on the figure; emulated data in red.

    Args:
        ax: matplotlib axes.
        info: data info or None (nothing drawn).
        loc: "upper left", "upper right" (inside the axes), "title" (the left title) or
            "above" (a line of its own above the axes and its titles, see ``draw_header``).
    """
    text = data_label(info)
    if not text:
        return
    if loc == "above":
        draw_header(ax, info)
        return
    if loc == "title":
        ax.set_title(text, loc="left", fontsize=9, color=_data_colour(info))
        return
    x, ha = (0.02, "left") if loc == "upper left" else (0.98, "right")
    ax.text(x, 0.97, text, transform=ax.transAxes, va="top", ha=ha, fontsize=10,
            color=_data_colour(info),
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


def draw_header(ax: Axes, info: Mapping[str, Any] | None, title: str = "", right: str = "",
                fontsize: float = 14.0) -> None:
    """Header of a figure, above its axes: the title (left) and a note (right) on one line,
    and the data label (``data_label``, emulated data in red) on a line of its own above them,
    so that neither can run into the other.

    Args:
        ax: matplotlib axes (the top panel).
        info: data info (``emiss.inference.results.data_info``) or None (no data line).
        title: left title, e.g. the channel or scenario.
        right: right-hand note, e.g. "post-fit" or "CLs, asymptotic".
        fontsize: size of the title line; the data line is smaller (9 pt).
    """
    if title:
        ax.set_title(title, loc="left", fontsize=fontsize)
    if right:
        ax.set_title(right, loc="right", fontsize=0.85 * fontsize)
    text = data_label(info)
    if not text:
        return
    pad = float(plt.rcParams["axes.titlepad"])
    rise = pad + (1.5 * fontsize if (title or right) else 0.0)
    ax.annotate(text, xy=(0.0, 1.0), xycoords="axes fraction", xytext=(0.0, rise),
                textcoords="offset points", ha="left", va="bottom", fontsize=9,
                color=_data_colour(info), annotation_clip=False)


def save_figure(
    fig: plt.Figure, stem: str | os.PathLike, formats: tuple[str, ...] = ("png", "pdf")
) -> list[Path]:
    """Save fig as stem.<fmt> for each format, atomically and deterministically, then close it.

    Args:
        fig: the figure.
        stem: output path without suffix.
        formats: file formats.

    Returns:
        The written paths.
    """
    import io

    stem = Path(stem)
    out = []
    for fmt in formats:
        buf = io.BytesIO()
        # fixed metadata so the files are byte-reproducible
        meta = {"Software": None} if fmt == "png" else {"Creator": None, "Producer": None,
                                                         "CreationDate": None}
        fig.savefig(buf, format=fmt, metadata=meta, bbox_inches="tight", dpi=150)
        out.append(atomic_write_bytes(stem.with_suffix(f".{fmt}"), buf.getvalue()))
    plt.close(fig)
    return out
