"""Figures: one module per stage's plots; this module holds the shared style and saving."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from emiss.io import atomic_write_bytes  # noqa: E402

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
        "emulated data (...)" for the emulation, "data: HEPData ..., arXiv:..." for real data,
        "" when unknown.
    """
    if not info:
        return ""
    if info.get("label"):
        return str(info["label"])
    from emiss.inference.results import data_info

    return data_info(info)["label"] if info.get("emulated_data") is not None else ""


def draw_data_label(ax: Any, info: Mapping[str, Any] | None, loc: str = "upper left") -> None:
    """Write the data label (``data_label``) inside the axes; emulated data in red.

    Args:
        ax: matplotlib axes.
        info: data info or None (nothing drawn).
        loc: "upper left", "upper right" (inside the axes) or "title" (the left title).
    """
    text = data_label(info)
    if not text:
        return
    if loc == "title":
        ax.set_title(text, loc="left", fontsize=9,
                     color="#b00000" if info.get("emulated_data") else "black")
        return
    x, ha = (0.02, "left") if loc == "upper left" else (0.98, "right")
    ax.text(x, 0.97, text, transform=ax.transAxes, va="top", ha=ha, fontsize=10,
            color="#b00000" if info.get("emulated_data") else "black",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


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
