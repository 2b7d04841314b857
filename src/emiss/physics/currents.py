"""Hadronic helicity amplitudes of B -> K(*) for the quark currents that light invisibles couple to.

Light-NP operators (chiral basis of Bolton, Fajfer, Kamenik, Novoa-Brunet arXiv:2503.19025, sec. 2;
Kamenik & Smith arXiv:1111.6402, eqs. (2)-(4)) couple an invisible system of momentum q to

* a vector-type quark current  J^mu = s̄ gamma^mu (c_L P_L + c_R P_R) b
  = g_V (s̄ gamma^mu b) + g_A (s̄ gamma^mu gamma5 b),  g_V = (c_L + c_R)/2, g_A = (c_R - c_L)/2;
* a scalar-type quark current  J = s̄ (c_L P_L + c_R P_R) b = g_S (s̄ b) + g_P (s̄ gamma5 b),
  g_S = (c_L + c_R)/2, g_P = (c_R - c_L)/2.

Project <M|J^mu|B> on the polarisation vectors of the current (time-like eps_t = q/sqrt(q^2),
space-like lambda = 0, +, -); for K* the K* helicity equals lambda (0 for t and scalar).
Matrix elements (B -> K: HPQCD arXiv:2207.12468 eqs. (1)-(3); B -> K*: Bharucha, Straub, Zwicky
arXiv:1503.05534 eqs. (3)-(6); helicity projections as in Gratrex, Hopfer, Zwicky
arXiv:1506.03970 and Buras et al. arXiv:1409.4557 eq. (22)):

    B -> K  : q^2 |H_0|^2 = g_V^2 lambda f_+^2,   q^2 |H_t|^2 = g_V^2 (m_B^2 - m_K^2)^2 f_0^2,
              |H_S|^2 = g_S^2 [(m_B^2 - m_K^2) f_0 / (m_b - m_s)]^2    (axial, pseudoscalar: 0)
    B -> K* : |H_+|^2 + |H_-|^2 = 2 [g_V^2 lambda V^2/(m_B + m_K*)^2 + g_A^2 (m_B + m_K*)^2 A_1^2],
              q^2 |H_0|^2 = g_A^2 (8 m_B m_K* A_12)^2,   q^2 |H_t|^2 = g_A^2 lambda A_0^2,
              |H_S|^2 = g_P^2 lambda A_0^2 / (m_b + m_s)^2   (vector part: transverse only)

* a tensor quark current  T^{mu nu} = s̄ sigma^{mu nu} (c_L P_L + c_R P_R) b
  = g_T (s̄ sigma^{mu nu} b) + g_T5 (s̄ sigma^{mu nu} gamma5 b), g_T = (c_L + c_R)/2,
  g_T5 = (c_R - c_L)/2 (``tensor_current``).

The quark masses in the scalar densities follow from the equations of motion
(q_mu s̄ gamma^mu b = (m_b - m_s) s̄ b); PDG MS-bar values m_b(m_b), m_s(2 GeV) via ``particle``.
The V-A interference terms of |H_+|^2 - |H_-|^2 drop out once the invisible system's angles are
integrated, so only these squares enter rates and F_L.
Amplitudes are returned multiplied by q^2 where they carry 1/sqrt(q^2), so q^2 -> 0 is finite.

Tensor current (``tensor_current``; derivation in docs/spin32.md, checked numerically in
tests/test_pair_operators.py). An antisymmetric F^{mu nu} = <M|T^{mu nu}|B> is fixed, in the rest
frame of q, by its "electric" part E^i = F^{i0} = F^{i nu} q_nu / sqrt(q^2) and its "magnetic"
part B^i = eps^{ijk} F^{jk}/2. With sigma^{mu nu} gamma5 = (i/2) eps^{mu nu a b} sigma_{ab}
(eps^{0123} = +1) the gamma5 part swaps them (E5 = -i B, B5 = i E), so with E, E5 the electric
parts of <s̄ sigma b> and <s̄ sigma gamma5 b>, E_tot = g_T E + g_T5 E5 and
|B_tot| = |g_T E5 + g_T5 E|. The matrix elements (HPQCD arXiv:2207.12468 eq. (3) for f_T;
BSZ arXiv:1503.05534 sec. 2 for T_1, T_2, T_3 and T_23) give, summed over K* helicities:

    B -> K  : q^2 |E|^2 = q^2 lambda f_T^2 / (m_B + m_K)^2,   E5 = 0
    B -> K* : q^2 |E|^2 = 2 lambda T_1^2 (transverse only),
              q^2 |E5|^2 = 2 (m_B^2 - m_V^2)^2 T_2^2 (transverse)
                           + 16 q^2 m_B^2 m_V^2 T_23^2 / (m_B + m_V)^2 (longitudinal)

and E.E5* cancels between the K* helicities +1 and -1. These are the combinations of the
tensor terms of Felkl, Li, Schmidt arXiv:2111.04327 eqs. (8), (13) (``emiss.physics.wet``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.typing import ArrayLike

from emiss.physics import constants as C

if TYPE_CHECKING:
    from emiss.physics.formfactors import (
        BKFormFactors,
        BKstarFormFactors,
        FormFactors,
        PseudoscalarFormFactors,
    )
    from emiss.physics.processes import Process

log = logging.getLogger(__name__)


@cache
def quark_masses() -> tuple[float, float]:
    """PDG MS-bar quark masses (m_b(m_b), m_s(2 GeV)) in GeV, via the ``particle`` package."""
    return C.pdg_mass_gev(5), C.pdg_mass_gev(3)


def higgs_vev() -> float:
    """Electroweak vev v = (sqrt(2) G_F)^(-1/2) ~ 246.2 GeV (PDG, from G_F)."""
    return float((np.sqrt(2.0) * C.G_F) ** -0.5)


def chiral_to_parity(c_L: float, c_R: float) -> tuple[float, float]:
    """c_L P_L + c_R P_R = even + odd gamma5; returns (even, odd) = ((c_L+c_R)/2, (c_R-c_L)/2)."""
    return 0.5 * (c_L + c_R), 0.5 * (c_R - c_L)


@dataclass(frozen=True)
class Helicity:
    """Squared hadronic helicity amplitudes at given q^2 (arrays, one entry per q^2).

    Attributes:
        q2H0: q^2 |H_0|^2 (K* longitudinal).
        HT: |H_+|^2 + |H_-|^2 (K* transverse; zero for B -> K).
        q2Ht: q^2 |H_t|^2 (time-like; K* longitudinal).
        HS: |H_S|^2 of the scalar-type current (K* longitudinal).
    """

    q2H0: np.ndarray
    HT: np.ndarray
    q2Ht: np.ndarray
    HS: np.ndarray


def vector_current(process: Process, ff: FormFactors, q2: ArrayLike, c_L: float,
                   c_R: float) -> Helicity:
    """Helicity amplitudes of J^mu = s̄ gamma^mu (c_L P_L + c_R P_R) b.

    Args:
        process: ``emiss.physics.processes.Process``.
        ff: form-factor object of process.ff_kind (``emiss.physics.formfactors``).
        q2: invariant mass squared of the invisible system (GeV^2), array.
        c_L, c_R: chirality weights of the quark current.

    Returns:
        Helicity (HS = 0).
    """
    q2 = np.asarray(q2, dtype=float)
    gV, gA = chiral_to_parity(c_L, c_R)
    mB, mM = process.m_B, process.m_M
    lam = process.lam(q2)
    zero = np.zeros_like(q2)
    iso = getattr(process, "iso_factor", 1.0)  # 1/2 for pi0, rho0 (emiss.physics.processes)
    gV, gA = gV * np.sqrt(iso), gA * np.sqrt(iso)
    # the form factors are those of process.ff_kind: pseudoscalar or vector as the process
    if not process.is_vector:
        ps = cast("PseudoscalarFormFactors", ff)
        fp, f0 = np.asarray(ps.fplus(q2)), np.asarray(ps.f0(q2))
        return Helicity(q2H0=gV**2 * lam * fp**2, HT=zero,
                        q2Ht=gV**2 * (mB**2 - mM**2) ** 2 * f0**2, HS=zero)
    vf = cast("BKstarFormFactors", ff)
    V, A0, A1, A12 = (np.asarray(vf.V(q2)), np.asarray(vf.A0(q2)), np.asarray(vf.A1(q2)),
                      np.asarray(vf.A12(q2)))
    HT = 2.0 * (gV**2 * lam * V**2 / (mB + mM) ** 2 + gA**2 * (mB + mM) ** 2 * A1**2)
    return Helicity(q2H0=gA**2 * (8.0 * mB * mM * A12) ** 2, HT=HT, q2Ht=gA**2 * lam * A0**2,
                    HS=zero)


def scalar_current(process: Process, ff: FormFactors, q2: ArrayLike, c_L: float,
                   c_R: float) -> Helicity:
    """Helicity amplitudes of the density J = s̄ (c_L P_L + c_R P_R) b (only HS is non-zero).

    Args:
        process: ``emiss.physics.processes.Process``.
        ff: form-factor object of process.ff_kind.
        q2: GeV^2, array.
        c_L, c_R: chirality weights.

    Returns:
        Helicity with only HS filled.
    """
    q2 = np.asarray(q2, dtype=float)
    if getattr(process, "transition", "b->s") != "b->s":
        from emiss.errors import EmissError

        raise EmissError(f"scalar-density couplings are implemented for b -> s only (quark "
                         f"masses m_b - m_s); {process.name} is {process.transition}")
    gS, gP = chiral_to_parity(c_L, c_R)
    mb, ms = quark_masses()
    mB, mM = process.m_B, process.m_M
    zero = np.zeros_like(q2)
    if not process.is_vector:
        f0 = np.asarray(cast("PseudoscalarFormFactors", ff).f0(q2))
        HS = gS**2 * ((mB**2 - mM**2) * f0 / (mb - ms)) ** 2
    else:
        A0 = np.asarray(cast("BKstarFormFactors", ff).A0(q2))
        HS = gP**2 * process.lam(q2) * A0**2 / (mb + ms) ** 2
    return Helicity(q2H0=zero, HT=zero, q2Ht=zero, HS=HS)


@dataclass(frozen=True)
class TensorHelicity:
    """Squared "electric" and "magnetic" parts of the tensor quark current (times q^2).

    Attributes:
        q2E_long, q2E_tr: q^2 |E_tot|^2, K*-longitudinal and transverse parts.
        q2B_long, q2B_tr: q^2 |B_tot|^2, likewise (B -> K: everything is "long", tr = 0).
    """

    q2E_long: np.ndarray
    q2E_tr: np.ndarray
    q2B_long: np.ndarray
    q2B_tr: np.ndarray


def tensor_current(process: Process, ff: FormFactors, q2: ArrayLike, c_L: float,
                   c_R: float) -> TensorHelicity:
    """Electric and magnetic parts of T^{mu nu} = s̄ sigma^{mu nu} (c_L P_L + c_R P_R) b.

    Args:
        process: ``emiss.physics.processes.Process`` (b -> s: B -> K or B -> K*).
        ff: form factors with fT (B -> K) or T1, T2, T23 (B -> K*).
        q2: GeV^2, array (> 0).
        c_L, c_R: chirality weights.

    Returns:
        TensorHelicity (module docstring: |E_tot|^2 = g_T^2 |E|^2 + g_T5^2 |E5|^2,
        |B_tot|^2 = g_T^2 |E5|^2 + g_T5^2 |E|^2).

    Raises:
        EmissError: a process without tensor form factors.
    """
    from emiss.errors import EmissError

    q2 = np.asarray(q2, dtype=float)
    need = ("T1", "T2", "T23") if process.is_vector else ("fT",)
    if getattr(process, "transition", "b->s") != "b->s" or not all(hasattr(ff, n) for n in need):
        raise EmissError(f"tensor quark currents are implemented for B -> K(*) only (tensor form "
                         f"factors f_T; T_1, T_2, T_23); {process.name} has none")
    gT, gT5 = chiral_to_parity(c_L, c_R)
    mB, mM = process.m_B, process.m_M
    lam = process.lam(q2)
    zero = np.zeros_like(q2)
    if not process.is_vector:
        # b -> s with f_T: B -> K (checked above)
        ee = q2 * lam * np.asarray(cast("BKFormFactors", ff).fT(q2)) ** 2 / (mB + mM) ** 2
        return TensorHelicity(q2E_long=gT**2 * ee, q2E_tr=zero, q2B_long=gT5**2 * ee,
                              q2B_tr=zero)
    T1, T2, T23 = (np.asarray(getattr(ff, n)(q2)) for n in ("T1", "T2", "T23"))
    ee_tr = 2.0 * lam * T1**2
    e5_tr = 2.0 * (mB**2 - mM**2) ** 2 * T2**2
    e5_long = 16.0 * q2 * mB**2 * mM**2 * T23**2 / (mB + mM) ** 2
    return TensorHelicity(q2E_long=gT5**2 * e5_long, q2E_tr=gT**2 * ee_tr + gT5**2 * e5_tr,
                          q2B_long=gT**2 * e5_long, q2B_tr=gT**2 * e5_tr + gT5**2 * ee_tr)
