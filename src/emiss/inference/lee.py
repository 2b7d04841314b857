"""Global significance of the best point of a mass scan (the look-elsewhere effect).

Test statistic: q0(m) = -2 ln [L(mu = 0) / L(mu_hat(m))] with mu_hat >= 0 (arXiv:1007.1727,
Eq. 12), maximised over the scanned masses m; "background" here is the null of the scan, i.e. the
signal strength mu = 0 with everything else in the model (for light-X patches the SM nu nu-bar
sample fixed at its prediction: SM-only).

* Toys: pseudo-experiments generated from the null fitted to the observed data (mu = 0,
  nuisances at their conditional maximum-likelihood values, auxiliary data fluctuated, as
  pyhf's ToyCalculator does), each refitted at every mass of the grid with the vectorised
  Gauss-Newton fitter (:mod:`emiss.inference.batch`), warm-started from the generating point;
  the free fit only where -ln L falls into mu > 0 at the mu = 0 optimum (elsewhere that
  optimum is the bounded free fit: mu_hat = 0, q0 = 0).
  p_global = fraction of toys with max_m q0 >= the observed max; its Monte-Carlo error is the
  binomial sqrt(p (1 - p) / N_toys). The toys enter only through three numbers each (max q0,
  upcrossings and excursion components at c0), so toys of several jobs with different seeds
  merge into one set (:func:`merge_toys`, concatenated in seed order) and give the p-value of
  all of them.
* Gross & Vitells, arXiv:1005.1891, Eq. (2) (Davies' bound) with the chi^2_1 scaling of the
  upcrossings, Eq. (6) (one degree of freedom; the one-sided q0 has local p = Phi(-sqrt(c))):
  p_global ~ p_local(c) + <N(c0)> exp(-(c - c0)/2), <N(c0)> the mean number of upcrossings of the
  q0(m) curve at a low reference level c0.
* The boundary (Vitells & Gross, arXiv:1105.4355, Sec. 2, one-dimensional case): the Euler
  characteristic of the excursion set A_u = {m: q0(m) >= u} of a 1-D scan is its number of
  connected pieces, phi(A_u) = N_u + [q0(m_first) >= u] (an excursion touching the low-mass edge
  counts once, without an upcrossing), and E[phi(A_u)] = P(q0(m_first) >= u) + E[N_u]; the first
  term is the p_local above. From background-only toys <N(c0)> is their mean number of interior
  upcrossings (unbiased). From the observed curve alone (one draw) it is estimated as
  phi_obs(c0) - p_local(c0): a curve that starts above c0 (pair scenarios, whose q0 is largest
  at low mass) is counted, where counting interior upcrossings only gave N = 0, a trials factor
  of 1 and Z_global = Z_local.
* Reliability (``caveats`` of :func:`gross_vitells`): the extrapolation from c0 to c is only as
  good as <N(c0)>: from one observed curve its relative error is ~ 1/sqrt(phi_obs) (a count), and
  when that exceeds :data:`GV_MAX_REL_ERROR`, when no upcrossing is seen at c0, or when c - c0
  spans more than :data:`GV_MAX_DECADES` decades of the upcrossing rate, the estimate is flagged
  ``toys_needed`` (run ``--global-toys``); a trials factor below 1 is never returned silently
  (clipped to 1 with ``trials_factor_clipped`` and a caveat).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from emiss import validate
from emiss.errors import EmissError
from emiss.inference.batch import BatchData, BatchFitter, BatchModel
from emiss.inference.fastmodel import FastBackground, FastModel

log = logging.getLogger(__name__)

#: Default reference level of the Gross-Vitells estimate (q0 = c0, i.e. Z = 1).
GV_REF_LEVEL = 1.0
#: Largest relative error of <N(c0)> for which the Gross-Vitells extrapolation is quoted without
#: asking for toys (a count of ~11 upcrossings from one curve, ~1/sqrt(11) = 0.3).
GV_MAX_REL_ERROR = 0.3
#: Largest extrapolation of the upcrossing rate exp(-(c - c0)/2), in decades, quoted without
#: asking for toys (4 decades: c - c0 > 18.4, e.g. beyond 4.4 sigma local from c0 = 1).
GV_MAX_DECADES = 4.0


def upcrossings(q: np.ndarray, level: float) -> np.ndarray:
    """Number of interior upcrossings of ``level`` along the last axis (q_i < level <= q_{i+1}).

    A curve that starts at or above the level has no upcrossing there; see
    :func:`excursion_components` for the count that includes it.

    Args:
        q: (..., n_masses) q0 curves ordered by mass.
        level: reference level c0.

    Returns:
        Counts with the leading shape of q.
    """
    q = np.asarray(q, float)
    return np.sum((q[..., :-1] < level) & (q[..., 1:] >= level), axis=-1)


def excursion_components(q: np.ndarray, level: float) -> np.ndarray:
    """Euler characteristic of the excursion set {q0 >= level} of 1-D curves (its pieces).

    phi = interior upcrossings + [q_first >= level] (arXiv:1105.4355, Sec. 2): an excursion
    touching the low-mass edge counts once.

    Args:
        q: (..., n_masses) q0 curves ordered by mass.
        level: reference level c0.

    Returns:
        Counts with the leading shape of q.
    """
    q = np.asarray(q, float)
    return upcrossings(q, level) + (q[..., 0] >= level).astype(int)


def _p_local(c: float) -> float:
    """P(q0 >= c) at one mass: Phi(-sqrt(c)) for the one-sided q0 (arXiv:1007.1727, Eq. 53)."""
    return float(norm.sf(math.sqrt(max(float(c), 0.0))))


def gross_vitells(q_obs_max: float, n_up_ref: float, ref_level: float = GV_REF_LEVEL, *,
                  n_up_error: float | None = None, source: str = "toys",
                  n_toys: int | None = None) -> dict[str, Any]:
    """Gross-Vitells global p-value (arXiv:1005.1891, Eqs. 2 and 6, one degree of freedom).

    p_global = p_local(c) + <N(c0)> exp(-(c - c0)/2), p_local(c) = Phi(-sqrt(c)).

    Args:
        q_obs_max: the observed maximum of q0 over the scan (c).
        n_up_ref: mean number of upcrossings <N(c0)> at ``ref_level`` (a negative estimate,
            which would give a trials factor below 1, is clipped to 0 with a flag and a
            caveat).
        ref_level: c0.
        n_up_error: standard error of n_up_ref (None: unknown).
        source: where n_up_ref comes from ("toys" or "observed curve"), for the caveats.
        n_toys: number of toys behind n_up_ref (toys only): GV below 10/n_toys is not checked by
            them.

    Returns:
        {"p_global", "Z_global", "p_local", "n_up_ref", "n_up_ref_error", "ref_level",
        "trials_factor", "trials_factor_clipped", "extrapolation_factor", "source",
        "toys_needed", "caveats"}; ``caveats`` is a list of sentences (empty when none).
    """
    c = max(float(q_obs_max), 0.0)
    p_loc = _p_local(c)
    caveats: list[str] = []
    toys_needed = False
    n = float(n_up_ref)
    factor = math.exp(-(c - ref_level) / 2.0)
    p = min(1.0, p_loc + n * factor)
    tf = p / p_loc if p_loc > 0 else math.inf
    clipped = tf < 1.0
    if clipped:  # a negative <N(c0)> estimate: never report a trials factor below 1 silently
        log.warning("Gross-Vitells trials factor %.4g < 1 (<N(%g)> = %.3g) clipped to 1", tf,
                    ref_level, n)
        caveats.append(f"trials factor {tf:.4g} < 1 from <N({ref_level:g})> = {n:.3g} < 0: "
                       "clipped to 1 (<N> set to 0)")
        n, tf, p = 0.0, 1.0, p_loc
    if n == 0.0:
        toys_needed = True
        caveats.append(f"no upcrossing of q0 = {ref_level:g} ({source}): nothing to "
                       "extrapolate from, the trials factor 1 is not an estimate; lower "
                       "--gv-level or run " + ("more toys" if source == "toys"
                                               else "--global-toys N"))
    elif n_up_error is not None and n_up_error > GV_MAX_REL_ERROR * n:
        toys_needed = True
        more = "more toys" if source == "toys" else "--global-toys N"
        caveats.append(f"<N({ref_level:g})> = {n:.3g} +- {n_up_error:.2g} ({source}) is too "
                       f"uncertain (> {GV_MAX_REL_ERROR:.0%}) to extrapolate reliably; run "
                       f"{more}")
    if c > ref_level and factor < 10.0 ** -GV_MAX_DECADES:
        toys_needed = True
        caveats.append(f"q0 max {c:.3g} is far above the reference level {ref_level:g}: the "
                       f"upcrossing rate is extrapolated over {-math.log10(factor):.1f} "
                       f"decades; check with toys or a higher --gv-level")
    if n_toys and p < 10.0 / n_toys:
        caveats.append(f"p_global(GV) = {p:.2g} < 10/N_toys: beyond what the {n_toys} toys "
                       "check; run more toys to confirm it")
    return {"p_global": p, "Z_global": float(max(norm.isf(p), 0.0)), "p_local": p_loc,
            "n_up_ref": n, "n_up_ref_error": n_up_error, "ref_level": float(ref_level),
            "trials_factor": tf, "trials_factor_clipped": clipped,
            "extrapolation_factor": factor, "source": source, "toys_needed": toys_needed,
            "caveats": caveats}


def gross_vitells_observed(q: np.ndarray, ref_level: float = GV_REF_LEVEL) -> dict[str, Any]:
    """Gross-Vitells from the observed q0 curve alone (one draw of the excursion set).

    <N(c0)> = phi_obs(c0) - p_local(c0) (module doc: the boundary counted once, its expected
    share subtracted since p_local(c) carries it; 0 when the curve never reaches c0); error
    ~ sqrt(phi_obs), the count's Poisson error (at least 1: a single curve says little).

    Args:
        q: observed q0 per mass, ordered by mass (nan: failed fits, ignored).
        ref_level: c0.

    Returns:
        :func:`gross_vitells`'s dict plus ``euler_characteristic_ref`` (phi_obs),
        ``n_up_interior`` and ``starts_above_ref``.
    """
    q = np.asarray(q, float)
    q = q[np.isfinite(q)]
    phi = int(excursion_components(q, ref_level))
    n_int = int(upcrossings(q, ref_level))
    est = phi - _p_local(ref_level) if phi else 0.0  # phi = 0: nothing reaches c0
    out = gross_vitells(float(q.max()), est, ref_level, n_up_error=math.sqrt(max(phi, 1)),
                        source="observed curve")
    if phi > n_int:
        out["caveats"].insert(0, f"the observed q0 starts above {ref_level:g} at the "
                                 "low-mass edge: that excursion is counted once (boundary "
                                 "term, arXiv:1105.4355)")
    out.update({"euler_characteristic_ref": phi, "n_up_interior": n_int,
                "starts_above_ref": bool(phi > n_int)})
    return out


#: Levels of q0 (Z_local = 1 ... 5) at which the toys' max distribution checks Gross-Vitells.
GV_CHECK_LEVELS = (1.0, 4.0, 9.0, 16.0, 25.0)


def gv_check(q_max: np.ndarray, n_up_ref: float, ref_level: float = GV_REF_LEVEL,
             levels: Sequence[float] = GV_CHECK_LEVELS) -> list[dict[str, float]]:
    """Toy P(max q0 >= u) next to the Gross-Vitells prediction at a few levels u.

    Args:
        q_max: max over the grid of q0, one per background-only toy.
        n_up_ref: the toys' mean number of upcrossings at ref_level.
        ref_level: c0.
        levels: the levels u.

    Returns:
        Per level: ``u``, ``p_toys``, ``p_toys_error`` (binomial; 1/N when no toy passes),
        ``n_exceeding``, ``p_gv``.
    """
    q_max = np.asarray(q_max, float)
    n = q_max.size
    out = []
    for u in levels:
        k = int(np.sum(q_max >= u))
        p = k / n
        out.append({"u": float(u), "p_toys": p, "n_exceeding": k,
                    "p_toys_error": math.sqrt(max(p * (1 - p), 1.0 / n) / n),
                    "p_gv": min(1.0, _p_local(u) + max(n_up_ref, 0.0)
                                * math.exp(-(u - ref_level) / 2.0))})
    return out


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
            # the free fit only where -ln L falls into mu > 0 at the mu = 0 optimum; elsewhere
            # that optimum satisfies the bounded free fit's optimality conditions (mu_hat = 0)
            assert fitter.poi_grad is not None  # set by fit
            need = fitter.poi_grad < 0.0
            x_f, t_f = x_c.copy(), t_c.copy()
            if need.any():
                idx = np.flatnonzero(need)
                x_f[idx], t_f[idx] = fitter.fit(data.take(idx), x_c[idx])
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

    The two steps, :func:`observed_significance` and :func:`toy_significance`, are public so
    that toys of several jobs (:func:`background_toys`, different seeds) can be merged.

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
        ``Z_global_lower_bound`` instead of ``Z_global``; ``trials_factor`` = p_global /
        p_local, below 1 kept with a ``caveat``; ``mean_euler_characteristic``; ``gv_check``:
        :func:`gv_check`),
        ``gross_vitells_toys`` (:func:`gross_vitells` with the toys' mean upcrossings) and
        ``gross_vitells_observed`` (:func:`gross_vitells_observed`).
    """
    n_toys = validate.GLOBAL_TOYS.check(n_toys, "n_toys")  # before any work
    seed = validate.SEED.check(seed, "seed")
    ref_level = validate.GV_LEVEL.check(ref_level, "ref_level")
    scan = MassScan(background, patches)
    out, x_gen = observed_significance(scan, ref_level)
    out["seed"] = seed
    if n_toys == 0:
        return out
    return toy_significance(out, [background_toys(scan, x_gen, n_toys, seed, ref_level,
                                                  batch)])


def observed_significance(scan: MassScan, ref_level: float = GV_REF_LEVEL
                          ) -> tuple[dict[str, Any], np.ndarray]:
    """The observed q0 curve of a scan, its best mass and the Gross-Vitells estimate from it.

    Args:
        scan: the mass scan.
        ref_level: Gross-Vitells reference level c0 of q0.

    Returns:
        (dict with ``masses``, ``q0_obs``, ``mu_hat_obs``, ``best_mass``, ``q0_max``,
        ``Z_local``, ``p_local``, ``ref_level``, ``gross_vitells_observed``; the
        background-only fit to the observed data that toys are drawn at, in the order of the
        first model's parameters).
    """
    from emiss.inference.fastlimits import Fitter

    ref_level = validate.GV_LEVEL.check(ref_level, "ref_level")
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
        "ref_level": ref_level,
    }
    out["gross_vitells_observed"] = gross_vitells_observed(q_obs, ref_level)
    return out, x_gen


@dataclass(frozen=True)
class ToyJob:
    """Background-only toys of one job (one seed) reduced to what the global p-value needs.

    Attributes:
        seed: the seed the toys were drawn with.
        q0_max: max over the mass grid of q0, one per toy.
        upcrossings: interior upcrossings of the reference level c0, one per toy.
        components: excursion components (Euler characteristic) at c0, one per toy.
        n_failed: toys with a failed fit (their failed points count as q0 = 0).
    """

    seed: int
    q0_max: np.ndarray
    upcrossings: np.ndarray
    components: np.ndarray
    n_failed: int

    def __post_init__(self) -> None:
        n = np.shape(self.q0_max)
        if np.shape(self.upcrossings) != n or np.shape(self.components) != n or len(n) != 1:
            raise EmissError(f"toys of seed {self.seed}: q0_max, upcrossings and components "
                             "must be lists of the same length (one entry per toy)")
        if not 0 <= self.n_failed <= n[0]:
            raise EmissError(f"toys of seed {self.seed}: n_failed {self.n_failed} is not "
                             f"between 0 and the {n[0]} toys")

    @property
    def n_toys(self) -> int:
        """Number of toys."""
        return int(np.shape(self.q0_max)[0])


def merge_toys(jobs: Sequence[ToyJob]) -> ToyJob:
    """Toys of several jobs as one set: concatenated in the order of their seeds.

    The order of ``jobs`` does not matter (the same seeds give the same arrays, bit for bit);
    one job is returned as it is.

    Args:
        jobs: toys of jobs with distinct seeds.

    Returns:
        One ToyJob (``seed`` of the first job in seed order) with every toy.

    Raises:
        EmissError: no job, or a seed given twice (those toys would be the same draws).
    """
    if not jobs:
        raise EmissError("no toys to merge")
    seeds = [j.seed for j in jobs]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise EmissError(f"toys of seed {twice[0]} are given twice: toys of one seed are the "
                         "same draws; run every job with its own seed")
    if len(jobs) == 1:
        return jobs[0]
    order = sorted(jobs, key=lambda j: j.seed)
    return ToyJob(order[0].seed, np.concatenate([j.q0_max for j in order]),
                  np.concatenate([j.upcrossings for j in order]),
                  np.concatenate([j.components for j in order]),
                  sum(j.n_failed for j in order))


def toy_significance(observed: Mapping[str, Any], jobs: Sequence[ToyJob]) -> dict[str, Any]:
    """The global significance of an observed scan from background-only toys of one or several
    jobs (merged with :func:`merge_toys`).

    Args:
        observed: :func:`observed_significance`'s dict (``q0_max``, ``p_local``,
            ``ref_level``); the toys must count upcrossings at that ``ref_level`` on the
            same likelihood and mass grid.
        jobs: the toys.

    Returns:
        A copy of observed with ``toys`` and ``gross_vitells_toys`` (see
        :func:`global_significance`).
    """
    toys = merge_toys(jobs)
    qmax, ref_level = float(observed["q0_max"]), float(observed["ref_level"])
    out = dict(observed)
    out["toys"] = _toy_summary(toys.q0_max, toys.upcrossings, toys.components, toys.n_failed,
                               qmax, float(observed["p_local"]), ref_level)
    n_err = out["toys"]["mean_upcrossings_error"]
    out["gross_vitells_toys"] = gross_vitells(qmax, float(toys.upcrossings.mean()), ref_level,
                                              n_up_error=n_err, source="toys",
                                              n_toys=toys.n_toys)
    return out


def background_toys(scan: MassScan, x_gen: np.ndarray, n_toys: int, seed: int,
                    ref_level: float = GV_REF_LEVEL, batch: int = 250) -> ToyJob:
    """Background-only toys of a scan, each refitted over the whole mass grid.

    Args:
        scan: the mass scan.
        x_gen: the background-only fit the toys are drawn at (:func:`observed_significance`).
        n_toys: number of toys (>= 1).
        seed: their seed.
        ref_level: Gross-Vitells reference level c0 of q0.
        batch: toys fitted together (memory ~ batch * 30 * P doubles).

    Returns:
        The ToyJob.
    """
    n_toys = validate.GLOBAL_TOYS.check(n_toys, "n_toys")
    seed = validate.SEED.check(seed, "seed")
    if n_toys < 1:
        raise EmissError(f"n_toys {n_toys}: background_toys needs at least 1 toy")
    qm, up, phis, n_failed = _toy_curves(scan, x_gen, n_toys, seed, ref_level, batch)
    return ToyJob(seed, qm, up, phis, n_failed)


def _toy_curves(scan: MassScan, x_gen: np.ndarray, n_toys: int, seed: int, ref_level: float,
                batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The q0 curves of background-only toys, reduced to what the global p-value needs.

    Args:
        scan: the mass scan.
        x_gen: parameters the toys are drawn at (the background-only fit, first model's order).
        n_toys: number of toys.
        seed: their seed.
        ref_level: Gross-Vitells reference level c0.
        batch: toys fitted together.

    Returns:
        (max q0 per toy, upcrossings of c0 per toy, excursion components per toy, number of
        toys with a failed fit; their failed points count as q0 = 0).
    """
    fm0 = scan.models[0]
    rng = np.random.default_rng(seed)
    bm = BatchModel(fm0)
    qmaxes, ups, phis_l = [], [], []
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
        phis_l.append(excursion_components(q, ref_level))
        log.info("toys %d/%d", start + n, n_toys)
    return np.concatenate(qmaxes), np.concatenate(ups), np.concatenate(phis_l), n_failed


def _z_of_p(pv: float) -> float:
    """One-sided significance of a p-value (p clipped to [1e-300, 1]; never below 0)."""
    return float(max(norm.isf(min(max(pv, 1e-300), 1.0)), 0.0))


def _toy_summary(qm: np.ndarray, up: np.ndarray, phis: np.ndarray, n_failed: int, qmax: float,
                 p_local: float, ref_level: float) -> dict[str, Any]:
    """The ``toys`` block of :func:`global_significance`.

    Args:
        qm: max q0 per toy.
        up: upcrossings of c0 per toy.
        phis: excursion components per toy.
        n_failed: toys with a failed fit.
        qmax: observed max q0.
        p_local: its asymptotic local p-value.
        ref_level: Gross-Vitells reference level c0.

    Returns:
        The block (see :func:`global_significance`).
    """
    n_toys = qm.size
    n_pass = int(np.sum(qm >= qmax))
    p = n_pass / n_toys
    # binomial error; with no toy above the observation, the error of p = 1/N instead
    err = math.sqrt(max(p * (1 - p), 1.0 / n_toys) / n_toys) if n_pass < n_toys else 0.0
    p_up95 = 1.0 - 0.05 ** (1.0 / n_toys) if n_pass == 0 else None  # 95 % CL upper limit
    toys: dict[str, Any] = {
        "n_toys": n_toys, "n_exceeding": n_pass, "p_global": p, "p_global_error": err,
        "Z_global": _z_of_p(p) if n_pass else None,
        "p_global_upper_95": p_up95,
        "Z_global_lower_bound": _z_of_p(p_up95) if p_up95 is not None else None,  # no toy
        "Z_global_range": [_z_of_p(p + err),
                           _z_of_p(max(p - err, 0.0)) if p - err > 0 else None],
        "n_failed": n_failed, "mean_upcrossings": float(up.mean()),
        "mean_upcrossings_error": float(up.std(ddof=1) / math.sqrt(n_toys)) if n_toys > 1
        else None,
        "mean_euler_characteristic": float(phis.mean()),
        "fraction_starting_above_ref": float(np.mean(phis > up)),
        "q0_max_quantiles": {str(qq): float(np.quantile(qm, qq)) for qq in (0.5, 0.9, 0.99)},
    }
    tf = p / p_local if p_local > 0 else math.inf
    toys["trials_factor"] = tf
    if n_pass and tf < 1.0:  # a measurement: kept, but never silently
        log.warning("toy trials factor %.3g < 1: p_global %.3g +- %.2g below the asymptotic "
                    "local p %.3g (toy statistics, or q0 not chi^2-distributed at one mass)",
                    tf, p, err, p_local)
        toys["caveat"] = (f"trials factor {tf:.3g} < 1: the toy p_global is below the "
                          "asymptotic local p (toy statistics, or q0 at one mass is not "
                          "chi^2-distributed); not clipped, it is a measurement")
    toys["gv_check"] = gv_check(qm, float(up.mean()), ref_level)
    return toys
