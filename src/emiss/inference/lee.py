"""Global significance of the best point of a mass scan (the look-elsewhere effect).

Test statistic: q0(m) = -2 ln [L(mu = 0) / L(mu_hat(m))] with mu_hat >= 0 (arXiv:1007.1727,
Eq. 12), maximised over the scanned masses m; "background" here is the null of the scan, i.e. the
signal strength mu = 0 with everything else in the model (for light-X patches the SM nu nu-bar
sample fixed at its prediction: SM-only).

* Toys: pseudo-experiments generated from the null fitted to the observed data (mu = 0,
  nuisances at their conditional maximum-likelihood values, auxiliary data fluctuated, as
  pyhf's ToyCalculator does), each refitted at every mass of the grid with the vectorised
  Gauss-Newton fitter (:mod:`emiss.inference.batch`), warm-started from the generating point.
  p_global = fraction of toys with max_m q0 >= the observed max; its Monte-Carlo error is the
  binomial sqrt(p (1 - p) / N_toys).
* Gross & Vitells, arXiv:1005.1891, Eq. (6) for one degree of freedom (chi^2_1 with the
  one-sided q0: local p = Phi(-sqrt(c))): p_global ~ p_local(c) + <N(c0)> exp(-(c - c0)/2),
  where <N(c0)> is the mean number of upcrossings of the q0(m) curve at a low reference level
  c0, estimated from the toys or, as Gross & Vitells suggest, from the observed curve.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from emiss.errors import EmissError
from emiss.inference.batch import BatchData, BatchFitter, BatchModel
from emiss.inference.fastmodel import FastBackground, FastModel

log = logging.getLogger(__name__)

#: Default reference level of the Gross-Vitells estimate (q0 = c0, i.e. Z = 1).
GV_REF_LEVEL = 1.0


def upcrossings(q: np.ndarray, level: float) -> np.ndarray:
    """Number of upcrossings of ``level`` along the last axis (q_i < level <= q_{i+1}).

    Args:
        q: (..., n_masses) q0 curves ordered by mass.
        level: reference level c0.

    Returns:
        Counts with the leading shape of q.
    """
    q = np.asarray(q, float)
    return np.sum((q[..., :-1] < level) & (q[..., 1:] >= level), axis=-1)


def gross_vitells(q_obs_max: float, n_up_ref: float, ref_level: float = GV_REF_LEVEL
                  ) -> dict[str, float]:
    """Gross-Vitells global p-value (arXiv:1005.1891, Eqs. 2 and 6, one degree of freedom).

    Args:
        q_obs_max: the observed maximum of q0 over the scan (c).
        n_up_ref: mean number of upcrossings at ``ref_level``.
        ref_level: c0.

    Returns:
        {"p_global", "Z_global", "p_local", "n_up_ref", "ref_level", "trials_factor"}.
    """
    c = max(float(q_obs_max), 0.0)
    p_loc = float(norm.sf(math.sqrt(c)))
    p = min(1.0, p_loc + float(n_up_ref) * math.exp(-(c - ref_level) / 2.0))
    return {"p_global": p, "Z_global": float(max(norm.isf(p), 0.0)), "p_local": p_loc,
            "n_up_ref": float(n_up_ref), "ref_level": float(ref_level),
            "trials_factor": p / p_loc if p_loc > 0 else math.inf}


def _map(fm_from: FastModel, fm_to: FastModel, x: np.ndarray) -> np.ndarray:
    """Parameter rows of one model in another's order (by name; missing ones at their inits)."""
    idx = {n: i for i, n in enumerate(fm_from.par_names)}
    out = np.tile(fm_to.init, (x.shape[0], 1))
    for j, n in enumerate(fm_to.par_names):
        if n in idx:
            out[:, j] = x[:, idx[n]]
    return out


class MassScan:
    """The q0 curve of a grid of hypotheses on observed data and on background-only toys.

    Args:
        background: the background-only workspace (compiled once).
        patches: (mass, JSON Patch ops) per grid point.
    """

    def __init__(self, background: FastBackground, patches: Sequence[tuple[float, list]]) -> None:
        if len(patches) < 2:
            raise EmissError("a look-elsewhere study needs a scan with at least 2 masses")
        order = sorted(range(len(patches)), key=lambda i: float(patches[i][0]))
        self.masses = np.array([float(patches[i][0]) for i in order])
        if np.unique(self.masses).size != self.masses.size:
            raise EmissError("the mass grid has repeated values; one patch per mass is needed")
        self.models = [background.with_patch(patches[i][1]) for i in order]
        self.order = order

    def q0_curves(self, data: BatchData, x_null: np.ndarray, fm_null: FastModel
                  ) -> tuple[np.ndarray, np.ndarray]:
        """q0 and mu_hat at every mass for N datasets.

        Args:
            data: N datasets (main + auxdata, in the models' common data layout).
            x_null: (N, P) start points in ``fm_null``'s parameter order.
            fm_null: the model x_null refers to.

        Returns:
            (q0 (N, n_masses), mu_hat (N, n_masses)); nan where a fit failed.
        """
        n = data.n
        q = np.full((n, len(self.models)), np.nan)
        mu = np.full((n, len(self.models)), np.nan)
        prev_fm, prev_x = fm_null, x_null
        for k, fm in enumerate(self.models):
            fitter = BatchFitter(fm)
            x0 = _map(prev_fm, fm, prev_x)
            x0[:, fm.poi_index] = 0.0
            x_c, t_c = fitter.fit(data, x0, poi_value=0.0)
            x_f, t_f = fitter.fit(data, x_c)
            mh = x_f[:, fm.poi_index]
            qk = np.where(mh > 0, np.maximum(t_c - t_f, 0.0), 0.0)
            q[:, k] = np.where(np.isfinite(t_c) & np.isfinite(t_f), qk, np.nan)
            mu[:, k] = mh
            prev_fm, prev_x = fm, x_c
            if fitter.n_fallback:
                log.debug("mass %g: %d toy fits needed the scalar fitter", self.masses[k],
                          fitter.n_fallback)
        return q, mu


def global_significance(background: FastBackground, patches: Sequence[tuple[float, list]], *,
                        n_toys: int = 1000, seed: int = 0, ref_level: float = GV_REF_LEVEL,
                        batch: int = 250) -> dict[str, Any]:
    """Local and global significance of the best mass of a scan, by toys and by Gross-Vitells.

    Args:
        background: compiled background-only workspace.
        patches: (mass, JSON Patch ops) per grid point.
        n_toys: background-only pseudo-experiments (0: Gross-Vitells on the observed curve
            only).
        seed: seed of the toys (results are deterministic for a fixed seed).
        ref_level: Gross-Vitells reference level c0 of q0.
        batch: toys fitted together (memory ~ batch * 30 * P doubles).

    Returns:
        Dict with the observed curve (``masses``, ``q0_obs``), ``best_mass``, ``q0_max``,
        ``Z_local``, ``p_local``, ``toys`` (``n_toys``, ``p_global``, ``p_global_error``,
        ``Z_global``, ``Z_global_range`` (from p -+ error), ``n_failed``, ``mean_upcrossings``;
        with no toy at or above the observation ``p_global_upper_95`` = 1 - 0.05^(1/N) and
        ``Z_global_lower_bound`` instead of ``Z_global``),
        ``gross_vitells_toys`` and ``gross_vitells_observed`` (see :func:`gross_vitells`).
    """
    from emiss.inference.fastlimits import Fitter

    if n_toys < 0:
        raise EmissError(f"n_toys={n_toys}: must be >= 0")
    scan = MassScan(background, patches)
    fm0 = scan.models[0]
    obs = fm0.observed_data()
    x_gen, _ = Fitter(fm0).fit(obs, 0.0)
    q_obs, mu_obs = scan.q0_curves(BatchData.repeat(obs, 1), x_gen[None], fm0)
    q_obs, mu_obs = q_obs[0], mu_obs[0]
    k = int(np.nanargmax(q_obs))
    qmax = float(q_obs[k])
    out: dict[str, Any] = {
        "masses": scan.masses.tolist(), "q0_obs": q_obs.tolist(), "mu_hat_obs": mu_obs.tolist(),
        "best_mass": float(scan.masses[k]), "q0_max": qmax,
        "Z_local": math.sqrt(max(qmax, 0.0)), "p_local": float(norm.sf(math.sqrt(max(qmax, 0)))),
        "ref_level": ref_level, "seed": seed,
    }
    out["gross_vitells_observed"] = gross_vitells(qmax, float(upcrossings(q_obs, ref_level)),
                                                  ref_level)
    if n_toys == 0:
        return out
    rng = np.random.default_rng(seed)
    bm = BatchModel(fm0)
    qmaxes, ups = [], []
    n_failed = 0
    for start in range(0, n_toys, batch):
        n = min(batch, n_toys - start)
        toys = bm.sample_data(np.tile(x_gen, (n, 1)), rng)
        q, _ = scan.q0_curves(toys, np.tile(x_gen, (n, 1)), fm0)
        bad = ~np.all(np.isfinite(q), axis=1)
        n_failed += int(bad.sum())
        q = np.where(np.isfinite(q), q, 0.0)
        qmaxes.append(q.max(axis=1))
        ups.append(upcrossings(q, ref_level))
        log.info("toys %d/%d", start + n, n_toys)
    qm = np.concatenate(qmaxes)
    up = np.concatenate(ups)
    n_pass = int(np.sum(qm >= qmax))
    p = n_pass / n_toys
    # binomial error; with no toy above the observation, the error of p = 1/N instead
    err = math.sqrt(max(p * (1 - p), 1.0 / n_toys) / n_toys) if n_pass < n_toys else 0.0
    p_up95 = 1.0 - 0.05 ** (1.0 / n_toys) if n_pass == 0 else None  # 95 % CL upper limit

    def z(pv: float) -> float:
        return float(max(norm.isf(min(max(pv, 1e-300), 1.0)), 0.0))

    out["toys"] = {
        "n_toys": n_toys, "n_exceeding": n_pass, "p_global": p, "p_global_error": err,
        "Z_global": z(p) if n_pass else None,
        "p_global_upper_95": p_up95,
        "Z_global_lower_bound": z(p_up95) if n_pass == 0 else None,
        "Z_global_range": [z(p + err), z(max(p - err, 0.0)) if p - err > 0 else None],
        "n_failed": n_failed, "mean_upcrossings": float(up.mean()),
        "mean_upcrossings_error": float(up.std(ddof=1) / math.sqrt(n_toys)) if n_toys > 1
        else None,
        "q0_max_quantiles": {str(qq): float(np.quantile(qm, qq)) for qq in (0.5, 0.9, 0.99)},
    }
    out["gross_vitells_toys"] = gross_vitells(qmax, float(up.mean()), ref_level)
    return out
