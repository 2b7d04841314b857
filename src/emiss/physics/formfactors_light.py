"""Form factors of the related modes B -> pi (BCL, FLAG lattice average) and K -> pi (dispersive).

The B -> rho and B_s -> phi sets reuse ``formfactors.BKstarFormFactors`` (BSZ parameterisation,
arXiv:1503.05534) and live in ``emiss.physics.formfactors``; this module holds the two
pseudoscalar-to-pseudoscalar parameterisations that the B -> K code does not cover.

* B -> pi: BCL z expansion (Bourrely, Caprini, Lellouch arXiv:0807.2722) with the FLAG
  conventions (N = 3, f0 without pole, a0_2 fixed by f+(0) = f0(0)); FLAG lattice average of
  FNAL/MILC arXiv:1503.07839 and RBC/UKQCD arXiv:1501.05373 (``data/ff_Bpi_FLAG2019.json``).
  Lattice data cover q^2 >~ 16 GeV^2: at low q^2 the fit is an extrapolation (its covariance
  carries that).
  Alternative set "B->pi@GKvD2018": combined LCSR + lattice fit of Gubernari, Kokulu, van Dyk
  arXiv:1811.00983 in the BSZ parameterisation (``data/ff_Bpi_GKvD2018.json``), better
  constrained at low q^2 where the lattice-only fit extrapolates.
* K -> pi: dispersive parameterisation (Bernard, Oertel, Passemar, Stern arXiv:0903.1654,
  FlaviaNet arXiv:1005.2323 eqs. (33), (37)) with f+(0) from FLAG 2021 and the slope Lambda_+
  of arXiv:1602.04113 (``data/ff_Kpi_FLAG2021.json``).

Both objects offer ``fplus(q2)`` and ``f0(q2)``, vectorised in q^2 (GeV^2), which is all the
vector-current amplitudes (``emiss.physics.currents``) need.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numpy.typing import ArrayLike

from emiss.physics import constants as C

log = logging.getLogger(__name__)

_N = 3



def conformal_z(q2: ArrayLike, t_plus: float, t0: float) -> np.ndarray:
    """Conformal variable z = (sqrt(t+ - q2) - sqrt(t+ - t0)) / (sqrt(t+ - q2) + sqrt(t+ - t0))
    in which the BCL (Bourrely, Caprini, Lellouch arXiv:0807.2722) and BSZ (Bharucha, Straub,
    Zwicky arXiv:1503.05534, eqs. (10)-(12)) series expand the form factors.

    Args:
        q2: momentum transfer squared (GeV^2), scalar or array.
        t_plus: pair-production threshold (GeV^2).
        t0: the expansion point (GeV^2).

    Returns:
        z(q2).
    """
    q2 = np.asarray(q2, dtype=float)
    s1 = np.sqrt(t_plus - q2)
    s0 = np.sqrt(t_plus - t0)
    return (s1 - s0) / (s1 + s0)

class BPiFormFactors:
    """B -> pi f+ and f0 in the BCL parameterisation with FLAG conventions."""

    def __init__(self, ap: ArrayLike, a0_01: np.ndarray) -> None:
        """Args:
        ap: a+_0, a+_1, a+_2.
        a0_01: a0_0, a0_1 (a0_2 follows from f+(0) = f0(0)).
        """
        self.m_B = C.mass("B+")
        self.m_P = C.mass("pi0")
        self.m_pole = C.mass("B*")
        self.t_plus = (self.m_B + self.m_P) ** 2
        self.t0 = (self.m_B + self.m_P) * (math.sqrt(self.m_B) - math.sqrt(self.m_P)) ** 2
        self.ap = np.asarray(ap, dtype=float)
        z0 = float(self.z(0.0))
        a0 = [float(a0_01[0]), float(a0_01[1])]
        fp0 = float(self._series_plus(np.array(z0)))
        a0.append((fp0 - a0[0] - a0[1] * z0) / z0**2)
        self.a0 = np.array(a0)

    def z(self, q2):
        """Conformal variable with the FLAG t0."""
        return conformal_z(q2, self.t_plus, self.t0)

    def _series_plus(self, z):
        return sum(self.ap[n] * (z**n - (-1.0) ** (n - _N) * (n / _N) * z**_N) for n in range(_N))

    def fplus(self, q2):
        """Vector form factor f+(q^2)."""
        q2 = np.asarray(q2, dtype=float)
        return self._series_plus(self.z(q2)) / (1.0 - q2 / self.m_pole**2)

    def f0(self, q2):
        """Scalar form factor f0(q^2)."""
        z = self.z(q2)
        return sum(self.a0[n] * z**n for n in range(_N))


class BPiBSZFormFactors:
    """B -> pi f+ and f0 in the BSZ parameterisation of arXiv:1811.00983 (LCSR + lattice)."""

    def __init__(self, ap: ArrayLike, a0_12: np.ndarray, m_res: dict) -> None:
        """Args:
        ap: a0, a1, a2 of f+.
        a0_12: a1, a2 of f0 (a0 of f0 = a0 of f+).
        m_res: pole masses {"fplus", "f0"} in GeV.
        """
        self.m_B = C.mass("B+")
        self.m_P = C.mass("pi0")
        self.t_plus = (self.m_B + self.m_P) ** 2
        t_minus = (self.m_B - self.m_P) ** 2
        self.t0 = self.t_plus * (1.0 - math.sqrt(1.0 - t_minus / self.t_plus))
        self.ap = np.asarray(ap, dtype=float)
        self.a0 = np.array([self.ap[0], float(a0_12[0]), float(a0_12[1])])
        self.m_plus = float(m_res["fplus"])
        self.m_zero = float(m_res["f0"])
        self._z0 = float(self.z(0.0))

    def z(self, q2):
        """Conformal variable with the BSZ t0."""
        return conformal_z(q2, self.t_plus, self.t0)

    def _ff(self, a, m_pole, q2):
        q2 = np.asarray(q2, dtype=float)
        dz = self.z(q2) - self._z0
        return (a[0] + a[1] * dz + a[2] * dz**2) / (1.0 - q2 / m_pole**2)

    def fplus(self, q2):
        """Vector form factor f+(q^2)."""
        return self._ff(self.ap, self.m_plus, q2)

    def f0(self, q2):
        """Scalar form factor f0(q^2)."""
        return self._ff(self.a0, self.m_zero, q2)


class KPiFormFactors:
    """K -> pi f+ and f0 in the dispersive parameterisation (arXiv:0903.1654, 1005.2323)."""

    def __init__(self, p: dict) -> None:
        """Args:
        p: parameter name -> value (fp0, Lambda_plus, lnC, D, d, k, H1, H2).
        """
        self.p = {k: float(v) for k, v in p.items()}
        self.m_K = C.mass("K_L")
        self.m_pi = C.mass("pi+")
        self.t0 = (self.m_K - self.m_pi) ** 2
        self.delta = self.m_K**2 - self.m_pi**2

    def fplus(self, q2):
        """f+(t) = f+(0) exp[(t/m_pi^2)(Lambda_+ + H(t/t0))] (1005.2323 eq. (37))."""
        q2 = np.asarray(q2, dtype=float)
        p = self.p
        x = q2 / self.t0
        H = p["H1"] * x + p["H2"] * x**2
        return p["fp0"] * np.exp(q2 / self.m_pi**2 * (p["Lambda_plus"] + H))

    def f0(self, q2):
        """f0(t) = f+(0) exp[t/Delta_Kpi (ln C - G(t/t0))] (1005.2323 eq. (33))."""
        q2 = np.asarray(q2, dtype=float)
        p = self.p
        x = q2 / self.t0
        G = x * p["D"] + (1.0 - x) * p["d"] + x * (1.0 - x) * p["k"]
        return p["fp0"] * np.exp(q2 / self.delta * (p["lnC"] - G))


def bpi_parameters(raw: dict) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(names, means, covariance) of the FLAG B -> pi BCL coefficients."""
    return (tuple(raw["names"]), np.asarray(raw["means"], dtype=float),
            np.asarray(raw["covariance"], dtype=float))


def bpi_from_values(x: ArrayLike, raw: dict | None = None) -> BPiFormFactors | BPiBSZFormFactors:
    """B -> pi form factors from the 5 independent coefficients of the set in raw.

    FLAG2019 (BCL): (a+_0, a+_1, a+_2, a0_0, a0_1); GKvD2018 (BSZ): (a0, a1, a2 of f+; a1, a2
    of f0).
    """
    x = np.asarray(x, dtype=float)
    if raw is not None and raw.get("set") == "GKvD2018":
        return BPiBSZFormFactors(x[0:3], x[3:5], raw["resonance_masses_GeV"])
    return BPiFormFactors(x[0:3], x[3:5])


def kpi_parameters(raw: dict) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(names, means, diagonal covariance) of the varied K -> pi parameters."""
    names = tuple(raw["varied"])
    means = np.array([raw["parameters"][n]["value"] for n in names], dtype=float)
    unc = np.array([raw["parameters"][n]["uncertainty"] for n in names], dtype=float)
    return names, means, np.diag(unc**2)


def kpi_from_values(raw: dict, x: ArrayLike) -> KPiFormFactors:
    """KPiFormFactors with the varied parameters set to x (the others at their values)."""
    p = {n: v["value"] for n, v in raw["parameters"].items()}
    for n, v in zip(raw["varied"], np.asarray(x, dtype=float), strict=True):
        p[n] = v
    return KPiFormFactors(p)
