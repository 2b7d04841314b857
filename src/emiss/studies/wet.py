"""Fit of the WET Wilson coefficients to a B -> K workspace (``emiss wet``).

The likelihood is the workspace plus ``emiss.patches.wet.wet_patch`` (one sample per operator
structure with normfactors cv2, cs2, ct2 = |C_VL + C_VR|², |C_SL + C_SR|², |C_TL|², each in
[0, 400]). Reported: the global maximum-likelihood point in (|C_V|, |C_S|, |C_T|), and for each
magnitude its profile-likelihood intervals (the other two and all nuisances profiled) at
-2 Δln L = 1 (68.3 %) and 3.84 (95 %), with -2 Δln L at |C| = 0. Next to them, Belle II's
Bayesian result on the same likelihood (arXiv:2507.12393, abstract): posterior mode (11.3, 0.00,
8.21) and marginal 95 % credible intervals [1.86, 16.2], [0.00, 15.4], [0.00, 11.2], with flat
priors on |C| in [0, 20] and EOS's B -> K form factors (BSZ2015 fit to lattice). By
construction the two differ: a profile likelihood maximises over the other parameters where a
marginal posterior integrates over them (the posterior mode equals the maximum-likelihood
point only for flat priors in the same variables), and the form factors differ (HPQCD here).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import brentq

from emiss import validate
from emiss.errors import EmissError

if TYPE_CHECKING:
    from emiss.bundles import Bundle

log = logging.getLogger(__name__)

#: Belle II's published WET result (arXiv:2507.12393 abstract): posterior mode and 95 % CI.
BELLE2_POSTERIOR = {
    "cv2": {"mode": 11.3, "ci95": [1.86, 16.2]},
    "cs2": {"mode": 0.00, "ci95": [0.00, 15.4]},
    "ct2": {"mode": 8.21, "ci95": [0.00, 11.2]},
}
#: -2 Δln L levels of the profile intervals (68.27 % and 95 % for one parameter).
LEVELS = {"68": 1.0, "95": 3.841458820694124}
#: |C| upper bound (sqrt of the normfactor bound).
C_MAX = 20.0
PARS = ("cv2", "cs2", "ct2")


class WetFit:
    """Profile fits of the three WET magnitudes on one patched workspace.

    Args:
        spec: background-only workspace.
        ops: the WET patch (``emiss.patches.wet.wet_patch``).
    """

    def __init__(self, spec: dict, ops: list[dict]) -> None:
        import jsonpatch

        from emiss.inference.fastlimits import Fitter
        from emiss.inference.fastmodel import model_from_workspace

        patched = jsonpatch.apply_patch(spec, ops)  # the patch also sets bounds and the POI
        self.models = {}
        for par in PARS:
            fm = model_from_workspace(patched, poi=par)
            self.models[par] = (fm, Fitter(fm))
        fm, _ = self.models["cv2"]
        self.data = fm.observed_data()
        self.index = {p: fm.par_names.index(p) for p in PARS}
        self.nfits = 0

    def _fit(self, par: str | None, c2: float | None, starts: list[dict[str, float]]
             ) -> tuple[np.ndarray, float]:
        fm, fitter = self.models[par or "cv2"]
        best = None
        for st in starts:
            x0 = fm.init.copy()
            for k, v in st.items():
                x0[fm.par_names.index(k)] = v
            try:
                pars, val = fitter.fit(self.data, poi_value=c2, x0=x0)
            except Exception as exc:  # a start that does not converge; others remain
                log.debug("WET fit from %s failed: %s", st, exc)
                continue
            self.nfits += 1
            if best is None or val < best[1]:
                best = (pars, val)
        if best is None:
            raise EmissError(f"no WET fit converged ({par}={c2})")
        return best

    @staticmethod
    def _starts(skip: str | None = None) -> list[dict[str, float]]:
        grid = [dict(cv2=a, cs2=b, ct2=c) for a in (20.0, 130.0) for b in (1.0, 100.0)
                for c in (1.0, 60.0)]
        if skip:
            for g in grid:
                g.pop(skip)
            uniq = {tuple(sorted(g.items())): g for g in grid}
            grid = list(uniq.values())
        return grid

    def best(self) -> tuple[dict[str, float], float]:
        """Global best fit: {par: |C|} and its -2 ln L."""
        pars, val = self._fit(None, None, self._starts())
        return {p: math.sqrt(max(float(pars[self.index[p]]), 0.0)) for p in PARS}, float(val)

    def profile(self, par: str, c: float) -> float:
        """Minimum of -2 ln L with |C| of ``par`` fixed at c (the rest profiled)."""
        return float(self._fit(par, c * c, self._starts(par))[1])

    def interval(self, par: str, best_c: float, t_min: float, level: float
                 ) -> tuple[float, float]:
        """Profile-likelihood interval of |C| at -2 Δln L = level (bounded by [0, C_MAX])."""

        def g(c: float) -> float:
            return self.profile(par, c) - t_min - level

        lo = 0.0
        if best_c > 0 and g(0.0) > 0:
            lo = brentq(g, 0.0, best_c, xtol=1e-3)
        hi = C_MAX
        if g(C_MAX) > 0:
            hi = brentq(g, best_c, C_MAX, xtol=1e-3)
        return float(lo), float(hi)


def fit_wet(bundle: Bundle, n_samples: int = 100, seed: int = 0,
            curve_points: int = 0) -> dict[str, Any]:
    """Best fit and profile intervals of the three WET magnitudes (module docstring).

    Args:
        bundle: an ``emiss.bundles`` bundle of a B -> K workspace (e.g. Belle II's).
        n_samples: form-factor draws of the template components.
        seed: their seed.
        curve_points: also return -2 Δln L on this many |C| points per coefficient (plots).

    Returns:
        JSON-ready dict: ``best`` (|C| per term and -2 ln L), ``intervals`` (68/95 per term),
        ``delta_twice_nll_at_zero``, ``labels``, ``belle2_2507_12393`` (published numbers),
        optional ``curves``, and the rates of each term at unit coefficient.
    """
    from emiss.patches.target import target_from_bundle
    from emiss.patches.wet import wet_patch
    from emiss.physics.wet import C_VL_SM, wet_spectrum

    n_samples = validate.FF_SAMPLES.check(n_samples, "n_samples")  # before any work
    seed = validate.SEED.check(seed, "seed")
    target = target_from_bundle(bundle)
    ops, labels = wet_patch(target, n_samples=n_samples, seed=seed)
    fit = WetFit(bundle.spec, ops)
    best, t_min = fit.best()
    out: dict[str, Any] = {
        "labels": labels,
        "best": {**{p: round(v, 4) for p, v in best.items()}, "twice_nll": t_min},
        "intervals": {}, "delta_twice_nll_at_zero": {},
        "sm_point": {"cv2": C_VL_SM, "cs2": 0.0, "ct2": 0.0},
        "unit_branching_ratios": {
            p: float(wet_spectrum("B+->K+", {k: 1.0}).branching_ratio())
            for p, k in (("cv2", "C_VL"), ("cs2", "C_SL"), ("ct2", "C_TL"))},
        "belle2_2507_12393": BELLE2_POSTERIOR,
        "method": "profile likelihood (other coefficients and nuisances profiled); "
                  f"form factors HPQCD 2207.12468 ({n_samples} draws, seed {seed})",
    }
    for p in PARS:
        out["intervals"][p] = {k: [round(x, 3) for x in fit.interval(p, best[p], t_min, lv)]
                               for k, lv in LEVELS.items()}
        out["delta_twice_nll_at_zero"][p] = round(max(fit.profile(p, 0.0) - t_min, 0.0), 4)
    if curve_points:
        grid = np.linspace(0.0, C_MAX, int(curve_points))
        out["curves"] = {p: {"c": grid.tolist(),
                             "delta_twice_nll": [max(fit.profile(p, c) - t_min, 0.0)
                                                 for c in grid]} for p in PARS}
    out["n_fits"] = fit.nfits
    return out


#: Floor of |C|² in the flat-in-|C| prior density p(C²) ∝ 1/sqrt(C²), so that it stays finite at
#: C² = 0 (the prior mass it moves, below |C| = 1e-3, is 5e-5 of the range).
_C2_FLOOR = 1e-6


def _flat_in_magnitude(cols: np.ndarray
                       ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Extra log prior turning flat priors on C² (the normfactors) into flat priors on |C|."""

    def log_prior(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.atleast_2d(x)
        c2 = np.maximum(x[:, cols], _C2_FLOOR)
        grad = np.zeros_like(x)
        grad[:, cols] = np.where(x[:, cols] > _C2_FLOOR, -0.5 / c2, 0.0)
        return -0.5 * np.sum(np.log(c2), axis=1), grad

    return log_prior


def posterior_wet(bundle: Bundle, n_samples: int = 100, seed: int = 0, draws: int = 600,
                  tune: int = 300, chains: int = 4) -> dict[str, Any]:
    """Bayesian posterior of the three WET magnitudes, as Belle II's reinterpretation reports it.

    Priors as in arXiv:2507.12393: flat in |C_VL + C_VR|, |C_SL + C_SR|, |C_TL| on [0, 20]; the
    nuisance constraint terms as priors (``emiss.inference.posterior``); NUTS on emiss's fast
    likelihood. Reports per magnitude the marginal mode (kernel density estimate), median, 68 %
    and 95 % central and highest-density intervals, with R-hat and ESS.

    Args:
        bundle: a B -> K bundle.
        n_samples: form-factor draws of the template components.
        seed: seed of the form-factor draws and of the sampler.
        draws: kept draws per chain.
        tune: tuning draws per chain.
        chains: chains.

    Returns:
        JSON-ready dict.
    """
    n_samples = validate.FF_SAMPLES.check(n_samples, "n_samples")  # before any work
    seed = validate.SEED.check(seed, "seed")
    draws = validate.WET_DRAWS.check(draws, "draws")
    tune = validate.TUNE.check(tune, "tune")
    chains = validate.CHAINS.check(chains, "chains")
    import jsonpatch

    from emiss.inference.fastmodel import model_from_workspace
    from emiss.inference.posterior import (
        PosteriorSetup,
        hpd_interval,
        kde_mode,
        sample_posterior,
        split_rhat,
    )
    from emiss.patches.target import target_from_bundle
    from emiss.patches.wet import wet_patch

    ops, labels = wet_patch(target_from_bundle(bundle), n_samples=n_samples, seed=seed)
    fm = model_from_workspace(jsonpatch.apply_patch(bundle.spec, ops), poi="cv2")
    probe = PosteriorSetup(fm, ref_br=1.0, br_max=C_MAX**2, poi_fixed=None)
    cols = np.array([int(np.flatnonzero(probe.index == fm.par_names.index(p))[0])
                     for p in PARS])
    setup = PosteriorSetup(fm, ref_br=1.0, br_max=C_MAX**2, poi_fixed=None,
                           extra_log_prior=_flat_in_magnitude(cols))
    run = sample_posterior(setup, sampler="nuts", draws=draws, tune=tune, chains=chains,
                           seed=seed)
    out: dict[str, Any] = {"labels": labels, "priors": "flat in |C| on [0, 20] (each); "
                           "nuisances: their constraint terms", "marginals": {},
                           "belle2_2507_12393": BELLE2_POSTERIOR,
                           "diagnostics": {k: v for k, v in run.diagnostics.items()
                                           if isinstance(v, int | float | str)}}
    for p, col in zip(PARS, cols, strict=True):
        c = np.sqrt(np.clip(run.chain[:, :, col], 0.0, None))
        flat = c.ravel()
        out["marginals"][p] = {
            "mode": round(float(kde_mode(flat, lower=0.0)), 3),
            "median": round(float(np.median(flat)), 3),
            "central_68": [round(float(v), 3) for v in np.quantile(flat, [0.16, 0.84])],
            "central_95": [round(float(v), 3) for v in np.quantile(flat, [0.025, 0.975])],
            "hpd_95": [round(float(v), 3) for v in hpd_interval(flat, 0.95)],
            "rhat": round(float(split_rhat(c)), 4),
        }
    return out
