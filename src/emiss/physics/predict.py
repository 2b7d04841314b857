"""Predictions with form-factor uncertainties: branching ratio, 1 sigma, F_L, spectrum bands.

Uncertainties sample the published form-factor covariances (``emiss.physics.formfactors.sample``:
HPQCD arXiv:2207.12468 for B -> K, BSZ arXiv:1503.05534 for B -> K*) and take the standard
deviation of the observable, the flavio/EOS recipe. For ``sm`` the SM prediction of
``emiss.physics.sm.sm_prediction`` (form factors + CKM/X_t parametric errors) is used; ``heavy-np``
adds the |V_tb V_ts^*| parametric error (constants.VTB_VTS_REL_UNC) in quadrature.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from emiss import validate as V
from emiss.errors import EmissError
from emiss.physics import bs_pairs, sm
from emiss.physics import constants as C
from emiss.physics import formfactors as F
from emiss.physics.processes import Process, get_process
from emiss.physics.scenarios import Scenario, get_scenario
from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

_T, _W = np.polynomial.legendre.leggauss(96)


def integrate(spec: Spectrum) -> tuple[float, float]:
    """(B, B_L) of a spectrum: lines plus the continuum integrated in a vectorised way.

    The continuum is integrated with q^2 = a + (b - a)(1 - cos theta)/2, theta in [0, pi], which
    removes the square-root behaviour at threshold (beta) and at the endpoint (lambda^{1/2}), then
    96-point Gauss-Legendre.

    Args:
        spec: a Spectrum.

    Returns:
        (total branching ratio, K*-longitudinal branching ratio; 0 when undefined).
    """
    br = float(sum(b for _, b in spec.lines))
    brl = float(sum(spec.lines_long))
    a, b = spec.q2_min, spec.q2_max
    if spec.continuum is not None and b > a:
        th = 0.5 * np.pi * (_T + 1.0)
        q2 = a + 0.5 * (b - a) * (1.0 - np.cos(th))
        w = _W * 0.5 * np.pi * 0.5 * (b - a) * np.sin(th)
        br += float(np.sum(w * spec.dBdq2(q2)))
        if spec.continuum_long is not None:
            brl += float(np.sum(w * spec.dBLdq2(q2)))
    return br, brl


def check_rate(scenario: str, br: float, params: Mapping[str, float]) -> None:
    """EmissError unless the branching ratio is finite and at most 1 (a probability).

    Args:
        scenario: scenario name (for the message).
        br: the branching ratio at central form factors.
        params: the parameters that gave it.
    """
    if not math.isfinite(br) or br > 1.0:
        pars = ", ".join(f"{k}={v:g}" for k, v in params.items()) or "its defaults"
        raise EmissError(f"scenario {scenario!r} with {pars} gives B = {br:g}, not a probability;"
                         " valid: couplings (and scales) for which 0 <= B <= 1 (the rate grows "
                         "with the coupling squared)")


def _fl(process: Process, br: float, brl: float) -> float | None:
    if not process.is_vector:
        return None
    return brl / br if br > 0 else None


def _draw_spreads(sc: Scenario, process: str, proc: Process, mass: float | None,
                  params: Mapping[str, float], n: int, seed: int
                  ) -> tuple[F.RunningSpread, F.RunningSpread]:
    """Spreads of the branching ratio and of F_L over ``n`` form-factor draws (streamed: memory
    holds one chunk of draws)."""
    brs, fls = F.RunningSpread(), F.RunningSpread()
    for chunk in F.sample_chunks(proc.ff_kind, n, seed, F.SAMPLE_CHUNK):
        b_c, fl_c = [], []
        for ff in chunk:
            b, bl = integrate(sc.spectrum(process, mass=mass, params=params, ff=ff))
            b_c.append(b)
            fl_c.append(bl / b if b > 0 else np.nan)
        brs.add(b_c)
        fls.add(fl_c)
    return brs, fls


def predict(scenario: str | Scenario, process: str, mass: float | None = None,
            params: Mapping[str, float] | None = None, n_samples: int = 200,
            seed: int = 0) -> dict:
    """Branching ratio (central form factors), its 1 sigma form-factor uncertainty and F_L.

    Args:
        scenario: registry name or Scenario.
        process: one of PROCESSES.
        mass: invisible mass in GeV (default: the scenario's default mass).
        params: parameter overrides.
        n_samples: form-factor draws (>= 2).
        seed: random seed of the draws.

    Returns:
        dict with scenario, process, mass, params, branching_ratio, uncertainty,
        uncertainty_ff, FL, FL_uncertainty, lines [{q2, branching_ratio}], q2_min, q2_max,
        n_samples, seed, coupling.
    """
    n = V.RATE_SAMPLES.check(n_samples, "n_samples")
    seed = V.SEED.check(seed, "seed")
    if mass is not None:
        mass = V.MASS.check(mass, "mass")
    sc = get_scenario(scenario)
    proc = get_process(process)
    p = sc.resolve_params(params)
    spec = sc.spectrum(process, mass=mass, params=p)
    m = spec.meta.get("mass")
    out = {
        "scenario": sc.name,
        "process": proc.name,
        "mass": m,
        "params": p,
        "coupling": sc.coupling,
        "q2_min": spec.q2_min,
        "q2_max": spec.q2_max,
        "lines": [{"q2": q, "branching_ratio": b} for q, b in spec.lines],
        "n_samples": n,
        "seed": int(seed),
    }
    if not proc.has_form_factors:  # B_s -> invisible: the f_Bs uncertainty, no form factors
        br = float(spec.meta["branching_ratio"])
        # what a time-integrating experiment sees: B (1 + A y_s)/(1 - y_s^2), A in [-1, 1]
        lo, hi = bs_pairs.time_integration_factors()
        out.update({"branching_ratio": br, "uncertainty_ff": 0.0, "FL": None,
                    "uncertainty": br * float(spec.meta["relative_uncertainty"]),
                    "FL_uncertainty": None, "reason": spec.meta["reason"],
                    "time_integrated_range": [br * lo, br * hi]})
        for line in out["lines"]:
            line["branching_ratio_long"] = None
        return out
    if sc.name == "sm":
        res = sm.sm_prediction(proc.name, n_samples=n, seed=seed)
        out.update({k: res[k] for k in ("branching_ratio", "uncertainty", "uncertainty_ff",
                                        "FL", "FL_uncertainty")})
        return out
    br0, brl0 = integrate(spec)
    check_rate(sc.name, br0, p)
    brs, fls = _draw_spreads(sc, process, proc, m, p, n, seed)
    u_ff = brs.std()
    u = u_ff
    if sc.name == "heavy-np":
        u = float(np.hypot(u_ff, 2.0 * C.VTB_VTS_REL_UNC * br0))
    fl = _fl(proc, br0, brl0)
    out.update({
        "branching_ratio": br0,
        "uncertainty": u,
        "uncertainty_ff": u_ff,
        "FL": fl,
        "FL_uncertainty": None if fl is None else fls.std(),
    })
    for line in out["lines"]:
        line["branching_ratio_long"] = None
    if proc.is_vector:
        for line, bl in zip(out["lines"], spec.lines_long, strict=True):
            line["branching_ratio_long"] = bl
    log.debug("prediction %s", out)
    return out


def spectrum_band(scenario: str | Scenario, process: str, q2: ArrayLike, mass: float | None = None,
                  params: Mapping[str, float] | None = None, n_samples: int = 100,
                  seed: int = 0) -> dict:
    """Central dB/dq^2 and its 1 sigma form-factor band at q2 (continuum only).

    Args:
        scenario, process, mass, params, n_samples, seed: as for ``predict``.
        q2: points in GeV^2.

    Returns:
        dict with q2, central, sigma (arrays); FL, FL_sigma for K* (else None).
    """
    n = V.FF_SAMPLES.check(n_samples, "n_samples")  # 0: two draws (a band needs them)
    seed = V.SEED.check(seed, "seed")
    sc = get_scenario(scenario)
    proc = get_process(process)
    q2 = np.asarray(q2, dtype=float)
    spec = sc.spectrum(process, mass=mass, params=params)
    drawn, drawn_l = [], []
    for ff in F.sample(proc.ff_kind, max(n, 2), seed):
        s = sc.spectrum(process, mass=mass, params=params, ff=ff)
        drawn.append(s.dBdq2(q2))
        drawn_l.append(s.dBLdq2(q2))
    rows, rows_l = np.array(drawn), np.array(drawn_l)
    out = {"q2": q2, "central": spec.dBdq2(q2), "sigma": rows.std(axis=0, ddof=1),
           "FL": None, "FL_sigma": None}
    if proc.is_vector:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = spec.dBdq2(q2)
            out["FL"] = np.where(c > 0, spec.dBLdq2(q2) / c, np.nan)
            out["FL_sigma"] = np.nanstd(np.where(rows > 0, rows_l / rows, np.nan), axis=0, ddof=1)
    return out
