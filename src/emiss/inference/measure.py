"""Fit of a signal strength on a workspace and its signal patch (the engine of ``emiss measure``).

The signal enters as a JSON Patch list (the SM hypothesis is a patch like any other), given by
the caller: ``emiss.studies.measure`` builds the SM patch and states what mu = 1 stands for.

Outputs (profile likelihood ratio t(mu) = -2 ln L(mu, theta_hat_hat) / L(mu_hat, theta_hat)):
``mu_hat``; ``mu_err_up``/``mu_err_down`` where t(mu) = 1 (scanned by root finding on
fixed-mu fits, equivalent to MINOS); ``Z_bkg_only`` = sqrt(t(0)) (discovery significance, 0 when
mu_hat <= 0); ``Z_sm`` = sign(mu_hat - 1) sqrt(t(1)) (significance of mu_hat against mu = 1).

Fits run on emiss's compiled likelihood (``emiss.inference.fastmodel``, equal to pyhf's; a fit
of Belle II's 232-parameter likelihood takes ~0.05 s instead of a minute); a workspace feature
it does not support, or a fit it cannot converge, falls back to pyhf with MINUIT then scipy.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar, cast

import jsonpatch
import numpy as np
import pyhf

from emiss.bundles.bundle import POI, Bundle
from emiss.errors import EmissError
from emiss.io import round_sig

log = logging.getLogger(__name__)


@dataclass
class MeasureResult:
    """Result of one measurement (JSON-ready via ``to_dict``)."""

    workspace: str
    mu_hat: float
    mu_err_up: float
    mu_err_down: float
    Z_bkg_only: float
    Z_sm: float
    br_hat: float
    reference_branching_ratio: float
    twice_nll: float
    signal_patch_source: str
    channels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (rounded to 4 significant digits where physical)."""
        d = asdict(self)
        for k in ("mu_hat", "mu_err_up", "mu_err_down", "Z_bkg_only", "Z_sm", "br_hat"):
            d[k] = round_sig(d[k], 4, flush=False)
        return d


#: Optimizer of every fit (pyhf's MINUIT interface; errordef 1 on -2 ln L).
_MINUIT = pyhf.optimize.minuit_optimizer(tolerance=1e-2)
#: pyhf logs a failed minimisation with its full result; retries are ours to report.
_PYHF_OPT_LOG = logging.getLogger("pyhf.optimize.mixins")


@dataclass
class FitModel:
    """A pyhf model + data for the patched workspace."""

    workspace: pyhf.Workspace
    model: Any
    data: np.ndarray


_F = TypeVar("_F", bound=Callable[..., Any])


def restores_pyhf_backend(fn: _F) -> _F:
    """Run fn with whatever pyhf backend and optimizer it sets, then give the caller's back.

    pyhf's backend is process-wide state: a library call must not leave a user's (or another
    fit's) choice of optimizer changed.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        saved = pyhf.get_backend()
        try:
            return fn(*args, **kwargs)
        finally:
            pyhf.set_backend(*saved)

    return cast(_F, wrapper)


def patched_model(spec: dict, patch: list[dict]) -> FitModel:
    """Apply the signal patch and build the model with POI mu."""
    try:
        patched = jsonpatch.apply_patch(spec, patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise EmissError(f"signal patch does not apply to the workspace: {exc}") from None
    ws = pyhf.Workspace(patched)
    model = ws.model(poi_name=POI)
    return FitModel(ws, model, np.asarray(ws.data(model)))


class _FastFits:
    """Free and fixed-mu fits of a patched workspace on the fast engine (pyhf parameter order).

    Raises (at construction) UnsupportedSpec when the engine cannot compile the workspace.
    """

    def __init__(self, spec: dict, patch: list[dict], fm: FitModel) -> None:
        from emiss.inference.fastlimits import Fitter
        from emiss.inference.fastmodel import model_from_workspace, to_pyhf_order

        self.fast = model_from_workspace(spec, patch, poi=POI)
        self.fitter = Fitter(self.fast)
        self.data = self.fast.observed_data()
        self.fm = fm
        self._order = to_pyhf_order
        self._last: np.ndarray | None = None

    def twice_nll(self, mu: float | None) -> tuple[float, np.ndarray]:
        """(-2 ln L minimum, parameters in pyhf order); FitFailure propagates."""
        pars, val = self.fitter.fit(self.data, poi_value=mu, x0=self._last)
        if mu is None:
            self._last = pars
        return float(val), np.asarray(self._order(self.fast, self.fm.model, pars))


def _fits(spec: dict, patch: list[dict], fm: FitModel
          ) -> Callable[..., tuple[float, np.ndarray]]:
    """A fit function mu -> (-2 ln L, pars): the fast engine, else pyhf (see module doc)."""
    from emiss.inference.fastlimits import FitFailure
    from emiss.inference.fastmodel import UnsupportedSpec

    try:
        fast = _FastFits(spec, patch, fm)
    except UnsupportedSpec as exc:
        log.info("fast engine unavailable (%s); fitting with pyhf", exc)
        fast = None

    def fit(mu: float | None, init: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        if fast is not None:
            try:
                return fast.twice_nll(mu)
            except FitFailure as exc:
                log.info("fast fit at mu=%s failed (%s); retrying with pyhf", mu, exc)
        return _twice_nll(fm, mu, init)

    return fit


def _twice_nll(fm: FitModel, mu: float | None, init: np.ndarray | None = None)\
        -> tuple[float, np.ndarray]:
    """Minimum of -2 ln L with pyhf, free (mu None) or at fixed mu, warm-started from init.

    A failed minimisation is retried from the model's suggested start, then with scipy.
    """
    starts = [init, None] if init is not None else [None]
    last: Exception | None = None
    level = _PYHF_OPT_LOG.level
    _PYHF_OPT_LOG.setLevel(logging.CRITICAL)
    try:
        return _fit_with_retries(fm, mu, starts)
    except pyhf.exceptions.FailedMinimization as exc:
        last = exc
    finally:
        _PYHF_OPT_LOG.setLevel(level)
        pyhf.set_backend("numpy", _MINUIT)
    raise EmissError(f"the fit at mu={mu} did not converge: {str(last).splitlines()[0]}")


def _fit_with_retries(fm: FitModel, mu: float | None, starts: list) -> tuple[float, np.ndarray]:
    """Try MINUIT then scipy, from each start; re-raise the last failure."""
    last: Exception | None = None
    for optimizer in (_MINUIT, pyhf.optimize.scipy_optimizer()):
        pyhf.set_backend("numpy", optimizer)
        for start in starts:
            kw = {} if start is None else {"init_pars": [float(x) for x in start]}
            try:
                if mu is None:
                    pars, val = pyhf.infer.mle.fit(fm.data, fm.model, return_fitted_val=True, **kw)
                else:
                    pars, val = pyhf.infer.mle.fixed_poi_fit(
                        mu, fm.data, fm.model, return_fitted_val=True, **kw)
                return float(np.asarray(val)), np.asarray(pars)
            except pyhf.exceptions.FailedMinimization as exc:
                last = exc
                log.debug("fit at mu=%s failed; retrying", mu)
    raise last  # type: ignore[misc]


def _crossing(g: Callable[[float], float], known: dict[float, float], mu_hat: float,
              direction: int, step: float, bounds: tuple[float, float]) -> float:
    """mu on the side ``direction`` (+1 / -1) of mu_hat where g(mu) = sqrt(t(mu)) - 1 = 0.

    sqrt(t(mu)) is close to linear in mu, so the secant through the nearest known points
    converges in one or two fits; once the root is bracketed, the secant uses the bracketing
    pair (a profile-likelihood scan equivalent to MINOS).

    Args:
        g: function of mu (one fixed-mu fit per call).
        known: already evaluated points mu -> g(mu) (mu_hat -> -1 included).
        mu_hat: best fit.
        direction: +1 for the upper, -1 for the lower crossing.
        step: first step when nothing on that side is known.
        bounds: allowed mu range.

    Returns:
        The crossing (a bound when t(mu) stays below 1 up to it).
    """
    lo_b, hi_b = bounds
    pts = {m: v for m, v in known.items() if (m - mu_hat) * direction >= 0}
    for _ in range(12):
        inner = max((m for m in pts if pts[m] < 0), key=lambda m: (m - mu_hat) * direction)
        outer = [m for m in pts if pts[m] >= 0]
        if outer:
            b = min(outer, key=lambda m: (m - mu_hat) * direction)
            ga, gb = pts[inner], pts[b]
            x = inner - ga * (b - inner) / (gb - ga)
        else:
            prev = [m for m in pts if m != inner and pts[m] < pts[inner]]
            slope = 0.0
            if prev:
                a = max(prev, key=lambda m: (m - mu_hat) * direction)
                slope = (pts[inner] - pts[a]) / (inner - a)
            x = inner - pts[inner] / slope if slope * direction > 0 else inner + direction * step
            x = inner + direction * min(abs(x - inner), 4 * step)
        x = min(max(x, lo_b), hi_b)
        if x in pts:
            break
        pts[x] = g(x)
        if abs(pts[x]) < 5e-3:
            return x
        if pts[x] < 0 and x in (lo_b, hi_b):
            log.warning("t(mu) = 1 crossing lies beyond the mu bound %g", x)
            return x
    return min(pts, key=lambda m: abs(pts[m]))


@restores_pyhf_backend
def fit_signal_strength(bundle: Bundle, patch: list[dict], reference_br: float,
                        progress: Callable[[str], None] | None = None,
                        source: str = "caller") -> MeasureResult:
    """Fit the signal strength mu of the signal a patch adds.

    Args:
        bundle: the workspace bundle.
        patch: JSON Patch adding the signal (sample ``signal`` with normfactor ``mu``).
        reference_br: the branching ratio mu = 1 stands for (``br_hat = mu_hat x reference_br``).
        progress: called with a short message before each long step (the CLI prints them).
        source: where the patch comes from (``MeasureResult.signal_patch_source``).

    Returns:
        The MeasureResult.
    """
    def say(message: str) -> None:
        log.info("measure %s: %s", bundle.stem, message)
        if progress is not None:
            progress(message)

    if not bundle.meta:  # the CLI refuses this unless --no-sidecar (emiss.cli._common)
        log.info("workspace %s has no sidecar: the signal carries only mu (no per-channel "
                 "signal modifiers)", bundle.stem)
    pyhf.set_backend("numpy", _MINUIT)
    fm = patched_model(bundle.spec, patch)
    n_ch = len(fm.model.config.channels)
    say(f"best fit ({len(fm.model.config.par_names)} parameters, {n_ch} channel"
        f"{'s' if n_ch > 1 else ''})")
    fit = _fits(bundle.spec, patch, fm)
    t_best, pars = fit(None)
    idx = fm.model.config.poi_index
    mu_hat = float(pars[idx])
    bounds = (float(fm.model.config.suggested_bounds()[idx][0]),
              float(fm.model.config.suggested_bounds()[idx][1]))
    cache: dict[float, float] = {}

    def t_at(mu: float) -> float:
        if mu not in cache:
            init = pars.copy()
            init[idx] = mu
            cache[mu] = max(fit(mu, init)[0] - t_best, 0.0)
        return cache[mu]

    def g(mu: float) -> float:
        return float(np.sqrt(t_at(mu))) - 1.0

    say(f"mu_hat = {mu_hat:.3g}; profile at mu = 0 and mu = 1 (Z_bkg_only, Z_sm)")
    t0, t1 = t_at(0.0), t_at(1.0)
    known = {mu_hat: -1.0, 0.0: g(0.0), 1.0: g(1.0)}
    say("68 % interval: profile-likelihood crossings t(mu) = 1")
    down = mu_hat - _crossing(g, known, mu_hat, -1, 1.0, bounds)
    up = _crossing(g, known, mu_hat, +1, max(down, 0.1), bounds) - mu_hat
    z0 = float(np.sqrt(t0)) if mu_hat > 0 else 0.0
    z1 = float(np.sign(mu_hat - 1.0) * np.sqrt(t1))
    ref = float(reference_br)
    return MeasureResult(
        workspace=str(bundle.path), mu_hat=mu_hat, mu_err_up=float(up), mu_err_down=float(down),
        Z_bkg_only=z0, Z_sm=z1, br_hat=mu_hat * ref, reference_branching_ratio=ref,
        twice_nll=t_best, signal_patch_source=source,
        channels=[c["name"] for c in bundle.spec["channels"]],
    )


@restores_pyhf_backend
def postfit_yields(bundle: Bundle, patch: list[dict]) -> dict[str, dict]:
    """Post-fit yields per channel and sample plus observed data (for plots).

    Args:
        bundle: the workspace bundle.
        patch: JSON Patch adding the signal.

    Returns:
        channel -> {"samples": {name: yields}, "data": observed}.
    """
    pyhf.set_backend("numpy", _MINUIT)
    fm = patched_model(bundle.spec, patch)
    _, pars = _fits(bundle.spec, patch, fm)(None)
    by_sample = np.asarray(fm.model.main_model.expected_data(pars, return_by_sample=True))
    out = {}
    for ch in fm.model.config.channels:
        sl = fm.model.config.channel_slices[ch]
        out[ch] = {
            "samples": {s: by_sample[i][sl] for i, s in enumerate(fm.model.config.samples)},
            "data": np.asarray(fm.workspace.observations[ch]),
        }
    return out


def _expected_by_sample(fm: FitModel, pars: np.ndarray) -> np.ndarray:
    """Expected main-model yields per sample (samples x bins) at pars."""
    return np.asarray(fm.model.main_model.expected_data(pars, return_by_sample=True))


def _fast_covariance(spec: dict, patch: list[dict], fm: FitModel
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """Best fit and covariance (inverse expected-information Hessian of -ln L over the free
    parameters, the quantity MINUIT's HESSE estimates) on the fast engine, in pyhf order;
    None when the engine cannot compile the workspace or the fit fails."""
    from emiss.inference.fastlimits import FitFailure
    from emiss.inference.fastmodel import UnsupportedSpec

    try:
        fast = _FastFits(spec, patch, fm)
        pars_f, _ = fast.fitter.fit(fast.data)
    except (UnsupportedSpec, FitFailure) as exc:
        log.info("fast covariance unavailable (%s); using MINUIT's HESSE", exc)
        return None
    _, _, hess = fast.fast.nll_grad_hess(pars_f, fast.data)
    if hess is None:
        return None
    free = np.flatnonzero(~fast.fast.fixed)
    cov_f = np.zeros_like(hess)
    try:
        cov_f[np.ix_(free, free)] = np.linalg.inv(hess[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        return None
    order = {n: i for i, n in enumerate(fast.fast.par_names)}
    idx = np.array([order[n] if n in order else order[f"{n}[0]"]
                    for n in fm.model.config.par_names])
    return pars_f[idx], cov_f[np.ix_(idx, idx)]


@restores_pyhf_backend
def postfit(bundle: Bundle, patch: list[dict]) -> dict[str, dict]:
    """Post-fit yields per channel and sample, their total's 1 sigma band and the data.

    The band is the linear propagation of the fit covariance (the inverse expected-information
    Hessian on the fast engine, else MINUIT HESSE, at the best fit) to
    the total expected yield per bin: sigma^2 = J C J^T with J the derivative of the yields
    with respect to the parameters (central finite differences, step 1e-3 sigma of each
    parameter).

    Args:
        bundle: the workspace bundle.
        patch: JSON Patch adding the signal.

    Returns:
        channel -> {"samples": {name: yields}, "total": yields, "total_err": 1 sigma,
        "data": observed}.
    """
    fm = patched_model(bundle.spec, patch)
    fast = _fast_covariance(bundle.spec, patch, fm)
    if fast is not None:
        pars, cov = fast
        err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    else:
        level = _PYHF_OPT_LOG.level
        _PYHF_OPT_LOG.setLevel(logging.CRITICAL)
        try:
            pyhf.set_backend("numpy", _MINUIT)
            res, corr = pyhf.infer.mle.fit(fm.data, fm.model, return_uncertainties=True,
                                           return_correlations=True)
        except pyhf.exceptions.FailedMinimization as exc:
            raise EmissError("the post-fit fit did not converge: "
                             f"{str(exc).splitlines()[0]}") from None
        finally:
            _PYHF_OPT_LOG.setLevel(level)
        res = np.asarray(res, dtype=float)
        pars, err = res[:, 0], res[:, 1]
        cov = np.asarray(corr, dtype=float) * np.outer(err, err)
    by_sample = _expected_by_sample(fm, pars)
    total = by_sample.sum(axis=0)
    jac = np.zeros((total.size, pars.size))
    bounds = fm.model.config.suggested_bounds()
    for k in range(pars.size):
        h = 1e-3 * err[k] if err[k] > 0 else 0.0
        if h == 0.0:
            continue
        up, dn = pars.copy(), pars.copy()
        up[k] = min(pars[k] + h, bounds[k][1])
        dn[k] = max(pars[k] - h, bounds[k][0])
        if up[k] == dn[k]:
            continue
        jac[:, k] = (_expected_by_sample(fm, up).sum(axis=0)
                     - _expected_by_sample(fm, dn).sum(axis=0)) / (up[k] - dn[k])
    var = np.einsum("ik,kl,il->i", jac, cov, jac)
    total_err = np.sqrt(np.clip(var, 0.0, None))
    out = {}
    for ch in fm.model.config.channels:
        sl = fm.model.config.channel_slices[ch]
        out[ch] = {
            "samples": {s: by_sample[i][sl] for i, s in enumerate(fm.model.config.samples)},
            "total": total[sl],
            "total_err": total_err[sl],
            "data": np.asarray(fm.workspace.observations[ch], dtype=float),
        }
    return out
