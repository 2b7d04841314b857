"""Fast asymptotic CLs limits, discovery p-value and best fit on a compiled :class:`FastModel`.

Formulae: Cowan, Cranmer, Gross, Vitells, "Asymptotic formulae for likelihood-based tests of
new physics", arXiv:1007.1727 — q~_mu (Eq. 16) with its Wald approximation (Eqs. 64-66), the
Asimov data set (Sec. 3.2) and q_0 (Eq. 12, p0 = 1 - Phi(sqrt(q0)), Eq. 53); CLs = CLs+b / CLb
(A. L. Read, J. Phys. G 28 (2002) 2693). They are evaluated exactly as
``pyhf.infer.calculators.AsymptoticCalculator`` (pyhf 0.7.6) does: the Asimov data set is built
from the fit with mu fixed to 0 on the observed data, sqrt(q_mu) is compared with sqrt(q_mu,A),
the expected band uses the test-statistic values n_sigma in (2, 1, 0, -1, -2), and q_mu = 0
when mu_hat > mu.

Two engines (``fast_analyse(engine=...)``):

* ``"fast"`` (:class:`ProfileLimits`): Newton steps whose cost grows linearly with the number of
  nuisance parameters (:mod:`emiss.inference.structured`: Woodbury over the bins for
  Gauss-Newton steps, exact-Hessian steps once Gauss-Newton converges slowly), each limit a
  Newton root on the profile likelihood's exact derivative (envelope theorem), about 9-13 fits
  per hypothesis on Belle II's likelihood (one mu = 0 fit, one free fit where mu_hat > 0, one
  Asimov fit per expected limit, two per observed Newton step), every fit started from a
  neighbouring hypothesis' optimum or on the first-order path of the profile;
* ``"reference"`` (:class:`AsymptoticLimits` with dense Newton steps): the previous engine,
  kept for comparison and as a fallback: anchor fits from several starts, secant root finding
  on sqrt(q_mu,A) and the normal quantile of CLs (about 35 fits per hypothesis).

Both share the analytic gradients, the cached profile fits (the observed and the five expected
limits), and the free Asimov fit replaced by its exact solution.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_ndtr, ndtr, ndtri
from scipy.stats import norm

from emiss.inference.blas import single_thread_blas
from emiss.inference.fastmodel import FastModel, FitData
from emiss.inference.rows import failed_row
from emiss.io import round_sig

if TYPE_CHECKING:
    from emiss.inference.structured import HessianStructure

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
#: Newton decrement at which the fast engine's profile fits at mu > 0 stop: -2 ln L within
#: ~1e-9 of its minimum moves a limit by ~1e-10 (relative), the profile's slope by ~1e-5.
LIMIT_FIT_TOL = 1e-9
#: Structured Newton: switch from Gauss-Newton to exact-Hessian steps once the decrement falls
#: by less than this factor per step (Gauss-Newton converges linearly, slowly with large
#: residuals; exact steps cost ~2.5 Gauss-Newton steps on Belle II's likelihood).
EXACT_SWITCH = 0.02
#: Linear algebra of the Newton steps (:class:`Fitter`).
SOLVERS = ("structured", "dense")


class FitFailure(RuntimeError):
    """A maximum-likelihood fit did not converge with any strategy."""


class Fitter:
    """Bounded minimisation of -2 ln L on a FastModel (Gauss-Newton, L-BFGS-B fallbacks).

    Args:
        fm: compiled model.
        solver: linear algebra of the Newton steps: ``"structured"`` (default; cost per step
            linear in the number of nuisance parameters, :mod:`emiss.inference.structured`)
            or ``"dense"`` (the reference: a dense P x P solve, O(P^3)). A structured Newton
            fit that does not converge is retried with the dense solver, then L-BFGS-B and TNC.

    Attributes:
        nfits, niter: fits (minimiser runs) and Newton / minimiser iterations so far.
        fallbacks: fits that needed a fallback strategy: (poi value, strategy that converged).
    """

    def __init__(self, fm: FastModel, solver: str = "structured") -> None:
        if solver not in SOLVERS:
            raise ValueError(f"solver {solver!r} is unknown; valid: {', '.join(SOLVERS)}")
        self.fm = fm
        self.solver = solver
        self.nfits = 0
        self.niter = 0
        self.fallbacks: list[tuple[float | None, str]] = []
        self.n_indefinite = 0
        self.width = fm.width.copy()
        self._structure: HessianStructure | None = None
        # the last converged fit: (parameters, data, free indices, Newton state or None)
        self._last: tuple | None = None

    @property
    def structure(self) -> HessianStructure:
        """The model's :class:`emiss.inference.structured.HessianStructure` (built once)."""
        if self._structure is None:
            from emiss.inference.structured import structure_of

            self._structure = structure_of(self.fm)
        return self._structure

    def set_poi_scale(self, sigma: float) -> None:
        """Scale of the POI in the minimiser (its expected uncertainty)."""
        if sigma > 0 and math.isfinite(sigma):
            self.width[self.fm.poi_index] = sigma

    def fit(self, data: FitData, poi_value: float | None = None,
            x0: np.ndarray | None = None, tol: float = NEWTON_TOL) -> tuple[np.ndarray, float]:
        """Minimise -2 ln L with the POI free (``poi_value=None``) or fixed.

        Args:
            data: dataset.
            poi_value: fixed POI value, or None for a free fit within the POI bounds.
            x0: start point (full parameter vector), default the model's inits.
            tol: Newton decrement (predicted decrease of -2 ln L) at which the fit stops.

        Returns:
            (best-fit parameters, minimum -2 ln L).

        Raises:
            FitFailure: when no strategy converges to a finite value.
        """
        with single_thread_blas():
            return self._fit(data, poi_value, x0, tol)

    def _fit(self, data: FitData, poi_value: float | None,
             x0: np.ndarray | None, tol: float = NEWTON_TOL) -> tuple[np.ndarray, float]:
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
        self._last = None
        self._free = free
        if free.size == 0:
            val = fm.twice_nll(start, data)
            if not math.isfinite(val):
                raise FitFailure(f"-2 ln L is not finite at poi={poi_value}")
            self._last = (start, data, free, None, None)
            return start, val
        attempts = [(start, "newton")]
        if self.solver == "structured":
            attempts.append((start, "newton-dense"))
        attempts.append((start, "L-BFGS-B"))
        if x0 is not None:
            init = fm.init.copy()
            if poi_value is not None:
                init[fm.poi_index] = poi_value
            attempts.append((init, "L-BFGS-B"))
        attempts.append((attempts[-1][0], "TNC"))
        last = None
        for k, (st, method) in enumerate(attempts):
            try:
                res = self._minimize(data, st, free, lo, hi, method, tol)
            except FloatingPointError as exc:  # pragma: no cover - defensive
                last = exc
                continue
            if res is not None:
                if k:
                    self.fallbacks.append((poi_value, method))
                    log.info("fit at poi=%s converged with the fallback %s", poi_value, method)
                if self._last is None or self._last[0] is not res[0]:
                    self._last = (res[0], data, free, None, None)
                return res
        raise FitFailure(f"fit did not converge (poi={poi_value}): {last}")

    def _last_state(self) -> tuple[np.ndarray, np.ndarray, tuple]:
        """(parameters, free indices, evaluate_jac's result) of the last converged fit."""
        if self._last is None:
            raise FitFailure("no converged fit to differentiate")
        x, data, free, state, system = self._last
        if state is None:
            state = self.fm.evaluate_jac(x, data)
            if state[1] is None:
                raise FitFailure("-2 ln L is not finite at the last fit")
            self._last = (x, data, free, state, system)
        return x, free, state

    def poi_derivative(self) -> float:
        """d(-2 ln L)/d mu at the last fit's minimum over the other parameters.

        For a fit with the POI fixed at mu this is the derivative of the profile likelihood
        -2 ln L(mu, theta_hat(mu)) (envelope theorem: d/d theta vanishes at theta_hat, or
        theta_hat sits on a bound it does not leave).
        """
        _, _, state = self._last_state()
        return 2.0 * float(state[1][self.fm.poi_index])

    def last_fit(self) -> tuple | None:
        """The state of the last converged fit (for :meth:`poi_slope` after later fits)."""
        return self._last

    def poi_slope(self, pars: np.ndarray | None = None, data: FitData | None = None,
                  last: tuple | None = None) -> np.ndarray:
        """d theta_hat / d mu at the last (conditional) fit.

        The first-order path of the profile: H_ff dtheta = -H_f,mu over the free parameters
        off their bounds (0 elsewhere, 1 at the POI), with the exact Hessian where the fit's last
        step used it, else the Gauss-Newton one; a start point for the fit at a nearby mu.

        Args:
            pars, data: a conditional minimum other than the last fit's (both or neither).
            last: an earlier fit's :meth:`last_fit` state instead of the last fit's.

        Returns:
            (P,) vector.
        """
        fm = self.fm
        if last is not None:
            self._last = last
        if pars is not None:
            free = np.flatnonzero(~fm.fixed)
            self._last = (np.asarray(pars, float), data, free[free != fm.poi_index], None, None)
        x, free, state = self._last_state()
        _, g, J, c, d = state[:5]
        poi = fm.poi_index
        lo, hi = fm.bounds[free, 0], fm.bounds[free, 1]
        gf = g[free]
        act = ((x[free] <= lo) & (gf > 0)) | ((x[free] >= hi) & (gf < 0))
        use = np.zeros(fm.npars, bool)
        use[free[~act]] = True
        use[poi] = False
        hs = self.structure
        # the last Newton step's exact system, if it took one (_last_state set _last)
        system = self._last[4] if self._last is not None else None
        with single_thread_blas():
            if system is not None:
                slope = -system[0](system[1](poi))
            else:
                slope = -hs.solve(J, c, d, (c * J[:, poi]) @ J, use)
        slope[poi] = 1.0
        return slope

    def fisher_poi_sigma(self, pars: np.ndarray, data: FitData) -> float:
        """sqrt([I^-1]_mu,mu): the POI's standard deviation from the expected information.

        On the Asimov data set this is the sigma of arXiv:1007.1727 (Sec. 3.2, Eq. 28).

        Args:
            pars: where the information is evaluated.
            data: the data set.

        Returns:
            sigma (nan when the information is singular or the rates are invalid).
        """
        fm = self.fm
        nll, g, J, c, d = fm.nll_grad_jac(pars, data)
        if g is None or J is None or c is None or d is None:  # all None together
            return math.nan
        use = ~fm.fixed.copy()
        e = np.zeros(fm.npars)
        e[fm.poi_index] = 1.0
        try:
            with single_thread_blas():
                var = float(self.structure.solve(J, c, d, e, use)[fm.poi_index])
        except np.linalg.LinAlgError:
            return math.nan
        return math.sqrt(var) if var > 0 else math.nan

    # One function on purpose: the Gauss-Newton / exact-Newton switch, the damping and the
    # line search share the iterate's state step by step; a 20-line docstring explains them.
    def _newton(self, data: FitData, start: np.ndarray, free: np.ndarray, lo: np.ndarray,
                hi: np.ndarray, maxiter: int = NEWTON_MAXITER, solver: str | None = None,
                tol: float = NEWTON_TOL) -> tuple[np.ndarray, float] | None:
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

        ``solver`` (default the fitter's): ``"structured"`` solves each step in
        O(B^2 n_kg + B n_kl + B^3 + n_u^3) (:mod:`emiss.inference.structured`), ``"dense"``
        forms H and solves it in O(P^3); both take the same steps up to rounding. The
        structured solver switches to Newton steps on the exact Hessian (quadratic convergence;
        ``HessianStructure.exact_system``) once the decrement falls by less than
        ``EXACT_SWITCH`` per step or a line search fails, and back to Gauss-Newton where the
        exact Hessian is not positive definite.
        """
        fm = self.fm
        structured = (solver or self.solver) == "structured"
        # a tuple (nll, grad, ...): evaluate_jac's (structured) or nll_grad_hess's (dense)
        evaluate: Callable[[np.ndarray, FitData], tuple] = (
            fm.evaluate_jac if structured else fm.nll_grad_hess)
        hs = self.structure if structured else None
        exact = False  # Gauss-Newton first; exact Newton once it converges slowly
        can_exact = hs is not None and hs.exact_ok
        prev_dec = math.inf
        system = None
        x = start.copy()
        state = evaluate(x, data)
        nll, g = state[0], state[1]
        if not math.isfinite(nll):
            return None
        use = np.zeros(fm.npars, bool)
        damp = 0.0
        for _ in range(maxiter):
            self.niter += 1
            xf, gf = x[free], g[free]
            act = ((xf <= lo) & (gf > 0)) | ((xf >= hi) & (gf < 0))
            idx = free[~act]
            step = np.zeros_like(x)
            if idx.size and hs is not None:  # structured
                use[:] = False
                use[idx] = True
                system = hs.exact_system(fm, state, use, 1e-12 + damp) if exact else None
                if exact and system is None:
                    self.n_indefinite += 1
                try:
                    if system is not None:  # Newton step on the exact Hessian
                        step = -system[0](g)
                    else:  # not positive definite here: Gauss-Newton step
                        step = -hs.solve(state[2], state[3], state[4], g, use, 1e-12 + damp)
                except np.linalg.LinAlgError:
                    return None
            elif idx.size:
                H = state[2]
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
            if dec < tol and damp == 0.0:
                self._last = (x, data, free, state if structured else None, system)
                return x, 2.0 * nll
            if can_exact and not exact and dec > EXACT_SWITCH * prev_dec:
                exact = True  # Gauss-Newton converges slowly (large residuals): exact steps
            prev_dec = dec
            sf = step[free]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                room = np.where(sf < 0, (lo - xf) / sf, np.where(sf > 0, (hi - xf) / sf, np.inf))
            t = min(1.0, float(np.min(room))) if room.size else 1.0
            if t <= 1e-8:
                t = 1.0  # a bound already (nearly) hit: the clip below projects
            for _ in range(NEWTON_BACKTRACK):
                xn = x.copy()
                xn[free] = np.clip(xf + t * sf, lo, hi)
                staten = evaluate(xn, data)
                nlln = staten[0]
                if math.isfinite(nlln) and nlln <= nll - 1e-4 * t * dec:
                    break
                t *= 0.25
            else:
                if dec < NEWTON_TOL_FLOOR:  # converged to rounding
                    self._last = (x, data, free, state if structured else None, system)
                    return x, 2.0 * nll
                exact = can_exact
                # the quadratic model is poor here: shrink the trust region and retry
                damp = 1.0 if damp == 0.0 else damp * 10.0
                if damp > 1e6:
                    return None
                continue
            x, state = xn, staten
            nll, g = state[0], state[1]
            damp = damp * 0.1 if damp > 1e-3 else 0.0
        return None

    def _minimize(self, data: FitData, start: np.ndarray, free: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, method: str, tol: float = NEWTON_TOL
                  ) -> tuple[np.ndarray, float] | None:
        fm = self.fm
        self.nfits += 1
        if method in ("newton", "newton-dense"):
            res = self._newton(data, start, free, lo, hi,
                               solver="dense" if method == "newton-dense" else None, tol=tol)
            if res is not None:
                return res  # 2 nll of the last evaluation = fm.twice_nll(res[0], data)
            log.debug("%s fit did not converge; trying the next strategy", method)
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

    The reference algorithm (engine ``"reference"``): anchor fits from several starts, secant
    root finding of each limit on profile fits (:func:`_solve_increasing`). The fast engine's
    :class:`ProfileLimits` finds the same roots with fewer fits.

    Args:
        fm: compiled model.
        warm_start: state of a neighbouring hypothesis (see :meth:`warm_state`), or None.
        solver: the Newton steps' linear algebra (:class:`Fitter`).
    """

    def __init__(self, fm: FastModel, warm_start: dict | None = None,
                 solver: str = "structured") -> None:
        self.fm = fm
        self.fitter = Fitter(fm, solver=solver)
        self.data = fm.observed_data()
        self.poi = fm.poi_index
        self._warm = self._map_warm(warm_start)
        # mu -> [pars, -2 ln L] of the conditional fits (the fast engine appends d/d mu, the
        # first-order slope and the fit's state: ProfileLimits._cond_d)
        self._cache: dict[str, dict[float, list]] = {"obs": {}, "asimov": {}}
        self.fitter.set_poi_scale(self._warm.get("sigma", 0.0))
        self._anchor_fits()

    def _anchor_fits(self) -> None:
        """The free and the mu = 0 fits to the observed data, the Asimov data set."""
        fm = self.fm
        # anchor fits from several starts (the likelihood need not be convex: code-4p
        # polynomials); the lowest minimum wins
        self.free_pars, self.free_tnll = self._best_fit(None, [self._warm.get("free"), None])
        self.mu_hat = float(self.free_pars[self.poi])
        self.cond0_pars, self.cond0_tnll = self._best_fit(
            0.0, [self._warm.get("cond0"), None, self.free_pars])
        self._cache["obs"][0.0] = [self.cond0_pars, self.cond0_tnll]
        self.asimov = fm.asimov_data(self.cond0_pars)
        # the free fit to the Asimov data is solved exactly by the generating parameters
        # (every Poisson and constraint term is at its maximum there)
        self.asimov_min = fm.twice_nll(self.cond0_pars, self.asimov)
        self._cache["asimov"][0.0] = [self.cond0_pars, self.asimov_min]

    def _best_fit(self, poi_value: float | None, starts: list) -> tuple[np.ndarray, float]:
        best = None
        tried: list[np.ndarray | None] = []
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
        cache[mu] = [pars, tnll]
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

    def cls_curve(self, mus: list[float]) -> tuple[list[float], list[list[float]]]:
        """Observed and expected CLs on a grid of mu (a Brazil plot of CLs versus mu).

        Each point costs one Asimov fit and, where mu_hat <= mu, one fit to the observed data
        (both started from the nearest fit already made).

        Args:
            mus: mu values (> 0).

        Returns:
            (CLs_obs per mu, CLs_exp per mu: 5 values for n_sigma = 2, 1, 0, -1, -2, i.e. the
            CLs of the expected limits -2s ... +2s, pyhf's ``return_expected_set`` order).
        """
        return ([self.cls_obs(m) for m in mus], [self.cls_exp(m) for m in mus])

    def limits(self, alpha: float, expected: bool = True) -> tuple[float, list[float]]:
        """Observed and expected (5) upper limits on mu at CLs = alpha.

        Args:
            alpha: 1 - confidence level (0.05 for 95 % CL).
            expected: False: the observed limit only (the expected limits are NaN).

        Returns:
            (observed, [-2s, -1s, median, +1s, +2s]).
        """
        sigma = self._sigma_guess()
        if not expected:
            target = float(norm.isf(alpha))
            x0 = max(self.mu_hat, 0.0) + 0.85 * float(norm.isf(0.5 * alpha)) * sigma
            self.sigma = sigma
            return _solve_increasing(self._zcls, target, x0), [math.nan] * 5
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
        x0 = max(self.mu_hat, 0.0) + exp[2] * 0.85
        obs = _solve_increasing(self._zcls, target, x0)
        return obs, exp

    def _zcls(self, mu: float) -> float:
        """z(mu) = Phi^-1(1 - CLs_obs(mu)), increasing with mu."""
        c = self.cls_obs(mu)
        return float(norm.isf(min(max(c, 1e-300), 1.0)))

    def discovery(self) -> tuple[float, float]:
        """Discovery p-value and significance from q0 (arXiv:1007.1727, Eqs. 12 and 53).

        Returns:
            (p0, Z).
        """
        q0 = max(self.cond0_tnll - self.free_tnll, 0.0) if self.mu_hat >= 0 else 0.0
        z = math.sqrt(q0)
        return float(ndtr(-z)), float(z)


class ProfileLimits(AsymptoticLimits):
    """The fast engine's asymptotic CLs limits: the reference's formulae, far fewer fits.

    The same quantities as :class:`AsymptoticLimits` (pyhf 0.7.6's AsymptoticCalculator with
    q~_mu; arXiv:1007.1727), the same fits (the structured Gauss-Newton fitter, converged to
    the same tolerance); only the search for the roots changes:

    * anchor fits from one start each: the neighbouring hypothesis' optimum (warm start), else
      the model's inits (mu = 0 fit) and the mu = 0 optimum (free fit); when -2 ln L rises into
      mu > 0 at the mu = 0 optimum (POI lower bound 0) that optimum is the bounded free fit
      (its optimality conditions hold), no second fit; a conditional minimum below the free one
      (a local minimum) triggers a free refit from it;
    * every profile fit also gives d(-2 ln L)/d mu, exactly: at the conditional optimum the
      derivative of the profile likelihood is the partial derivative (envelope theorem), so
      each limit is the Newton root of a nearly linear function of mu (sqrt(q_mu,A) for the
      expected band, Phi^-1(1 - CLs) for the observed limit), accepted when the predicted error
      of the last Newton step (its square times the curvature seen between fits) is below
      ``ROOT_RTOL``; a step that leaves the bracket falls back to bisection;
    * each fit starts on the first-order path of the profile, theta_hat + (d theta_hat/d mu)
      delta mu from the nearest fitted mu (the Gauss-Newton Hessian's response);
    * first guesses: the median expected limit sigma * t_0 with sigma from the Fisher
      information of the Asimov data set (arXiv:1007.1727, Eq. 28) scaled by the neighbouring
      hypothesis' ratio, the other bands extrapolated from the fitted ones, the observed limit
      from the Wald approximation (Eqs. 64-66: mu_hat + sigma(mu) Phi^-1(1 - alpha Phi(mu_hat /
      sigma))) with sigma(mu) = mu / sqrt(q_mu,A) interpolated between the fitted points.

    A Newton search that fails falls back to the reference root finding on the same cached
    fits.
    """

    def _anchor_fits(self) -> None:
        fm = self.fm
        fit = self.fitter
        x0 = self._warm.get("cond0")
        self.cond0_pars, self.cond0_tnll = fit.fit(self.data, 0.0, x0)
        deriv0 = fit.poi_derivative()
        entry0 = [self.cond0_pars, self.cond0_tnll, deriv0, fit.poi_slope(), None]
        lo = float(fm.bounds[self.poi, 0])
        if lo == 0.0 and deriv0 >= 0.0:
            # -2 ln L rises into mu > 0: the mu = 0 optimum satisfies the bounded free fit's
            # optimality conditions (mu on its lower bound 0), so it is the free fit
            self.free_pars, self.free_tnll = self.cond0_pars.copy(), self.cond0_tnll
        else:
            start = self._warm.get("free")
            self.free_pars, self.free_tnll = fit.fit(
                self.data, None, self.cond0_pars if start is None else start)
            if self.cond0_tnll < self.free_tnll - 1e-9:  # the free fit found a local minimum
                log.info("free fit above the mu = 0 fit by %.3g: refitting from there",
                         self.free_tnll - self.cond0_tnll)
                self.free_pars, self.free_tnll = fit.fit(self.data, None, self.cond0_pars)
        self.mu_hat = float(self.free_pars[self.poi])
        self._cache["obs"][0.0] = entry0
        self.asimov = fm.asimov_data(self.cond0_pars)
        self.asimov_min = fm.twice_nll(self.cond0_pars, self.asimov)
        # on its own Asimov data the generating point has zero gradient: d q_A / d mu = 0
        self._cache["asimov"][0.0] = [self.cond0_pars, self.asimov_min, 0.0,
                                      fit.poi_slope(self.cond0_pars, self.asimov), None]
        self.sigma_fisher = fit.fisher_poi_sigma(self.cond0_pars, self.asimov)

    def _map_warm(self, ws: dict | None) -> dict:
        if not ws or not isinstance(ws.get("free"), list):
            return super()._map_warm(ws)  # the reference engine's state (by name)
        fm = self.fm
        same = ws.get("par_names") == fm.par_names
        index = {} if same else {n: i for i, n in enumerate(ws.get("par_names") or [])}

        def vec(values: list) -> np.ndarray:
            v = np.asarray(values, float)
            if same:
                return v
            x = fm.init.copy()
            for j, n in enumerate(fm.par_names):
                i = index.get(n)
                if i is not None:
                    x[j] = v[i]
            return x

        out: dict[str, Any] = {"free": vec(ws["free"]), "cond0": vec(ws["cond0"])}
        if isinstance(ws.get("sigma"), (int, float)) and ws["sigma"] > 0:
            out["sigma"] = float(ws["sigma"])
        lim = ws.get("limits")
        if isinstance(lim, dict):
            vals = [lim.get("obs"), *(lim.get("exp") or []), lim.get("sigma_fisher")]
            if len(vals) == 7 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                      and v > 0 for v in vals):
                out["limits"] = vals
            obs_only = [lim.get("obs"), lim.get("sigma_fisher")]
            if all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0
                   for v in obs_only):
                out["limit_obs"] = obs_only
        fits = ws.get("fits")
        if isinstance(fits, dict):
            out["fits"] = {k: [(float(m), vec(x)) for m, x in fits.get(k, [])]
                           for k in ("obs", "asimov")}
        return out

    def warm_state(self) -> dict:
        """JSON-serialisable state for the next (neighbouring) hypothesis: the optima of the
        anchor and profile fits (lists in ``par_names`` order), sigma and the limits."""
        out: dict[str, Any] = {
            "par_names": list(self.fm.par_names),
            "free": self.free_pars.tolist(), "cond0": self.cond0_pars.tolist(),
            "sigma": float(self.sigma) if getattr(self, "sigma", None) else None,
            "fits": {k: [[m, e[0].tolist()] for m, e in sorted(self._cache[k].items()) if m > 0]
                     for k in ("obs", "asimov")},
        }
        lim = getattr(self, "_limits", None)
        if lim is not None and math.isfinite(self.sigma_fisher):
            out["limits"] = {"obs": lim[0], "exp": list(lim[1]),
                             "sigma_fisher": self.sigma_fisher}
        return out

    # -- profile fits with derivatives
    def _cond_d(self, which: str, mu: float) -> tuple[float, float]:
        """(-2 ln L at the conditional optimum, its derivative in mu) on "obs" or "asimov"."""
        cache = self._cache[which]
        if mu in cache:
            e = cache[mu]
            return e[1], e[2]
        near = min(cache, key=lambda m: abs(m - mu))
        entry = cache[near]
        if entry[3] is None:  # the slope of a fit that had not been a start point yet
            entry[3] = self.fitter.poi_slope(last=entry[4])
            entry[4] = None
        x0 = entry[0] + (mu - near) * entry[3]
        data = self.data if which == "obs" else self.asimov
        warm = self._warm.get("fits", {}).get(which)
        if warm and abs(near - mu) > 1e-3 * abs(mu):
            # the neighbouring hypothesis' optimum at the nearest mu, if it fits better
            wx = min(warm, key=lambda e: abs(e[0] - mu))[1].copy()
            wx[self.poi] = mu
            if self.fm.twice_nll(wx, data) < self.fm.twice_nll(
                    np.clip(x0, self.fm.bounds[:, 0], self.fm.bounds[:, 1]), data):
                x0 = wx
        fit = self.fitter
        x, tnll = fit.fit(data, mu, x0, tol=LIMIT_FIT_TOL)
        cache[mu] = [x, tnll, fit.poi_derivative(), None, fit.last_fit()]
        return tnll, cache[mu][2]

    def _cond(self, which: str, mu: float) -> float:
        return self._cond_d(which, mu)[0]

    def _sqa_d(self, mu: float) -> tuple[float, float]:
        """sqrt(q_mu,A) and its derivative in mu."""
        t, d = self._cond_d("asimov", mu)
        f = math.sqrt(max(t - self.asimov_min, 0.0))
        return f, (0.5 * d / f if f > 0 else math.inf)

    def _zobs_d(self, mu: float) -> tuple[float, float]:
        """z(mu) = Phi^-1(1 - CLs_obs(mu)) and its derivative in mu (cls_obs's formulae)."""
        sqa, dsqa = self._sqa_d(mu)
        sq = dsq = 0.0
        if self.mu_hat <= mu:
            t, d = self._cond_d("obs", mu)
            sq = math.sqrt(max(t - self.free_tnll, 0.0))
            dsq = 0.5 * d / sq if sq > 0 else 0.0
        if sq <= sqa:
            tt, dt = sq - sqa, dsq - dsqa
        else:
            tt = (sq * sq - sqa * sqa) / (2.0 * sqa)
            dt = (sq * dsq - sqa * dsqa) / sqa - tt * dsqa / sqa
        a, b = -(tt + sqa), -tt
        la, lb = float(log_ndtr(a)), float(log_ndtr(b))
        lncls = la - lb
        dln = -_mills(a, la) * (dt + dsqa) + _mills(b, lb) * dt
        z = -float(ndtri(min(max(math.exp(lncls), 1e-300), 1.0)))
        dz = -math.exp(lncls + 0.5 * z * z + _LOG_SQRT_2PI) * dln
        return z, dz

    # -- limits
    def _band_guess(self, target: float, sigma: float) -> float:
        """First guess of the mu where sqrt(q_mu,A) = target, from the fitted Asimov points."""
        pts = [(m, *self._sqa_d(m)) for m in self._cache["asimov"] if m > 0]
        if not pts:
            return target * sigma
        m, f, d = min(pts, key=lambda p: abs(p[1] - target))
        if not (math.isfinite(d) and d > 0):
            return target * m / f if f > 0 else target * sigma
        step = (target - f) / d
        others = [p for p in pts if p[0] != m]
        if others:  # second-order correction with the curvature between fitted points
            m2, _, d2 = min(others, key=lambda p: abs(p[0] - m))
            k = (d - d2) / (m - m2)
            disc = d * d + 2.0 * k * (target - f)
            if k != 0 and disc > 0:
                step = 2.0 * (target - f) / (d + math.sqrt(disc))
        return max(m + step, 0.1 * m)

    def _sigma_at(self, mu: float) -> float:
        """sigma(mu) = mu / sqrt(q_mu,A), interpolated linearly between the fitted points."""
        pts = sorted((m, m / self._sqa_d(m)[0]) for m in self._cache["asimov"] if m > 0)
        ms, ss = zip(*pts, strict=True)
        return float(np.interp(mu, ms, ss))

    def limits(self, alpha: float, expected: bool = True) -> tuple[float, list[float]]:
        """Observed and expected (5) upper limits on mu at CLs = alpha.

        Args:
            alpha: 1 - confidence level (0.05 for 95 % CL).
            expected: False: the observed limit only (the expected limits are NaN); its
                Newton search starts from the Wald guess with the Fisher sigma.

        Returns:
            (observed, [-2s, -1s, median, +1s, +2s]).
        """
        try:
            obs, exp = self._newton_limits(alpha, expected)
        except (FitFailure, ValueError, ZeroDivisionError, OverflowError) as exc:
            log.info("Newton limit search failed (%s); reference root finding", exc)
            obs, exp = super().limits(alpha, expected)
        self._limits = (float(obs), [float(e) for e in exp])
        return obs, exp

    def _newton_observed(self, alpha: float, sigma: float) -> float:
        """The observed limit alone: Newton on z(mu) from the Wald guess (arXiv:1007.1727,
        Eqs. 64-66, with the Fisher sigma) or the neighbour's ratio limit / sigma."""
        warm = self._warm.get("limit_obs")
        mh = max(self.mu_hat, 0.0)
        if warm is not None:
            x0 = warm[0] * sigma / warm[1]
        else:
            x0 = mh - sigma * float(ndtri(alpha * ndtr(mh / sigma)))
        obs = _newton_root(self._zobs_d, -float(ndtri(alpha)), x0, [])
        near = min((m for m in self._cache["asimov"] if m > 0), key=lambda m: abs(m - obs))
        self.sigma = near / self._sqa_d(near)[0]
        return obs

    def _newton_limits(self, alpha: float, expected: bool = True
                       ) -> tuple[float, list[float]]:
        sigma = self.sigma_fisher
        if not (math.isfinite(sigma) and sigma > 0):
            sigma = self._sigma_guess()
        if not expected:
            return self._newton_observed(alpha, sigma), [math.nan] * 5
        warm = self._warm.get("limits")
        targets = {n: -float(ndtri(alpha * ndtr(-n))) - n for n in NSIGMA}
        exp: dict[float, float] = {}
        for k, n in sorted(enumerate(NSIGMA), key=lambda kn: abs(kn[1])):
            if warm is not None:  # the neighbour's ratio limit / sigma
                x0 = warm[1 + k] * sigma / warm[6]
            elif not exp:
                x0 = targets[n] * sigma
            else:
                x0 = self._band_guess(targets[n], sigma)
            exp[n] = _newton_root(lambda m: self._sqa_d(m), targets[n], x0,
                                  [(m, *self._sqa_d(m)) for m in self._cache["asimov"] if m > 0])
        near = min((m for m in self._cache["asimov"] if m > 0), key=lambda m: abs(m - exp[0.0]))
        self.sigma = near / self._sqa_d(near)[0]
        # observed: Wald first guess, then Newton on z(mu) = Phi^-1(1 - CLs)
        mh = max(self.mu_hat, 0.0)
        if warm is not None:
            x0 = warm[0] * sigma / warm[6]
        else:
            x0 = exp[0.0] + mh
            for _ in range(4):
                s = self._sigma_at(x0)
                x0 = mh - s * float(ndtri(alpha * ndtr(mh / s)))
        obs = _newton_root(self._zobs_d, -float(ndtri(alpha)), x0, [])
        return obs, [exp[n] for n in NSIGMA]


_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _mills(x: float, log_cdf: float) -> float:
    """phi(x) / Phi(x) from log Phi(x) (stable in both tails)."""
    return math.exp(-0.5 * x * x - _LOG_SQRT_2PI - log_cdf)


def _curvature(pts: list[tuple[float, float, float]], x: float, v: float, d: float) -> float:
    """A bound on |f''| near x from the nearest other point (value and slope), at least
    2 % of |f'| / x (nearly linear functions of mu) and |f'| / x without another point."""
    floor = 0.02 * abs(d) / abs(x)
    near = [p for p in pts if p[0] != x]
    if not near:
        return abs(d) / abs(x)
    xa, va, da = min(near, key=lambda p: abs(p[0] - x))
    h = xa - x
    k1 = abs(da - d) / abs(h)
    k2 = 2.0 * abs(va - v - d * h) / (h * h)
    return max(k1, k2, floor)


def _newton_root(fun: Callable[[float], tuple[float, float]], target: float, x0: float,
                 history: list[tuple[float, float, float]], rtol: float = ROOT_RTOL,
                 maxiter: int = 40) -> float:
    """Root of fun(x) = target for an increasing, nearly linear fun on x > 0 with its slope.

    Newton steps from x0, safeguarded by bisection once bracketed; the root is accepted when
    the predicted error of the last Newton step, |f''| dx^2 / (2 f'), is below rtol * x
    (|f''| from :func:`_curvature`) and the step is below 1 %.

    Args:
        fun: x -> (f(x), f'(x)).
        target: value to reach.
        x0: first guess (> 0).
        history: known (x, f, f') points (for the curvature).
        rtol: relative tolerance on x.
        maxiter: evaluation limit.

    Returns:
        x with f(x) = target.

    Raises:
        FitFailure: no convergence.
    """
    pts = list(history)
    lo = hi = None
    x = max(float(x0), 1e-12)
    for _ in range(maxiter):
        v, d = fun(x)
        gap = v - target
        if gap == 0:
            return x
        if gap < 0 and (lo is None or x > lo):
            lo = x
        if gap > 0 and (hi is None or x < hi):
            hi = x
        xn = None
        if math.isfinite(d) and d > 0:
            step = -gap / d
            xn = x + step
            inside = (lo is None or xn > lo) and (hi is None or xn < hi) and xn > 0
            kappa = _curvature(pts, x, v, d)
            if inside and abs(step) <= 0.01 * x and 0.5 * kappa * step * step / d <= rtol * xn:
                return xn
            if not inside:
                xn = None
        pts.append((x, v, d))
        if lo is not None and hi is not None and hi - lo <= rtol * hi:
            return 0.5 * (lo + hi)
        if xn is None:
            if lo is not None and hi is not None:
                xn = 0.5 * (lo + hi)
            else:
                xn = x * (2.0 if gap < 0 else 0.5)
        elif lo is None or hi is None:
            xn = min(max(xn, 0.2 * x), 5.0 * x)
        x = xn
    raise FitFailure(f"Newton root finding did not converge near {x:g}")


def _solve_increasing(f: Callable[[float], float], target: float, x0: float,
                      rtol: float = ROOT_RTOL, maxiter: int = 60) -> float:
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


#: Engines of :func:`fast_analyse`: (limits class, Newton solver).
FAST_ENGINES = {"fast": ("profile", "structured"), "reference": ("reference", "dense")}


#: Points of a hypothesis' CLs curve (``cls_curve_grid``).
CLS_CURVE_POINTS = 12
#: The curve's grid ends at this factor times the highest of the observed and expected limits.
CLS_CURVE_SPAN = 1.25
#: Significant digits of the curve's mu values (the CLs are computed at the rounded values).
CLS_CURVE_DIGITS = 4


def cls_curve_grid(obs: float, exp: list[float], points: int = CLS_CURVE_POINTS) -> list[float]:
    """The mu grid of a CLs curve: ``points`` equal steps up to beyond every limit.

    mu_k = k / points * CLS_CURVE_SPAN * max(observed, expected limits), k = 1 ... points,
    rounded to CLS_CURVE_DIGITS significant digits (distinct: the steps are wider than that),
    so the curves cross CLs = 1 - CL inside the grid and mu = 0 (where the asymptotic
    q~_mu is 0/0 for mu_hat = 0) is left out.

    Args:
        obs: observed limit on mu.
        exp: expected limits on mu (NaN entries ignored).
        points: grid points (>= 2).

    Returns:
        The increasing grid (empty when no limit is a positive number).
    """
    lims = [v for v in (obs, *exp) if v is not None and math.isfinite(v) and v > 0]
    if not lims:
        return []
    top = CLS_CURVE_SPAN * max(lims)
    return [round_sig(top * k / points, CLS_CURVE_DIGITS, flush=False)
            for k in range(1, points + 1)]


def fast_analyse(fm: FastModel, *, cl: float = 0.95, warm_start: dict | None = None,
                 engine: str = "fast", observed_only: bool = False,
                 cls_points: int = 0) -> dict[str, Any]:
    """Row of one hypothesis with the fast engine (same keys as ``reference_analyse``).

    Args:
        fm: compiled model.
        cl: confidence level.
        warm_start: state from a neighbouring hypothesis or None.
        engine: ``"fast"`` (:class:`ProfileLimits`, structured Newton steps) or
            ``"reference"`` (the previous engine: :class:`AsymptoticLimits` with dense Newton
            steps).
        observed_only: skip the expected limits (``mu_limit_exp`` NaN).
        cls_points: > 0: also the CLs curve on ``cls_curve_grid`` of that many points
            (``"cls_curve"``: {"mu", "cls_obs", "cls_exp"}); its fits come after the warm-start
            state is taken, so the limits do not depend on it. The expected CLs need only the
            Asimov fits the observed CLs need too, so they are there with ``observed_only``.

    Returns:
        Row dict plus ``"warm_start"`` (state for the next hypothesis).
    """
    if engine not in FAST_ENGINES:
        raise ValueError(f"engine {engine!r} is unknown; valid: {', '.join(FAST_ENGINES)}")
    try:
        with single_thread_blas():
            return _fast_analyse(fm, cl, warm_start, engine, observed_only, cls_points)
    except Exception as exc:  # reported per hypothesis, never dropped
        log.warning("fast analysis failed: %s", exc)
        row = failed_row(f"failed: {type(exc).__name__}: {exc}")
        row["warm_start"] = None
        return row


def _fast_analyse(fm: FastModel, cl: float, warm_start: dict | None, engine: str,
                  observed_only: bool = False, cls_points: int = 0) -> dict[str, Any]:
    """The body of :func:`fast_analyse` (exceptions propagate)."""
    algorithm, solver = FAST_ENGINES[engine]
    cls = ProfileLimits if algorithm == "profile" else AsymptoticLimits
    calc = cls(fm, warm_start, solver=solver)
    row = failed_row("failed")
    row["mu_hat"] = calc.mu_hat
    row["mu_upper_bound"] = float(fm.bounds[fm.poi_index, 1])
    row["twice_nll"] = float(calc.free_tnll)
    p0, z = calc.discovery()
    row["p0"], row["Z"] = p0, z
    obs, exp = calc.limits(1.0 - cl, expected=not observed_only)
    row["mu_limit_obs"] = float(obs)
    row["mu_limit_exp"] = [float(e) for e in exp]
    row["status"] = "ok"
    row["warm_start"] = calc.warm_state()
    if cls_points > 0:
        mus = cls_curve_grid(obs, [] if observed_only else exp, cls_points)
        c_obs, c_exp = calc.cls_curve(mus)
        row["cls_curve"] = {"mu": mus, "cls_obs": c_obs, "cls_exp": c_exp}
    row["warm_start"]["nfits"] = calc.fitter.nfits
    row["warm_start"]["niter"] = calc.fitter.niter
    row["warm_start"]["fallbacks"] = len(calc.fitter.fallbacks)
    return row
