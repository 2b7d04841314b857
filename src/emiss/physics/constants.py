"""Physical constants and SM inputs for b -> s nu nubar (natural units, GeV).

Sources:
    * Electroweak inputs G_F, alpha(M_Z) = 1/127.952, sin^2(theta_W) = 0.23124, X_t = 1.468,
      |V_tb V_ts^*| = 0.04185: the public Belle II reinterpretation code
      (knunu-reinterpretation-mini, utils.py), as listed in shared/reference/physics.md.
      G_F = 1.1663787e-5 GeV^-2 is also the PDG value; X_t = 1.468 lies in the NLO QCD + two-loop
      EW range 1.462-1.469 (Brod, Gorbahn, Stamou, arXiv:1009.0947, eq. (14)).
    * C_L^SM = -X_t / sin^2(theta_W): Buras, Girrbach-Noe, Niehoff, Straub, arXiv:1409.4557,
      eq. (6).
    * hbar = 6.582119569e-25 GeV s: PDG (CODATA 2018, exact).
    * Masses and lifetimes: PDG, read through the ``particle`` package (its bundled PDG table,
      see ``PDG_EDITION``), by PDG Monte Carlo id.
"""

from __future__ import annotations

import logging
from functools import cache

from particle import Particle

log = logging.getLogger(__name__)

#: Fermi constant in GeV^-2, the value of the Belle II reinterpretation code (utils.py); PDG 2024:
#: 1.1663788(6)e-5, a 1e-7 relative difference.
G_F: float = 1.1663787e-5
#: Electromagnetic coupling at the electroweak scale, 1/127.952 (Belle II reinterpretation code).
ALPHA_EM: float = 1.0 / 127.952
#: Weak mixing angle sin^2(theta_W) (MS-bar at M_Z; Belle II reinterpretation code).
SIN2_THETA_W: float = 0.23124
#: Top-loop function X_t, NLO QCD + 2-loop EW (arXiv:1009.0947; value of the Belle II code).
X_T: float = 1.468
#: |V_tb V_ts^*| (Belle II reinterpretation code utils.py).
VTB_VTS: float = 0.04185
#: Relative 1-sigma uncertainty on |V_tb V_ts^*| for the parametric error: that of |V_ts| =
#: (41.5 +- 0.9)e-3 from B_s mixing (PDG 2024 review "CKM quark-mixing matrix"), i.e. 2.2 %.
VTB_VTS_REL_UNC: float = 0.9 / 41.5
#: Relative 1-sigma uncertainty on X_t: X_t = 1.469 +- 0.017 (th) (arXiv:1009.0947 eq. (14)).
X_T_REL_UNC: float = 0.017 / 1.469
#: SM Wilson coefficient C_L^SM = -X_t / sin^2(theta_W) (arXiv:1409.4557 eq. (6)).
C_L_SM: float = -X_T / SIN2_THETA_W
#: The branching ratio Belle II's signal strength mu = 1 stands for: the short-distance SM
#: B(B+ -> K+ nu nubar) = (4.97 +- 0.37)e-6, B+ -> tau+ nu excluded (arXiv:2311.14647, sec. I).
SM_REFERENCE_BR_BPLUS_KPLUS: float = 4.97e-6
#: hbar in GeV s (PDG).
HBAR_GEV_S: float = 6.582119569e-25
#: Where masses and lifetimes come from.
PDG_EDITION: str = "PDG data bundled with the particle package (mass_width table, newest edition)"

#: PDG Monte Carlo ids of the hadrons used here.
PDGID = {
    "B+": 521,
    "B0": 511,
    "K+": 321,
    "K0": 311,
    "K*0": 313,
    "K*+": 323,
    "tau": 15,
    "Bs": 531,
    "Bs*": 533,
    # related modes (b -> d, s -> d) and the U(1)' model (emiss.models)
    "pi+": 211,
    "pi0": 111,
    "rho+": 213,
    "rho0": 113,
    "phi": 333,
    "K_L": 130,
    "B*": 513,
    "e": 11,
    "mu": 13,
    "t": 6,
    "W": 24,
    "Z": 23,
}

#: Fine-structure constant at q^2 = 0, 1/137.035999084 (PDG 2024, CODATA 2018); the coupling of
#: on-shell photons and of a light kinetically mixed vector to the electromagnetic current.
ALPHA_EM_0: float = 1.0 / 137.035999084
#: Strong coupling alpha_s(M_Z) = 0.1180 +- 0.0009 (PDG 2024 review "Quantum chromodynamics",
#: world average).
ALPHA_S_MZ: float = 0.1180


@cache
def mass(name: str) -> float:
    """PDG mass in GeV.

    Args:
        name: key of ``PDGID`` (e.g. "B+", "K*0").

    Returns:
        Mass in GeV (from the ``particle`` package, PDG).
    """
    from emiss.errors import EmissError

    if name not in PDGID:
        raise EmissError(f"unknown particle {name!r}; valid: {', '.join(PDGID)}")
    return pdg_mass_gev(PDGID[name])


def pdg_mass_gev(pdgid: int) -> float:
    """PDG mass by PDG Monte Carlo id (``particle`` package, which stores MeV).

    Args:
        pdgid: PDG Monte Carlo id (e.g. 5 for the b quark: its MS-bar mass m_b(m_b)).

    Returns:
        Mass in GeV.
    """
    from emiss.errors import EmissError

    m_mev = Particle.from_pdgid(pdgid).mass
    if m_mev is None:
        raise EmissError(f"no PDG mass for the PDG id {pdgid}")
    return float(m_mev) / 1000.0


@cache
def lifetime_s(name: str) -> float:
    """PDG mean lifetime in seconds (``particle`` package stores ns).

    Args:
        name: key of ``PDGID`` with a measured lifetime ("B+", "B0", "tau", ...).

    Returns:
        Lifetime in s.
    """
    from emiss.errors import EmissError

    if name not in PDGID:
        raise EmissError(f"unknown particle {name!r}; valid: {', '.join(PDGID)}")
    tau_ns = Particle.from_pdgid(PDGID[name]).lifetime
    if tau_ns is None:
        raise EmissError(f"no PDG lifetime for {name!r}")
    return float(tau_ns) * 1e-9


def lifetime_gev(name: str) -> float:
    """PDG mean lifetime in GeV^-1 (tau / hbar)."""
    return lifetime_s(name) / HBAR_GEV_S


def normalisation_factor() -> float:
    """G_F^2 alpha^2 |V_tb V_ts^*|^2, the common prefactor of all b -> s nu nu rates (GeV^-4)."""
    return G_F**2 * ALPHA_EM**2 * VTB_VTS**2
