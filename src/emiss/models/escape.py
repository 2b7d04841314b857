"""Probability that a particle from B -> M X escapes the Belle II detector before decaying.

Geometry (assumption, stated): the detector is a sphere of radius L = 3 m around the interaction
point. The Belle II detector (Technical Design Report, Abe et al., arXiv:1011.0352) reaches
about 3 m from the beam line with its outermost layer (the K_L/muon system, KLM) — a decay
anywhere inside is taken as visible (tracks, calorimeter or KLM deposits), a decay outside as
missing energy. ``radius_m`` lets users choose another value.

Kinematics: X has momentum p* = lambda^{1/2}(m_B^2, m_M^2, m_X^2)/(2 m_B) in the B rest frame,
emitted isotropically; the B moves with the Upsilon(4S) boost of SuperKEKB, beta gamma =
(E_HER - E_LER)/(2 sqrt(E_HER E_LER)) = 0.2835 for 7.0 GeV electrons on 4.0 GeV positrons
(Belle II TDR, arXiv:1011.0352, Sec. 1); the B motion in the Upsilon(4S) frame
(|p_B| ~ 0.33 GeV, beta gamma ~ 0.06) is neglected. For lab momentum p the survival
probability over L is exp(-L m_X / (p c tau)); it is averaged over cos(theta*) with
48-point Gauss-Legendre quadrature.
"""

from __future__ import annotations

import logging
import math
from typing import overload

import numpy as np
from numpy.typing import ArrayLike

from emiss.physics.kinematics import kallen_clipped

log = logging.getLogger(__name__)

#: Assumed detector radius (m), see module doc.
BELLE2_RADIUS_M: float = 3.0
#: SuperKEKB beam energies (GeV), Belle II TDR arXiv:1011.0352.
E_HER, E_LER = 7.0, 4.0
#: beta gamma of the Upsilon(4S) in the lab.
BETA_GAMMA_Y4S: float = (E_HER - E_LER) / (2.0 * math.sqrt(E_HER * E_LER))

_X, _W = np.polynomial.legendre.leggauss(48)


def lab_momenta(m_B: float, m_M: float, m_X: float) -> tuple[np.ndarray, np.ndarray]:
    """Lab momenta of X at the quadrature nodes in cos(theta*) and their weights (sum 1).

    Args:
        m_B, m_M, m_X: masses (GeV).

    Returns:
        (p_lab at each node in GeV, weights).
    """
    p_star = math.sqrt(float(kallen_clipped(m_B**2, m_M**2, m_X**2))) / (2.0 * m_B)
    e_star = math.hypot(p_star, m_X)
    bg = BETA_GAMMA_Y4S
    g = math.sqrt(1.0 + bg * bg)
    pz = g * p_star * _X + bg * e_star
    pt2 = p_star**2 * (1.0 - _X**2)
    return np.sqrt(pz**2 + pt2), 0.5 * _W


@overload
def escape_probability(m_B: float, m_M: float, m_X: float, ctau_m: float,
                       radius_m: float = ...) -> float: ...


@overload
def escape_probability(m_B: float, m_M: float, m_X: float, ctau_m: np.ndarray,
                       radius_m: float = ...) -> np.ndarray: ...


def escape_probability(m_B: float, m_M: float, m_X: float, ctau_m: ArrayLike,
                       radius_m: float = BELLE2_RADIUS_M) -> np.ndarray | float:
    """Probability that X from B -> M X decays beyond radius_m.

    Args:
        m_B, m_M, m_X: masses (GeV), m_X > 0.
        ctau_m: proper decay length c tau in m (scalar or array; inf = stable).
        radius_m: detector radius in m.

    Returns:
        Probability in [0, 1] (same shape as ctau_m; a float for a scalar ctau_m).
    """
    p, w = lab_momenta(m_B, m_M, m_X)
    ctau = np.asarray(ctau_m, dtype=float)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        lam = (p / m_X)[..., None] * ctau.reshape(1, -1)  # lab decay length per node
        surv = np.where(np.isinf(lam), 1.0, np.exp(-radius_m / lam))
    out = (w[:, None] * surv).sum(axis=0)
    return out.reshape(ctau.shape) if ctau.shape else float(out[0])
