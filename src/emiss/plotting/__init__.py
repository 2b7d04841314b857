"""Figures: one module per stage's plots; this module holds the shared style and saving."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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
