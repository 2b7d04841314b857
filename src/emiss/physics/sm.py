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

Other SM modes (``SM_MODES``):

* b -> d: B+ -> pi+, B0 -> pi0, B+ -> rho+, B0 -> rho0. Same H_eff with V_tb V_td^* for
  V_tb V_ts^* and the same C_L^SM (the top loop does not depend on the light quark), so the rate
  is the b -> s formula times |V_td/V_ts|^2 (``emiss.physics.ckm.vtd_over_vts``) with the B -> pi
  and B -> rho form factors, and times 1/2 for pi0 and rho0 from a B0 (their d-dbar component,
  ``emiss.physics.processes``). The parent lifetime is that of B+ or B0 (PDG).
* "B0->KS": B(B0 -> K_S nu nubar) = B(B0 -> K0 nu nubar)/2. A B0 gives a K0, a B0bar a K0bar, and
  K_S is half of either; the flavio maintainers state the convention in flav-io/flavio issue #165
  (its B0 -> K nu nubar is the K0 rate; Belle measures K_S, "missing the other half").
* "Bs->4nu": B(B_s -> nu nubar nu nubar) is not computed here: the SM value
  (5.48 +- 0.89)e-15 of Bhattacharya, Grant, Petrov arXiv:1809.04606 is quoted (four-neutrino
  final states dominate the SM invisible width of B_s, whose two-neutrino mode is helicity
  suppressed by m_nu^2).

The short-distance rates exclude the tree-level B+ -> tau+ (-> M+ nubar) nu contribution
(Kamenik & Smith arXiv:0908.1174), a background to the charged modes (``tau_background_br``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from numbers import Number
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from emiss import validate as V
from emiss.errors import EmissError
from emiss.physics import ckm
from emiss.physics import constants as C
from emiss.physics import formfactors as F
from emiss.physics.processes import PROCESSES, Process, get_process
from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: number of light neutrino flavours summed in the SM (lepton-universal) rate
N_NU = 3

#: B -> M processes with a short-distance SM rate here (b -> s and b -> d)
SM_PROCESSES: tuple[str, ...] = PROCESSES + ("B+->pi+", "B0->pi0", "B+->rho+", "B0->rho0")
#: B0 -> K_S nu nubar (half of B0 -> K0 nu nubar; flav-io/flavio issue #165)
B0_KS = "B0->KS"
#: B_s -> nu nubar nu nubar (quoted from arXiv:1809.04606, not computed)
BS_4NU = "Bs->4nu"
#: SM modes that are not a B -> M process of emiss.physics.processes
SM_ONLY_MODES: tuple[str, ...] = (B0_KS, BS_4NU)
#: every mode of ``sm_prediction``
SM_MODES: tuple[str, ...] = SM_PROCESSES + SM_ONLY_MODES
#: B(B_s -> nu nubar nu nubar)_SM and its 1 sigma (Bhattacharya, Grant, Petrov arXiv:1809.04606)
BR_BS_4NU: float = 5.48e-15
BR_BS_4NU_UNC: float = 0.89e-15


def _sm_process(process: str) -> Process:
    """The Process of an SM_PROCESSES name; EmissError naming the valid ones otherwise."""
    if process not in SM_PROCESSES:
        raise EmissError(f"no SM nu nubar rate for process {process!r}; valid: "
                         f"{', '.join(SM_MODES)}")
    return get_process(process)


def _mode_factor(proc: Process) -> float:
    """Multiplier of the b -> s normalisation: |V_td/V_ts|^2 for b -> d, times the isospin factor.

    Exactly 1.0 for the b -> s processes (their rates are unchanged by it).
    """
    ckm_sq = 1.0 if proc.transition == "b->s" else ckm.vtd_over_vts()[0] ** 2
    return ckm_sq * proc.iso_factor


def _check_coupling(name: str, value: object) -> complex:
    if isinstance(value, bool) or not isinstance(value, Number | np.number):
        raise EmissError(f"{name} must be a real or complex number, got {value!r}")
    v = complex(cast("complex", value))  # a numbers.Number or numpy scalar
    if not np.isfinite(v.real) or not np.isfinite(v.imag):
        raise EmissError(f"{name} must be finite, got {value!r}")
    return v


def _prefactor() -> float:
    """K^2 / (384 pi^3) = G_F^2 alpha^2 |V_tb V_ts^*|^2 / (768 pi^5) (GeV^-4)."""
    return C.normalisation_factor() / (2.0 * np.pi**2) / (384.0 * np.pi**3)


def _check_ff(proc: Process, ff: F.FormFactors | None) -> F.FormFactors:
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


def helicity_terms(process: str, q2: ArrayLike,
                   ff: F.FormFactors | None = None) -> dict[str, np.ndarray]:
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
        fp = cast("F.PseudoscalarFormFactors", ff).fplus(q2)
        return {"V0": sl * lam * np.asarray(fp, dtype=float) ** 2}
    vf = cast("F.BKstarFormFactors", ff)
    mB, mV = proc.m_B, proc.m_M
    return {
        "L": sl * (8.0 * mB * mV * np.asarray(vf.A12(q2), dtype=float)) ** 2,
        "A1": sl * q2 * 2.0 * (mB + mV) ** 2 * np.asarray(vf.A1(q2), dtype=float) ** 2,
        "V": sl * q2 * 2.0 * lam * np.asarray(vf.V(q2), dtype=float) ** 2 / (mB + mV) ** 2,
    }


def _dB(process: str, couplings: Sequence[tuple[complex, complex]], ff: F.FormFactors | None,
        longitudinal: bool) -> Callable[[np.ndarray], np.ndarray]:
    """dB/dq2 callable for an incoherent sum over neutrino channels with (C_L, C_R) each."""
    proc = _sm_process(process)
    ff = _check_ff(proc, ff)
    s_plus = float(sum(abs(cl + cr) ** 2 for cl, cr in couplings))
    s_minus = float(sum(abs(cl - cr) ** 2 for cl, cr in couplings))
    norm = _prefactor() * proc.tau_B / proc.m_B**3 * _mode_factor(proc)

    def dbdq2(q2: np.ndarray) -> np.ndarray:
        t = helicity_terms(process, q2, ff)
        if not proc.is_vector:
            return norm * s_plus * t["V0"]
        if longitudinal:
            return norm * s_minus * t["L"]
        return norm * (s_minus * (t["L"] + t["A1"]) + s_plus * t["V"])

    return dbdq2


def heavy_np_spectrum_channels(
    process: str, couplings: Sequence[tuple[complex, complex]], ff: F.FormFactors | None = None,
    label: str = "",
) -> Spectrum:
    """Spectrum for flavour-specific couplings summed incoherently (arXiv:1409.4557 sec. 2).

    Args:
        process: one of SM_PROCESSES (b -> d ones with |V_tb V_td^*|).
        couplings: one (C_L, C_R) pair per neutrino channel (i, j); the SM is three diagonal
            channels with (C_L^SM, 0).
        ff: form-factor object (default: central values).
        label: description stored in the Spectrum.

    Returns:
        Spectrum on [0, q2_max]; K* processes carry continuum_long.
    """
    proc = _sm_process(process)
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


def heavy_np_spectrum(process: str, C_L: complex, C_R: complex,
                      ff: F.FormFactors | None = None) -> Spectrum:
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


def sm_spectrum(process: str, ff: F.FormFactors | None = None) -> Spectrum:
    """SM short-distance spectrum, three neutrino flavours, C_L = -X_t/sin^2(theta_W), C_R = 0.

    The tree-level B+ -> tau+ (-> K+ nubar) nu piece is NOT included (see tau_background_br()).

    Args:
        process: one of SM_PROCESSES ("B0->K0" is K0, not K_S).
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


def _integrate_terms(process: str, ff: F.FormFactors | None) -> dict[str, float]:
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


def _br_and_fl(process: str, C_L: complex, C_R: complex,
               ff: F.FormFactors | None) -> tuple[float, float | None]:
    proc = _sm_process(process)
    I = _integrate_terms(process, ff)
    norm = N_NU * _prefactor() * proc.tau_B / proc.m_B**3 * _mode_factor(proc)
    sp, sm = abs(C_L + C_R) ** 2, abs(C_L - C_R) ** 2
    if not proc.is_vector:
        return norm * sp * I["V0"], None
    tot = sm * (I["L"] + I["A1"]) + sp * I["V"]
    return norm * tot, sm * I["L"] / tot


def sm_prediction(
    process: str, n_samples: int = 500, seed: int = 0, ff_kind: str | None = None
) -> dict:
    """SM branching ratio with uncertainty (and F_L for vector mesons).

    Uncertainty = form factors (std over n_samples correlated draws) (+) parametric, in
    quadrature; parametric = 2 x relative errors of |V_tb V_ts^*| (2.2 %, PDG) and X_t (1.2 %,
    arXiv:1009.0947) in quadrature, and for b -> d also 2 x that of |V_td/V_ts|
    (``ckm.vtd_over_vts``). "B0->KS" is half of "B0->K0" (value and uncertainties);
    "Bs->4nu" is the quoted value of arXiv:1809.04606 (no form factors: ff entries None).

    Args:
        process: one of SM_MODES.
        n_samples: number of form-factor draws.
        seed: random seed.
        ff_kind: form-factor set, e.g. "B->K*@BSZ2015" (default: the process' default set).

    Returns:
        dict(process, branching_ratio, uncertainty, uncertainty_ff, uncertainty_parametric, FL,
        FL_uncertainty, n_samples, seed, ff_kind) (FL entries None for pseudoscalar mesons).
    """
    n_samples = V.RATE_SAMPLES.check(n_samples, "n_samples")
    seed = V.SEED.check(seed, "seed")
    if process == B0_KS:
        return _ks_prediction(n_samples, seed, ff_kind)
    if process == BS_4NU:
        return _bs_4nu_prediction(n_samples, seed, ff_kind)
    proc = _sm_process(process)
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
    rel_par = float(np.hypot(C.VTB_VTS_REL_UNC, C.X_T_REL_UNC))
    if proc.transition == "b->d":
        r, r_unc = ckm.vtd_over_vts()
        rel_par = float(np.hypot(rel_par, r_unc / r))
    u_par = br0 * 2.0 * rel_par
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


def _ks_prediction(n_samples: int, seed: int, ff_kind: str | None) -> dict:
    """B0 -> K_S nu nubar: half of B0 -> K0 nu nubar (value and every uncertainty)."""
    out = sm_prediction("B0->K0", n_samples, seed, ff_kind)
    for key in ("branching_ratio", "uncertainty", "uncertainty_ff", "uncertainty_parametric"):
        out[key] = 0.5 * out[key]
    out["process"] = B0_KS
    return out


def _bs_4nu_prediction(n_samples: int, seed: int, ff_kind: str | None) -> dict:
    """B_s -> nu nubar nu nubar: the quoted SM value of arXiv:1809.04606."""
    if ff_kind is not None:
        raise EmissError(f"{BS_4NU} has no form factors; got ff_kind={ff_kind!r} (valid: None)")
    return {
        "process": BS_4NU,
        "branching_ratio": BR_BS_4NU,
        "uncertainty": BR_BS_4NU_UNC,
        "uncertainty_ff": None,
        "uncertainty_parametric": None,
        "FL": None,
        "FL_uncertainty": None,
        "n_samples": int(n_samples),
        "seed": int(seed),
        "ff_kind": None,
    }


def sm_inputs(mode: str) -> dict:
    """The inputs of an SM rate with their sources, and a note on what the rate includes.

    Args:
        mode: one of SM_MODES.

    Returns:
        dict(inputs=[{name, value, source}], note=str).
    """
    if mode not in SM_MODES:
        raise EmissError(f"no SM nu nubar rate for process {mode!r}; valid: {', '.join(SM_MODES)}")
    if mode == BS_4NU:
        return {"inputs": [{"name": "B(B_s -> nu nubar nu nubar)_SM",
                            "value": f"({BR_BS_4NU * 1e15:.2f} +- {BR_BS_4NU_UNC * 1e15:.2f})e-15",
                            "source": "Bhattacharya, Grant, Petrov arXiv:1809.04606"}],
                "note": "quoted from arXiv:1809.04606, not computed by emiss (four-neutrino "
                        "final states; B_s -> nu nubar is helicity suppressed)"}
    proc = get_process("B0->K0" if mode == B0_KS else mode)
    ps = F.parameters(proc.ff_kind)
    inputs = [
        {"name": "C_L^SM = -X_t/sin^2(theta_W)", "value": f"{C.C_L_SM:.4f}",
         "source": f"X_t = {C.X_T} +- {C.X_T_REL_UNC * 100:.1f} % (arXiv:1009.0947 eq. (14)), "
                   f"sin^2(theta_W) = {C.SIN2_THETA_W}; arXiv:1409.4557 eq. (6)"},
        {"name": "G_F, alpha(M_Z)", "value": f"{C.G_F:.7e} GeV^-2, 1/{1.0 / C.ALPHA_EM:.3f}",
         "source": "PDG; Belle II reinterpretation code (emiss.physics.constants)"},
        {"name": "|V_tb V_ts^*|", "value": f"{C.VTB_VTS} +- {C.VTB_VTS_REL_UNC * 100:.1f} %",
         "source": "Belle II reinterpretation code; uncertainty of |V_ts| (PDG 2024 CKM review)"},
    ]
    if proc.transition == "b->d":
        r, r_unc = ckm.vtd_over_vts()
        inputs.append({"name": "|V_td/V_ts|", "value": f"{r:.4f} +- {r_unc:.4f}",
                       "source": "unitary CKM from |V_us|, |V_ub| (FLAG 2023), |V_cb| "
                                 "(arXiv:2310.20324), gamma (HFLAV 2022); emiss.physics.ckm"})
    cite = re.match(r"^(.*?arXiv:\d{4}\.\d{4,5}(v\d+)?)", ps.source)
    inputs.append({"name": f"form factors {ps.kind}", "value": f"{len(ps.means)} correlated "
                   "coefficients", "source": cite.group(1) if cite else ps.source})
    inputs.append({"name": f"tau_{proc.parent}", "value": f"{proc.tau_B_s * 1e12:.4f} ps",
                   "source": C.PDG_EDITION})
    if proc.iso_factor != 1.0:
        inputs.append({"name": "isospin factor", "value": f"{proc.iso_factor:g}",
                       "source": f"{proc.meson} = (u ubar - d dbar)/sqrt(2): only d dbar is "
                                 "reached from a B0 (emiss.physics.processes)"})
    note = "short distance, three neutrino flavours (arXiv:1409.4557)"
    if mode == B0_KS:
        inputs.append({"name": "K_S fraction", "value": "1/2",
                       "source": "K_S is half of K0 (and of K0bar); flav-io/flavio issue #165"})
        note += "; B(B0 -> K_S nu nubar) = B(B0 -> K0 nu nubar)/2"
    if proc.parent == "B+":
        note += ("; without the tree-level B+ -> tau+ (-> " + proc.meson
                 + " nubar) nu background (arXiv:0908.1174)")
    return {"inputs": inputs, "note": note}


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


def kappa_eta(process: str = "B0->K*0", ff: F.FormFactors | None = None) -> float:
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
