"""SM and heavy-new-physics B -> K(*) nu nubar spectra (short distance, three neutrino flavours).

Effective Hamiltonian (Buras, Girrbach-Noe, Niehoff, Straub, arXiv:1409.4557, eqs. (1)-(3)):
    H_eff = -(4 G_F/sqrt2) V_tb V_ts^* (alpha/4pi) [C_L O_L + C_R O_R] + h.c.,
    O_L(R) = (s gamma_mu P_L(R) b)(nu gamma^mu (1 - gamma5) nu),  C_L^SM = -X_t/sin^2(theta_W).

Rates per neutrino flavour with K^2 = G_F^2 alpha^2 |V_tb V_ts^*|^2 / (2 pi^2) (the squared
prefactor of H_eff) and hadronic helicity amplitudes h_lambda (arXiv:1409.4557 eqs. (10)-(14),
0902.0160 eq. (3.3); shared/reference/physics.md):
    dGamma/dq2 = K^2 lambda^(1/2) q2 sum_lambda |h_lambda|^2 / (384 pi^3 m_B^3),
    B -> K : h_0 = (C_L + C_R) lambda^(1/2) f_+ / sqrt(q2),
             i.e. dGamma/dq2 = G_F^2 alpha^2 |V|^2 lambda^(3/2) f_+^2 |C_L + C_R|^2
                               / (768 pi^5 m_B^3),
    B -> K*: h_0 = (C_L - C_R) 8 m_B m_K* A_12 / sqrt(q2),
             h_+- = (C_L - C_R)(m_B + m_K*) A_1 -+ (C_L + C_R) lambda^(1/2) V / (m_B + m_K*).
The normalisation is checked in tests/test_sm.py against a direct three-body phase-space integration
of the squared matrix element built from the Lorentz-covariant form-factor decompositions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from numbers import Number

import numpy as np

from emiss import validate as V
from emiss.errors import EmissError
from emiss.physics import constants as C
from emiss.physics import formfactors as F
from emiss.physics.processes import Process, get_process
from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: number of light neutrino flavours summed in the SM (lepton-universal) rate
N_NU = 3


def _check_coupling(name: str, value) -> complex:
    if isinstance(value, bool) or not isinstance(value, Number | np.number):
        raise EmissError(f"{name} must be a real or complex number, got {value!r}")
    v = complex(value)
    if not np.isfinite(v.real) or not np.isfinite(v.imag):
        raise EmissError(f"{name} must be finite, got {value!r}")
    return v


def _prefactor() -> float:
    """K^2 / (384 pi^3) = G_F^2 alpha^2 |V_tb V_ts^*|^2 / (768 pi^5) (GeV^-4)."""
    return C.normalisation_factor() / (2.0 * np.pi**2) / (384.0 * np.pi**3)


def _check_ff(proc: Process, ff):
    if ff is None:
        return F.central(proc.ff_kind)
    need = ("fplus",) if not proc.is_vector else ("V", "A1", "A12")
    missing = [m for m in need if not hasattr(ff, m)]
    if missing:
        raise EmissError(
            f"form factors for {proc.name} need methods {', '.join(need)}; "
            f"got {type(ff).__name__} (use emiss.physics.formfactors.central({proc.ff_kind!r}))"
        )
    return ff


def helicity_terms(process: str, q2, ff=None) -> dict[str, np.ndarray]:
    """Coupling-independent pieces of q2 * sum |h|^2 times lambda^(1/2), per neutrino flavour.

    Returns, for B -> K: {"V0": lambda^(1/2) * lambda f_+^2} (multiplies |C_L + C_R|^2);
    for B -> K*: {"L": lambda^(1/2) (8 m_B m_V A12)^2 (x |C_L - C_R|^2),
    "A1": lambda^(1/2) q2 2 (m_B + m_V)^2 A1^2 (x |C_L - C_R|^2),
    "V": lambda^(1/2) q2 2 lambda V^2/(m_B + m_V)^2 (x |C_L + C_R|^2)}.

    Args:
        process: one of PROCESSES.
        q2: q^2 values (GeV^2).
        ff: form-factor object (default central).

    Returns:
        Dict of arrays (GeV^6 or GeV^8 units; see module docstring).
    """
    proc = get_process(process)
    ff = _check_ff(proc, ff)
    q2 = np.asarray(q2, dtype=float)
    lam = proc.lam(q2)
    sl = np.sqrt(lam)
    if not proc.is_vector:
        return {"V0": sl * lam * np.asarray(ff.fplus(q2), dtype=float) ** 2}
    mB, mV = proc.m_B, proc.m_M
    return {
        "L": sl * (8.0 * mB * mV * np.asarray(ff.A12(q2), dtype=float)) ** 2,
        "A1": sl * q2 * 2.0 * (mB + mV) ** 2 * np.asarray(ff.A1(q2), dtype=float) ** 2,
        "V": sl * q2 * 2.0 * lam * np.asarray(ff.V(q2), dtype=float) ** 2 / (mB + mV) ** 2,
    }


def _dB(process: str, couplings: Sequence[tuple[complex, complex]], ff, longitudinal: bool):
    """dB/dq2 callable for an incoherent sum over neutrino channels with (C_L, C_R) each."""
    proc = get_process(process)
    ff = _check_ff(proc, ff)
    s_plus = float(sum(abs(cl + cr) ** 2 for cl, cr in couplings))
    s_minus = float(sum(abs(cl - cr) ** 2 for cl, cr in couplings))
    norm = _prefactor() * proc.tau_B / proc.m_B**3

    def dbdq2(q2):
        t = helicity_terms(process, q2, ff)
        if not proc.is_vector:
            return norm * s_plus * t["V0"]
        if longitudinal:
            return norm * s_minus * t["L"]
        return norm * (s_minus * (t["L"] + t["A1"]) + s_plus * t["V"])

    return dbdq2


def heavy_np_spectrum_channels(
    process: str, couplings: Sequence[tuple[complex, complex]], ff=None, label: str = ""
) -> Spectrum:
    """Spectrum for flavour-specific couplings summed incoherently (arXiv:1409.4557 sec. 2).

    Args:
        process: one of PROCESSES.
        couplings: one (C_L, C_R) pair per neutrino channel (i, j); the SM is three diagonal
            channels with (C_L^SM, 0).
        ff: form-factor object (default: central values).
        label: description stored in the Spectrum.

    Returns:
        Spectrum on [0, q2_max]; K* processes carry continuum_long.
    """
    proc = get_process(process)
    if len(couplings) == 0:
        raise EmissError("couplings must list at least one (C_L, C_R) neutrino channel")
    cpl = [(_check_coupling("C_L", a), _check_coupling("C_R", b)) for a, b in couplings]
    ff = _check_ff(proc, ff)
    return Spectrum(
        process=process,
        q2_min=0.0,
        q2_max=proc.q2_max,
        continuum=_dB(process, cpl, ff, longitudinal=False),
        continuum_long=_dB(process, cpl, ff, longitudinal=True) if proc.is_vector else None,
        label=label or "heavy NP",
        meta={"couplings": [[str(a), str(b)] for a, b in cpl]},
    )


def heavy_np_spectrum(process: str, C_L: complex, C_R: complex, ff=None) -> Spectrum:
    """Heavy-NP (lepton-universal) spectrum with Wilson coefficients C_L, C_R (arXiv:1409.4557).

    C_L includes the SM: C_L = C_L^SM gives the SM; complex values allowed.

    Args:
        process: one of PROCESSES.
        C_L, C_R: total left- and right-handed Wilson coefficients (same for all 3 flavours).
        ff: form-factor object (default: central values).

    Returns:
        Spectrum (dB/dq2 in GeV^-2, three neutrino flavours).
    """
    cl = _check_coupling("C_L", C_L)
    cr = _check_coupling("C_R", C_R)
    s = heavy_np_spectrum_channels(process, [(cl, cr)] * N_NU, ff, label=f"C_L={cl}, C_R={cr}")
    s.meta.update({"C_L": [cl.real, cl.imag], "C_R": [cr.real, cr.imag], "n_nu": N_NU})
    return s


def sm_spectrum(process: str, ff=None) -> Spectrum:
    """SM short-distance spectrum, three neutrino flavours, C_L = -X_t/sin^2(theta_W), C_R = 0.

    The tree-level B+ -> tau+ (-> K+ nubar) nu piece is NOT included (see tau_background_br()).

    Args:
        process: one of PROCESSES ("B0->K0" is K0, not K_S).
        ff: form-factor object (default: central values).

    Returns:
        Spectrum.
    """
    s = heavy_np_spectrum(process, C.C_L_SM, 0.0, ff)
    return Spectrum(
        process=s.process,
        q2_min=s.q2_min,
        q2_max=s.q2_max,
        continuum=s.continuum,
        continuum_long=s.continuum_long,
        label="SM",
        meta=s.meta,
    )


# ------------------------------------------------------------------ integrals and predictions
_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)


def _integrate_terms(process: str, ff) -> dict[str, float]:
    """Integrals over [0, q2_max] of helicity_terms (substitution q2 = q2_max (1 - t^2)).

    The substitution removes the sqrt(q2_max - q2) endpoint behaviour of the K* integrand, so
    48-point Gauss-Legendre is accurate to far below 1e-6.
    """
    proc = get_process(process)
    t = 0.5 * (_GL_X + 1.0)
    w = 0.5 * _GL_W
    q2 = proc.q2_max * (1.0 - t**2)
    jac = 2.0 * proc.q2_max * t
    terms = helicity_terms(process, q2, ff)
    return {k: float(np.sum(v * jac * w)) for k, v in terms.items()}


def _br_and_fl(process: str, C_L: complex, C_R: complex, ff) -> tuple[float, float | None]:
    proc = get_process(process)
    I = _integrate_terms(process, ff)
    norm = N_NU * _prefactor() * proc.tau_B / proc.m_B**3
    sp, sm = abs(C_L + C_R) ** 2, abs(C_L - C_R) ** 2
    if not proc.is_vector:
        return norm * sp * I["V0"], None
    tot = sm * (I["L"] + I["A1"]) + sp * I["V"]
    return norm * tot, sm * I["L"] / tot


def sm_prediction(
    process: str, n_samples: int = 500, seed: int = 0, ff_kind: str | None = None
) -> dict:
    """SM branching ratio with uncertainty (and F_L for K*).

    Uncertainty = form factors (std over n_samples correlated draws) (+) parametric, in
    quadrature; parametric = 2 x relative errors of |V_tb V_ts^*| (2.2 %, PDG) and X_t (1.2 %,
    arXiv:1009.0947) in quadrature.

    Args:
        process: one of PROCESSES.
        n_samples: number of form-factor draws.
        seed: random seed.
        ff_kind: form-factor set, e.g. "B->K*@BSZ2015" (default: the process' default set).

    Returns:
        dict(process, branching_ratio, uncertainty, uncertainty_ff, uncertainty_parametric, FL,
        FL_uncertainty, n_samples, seed, ff_kind) (FL entries None for B -> K).
    """
    n_samples = V.RATE_SAMPLES.check(n_samples, "n_samples")
    seed = V.SEED.check(seed, "seed")
    proc = get_process(process)
    kind = F.resolve_kind(ff_kind or proc.ff_kind)
    if not kind.startswith(proc.ff_kind + "@"):
        raise EmissError(f"form-factor kind {ff_kind!r} does not fit {process} ({proc.ff_kind})")
    br0, fl0 = _br_and_fl(process, C.C_L_SM, 0.0, F.central(kind))
    brs, fls = F.RunningSpread(), F.RunningSpread()  # streamed: memory holds one chunk
    for chunk in F.sample_chunks(kind, n_samples, seed, F.SAMPLE_CHUNK):
        pairs = [_br_and_fl(process, C.C_L_SM, 0.0, ff) for ff in chunk]
        brs.add([b for b, _ in pairs])
        fls.add([np.nan if f is None else f for _, f in pairs])
    u_ff = brs.std()
    u_par = br0 * 2.0 * float(np.hypot(C.VTB_VTS_REL_UNC, C.X_T_REL_UNC))
    out = {
        "process": process,
        "branching_ratio": float(br0),
        "uncertainty": float(np.hypot(u_ff, u_par)),
        "uncertainty_ff": u_ff,
        "uncertainty_parametric": float(u_par),
        "FL": None if fl0 is None else float(fl0),
        "FL_uncertainty": None if fl0 is None else fls.std(),
        "n_samples": int(n_samples),
        "seed": int(seed),
        "ff_kind": kind,
    }
    log.debug("SM prediction %s", out)
    return out


def epsilon_eta(C_L: complex, C_R: complex) -> tuple[float, float]:
    """(epsilon, eta) of arXiv:1409.4557 eq. (19).

    epsilon = sqrt(|C_L|^2 + |C_R|^2)/|C_L^SM|, eta = -Re(C_L C_R^*)/(|C_L|^2 + |C_R|^2).

    Args:
        C_L, C_R: Wilson coefficients (complex allowed).

    Returns:
        (epsilon, eta); eta is 0 when both vanish.
    """
    cl = _check_coupling("C_L", C_L)
    cr = _check_coupling("C_R", C_R)
    s = abs(cl) ** 2 + abs(cr) ** 2
    eps = float(np.sqrt(s) / abs(C.C_L_SM))
    eta = 0.0 if s == 0 else float(-(cl * cr.conjugate()).real / s)
    return eps, eta


def kappa_eta(process: str = "B0->K*0", ff=None) -> float:
    """kappa_eta of arXiv:1409.4557 eq. (21): B(K* nu nu)/B_SM = (1 + kappa_eta eta) eps^2.

    From the helicity amplitudes: kappa_eta = 2 (I_L + I_A1 - I_V)/(I_L + I_A1 + I_V), with I_x the
    q2 integrals of the terms of helicity_terms().

    Args:
        process: a K* process.
        ff: form-factor object (default central).

    Returns:
        kappa_eta.
    """
    proc = get_process(process)
    if not proc.is_vector:
        raise EmissError(f"kappa_eta is defined for K* processes, got {process!r}")
    I = _integrate_terms(process, _check_ff(proc, ff))
    return 2.0 * (I["L"] + I["A1"] - I["V"]) / (I["L"] + I["A1"] + I["V"])


# ------------------------------------------------------------------ tau background
#: B meson decay constant f_B = 0.1900 GeV (FLAG 2021, arXiv:2111.09849, N_f = 2+1+1).
F_B_GEV = 0.1900
#: |V_ub| = 3.82e-3 (PDG 2024 review "CKM quark-mixing matrix", average of incl. and excl.).
V_UB = 3.82e-3
#: B(tau- -> K- nu) = 6.96e-3 (PDG 2024).
BR_TAU_TO_K_NU = 6.96e-3


def tau_background_br() -> float:
    """B(B+ -> tau+ nu) x B(tau+ -> K+ nubar): the tree-level K+ nu nubar final state via an
    on-shell tau (Kamenik & Smith arXiv:0908.1174, who find ~0.61e-6).

    This is a background to, and not part of, the short-distance SM B(B+ -> K+ nu nubar).
    B(B+ -> tau nu) = tau_B G_F^2 m_B m_tau^2 (1 - m_tau^2/m_B^2)^2 f_B^2 |V_ub|^2 / (8 pi) (PDG
    review "Leptonic decays of charged pseudoscalar mesons", eq. (1)); narrow-width factorisation
    as in 0908.1174.

    Returns:
        Branching ratio (about 0.65e-6 with the inputs above).
    """
    m_B = C.mass("B+")
    m_tau = C.mass("tau")
    tau_B = C.lifetime_gev("B+")
    br_taunu = (
        tau_B
        * C.G_F**2
        * m_B
        * m_tau**2
        * (1.0 - m_tau**2 / m_B**2) ** 2
        * F_B_GEV**2
        * V_UB**2
        / (8.0 * np.pi)
    )
    return float(br_taunu * BR_TAU_TO_K_NU)
