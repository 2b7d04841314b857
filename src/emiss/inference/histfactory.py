"""The HistFactory terms both likelihood engines evaluate, with pyhf 0.7.6's semantics.

The single-point engine (:mod:`emiss.inference.fastmodel`) and the batched one
(:mod:`emiss.inference.batch`) compile the same model (Cranmer et al., CERN-OPEN-2012-016, as
implemented in pyhf 0.7.6: pyhf/interpolators/code4.py and code4p.py, pyhf/constraints.py,
pyhf/pdf.py); this module holds the formulas they share, vectorised over any leading axes:

* normsys, interpolation code 4: a factor f(alpha) = 1 + sum_k a_k alpha^k (k = 1..6) inside
  |alpha| < 1, hi^alpha above, lo^-alpha below (``code4_coefficients``, ``code4_poly``,
  ``code4``);
* histosys, interpolation code 4p: a delta alpha S + A h(alpha) inside |alpha| <= 1 with
  S = (up + dn) / 2, A = (up - dn) / 16 and h(alpha) = alpha^2 (15 - 10 alpha^2 + 3 alpha^4),
  alpha up above and alpha dn below (up = hi - nominal, dn = nominal - lo; ``code4p_blocks``,
  ``code4p_h``, ``code4p_dh``, ``code4p``);
* the Poisson main term and the Gaussian (normsys, histosys, staterror, lumi) and Poisson
  (shapesys) constraint terms of -ln L, pyhf's constants included (``poisson_nll``,
  ``gaussian_nll``, ``gaussian_const``, ``lgamma_const``), with their gradients and
  curvatures (``gaussian_grad``, ``poisson_constraint_grad``, ...).

Every function keeps the order of floating-point operations of the engines it serves, so the
engines give the same numbers bit for bit whichever calls it.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy.special import gammaln, xlogy

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- normsys: code 4
# Polynomial coefficients of code 4 (alpha0 = 1): a = A^-1 b, pyhf/interpolators/code4.py
# (HistFactory interpolation "code 4", CERN-OPEN-2012-016 and ROOT's FlexibleInterpVar).
_A_INV = np.array([
    [15.0 / 16, -15.0 / 16, -7.0 / 16, -7.0 / 16, 1.0 / 16, -1.0 / 16],
    [3.0 / 2, 3.0 / 2, -9.0 / 16, 9.0 / 16, 1.0 / 16, 1.0 / 16],
    [-5.0 / 8, 5.0 / 8, 5.0 / 8, 5.0 / 8, -1.0 / 8, 1.0 / 8],
    [3.0 / -2, 3.0 / -2, -7.0 / -8, 7.0 / -8, -1.0 / 8, -1.0 / 8],
    [3.0 / 16, -3.0 / 16, -3.0 / 16, -3.0 / 16, 1.0 / 16, -1.0 / 16],
    [1.0 / 2, 1.0 / 2, -5.0 / 16, 5.0 / 16, 1.0 / 16, 1.0 / 16],
])


def code4_coefficients(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Code-4 polynomial coefficients a_1..a_6 for up/down factors (shape (6, n))."""
    lu, ld = np.log(hi), np.log(lo)
    b = np.stack([hi - 1.0, lo - 1.0, lu * hi, -ld * lo, lu**2 * hi, ld**2 * lo])
    return _A_INV @ b


def code4_dcoefficients(coef: np.ndarray) -> np.ndarray:
    """Coefficients k a_k of the derivative of the code-4 polynomial (shape of coef)."""
    return coef * np.arange(1.0, 7.0)[:, None]


def code4_d2coefficients(coef: np.ndarray) -> np.ndarray:
    """Coefficients k (k - 1) a_k (k = 2..6) of its second derivative (shape (5, n))."""
    return coef[1:] * (np.arange(2.0, 7.0) * np.arange(1.0, 6.0))[:, None]


def code4_poly(a: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """1 + sum_k coef_k a^k (k = 1..6, Horner): the code-4 factor inside |alpha| < 1."""
    c = coef
    return 1.0 + a * (c[0] + a * (c[1] + a * (c[2] + a * (c[3] + a * (c[4] + a * c[5])))))


def code4_dpoly(a: np.ndarray, dcoef: np.ndarray) -> np.ndarray:
    """Its derivative sum_k k coef_k a^(k - 1), from ``code4_dcoefficients``."""
    dc = dcoef
    return dc[0] + a * (dc[1] + a * (dc[2] + a * (dc[3] + a * (dc[4] + a * dc[5]))))


def code4(alpha: np.ndarray, hi: np.ndarray, lo: np.ndarray,
          coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code-4 factor and its derivative at alpha (elementwise; both branches evaluated).

    The derivative polynomial multiplies the coefficients inside (alpha 6 a_6, not
    alpha (6 a_6) as ``code4_dpoly``): the batched engine's gradients keep their last bits.

    Returns:
        (f, df/dalpha).
    """
    a = alpha
    poly = code4_poly(a, coef)
    dpoly = coef[0] + a * (2 * coef[1] + a * (3 * coef[2] + a * (4 * coef[3] + a * (
        5 * coef[4] + a * 6 * coef[5]))))
    up = hi ** a
    dn = lo ** (-a)
    f = np.where(a >= 1.0, up, np.where(a > -1.0, poly, dn))
    df = np.where(a >= 1.0, np.log(hi) * up, np.where(a > -1.0, dpoly, -np.log(lo) * dn))
    return f, df


# ---------------------------------------------------------------- histosys: code 4p
def code4p_blocks(up: np.ndarray, dn: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-entry weights (S, A, U, D) of the code-4p delta: alpha S + A h(alpha) inside
    |alpha| <= 1, alpha U above, alpha D below.

    Args:
        up: hi - nominal.
        dn: nominal - lo.

    Returns:
        (S, A, U, D) = ((up + dn) / 2, (up - dn) / 16, up, dn).
    """
    return 0.5 * (up + dn), 0.0625 * (up - dn), up, dn


def _h_inner(a2: np.ndarray) -> np.ndarray:
    """15 - 10 alpha^2 + 3 alpha^4, from alpha^2: h(alpha) = alpha^2 times this."""
    return 15.0 + a2 * (-10.0 + 3.0 * a2)


def _dh_inner(a2: np.ndarray) -> np.ndarray:
    """30 - 40 alpha^2 + 18 alpha^4, from alpha^2: h'(alpha) = alpha times this."""
    return 30.0 + a2 * (-40.0 + 18.0 * a2)


def code4p_h(a2: np.ndarray) -> np.ndarray:
    """h(alpha) = alpha^2 (15 - 10 alpha^2 + 3 alpha^4), the weight of A, from alpha^2."""
    return a2 * _h_inner(a2)


def code4p_dh(a: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """h'(alpha) = alpha (30 - 40 alpha^2 + 18 alpha^4), from alpha and alpha^2."""
    return a * _dh_inner(a2)


def code4p_d2h(a2: np.ndarray) -> np.ndarray:
    """h''(alpha) = 30 - 120 alpha^2 + 90 alpha^4, from alpha^2."""
    return 30.0 + a2 * (-120.0 + 90.0 * a2)


def code4p(alpha: np.ndarray, dup: np.ndarray, ddn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code-4p additive delta and derivative (pyhf/interpolators/code4p.py).

    Args:
        alpha: nuisance values per entry.
        dup: hi - nominal.
        ddn: nominal - lo.

    Returns:
        (delta, d delta / d alpha).
    """
    S, A, _, _ = code4p_blocks(dup, ddn)
    a2 = alpha * alpha
    poly = alpha * S + A * a2 * _h_inner(a2)
    dpoly = S + A * alpha * _dh_inner(a2)
    d = np.where(alpha > 1.0, alpha * dup, np.where(alpha < -1.0, alpha * ddn, poly))
    dd = np.where(alpha > 1.0, dup, np.where(alpha < -1.0, ddn, dpoly))
    return d, dd


# ---------------------------------------------------------------- -ln L terms
# The terms leave their constants to the caller (``lgamma_const``, ``gaussian_const``): each
# engine adds them in its own order, which the engines' numbers depend on in the last bit.
def lgamma_const(n: np.ndarray) -> np.ndarray:
    """sum ln Gamma(n + 1) over the last axis: the constant of a Poisson term (pyhf keeps it;
    non-integer counts allowed)."""
    return np.sum(gammaln(n + 1.0), axis=-1)


def gaussian_const(sigma: np.ndarray) -> float:
    """sum ln(sigma sqrt(2 pi)): the constant of the Gaussian constraint terms."""
    return float(np.sum(np.log(sigma * math.sqrt(2 * math.pi))))


def poisson_nll(n: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """-ln Poisson(n | lam) summed over the last axis, without its constant ``lgamma_const``.

    Args:
        n: counts (main data, or the Poisson auxiliary data of shapesys).
        lam: their expectations.

    Returns:
        sum (lam - n ln lam), one number per leading index.
    """
    return np.sum(lam - xlogy(n, lam), axis=-1)


def gaussian_nll(aux: np.ndarray, theta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """-ln N(aux | theta, sigma) summed over the last axis, without ``gaussian_const``.

    Args:
        aux: auxiliary data.
        theta: the constrained parameters.
        sigma: the constraint widths.

    Returns:
        0.5 sum ((aux - theta) / sigma)^2, one number per leading index.
    """
    z = (aux - theta) / sigma
    return 0.5 * (np.dot(z, z) if z.ndim == 1 else np.sum(z * z, axis=-1))


def gaussian_grad(theta: np.ndarray, aux: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """d(-ln L)/d theta of the Gaussian constraints: (theta - aux) / sigma^2."""
    return (theta - aux) / sigma**2


def gaussian_curvature(sigma: np.ndarray) -> np.ndarray:
    """d2(-ln L)/d theta2 of the Gaussian constraints: 1 / sigma^2."""
    return 1.0 / sigma**2


def poisson_constraint_grad(gamma: np.ndarray, tau: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """d(-ln L)/d gamma of Poisson(aux | gamma tau) (shapesys): tau - aux / gamma."""
    return tau - aux / gamma


def poisson_constraint_curvature(gamma: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """d2(-ln L)/d gamma2 of Poisson(aux | gamma tau): aux / gamma^2."""
    return aux / gamma**2
