"""Two- and three-body kinematics helpers (vectorised numpy)."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def kallen(a, b, c):
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


def kallen_clipped(a, b, c):
    """lambda(a, b, c) with tiny negative round-off at the endpoint set to 0."""
    return np.clip(kallen(a, b, c), 0.0, None)


def p_meson(q2, m_B: float, m_M: float):
    """|p_M| of the final meson in the B rest frame: sqrt(lambda(m_B^2, m_M^2, q^2)) / (2 m_B).

    Args:
        q2: invariant mass squared of the invisible system (GeV^2).
        m_B: parent mass (GeV).
        m_M: meson mass (GeV).

    Returns:
        Momentum in GeV (0 at and beyond the endpoint).
    """
    return np.sqrt(kallen_clipped(m_B**2, m_M**2, q2)) / (2.0 * m_B)


def beta(q2, m_X: float):
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
