"""Two- and three-body kinematics helpers (vectorised numpy)."""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike

log = logging.getLogger(__name__)


def kallen(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> np.ndarray:
    """Kallen function lambda(a, b, c) = a^2 + b^2 + c^2 - 2(ab + bc + ca).

    Args:
        a, b, c: squared masses (scalars or arrays, GeV^2 each).

    Returns:
        lambda in GeV^4 (same shape as the broadcast inputs).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    return a * a + b * b + c * c - 2.0 * (a * b + b * c + c * a)


def kallen_clipped(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> np.ndarray:
    """lambda(a, b, c) with tiny negative round-off at the endpoint set to 0."""
    return np.clip(kallen(a, b, c), 0.0, None)


def p_meson(q2: ArrayLike, m_B: float, m_M: float) -> np.ndarray:
    """|p_M| of the final meson in the B rest frame: sqrt(lambda(m_B^2, m_M^2, q^2)) / (2 m_B).

    Args:
        q2: invariant mass squared of the invisible system (GeV^2).
        m_B: parent mass (GeV).
        m_M: meson mass (GeV).

    Returns:
        Momentum in GeV (0 at and beyond the endpoint).
    """
    return np.sqrt(kallen_clipped(m_B**2, m_M**2, q2)) / (2.0 * m_B)


def beta(q2: ArrayLike, m_X: float) -> np.ndarray:
    """Velocity of each of two equal-mass particles in their rest frame: sqrt(1 - 4 m_X^2 / q^2).

    Args:
        q2: pair invariant mass squared (GeV^2), > 0.
        m_X: mass of each particle (GeV).

    Returns:
        beta in [0, 1) (0 below threshold).
    """
    q2 = np.asarray(q2, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = 1.0 - 4.0 * m_X**2 / q2
    return np.sqrt(np.clip(np.where(q2 > 0, x, 0.0), 0.0, None))


def tau_cascade_q2_range(m_B: float, m_M: float, m_tau: float) -> tuple[float, float]:
    """q^2 = (p_B - p_M)^2 range of B -> tau (-> M nu) nu with a B at rest.

    Two-body kinematics twice (Kamenik & Smith arXiv:0908.1174): the tau has fixed energy
    E_tau = (m_B^2 + m_tau^2)/(2 m_B) in the B frame; M from tau -> M nu has energy
    (m_tau^2 + m_M^2)/(2 m_tau) in the tau frame, boosted to [E_min, E_max]; then
    q^2 = m_B^2 + m_M^2 - 2 m_B E_M.

    Args:
        m_B: B mass (GeV).
        m_M: meson mass (GeV).
        m_tau: tau mass (GeV).

    Returns:
        (q2_lo, q2_hi) in GeV^2 (q2_lo may be negative: the caller clips it where needed).
    """
    e_tau = (m_B**2 + m_tau**2) / (2 * m_B)
    p_tau = (m_B**2 - m_tau**2) / (2 * m_B)
    e_m = (m_tau**2 + m_M**2) / (2 * m_tau)
    p_m = (m_tau**2 - m_M**2) / (2 * m_tau)
    g, gb = e_tau / m_tau, p_tau / m_tau
    e_min, e_max = g * e_m - gb * p_m, g * e_m + gb * p_m
    return m_B**2 + m_M**2 - 2 * m_B * e_max, m_B**2 + m_M**2 - 2 * m_B * e_min
