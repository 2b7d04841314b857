"""Three-body B -> K(*) X X̄ with a pair of light invisible particles: continuum from 4 m_X^2.

Operators (chiral basis of Bolton, Fajfer, Kamenik, Novoa-Brunet arXiv:2503.19025 eq. (2.1);
Kamenik & Smith arXiv:1111.6402 eqs. (2)-(4), whose basis has invisible particles of spin 0, 1/2,
1 and 3/2; He, Ma, Valencia arXiv:2209.05223; tensor currents: Fridell, Ghosh, Okui, Tobioka
arXiv:2312.12507), with J^mu = s̄ gamma^mu (c_L P_L + c_R P_R) b, J = s̄ (c_L P_L + c_R P_R) b and
T^{mu nu} = s̄ sigma^{mu nu} (c_L P_L + c_R P_R) b (``currents``), + h.c.:

=========================  =====================================================  ===============
kind                        operator                                               K (coefficient)
=========================  =====================================================  ===============
scalar-vector               K J_mu i (phi^* d<->^mu phi)       (complex scalar)    g / Lambda^2
scalar-scalar               K J |phi|^2                                            g v/(√2 Lambda^2)
fermion-vector              K J_mu psī gamma^mu (d_L P_L + d_R P_R) psi  (Dirac)   g / Lambda^2
fermion-scalar              K J psī psi                                            g / Lambda^2
fermion-pseudoscalar        K J psī i gamma5 psi                                   g / Lambda^2
fermion-tensor              K T^{mu nu} psī sigma_{mu nu} psi                      g / Lambda^2
vector-vector               K J_mu i (V_nu^† d<->^mu V^nu)     (complex vector)    g / Lambda^2
vector-scalar               K J V_mu^† V^mu                                        g v/(√2 Lambda^2)
vector-tensor               K T^{mu nu} V_mu^† V_nu                                g v/(√2 Lambda^2)
rs-vector                   K J_mu Psī_nu gamma^mu (d_L P_L + d_R P_R) Psi^nu      g / Lambda^2
rs-scalar                   K J Psī_nu Psi^nu                  (Rarita-Schwinger)  g / Lambda^2
rs-pseudoscalar             K J Psī_nu i gamma5 Psi^nu                             g / Lambda^2
=========================  =====================================================  ===============

The spin-3/2 operators are the spin-1/2 ones with psi -> Psi_nu, the vector index contracted
(1111.6402 keeps the lowest-dimension pair operators for each spin). The tensor operators are the
derivative-free antisymmetric structures: (s̄ sigma b)(psī sigma psi) of 2312.12507 and its
analogue for a vector pair (a real vector gives V_mu V_nu sigma^{mu nu} = 0). With the identity
sigma^{mu nu} gamma5 (x) sigma_{mu nu} = sigma^{mu nu} (x) sigma_{mu nu} gamma5, a gamma5 on the
invisible side of a tensor operator is a chirality of the quark side: c_L, c_R cover it.

Derivation (this module's own; docs/spin32.md; checked in tests/test_threebody.py,
tests/test_spin32.py and tests/test_pair_operators.py against numerical integrations of the
explicit |M|^2 over the pair's angles with explicit spinors, Rarita-Schwinger vector-spinors and
polarisation vectors). With the invisible tensor L^{mu nu} = sum_spins L^mu L^nu* averaged over
the pair's angles, <L^{mu nu}> = a (q^mu q^nu/q^2 - g^{mu nu}) + b q^mu q^nu/q^2 (a, b from the
invariants g_{mu nu} L^{mu nu} = b - 3a and q_mu q_nu L^{mu nu}/q^2 = b), and three-body phase
space dPhi_3 = dq^2/(2 pi) Phi_2(B -> M q) Phi_2(q -> X X̄):

    dGamma/dq^2 = K^2 lambda^{1/2} beta / (256 pi^3 m_B^3)
                  * [ alpha (q^2|H_0|^2 + q^2 (|H_+|^2 + |H_-|^2)) + b_t q^2|H_t|^2 + s |H_S|^2
                      + t_E |E_tot|^2 + t_B |B_tot|^2 ],

alpha = a/q^2, b_t = b/q^2, beta = sqrt(1 - 4 m^2/q^2), E_tot, B_tot the electric and magnetic
parts of the tensor current (``currents.tensor_current``). Traces (Dirac ψ; g_v = (d_L+d_R)/2,
g_a = (d_R-d_L)/2; P(q^2) = 2 + (q^2 - 2 m^2)^2/(4 m^4) = sum_pol |eps_1 . eps_2|^2;
x = q^2/m^2):

    scalar-vector    alpha = beta^2/3                               (P wave: beta^3)
    scalar-scalar    s = 1                                          (S wave: beta)
    fermion-vector   alpha = (2/3) g_v^2 (3 - beta^2) + (4/3) g_a^2 beta^2,
                     b_t = 2 g_a^2 (1 - beta^2)
    fermion-scalar   s = 2 q^2 beta^2;   fermion-pseudoscalar  s = 2 q^2
    fermion-tensor   t_E = (8/3) (q^2 + 8 m^2),   t_B = (8/3) (q^2 - 4 m^2)
    vector-vector    alpha = P beta^2/3; vector-scalar  s = P
    vector-tensor    t_E = (q^2 - 4 m^2)(q^2 + 4 m^2)/(12 m^4),   t_B = (q^2 + 2 m^2)/(3 m^2)
    rs-vector        alpha = (4/27x) [g_v^2 (x^3 - 2x^2 - 2x + 36) + g_a^2 (x - 4)(x^2 - 4x + 10)],
                     b_t = (8/9x) g_a^2 (x^2 - 2x + 10)
    rs-scalar        s = (2/9) m^2 (x - 4)(x^2 - 6x + 18)
    rs-pseudoscalar  s = (2/9) m^2 x (x^2 - 2x + 10)

The spin-3/2 traces use the Rarita-Schwinger spin sum with its full mass dependence,
sum u^mu ū^nu = -(p-slash + m)[g^{mu nu} - gamma^mu gamma^nu/3 - 2 p^mu p^nu/(3 m^2)
+ (p^mu gamma^nu - p^nu gamma^mu)/(3 m)] (v: m -> -m). Limits (tested): at threshold the
spin-3/2 rates are 10/9 (vector current, a 3S1 pair: the spinor operator sigma restricted to
j = 3/2 is (2/3) J, so Tr = 20/3 against 6 for spin 1/2; Wigner-Eckart projection theorem) and 2
(pseudoscalar density and axial time-like part, a spin singlet: Tr 1 = 4 against 2) times the
spin-1/2 ones; for m -> 0 they grow as 1/m^4, m^4 x (rate) -> (q^4/9) x (massless spin-1/2
rate), the helicity-1/2 components acting as sqrt(2/3) d_mu psi / m (the gravitino-goldstino
equivalence, Fayet, Phys. Lett. B 70 (1977) 461; Casalbuoni et al., Phys. Rev. D 39 (1989) 2281).

Massless check: nū gamma^mu (1 - gamma5) nu has g_v = -g_a = 1, alpha = 8/3; with
K = (4 G_F/sqrt2) V_tb V_ts^* (alpha_em/4 pi) C_L, s̄ gamma_mu P_L b (|H_0|^2 = lambda f_+^2/(4 q^2))
this is K^2 lambda^{3/2} f_+^2/(384 pi^3 m_B^3) = G_F^2 alpha_em^2 |V_tb V_ts|^2 |C_L|^2
lambda^{3/2} f_+^2/(768 pi^5 m_B^3), the SM per-flavour rate (physics.md, **checked**; 1409.4557).
The massless fermion-tensor spectrum and F_L have the shape of the O_TL terms of 2111.04327
eqs. (8), (13) (``emiss.physics.wet``; tested).
K* longitudinal part: the H_0, H_t, H_S and longitudinal tensor terms; transverse: H_+-.

Self-conjugate pairs (``self_conjugate=True``: Majorana psi or Psi, real phi or V), normalised as
L = (K/2) J X X so that the Feynman vertex is the Dirac/complex one: the two identical particles
halve the phase space, B = B(Dirac/complex)/2 (a Dirac fermion is two Majorana ones of equal
mass, a complex field two real ones). C-odd bilinears vanish identically, C Gamma^T C^-1 = -Gamma
for gamma^mu and sigma^{mu nu}: psī gamma^mu psi = psī sigma^{mu nu} psi = 0 (also with Psi_nu), and
for real fields phi d<->phi = 0, V_nu d<->V^nu = 0 and sigma^{mu nu} V_mu V_nu = 0. So a
Majorana vector-type current keeps only its axial part g_a, and the kinds scalar-vector,
vector-vector, fermion-tensor and vector-tensor have no self-conjugate version: asking for one
is an EmissError (``self_conjugate_kind``), never a silent zero.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from emiss.errors import EmissError
from emiss.physics import currents
from emiss.physics.kinematics import beta as beta_fn
from emiss.physics.spectrum import Spectrum
from emiss.physics.twobody import check_mass

if TYPE_CHECKING:
    from emiss.physics.formfactors import FormFactors
    from emiss.physics.processes import Process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairKind:
    """One pair operator: spin of the invisible particles, the invisible current, the quark current.

    Attributes:
        spin: 0, 0.5, 1 or 1.5.
        current: invisible current ("vector", "scalar", "pseudoscalar", "tensor").
        quark: "vector" (J^mu), "scalar" (J) or "tensor" (T^{mu nu}).
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
    "fermion-tensor": PairKind(0.5, "tensor", "tensor", False),
    "vector-vector": PairKind(1, "vector", "vector", False),
    "vector-scalar": PairKind(1, "scalar", "scalar", True),
    "vector-tensor": PairKind(1, "tensor", "tensor", True),
    "rs-vector": PairKind(1.5, "vector", "vector", False),
    "rs-scalar": PairKind(1.5, "scalar", "scalar", False),
    "rs-pseudoscalar": PairKind(1.5, "pseudoscalar", "scalar", False),
}

#: Why the self-conjugate (Majorana / real) version of a kind vanishes identically (module doc).
VANISHING_SELF_CONJUGATE: dict[str, str] = {
    "scalar-vector": "for a real scalar phi d<->^mu phi = phi d^mu phi - (d^mu phi) phi = 0",
    "vector-vector": "for a real vector V_nu d<->^mu V^nu = 0",
    "fermion-tensor": "a Majorana tensor bilinear vanishes: C sigma^{mu nu T} C^-1 = "
                      "-sigma^{mu nu}, so chī sigma^{mu nu} chi = 0",
    "vector-tensor": "sigma^{mu nu} V_mu V_nu = 0 for a real vector (sigma antisymmetric)",
}
#: Why a Majorana vector-type current without axial part vanishes.
MAJORANA_VECTOR_ZERO = ("a Majorana vector current vanishes: C gamma^{mu T} C^-1 = -gamma^mu, so "
                        "chī gamma^mu chi = 0 and only the axial part (d_R - d_L)/2 survives")


def _polsum(q2: np.ndarray, m: float) -> np.ndarray:
    """sum over both vectors' polarisations of |eps_1^* . eps_2^*|^2 = 2 + (p1.p2)^2/m^4."""
    return 2.0 + (q2 - 2.0 * m * m) ** 2 / (4.0 * m**4)


def self_conjugate_kind(kind: str, d_L: float = 1.0, d_R: float = 1.0) -> tuple[float, float]:
    """The invisible chirality weights of the self-conjugate version of a kind (module doc).

    Args:
        kind: key of PAIR_KINDS.
        d_L, d_R: chirality weights of a vector-type fermion current (fermion-vector, rs-vector).

    Returns:
        (d_L, d_R) to use with the Dirac formulas (the axial part only for vector-type currents).

    Raises:
        EmissError: the self-conjugate operator vanishes identically.
    """
    if kind in VANISHING_SELF_CONJUGATE:
        raise EmissError(f"pair kind {kind!r} has no self-conjugate version: "
                         f"{VANISHING_SELF_CONJUGATE[kind]}")
    if kind in ("fermion-vector", "rs-vector"):
        _, ga = currents.chiral_to_parity(d_L, d_R)
        if ga == 0.0:
            raise EmissError(f"{MAJORANA_VECTOR_ZERO} (here d_L = d_R = {d_L:g})")
        return -ga, ga
    return d_L, d_R


def _rs_factors(kind: str, q2: np.ndarray, m: float, gv: float, ga: float)\
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, b_t, s) of a Rarita-Schwinger pair (module docstring, x = q^2/m^2)."""
    x = q2 / (m * m)
    zero = np.zeros_like(q2)
    if kind == "rs-vector":
        alpha = 4.0 / (27.0 * x) * (gv**2 * (x**3 - 2 * x**2 - 2 * x + 36.0)
                                    + ga**2 * (x - 4.0) * (x**2 - 4 * x + 10.0))
        return alpha, 8.0 / (9.0 * x) * ga**2 * (x**2 - 2 * x + 10.0), zero
    if kind == "rs-scalar":
        return zero, zero, 2.0 / 9.0 * m * m * (x - 4.0) * (x**2 - 6 * x + 18.0)
    return zero, zero, 2.0 / 9.0 * m * m * x * (x**2 - 2 * x + 10.0)  # rs-pseudoscalar


def invisible_factors(kind: str, q2: np.ndarray, m: float, d_L: float = 1.0, d_R: float = 1.0)\
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, b_t, s) of the module docstring at q2 for one vector/scalar-current pair kind.

    Args:
        kind: key of PAIR_KINDS (not a tensor kind: see ``tensor_factors``).
        q2: GeV^2 (>= 4 m^2).
        m: mass of each invisible particle (GeV; > 0 for spin >= 1).
        d_L, d_R: chirality weights of a fermion vector-type current (fermion-vector, rs-vector).

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
    if kind in ("rs-vector", "rs-scalar", "rs-pseudoscalar"):
        return _rs_factors(kind, q2, m, *currents.chiral_to_parity(d_L, d_R))
    if kind in PAIR_KINDS:
        raise EmissError(f"pair kind {kind!r} couples to the tensor quark current: "
                         "use tensor_factors")
    raise EmissError(f"unknown pair kind {kind!r}; valid: {', '.join(PAIR_KINDS)}")


def tensor_factors(kind: str, q2: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
    """(t_E / q^2, t_B / q^2) of the module docstring for a tensor-current pair kind.

    Args:
        kind: "fermion-tensor" or "vector-tensor".
        q2: GeV^2 (>= 4 m^2, > 0).
        m: mass of each invisible particle (GeV; > 0 for the vector pair).

    Returns:
        Weights of q^2 |E_tot|^2 and q^2 |B_tot|^2 (``currents.TensorHelicity``).
    """
    q2 = np.asarray(q2, dtype=float)
    m2 = m * m
    if kind == "fermion-tensor":
        return 8.0 / 3.0 * (1.0 + 8.0 * m2 / q2), 8.0 / 3.0 * (1.0 - 4.0 * m2 / q2)
    if kind == "vector-tensor":
        return ((q2 - 4.0 * m2) * (q2 + 4.0 * m2) / (12.0 * m2 * m2 * q2),
                (q2 + 2.0 * m2) / (3.0 * m2 * q2))
    raise EmissError(f"pair kind {kind!r} has no tensor quark current; valid: fermion-tensor, "
                     "vector-tensor")


def coefficient(kind: str, g: float, Lambda: float) -> float:
    """Operator coefficient K (GeV^-2 or GeV^-1, see module table)."""
    k = PAIR_KINDS[kind]
    if k.with_vev:
        return g * currents.higgs_vev() / (math.sqrt(2.0) * Lambda**2)
    return g / Lambda**2


def dgamma_dq2(process: Process, ff: FormFactors, q2: ArrayLike, kind: str, mass: float,
               g: float, Lambda: float, c_L: float = 1.0, c_R: float = 0.0, d_L: float = 1.0,
               d_R: float = 1.0,
               self_conjugate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Differential width dGamma/dq^2 (GeV^-1) and its K*-longitudinal part for B -> M X X̄.

    Args:
        process: ``Process``.
        ff: form factors of process.ff_kind.
        q2: GeV^2 array, inside [4 m^2, (m_B - m_M)^2].
        kind: key of PAIR_KINDS.
        mass: m_X (GeV).
        g, Lambda: coupling and scale (GeV).
        c_L, c_R: quark-current chirality weights.
        d_L, d_R: invisible-fermion chirality weights (fermion-vector and rs-vector only).
        self_conjugate: Majorana / real pair with L = (K/2) J X X (module docstring).

    Returns:
        (total, longitudinal) arrays (longitudinal = total for B -> K).

    Raises:
        EmissError: the self-conjugate operator vanishes identically.
    """
    q2 = np.asarray(q2, dtype=float)
    pk = PAIR_KINDS[kind]
    sym = 1.0
    if self_conjugate:
        d_L, d_R = self_conjugate_kind(kind, d_L, d_R)
        sym = 0.5  # two identical particles
    pref = (sym * coefficient(kind, g, Lambda) ** 2 * np.sqrt(process.lam(q2))
            * beta_fn(q2, mass) / (256.0 * np.pi**3 * process.m_B**3))
    if pk.quark == "tensor":
        t = currents.tensor_current(process, ff, q2, c_L, c_R)
        tE, tB = tensor_factors(kind, q2, mass)
        long = pref * (tE * t.q2E_long + tB * t.q2B_long)
        return long + pref * (tE * t.q2E_tr + tB * t.q2B_tr), long
    if pk.quark == "vector":
        h = currents.vector_current(process, ff, q2, c_L, c_R)
    else:
        h = currents.scalar_current(process, ff, q2, c_L, c_R)
    alpha, bt, s = invisible_factors(kind, q2, mass, d_L, d_R)
    long = pref * (alpha * h.q2H0 + bt * h.q2Ht + s * h.HS)
    total = long + pref * alpha * q2 * h.HT
    return total, long


def pair_spectrum(process: Process, ff: FormFactors, kind: str, mass: float, g: float,
                  Lambda: float, c_L: float = 1.0, c_R: float = 0.0, d_L: float = 1.0,
                  d_R: float = 1.0,
                  self_conjugate: bool = False) -> Spectrum:
    """Spectrum of B -> M X X̄ (continuum on [4 m^2, (m_B - m_M)^2]).

    Args:
        process, ff, kind, mass, g, Lambda, c_L, c_R, d_L, d_R, self_conjugate: as for
            ``dgamma_dq2``.

    Returns:
        Spectrum (continuum_long set for K* processes).

    Raises:
        EmissError: unknown kind, bad mass (spin >= 1 pairs need m > 0: their rates grow as
            1/m^4), a self-conjugate operator that vanishes identically, a tensor kind on a
            process without tensor form factors.
    """
    if kind not in PAIR_KINDS:
        raise EmissError(f"unknown pair kind {kind!r}; valid: {', '.join(PAIR_KINDS)}")
    pk = PAIR_KINDS[kind]
    m = check_mass(process, mass, 2, allow_zero=pk.spin < 1)
    if self_conjugate:
        self_conjugate_kind(kind, d_L, d_R)  # raises before any work when it vanishes
    if pk.quark == "tensor":  # the form factors exist (error here, not at the first evaluation)
        currents.tensor_current(process, ff, np.array([process.q2_max / 2]), c_L, c_R)
    tau = process.tau_B

    def _total(q2: np.ndarray) -> np.ndarray:
        return tau * dgamma_dq2(process, ff, q2, kind, m, g, Lambda, c_L, c_R, d_L, d_R,
                                self_conjugate)[0]

    def _long(q2: np.ndarray) -> np.ndarray:
        return tau * dgamma_dq2(process, ff, q2, kind, m, g, Lambda, c_L, c_R, d_L, d_R,
                                self_conjugate)[1]

    cont_long: Callable | None = _long if process.is_vector else None
    what = f"{kind}{', self-conjugate' if self_conjugate else ''}"
    return Spectrum(
        process=process.name, q2_min=4.0 * m * m, q2_max=process.q2_max, continuum=_total,
        continuum_long=cont_long, label=f"B->{process.meson} X X̄ ({what}, m={m:g} GeV)",
        meta={"mass": m, "spin": pk.spin, "kind": kind, "self_conjugate": self_conjugate,
              "g": g, "Lambda": Lambda, "c_L": c_L, "c_R": c_R, "d_L": d_L, "d_R": d_R},
    )
