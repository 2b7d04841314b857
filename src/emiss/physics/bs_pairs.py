"""B_s -> X X̄: the invisible two-body decay of B_s through the pair operators of B -> K(*) X X̄.

The same operator that gives B -> K(*) X X̄ (``emiss.physics.threebody``, coefficient K, quark
currents J^mu = s̄ gamma^mu (c_L P_L + c_R P_R) b, J = s̄ (c_L P_L + c_R P_R) b,
T^{mu nu} = s̄ sigma^{mu nu} (c_L P_L + c_R P_R) b) annihilates a B_s meson into the pair. The
vacuum matrix elements (Buras, Girrbach-Noe, Niehoff, Straub arXiv:1409.4557 and the B_s -> mu mu
literature, e.g. Bobeth et al. arXiv:1311.0903 eq. (2); PCAC for the density):

    <0| s̄ gamma^mu gamma5 b |B_s(p)> = i f_Bs p^mu,     <0| s̄ gamma^mu b |B_s> = 0,
    <0| s̄ gamma5 b |B_s(p)> = -i f_Bs m_Bs^2 / (m_b + m_s),   <0| s̄ b |B_s> = 0,
    <0| s̄ sigma^{mu nu} (gamma5) b |B_s> = 0            (no antisymmetric tensor from p alone),

so only the axial part g_A = (c_R - c_L)/2 of J^mu and the pseudoscalar part g_P = (c_R - c_L)/2
of J contribute, and tensor-current pairs give nothing. With q = p (q^2 = m_Bs^2) the axial
current is purely time-like, H_t = i g_A f_Bs m_Bs, and in the notation of ``threebody``
(|M|^2 = K^2 [b_t q^2 |H_t|^2 + s |H_S|^2], the invisible traces b_t and s of the pair at
q^2 = m_Bs^2, ``threebody.invisible_factors``):

    Gamma(B_s -> X X̄) = sym K^2 beta / (16 pi m_Bs)
                        * [ b_t(m_Bs^2) g_A^2 f_Bs^2 m_Bs^4            (vector-type J^mu)
                          | s(m_Bs^2) g_P^2 f_Bs^2 m_Bs^4 / (m_b + m_s)^2 ] (scalar-type J)

(two-body phase space beta/(8 pi), flux 1/(2 m_Bs); sym = 1/2 for a Majorana / real pair, whose
operator carries K/2: ``threebody.dgamma_dq2``). Checks (tests/test_bs_pairs.py): the traces
against explicit spinors, Rarita-Schwinger vector-spinors and polarisation vectors; the muon
limit reproduces the textbook B_s -> mu+ mu- width G_F^2 alpha^2 |V_tb V_ts|^2 f_Bs^2 m_Bs
m_mu^2 beta |C_10|^2 / (16 pi^3) (1311.0903 eq. (2) before the Delta Gamma_s correction); a
vector current on the invisible side (conserved for equal masses) and a scalar pair coupled
through phi* d<->^mu phi give zero.

As a spectrum, B_s -> X X̄ is process "Bs->invisible" (``emiss.physics.processes``): one exact
line at q^2 = m_Bs^2 (the pair carries the whole B_s at rest) with B = B(B_s -> X X̄)
(``line_spectrum``); ``Scenario.spectrum("Bs->invisible", ...)`` gives it for every scenario
(``pair_line`` for pair operators, ``no_pair_line`` with B = 0 and the reason otherwise).

Inputs: f_Bs = 230.3 +- 1.3 MeV (FLAG 2021 arXiv:2111.09849, N_f = 2+1+1 average); m_Bs and
tau_Bs from PDG (``particle``); m_b(m_b), m_s(2 GeV) as in ``currents.quark_masses``. The rate
is the CP-averaged instantaneous one, B = tau_Bs Gamma. What a time-integrating experiment sees
differs by B_s mixing (De Bruyn et al., arXiv:1204.1737):

    B_exp = B (1 + A_DeltaGamma y_s) / (1 - y_s^2),   y_s = Delta Gamma_s / (2 Gamma_s),

with A_DeltaGamma in [-1, 1] set by the CP properties of the pair and the phase of the coupling
relative to B_s mixing (+1 for B_s -> mu mu in the SM), which a scenario's real couplings do not
fix. ``time_integration_factors`` gives the two ends (A = -1, +1); the B_s bundle carries them
as a normsys of the signal (``emiss.bundles.bs_invisible``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from emiss.errors import EmissError
from emiss.physics import constants as C
from emiss.physics import currents, threebody
from emiss.physics.kinematics import beta as beta_fn
from emiss.physics.processes import BS_INVISIBLE
from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: B_s decay constant in GeV: FLAG 2021 (arXiv:2111.09849), N_f = 2+1+1 average, 230.3(1.3) MeV.
F_BS: float = 0.2303
#: Its 1-sigma uncertainty (GeV), same source.
F_BS_UNC: float = 0.0013
#: Delta Gamma_s / Gamma_s = 0.129(9): HFAG Summer 2016 average (arXiv:1612.07233), the value of
#: flavio's parameters_uncorrelated.yml; y_s is half of it.
DELTA_GAMMA_OVER_GAMMA_BS: float = 0.129
#: Where the inputs come from (printed with every rate).
SOURCES: str = ("f_Bs = 230.3(1.3) MeV (FLAG 2021, arXiv:2111.09849); m_Bs, tau_Bs: PDG; "
                "vacuum matrix elements: arXiv:1311.0903 eq. (2), PCAC; traces: "
                "emiss.physics.threebody")


@dataclass(frozen=True)
class BsRate:
    """B(B_s -> X X̄) of one pair hypothesis.

    Attributes:
        branching_ratio: B(B_s -> X X̄) (0 where the operator cannot annihilate a B_s).
        width: Gamma in GeV.
        reason: why the rate vanishes ("" when it does not).
        relative_uncertainty: from f_Bs (the rate goes as f_Bs^2).
    """

    branching_ratio: float
    width: float
    reason: str = ""
    relative_uncertainty: float = 2.0 * F_BS_UNC / F_BS


def time_integration_factors(y_s: float = DELTA_GAMMA_OVER_GAMMA_BS / 2) -> tuple[float, float]:
    """B_exp / B at the two ends A_DeltaGamma = -1 and +1 (arXiv:1204.1737).

    Args:
        y_s: Delta Gamma_s / (2 Gamma_s).

    Returns:
        (1 / (1 + y_s), 1 / (1 - y_s)).
    """
    if not 0.0 <= y_s < 1.0:
        raise EmissError(f"y_s = {y_s!r} must lie in [0, 1)")
    return 1.0 / (1.0 + y_s), 1.0 / (1.0 - y_s)


def m_bs() -> float:
    """PDG B_s mass in GeV."""
    return C.mass("Bs")


def tau_bs() -> float:
    """PDG B_s lifetime in GeV^-1."""
    return C.lifetime_gev("Bs")


def pair_width(kind: str, mass: float, g: float, Lambda: float, c_L: float = 1.0,
               c_R: float = 0.0, d_L: float = 1.0, d_R: float = 1.0,
               self_conjugate: bool = False) -> tuple[float, str]:
    """Gamma(B_s -> X X̄) of one pair operator (module docstring).

    Args:
        kind: key of ``threebody.PAIR_KINDS``.
        mass: m_X in GeV (>= 0; > 0 for spin >= 1).
        g, Lambda: coupling and scale (GeV) of the operator.
        c_L, c_R: quark-current chirality weights.
        d_L, d_R: invisible chirality weights (fermion-vector, rs-vector).
        self_conjugate: Majorana / real pair (operator coefficient K/2).

    Returns:
        (width in GeV, reason it vanishes or "").

    Raises:
        EmissError: unknown kind, negative or non-finite mass, massless spin >= 1 pair, or a
            self-conjugate operator that vanishes identically.
    """
    if kind not in threebody.PAIR_KINDS:
        raise EmissError(f"unknown pair kind {kind!r}; valid: {', '.join(threebody.PAIR_KINDS)}")
    pk = threebody.PAIR_KINDS[kind]
    if not (math.isfinite(mass) and mass >= 0.0) or (pk.spin >= 1 and mass == 0.0):
        raise EmissError(f"m_X = {mass!r} GeV is not valid for {kind}: need a finite mass "
                         f"{'> 0' if pk.spin >= 1 else '>= 0'}")
    M = m_bs()
    if 2.0 * mass >= M:
        return 0.0, f"2 m_X = {2 * mass:g} GeV is above m_Bs = {M:.4f} GeV"
    sym = 1.0
    if self_conjugate:
        d_L, d_R = threebody.self_conjugate_kind(kind, d_L, d_R)
        sym = 0.5
    if pk.quark == "tensor":
        return 0.0, "<0| s̄ sigma^{mu nu} b |B_s> = 0: a tensor current cannot annihilate a B_s"
    _, odd = currents.chiral_to_parity(c_L, c_R)
    if odd == 0.0:
        return 0.0, ("c_L = c_R: the quark current has no axial / pseudoscalar part, the only "
                     "parts that annihilate a B_s")
    q2 = np.array([M * M])
    _, bt, s = threebody.invisible_factors(kind, q2, mass, d_L, d_R)
    if pk.quark == "vector":
        core = float(bt[0]) * odd**2 * F_BS**2 * M**4
    else:
        m_b, m_s = currents.quark_masses()
        core = float(s[0]) * odd**2 * F_BS**2 * M**4 / (m_b + m_s) ** 2
    K = threebody.coefficient(kind, g, Lambda)
    width = sym * K * K * float(beta_fn(q2, mass)[0]) / (16.0 * math.pi * M) * core
    if width == 0.0:
        why = ("the invisible current is conserved (p_mu X̄ gamma^mu X = 0 for equal masses) "
               "or P-wave: it cannot absorb the time-like axial current")
        return 0.0, why
    return width, ""


def pair_rate(kind: str, mass: float, g: float, Lambda: float, c_L: float = 1.0,
              c_R: float = 0.0, d_L: float = 1.0, d_R: float = 1.0,
              self_conjugate: bool = False) -> BsRate:
    """B(B_s -> X X̄) of one pair operator (arguments as for ``pair_width``).

    Returns:
        BsRate (branching ratio = tau_Bs Gamma).
    """
    width, reason = pair_width(kind, mass, g, Lambda, c_L, c_R, d_L, d_R, self_conjugate)
    return BsRate(branching_ratio=tau_bs() * width, width=width, reason=reason)


def line_spectrum(rate: BsRate, label: str = "", **meta: Any) -> Spectrum:
    """B_s -> X X̄ as the spectrum of process "Bs->invisible": one exact line at q^2 = m_Bs^2.

    The invisible system carries the whole B_s at rest, so its q^2 is m_Bs^2 exactly. A rate of
    0 is still a line (of B = 0), with the reason in ``meta["reason"]``.

    Args:
        rate: the BsRate.
        label: spectrum label.
        **meta: further metadata (the operator's parameters).

    Returns:
        Spectrum (no continuum; ``meta`` holds branching_ratio, width_GeV, reason,
        relative_uncertainty and the sources).
    """
    M2 = m_bs() ** 2
    return Spectrum(process=BS_INVISIBLE, q2_min=M2, q2_max=M2, lines=((M2, rate.branching_ratio),),
                    label=label or "B_s -> invisible",
                    meta={**meta, "branching_ratio": rate.branching_ratio,
                          "width_GeV": rate.width, "reason": rate.reason,
                          "relative_uncertainty": rate.relative_uncertainty,
                          "sources": SOURCES})


def pair_line(kind: str, mass: float, g: float, Lambda: float, c_L: float = 1.0,
              c_R: float = 0.0, d_L: float = 1.0, d_R: float = 1.0,
              self_conjugate: bool = False) -> Spectrum:
    """The "Bs->invisible" spectrum of one pair operator (arguments as for ``pair_width``).

    Returns:
        ``line_spectrum`` of ``pair_rate``.
    """
    rate = pair_rate(kind, mass, g, Lambda, c_L, c_R, d_L, d_R, self_conjugate)
    return line_spectrum(rate, f"B_s -> X X̄ ({kind}, m_X = {mass:g} GeV)", kind=kind,
                         mass=mass, g=g, Lambda=Lambda, c_L=c_L, c_R=c_R, d_L=d_L, d_R=d_R,
                         self_conjugate=self_conjugate)


def no_pair_line(name: str, multiplicity: int) -> Spectrum:
    """The "Bs->invisible" spectrum of a scenario without a pair operator: a line of B = 0.

    Single-particle (two-body B -> K X) scenarios give no B_s -> invisible at m_X < m_Bs (a
    single X cannot carry away the B_s mass at rest); the neutrino scenarios' B_s -> nu nubar is
    helicity-suppressed by m_nu^2 = 0; a user's spectrum names no operator.

    Args:
        name: scenario name.
        multiplicity: its multiplicity (1 neutrinos, 2 two-body, 3 a pair without operator).

    Returns:
        ``line_spectrum`` of a zero rate with the reason.
    """
    what = {2: "a single invisible particle",
            1: "a massless neutrino pair (helicity suppression: Gamma ~ m_nu^2 = 0)"}.get(
        multiplicity, "no pair operator of emiss.physics.threebody (a user spectrum)")
    return line_spectrum(BsRate(0.0, 0.0, f"{name}: {what} gives no B_s -> invisible here"))


def rate_of(spectrum: Spectrum) -> BsRate:
    """The BsRate a "Bs->invisible" spectrum carries (``line_spectrum``).

    Args:
        spectrum: a spectrum of process "Bs->invisible".

    Returns:
        BsRate.
    """
    if spectrum.process != BS_INVISIBLE or "branching_ratio" not in spectrum.meta:
        raise EmissError(f"spectrum of {spectrum.process!r} is not a B_s -> invisible line "
                         f"(valid: process {BS_INVISIBLE!r})")
    m = spectrum.meta
    return BsRate(float(m["branching_ratio"]), float(m["width_GeV"]), str(m["reason"]),
                  float(m["relative_uncertainty"]))


class _HasSpectrum(Protocol):
    """What ``scenario_rate`` needs of a scenario (``emiss.physics.scenarios.Scenario``)."""

    def spectrum(self, process: str, mass: float | None = None,
                 params: Mapping[str, float] | None = None) -> Spectrum: ...


def scenario_rate(scenario: _HasSpectrum, mass: float | None = None,
                  params: Mapping[str, float] | None = None) -> BsRate:
    """B(B_s -> X X̄) of a registered scenario at one mass and parameter point.

    Pair scenarios give ``pair_rate`` of their operator; every other scenario 0 with a reason
    (``no_pair_line``). ``Scenario.spectrum("Bs->invisible", ...)`` routes here.

    Args:
        scenario: a Scenario (``emiss.physics.scenarios.get_scenario(name)``; the registry
            imports this module, so names are resolved there).
        mass: m_X in GeV (scenario default when None).
        params: scenario parameters (defaults otherwise).

    Returns:
        BsRate.
    """
    if isinstance(scenario, str):
        raise EmissError(f"scenario_rate takes a Scenario, not the name {scenario!r}: pass "
                         "emiss.physics.scenarios.get_scenario(name)")
    return rate_of(scenario.spectrum(BS_INVISIBLE, mass, params))
