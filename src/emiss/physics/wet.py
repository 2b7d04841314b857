"""b -> s nu nubar in the weak effective theory (WET): vector, scalar and tensor operators.

Basis and normalisation of EOS's ``sbnunu`` sector, the one Belle II's reinterpretation uses
(arXiv:2507.12393 sec. VI; EOS parameter documentation, eos/parameters/sm-and-eft.yaml):

    H_eff = (4 G_F/sqrt2) (alpha_e/2pi) V_tb^* V_ts sum_i C_i O_i,
    O_VL(VR) = [s̄ γ^μ P_L(R) b][ν̄ γ_μ P_L ν],
    O_SL(SR) = [s̄ P_L(R) b][ν̄^c P_L ν],        (lepton-number violating, ΔL = 2)
    O_TL     = [s̄ σ^μν P_L b][ν̄^c σ_μν P_L ν],

with three lepton-universal, flavour-diagonal neutrino channels. The rates are those of
Felkl, Li, Schmidt arXiv:2111.04327 eq. (8) (B -> K) and eq. (13) (B -> K*), written in this
normalisation as EOS does (eos/rare-b-decays/b-to-psd-nu-nu.cc, b-to-vec-nu-nu.cc):

    dΓ/dq² = 3 N(q²) [ ... ],   N = (4 G_F alpha_e / 2pi)² / 2 · |V_tb V_ts^*|² · λ^½ / (4π m_B)³,

B -> K:  [λ f_+²/24 |C_VL + C_VR|² + q² ((m_B² - m_K²)/(m_b - m_s))² f_0²/8 |C_SL + C_SR|²
          + (2/3) q² λ f_T²/(m_B + m_K)² |C_TL|²],
B -> K*: [q² λ V²/(12 (m_B+m_V)²) |C_VL + C_VR|²
          + (8 m_B² m_V² A_12²/3 + q² (m_B+m_V)² A_1²/12) |C_VL - C_VR|²
          + q² λ A_0²/(8 (m_b + m_s)²) |C_SR - C_SL|²
          + (32 q² m_B² m_V² T_23²/(3 (m_B+m_V)²) + (4 λ T_1² + 4 (m_B² - m_V²)² T_2²)/3) |C_TL|²].

The vector terms equal the SM/heavy-NP rates of ``emiss.physics.sm`` (arXiv:1409.4557) with
C_L <-> C_VL and C_R <-> C_VR once the different alpha_e are accounted for: the sbnunu sector
uses alpha_e(m_b) = 1/133 (EOS ``QED::alpha_e(m_b)``), emiss's SM alpha(M_Z) = 1/127.952, so the
SM point is C_VL = |C_L^SM| alpha(M_Z)/alpha_e(m_b) = 6.60 (EOS's own SM value: 6.61,
sm-and-eft.yaml). K* helicities: the A_12, A_0 (timelike, K* helicity 0) and T_23 terms are
longitudinal; V, A_1, T_1, T_2 are transverse (2111.04327 sec. 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from numbers import Number
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from emiss.errors import EmissError
from emiss.physics import constants as C
from emiss.physics import formfactors as F
from emiss.physics.processes import get_process
from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: alpha_e of the sbnunu Hamiltonian: alpha_e(m_b) = 1/133 (EOS parameter QED::alpha_e(m_b)).
ALPHA_E_SBNUNU: float = 1.0 / 133.0
#: SM vector coefficient in this normalisation: |C_L^SM| alpha(M_Z) / alpha_e(m_b), so that the
#: WET rate at (C_VL_SM, 0, 0, 0, 0) equals emiss's SM rate (arXiv:1409.4557 eq. (6) with
#: X_t = 1.468, sin^2 theta_W = 0.23124; EOS quotes 6.61 for its own inputs).
C_VL_SM: float = abs(C.C_L_SM) * C.ALPHA_EM / ALPHA_E_SBNUNU
#: MS-bar quark masses at the sbnunu scale mu = 4.2 GeV (EOS ``sbnunu::mu``): m_b(m_b) = 4.183
#: GeV (PDG 2024) (running from 4.18 to 4.2 GeV is below 0.1 %), m_s(2 GeV) = 93.5 MeV (PDG
#: 2024) run at one loop with n_f = 4, m(mu) ∝ alpha_s(mu)^(12/25), alpha_s(2 GeV) = 0.300,
#: alpha_s(4.2 GeV) = 0.225 (PDG 2024 QCD review, fig. 9.5): factor 0.871.
M_B_MSBAR: float = 4.183
M_S_MSBAR: float = 0.0935 * (0.225 / 0.300) ** (12.0 / 25.0)
#: Wilson-coefficient names of the sbnunu basis.
COEFFICIENTS: tuple[str, ...] = ("C_VL", "C_VR", "C_SL", "C_SR", "C_TL")
#: Number of neutrino flavours (flavour-diagonal, lepton-universal).
N_NU = 3


def _coeff(name: str, value: object) -> complex:
    if isinstance(value, bool) or not isinstance(value, Number | np.number):
        raise EmissError(f"{name} must be a real or complex number, got {value!r}")
    v = complex(cast("complex", value))  # a numbers.Number or numpy scalar
    if not (np.isfinite(v.real) and np.isfinite(v.imag)):
        raise EmissError(f"{name} must be finite, got {value!r}")
    return v


def resolve_coefficients(coefficients: Mapping[str, complex] | None) -> dict[str, complex]:
    """All five coefficients (unset ones 0), validated.

    Args:
        coefficients: name -> value for a subset of COEFFICIENTS.

    Returns:
        name -> complex value for every name of COEFFICIENTS.

    Raises:
        EmissError: unknown names, non-numeric or non-finite values.
    """
    out = dict.fromkeys(COEFFICIENTS, 0j)
    for k, v in (coefficients or {}).items():
        if k not in out:
            raise EmissError(f"unknown WET coefficient {k!r}; valid: {', '.join(COEFFICIENTS)}")
        out[k] = _coeff(k, v)
    return out


def combinations(process: str, coefficients: Mapping[str, complex]) -> dict[str, float]:
    """The squared coefficient combinations multiplying each term of ``unit_terms``.

    Args:
        process: process name.
        coefficients: name -> value (see ``resolve_coefficients``).

    Returns:
        term name -> |combination|^2: B -> K: "V", "S", "T"; B -> K*: "V", "A", "S", "T".
    """
    c = resolve_coefficients(coefficients)
    vector = get_process(process).is_vector
    out = {"V": abs(c["C_VL"] + c["C_VR"]) ** 2, "T": abs(c["C_TL"]) ** 2}
    if vector:
        out["A"] = abs(c["C_VL"] - c["C_VR"]) ** 2
        out["S"] = abs(c["C_SR"] - c["C_SL"]) ** 2
    else:
        out["S"] = abs(c["C_SL"] + c["C_SR"]) ** 2
    return out


def unit_terms(process: str, q2: ArrayLike,
               ff: F.FormFactors | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """dB/dq² of each term for a unit coefficient combination: {term: (total, longitudinal)}.

    Terms follow ``combinations``; B -> K terms have no longitudinal part (zeros).

    Args:
        process: process name.
        q2: q² values in GeV² (array-like).
        ff: form factors (default central; B -> K needs fplus, f0, fT; B -> K* needs V, A0, A1,
            A12, T1, T2, T23).

    Returns:
        term -> (dB/dq², dB_L/dq²) arrays in GeV^-2, three neutrino flavours included.
    """
    proc = get_process(process)
    ff = F.central(proc.ff_kind) if ff is None else ff
    q2 = np.asarray(q2, dtype=float)
    lam = proc.lam(q2)
    mB, mM = proc.m_B, proc.m_M
    norm = (N_NU * (4.0 * C.G_F * ALPHA_E_SBNUNU / (2.0 * np.pi)) ** 2 / 2.0 * C.VTB_VTS**2
            * np.sqrt(lam) / (4.0 * np.pi * mB) ** 3 * proc.tau_B)
    zero = np.zeros_like(q2)
    if not proc.is_vector:
        bk = cast("F.BKFormFactors", ff)  # f_+, f_0 and f_T: B -> K
        fp, f0, fT = (np.asarray(g(q2), dtype=float) for g in (bk.fplus, bk.f0, bk.fT))
        s_had = (mB**2 - mM**2) / (M_B_MSBAR - M_S_MSBAR)
        return {
            "V": (norm * lam * fp**2 / 24.0, zero),
            "S": (norm * q2 * s_had**2 * f0**2 / 8.0, zero),
            "T": (norm * 2.0 / 3.0 * q2 * lam * fT**2 / (mB + mM) ** 2, zero),
        }
    V, A0, A1, A12, T1, T2, T23 = (np.asarray(getattr(ff, n)(q2), dtype=float)
                                   for n in ("V", "A0", "A1", "A12", "T1", "T2", "T23"))
    a_long = norm * 8.0 * mB**2 * mM**2 * A12**2 / 3.0
    a_tr = norm * q2 * (mB + mM) ** 2 * A1**2 / 12.0
    s_long = norm * q2 * lam * A0**2 / (8.0 * (M_B_MSBAR + M_S_MSBAR) ** 2)
    t_long = norm * 32.0 * q2 * mB**2 * mM**2 * T23**2 / (3.0 * (mB + mM) ** 2)
    t_tr = norm * (4.0 * lam * T1**2 + 4.0 * (mB**2 - mM**2) ** 2 * T2**2) / 3.0
    return {
        "V": (norm * q2 * lam * V**2 / (12.0 * (mB + mM) ** 2), zero),
        "A": (a_long + a_tr, a_long),
        "S": (s_long, s_long),
        "T": (t_long + t_tr, t_long),
    }


def wet_spectrum(process: str, coefficients: Mapping[str, complex] | None = None,
                 ff: F.FormFactors | None = None) -> Spectrum:
    """dB/dq² for WET coefficients in EOS's sbnunu normalisation (module docstring).

    Args:
        process: process name, e.g. "B+->K+".
        coefficients: name -> value (unset ones are 0: pass C_VL=C_VL_SM for the SM point).
        ff: form factors (default central).

    Returns:
        Spectrum on [0, q2_max] (K* processes carry continuum_long).
    """
    proc = get_process(process)
    weights = combinations(process, coefficients or {})
    if all(w == 0.0 for w in weights.values()):
        raise EmissError("all WET coefficients are zero: the rate vanishes (SM: C_VL="
                         f"{C_VL_SM:.4g})")
    ff = F.central(proc.ff_kind) if ff is None else ff

    def part(index: int) -> Callable[[np.ndarray], np.ndarray]:
        def fn(q2: np.ndarray) -> np.ndarray:
            terms = unit_terms(process, q2, ff)
            return np.asarray(sum(w * terms[k][index] for k, w in weights.items()))
        return fn

    c = resolve_coefficients(coefficients)
    label = ", ".join(f"{k}={v.real:g}" + (f"{v.imag:+g}j" if v.imag else "")
                      for k, v in c.items() if v != 0)
    return Spectrum(process=process, q2_min=0.0, q2_max=proc.q2_max, continuum=part(0),
                    continuum_long=part(1) if proc.is_vector else None, label=f"WET {label}",
                    meta={"wet": {k: [v.real, v.imag] for k, v in c.items()}})
