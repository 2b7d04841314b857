"""Three-body B -> K(*) X X̄ with a pair of light invisible particles: continuum from 4 m_X^2.

Operators (chiral basis of Bolton, Fajfer, Kamenik, Novoa-Brunet arXiv:2503.19025 eq. (2.1);
Kamenik & Smith arXiv:1111.6402 eqs. (2)-(4); He, Ma, Valencia arXiv:2209.05223), with
J^mu = s̄ gamma^mu (c_L P_L + c_R P_R) b and J = s̄ (c_L P_L + c_R P_R) b (``currents``), + h.c.:

=========================  =====================================================  ===============
kind                        operator                                               K (coefficient)
=========================  =====================================================  ===============
scalar / vector current     K J_mu i (phi^* d<->^mu phi)       (complex scalar)    g / Lambda^2
scalar / scalar current     K J |phi|^2                                            g v/(√2 Lambda^2)
fermion / vector current    K J_mu psī gamma^mu (d_L P_L + d_R P_R) psi  (Dirac)   g / Lambda^2
fermion / scalar            K J psī psi                                            g / Lambda^2
fermion / pseudoscalar      K J psī i gamma5 psi                                   g / Lambda^2
vector / vector current     K J_mu i (V_nu^† d<->^mu V^nu)     (complex vector)    g / Lambda^2
vector / scalar current     K J V_mu^† V^mu                                        g v/(√2 Lambda^2)
=========================  =====================================================  ===============

Derivation (this module's own; checked in tests/test_threebody.py against a numerical Dalitz-plot
integration of the explicit |M|^2). With the invisible tensor L^{mu nu} = sum_spins L^mu L^nu*
averaged over the pair's angles, <L^{mu nu}> = a (q^mu q^nu/q^2 - g^{mu nu}) + b q^mu q^nu/q^2,
and three-body phase space dPhi_3 = dq^2/(2 pi) Phi_2(B -> M q) Phi_2(q -> X X̄):

    dGamma/dq^2 = K^2 lambda^{1/2} beta / (256 pi^3 m_B^3)
                  * [ alpha (q^2|H_0|^2 + q^2 (|H_+|^2 + |H_-|^2)) + b_t q^2|H_t|^2 + s |H_S|^2 ],

alpha = a/q^2, b_t = b/q^2, beta = sqrt(1 - 4 m^2/q^2). Traces (Dirac ψ; g_v = (d_L+d_R)/2,
g_a = (d_R-d_L)/2; P(q^2) = 2 + (q^2 - 2 m^2)^2/(4 m^4) = sum_pol |eps_1 . eps_2|^2):

    scalar/vector    alpha = beta^2/3                               (P wave: beta^3)
    scalar/scalar    s = 1                                          (S wave: beta)
    fermion/vector   alpha = (2/3) g_v^2 (3 - beta^2) + (4/3) g_a^2 beta^2,
                     b_t = 2 g_a^2 (1 - beta^2)
    fermion/scalar   s = 2 q^2 beta^2;   fermion/pseudoscalar  s = 2 q^2
    vector/vector    alpha = P beta^2/3; vector/scalar  s = P

Massless check: nū gamma^mu (1 - gamma5) nu has g_v = -g_a = 1, alpha = 8/3; with
K = (4 G_F/sqrt2) V_tb V_ts^* (alpha_em/4 pi) C_L, s̄ gamma_mu P_L b (|H_0|^2 = lambda f_+^2/(4 q^2))
this is K^2 lambda^{3/2} f_+^2/(384 pi^3 m_B^3) = G_F^2 alpha_em^2 |V_tb V_ts|^2 |C_L|^2
lambda^{3/2} f_+^2/(768 pi^5 m_B^3), the SM per-flavour rate (physics.md, **checked**; 1409.4557).
K* longitudinal part: the H_0, H_t and H_S terms; transverse: the H_+- terms.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emiss.errors import EmissError
from emiss.physics import currents
from emiss.physics.kinematics import beta as beta_fn
from emiss.physics.spectrum import Spectrum
from emiss.physics.twobody import check_mass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairKind:
    """One pair operator: spin of the invisible particles, the invisible current, the quark current.

    Attributes:
        spin: 0, 0.5 or 1.
        current: invisible current ("vector", "scalar", "pseudoscalar").
        quark: "vector" (J^mu) or "scalar" (J).
        with_vev: coefficient is g v/(sqrt(2) Lambda^2) instead of g/Lambda^2.
    """

    spin: float
    current: str
    quark: str
    with_vev: bool


PAIR_KINDS: dict[str, PairKind] = {
    "scalar-vector": PairKind(0, "vector", "vector", False),
    "scalar-scalar": PairKind(0, "scalar", "scalar", True),
    "fermion-vector": PairKind(0.5, "vector", "vector", False),
    "fermion-scalar": PairKind(0.5, "scalar", "scalar", False),
    "fermion-pseudoscalar": PairKind(0.5, "pseudoscalar", "scalar", False),
    "vector-vector": PairKind(1, "vector", "vector", False),
    "vector-scalar": PairKind(1, "scalar", "scalar", True),
}


def _polsum(q2: np.ndarray, m: float) -> np.ndarray:
    """sum over both vectors' polarisations of |eps_1^* . eps_2^*|^2 = 2 + (p1.p2)^2/m^4."""
    return 2.0 + (q2 - 2.0 * m * m) ** 2 / (4.0 * m**4)


def invisible_factors(kind: str, q2: np.ndarray, m: float, d_L: float = 1.0, d_R: float = 1.0)\
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, b_t, s) of the module docstring at q2 for one pair kind.

    Args:
        kind: key of PAIR_KINDS.
        q2: GeV^2 (>= 4 m^2).
        m: mass of each invisible particle (GeV).
        d_L, d_R: chirality weights of a fermion vector-type current (fermion-vector only).

    Returns:
        alpha, b_t, s arrays.
    """
    q2 = np.asarray(q2, dtype=float)
    b2 = beta_fn(q2, m) ** 2
    zero = np.zeros_like(q2)
    if kind == "scalar-vector":
        return b2 / 3.0, zero, zero
    if kind == "scalar-scalar":
        return zero, zero, np.ones_like(q2)
    if kind == "fermion-vector":
        gv, ga = currents.chiral_to_parity(d_L, d_R)
        alpha = (2.0 / 3.0) * gv**2 * (3.0 - b2) + (4.0 / 3.0) * ga**2 * b2
        return alpha, 2.0 * ga**2 * (1.0 - b2), zero
    if kind == "fermion-scalar":
        return zero, zero, 2.0 * q2 * b2
    if kind == "fermion-pseudoscalar":
        return zero, zero, 2.0 * q2
    if kind == "vector-vector":
        return _polsum(q2, m) * b2 / 3.0, zero, zero
    if kind == "vector-scalar":
        return zero, zero, _polsum(q2, m)
    raise EmissError(f"unknown pair kind {kind!r}; valid: {', '.join(PAIR_KINDS)}")


def coefficient(kind: str, g: float, Lambda: float) -> float:
    """Operator coefficient K (GeV^-2 or GeV^-1, see module table)."""
    k = PAIR_KINDS[kind]
    if k.with_vev:
        return g * currents.higgs_vev() / (math.sqrt(2.0) * Lambda**2)
    return g / Lambda**2


def dgamma_dq2(process, ff, q2, kind: str, mass: float, g: float, Lambda: float,
               c_L: float = 1.0, c_R: float = 0.0, d_L: float = 1.0, d_R: float = 1.0)\
        -> tuple[np.ndarray, np.ndarray]:
    """Differential width dGamma/dq^2 (GeV^-1) and its K*-longitudinal part for B -> M X X̄.

    Args:
        process: ``Process``.
        ff: form factors of process.ff_kind.
        q2: GeV^2 array, inside [4 m^2, (m_B - m_M)^2].
        kind: key of PAIR_KINDS.
        mass: m_X (GeV).
        g, Lambda: coupling and scale (GeV).
        c_L, c_R: quark-current chirality weights.
        d_L, d_R: invisible-fermion chirality weights (fermion-vector only).

    Returns:
        (total, longitudinal) arrays (longitudinal = total for B -> K).
    """
    q2 = np.asarray(q2, dtype=float)
    pk = PAIR_KINDS[kind]
    if pk.quark == "vector":
        h = currents.vector_current(process, ff, q2, c_L, c_R)
    else:
        h = currents.scalar_current(process, ff, q2, c_L, c_R)
    alpha, bt, s = invisible_factors(kind, q2, mass, d_L, d_R)
    pref = (coefficient(kind, g, Lambda) ** 2 * np.sqrt(process.lam(q2)) * beta_fn(q2, mass)
            / (256.0 * np.pi**3 * process.m_B**3))
    long = pref * (alpha * h.q2H0 + bt * h.q2Ht + s * h.HS)
    total = long + pref * alpha * q2 * h.HT
    return total, long


def pair_spectrum(process, ff, kind: str, mass: float, g: float, Lambda: float,
                  c_L: float = 1.0, c_R: float = 0.0, d_L: float = 1.0, d_R: float = 1.0)\
        -> Spectrum:
    """Spectrum of B -> M X X̄ (continuum on [4 m^2, (m_B - m_M)^2]).

    Args:
        process, ff, kind, mass, g, Lambda, c_L, c_R, d_L, d_R: as for ``dgamma_dq2``.

    Returns:
        Spectrum (continuum_long set for K* processes).

    Raises:
        EmissError: unknown kind, bad mass (vector pairs need m > 0: rates grow as 1/m^4).
    """
    if kind not in PAIR_KINDS:
        raise EmissError(f"unknown pair kind {kind!r}; valid: {', '.join(PAIR_KINDS)}")
    pk = PAIR_KINDS[kind]
    m = check_mass(process, mass, 2, allow_zero=pk.spin != 1)
    tau = process.tau_B

    def _total(q2: np.ndarray) -> np.ndarray:
        return tau * dgamma_dq2(process, ff, q2, kind, m, g, Lambda, c_L, c_R, d_L, d_R)[0]

    def _long(q2: np.ndarray) -> np.ndarray:
        return tau * dgamma_dq2(process, ff, q2, kind, m, g, Lambda, c_L, c_R, d_L, d_R)[1]

    cont_long: Callable | None = _long if process.is_vector else None
    return Spectrum(
        process=process.name, q2_min=4.0 * m * m, q2_max=process.q2_max, continuum=_total,
        continuum_long=cont_long, label=f"B->{process.meson} X X̄ ({kind}, m={m:g} GeV)",
        meta={"mass": m, "spin": pk.spin, "kind": kind},
    )
