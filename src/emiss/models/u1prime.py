"""Gauged U(1)' with a vector-like top partner T' (Bolton, Fajfer, Kamenik, Novoa-Brunet).

Model content as given in the motivating talk (J. F. Kamenik, Durham, 22 July 2025, on
arXiv:2503.19025 and the follow-up arXiv:2512.16999), summarised in
``shared/reference/uv-model.md``; every formula is listed with its source in ``docs/models.md``.

Inputs: the physical heavy mass m_T, g̃ q' (``g_qprime``), and two of (Y_T^t, ṽ, M_Z') —
M_Z' = g̃ q' ṽ (talk) ties ṽ and M_Z'; Y_T^t is needed only for the mixing angles and S, T, U.
Optional dark sector: a Dirac fermion X with coupling g̃ q'_X (``g_qX``) and mass m_X; UV scale
Lambda of the kinetic-mixing logarithm; the cancellation parameter delta of the talk.

Mixing (derived here from the mass matrix, reproducing the talk's tan 2 theta formulas):
in the basis (t', T') the mass terms are t̄'_L (v Y_t/sqrt 2) t'_R + T̄'_L (ṽ Y_T^t/sqrt 2) t'_R
+ T̄'_L M_T T'_R, i.e. M = [[a, 0], [b, c]] with a = v Y_t/sqrt 2, b = ṽ Y_T^t/sqrt 2, c = M_T.
Its singular values are the physical masses (m_t, m_T): m_t m_T = a c and
m_t^2 + m_T^2 = a^2 + b^2 + c^2. Given the measured m_t and the input m_T, these fix
a^2 = [S - sqrt(S^2 - 4 m_t^2 m_T^2)]/2 (the top-like root), c = m_t m_T / a, with
S = m_t^2 + m_T^2 - b^2; a real solution needs b <= m_T - m_t. Then
tan 2 theta_L = 2 a b/(c^2 + b^2 - a^2) and tan 2 theta_R = 2 b c/(c^2 - a^2 - b^2), the talk's
tan 2 theta_L = v ṽ Y_t Y_T^t/(M_T^2 + (ṽ Y_T^t)^2/2 - (v Y_t)^2/2) and
tan 2 theta_R = sqrt 2 ṽ Y_T^t M_T/(M_T^2 - (ṽ Y_T^t)^2/2 - (v Y_t)^2/2).

Flavour-changing Z' couplings (talk): H_eff ⊃ g_ij d̄_i gamma_mu P_L d_j Z'^mu with
g_ij = (4 G_F/sqrt 2) V_ti^* V_tj g̃ q' m_T m_t/(16 pi^2). emiss's ``twobody-vector`` scenario is
L ⊃ g V_mu s̄ gamma^mu (c_L P_L + c_R P_R) b + h.c. (emiss.physics.twobody), so the exact map is
g = |g_sb|, c_L = 1, c_R = 0 (L = -H_eff: the overall sign and the CKM phase drop out of |M|^2;
for K_L -> pi0 only Im g_ds counts, emiss.physics.processes). As written by the talk, g_ij
carries no explicit dependence on the mixing angles (it is its leading expression; see
docs/models.md for the caveat).

Kinetic mixing (talk): eps_A = -eps_Z/t_W = e g̃ q' ln(Lambda^2/m_T^2)/(6 pi^2) at one loop with
eps_B(Lambda) = 0 [derived in docs/models.md: N_c Q_T e g̃ q' ln(Lambda^2/m_T^2)/(12 pi^2) with
N_c = 3, Q_T = 2/3]; the talk's tuning delta = (eps_B(m_W) - eps_B(Lambda))/eps_B(m_W) means
eps_B(m_W) = (radiative part)/delta: delta = 1 is no UV mixing, delta = 100 a 1 % cancellation.
e = sqrt(4 pi alpha(M_Z)) at the matching scale.

Oblique parameters (talk, s_L^2 << 1): T = 3/(8 pi s_W^2) (m_t^2/M_W^2) s_L^2 [ln(m_T^2/m_t^2) - 1],
S = s_L^2 [ln(m_T^2/m_t^2) - 5/2]/(3 pi), U = 5 s_L^2/(6 pi).

Dark matter (talk): Omega_X/Omega_DM ≈ (m_X/10 GeV)^2 (0.07/g̃ q'_X)^4 for m_X > M_Z' (t-channel
X X̄ -> Z' Z'); CMB (Slatyer arXiv:1506.03811, as quoted by the talk): m_X >~ 20 GeV,
g̃ q'_X >~ 0.08. Z-Z' (kinetic) mixing: |eps_B| < 0.03 for 1 GeV < M_Z' < 1 TeV from
electroweak precision (Hook, Izaguirre, Wacker arXiv:1006.0973).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from emiss import validate as V
from emiss.errors import EmissError
from emiss.models import escape, ewpo
from emiss.physics import constants as C
from emiss.physics import darkphoton as DP
from emiss.physics import formfactors as F
from emiss.physics import twobody
from emiss.physics.ckm import lambda_t
from emiss.physics.currents import higgs_vev
from emiss.physics.processes import ALL_PROCESSES, get_process

log = logging.getLogger(__name__)

NAME = "u1prime"
REFERENCE = ("J. F. Kamenik, talk, Durham 22 July 2025; Bolton, Fajfer, Kamenik, Novoa-Brunet "
             "arXiv:2503.19025; Bolton, Kamenik, Novoa-Brunet arXiv:2512.16999")
#: M_Z' used when neither ṽ nor M_Z' is given: the two-body best fit (2503.19025, 2311.14629).
DEFAULT_MZP = 2.1
#: Reference point of the talk's kinetic-mixing normalisation: ln(Lambda^2/m_T^2) = 55.3.
LOG_REF = 55.3
#: Bound on the hypercharge kinetic mixing from electroweak precision, arXiv:1006.0973.
EPS_B_MAX = 0.03
#: The talk's relic-abundance normalisation (m_X = 10 GeV, g̃ q'_X = 0.07) and CMB bounds.
RELIC_G_REF, RELIC_M_REF = 0.07, 10.0
CMB_M_MIN, CMB_G_MIN = 20.0, 0.08
#: B processes whose Z' boost is that of Belle II (P_inv is computed for these).
BELLE2_PROCESSES = ("B+->K+", "B0->K0", "B0->K*0", "B+->K*+", "B+->pi+", "B0->pi0",
                    "B+->rho+", "B0->rho0")

PARAMETERS: dict[str, tuple[float | None, str, str]] = {
    "m_T": (None, "GeV", "physical mass of the heavy top partner (required)"),
    "g_qprime": (None, "", "g̃ q': U(1)' coupling times the charge of Phi and T' (required)"),
    "Y_Tt": (None, "", "Yukawa coupling Y_T^t of T̄' Phi t'_R (mixing, S, T, U)"),
    "vtilde": (None, "GeV", "vev ṽ of Phi (M_Z' = g̃ q' ṽ)"),
    "m_Zp": (None, "GeV", f"Z' mass (default {DEFAULT_MZP} if ṽ not given)"),
    "g_qX": (0.0, "", "g̃ q'_X: coupling of the dark Dirac fermion X (0: minimal model)"),
    "m_X": (None, "GeV", "mass of X (needed if g_qX > 0)"),
    "Lambda_UV": (1e16, "GeV", "UV scale of the kinetic-mixing logarithm"),
    "delta": (1.0, "", "kinetic-mixing cancellation of the talk (eps = eps_loop/delta)"),
    "detector_radius_m": (escape.BELLE2_RADIUS_M, "m", "Belle II detector radius for P_inv"),
}


@dataclass(frozen=True)
class U1PrimeParams:
    """Validated inputs (see PARAMETERS)."""

    m_T: float
    g_qprime: float
    m_Zp: float
    vtilde: float
    Y_Tt: float | None = None
    g_qX: float = 0.0
    m_X: float | None = None
    Lambda_UV: float = 1e16
    delta: float = 1.0
    detector_radius_m: float = escape.BELLE2_RADIUS_M


def top_mass() -> float:
    """PDG top-quark mass (GeV) used for m_t (particle package; the pole-mass average)."""
    return C.mass("t")


def make_params(**kw: float | None) -> U1PrimeParams:
    """Validate inputs and complete (ṽ, M_Z') from M_Z' = g̃ q' ṽ.

    Args:
        **kw: names of PARAMETERS (None = not given).

    Returns:
        U1PrimeParams.

    Raises:
        EmissError: unknown names, missing m_T or g_qprime, non-positive values, inconsistent
            ṽ and M_Z', m_T <= m_t, g_qX > 0 without m_X, Lambda_UV <= m_T.
    """
    unknown = set(kw) - set(PARAMETERS)
    if unknown:
        raise EmissError(f"unknown u1prime parameter(s) {sorted(unknown)}; valid: "
                         f"{', '.join(PARAMETERS)}")
    for req in ("m_T", "g_qprime"):
        if kw.get(req) is None:
            raise EmissError(f"u1prime needs {req} ({PARAMETERS[req][2]})")
    m_T = V.UV_SCALE.check(kw["m_T"], "m_T")
    if m_T <= top_mass():
        raise EmissError(f"m_T={m_T:g} GeV must exceed the top mass {top_mass():g} GeV")
    g = V.PERTURBATIVE.check(kw["g_qprime"], "g_qprime")
    if g == 0:
        raise EmissError("g_qprime=0: the Z' needs a coupling; valid: "
                         f"{V.PERTURBATIVE.describe()} other than 0")
    vt = kw.get("vtilde")
    mz = kw.get("m_Zp")
    if vt is not None and mz is not None:
        vt, mz = V.UV_SCALE.check(vt, "vtilde"), V.UV_SCALE.check(mz, "m_Zp")
        if abs(g * vt - mz) > 1e-6 * mz:
            raise EmissError(f"inconsistent inputs: M_Z' = g_qprime * vtilde = {g * vt:g} GeV "
                             f"but m_Zp={mz:g}; give only two of (g_qprime, vtilde, m_Zp)")
    elif vt is not None:
        vt = V.UV_SCALE.check(vt, "vtilde")
        mz = V.UV_SCALE.check(g * vt, "m_Zp = g_qprime * vtilde")
    else:
        mz = DEFAULT_MZP if mz is None else V.UV_SCALE.check(mz, "m_Zp")
        vt = V.UV_SCALE.check(mz / g, "vtilde = m_Zp / g_qprime")
    ytt = None if kw.get("Y_Tt") is None else V.PERTURBATIVE.check(kw["Y_Tt"], "Y_Tt")
    gx = V.PERTURBATIVE.check(0.0 if kw.get("g_qX") is None else kw["g_qX"], "g_qX")
    mx = None if kw.get("m_X") is None else V.UV_SCALE.check(kw["m_X"], "m_X")
    if gx > 0 and mx is None:
        raise EmissError("g_qX > 0 needs the dark-fermion mass m_X (GeV)")
    # None means "not given" (the default); 0 and other bad values are errors, never defaults
    lam = V.UV_SCALE.check(1e16 if kw.get("Lambda_UV") is None else kw["Lambda_UV"],
                           "Lambda_UV")
    if lam <= m_T:
        raise EmissError(f"Lambda_UV={lam:g} GeV must exceed m_T={m_T:g} GeV")
    delta = V.POSITIVE.check(1.0 if kw.get("delta") is None else kw["delta"], "delta")
    radius = V.POSITIVE.check(escape.BELLE2_RADIUS_M if kw.get("detector_radius_m") is None
                              else kw["detector_radius_m"], "detector_radius_m")
    return U1PrimeParams(m_T=m_T, g_qprime=g, m_Zp=mz, vtilde=vt, Y_Tt=ytt, g_qX=gx, m_X=mx,
                         Lambda_UV=lam, delta=delta, detector_radius_m=radius)


# ------------------------------------------------------------------------------- mixing
def mass_matrix_inputs(m_T: float, vtilde: float, Y_Tt: float) -> dict[str, float]:
    """Lagrangian parameters (a, b, c) = (v Y_t/√2, ṽ Y_T^t/√2, M_T) reproducing (m_t, m_T).

    Args:
        m_T: physical heavy mass (GeV).
        vtilde: ṽ (GeV).
        Y_Tt: Y_T^t.

    Returns:
        {"a", "b", "c", "Y_t", "M_T"}.

    Raises:
        EmissError: ṽ Y_T^t/√2 > m_T - m_t (no real solution).
    """
    m_t = top_mass()
    b = vtilde * Y_Tt / math.sqrt(2.0)
    if b > m_T - m_t:
        raise EmissError(f"no T'-t mixing solution: ṽ Y_T^t/√2 = {b:.4g} GeV exceeds "
                         f"m_T - m_t = {m_T - m_t:.4g} GeV; valid: Y_Tt <= "
                         f"{math.sqrt(2.0) * (m_T - m_t) / vtilde:.4g} at this ṽ")
    S = m_t**2 + m_T**2 - b**2
    P = m_t * m_T
    disc = max(S * S - 4 * P * P, 0.0)
    a2 = 2 * P * P / (S + math.sqrt(disc))  # = (S - sqrt(disc))/2, stable form
    a = math.sqrt(a2)
    c = P / a
    return {"a": a, "b": b, "c": c, "Y_t": math.sqrt(2.0) * a / higgs_vev(), "M_T": c}


def mixing_angles(m_T: float, vtilde: float, Y_Tt: float) -> dict[str, float]:
    """theta_L, theta_R from the talk's tan 2 theta formulas (see module doc).

    Returns:
        {"theta_L", "theta_R", "s_L", "s_R", "Y_t", "M_T", "b"}.
    """
    p = mass_matrix_inputs(m_T, vtilde, Y_Tt)
    v = higgs_vev()
    vYt, vtY, M = v * p["Y_t"], vtilde * Y_Tt, p["M_T"]
    th_L = 0.5 * math.atan2(v * vtilde * p["Y_t"] * Y_Tt, M**2 + vtY**2 / 2 - vYt**2 / 2)
    th_R = 0.5 * math.atan2(math.sqrt(2.0) * vtY * M, M**2 - vtY**2 / 2 - vYt**2 / 2)
    return {"theta_L": th_L, "theta_R": th_R, "s_L": math.sin(th_L), "s_R": math.sin(th_R),
            "Y_t": p["Y_t"], "M_T": M, "b": p["b"]}


def oblique(s_L: ArrayLike, m_T: float) -> dict:
    """S, T, U of the T'-t mixing (talk's formulas, s_L^2 << 1); s_L may be an array."""
    m_t, m_W = top_mass(), C.mass("W")
    sw2 = C.SIN2_THETA_W
    s2 = np.asarray(s_L, dtype=float) ** 2
    L = math.log(m_T**2 / m_t**2)
    T = 3.0 / (8 * math.pi * sw2) * (m_t**2 / m_W**2) * s2 * (L - 1.0)
    S = s2 * (L - 2.5) / (3 * math.pi)
    U = 5.0 * s2 / (6 * math.pi)
    return {"S": S, "T": T, "U": U}


def oblique_per_sL2(m_T: float) -> np.ndarray:
    """(S, T, U) per unit s_L^2 at m_T (the family direction used by the EWPO exclusion)."""
    o = oblique(1.0, m_T)
    return np.array([float(o["S"]), float(o["T"]), float(o["U"])])


# --------------------------------------------------------------------- couplings, mixing
def flavour_couplings(m_T: float, g_qprime: float) -> dict[str, complex]:
    """g_ij of d̄_i gamma_mu P_L d_j Z'^mu for "b->s", "b->d", "s->d" (talk's H_eff).

    Returns:
        transition -> complex coupling (dimensionless).
    """
    pref = 4 * C.G_F / math.sqrt(2.0) * g_qprime * m_T * top_mass() / (16 * math.pi**2)
    return {t: pref * lambda_t(t) for t in ("b->s", "b->d", "s->d")}


def scenario_coupling(process: str, g_ij: Mapping[str, complex]) -> float:
    """emiss ``twobody-vector`` coupling g (c_L = 1, c_R = 0) for a process."""
    proc = get_process(process)
    gij = g_ij[proc.transition]
    return abs(gij.imag) if process == "KL->pi0" else abs(gij)


def kinetic_mixing(m_T: float, g_qprime: float, Lambda_UV: float = 1e16,
                   delta: float = 1.0) -> dict[str, float]:
    """eps_A (loop and physical), eps_Z = -t_W eps_A and eps_B = eps_A/c_W (talk)."""
    e = math.sqrt(4 * math.pi * C.ALPHA_EM)
    loop = e * g_qprime * math.log(Lambda_UV**2 / m_T**2) / (6 * math.pi**2)
    eps_A = loop / delta
    tw = math.sqrt(C.SIN2_THETA_W / (1 - C.SIN2_THETA_W))
    cw = math.sqrt(1 - C.SIN2_THETA_W)
    return {"eps_A_loop": loop, "eps_A": eps_A, "eps_Z": -tw * eps_A, "eps_B": eps_A / cw}


def talk_eps_A(g_qprime: float, log_ratio: float) -> float:
    """The talk's numerical form 3e-3 (g̃ q'/1e-2)(ln(Lambda^2/m_T^2)/55.3)."""
    return 3e-3 * (g_qprime / 1e-2) * (log_ratio / LOG_REF)


# -------------------------------------------------------------------------- Z' decays
def zprime_decays(p: U1PrimeParams) -> dict:
    """Z' partial widths, branching fractions, lifetime (kinetic mixing + X X̄)."""
    km = kinetic_mixing(p.m_T, p.g_qprime, p.Lambda_UV, p.delta)
    w = DP.widths(p.m_Zp, km["eps_A"], p.g_qX, p.m_X)
    br = DP.branching_fractions(w)
    tot = sum(w.values())
    ctau = DP.decay_length_factor(tot)
    return {"widths_GeV": w, "branching_fractions": br, "total_width_GeV": tot,
            "ctau_m": ctau, "tau_s": ctau / 2.99792458e8,
            "invisible_fraction": br["XX"],
            "hadronic_approximation_valid": DP.r_ratio_valid(p.m_Zp)}


def p_invisible(p: U1PrimeParams, process: str = "B+->K+", decays: dict | None = None) -> float:
    """P_inv = B(Z' -> X X̄) + B(Z' -> visible) P(escape Belle II) for Z' from this process."""
    proc = get_process(process)
    d = decays or zprime_decays(p)
    f_inv = d["invisible_fraction"]
    esc = escape.escape_probability(proc.m_B, proc.m_M, p.m_Zp, d["ctau_m"], p.detector_radius_m)
    return float(f_inv + (1.0 - f_inv) * esc)


def delta_for_invisibility(p: U1PrimeParams, target: float = 0.9,
                           process: str = "B+->K+") -> float | None:
    """Smallest cancellation delta for which P_inv >= target (None if never reached)."""
    def f(logd: float) -> float:
        return p_invisible(replace(p, delta=math.exp(logd)), process) - target
    if f(0.0) >= 0:
        return 1.0
    hi = math.log(1e12)
    if f(hi) < 0:
        return None
    return float(math.exp(brentq(f, 0.0, hi, xtol=1e-10)))


# ------------------------------------------------------------------------ predictions
@cache
def _unit_rate(process: str, m_Zp: float) -> float | None:
    """B(process) for twobody-vector with g = 1, c_L = 1 (central form factors); None if closed."""
    proc = get_process(process)
    if m_Zp >= proc.mass_limit():
        return None
    spec = twobody.vector_line(proc, F.central(proc.ff_kind), m_Zp, 1.0, 1.0, 0.0)
    return float(spec.lines[0][1])


@cache
def _unit_long(process: str, m_Zp: float) -> float | None:
    proc = get_process(process)
    if not proc.is_vector or m_Zp >= proc.mass_limit():
        return None
    spec = twobody.vector_line(proc, F.central(proc.ff_kind), m_Zp, 1.0, 1.0, 0.0)
    return float(spec.lines_long[0])


def branching_ratios(p: U1PrimeParams, processes: Sequence[str] = ALL_PROCESSES,
                     decays: dict | None = None) -> dict[str, dict]:
    """B(process Z'), F_L, B * P_inv (Belle II B modes) for each process; closed modes flagged."""
    g_ij = flavour_couplings(p.m_T, p.g_qprime)
    d = decays or zprime_decays(p)
    out: dict[str, dict] = {}
    for name in processes:
        proc = get_process(name)
        unit = _unit_rate(name, p.m_Zp)
        g = scenario_coupling(name, g_ij)
        row: dict = {"transition": proc.transition, "twobody_vector_g": g, "c_L": 1.0,
                     "c_R": 0.0}
        if unit is None:
            row.update({"open": False, "branching_ratio": 0.0,
                        "note": f"closed: M_Z' = {p.m_Zp:g} GeV >= m_{proc.parent} - "
                                f"m_{proc.meson} = {proc.mass_limit():.4f} GeV"})
        else:
            br = g * g * unit
            row.update({"open": True, "branching_ratio": br})
            long = _unit_long(name, p.m_Zp)  # set for an open vector mode
            if long is not None:
                row["FL"] = long / unit
            if name in BELLE2_PROCESSES:
                pinv = p_invisible(p, name, d)
                row.update({"P_inv": pinv, "branching_ratio_times_P_inv": br * pinv})
        out[name] = row
    return out


def required_coupling(br_hat: float, m_T: ArrayLike, m_Zp: float = DEFAULT_MZP,
                      process: str = "B+->K+", p_inv: float = 1.0) -> np.ndarray:
    """g̃ q' that gives B(process) * P_inv = br_hat (B ∝ (g̃ q' m_T)^2 by the talk's g_ij).

    Args:
        br_hat: target B * P_inv (e.g. a scan's best fit).
        m_T: heavy mass(es) in GeV.
        m_Zp: Z' mass (GeV).
        process: the measured mode.
        p_inv: assumed invisible fraction (1: all Z' escape).

    Returns:
        g̃ q' (same shape as m_T).
    """
    if not br_hat > 0:
        raise EmissError(f"br_hat={br_hat!r} must be > 0 for a required coupling")
    if not 0 < p_inv <= 1:
        raise EmissError(f"p_inv={p_inv!r} must be in (0, 1]")
    unit = _unit_rate(process, float(m_Zp))
    if unit is None:
        raise EmissError(f"{process} is closed for M_Z' = {m_Zp:g} GeV")
    lam = abs(lambda_t(get_process(process).transition))
    # B = unit * |g|^2, |g| = k g̃q' m_T with k = (4 G_F/√2) |lambda_t| m_t/(16 pi^2)
    k = 4 * C.G_F / math.sqrt(2.0) * lam * top_mass() / (16 * math.pi**2)
    gm = math.sqrt(br_hat / (p_inv * unit)) / k
    return gm / np.asarray(m_T, dtype=float)


# ---------------------------------------------------------------- constraints, relic
def ewpo_constraint(p: U1PrimeParams, correlation: ArrayLike | None = None) -> dict | None:
    """S, T, U, chi^2 and the 95 % CL verdict (None without Y_T^t: see ``ewpo_unavailable``)."""
    if p.Y_Tt is None:
        return None
    mix = mixing_angles(p.m_T, p.vtilde, p.Y_Tt)
    o = oblique(mix["s_L"], p.m_T)
    stu = np.array([float(o["S"]), float(o["T"]), float(o["U"])])
    d = float(ewpo.delta_chi2_linear(mix["s_L"] ** 2, oblique_per_sL2(p.m_T), correlation))
    return {"computed": True, "S": stu[0], "T": stu[1], "U": stu[2],
            "chi2": float(ewpo.chi2(stu, correlation)),
            "delta_chi2": d, "allowed_95": d < ewpo.DCHI2_95_1D, "fit": ewpo.SOURCE,
            "correlations_used": correlation is not None}


def sL2_max_95(m_T: float, correlation: ArrayLike | None = None) -> float:
    """Largest s_L^2 allowed by EWPO at 95 % CL at m_T (Delta chi^2 = 3.84 on the family x v).

    Args:
        m_T: heavy mass (GeV).
        correlation: optional S, T, U correlation matrix.

    Returns:
        s_L^2 where ``ewpo.delta_chi2_linear`` reaches ``ewpo.DCHI2_95_1D`` (module doc).
    """
    v = oblique_per_sL2(m_T)

    def f(x: float) -> float:
        return float(ewpo.delta_chi2_linear(x, v, correlation)) - ewpo.DCHI2_95_1D

    hi = 1e-6
    while f(hi) < 0:  # Delta chi^2 grows like x^2: a bracket is found in a few doublings
        hi *= 4.0
    return float(brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-12))


def Y_Tt_for_sL(m_T: float, vtilde: float, s_L: float) -> float | None:
    """Y_T^t giving the left mixing s_L at (m_T, ṽ); None if s_L is out of reach.

    Args:
        m_T: heavy mass (GeV).
        vtilde: ṽ (GeV).
        s_L: target sin theta_L.

    Returns:
        Y_T^t (root of s_L(Y_T^t) on [0, sqrt 2 (m_T - m_t)/ṽ]), or None above its range.
    """
    y_max = math.sqrt(2.0) * (m_T - top_mass()) / vtilde

    def f(y: float) -> float:
        return mixing_angles(m_T, vtilde, y)["s_L"] - s_L

    if f(y_max) < 0:
        return None
    return float(brentq(f, 0.0, y_max, xtol=1e-300, rtol=1e-12))


def relic_fraction(m_X, g_qX):
    """Omega_X/Omega_DM ≈ (m_X/10 GeV)^2 (0.07/g̃ q'_X)^4 (talk; valid for m_X > M_Z')."""
    return (np.asarray(m_X, dtype=float) / RELIC_M_REF) ** 2 * (
        RELIC_G_REF / np.asarray(g_qX, dtype=float)) ** 4


def relic_coupling(m_X):
    """g̃ q'_X giving the full relic abundance, 0.07 (m_X/10 GeV)^(1/2)."""
    return RELIC_G_REF * np.sqrt(np.asarray(m_X, dtype=float) / RELIC_M_REF)


def cmb_allowed(m_X: float, g_qX: float) -> bool:
    """The talk's CMB requirement m_X >= 20 GeV and g̃ q'_X >= 0.08."""
    return m_X >= CMB_M_MIN and g_qX >= CMB_G_MIN


def dark_matter(p: U1PrimeParams) -> dict:
    """Relic fraction and CMB verdict; without a dark fermion, why not (``computed`` false)."""
    if p.g_qX <= 0 or p.m_X is None:
        return {"computed": False,
                "reason": "minimal model: no dark fermion X (g̃q'_X = 0), so no relic "
                          "abundance or CMB constraint; give --gX (g̃q'_X > 0) and --mX (GeV, "
                          "> M_Z' for the talk's relic formula) to compute them",
                "needs": ["g_qX", "m_X"]}
    valid = p.m_X > p.m_Zp
    out: dict[str, Any] = {"computed": True, "relic_coupling": float(relic_coupling(p.m_X)),
           "formula_valid": valid, "cmb_allowed": cmb_allowed(p.m_X, p.g_qX)}
    if valid:
        out["relic_fraction"] = float(relic_fraction(p.m_X, p.g_qX))
    else:
        out["not_computed"] = {
            "relic_fraction": f"m_X = {p.m_X:g} GeV <= M_Z' = {p.m_Zp:g} GeV: the talk's relic "
                              "formula needs m_X > M_Z' (t-channel X X̄ -> Z' Z'); for "
                              "m_X < M_Z'/2 see arXiv:2512.16999"}
    return out


def mixing_unavailable(p: U1PrimeParams) -> dict:
    """Why the mixing angles are not computed without Y_T^t, and what bounds them."""
    y_max = math.sqrt(2.0) * (p.m_T - top_mass()) / p.vtilde
    return {"computed": False,
            "reason": "the T'-t mixing angles need the Yukawa Y_T^t (--YTt): m_T, g̃q' and "
                      "M_Z' fix ṽ = M_Z'/g̃q' but not Y_T^t (b = ṽ Y_T^t/√2 in the mass "
                      "matrix); for small mixing theta_R ≈ b m_T/(m_T² − m_t²), "
                      "theta_L ≈ b m_t/(m_T² − m_t²)",
            "needs": ["Y_Tt"],
            "Y_Tt_max": y_max,
            "Y_Tt_max_reason": "a real mixing solution needs ṽ Y_T^t/√2 <= m_T - m_t"}


def ewpo_unavailable(p: U1PrimeParams, correlation: ArrayLike | None = None) -> dict:
    """Why S, T, U are not computed without Y_T^t, and the EWPO bound on the mixing instead."""
    x = sL2_max_95(p.m_T, correlation)
    y = Y_Tt_for_sL(p.m_T, p.vtilde, math.sqrt(x))
    out = {"computed": False,
           "reason": "S, T, U are proportional to s_L² (the T'-t mixing), which needs Y_T^t "
                     "(--YTt); the bound EWPO sets on the mixing at this m_T is given instead",
           "needs": ["Y_Tt"], "s_L2_max_95": x, "fit": ewpo.SOURCE,
           "correlations_used": correlation is not None}
    if y is not None:
        out["Y_Tt_max_95"] = y
    else:
        out["Y_Tt_max_95_note"] = ("EWPO allows every Y_T^t with a real mixing solution at "
                                   "this ṽ")
    return out


# ---------------------------------------------------------------------------- summary
def derive(**kw: float | None) -> dict:
    """Every derived quantity of the model at one parameter point (JSON-ready).

    Args:
        **kw: PARAMETERS (m_T and g_qprime required).

    Returns:
        dict with inputs, masses, mixing, couplings, kinetic mixing, Z' decays, modes,
        EWPO, Z-Z' mixing, dark matter, references. ``mixing``, ``ewpo`` and ``dark_matter``
        carry ``computed``; when false, ``reason`` and ``needs`` say why and what to give
        (``ewpo`` then holds the 95 % CL bound on s_L^2); ``inputs_not_given`` explains the
        inputs left at None.
    """
    p = make_params(**kw)
    try:
        return _derive(p)
    except (OverflowError, ZeroDivisionError) as exc:
        raise EmissError(f"u1prime at {_point(p)} gives no finite result ({exc}); valid: the "
                         "ranges of emiss.models.u1prime.PARAMETERS with a finite kinetic "
                         "mixing eps = eps_loop/delta (e.g. delta >= 1e-3)") from None


def _point(p: U1PrimeParams) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in asdict(p).items() if v is not None)


def _derive(p: U1PrimeParams) -> dict:
    """``derive`` for validated parameters."""
    g_ij = flavour_couplings(p.m_T, p.g_qprime)
    km = kinetic_mixing(p.m_T, p.g_qprime, p.Lambda_UV, p.delta)
    dec = zprime_decays(p)
    out: dict = {
        "model": NAME,
        "inputs": asdict(p),
        "m_t": top_mass(),
        "M_Zp": p.m_Zp,
        "vtilde": p.vtilde,
        "flavour_couplings": {t: {"re": g.real, "im": g.imag, "abs": abs(g)}
                              for t, g in g_ij.items()},
        "scenario": {"name": "twobody-vector", "mass": p.m_Zp, "c_L": 1.0, "c_R": 0.0,
                     "g_b->s": abs(g_ij["b->s"]), "g_b->d": abs(g_ij["b->d"]),
                     "g_s->d": abs(g_ij["s->d"]),
                     "map": "g = |g_ij|, c_L = 1, c_R = 0 (L = g V s̄ γ^μ P_L b + h.c.)"},
        "kinetic_mixing": {**km, "log_Lambda2_over_mT2": math.log(p.Lambda_UV**2 / p.m_T**2),
                           "zzprime_allowed": abs(km["eps_B"]) < EPS_B_MAX,
                           "eps_B_max": EPS_B_MAX},
        "zprime": dec,
        "delta_for_P_inv_0.9": delta_for_invisibility(p, 0.9),
        "modes": branching_ratios(p, decays=dec),
        "dark_matter": dark_matter(p),
        "reference": REFERENCE,
        "detector": {"radius_m": p.detector_radius_m, "beta_gamma_Y4S": escape.BETA_GAMMA_Y4S,
                     "geometry": "sphere (emiss.models.escape)"},
    }
    if p.Y_Tt is not None:
        out["mixing"] = {"computed": True, **mixing_angles(p.m_T, p.vtilde, p.Y_Tt)}
        out["ewpo"] = ewpo_constraint(p)
    else:
        out["mixing"] = mixing_unavailable(p)
        out["ewpo"] = ewpo_unavailable(p)
    if out["delta_for_P_inv_0.9"] is None:
        out["delta_for_P_inv_0.9"] = ("not reached: P_inv < 0.9 for every kinetic-mixing "
                                      "cancellation delta up to 1e12 (the visible Z' decays "
                                      "inside Belle II); an invisible channel (--gX, --mX < "
                                      "M_Z'/2) raises P_inv")
    unset = {"Y_Tt": "not given: the mixing angles and S, T, U are not computed (see 'mixing', "
                     "'ewpo')",
             "m_X": "not given: no dark fermion (see 'dark_matter')"}
    out["inputs_not_given"] = {k: v for k, v in unset.items() if getattr(p, k) is None}
    return out
