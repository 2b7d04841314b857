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
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy.stats import norm

from emiss.errors import EmissError
from emiss.inference.batch import BatchData, BatchFitter, BatchModel
from emiss.inference.fastmodel import FastModel

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


#: Newton decrement (in -2 ln L) at which a toy's fit stops: the test statistics of toys are
#: differences of -2 ln L, counted against the observed value; 1e-5 is far below any
#: difference a p-value from N <= 10^6 toys resolves.
TOY_FIT_TOL = 1e-5


def background_teststats(fm: FastModel, mu: float, ntoys: int = 10000, seed: int = 0,
                         batch: int = 1000) -> dict[str, Any]:
    """q0 and q~_mu of background-only toys of one hypothesis, each toy refitted.

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
        xc, tc = bf.fit(toys, x, poi_value=0.0, tol=TOY_FIT_TOL)
        need = bf.poi_grad < 0.0  # -ln L falls into mu > 0: mu_hat > 0
        xf, tf = xc.copy(), tc.copy()
        if need.any():
            idx = np.flatnonzero(need)
            xf[idx], tf[idx] = bf.fit(toys.take(idx), xc[idx], tol=TOY_FIT_TOL)
            n_free += idx.size
        mh = xf[:, poi]
        q0 = np.where(need, np.maximum(tc - tf, 0.0), 0.0)
        qm = np.zeros(n)
        idx = np.flatnonzero(mh <= mu)
        if idx.size:
            x0 = np.clip(xc[idx] + mu * slope, lo, hi)
            _, tm = bf.fit(toys.take(idx), x0, poi_value=mu, tol=TOY_FIT_TOL)
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
