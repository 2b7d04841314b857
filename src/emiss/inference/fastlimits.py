"""Fast asymptotic CLs limits, discovery p-value and best fit on a compiled :class:`FastModel`.

Formulae: Cowan, Cranmer, Gross, Vitells, "Asymptotic formulae for likelihood-based tests of
new physics", arXiv:1007.1727 — q~_mu (Eq. 16) with its Wald approximation (Eqs. 64-66), the
Asimov data set (Sec. 3.2) and q_0 (Eq. 12, p0 = 1 - Phi(sqrt(q0)), Eq. 53); CLs = CLs+b / CLb
(A. L. Read, J. Phys. G 28 (2002) 2693). They are evaluated exactly as
``pyhf.infer.calculators.AsymptoticCalculator`` (pyhf 0.7.6) does: the Asimov data set is built
from the fit with mu fixed to 0 on the observed data, sqrt(q_mu) is compared with sqrt(q_mu,A),
the expected band uses the test-statistic values n_sigma in (2, 1, 0, -1, -2), and q_mu = 0
when mu_hat > mu.

Speed comes from: analytic gradients, fits warm-started from the nearest already-fitted mu (and
from a neighbouring hypothesis), cached evaluations shared by the observed and the five expected
limits, the free Asimov fit replaced by its exact solution, and secant root finding on
quantities that are nearly linear in mu (sqrt(q_mu,A) and the normal quantile of CLs).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm

from emiss.inference.blas import single_thread_blas
from emiss.inference.fastmodel import FastModel, FitData
from emiss.inference.rows import failed_row

log = logging.getLogger(__name__)

NSIGMA = (2.0, 1.0, 0.0, -1.0, -2.0)  # pyhf's order: limits -2s, -1s, median, +1s, +2s
ROOT_RTOL = 1e-6
#: Newton: decrement (predicted decrease of -2 ln L) below which a fit has converged, the
#: looser one accepted when rounding stops any further decrease, iteration and backtracking caps
#: (beyond them the fit falls back to L-BFGS-B quickly).
NEWTON_TOL = 1e-10
NEWTON_TOL_FLOOR = 1e-7
NEWTON_MAXITER = 60
NEWTON_BACKTRACK = 8


class FitFailure(RuntimeError):
    """A maximum-likelihood fit did not converge with any strategy."""


class Fitter:
    """Bounded minimisation of -2 ln L on a FastModel (L-BFGS-B, scaled parameters).

    Args:
        fm: compiled model.
    """

    def __init__(self, fm: FastModel) -> None:
        self.fm = fm
        self.nfits = 0
        self.niter = 0
        self.width = fm.width.copy()

    def set_poi_scale(self, sigma: float) -> None:
        """Scale of the POI in the minimiser (its expected uncertainty)."""
        if sigma > 0 and math.isfinite(sigma):
            self.width[self.fm.poi_index] = sigma

    def fit(self, data: FitData, poi_value: float | None = None,
            x0: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Minimise -2 ln L with the POI free (``poi_value=None``) or fixed.

        Args:
            data: dataset.
            poi_value: fixed POI value, or None for a free fit within the POI bounds.
            x0: start point (full parameter vector), default the model's inits.

        Returns:
            (best-fit parameters, minimum -2 ln L).

        Raises:
            FitFailure: when no strategy converges to a finite value.
        """
        with single_thread_blas():
            return self._fit(data, poi_value, x0)

    def _fit(self, data: FitData, poi_value: float | None,
             x0: np.ndarray | None) -> tuple[np.ndarray, float]:
        fm = self.fm
        start = fm.init.copy() if x0 is None else np.array(x0, float)
        fixed = fm.fixed.copy()
        # fixed parameters sit at their inits (pyhf semantics)
        start[fixed] = fm.init[fixed]
        if poi_value is not None:
            fixed[fm.poi_index] = True
            start[fm.poi_index] = poi_value
        free = np.flatnonzero(~fixed)
        lo, hi = fm.bounds[free, 0], fm.bounds[free, 1]
        start[free] = np.clip(start[free], lo, hi)
        if free.size == 0:
            val = fm.twice_nll(start, data)
            if not math.isfinite(val):
                raise FitFailure(f"-2 ln L is not finite at poi={poi_value}")
            return start, val
        attempts = [(start, "newton"), (start, "L-BFGS-B")]
        if x0 is not None:
            init = fm.init.copy()
            if poi_value is not None:
                init[fm.poi_index] = poi_value
            attempts.append((init, "L-BFGS-B"))
        attempts.append((attempts[-1][0], "TNC"))
        last = None
        for st, method in attempts:
            try:
                res = self._minimize(data, st, free, lo, hi, method)
            except FloatingPointError as exc:  # pragma: no cover - defensive
                last = exc
                continue
            if res is not None:
                return res
        raise FitFailure(f"fit did not converge (poi={poi_value}): {last}")

    def _newton(self, data: FitData, start: np.ndarray, free: np.ndarray, lo: np.ndarray,
                hi: np.ndarray, maxiter: int = NEWTON_MAXITER) -> tuple[np.ndarray, float] | None:
        """Projected Gauss-Newton (Fisher scoring) with an active set for the box bounds,
        Levenberg damping and a capped Armijo backtracking; None when it does not converge
        (callers fall back to L-BFGS-B).

        The Hessian is the expected information (see ``FastModel.nll_grad_hess``), so the
        iteration converges linearly, not quadratically, and the Newton decrement
        g^T H^-1 g stalls at the rounding level of the likelihood (about 1e-11 for 150
        parameters and 100 bins). Convergence is declared when the decrement, which is twice
        the predicted decrease of -ln L (i.e. the predicted decrease of -2 ln L), falls below
        ``NEWTON_TOL``, or when no step decreases -ln L and the decrement is below
        ``NEWTON_TOL_FLOOR`` (rounding). A failed line search raises the damping (a
        Levenberg-Marquardt trust region) instead of taking tiny steps.
        """
        fm = self.fm
        x = start.copy()
        nll, g, H = fm.nll_grad_hess(x, data)
        if not math.isfinite(nll):
            return None
        damp = 0.0
        for _ in range(maxiter):
            self.niter += 1
            xf, gf = x[free], g[free]
            act = ((xf <= lo) & (gf > 0)) | ((xf >= hi) & (gf < 0))
            idx = free[~act]
            step = np.zeros_like(x)
            if idx.size:
                Hs = H[np.ix_(idx, idx)]
                dg = np.diag(Hs).copy()
                Hs[np.diag_indices_from(Hs)] += (1e-12 + damp) * np.maximum(dg, 1e-12)
                try:
                    step[idx] = -np.linalg.solve(Hs, g[idx])
                except np.linalg.LinAlgError:
                    return None
            dec = float(-np.dot(g[idx], step[idx]))
            if not math.isfinite(dec) or dec < 0:
                return None
            if dec < NEWTON_TOL and damp == 0.0:
                return x, 2.0 * nll
            sf = step[free]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                room = np.where(sf < 0, (lo - xf) / sf, np.where(sf > 0, (hi - xf) / sf, np.inf))
            t = min(1.0, float(np.min(room))) if room.size else 1.0
            if t <= 1e-8:
                t = 1.0  # a bound already (nearly) hit: the clip below projects
            for _ in range(NEWTON_BACKTRACK):
                xn = x.copy()
                xn[free] = np.clip(xf + t * sf, lo, hi)
                nlln, gn, Hn = fm.nll_grad_hess(xn, data)
                if math.isfinite(nlln) and nlln <= nll - 1e-4 * t * dec:
                    break
                t *= 0.25
            else:
                if dec < NEWTON_TOL_FLOOR:
                    return x, 2.0 * nll  # converged to rounding
                # the quadratic model is poor here: shrink the trust region and retry
                damp = 1.0 if damp == 0.0 else damp * 10.0
                if damp > 1e6:
                    return None
                continue
            x, nll, g, H = xn, nlln, gn, Hn
            damp = damp * 0.1 if damp > 1e-3 else 0.0
        return None

    def _minimize(self, data: FitData, start: np.ndarray, free: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, method: str) -> tuple[np.ndarray, float] | None:
        fm = self.fm
        self.nfits += 1
        if method == "newton":
            res = self._newton(data, start, free, lo, hi)
            if res is not None:
                return res[0], fm.twice_nll(res[0], data)
            log.debug("Newton fit did not converge; trying L-BFGS-B")
            return None
        scale = self.width[free]
        base = start.copy()
        c = start[free]
        pars = start.copy()

        def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
            pars[free] = c + z * scale
            nll, g = fm.nll_grad(pars, data)
            if not math.isfinite(nll):
                return 1e30, np.zeros_like(z)
            return nll, g[free] * scale

        zb = np.stack([(lo - c) / scale, (hi - c) / scale], axis=1)
        opts = ({"maxiter": 5000, "ftol": 1e-12, "gtol": 1e-8, "maxcor": 10}
                if method == "L-BFGS-B" else {"maxfun": 20000, "ftol": 1e-13, "gtol": 1e-9})
        r = minimize(fun, np.zeros(free.size), jac=True, method=method, bounds=zb,
                     options=opts)
        self.niter += r.nit
        out = base.copy()
        out[free] = np.clip(c + r.x * scale, lo, hi)
        val = fm.twice_nll(out, data)
        if not math.isfinite(val) or val >= 1e29:
            log.debug("fit %s failed: %s", method, r.message)
            return None
        return out, val


class AsymptoticLimits:
    """Asymptotic q~_mu CLs machinery of one hypothesis (arXiv:1007.1727, as in pyhf 0.7.6).

    Args:
        fm: compiled model.
        warm_start: state of a neighbouring hypothesis (see :meth:`warm_state`), or None.
    """

    def __init__(self, fm: FastModel, warm_start: dict | None = None) -> None:
        self.fm = fm
        self.fitter = Fitter(fm)
        self.data = fm.observed_data()
        self.poi = fm.poi_index
        self._warm = self._map_warm(warm_start)
        self._cache: dict[str, dict[float, tuple[np.ndarray, float]]] = {"obs": {}, "asimov": {}}
        self.fitter.set_poi_scale(self._warm.get("sigma", 0.0))
        # anchor fits from several starts (the likelihood need not be convex: code-4p
        # polynomials); the lowest minimum wins
        self.free_pars, self.free_tnll = self._best_fit(None, [self._warm.get("free"), None])
        self.mu_hat = float(self.free_pars[self.poi])
        self.cond0_pars, self.cond0_tnll = self._best_fit(
            0.0, [self._warm.get("cond0"), None, self.free_pars])
        self._cache["obs"][0.0] = (self.cond0_pars, self.cond0_tnll)
        self.asimov = fm.asimov_data(self.cond0_pars)
        # the free fit to the Asimov data is solved exactly by the generating parameters
        # (every Poisson and constraint term is at its maximum there)
        self.asimov_min = fm.twice_nll(self.cond0_pars, self.asimov)
        self._cache["asimov"][0.0] = (self.cond0_pars, self.asimov_min)

    def _best_fit(self, poi_value: float | None, starts: list) -> tuple[np.ndarray, float]:
        best = None
        tried = []
        for x0 in starts:
            if x0 is None and any(t is None for t in tried):
                continue
            if x0 is not None and any(t is not None and np.array_equal(t, x0) for t in tried):
                continue
            tried.append(x0)
            try:
                res = self.fitter.fit(self.data, poi_value, x0)
            except FitFailure:
                continue
            if best is None or res[1] < best[1]:
                best = res
        if best is None:
            raise FitFailure(f"no fit converged at poi={poi_value}")
        return best

    # -- warm start
    def _map_warm(self, ws: dict | None) -> dict:
        if not ws:
            return {}
        out: dict[str, Any] = {}
        names = self.fm.par_names
        for key in ("free", "cond0"):
            vals = ws.get(key)
            if not isinstance(vals, dict):
                continue
            x = self.fm.init.copy()
            for i, n in enumerate(names):
                if n in vals:
                    x[i] = vals[n]
            out[key] = x
        if isinstance(ws.get("sigma"), (int, float)) and ws["sigma"] > 0:
            out["sigma"] = float(ws["sigma"])
        return out

    def warm_state(self) -> dict:
        """JSON-serialisable state for the next (neighbouring) hypothesis."""
        names = self.fm.par_names
        return {
            "free": {n: float(v) for n, v in zip(names, self.free_pars, strict=True)},
            "cond0": {n: float(v) for n, v in zip(names, self.cond0_pars, strict=True)},
            "sigma": float(self.sigma) if getattr(self, "sigma", None) else None,
        }

    # -- profile fits with caching and warm starts
    def _cond(self, which: str, mu: float) -> float:
        cache = self._cache[which]
        if mu in cache:
            return cache[mu][1]
        near = min(cache, key=lambda m: abs(m - mu))
        x0 = cache[near][0].copy()
        x0[self.poi] = mu
        data = self.data if which == "obs" else self.asimov
        pars, tnll = self.fitter.fit(data, mu, x0)
        cache[mu] = (pars, tnll)
        return tnll

    def sqrt_qmu_A(self, mu: float) -> float:
        """sqrt(q~_mu) on the Asimov data set (mu_hat_A = 0 <= mu)."""
        return math.sqrt(max(self._cond("asimov", mu) - self.asimov_min, 0.0))

    def sqrt_qmu(self, mu: float) -> float:
        """sqrt(q~_mu) on the observed data (0 when mu_hat > mu)."""
        if self.mu_hat > mu:
            return 0.0
        return math.sqrt(max(self._cond("obs", mu) - self.free_tnll, 0.0))

    def cls_obs(self, mu: float) -> float:
        """Observed CLs at mu (pyhf AsymptoticCalculator, qtilde, 'normal' base distribution)."""
        sq, sqa = self.sqrt_qmu(mu), self.sqrt_qmu_A(mu)
        if sq <= sqa:
            t = sq - sqa
        else:
            t = (sq * sq - sqa * sqa) / (2.0 * sqa)
        return float(norm.cdf(-(t + sqa)) / norm.cdf(-t))

    def cls_exp(self, mu: float) -> list[float]:
        """Expected CLs at mu for n_sigma = 2, 1, 0, -1, -2 (pyhf order)."""
        sqa = self.sqrt_qmu_A(mu)
        return [float(norm.cdf(-(n + sqa)) / norm.cdf(-n)) for n in NSIGMA]

    # -- limits
    def _sigma_guess(self) -> float:
        if "sigma" in self._warm:
            return self._warm["sigma"]
        fm = self.fm
        b = fm.expected_main(self.cond0_pars)
        p1 = self.cond0_pars.copy()
        p1[self.poi] = 1.0
        s = fm.expected_main(p1) - b
        info = float(np.sum(s * s / np.maximum(b, 1e-9)))
        return 1.0 / math.sqrt(info) if info > 0 else 1.0

    def limits(self, alpha: float) -> tuple[float, list[float]]:
        """Observed and expected (5) upper limits on mu at CLs = alpha.

        Args:
            alpha: 1 - confidence level (0.05 for 95 % CL).

        Returns:
            (observed, [-2s, -1s, median, +1s, +2s]).
        """
        sigma = self._sigma_guess()
        # expected: sqrt(q_mu,A) = s_n  <=>  Phi(-(n + s_n)) = alpha * Phi(-n)
        exp = []
        guess, prev_target = None, 1.0
        for n in NSIGMA:
            target = float(norm.isf(alpha * norm.cdf(-n)) - n)
            x0 = target * sigma if guess is None else guess * target / prev_target
            mu = _solve_increasing(self.sqrt_qmu_A, target, x0)
            exp.append(mu)
            guess, prev_target = mu, target
            if n == 0.0:
                sq = self.sqrt_qmu_A(mu)
                self.sigma = mu / sq if sq > 0 else sigma
        # observed: z(mu) = Phi^-1(1 - CLs(mu)) increases with mu; target Phi^-1(1 - alpha)
        target = float(norm.isf(alpha))

        def zcls(mu: float) -> float:
            c = self.cls_obs(mu)
            return float(norm.isf(min(max(c, 1e-300), 1.0)))

        x0 = max(self.mu_hat, 0.0) + exp[2] * 0.85
        obs = _solve_increasing(zcls, target, x0)
        return obs, exp

    def discovery(self) -> tuple[float, float]:
        """Discovery p-value and significance from q0 (arXiv:1007.1727, Eqs. 12 and 53).

        Returns:
            (p0, Z).
        """
        q0 = max(self.cond0_tnll - self.free_tnll, 0.0) if self.mu_hat >= 0 else 0.0
        z = math.sqrt(q0)
        return float(norm.sf(z)), float(z)


def _solve_increasing(f, target: float, x0: float, rtol: float = ROOT_RTOL,
                      maxiter: int = 60) -> float:
    """Root of f(x) = target for an increasing, nearly linear f on x > 0.

    Secant steps from x0 (first step assumes f proportional to x), safeguarded by bisection
    once the root is bracketed.

    Args:
        f: increasing function.
        target: value to reach.
        x0: first guess (> 0).
        rtol: relative tolerance on x.
        maxiter: iteration limit.

    Returns:
        x with f(x) = target.

    Raises:
        FitFailure: no convergence.
    """
    x0 = max(float(x0), 1e-12)
    lo = hi = None  # bracket: g(lo) < 0 < g(hi)
    xa, ga = x0, f(x0) - target
    if ga < 0:
        lo = (xa, ga)
    else:
        hi = (xa, ga)
    fa = ga + target
    xb = xa * target / fa if fa > 0 else 2.0 * xa
    if not math.isfinite(xb) or xb <= 0 or abs(xb - xa) < 1e-12 * xa:
        xb = xa * (1.1 if ga < 0 else 0.9)
    xb = min(max(xb, xa * 0.1), xa * 10.0)
    for _ in range(maxiter):
        gb = f(xb) - target
        if gb == 0:
            return xb
        if gb < 0 and (lo is None or xb > lo[0]):
            lo = (xb, gb)
        if gb > 0 and (hi is None or xb < hi[0]):
            hi = (xb, gb)
        if abs(xb - xa) <= rtol * abs(xb):
            return xb
        # secant step
        if gb != ga:
            xn = xb - gb * (xb - xa) / (gb - ga)
        else:
            xn = xb * (1.5 if gb < 0 else 0.67)
        if lo is not None and hi is not None:
            if not (lo[0] < xn < hi[0]):
                xn = 0.5 * (lo[0] + hi[0])
        elif not math.isfinite(xn) or xn <= 0:
            xn = xb * (2.0 if gb < 0 else 0.5)
        else:
            xn = min(max(xn, xb * 0.2), xb * 5.0)
        xa, ga, xb = xb, gb, xn
    raise FitFailure(f"root finding did not converge near {xb:g}")


def fast_analyse(fm: FastModel, *, cl: float = 0.95, warm_start: dict | None = None
                 ) -> dict[str, Any]:
    """Row of one hypothesis with the fast engine (same keys as ``reference_analyse``).

    Args:
        fm: compiled model.
        cl: confidence level.
        warm_start: state from a neighbouring hypothesis or None.

    Returns:
        Row dict plus ``"warm_start"`` (state for the next hypothesis).
    """
    try:
        with single_thread_blas():
            return _fast_analyse(fm, cl, warm_start)
    except Exception as exc:  # reported per hypothesis, never dropped
        log.warning("fast analysis failed: %s", exc)
        row = failed_row(f"failed: {type(exc).__name__}: {exc}")
        row["warm_start"] = None
        return row


def _fast_analyse(fm: FastModel, cl: float, warm_start: dict | None) -> dict[str, Any]:
    """The body of :func:`fast_analyse` (exceptions propagate)."""
    calc = AsymptoticLimits(fm, warm_start)
    row = failed_row("failed")
    row["mu_hat"] = calc.mu_hat
    row["mu_upper_bound"] = float(fm.bounds[fm.poi_index, 1])
    row["twice_nll"] = float(calc.free_tnll)
    p0, z = calc.discovery()
    row["p0"], row["Z"] = p0, z
    obs, exp = calc.limits(1.0 - cl)
    row["mu_limit_obs"] = float(obs)
    row["mu_limit_exp"] = [float(e) for e in exp]
    row["status"] = "ok"
    row["warm_start"] = calc.warm_state()
    row["warm_start"]["nfits"] = calc.fitter.nfits
    row["warm_start"]["niter"] = calc.fitter.niter
    return row
