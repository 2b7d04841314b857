"""The U(1)' model plane g̃ q' versus m_T at fixed M_Z': predicted B * P_inv and constraints.

Plain numbers in, arrays out (no files, no plotting): the caller supplies what a scan measured
at this M_Z' (best fit B̂ of B * P_inv, its interval, the upper limit) and the model options.

On a log grid in (m_T, g̃ q') the module computes
* B(B+ -> K+ Z') = B_unit (k g̃ q' m_T)^2 (talk's g_ij, emiss.models.u1prime.required_coupling),
* P_inv from the Z' lifetime (kinetic mixing with the chosen delta, Lambda) and the X X̄ width,
* the EWPO Delta chi^2 (per Y_T^t value) and where no T'-t mixing solution exists
  (ṽ Y_T^t/√2 > m_T - m_t with ṽ = M_Z'/g̃ q'),
* and the closed-form "all Z' escape" (P_inv = 1) lines g̃ q' = C/m_T.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from emiss.errors import EmissError
from emiss.models import escape, ewpo
from emiss.models import u1prime as U
from emiss.physics import darkphoton as DP
from emiss.physics.processes import get_process

log = logging.getLogger(__name__)


@dataclass
class PlaneInputs:
    """What the plane needs (scan numbers are B * P_inv of ``process``).

    Attributes:
        m_Zp: Z' mass (GeV).
        br_hat: best-fit B * P_inv (None: no band).
        br_interval: (low, high) of B * P_inv (None: no band).
        br_limit: upper limit on B * P_inv (None: no limit line).
        process: measured mode.
        Y_Tt: Y_T^t values for EWPO curves.
        g_qX, m_X, delta, Lambda_UV, radius_m: model options (see u1prime.PARAMETERS).
        charge_ratio: q'_X/q' for the relic line (None: no line).
        m_T_range, g_range: plot ranges (GeV; dimensionless).
        n: grid points per axis.
    """

    m_Zp: float
    br_hat: float | None = None
    br_interval: tuple[float, float] | None = None
    br_limit: float | None = None
    process: str = "B+->K+"
    Y_Tt: tuple[float, ...] = (1e-3,)
    g_qX: float = 0.0
    m_X: float | None = None
    delta: float = 1.0
    Lambda_UV: float = 1e16
    radius_m: float = escape.BELLE2_RADIUS_M
    charge_ratio: float | None = None
    m_T_range: tuple[float, float] = (1e3, 1e5)
    g_range: tuple[float, float] = (1e-8, 1e-4)
    n: int = 161
    meta: dict = field(default_factory=dict)


def _check(inp: PlaneInputs) -> None:
    lo, hi = inp.m_T_range
    if not (U.top_mass() < lo < hi):
        raise EmissError(f"m_T range {inp.m_T_range} must be increasing and above m_t")
    if not (0 < inp.g_range[0] < inp.g_range[1]):
        raise EmissError(f"g_qprime range {inp.g_range} must be positive and increasing")
    if inp.br_interval is not None and not (0 <= inp.br_interval[0] <= inp.br_interval[1]):
        raise EmissError(f"B interval {inp.br_interval} must satisfy 0 <= low <= high")
    if inp.g_qX > 0 and inp.m_X is None:
        raise EmissError("g_qX > 0 needs m_X")
    if inp.n < 11:
        raise EmissError(f"grid size n={inp.n} must be >= 11")


def compute(inp: PlaneInputs) -> dict:
    """Grids and lines of the model plane.

    Returns:
        dict with m_T, g (1-d axes), br (B), p_inv, br_pinv (2-d, [g, m_T]), ewpo
        {Y_Tt: {"delta_chi2", "no_solution"}}, lines {"escape_best", "escape_low",
        "escape_high", "escape_limit"} (g̃ q'(m_T) for P_inv = 1), relic (g̃ q' or None).
    """
    _check(inp)
    proc = get_process(inp.process)
    mT = np.geomspace(*inp.m_T_range, inp.n)
    g = np.geomspace(*inp.g_range, inp.n)
    G, M = np.meshgrid(g, mT, indexing="ij")
    unit = U.required_coupling(1.0, 1.0, inp.m_Zp, inp.process)  # g̃q' m_T for B = 1
    br = (G * M / float(unit)) ** 2
    # lifetime: Gamma_vis ∝ eps^2; eps = e g ln(Lambda^2/m_T^2)/(6 pi^2)/delta
    eps_ref = U.kinetic_mixing(1e4, 1.0, inp.Lambda_UV, inp.delta)["eps_A"]
    log_ref = math.log(inp.Lambda_UV**2 / 1e8)
    eps = eps_ref * G * np.log(inp.Lambda_UV**2 / M**2) / log_ref
    w_vis_1 = sum(v for k, v in DP.widths(inp.m_Zp, 1.0).items() if k != "XX")
    w_x = DP.widths(inp.m_Zp, 0.0, inp.g_qX, inp.m_X)["XX"] if inp.g_qX > 0 else 0.0
    w_vis = w_vis_1 * eps**2
    tot = w_vis + w_x
    ctau = 1.973269804e-16 / tot
    esc = escape.escape_probability(proc.m_B, proc.m_M, inp.m_Zp, ctau.ravel(),
                                    inp.radius_m).reshape(ctau.shape)
    f_inv = w_x / tot
    pinv = f_inv + (1 - f_inv) * esc
    out: dict = {"m_T": mT, "g": g, "br": br, "p_inv": pinv, "br_pinv": br * pinv,
                 "ewpo": {}, "lines": {}, "relic": None, "cmb": None}
    v_m = np.array([U.oblique_per_sL2(m) for m in mT])  # (n, 3)
    m_t = U.top_mass()
    for y in inp.Y_Tt:
        b = inp.m_Zp / G * y / math.sqrt(2.0)  # ṽ Y_T^t/√2
        no_sol = b > M - m_t
        # small-mixing s_L from the exact construction (vectorised)
        bb = np.where(no_sol, 0.0, b)  # placeholder where no solution exists (masked below)
        S = m_t**2 + M**2 - bb**2
        P = m_t * M
        disc = np.clip(S * S - 4 * P * P, 0.0, None)
        a = np.sqrt(2 * P * P / (S + np.sqrt(disc)))
        c = P / a
        th_L = 0.5 * np.arctan2(2 * a * bb, c**2 + bb**2 - a**2)
        sL2 = np.sin(th_L) ** 2
        dchi = ewpo.delta_chi2_linear(sL2, v_m[None, :, :])
        out["ewpo"][y] = {"delta_chi2": np.where(no_sol, np.inf, dchi), "no_solution": no_sol}
    for key, val in (("escape_best", inp.br_hat), ("escape_limit", inp.br_limit)):
        if val is not None and val > 0:
            out["lines"][key] = U.required_coupling(val, mT, inp.m_Zp, inp.process)
    if inp.br_interval is not None:
        lo, hi = inp.br_interval
        if lo > 0:
            out["lines"]["escape_low"] = U.required_coupling(lo, mT, inp.m_Zp, inp.process)
        if hi > 0:
            out["lines"]["escape_high"] = U.required_coupling(hi, mT, inp.m_Zp, inp.process)
    if inp.charge_ratio is not None and inp.m_X is not None and inp.m_X > inp.m_Zp:
        out["relic"] = float(U.relic_coupling(inp.m_X)) / inp.charge_ratio
        out["cmb"] = U.CMB_G_MIN / inp.charge_ratio
    return out
