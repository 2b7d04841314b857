"""Two-body B -> K(*) X with one light invisible scalar or vector X: an exact line at q^2 = m_X^2.

Operators (chiral basis of Bolton, Fajfer, Kamenik, Novoa-Brunet arXiv:2503.19025 eq. (2.1) and
Kamenik & Smith arXiv:1111.6402 eqs. (2), (4); J^mu and J as in ``emiss.physics.currents``,
+ h.c.):

* scalar, derivative coupling   L = (g / Lambda) (d_mu phi) s̄ gamma^mu (c_L P_L + c_R P_R) b
  |M|^2 = (g/Lambda)^2 q^2 |H_t|^2                       (only the time-like current helicity)
* scalar, density coupling      L = g v / (sqrt(2) Lambda) phi s̄ (c_L P_L + c_R P_R) b
  |M|^2 = (g v / (sqrt(2) Lambda))^2 |H_S|^2
* vector                        L = g V_mu s̄ gamma^mu (c_L P_L + c_R P_R) b
  |M|^2 = g^2 sum_{lambda=0,+,-} |H_lambda|^2   (sum_pol eps eps* = -g + q q / m_V^2)

Two-body width Gamma = |M|^2 lambda^{1/2}(m_B^2, m_M^2, m_X^2) / (16 pi m_B^3) (PDG kinematics
review, eq. (49.18)); B = tau_B Gamma. For B -> K these reproduce the checked closed forms of
shared/reference/physics.md (Kamenik & Smith 1111.6402 eqs. (5), (7)). A scalar X recoils only
against a longitudinal K* (F_L = 1); a vector X populates all three K* helicities.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from emiss.errors import EmissError
from emiss.physics import currents
from emiss.physics.spectrum import Spectrum

if TYPE_CHECKING:
    from emiss.physics.formfactors import FormFactors
    from emiss.physics.processes import Process

log = logging.getLogger(__name__)


def check_mass(process: Process, mass: float, n_particles: int, allow_zero: bool = True) -> float:
    """Validate an invisible-particle mass against the kinematic endpoint of the process.

    The rule is the process' own (``emiss.physics.processes.Process.check_mass``).

    Args:
        process: ``Process``.
        mass: mass of each invisible particle in GeV.
        n_particles: 1 (two-body) or 2 (pair).
        allow_zero: whether m = 0 is physical for this scenario.

    Returns:
        The mass as float.

    Raises:
        EmissError: not a number, NaN, negative, zero when not allowed, or n * m at or above
            m_B - m_M.
    """
    return process.check_mass(mass, n_particles, allow_zero)


def _width_factor(process: Process, m2: float) -> float:
    """lambda^{1/2}(m_B^2, m_M^2, m_X^2) / (16 pi m_B^3): Gamma = |M|^2 times this ."""
    return float(np.sqrt(process.lam(m2)) / (16.0 * np.pi * process.m_B**3))


def _line(process: Process, m2: float, msq_total: float, msq_long: float, label: str,
          meta: dict) -> Spectrum:
    """Spectrum holding one exact line (and its K*-longitudinal part)."""
    w = _width_factor(process, m2) * process.tau_B
    br, br_long = msq_total * w, msq_long * w
    return Spectrum(
        process=process.name, q2_min=0.0, q2_max=process.q2_max, continuum=None,
        lines=((m2, br),), lines_long=(br_long,) if process.is_vector else (),
        label=label, meta=meta,
    )


def scalar_line(process: Process, ff: FormFactors, mass: float, g: float, Lambda: float,
                c_L: float = 1.0, c_R: float = 0.0, coupling: str = "derivative") -> Spectrum:
    """B -> M phi with a light scalar phi (see module doc for the operators).

    Args:
        process: ``Process``.
        ff: form factors of process.ff_kind.
        mass: m_phi in GeV, 0 <= m < m_B - m_M.
        g: dimensionless coupling.
        Lambda: scale in GeV (> 0).
        c_L, c_R: chirality weights of the quark current.
        coupling: "derivative" ((d phi) with s̄ gamma^mu P b) or "density" (phi s̄ P b).

    Returns:
        Spectrum with one line at q^2 = m^2 (longitudinal K* only).
    """
    m = check_mass(process, mass, 1)
    m2 = np.array([m * m])
    if coupling == "derivative":
        h = currents.vector_current(process, ff, m2, c_L, c_R)
        msq = (g / Lambda) ** 2 * float(h.q2Ht[0])
    elif coupling == "density":
        h = currents.scalar_current(process, ff, m2, c_L, c_R)
        msq = (g * currents.higgs_vev() / (math.sqrt(2.0) * Lambda)) ** 2 * float(h.HS[0])
    else:
        raise EmissError(f"unknown scalar coupling {coupling!r}; valid: derivative, density")
    meta = {"mass": m, "spin": 0, "coupling": coupling}
    return _line(process, m * m, msq, msq, f"B->{process.meson} phi (m={m:g} GeV)", meta)


def vector_line(process: Process, ff: FormFactors, mass: float, g: float, c_L: float = 1.0,
                c_R: float = 0.0) -> Spectrum:
    """B -> M V with a light vector V coupled to s̄ gamma^mu (c_L P_L + c_R P_R) b.

    Args:
        process: ``Process``.
        ff: form factors.
        mass: m_V in GeV, 0 < m < m_B - m_M (the longitudinal rate grows as 1/m_V^2).
        g: dimensionless coupling.
        c_L, c_R: chirality weights.

    Returns:
        Spectrum with one line at q^2 = m_V^2 (and its K*-longitudinal part).
    """
    m = check_mass(process, mass, 1, allow_zero=False)
    m2 = m * m
    h = currents.vector_current(process, ff, np.array([m2]), c_L, c_R)
    msq_long = g**2 * float(h.q2H0[0]) / m2
    msq = msq_long + g**2 * float(h.HT[0])
    meta = {"mass": m, "spin": 1}
    return _line(process, m2, msq, msq_long, f"B->{process.meson} V (m={m:g} GeV)", meta)


#: The Breit-Wigner of a broad X is kept within this many widths of its mass (a truncated
#: line shape: the tails of a spin-1 X would otherwise reach q^2 -> 0, where its longitudinal
#: rate grows as 1/m^2).
BW_WINDOW = 10.0
#: Points of the mass grid on which the narrow-width rate is tabulated across the window.
BW_POINTS = 201


def broadened(process: Process, line_at: Callable[[float], Spectrum], mass: float, width: float,
              allow_zero: bool = True) -> Spectrum:
    """A two-body X of finite width: a relativistic Breit-Wigner in q^2 instead of a line.

    dB/dq^2 = N B_line(sqrt(q^2)) (1/pi) m Gamma / ((q^2 - m^2)^2 + m^2 Gamma^2), with
    B_line(mu) the narrow-width rate of the same hypothesis at mass mu (its matrix element and
    two-body phase space evaluated at the invariant mass of the invisible system; PDG review
    "Resonances", eq. (50.5) for the relativistic Breit-Wigner), truncated to
    |sqrt(q^2) - m| < BW_WINDOW Gamma and the kinematic range, and normalised (N) so that the
    total branching ratio is the narrow-width B_line(m): the width moves rate across q^2, not in
    or out of the decay. Gamma -> 0 gives back the line (tested).

    Args:
        process: ``Process``.
        line_at: function mass -> the narrow-width line Spectrum of the hypothesis.
        mass: the pole mass m in GeV.
        width: the total width Gamma in GeV (> 0).
        allow_zero: whether the rate is finite at zero mass (not for spin-1 X).

    Returns:
        Spectrum with a continuum (and its K*-longitudinal part) and no line.
    """
    from scipy.interpolate import PchipInterpolator

    if not (math.isfinite(width) and width > 0):
        raise EmissError(f"width {width!r} GeV of X: valid: a finite width > 0 (0 = a line)")
    m_top = math.sqrt(process.q2_max)
    lo = max(mass - BW_WINDOW * width, 0.0 if allow_zero else 0.05 * mass)
    hi = min(mass + BW_WINDOW * width, m_top * (1.0 - 1e-9))
    masses = np.linspace(lo, hi, BW_POINTS)
    lines = [line_at(float(mu)) for mu in masses]
    br = np.array([s.lines[0][1] for s in lines])
    br_long = np.array([s.lines_long[0] if s.lines_long else 0.0 for s in lines])
    q2_grid = masses**2
    rate = PchipInterpolator(q2_grid, br)
    rate_long = PchipInterpolator(q2_grid, br_long)
    m2, mg = mass * mass, mass * width

    def bw(q2: np.ndarray) -> np.ndarray:
        return mg / math.pi / ((q2 - m2) ** 2 + mg * mg)

    # normalisation on a fine grid (Gauss-Legendre panels resolve the peak: panel size << Gamma)
    n_pan = max(200, int(40 * (hi - lo) / width))
    x, w = np.polynomial.legendre.leggauss(8)
    edges = np.linspace(lo * lo, hi * hi, n_pan + 1)
    half, mid = 0.5 * np.diff(edges), 0.5 * (edges[1:] + edges[:-1])
    q2 = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    total = float(np.sum(weights * bw(q2) * rate(q2)))
    target = float(line_at(mass).lines[0][1])
    norm = target / total if total > 0 else 0.0
    q2_lo, q2_hi = lo * lo, hi * hi

    def inside(q2: np.ndarray) -> np.ndarray:
        q2 = np.asarray(q2, dtype=float)
        return (q2 >= q2_lo) & (q2 <= q2_hi)

    def cont(q2: np.ndarray) -> np.ndarray:
        q2 = np.asarray(q2, dtype=float)
        return np.where(inside(q2), norm * bw(q2) * rate(np.clip(q2, q2_lo, q2_hi)), 0.0)

    def cont_long(q2: np.ndarray) -> np.ndarray:
        q2 = np.asarray(q2, dtype=float)
        return np.where(inside(q2), norm * bw(q2) * rate_long(np.clip(q2, q2_lo, q2_hi)), 0.0)

    ref = line_at(mass)
    return Spectrum(process=process.name, q2_min=q2_lo, q2_max=q2_hi, continuum=cont,
                    continuum_long=cont_long if process.is_vector else None,
                    label=f"{ref.label}, width {width:g} GeV",
                    meta={**ref.meta, "width": width})
