"""Electroweak precision: the oblique parameters S, T, U against the PDG global fit.

PDG 2024 review "Electroweak model and constraints on new physics" (Erler, Freitas), eq. (10.98):
S = -0.04 +- 0.10, T = 0.01 +- 0.12, U = -0.01 +- 0.09 (eq. (10.99), U = 0: S = -0.05 +- 0.07,
T = 0.00 +- 0.06). **The correlation coefficients of that fit are not reproduced here** (they
could not be verified for this release): the default chi^2 treats S, T, U as uncorrelated.
For a contribution that is dominated by T (as the T'-t mixing is, T/S ~ 25), neglecting the
large positive S-T correlation *weakens* the bound (the conditional width of T at fixed S is
narrower than its marginal width), so the exclusion drawn is conservative. Pass ``correlation``
to use the published matrix.

Exclusion of a one-parameter family x (here x = s_L^2 at fixed m_T, S, T, U linear in x):
Delta chi^2(x) = chi^2(x) - min_{x' >= 0} chi^2(x') > 3.84 (95 % CL, one parameter; PDG
Statistics review, Table 40.2).
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike

log = logging.getLogger(__name__)

#: (S, T, U) central values, PDG 2024 eq. (10.98).
STU_CENTRAL = np.array([-0.04, 0.01, -0.01])
#: their 1 sigma uncertainties.
STU_SIGMA = np.array([0.10, 0.12, 0.09])
#: Delta chi^2 for 95 % CL, one parameter.
DCHI2_95_1D: float = 3.841
SOURCE = "PDG 2024, Electroweak model and constraints on new physics, eq. (10.98)"


def covariance(correlation: ArrayLike | None = None) -> np.ndarray:
    """Covariance of (S, T, U): diagonal unless a 3x3 correlation matrix is given."""
    rho = np.eye(3) if correlation is None else np.asarray(correlation, dtype=float)
    return np.outer(STU_SIGMA, STU_SIGMA) * rho


def chi2(stu: ArrayLike, correlation: ArrayLike | None = None) -> np.ndarray:
    """chi^2 of model values (S, T, U) against the fit; stu has shape (..., 3)."""
    d = np.asarray(stu, dtype=float) - STU_CENTRAL
    W = np.linalg.inv(covariance(correlation))
    return np.einsum("...i,ij,...j->...", d, W, d)


def delta_chi2_linear(x, v, correlation=None):
    """Delta chi^2 of the family (S, T, U) = x v, x >= 0, relative to its best x.

    Args:
        x: values of the family parameter (array).
        v: (S, T, U) per unit x, shape (..., 3) broadcasting with x[..., None].
        correlation: optional correlation matrix.

    Returns:
        Delta chi^2 (array like x).
    """
    x = np.asarray(x, dtype=float)
    v = np.asarray(v, dtype=float)
    W = np.linalg.inv(covariance(correlation))
    vWv = np.einsum("...i,ij,...j->...", v, W, v)
    vWm = np.einsum("...i,ij,j->...", v, W, STU_CENTRAL)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_best = np.clip(np.where(vWv > 0, vWm / vWv, 0.0), 0.0, None)
    c_x = chi2(x[..., None] * v, correlation)
    c_best = chi2(x_best[..., None] * v, correlation)
    return c_x - c_best
