"""Observables of a Spectrum beyond the rate: binned <F_L> of B -> K* decays.

<F_L>_bin = int_bin dB_L/dq^2 / int_bin dB/dq^2 (the binned longitudinal fraction; seed talk,
shared/reference/physics.md; arXiv:1409.4557 eq. (12) for the q^2-integrated F_L). Lines count
in the bin that holds them (``Spectrum.bin_integrals`` / ``bin_integrals_long``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from emiss.errors import EmissError

if TYPE_CHECKING:
    from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: Default q^2 bins (GeV^2) for reporting <F_L> of B -> K* decays: low / central / high q^2,
#: up to the B+ -> K*+ endpoint (m_B+ - m_K*+)^2 = 19.25 GeV^2.
DEFAULT_FL_EDGES: tuple[float, ...] = (0.0, 4.0, 8.0, 12.0, 16.0, 19.25)


def binned_fl(spectrum: Spectrum, edges: Sequence[float] | np.ndarray = DEFAULT_FL_EDGES,
              n_sub: int = 8) -> np.ndarray:
    """<F_L> per q^2 bin: longitudinal over total branching ratio in the bin.

    Args:
        spectrum: a K* Spectrum (``continuum_long`` / ``lines_long`` set).
        edges: increasing q^2 bin edges in GeV^2.
        n_sub: Gauss-Legendre panels per bin.

    Returns:
        Array of len(edges) - 1; nan where the bin holds no rate.

    Raises:
        EmissError: not a K* spectrum (no longitudinal part) or bad edges.
    """
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
        raise EmissError(f"q^2 bin edges {list(edges)!r} invalid; valid: increasing numbers, >= 2")
    if spectrum.fl() is None:
        raise EmissError(f"spectrum for {spectrum.process} has no longitudinal part; binned F_L "
                         "is defined for B -> K* only")
    tot = np.asarray(spectrum.bin_integrals(e, n_sub=n_sub), dtype=float)
    lon = np.asarray(spectrum.bin_integrals_long(e, n_sub=n_sub), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, lon / np.where(tot > 0, tot, 1.0), np.nan)


def fl_row(spectrum: Spectrum,
           edges: Sequence[float] | np.ndarray = DEFAULT_FL_EDGES) -> dict[str, Any]:
    """Scan-row fields: integrated F_L and binned <F_L> (JSON-ready, nan -> None).

    Args:
        spectrum: a K* Spectrum.
        edges: q^2 bin edges.

    Returns:
        {"FL": float, "FL_binned": [..], "FL_q2_edges": [..]}.
    """
    vals = binned_fl(spectrum, edges)
    fl = spectrum.fl()
    return {
        "FL": None if fl is None or not np.isfinite(fl) else float(fl),
        "FL_binned": [None if not np.isfinite(v) else float(v) for v in vals],
        "FL_q2_edges": [float(x) for x in edges],
    }
