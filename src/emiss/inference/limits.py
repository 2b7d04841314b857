"""Per-hypothesis CLs limits, discovery significance and best fit.

Two engines compute the same row (keys of docs/interfaces.md):

* ``"pyhf"``: the plain pyhf way (:func:`reference_analyse`): a fresh
  ``pyhf.Workspace(spec).model(patches=[patch])`` per hypothesis,
  ``pyhf.infer.intervals.upper_limits.upper_limit`` (toms748 root finding),
  ``pyhf.infer.hypotest(0, ..., test_stat="q0")`` for the discovery p-value and
  ``pyhf.infer.mle.fit`` for the best fit. Slow but the reference.
* ``"fast"`` (default): :mod:`emiss.inference.fastmodel` compiles the background model
  once and only swaps the signal arrays per hypothesis; the asymptotic formulae are those of
  Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727 (Eqs. 16, 52-66) as implemented by
  ``pyhf.infer.calculators.AsymptoticCalculator`` (pyhf 0.7.6). Newton steps cost time linear
  in the number of nuisance parameters (:mod:`emiss.inference.structured`), each limit is a
  Newton root on the profile likelihood's exact derivative
  (:class:`emiss.inference.fastlimits.ProfileLimits`).
* ``"reference"``: the previous fast engine, kept for comparison and as a fallback: the same
  compiled model, dense P x P Newton steps and secant root finding
  (:class:`emiss.inference.fastlimits.AsymptoticLimits`); limits equal the fast engine's to
  fit tolerance.

Toy-based limits (``calctype="toybased"``): the fast engine runs its own vectorised toys
(:mod:`emiss.inference.toys`, pyhf's ToyCalculator procedure); engine ``"pyhf"`` uses
``pyhf.infer`` with ``calctype="toybased"``.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import norm

from emiss.errors import EmissError
from emiss.inference.rows import ROW_KEYS, failed_row  # noqa: F401 (ROW_KEYS re-exported)
from emiss.names import POI

if TYPE_CHECKING:
    from emiss.inference.fastmodel import FastBackground

log = logging.getLogger(__name__)

ENGINES = ("fast", "reference", "pyhf")
CALCTYPES = ("asymptotics", "toybased")


def _check_common(cl: float, calctype: str) -> None:
    from emiss import validate

    validate.CL.check(cl, "cl")
    if calctype not in CALCTYPES:
        raise EmissError(f"calctype {calctype!r} is unknown; valid: {', '.join(CALCTYPES)}")


#: Wall-time budget (s) of one pyhf limit search (the toms748 scans of the pyhf engine and of
#: the scan's last-resort fallback): past it the row fails with this reason.
LIMIT_SEARCH_SECONDS = 300.0
#: Largest number of halvings (doublings) of the lower (upper) end of the limit bracket: 30
#: steps move it by a factor 1e9; a CLs curve that does not cross the level by then never will.
LIMIT_BRACKET_STEPS = 30


class LimitSearchError(RuntimeError):
    """A limit search gave up: no bracket, or its time budget ran out (the reason says which)."""


# One function on purpose: it follows pyhf 0.7.6's toms748_scan step by step (the same closures
# over one cache of CLs results), so that the two can be compared line by line.
def bounded_toms748_scan(data: Any, model: Any, bounds_low: float, bounds_up: float, *,
                         level: float = 0.05, atol: float = 2e-12, rtol: float = 1e-4,
                         max_seconds: float = LIMIT_SEARCH_SECONDS,
                         max_steps: int = LIMIT_BRACKET_STEPS, expected: bool = True,
                         **hypotest_kwargs: Any) -> tuple[Any, list, tuple[list, list]]:
    """pyhf's ``toms748_scan`` (0.7.6) with bounded bracket steps and a wall-time budget.

    The same algorithm as ``pyhf.infer.intervals.upper_limits.toms748_scan`` (same CLs
    evaluations, same roots), except that pyhf widens the bracket without end (``while``
    loops that halve the lower end and double the upper one): for a level CLs never reaches
    (e.g. 1 - cl outside (0, 1)) that ran for minutes. Here the level is checked first, the
    bracket moves at most ``max_steps`` times per end and every CLs evaluation checks the
    deadline.

    Args:
        data: observed data (with auxdata).
        model: the pyhf model.
        bounds_low: lower end of the first bracket (> 0 for the qtilde statistic at mu_hat = 0).
        bounds_up: upper end of the first bracket.
        level: CLs level, 1 - cl, in (0, 1).
        atol: absolute tolerance of the roots.
        rtol: relative tolerance of the roots.
        max_seconds: wall-time budget.
        max_steps: largest number of halvings / doublings of the bracket ends.
        expected: False: bracket and solve the observed limit only (the expected are NaN).
        **hypotest_kwargs: passed to ``pyhf.infer.hypotest``.

    Returns:
        (observed limit, 5 expected limits, (tested mu values, their CLs results)).

    Raises:
        LimitSearchError: the level is not in (0, 1), no bracket was found within the steps,
            or the time budget ran out.
    """
    import time

    from pyhf.infer import hypotest
    from scipy.optimize import toms748

    if not 0.0 < level < 1.0:
        raise LimitSearchError(f"CLs level {level!r} is not in (0, 1): no limit to search")
    deadline = time.monotonic() + max_seconds
    cache: dict[float, Any] = {}

    def f_cached(poi: float) -> Any:
        if poi not in cache:
            if time.monotonic() > deadline:
                raise LimitSearchError(f"limit search exceeded its time budget of "
                                       f"{max_seconds:g} s after {len(cache)} CLs evaluations")
            cache[poi] = hypotest(poi, data, model, return_expected_set=True,
                                  **hypotest_kwargs)
        return cache[poi]

    def f(poi: float, lev: float, limit: int = 0) -> float:
        res = f_cached(poi)
        return (res[0] if limit == 0 else res[1][limit - 1]) - lev

    def best_bracket(limit: int) -> tuple[float, float]:
        ks = np.asarray(list(cache.keys()))
        vals = np.asarray([v[0] - level if limit == 0 else v[1][limit - 1] - level
                           for v in cache.values()])
        pos, neg = vals >= 0, vals < 0
        return ks[pos][np.argmin(vals[pos])], ks[neg][np.argmax(vals[neg])]

    def all_cls(res: Any) -> np.ndarray:
        return np.asarray([res[0], *res[1]] if expected else [res[0]], dtype=float)

    steps = 0
    while np.any(all_cls(f_cached(bounds_low)) < level):
        steps += 1
        if steps > max_steps:
            raise LimitSearchError(f"no limit bracket: CLs stays below {level:g} down to "
                                   f"mu = {bounds_low:.3g} ({max_steps} halvings)")
        bounds_low /= 2
    steps = 0
    while np.any(all_cls(f_cached(bounds_up)) > level):
        steps += 1
        if steps > max_steps:
            raise LimitSearchError(f"no limit bracket: CLs stays above {level:g} up to "
                                   f"mu = {bounds_up:.3g} ({max_steps} doublings)")
        bounds_up *= 2
    obs = toms748(f, bounds_low, bounds_up, args=(level, 0), k=2, xtol=atol, rtol=rtol)
    if not expected:
        return obs, [math.nan] * 5, (list(cache.keys()), list(cache.values()))
    exp = [toms748(f, *best_bracket(i), args=(level, i), k=2, xtol=atol, rtol=rtol)
           for i in range(1, 6)]
    return obs, exp, (list(cache.keys()), list(cache.values()))


def significance_from_p0(p0: float) -> float:
    """One-sided Gaussian significance Z = Phi^-1(1 - p0) (arXiv:1007.1727, Eq. 2).

    Args:
        p0: discovery p-value.

    Returns:
        Z (0 for p0 >= 0.5, nan for nan).
    """
    if p0 is None or not np.isfinite(p0):
        return float("nan")
    return float(max(norm.isf(p0), 0.0))


def pyhf_cls_curve(data: Any, model: Any, obs: float, exp: list[float], points: int,
                   **hypotest_kwargs: Any) -> dict[str, list]:
    """The CLs curve of one hypothesis with pyhf's ``hypotest`` (qtilde, expected set).

    Args:
        data: observed data (with auxdata).
        model: the pyhf model.
        obs: observed limit on mu.
        exp: expected limits on mu (NaN entries ignored for the grid).
        points: grid points (``emiss.inference.fastlimits.cls_curve_grid``).
        **hypotest_kwargs: passed to ``pyhf.infer.hypotest`` (e.g. ``calctype``).

    Returns:
        {"mu": grid, "cls_obs": CLs per mu, "cls_exp": 5 CLs per mu (n_sigma 2 ... -2)}.
    """
    from pyhf.infer import hypotest

    from emiss.inference.fastlimits import cls_curve_grid

    mus = cls_curve_grid(obs, exp, points)
    c_obs, c_exp = [], []
    for mu in mus:
        res = hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True,
                       **hypotest_kwargs)
        c_obs.append(float(res[0]))
        c_exp.append([float(v) for v in res[1]])
    return {"mu": mus, "cls_obs": c_obs, "cls_exp": c_exp}


def _pyhf_model(workspace: Any, patch_ops: list | None, poi: str) -> tuple[Any, Any]:
    """Build the pyhf model of one hypothesis and its observed data (+ auxdata)."""
    patches = [patch_ops] if patch_ops else None
    model = workspace.model(patches=patches, poi_name=poi)
    data = workspace.data(model)
    return model, data


def reference_analyse(
    workspace_spec: dict | Any,
    patch_ops: list | None,
    *,
    poi: str = POI,
    cl: float = 0.95,
    calctype: str = "asymptotics",
    observed_only: bool = False,
    cls_points: int = 0,
    **hypotest_kwargs: Any,
) -> dict[str, Any]:
    """Analyse one hypothesis the plain pyhf way (the reference for the fast engine).

    Args:
        workspace_spec: background-only workspace (JSON dict or ``pyhf.Workspace``).
        patch_ops: JSON Patch operations of the hypothesis (a patchset entry's ``patch``).
        poi: parameter of interest.
        cl: confidence level of the upper limits (CLs < 1 - cl excluded).
        calctype: ``"asymptotics"`` or ``"toybased"``.
        observed_only: search the observed limit only (``mu_limit_exp`` NaN).
        cls_points: > 0: also the CLs curve (``pyhf_cls_curve``) of that many points.
        **hypotest_kwargs: passed to ``pyhf.infer.hypotest`` (e.g. ``ntoys``).

    Returns:
        Row dict: ``mu_hat``, ``twice_nll``, ``mu_limit_obs``, ``mu_limit_exp`` (5 values:
        -2, -1, 0, +1, +2 sigma), ``p0``, ``Z``, ``status`` ("ok" or the failure), and
        ``cls_curve`` with ``cls_points``.
    """
    import pyhf

    _check_common(cl, calctype)
    ws = workspace_spec if isinstance(workspace_spec, pyhf.Workspace) else pyhf.Workspace(
        workspace_spec
    )
    try:
        model, data = _pyhf_model(ws, patch_ops, poi)
    except Exception as exc:  # bad patch / poi: a per-hypothesis failure, never dropped
        return failed_row(f"model build failed: {exc}")
    row = failed_row("failed")
    try:
        pars, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
        row["mu_hat"] = float(pars[model.config.poi_index])
        row["mu_upper_bound"] = float(model.config.suggested_bounds()[model.config.poi_index][1])
        row["twice_nll"] = float(twice_nll)
        lo, hi = model.config.suggested_bounds()[model.config.poi_index]
        try:  # pyhf's upper_limit (bracket = the POI's bounds), with bounded work
            obs, exp, _ = bounded_toms748_scan(data, model, lo, hi, level=1.0 - cl,
                                               expected=not observed_only, calctype=calctype,
                                               **hypotest_kwargs)
        except ValueError as exc:
            # with mu_hat = 0 the asymptotic qtilde is 0/0 at mu = 0 and toms748 refuses the
            # NaN ("function value at x=0 is NaN"): start the bracket just above 0 instead
            log.info("upper_limit failed (%s); bracket from mu = %g", exc, 1e-4 * hi)
            obs, exp, _ = bounded_toms748_scan(
                data, model, max(lo, 1e-4 * hi), hi, level=1.0 - cl,
                expected=not observed_only, calctype=calctype, **hypotest_kwargs,
            )
        row["mu_limit_obs"] = float(obs)
        row["mu_limit_exp"] = [float(e) for e in exp]
        if cls_points > 0:
            row["cls_curve"] = pyhf_cls_curve(data, model, row["mu_limit_obs"],
                                              row["mu_limit_exp"], cls_points,
                                              calctype=calctype, **hypotest_kwargs)
        p0 = pyhf.infer.hypotest(
            0.0, data, model, test_stat="q0", calctype=calctype, **hypotest_kwargs
        )
        row["p0"] = float(p0)
        row["Z"] = significance_from_p0(row["p0"])
        row["status"] = "ok"
    except Exception as exc:
        log.warning("pyhf analysis failed: %s", exc)
        row["status"] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
    return row


class GridAnalyzer:
    """Analyse many hypotheses (patches) of one background-only workspace.

    The fast engine compiles the background model once; per hypothesis only the signal
    arrays change, and fits can be warm-started from a neighbouring hypothesis.

    Args:
        workspace_spec: background-only workspace JSON dict.
        poi: parameter of interest.
        cl: confidence level.
        calctype: ``"asymptotics"`` or ``"toybased"``.
        engine: ``"fast"`` (default), ``"reference"`` (the previous fast engine) or
            ``"pyhf"``.
        observed_only: the observed limit only, no expected band (``mu_limit_exp`` NaN). The
            asymptotic engines then skip the expected limits' fits; with toys the band comes
            from the same toys and is only dropped.
        cls_points: > 0: each row also holds its CLs curve (``"cls_curve"``: observed and
            expected CLs on that many values of mu, ``fastlimits.cls_curve_grid``);
            asymptotics only.
        **hypotest_kwargs: extra arguments for pyhf (engine ``"pyhf"`` only); ``ntoys`` and
            ``toy_seed`` set the toys of either engine.
    """

    def __init__(
        self,
        workspace_spec: dict,
        *,
        poi: str = POI,
        cl: float = 0.95,
        calctype: str = "asymptotics",
        engine: str = "fast",
        observed_only: bool = False,
        cls_points: int = 0,
        **hypotest_kwargs: Any,
    ) -> None:
        import pyhf

        _check_common(cl, calctype)
        if engine not in ENGINES:
            raise EmissError(f"engine {engine!r} is unknown; valid: {', '.join(ENGINES)}")
        check_cls_curve(cls_points, calctype)
        self.observed_only = bool(observed_only)
        self.cls_points = int(cls_points)
        self.spec = copy.deepcopy(workspace_spec)
        self.poi = poi
        self.cl = cl
        self.calctype = calctype
        self.hypotest_kwargs = hypotest_kwargs
        try:
            self._workspace = pyhf.Workspace(self.spec)
        except Exception as exc:
            raise EmissError(f"workspace is not a valid pyhf workspace: {exc}") from exc
        self.ntoys = int(hypotest_kwargs.pop("ntoys", 2000))
        self.toy_seed = int(hypotest_kwargs.pop("toy_seed", 0))
        if engine == "pyhf" and calctype == "toybased":
            check_pyhf_toys()
            self.hypotest_kwargs["ntoys"] = self.ntoys
        self._fast: FastBackground | None = None
        if engine in ("fast", "reference"):
            from emiss.inference.fastmodel import FastBackground, UnsupportedSpec

            try:
                self._fast = FastBackground(self.spec, poi=poi)
            except UnsupportedSpec as exc:
                log.warning("fast engine cannot handle this workspace (%s); using pyhf", exc)
                engine = "pyhf"
        self.engine = engine

    def analyse(self, patch_ops: list | None, warm_start: dict | None = None,
                cl: float | None = None) -> dict[str, Any]:
        """Analyse one hypothesis.

        Args:
            patch_ops: JSON Patch operations of the hypothesis.
            warm_start: the ``"warm_start"`` value returned for a neighbouring hypothesis, or
                None. Opaque (a JSON-serialisable dict); results agree to fit tolerance with
                or without it.
            cl: confidence level of this call's limits (default: the analyzer's).

        Returns:
            Row dict (keys of :data:`ROW_KEYS`) plus ``"warm_start"``: state to pass to the
            next hypothesis. Pop ``"warm_start"`` before writing the row.
        """
        if cl is None:
            cl = self.cl
        else:
            _check_common(cl, self.calctype)
        if self._fast is not None and self.engine in ("fast", "reference"):
            from emiss.inference.fastmodel import UnsupportedSpec

            try:
                fm = self._fast.with_patch(patch_ops)
            except UnsupportedSpec as exc:
                log.warning("fast engine cannot handle this patch (%s); using pyhf", exc)
            else:
                if self.calctype == "toybased":
                    from emiss.inference.toys import fast_toy_analyse

                    row = fast_toy_analyse(fm, cl=cl, ntoys=self.ntoys, seed=self.toy_seed)
                    row["warm_start"] = None
                    return self._observed_only(row)
                from emiss.inference.fastlimits import fast_analyse

                return fast_analyse(fm, cl=cl, warm_start=warm_start, engine=self.engine,
                                    observed_only=self.observed_only,
                                    cls_points=self.cls_points)
        row = reference_analyse(
            self._workspace,
            patch_ops,
            poi=self.poi,
            cl=cl,
            calctype=self.calctype,
            observed_only=self.observed_only,
            cls_points=self.cls_points,
            **self.hypotest_kwargs,
        )
        row["warm_start"] = None
        return self._observed_only(row)

    def _observed_only(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its expected limits dropped (NaN) when the analyzer is observed-only."""
        if self.observed_only:
            row["mu_limit_exp"] = [math.nan] * 5
        return row


#: Most points of a CLs curve (each costs two fits).
MAX_CLS_POINTS = 1000


def check_cls_curve(cls_points: Any, calctype: str) -> None:
    """EmissError unless ``cls_points`` is 0 (no curve) or a count the curve can use.

    Args:
        cls_points: points of the CLs curve (0: none).
        calctype: ``"asymptotics"`` or ``"toybased"``.

    Raises:
        EmissError: a bad count, or a curve asked of toys.
    """
    if cls_points is None or cls_points is False or cls_points == 0:
        return
    if isinstance(cls_points, bool) or not isinstance(cls_points, int) \
            or not 2 <= cls_points <= MAX_CLS_POINTS:
        raise EmissError(f"cls_points {cls_points!r}: the CLs curve needs an integer number "
                         f"of points from 2 to {MAX_CLS_POINTS} (0: no curve)")
    if calctype != "asymptotics":
        raise EmissError(f"a CLs curve (cls_points={cls_points}) needs calctype "
                         f"'asymptotics', not {calctype!r}: each point would need its own toys")


def check_pyhf_toys() -> None:
    """Stop before any work when pyhf's own toy calculator cannot run here.

    pyhf 0.7.6's ToyCalculator calls ``percentile(..., interpolation=)``, a keyword numpy 2.4
    removed; its toys then fail after the first fits.

    Raises:
        EmissError: naming the versions and the working alternatives.
    """
    import pyhf

    try:
        pyhf.tensorlib.percentile(pyhf.tensorlib.astensor([1.0, 2.0]), 50)
    except TypeError as exc:
        raise EmissError(
            f"--engine pyhf --calctype toybased: pyhf {pyhf.__version__}'s toy calculator "
            f"fails with numpy {np.__version__} ({exc}); use the fast engine's toys (the "
            "default --engine fast) or numpy < 2.4") from None
