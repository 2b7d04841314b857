"""Toy-based (frequentist) CLs, upper limits and discovery p-values on the fast engine.

The procedure is pyhf 0.7.6's ``ToyCalculator`` (pyhf/infer/calculators.py), which follows the
LHC Higgs combination procedure (ATLAS & CMS, ATL-PHYS-PUB-2011-011, Sec. 2.3):

* test statistic q~_mu (arXiv:1007.1727, Eq. 16; 0 when mu_hat > mu, mu_hat >= 0 by the POI
  bounds) for limits, q0 (Eq. 12) for discovery;
* signal+background toys are generated at (mu, theta_hat_mu), background toys at
  (0, theta_hat_0) (for q0: at mu = 0 and at mu = 1), both conditional fits to the observed data;
  auxiliary data are fluctuated with the constraint terms (``Model.make_pdf(pars).sample``);
* p-values are the fractions of toys with a test statistic >= the observed one;
  CLs = CLs+b / CLb (Read, J. Phys. G 28 (2002) 2693);
* the expected band: CLs evaluated at each background toy's test statistic, then its
  2.275, 15.87, 50, 84.13, 97.72 percentiles (pyhf's ``expected_pvalues``);
* upper limits: CLs on a grid of mu, interpolated linearly where CLs crosses 1 - CL (pyhf's
  ``linear_grid_scan``); every grid point uses the same seed (common random numbers), so the
  CLs curve is smooth in mu.

All toys of one hypothesis are fitted together by the vectorised fitter
(:mod:`emiss.inference.batch`). The binomial Monte-Carlo error of CLs (propagated from CLs+b
and CLb, treated as independent) is reported with each hypothesis test.

:func:`background_teststats` (q0 and q~_mu of background-only toys, each refitted three ways)
uses :class:`ToyFitter`: Gauss-Newton steps with a new Jacobian far from the optimum,
quasi-Newton steps on a kept Gauss-Newton system near it (only gradients evaluated), the three
fits of a toy chained (each starts from the system of the one before).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import norm

from emiss.errors import EmissError
from emiss.inference.batch import BATCH_BACKTRACK, BatchData, BatchFitter, BatchModel
from emiss.inference.fastmodel import FastModel
from emiss.inference.structured import BlockSystem, structure_of

log = logging.getLogger(__name__)

#: pyhf's percentiles of the expected band (-2, -1, 0, +1, +2 sigma of a normal).
EXP_PERCENTILES = (2.27501319, 15.86552539, 50.0, 84.13447461, 97.72498681)
DEFAULT_NTOYS = 2000


def _pvalue(samples: np.ndarray, value: float | np.ndarray) -> np.ndarray:
    """Fraction of samples >= value (pyhf EmpiricalDistribution.pvalue), vectorised in value."""
    s = np.sort(samples)
    v = np.atleast_1d(np.asarray(value, float))
    return (s.size - np.searchsorted(s, v, side="left")) / s.size


class FastToyCalculator:
    """Toy-based hypothesis tests of one compiled hypothesis.

    Args:
        fm: compiled model (POI bounds as in the workspace; the lower bound must be 0).
        ntoys: toys per distribution.
        seed: seed; each tested mu uses ``default_rng([seed, k])`` with k the distribution.
        batch: toys fitted together.
    """

    def __init__(self, fm: FastModel, ntoys: int = DEFAULT_NTOYS, seed: int = 0,
                 batch: int = 500) -> None:
        from emiss import validate

        ntoys = validate.NTOYS.check(ntoys, "ntoys")
        seed = validate.SEED.check(seed, "seed")
        if fm.bounds[fm.poi_index, 0] != 0.0:
            raise EmissError("toy-based q~_mu needs the POI lower bound at 0 "
                             f"(have {fm.bounds[fm.poi_index, 0]})")
        from emiss.inference.fastlimits import Fitter

        self.fm = fm
        self.ntoys = int(ntoys)
        self.seed = int(seed)
        self.batch = int(batch)
        self.bm = BatchModel(fm)
        self.bfit = BatchFitter(fm)
        self.fitter = Fitter(fm)
        self.data = fm.observed_data()
        self.free_pars, self.free_tnll = self.fitter.fit(self.data)
        self.mu_hat = float(self.free_pars[fm.poi_index])
        self._cond: dict[float, tuple[np.ndarray, float]] = {}

    def cond_fit(self, mu: float) -> tuple[np.ndarray, float]:
        """Fit to the observed data with the POI fixed at mu (cached)."""
        if mu not in self._cond:
            x0 = self.free_pars.copy()
            x0[self.fm.poi_index] = mu
            self._cond[mu] = self.fitter.fit(self.data, mu, x0)
        return self._cond[mu]

    def _teststat(self, data: BatchData, mu: float, x0: np.ndarray, kind: str) -> np.ndarray:
        """q~_mu (kind "qtilde") or q0 (kind "q0", mu = 0) for N datasets."""
        xc, tc = self.bfit.fit(data, x0, poi_value=mu)
        xf, tf = self.bfit.fit(data, xc)
        mh = xf[:, self.fm.poi_index]
        t = np.maximum(tc - tf, 0.0)
        if kind == "q0":
            return np.where(mh < 0, 0.0, t)
        return np.where(mh > mu, 0.0, t)

    def observed_teststat(self, mu: float, kind: str = "qtilde") -> float:
        """The test statistic on the observed data."""
        _, tc = self.cond_fit(mu)
        t = max(tc - self.free_tnll, 0.0)
        if kind == "q0":
            return 0.0 if self.mu_hat < 0 else t
        return 0.0 if self.mu_hat > mu else t

    def distribution(self, mu_test: float, mu_gen: float, kind: str, stream: int) -> np.ndarray:
        """Test statistic at mu_test for toys generated at (mu_gen, theta_hat_mu_gen)."""
        gen, _ = self.cond_fit(mu_gen)
        rng = np.random.default_rng([self.seed, stream])
        out = []
        for start in range(0, self.ntoys, self.batch):
            n = min(self.batch, self.ntoys - start)
            x = np.tile(gen, (n, 1))
            toys = self.bm.sample_data(x, rng)
            x0 = x.copy()
            x0[:, self.fm.poi_index] = mu_test
            out.append(self._teststat(toys, mu_test, x0, kind))
        t = np.concatenate(out)
        return np.where(np.isfinite(t), t, 0.0)

    def hypotest(self, mu: float) -> dict[str, Any]:
        """Observed and expected CLs at mu with q~_mu.

        Args:
            mu: tested signal strength.

        Returns:
            {"CLs_obs", "CLs_obs_error", "CLsb", "CLb", "CLs_exp" (5, pyhf order), "qmu_obs"}.
        """
        q_obs = self.observed_teststat(mu)
        sb = self.distribution(mu, mu, "qtilde", 1)
        b = self.distribution(mu, 0.0, "qtilde", 2)
        clsb = float(_pvalue(sb, q_obs)[0])
        clb = float(_pvalue(b, q_obs)[0])
        cls = clsb / clb if clb > 0 else math.nan
        n = self.ntoys
        err = (math.sqrt(clsb * (1 - clsb) / n / clb**2 + clsb**2 * clb * (1 - clb) / n
                         / clb**4) if clb > 0 else math.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = _pvalue(sb, b) / _pvalue(b, b)
        exp = [float(v) for v in np.percentile(per, EXP_PERCENTILES)]
        return {"CLs_obs": cls, "CLs_obs_error": err, "CLsb": clsb, "CLb": clb,
                "CLs_exp": exp, "qmu_obs": q_obs}

    def discovery(self) -> dict[str, Any]:
        """Toy p0 of the observed q0 (null toys at mu = 0), its error and Z."""
        q_obs = self.observed_teststat(0.0, "q0")
        null = self.distribution(0.0, 0.0, "q0", 3)
        p0 = float(_pvalue(null, q_obs)[0])
        err = math.sqrt(max(p0 * (1 - p0), 1.0 / self.ntoys) / self.ntoys)
        return {"p0": p0, "p0_error": err, "q0_obs": q_obs,
                "Z": float(max(norm.isf(p0), 0.0)) if p0 > 0 else math.inf}

    def upper_limit(self, alpha: float, mu_grid: np.ndarray) -> tuple[float, list[float],
                                                                       list[dict]]:
        """Observed and expected limits by linear interpolation of CLs on a mu grid.

        Args:
            alpha: 1 - CL.
            mu_grid: increasing tested mu values (> 0).

        Returns:
            (observed, expected (5, pyhf order), the hypotest result per grid point).
        """
        res = [self.hypotest(float(m)) for m in mu_grid]
        obs = _interp_limit(mu_grid, [r["CLs_obs"] for r in res], alpha)
        exp = [_interp_limit(mu_grid, [r["CLs_exp"][i] for r in res], alpha) for i in range(5)]
        return obs, exp, res


#: -2 ln L tolerance of a toy fit (:class:`ToyFitter`): a fit stops when the Newton decrement
#: (the decrease of -2 ln L its quadratic model predicts) falls below it and reports the
#: model's minimum, the last -2 ln L minus the decrement. The test statistics of toys are
#: differences of two minima counted against the observed value; on Belle II's likelihood they
#: agree with fits converged to 1e-8 within 4e-5 (``scripts/bench_toys.py --belle2``), far below
#: any difference a p-value from N <= 10^6 toys resolves.
TOY_FIT_TOL = 3e-5
#: Newton decrement below which a toy fit keeps the Gauss-Newton system of its last Jacobian
#: and takes quasi-Newton steps that need only the gradient (see :class:`ToyFitter`).
TOY_FREEZE = 0.1
#: A frozen system is replaced (new Jacobian) when the decrement falls by less than this factor
#: in one step: its steps no longer follow the quadratic model, nor can its decrement be trusted
#: to stop the fit.
TOY_REFRESH_RATIO = 0.3
#: Curvature pairs (steps and gradient changes) of the quasi-Newton update.
TOY_MEMORY = 2
#: Datasets fitted together (their arrays stay in the processor's cache).
TOY_CHUNK = 128
#: Steps after which a fit that has not converged goes to the scalar fitter.
TOY_MAXITER = 40
#: A fit whose decrement falls by less than TOY_SLOW_RATIO in a step on a new Jacobian near the
#: optimum (decrement below TOY_FREEZE) stops only at TOY_STRICT x the tolerance: the
#: Gauss-Newton model misses curvature there and its decrement underestimates the distance to
#: the minimum (on Belle II's likelihood: flat valleys of correlated background
#: normalisations). A second such step, or from iteration TOY_SLOW_AFTER on a decrement falling
#: by less than TOY_STALL_RATIO per step, sends it to the scalar fitter (exact-Hessian Newton
#: steps, converged to its own tolerance).
TOY_SLOW_RATIO = 0.5
TOY_STRICT = 0.05
TOY_SLOW_AFTER = 10
TOY_STALL_RATIO = 0.7

_JAC_KEYS = ("JG", "JL", "c", "dG", "dL")
#: New Jacobians of some rows of a chunk: (row positions, their ``BatchModel.blocks`` pieces).
_Fresh = list[tuple[np.ndarray, dict[str, np.ndarray]]]


def _take_data(d: BatchData, idx: Any) -> BatchData:
    """Datasets idx of d (as ``BatchData.take``, reusing their constant terms)."""
    out = object.__new__(BatchData)
    out.main, out.n_aux, out.p_aux = d.main[idx], d.n_aux[idx], d.p_aux[idx]
    out.main_const, out.p_const = d.main_const[idx], d.p_const[idx]
    return out


@dataclass
class ToyFitState:
    """The end points of N fits: parameters, -ln L, gradient (in the fitter's block order) and
    the factorised Gauss-Newton system of each fit's last Jacobian (a later fit of the same
    datasets starts from it without a new Jacobian)."""

    x: np.ndarray
    nll: np.ndarray
    g: np.ndarray
    system: BlockSystem

    def take(self, idx: Any) -> ToyFitState:
        """The states of rows idx (a copy)."""
        return ToyFitState(self.x[idx], self.nll[idx], self.g[idx], self.system.take(idx))

    def put(self, idx: Any, other: ToyFitState) -> None:
        """Overwrite rows idx with ``other``."""
        self.x[idx], self.nll[idx], self.g[idx] = other.x, other.nll, other.g
        self.system.put(idx, other.system)

    @classmethod
    def concat(cls, states: Sequence[ToyFitState]) -> ToyFitState:
        """One state holding the rows of ``states`` in order (the only one, not a copy)."""
        if len(states) == 1:
            return states[0]
        return cls(np.concatenate([s.x for s in states]), np.concatenate([s.nll for s in states]),
                   np.concatenate([s.g for s in states]),
                   BlockSystem.concat([s.system for s in states]))


class _Box(NamedTuple):
    """The bounds of a fit: the free parameters (block order), the lower and upper bounds
    (parameter order, infinite for fixed parameters) and the bounds in block order."""

    free: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lob: np.ndarray
    hib: np.ndarray


@dataclass(eq=False)
class _Rows:
    """The rows of one chunk still iterating in :meth:`ToyFitter._fit_rows`.

    Attributes:
        rows: each row's position in the chunk.
        data: their datasets.
        x, nll, g: parameters, -ln L and gradient (block order).
        damp: Levenberg damping.
        frozen: the system is kept (quasi-Newton steps, only gradients evaluated).
        system: the factorised Gauss-Newton systems; sys_use: the parameters they solve for.
        rtol: tolerance (stricter after a slow step); prev_dec: the last decrement.
        S, Y, rho: the curvature pairs, newest first: (m, n, P), (m, n, P), (m, n).
    """

    rows: np.ndarray
    data: BatchData
    x: np.ndarray
    nll: np.ndarray
    g: np.ndarray
    damp: np.ndarray
    frozen: np.ndarray
    system: BlockSystem
    sys_use: np.ndarray
    rtol: np.ndarray
    prev_dec: np.ndarray
    S: np.ndarray
    Y: np.ndarray
    rho: np.ndarray

    def keep(self, idx: np.ndarray) -> None:
        """Keep the rows idx only."""
        self.rows, self.x, self.nll = self.rows[idx], self.x[idx], self.nll[idx]
        self.g, self.damp, self.frozen = self.g[idx], self.damp[idx], self.frozen[idx]
        self.sys_use, self.rtol, self.prev_dec = (self.sys_use[idx], self.rtol[idx],
                                                  self.prev_dec[idx])
        self.S, self.Y, self.rho = self.S[:, idx], self.Y[:, idx], self.rho[:, idx]
        self.system = self.system.take(idx)
        self.data = _take_data(self.data, idx)


@dataclass(eq=False)
class _ChunkOut:
    """The results of one chunk's fits, filled as its rows finish: end states, best-fit
    parameters, minimum -2 ln L and convergence; ``order``, ``lo``, ``hi`` place the
    quadratic model's minimiser."""

    state: ToyFitState
    x: np.ndarray
    t: np.ndarray
    ok: np.ndarray
    order: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def finish(self, rs: _Rows, mask: np.ndarray, converged: bool,
               newton: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Record the rows ``mask`` of ``rs``: their last point, or with ``newton`` = (decrement,
        step) the minimum and minimiser of their quadratic model."""
        r = rs.rows[mask]
        self.state.put(r, ToyFitState(rs.x[mask], rs.nll[mask], rs.g[mask],
                                      rs.system.take(mask)))
        self.t[r] = 2.0 * rs.nll[mask]
        self.x[r] = rs.x[mask]
        if newton is not None:  # the quadratic model's minimum and minimiser
            dec, step = newton[0][mask], newton[1][mask]
            self.t[r] -= dec
            xm = rs.x[mask]
            xm[:, self.order] -= step
            self.x[r] = np.clip(xm, self.lo, self.hi)
        self.ok[r] = converged


class ToyFitter:
    """Minimise -ln L of one model for many datasets (toys): Gauss-Newton far from the optimum,
    quasi-Newton steps on a frozen Gauss-Newton system near it.

    Every row takes projected Newton steps (active bounds: the parameters at a bound whose
    gradient points out are held) with Armijo backtracking and Levenberg damping after a
    failed line search, as :class:`emiss.inference.batch.BatchFitter`. The Hessian model of a
    step is the Gauss-Newton matrix of a Jacobian (:class:`emiss.inference.structured.
    BlockSystem`, factorised in O(B^2 n_kg + B^3) per row), corrected by the BFGS update of the
    last ``TOY_MEMORY`` steps and gradient changes (the two-loop recursion with the Gauss-Newton
    matrix as the initial Hessian; Nocedal & Wright, "Numerical Optimization", 2nd ed.,
    Algorithm 7.4): the pairs carry the curvature the Gauss-Newton matrix omits (the residual
    term sum_b (1 - n_b / lambda_b) d^2 lambda_b / d theta^2, large in bins with few counts),
    which would otherwise make the iteration converge linearly and slowly. Far from the
    optimum each step evaluates a new Jacobian (``BatchModel.blocks``); once the decrement is
    below ``TOY_FREEZE`` the system is kept and a step needs only -ln L and its gradient
    (``BatchModel.nll_grad``) and one solve with the factorised system. A pair whose step
    hit a bound is dropped; a kept system is replaced (a new Jacobian) when its step is
    rejected, when the active bounds change, or when the decrement stops falling fast
    (``TOY_REFRESH_RATIO``). A fit stops when the decrement is below the tolerance and reports
    the minimiser and the minimum of the last quadratic model; fits that converge slowly get a
    stricter tolerance or go to the scalar fitter (:class:`emiss.inference.fastlimits.Fitter`,
    counted in ``n_fallback``; ``TOY_SLOW_RATIO``).

    Args:
        fm: compiled model.
        chunk: rows fitted together.
    """

    def __init__(self, fm: FastModel, chunk: int = TOY_CHUNK) -> None:
        self.fm = fm
        self.bm = BatchModel(fm)
        if not getattr(self.bm, "_blocks_ready", False):
            self.bm._prepare_blocks()
        bm = self.bm
        self.hs = structure_of(fm)
        self.chunk = int(chunk)
        self.order = np.concatenate([bm._bG, bm._bL]).astype(int)
        self.nG = bm._bG.size
        self.nk = int(bm._bnkg)
        self.gcol = int(bm._bgcol[fm.poi_index])
        self.n_fallback = 0
        self.poi_grad: np.ndarray | None = None
        self.state: ToyFitState | None = None

    # ---------------------------------------------------------------- evaluations
    def _full(self, x: np.ndarray, data: BatchData, jac: tuple | None = None
              ) -> dict[str, np.ndarray]:
        st = self.bm.blocks(x, data, jac=jac)
        st["g"] = np.concatenate([st["gG"], st["gL"]], axis=1)
        return st

    def _grad(self, x: np.ndarray, data: BatchData) -> tuple[np.ndarray, np.ndarray]:
        nll, g = self.bm.nll_grad(x, data)
        return nll, g[:, self.order]

    def _system(self, st: dict[str, np.ndarray], use: np.ndarray, damp: np.ndarray
                ) -> BlockSystem:
        nG = self.nG
        return BlockSystem.build(self.hs, self.nk, st["JG"], st["JL"], st["c"], st["dG"],
                                 st["dL"], use[:, :nG], use[:, nG:], 1e-12 + damp)

    @staticmethod
    def _use(xb: np.ndarray, g: np.ndarray, free: np.ndarray, lo: np.ndarray,
             hi: np.ndarray) -> np.ndarray:
        return free & ~(((xb <= lo) & (g > 0)) | ((xb >= hi) & (g < 0)))

    def _active(self, x: np.ndarray, g: np.ndarray, box: _Box) -> np.ndarray:
        """The parameters (block order) a step moves: free, not held at a bound."""
        return self._use(x[:, self.order], g, box.free, box.lob, box.hib)

    # ---------------------------------------------------------------- fits
    def fit(self, data: BatchData, x0: np.ndarray, poi_value: float | None = None,
            tol: float = TOY_FIT_TOL, state: ToyFitState | None = None,
            shared: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Fit every dataset; the POI free (``poi_value=None``) or fixed.

        Args:
            data: N datasets.
            x0: (N, P) or (P,) start points.
            poi_value: fixed POI value or None.
            tol: -2 ln L tolerance (``TOY_FIT_TOL``).
            state: the end states of earlier fits of the same datasets: their systems are
                reused (frozen) and, where x0 equals their end points, their gradients.
            shared: all start points are equal (one Jacobian for all rows).

        Returns:
            (best-fit parameters (N, P), minimum -2 ln L (N,), nan where every strategy
            failed): the minimiser and minimum of the last step's quadratic model.
            ``poi_grad`` then holds d(-ln L)/d mu and ``state`` the end states (the last
            points evaluated; :meth:`fit_state` returns them).
        """
        x, t, _ = self.fit_state(data, x0, poi_value, tol, state, shared)
        return x, t

    def fit_state(self, data: BatchData, x0: np.ndarray, poi_value: float | None = None,
                  tol: float = TOY_FIT_TOL, state: ToyFitState | None = None,
                  shared: bool = False) -> tuple[np.ndarray, np.ndarray, ToyFitState]:
        """:meth:`fit`, also returning the end states (the last points evaluated)."""
        from emiss.inference.batch import _start_points
        from emiss.inference.blas import single_thread_blas

        fm = self.fm
        N = data.n
        x, free, lo, hi = _start_points(fm, fm.bounds, N, x0, poi_value)
        box = _Box(free[self.order], lo, hi, lo[self.order], hi[self.order])
        out_x, out_t = x.copy(), np.full(N, np.nan)
        ok = np.zeros(N, bool)
        states = []
        with single_thread_blas():
            for a in range(0, N, self.chunk):
                sl = slice(a, min(N, a + self.chunk))
                sub = data if N <= self.chunk else _take_data(data, np.arange(sl.start, sl.stop))
                st, out_x[sl], out_t[sl], ok[sl] = self._fit_rows(
                    sub, x[sl], box, tol, None if state is None else state.take(sl),
                    shared and sl.stop - sl.start > 1)
                states.append(st)
        end = ToyFitState.concat(states)
        for i in np.flatnonzero(~ok):
            out_t[i] = self._fallback(data, int(i), end, poi_value, box)
            out_x[i] = end.x[i]
        self.poi_grad = end.g[:, self.gcol]
        self.state = end
        return out_x, out_t, end

    def _fallback(self, data: BatchData, i: int, end: ToyFitState, poi_value: float | None,
                  box: _Box) -> float:
        """Row i by the scalar fitter (its state replaced by one at the new end point)."""
        from emiss.inference.fastlimits import FitFailure, Fitter

        self.n_fallback += 1
        try:
            xi, ti = Fitter(self.fm).fit(data.row(i), poi_value, end.x[i])
        except FitFailure as exc:
            log.warning("toy fit failed: %s", exc)
            return math.nan
        st = self._full(xi[None, :], data.take(np.array([i])))
        use = self._active(xi[None, :], st["g"], box)
        end.put([i], ToyFitState(xi[None, :], st["nll"], st["g"],
                                 self._system(st, use, np.zeros(1))))
        return float(ti)

    def _fit_rows(self, data: BatchData, x: np.ndarray, box: _Box, tol: float,
                  state: ToyFitState | None, shared: bool
                  ) -> tuple[ToyFitState, np.ndarray, np.ndarray, np.ndarray]:
        """The iteration of :meth:`fit` on one chunk of rows (module doc of the class).

        Returns:
            (end states, best-fit parameters, minimum -2 ln L, converged) per row.
        """
        rs = self._start(data, x, box, tol, state, shared)
        N = x.shape[0]
        out = _ChunkOut(ToyFitState(x.copy(), np.zeros(N), np.zeros((N, self.order.size)),
                                    rs.system.take(slice(None))),
                        x.copy(), np.full(N, np.nan), np.zeros(N, bool), self.order, box.lo,
                        box.hi)
        for it in range(TOY_MAXITER):
            if rs.rows.size == 0:
                break
            use = self._refresh(rs, box)
            r, dec = self._direction(rs, use)
            conv, bad, stale = self._verdict(rs, dec, it, tol)
            if conv.any() or bad.any():
                out.finish(rs, conv, True, (dec, r))
                out.finish(rs, bad, False)
                keep = np.flatnonzero(~conv & ~bad)
                rs.keep(keep)
                if keep.size == 0:
                    break
                r, dec, stale, use = r[keep], dec[keep], stale[keep], use[keep]
            rs.prev_dec = dec
            rs.frozen = (rs.frozen | ((dec <= TOY_FREEZE) & (rs.damp == 0.0))) & ~stale
            step = np.empty_like(r)
            step[:, self.order] = -r
            accepted, pend, fresh = self._line_search(rs, use, step, dec, box)
            rs.damp = np.where(accepted, np.where(rs.damp > 1e-3, rs.damp * 0.1, 0.0), rs.damp)
            if pend.size:
                fresh = self._no_step(rs, out, pend, dec, fresh)
            self._new_systems(rs, fresh, box)
        if rs.rows.size:
            out.finish(rs, np.ones(rs.rows.size, bool), False)
        return out.state, out.x, out.t, out.ok

    def _start(self, data: BatchData, x: np.ndarray, box: _Box, tol: float,
               state: ToyFitState | None, shared: bool) -> _Rows:
        """The rows at their start points: a new Jacobian (one for all rows, broadcast, when
        they share the start point) or the systems of earlier fits' end states (frozen)."""
        N, P, m = x.shape[0], self.order.size, TOY_MEMORY
        damp = np.zeros(N)
        if state is None:
            jac = None
            if shared:  # one start point: one Jacobian, broadcast
                lam1, JG1, JL1 = self.bm.jacobian_blocks(x[:1])
                jac = tuple(np.broadcast_to(a, (N,) + a.shape[1:]) for a in (lam1, JG1, JL1))
            st = self._full(x, data, jac)
            nll, g = st["nll"], st["g"]
            system = self._system(st, self._active(x, g, box), damp)
            frozen = np.zeros(N, bool)
        else:
            if np.array_equal(state.x, x):
                nll, g = state.nll.copy(), state.g.copy()
            else:
                nll, g = self._grad(x, data)
            system = state.system.with_u(self._active(x, g, box)[:, self.nk:self.nG])
            frozen = np.ones(N, bool)
        return _Rows(rows=np.arange(N), data=data, x=x, nll=nll, g=g, damp=damp, frozen=frozen,
                     system=system, sys_use=np.concatenate(system.masks(), axis=1),
                     rtol=np.full(N, float(tol)), prev_dec=np.full(N, np.inf),
                     S=np.zeros((m, N, P)), Y=np.zeros((m, N, P)), rho=np.zeros((m, N)))

    def _refresh(self, rs: _Rows, box: _Box) -> np.ndarray:
        """The parameters each row's next step moves (n, P); where they changed under a
        system, a new Jacobian and system (curvature pairs dropped where a bound was hit)."""
        use = self._active(rs.x, rs.g, box)
        chg = np.flatnonzero(np.any(use != rs.sys_use, axis=1))
        if chg.size:  # the active set changed under a frozen system: a new Jacobian
            rs.rho[:, chg[np.any(rs.sys_use[chg] & ~use[chg], axis=1)]] = 0.0
            st = self._full(rs.x[chg], _take_data(rs.data, chg))
            rs.nll[chg], rs.g[chg] = st["nll"], st["g"]
            use[chg] = self._active(rs.x[chg], rs.g[chg], box)
            rs.system.put(chg, self._system(st, use[chg], rs.damp[chg]))
            rs.sys_use[chg] = use[chg]
            rs.frozen[chg] = False
        return use

    def _direction(self, rs: _Rows, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The quasi-Newton direction r (block order; the step is -r) and the Newton decrement
        g^T r: the two-loop recursion around the Gauss-Newton solve."""
        m, nG, S, Y, rho = TOY_MEMORY, self.nG, rs.S, rs.Y, rs.rho
        gu = rs.g * use
        q = gu.copy()
        alpha = np.zeros((m, rs.rows.size))
        for j in range(m):
            alpha[j] = rho[j] * np.einsum("np,np->n", S[j], q)
            q -= alpha[j][:, None] * Y[j]
        rG, rL = rs.system.solve(q[:, :nG], q[:, nG:])
        r = np.concatenate([rG, rL], axis=1)
        for j in range(m - 1, -1, -1):
            b = rho[j] * np.einsum("np,np->n", Y[j], r)
            r += (alpha[j] - b)[:, None] * S[j]
        r *= use
        return r, np.einsum("np,np->n", gu, r)

    @staticmethod
    def _verdict(rs: _Rows, dec: np.ndarray, it: int, tol: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(converged, failed, stale system) per row from the decrement of iteration ``it``;
        slow rows get the stricter tolerance (``rs.rtol``)."""
        bad = ~np.isfinite(dec) | (dec < 0)
        # a frozen system that stopped predicting the steps: a new Jacobian first
        stale = rs.frozen & (dec > TOY_REFRESH_RATIO * rs.prev_dec)
        # Gauss-Newton itself converging slowly near the optimum (its model misses
        # curvature; its decrement underestimates the distance to the minimum): a
        # stricter tolerance
        slow = ~rs.frozen & (dec < TOY_FREEZE) & (dec > TOY_SLOW_RATIO * rs.prev_dec)
        conv = (dec < rs.rtol) & (rs.damp == 0.0) & ~bad & ~stale & ~slow
        # slow twice, or stalling late: the scalar fitter's exact-Hessian steps
        bad |= slow & (rs.rtol < tol)
        if it >= TOY_SLOW_AFTER:
            bad |= ~conv & (dec > TOY_STALL_RATIO * rs.prev_dec)
        rs.rtol = np.where(slow, tol * TOY_STRICT, rs.rtol)
        return conv, bad, stale

    def _line_search(self, rs: _Rows, use: np.ndarray, step: np.ndarray, dec: np.ndarray,
                     box: _Box) -> tuple[np.ndarray, np.ndarray, _Fresh]:
        """Projected step with Armijo backtracking; the accepted points replace the rows'
        points and push a curvature pair.

        Returns:
            (accepted (n,) bool, the rows without an acceptable step, the new Jacobians
            evaluated at accepted points of rows not frozen).
        """
        n = rs.rows.size
        t = np.ones(n)
        accepted = np.zeros(n, bool)
        fresh: _Fresh = []
        pend = np.arange(n)
        for _ in range(BATCH_BACKTRACK):
            cand = np.clip(rs.x[pend] + t[pend, None] * step[pend], box.lo, box.hi)
            c_nll, c_g, full, st = self._evaluate(rs, cand, pend)
            good = np.isfinite(c_nll) & (c_nll <= rs.nll[pend] - 1e-4 * t[pend] * dec[pend])
            acc = pend[good]
            if acc.size:
                self._add_pairs(rs.S, rs.Y, rs.rho, acc, (cand[good] - rs.x[acc])[:, self.order],
                                (c_g[good] - rs.g[acc]) * use[acc])
                rs.x[acc], rs.nll[acc], rs.g[acc] = cand[good], c_nll[good], c_g[good]
                if full.size and good[full].any():
                    gf = good[full]
                    fresh.append((pend[full[gf]], {k: st[k][gf] for k in _JAC_KEYS}))
                accepted[acc] = True
            t[pend[~good]] *= 0.25
            pend = pend[~good]
            if pend.size == 0:
                break
        return accepted, pend, fresh

    def _evaluate(self, rs: _Rows, cand: np.ndarray, pend: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """-ln L and gradient at the candidate points of rows ``pend``: with a new Jacobian
        where the row is not frozen, the gradient only where it is.

        Returns:
            (-ln L, gradient, positions in ``pend`` of the new Jacobians, their pieces).
        """
        dp = rs.data if pend.size == rs.rows.size else _take_data(rs.data, pend)
        c_nll, c_g = np.empty(pend.size), np.empty((pend.size, self.order.size))
        st: dict[str, np.ndarray] = {}
        full = np.flatnonzero(~rs.frozen[pend])
        if full.size:
            st = self._full(cand[full], dp if full.size == pend.size else _take_data(dp, full))
            c_nll[full], c_g[full] = st["nll"], st["g"]
        grad = np.flatnonzero(rs.frozen[pend])
        if grad.size:
            c_nll[grad], c_g[grad] = self._grad(
                cand[grad], dp if grad.size == pend.size else _take_data(dp, grad))
        return c_nll, c_g, full, st

    def _no_step(self, rs: _Rows, out: _ChunkOut, pend: np.ndarray, dec: np.ndarray,
                 fresh: _Fresh) -> _Fresh:
        """Rows ``pend`` found no acceptable step. Those converged to rounding finish; the
        others get a new Jacobian (a frozen system) or more damping, and fail when damped
        beyond 1e6.

        Returns:
            ``fresh`` for the rows that go on (positions after the finished rows left).
        """
        n = rs.rows.size
        floor = dec[pend] < 1e-7  # converged to rounding
        hard = pend[~floor]
        if hard.size:  # a frozen system: a new Jacobian; else more damping
            damp = rs.damp
            rs.rho[:, hard] = 0.0
            damp[hard] = np.where(rs.frozen[hard], damp[hard],
                                  np.where(damp[hard] == 0.0, 1.0, damp[hard] * 10.0))
            rs.frozen[hard] = False
            st = self._full(rs.x[hard], _take_data(rs.data, hard))
            rs.nll[hard], rs.g[hard] = st["nll"], st["g"]
            fresh.append((hard, {k: st[k] for k in _JAC_KEYS}))
        dead = np.zeros(n, bool)
        dead[hard] = rs.damp[hard] > 1e6
        done = np.zeros(n, bool)
        done[pend[floor]] = True
        if not (done.any() or dead.any()):
            return fresh
        out.finish(rs, done, True)
        out.finish(rs, dead, False)
        keep = np.flatnonzero(~done & ~dead)
        remap = np.full(n, -1)
        remap[keep] = np.arange(keep.size)
        rs.keep(keep)
        return [(remap[i][remap[i] >= 0], {k: v[remap[i] >= 0] for k, v in f.items()})
                for i, f in fresh]

    def _new_systems(self, rs: _Rows, fresh: _Fresh, box: _Box) -> None:
        """Factorise the systems of the new Jacobians ``fresh`` (curvature pairs dropped where
        a step hit a bound)."""
        for idx, st in fresh:
            if idx.size:
                u = self._active(rs.x[idx], rs.g[idx], box)
                rs.rho[:, idx[np.any(rs.sys_use[idx] & ~u, axis=1)]] = 0.0  # a step hit a bound
                rs.system.put(idx, self._system(st, u, rs.damp[idx]))
                rs.sys_use[idx] = u

    @staticmethod
    def _add_pairs(S: np.ndarray, Y: np.ndarray, rho: np.ndarray, rows: np.ndarray,
                   s: np.ndarray, y: np.ndarray) -> None:
        """Push (s, y) onto the rows' pair stacks (newest first) where s^T y > 0."""
        sy = np.einsum("np,np->n", s, y)
        ok = sy > 1e-12 * np.sqrt(np.einsum("np,np->n", s, s) * np.einsum("np,np->n", y, y))
        r = rows[ok]
        if r.size:
            S[1:, r], Y[1:, r], rho[1:, r] = S[:-1, r], Y[:-1, r], rho[:-1, r]
            S[0, r], Y[0, r], rho[0, r] = s[ok], y[ok], 1.0 / sy[ok]

    def profile_slope(self, state: ToyFitState) -> np.ndarray:
        """d theta / d mu along the profile at the end points of fits (the POI's entry 1).

        From the Gauss-Newton systems of the states: d theta / d mu = -H_tt^-1 H_tmu (implicit
        function theorem at the conditional optimum), H_tmu = J_t^T C J_mu.

        Args:
            state: end states of fits.

        Returns:
            (N, P) slopes.
        """
        fm = self.fm
        sysm = state.system.with_u(np.zeros_like(state.system.useU))
        ju = sysm.Ju[:, :, self.gcol - self.nk]
        sj = sysm.s * ju
        hK = np.einsum("nbk,nb->nk", sysm.JK, sysm.s * sj)
        hG = np.concatenate([hK, np.zeros((hK.shape[0], sysm.Ju.shape[2]))], axis=1)
        sG, sL = sysm.solve(hG, sysm.aL * sj[:, self.hs.kl_bin])
        out = np.zeros((hK.shape[0], fm.npars))
        out[:, self.order] = -np.concatenate([sG, sL], axis=1)
        out[:, fm.poi_index] = 1.0
        return out


def background_teststats(fm: FastModel, mu: float, ntoys: int = 10000, seed: int = 0,
                         batch: int = 1000) -> dict[str, Any]:
    """q0 and q~_mu of background-only toys of one hypothesis, each toy refitted.

    Toys are generated at (mu = 0, theta_hat_0), the mu = 0 fit to the observed data (pyhf's
    ToyCalculator procedure), and fitted three ways by :class:`ToyFitter`: mu = 0 (all toys
    from theta_hat_0, one Jacobian); mu free (only where -ln L falls into mu > 0 at the mu = 0
    optimum: elsewhere that optimum satisfies the bounded free fit's optimality conditions,
    mu_hat = 0 and q0 = 0), from the mu = 0 optimum and its Gauss-Newton system; mu fixed at
    ``mu`` (only where mu_hat <= mu, else q~_mu = 0), started on the first-order path of the
    toy's own profile from its free optimum, theta_hat + (mu - mu_hat) d theta / d mu
    (:meth:`ToyFitter.profile_slope`), with the system of that optimum.

    Args:
        fm: compiled model (POI lower bound 0).
        mu: tested signal strength of q~_mu.
        ntoys: number of toys.
        seed: seed of ``numpy.random.default_rng``.
        batch: toys generated together.

    Returns:
        {"q0", "qmu", "mu_hat" (arrays), "n_free_fits", "n_mu_fits", "n_fallback",
        "n_failed"} (failed fits give nan test statistics).
    """
    from emiss.inference.fastlimits import Fitter

    if fm.bounds[fm.poi_index, 0] != 0.0:
        raise EmissError("q0 and q~_mu toys need the POI lower bound at 0")
    gen, _ = Fitter(fm).fit(fm.observed_data(), 0.0)
    bm = BatchModel(fm)
    fitter = ToyFitter(fm)
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, int(ntoys), int(batch)):
        n = min(int(batch), int(ntoys) - start)
        toys = bm.sample_data(np.tile(gen, (n, 1)), rng)
        for a in range(0, n, fitter.chunk):  # the three fits of a chunk of toys in turn
            rows = np.arange(a, min(n, a + fitter.chunk))
            parts.append(_toy_teststats(fitter, toys if rows.size == n else _take_data(toys, rows),
                                        gen, mu))
    q0, qm, mh = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return {"q0": q0, "qmu": qm, "mu_hat": mh, "n_free_fits": sum(p[3] for p in parts),
            "n_mu_fits": sum(p[4] for p in parts), "n_fallback": fitter.n_fallback,
            "n_failed": int(np.sum(~np.isfinite(q0) | ~np.isfinite(qm)))}


def _toy_teststats(fitter: ToyFitter, toys: BatchData, gen: np.ndarray, mu: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """q0, q~_mu, mu_hat, number of free fits and of mu fits of one chunk of toys
    (:func:`background_teststats`)."""
    fm = fitter.fm
    poi = fm.poi_index
    lo, hi = fm.bounds[:, 0], fm.bounds[:, 1]
    n = toys.n
    xc, tc, end = fitter.fit_state(toys, gen, poi_value=0.0, shared=True)
    need = end.g[:, fitter.gcol] < 0.0  # -ln L falls into mu > 0: mu_hat > 0
    xf, tf = xc.copy(), tc.copy()
    idx = np.flatnonzero(need)
    if idx.size:
        sub = end.take(idx)
        xf[idx], tf[idx], free_end = fitter.fit_state(_take_data(toys, idx), sub.x, state=sub)
        end.put(idx, free_end)
    mh = xf[:, poi]
    q0 = np.where(need, np.maximum(tc - tf, 0.0), 0.0)
    qm = np.zeros(n)
    jdx = np.flatnonzero(mh <= mu)
    if jdx.size:
        sub = end.take(jdx)
        x0 = np.clip(sub.x + (mu - sub.x[:, poi])[:, None] * fitter.profile_slope(sub), lo, hi)
        _, tm = fitter.fit(_take_data(toys, jdx), x0, poi_value=mu, state=sub)
        qm[jdx] = np.where(np.isfinite(tm), np.maximum(tm - tf[jdx], 0.0), np.nan)
    q0 = np.where(np.isfinite(tc) & np.isfinite(tf), q0, np.nan)
    return q0, np.where(np.isfinite(tf), qm, np.nan), mh, idx.size, jdx.size


#: Newton decrement (in -2 ln L) at which a fit of :func:`background_teststats_reference`
#: stops.
REFERENCE_TOY_FIT_TOL = 1e-5


def background_teststats_reference(fm: FastModel, mu: float, ntoys: int = 10000, seed: int = 0,
                                   batch: int = 1000) -> dict[str, Any]:
    """:func:`background_teststats` with the general batched fitter (the previous toy path,
    kept as the reference of ``scripts/bench_toys.py``): the same toys and fits, each by
    :class:`emiss.inference.batch.BatchFitter` to a decrement of ``REFERENCE_TOY_FIT_TOL``.

    Toys are generated at (mu = 0, theta_hat_0), the mu = 0 fit to the observed data (pyhf's
    ToyCalculator procedure), and fitted three ways by the batched fitter
    (:class:`emiss.inference.batch.BatchFitter`): mu = 0; mu free (only where -ln L falls
    into mu > 0 at the mu = 0 optimum: elsewhere that optimum satisfies the bounded free fit's
    optimality conditions, mu_hat = 0 and q0 = 0); mu fixed at ``mu`` (only where
    mu_hat <= mu, else q~_mu = 0), started on the first-order path of the profile
    (theta_hat_0 + mu d theta / d mu).

    Args:
        fm: compiled model (POI lower bound 0).
        mu: tested signal strength of q~_mu.
        ntoys: number of toys.
        seed: seed of ``numpy.random.default_rng``.
        batch: toys generated and fitted together.

    Returns:
        {"q0", "qmu", "mu_hat" (arrays), "n_free_fits", "n_mu_fits", "n_fallback",
        "n_failed"} (failed fits give nan test statistics).
    """
    from emiss.inference.fastlimits import Fitter

    if fm.bounds[fm.poi_index, 0] != 0.0:
        raise EmissError("q0 and q~_mu toys need the POI lower bound at 0")
    fitter = Fitter(fm)
    gen, _ = fitter.fit(fm.observed_data(), 0.0)
    slope = fitter.poi_slope(gen, fm.asimov_data(gen))
    lo, hi = fm.bounds[:, 0], fm.bounds[:, 1]
    bm = BatchModel(fm)
    bf = BatchFitter(fm)
    rng = np.random.default_rng(seed)
    poi = fm.poi_index
    q0s, qms, mhs = [], [], []
    n_free = n_mu = 0
    for start in range(0, int(ntoys), int(batch)):
        n = min(int(batch), int(ntoys) - start)
        x = np.tile(gen, (n, 1))
        toys = bm.sample_data(x, rng)
        xc, tc = bf.fit(toys, x, poi_value=0.0, tol=REFERENCE_TOY_FIT_TOL)
        assert bf.poi_grad is not None  # set by fit
        need = bf.poi_grad < 0.0  # -ln L falls into mu > 0: mu_hat > 0
        xf, tf = xc.copy(), tc.copy()
        if need.any():
            idx = np.flatnonzero(need)
            xf[idx], tf[idx] = bf.fit(toys.take(idx), xc[idx], tol=REFERENCE_TOY_FIT_TOL)
            n_free += idx.size
        mh = xf[:, poi]
        q0 = np.where(need, np.maximum(tc - tf, 0.0), 0.0)
        qm = np.zeros(n)
        idx = np.flatnonzero(mh <= mu)
        if idx.size:
            x0 = np.clip(xc[idx] + mu * slope, lo, hi)
            _, tm = bf.fit(toys.take(idx), x0, poi_value=mu, tol=REFERENCE_TOY_FIT_TOL)
            qm[idx] = np.maximum(tm - tf[idx], 0.0)
            n_mu += idx.size
            qm[idx] = np.where(np.isfinite(tm), qm[idx], np.nan)
        q0 = np.where(np.isfinite(tc) & np.isfinite(tf), q0, np.nan)
        q0s.append(q0)
        qms.append(np.where(np.isfinite(tf), qm, np.nan))
        mhs.append(mh)
    q0, qm = np.concatenate(q0s), np.concatenate(qms)
    return {"q0": q0, "qmu": qm, "mu_hat": np.concatenate(mhs), "n_free_fits": n_free,
            "n_mu_fits": n_mu, "n_fallback": bf.n_fallback,
            "n_failed": int(np.sum(~np.isfinite(q0) | ~np.isfinite(qm)))}


def _interp_limit(mu: np.ndarray, cls: list[float], alpha: float) -> float:
    """mu where CLs falls through alpha (pyhf: np.interp(alpha, CLs[::-1], mu[::-1]))."""
    c = np.asarray(cls, float)
    ok = np.isfinite(c)
    if ok.sum() < 2:
        return math.nan
    mu, c = np.asarray(mu, float)[ok], c[ok]
    if np.all(c > alpha) or np.all(c < alpha):
        log.warning("CLs does not cross %g on the mu grid [%g, %g] (more toys resolve smaller "
                    "p-values)", alpha, mu[0], mu[-1])
        return math.nan
    return float(np.interp(alpha, c[::-1], mu[::-1]))


def fast_toy_analyse(fm: FastModel, *, cl: float = 0.95, ntoys: int = DEFAULT_NTOYS,
                     seed: int = 0, n_grid: int = 10) -> dict[str, Any]:
    """Scan row of one hypothesis with toys (same keys as ``fast_analyse``).

    The mu grid is geometric from 0.1 x the smallest to 2.5 x the largest asymptotic limit
    (observed, -2 sigma, +2 sigma; :class:`emiss.inference.fastlimits.AsymptoticLimits`), so that
    the crossings lie inside it near the asymptotic regime. A band that does not cross on the
    grid (with few toys the -2 sigma band of CLs is 0 for all mu: p-values below 1 / ntoys
    cannot be resolved) gives nan (null in the results) and a warning.

    Args:
        fm: compiled model.
        cl: confidence level.
        ntoys: toys per distribution and per grid point.
        seed: seed (common random numbers across the grid).
        n_grid: grid points.

    Returns:
        Row dict (mu_hat, twice_nll, mu_limit_obs, mu_limit_exp, p0, Z, status) plus
        ``toy_errors`` (binomial error of p0 and of CLs at the observed limit).
    """
    from emiss.inference.fastlimits import AsymptoticLimits
    from emiss.inference.rows import failed_row

    row = failed_row("failed")
    asym = AsymptoticLimits(fm)
    a_obs, a_exp = asym.limits(1.0 - cl)
    lo = 0.1 * min(a_exp[0], a_obs)
    hi = 2.5 * max(a_exp[-1], a_obs)
    hi = min(hi, float(fm.bounds[fm.poi_index, 1]))
    grid = np.geomspace(lo, hi, n_grid)
    calc = FastToyCalculator(fm, ntoys=ntoys, seed=seed)
    obs, exp, res = calc.upper_limit(1.0 - cl, grid)
    disc = calc.discovery()
    row.update({"mu_hat": calc.mu_hat, "twice_nll": float(calc.free_tnll),
                "mu_limit_obs": obs, "mu_limit_exp": exp, "p0": disc["p0"],
                "Z": disc["Z"] if math.isfinite(disc["Z"]) else float("nan"),
                "status": "ok" if math.isfinite(obs) else "failed: CLs did not cross on the grid"})
    k = int(np.argmin(np.abs(grid - obs))) if math.isfinite(obs) else 0
    row["toy_errors"] = {"ntoys": ntoys, "p0_error": disc["p0_error"],
                         "CLs_error_near_limit": res[k]["CLs_obs_error"]}
    return row
