"""Decays of a light vector that couples to the electromagnetic current (kinetic mixing) or to a
dark Dirac fermion: partial widths, with hadrons through the R ratio in perturbative QCD.

For L ⊃ eps e A'_mu J_em^mu (J_em = sum_f Q_f f̄ gamma^mu f) and a vector of mass M:

* leptons:  Gamma(A' -> l+ l-) = (eps^2 alpha M / 3) (1 + 2 r) sqrt(1 - 4 r), r = m_l^2/M^2
  (tree level, the QED width of a massive vector; as in the review of Fabbrichesi, Gabrielli,
  Lanfranchi, "The Dark Photon", arXiv:2005.01515, Sec. 3);
* hadrons:  Gamma(A' -> hadrons) = (eps^2 alpha M / 3) R(M^2), R = sigma(e+e- -> hadrons) /
  sigma_point(e+e- -> mu+mu-) (the same reference; the hadronic current couples like a muon
  pair of the same invariant mass, so the ratio of widths is the ratio of cross sections);
* a dark Dirac fermion X with L ⊃ g_X A'_mu X̄ gamma^mu X:
  Gamma(A' -> X X̄) = (g_X^2 M / (12 pi)) (1 + 2 r) sqrt(1 - 4 r), r = m_X^2/M^2 (the lepton
  formula with eps e -> g_X).

R(s) is taken from perturbative QCD, R = N_c sum_q Q_q^2 [1 + a + c_2 a^2 + c_3 a^3] with
a = alpha_s(sqrt s)/pi, c_2 = 1.9857 - 0.1152 n_f, c_3 = -6.63694 - 1.20013 n_f - 0.00518 n_f^2
- 1.240 eta, eta = (sum Q_q)^2 / (3 sum Q_q^2) (PDG 2024 review "Quantum chromodynamics",
eq. (9.7)), quarks counted above their open-flavour thresholds (c above 2 m_D0, b above 2 m_B).
alpha_s(mu) runs from alpha_s(M_Z) = 0.1180 at two loops with n_f = 5, 4, 3 below m_b, m_c
(PDG MS-bar masses; continuous matching). **Approximation:** this is a good description of the
measured R only above the resonance region, sqrt(s) >~ 1.8 GeV (below, rho, omega, phi and their
excitations dominate; see the PDG plot of R(s)); ``r_ratio_valid`` says so and callers flag it.
"""

from __future__ import annotations

import logging
import math
from functools import cache

from scipy.integrate import solve_ivp

from emiss.physics import constants as C

log = logging.getLogger(__name__)

#: Lowest sqrt(s) (GeV) at which perturbative R(s) is used as a description of the data.
R_PQCD_MIN = 1.8
_QUARKS = (("u", 2 / 3, 0.0), ("d", -1 / 3, 0.0), ("s", -1 / 3, 0.0))


def _threshold(name: str) -> float:
    if name == "c":
        return 2.0 * 1.86484  # 2 m_D0 (PDG)
    return 2.0 * C.mass("B+")


@cache
def _quark_masses_msbar() -> tuple[float, float]:
    return C.pdg_mass_gev(4), C.pdg_mass_gev(5)


def _beta(a: float, nf: int) -> float:
    b0 = 11.0 - 2.0 * nf / 3.0
    b1 = 102.0 - 38.0 * nf / 3.0
    return -(b0 * a**2 / (4 * math.pi) + b1 * a**3 / (16 * math.pi**2))


def _run(alpha: float, mu_from: float, mu_to: float, nf: int) -> float:
    sol = solve_ivp(lambda t, y: [_beta(y[0], nf)], (2 * math.log(mu_from), 2 * math.log(mu_to)),
                    [alpha], rtol=1e-10, atol=1e-13)
    return float(sol.y[0, -1])


@cache
def alpha_s(mu: float) -> float:
    """alpha_s(mu) at two loops from alpha_s(M_Z) (see module doc).

    Args:
        mu: scale in GeV (>= 1 GeV).

    Returns:
        alpha_s.
    """
    mu = float(mu)
    if mu < 1.0:
        raise ValueError(f"alpha_s needs mu >= 1 GeV, got {mu}")
    m_c, m_b = _quark_masses_msbar()
    m_z = C.mass("Z")
    a = C.ALPHA_S_MZ
    if mu >= m_b:
        return _run(a, m_z, mu, 5)
    a = _run(a, m_z, m_b, 5)
    if mu >= m_c:
        return _run(a, m_b, mu, 4)
    a = _run(a, m_b, m_c, 4)
    return _run(a, m_c, mu, 3)


def r_ratio(sqrt_s: float) -> float:
    """Perturbative R(s) with open-flavour thresholds (0 below 2 m_pi).

    Args:
        sqrt_s: centre-of-mass energy in GeV.

    Returns:
        R.
    """
    if sqrt_s <= 2.0 * C.mass("pi+"):
        return 0.0
    charges = [q for _, q, _ in _QUARKS]
    if sqrt_s > _threshold("c"):
        charges.append(2 / 3)
    if sqrt_s > _threshold("b"):
        charges.append(-1 / 3)
    nf = len(charges)
    sq = sum(q * q for q in charges)
    eta = sum(charges) ** 2 / (3.0 * sq)
    a = alpha_s(max(sqrt_s, 1.0)) / math.pi
    c2 = 1.9857 - 0.1152 * nf
    c3 = -6.63694 - 1.20013 * nf - 0.00518 * nf**2 - 1.240 * eta
    return 3.0 * sq * (1.0 + a + c2 * a**2 + c3 * a**3)


def r_ratio_valid(sqrt_s: float) -> bool:
    """Whether perturbative R(s) describes the data at this energy (sqrt s >= 1.8 GeV)."""
    return sqrt_s >= R_PQCD_MIN


def _two_body_fermion(coupling_sq: float, M: float, m: float) -> float:
    r = (m / M) ** 2
    if 4 * r >= 1:
        return 0.0
    return coupling_sq * M / (12 * math.pi) * (1 + 2 * r) * math.sqrt(1 - 4 * r)


def widths(M: float, eps: float, g_X: float = 0.0, m_X: float | None = None) -> dict[str, float]:
    """Partial widths (GeV) of a vector of mass M with kinetic mixing eps and a dark coupling.

    Args:
        M: vector mass in GeV.
        eps: coupling to the electromagnetic current in units of e (alpha = alpha(0)).
        g_X: coupling to the dark Dirac fermion X (0: none).
        m_X: mass of X in GeV (needed when g_X != 0).

    Returns:
        {"e+e-", "mu+mu-", "tau+tau-", "hadrons", "XX"} -> width.
    """
    e2 = 4 * math.pi * C.ALPHA_EM_0 * eps**2
    out = {
        "e+e-": _two_body_fermion(e2, M, C.mass("e")),
        "mu+mu-": _two_body_fermion(e2, M, C.mass("mu")),
        "tau+tau-": _two_body_fermion(e2, M, C.mass("tau")),
        "hadrons": e2 * M / (12 * math.pi) * r_ratio(M),
        "XX": 0.0,
    }
    if g_X:
        if m_X is None:
            raise ValueError("m_X is needed when g_X != 0")
        out["XX"] = _two_body_fermion(g_X**2, M, m_X)
    return out


def branching_fractions(w: dict[str, float]) -> dict[str, float]:
    """Branching fractions from partial widths (all zero if the total is zero)."""
    tot = sum(w.values())
    return {k: (v / tot if tot > 0 else 0.0) for k, v in w.items()}


def decay_length_factor(total_width: float) -> float:
    """c tau in metres for a total width in GeV (hbar c = 1.973269804e-16 GeV m, PDG)."""
    if total_width <= 0:
        return math.inf
    return 1.973269804e-16 / total_width
