"""A spey backend on emiss's compiled HistFactory likelihood.

spey (J. Y. Araz, SciPost Phys. 16 (2024) 032, arXiv:2307.06996) combines and compares
likelihoods through backends it finds in the entry point group ``spey.backend.plugins``;
``pip install "emiss[spey]"`` registers ``emiss = emiss.inference.spey_backend:EmissBackend``::

    import spey
    stat_model = spey.get_backend("emiss")(
        workspace="belle2", patch=patchset, patch_name="twobody_scalar_mX_2p10",
        analysis="belle2_knunu")
    stat_model.exclusion_confidence_level()   # [CLs] at mu = 1
    stat_model.poi_upper_limit()              # 95 % CL upper limit on mu
    stat_model.maximize_likelihood()          # (mu_hat, -ln L)

The likelihood is :class:`emiss.inference.fastmodel.FastModel` (pyhf 0.7.6's HistFactory with
interpolation codes 4 and 4p, as spey-pyhf configures pyhf), with its analytic gradient; spey's
hypothesis tests (arXiv:1007.1727) run on it. Conventions that spey's ``BackendBase`` leaves to a
backend:

* **parameters**: emiss's order, named as pyhf names them (``config().parameter_names``); the
  set of names equals spey-pyhf's for the same workspace and patch, the order may differ.
* **data** (``data=`` of spey's methods, ``expected_data``, toys): the main counts per bin in
  pyhf's channel order (channel names sorted), then the auxiliary data of the Gaussian
  constraints and of the Poisson constraints (shapesys), in emiss's parameter order; a vector of
  the main counts alone is completed with the nominal auxiliary data.
* **expectation**: ``observed`` and ``aposteriori`` use the observed data (spey's asymptotic
  calculator then builds its Asimov data from the fit with mu = 0 to them, as pyhf does);
  ``apriori`` uses the background-only prediction at the nominal parameters (mu = 0) with nominal
  auxiliary data.
* **POI bounds**: the workspace's upper bound (measurement config; pyhf's default 10) unless
  ``poi_upper_bound`` is given; lower bound 0, or ``max(minimum_poi, -10)`` with
  ``allow_negative_signal`` (spey-pyhf's convention), where ``minimum_poi = -min_b B_b / S_b``
  over the bins with signal keeps every expected count non-negative.
* **fits**: ``fitter="emiss"`` (the default with spey >= 0.2.7) answers spey's optional fast
  paths (``negative_loglikelihood``, ``minimize_negative_loglikelihood`` and their Asimov
  variants) with emiss's fitter (:class:`emiss.inference.fastlimits.Fitter`: Newton steps,
  fixed-mu fits warm-started from the nearest fitted mu, the free Asimov fit solved exactly);
  a call it does not take (a start point, bounds, optimiser options, ``return_nll=False``, which
  spey 0.2.7 does not pass on) falls back to spey's optimiser. ``fitter="spey"`` always uses
  spey's optimiser (SLSQP) on -ln L with the analytic gradient: the same numbers, but on Belle
  II's likelihood (235 parameters) an upper limit takes minutes instead of a second.
* **Hessian**: of ln L, by central differences of the analytic gradient (step 1e-5 of each
  parameter's constraint width); spey uses it for ``sigma_mu``.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
from spey import BackendBase, ExpectationType
from spey.base import ModelConfig

from emiss.errors import EmissError
from emiss.inference.fastlimits import FitFailure, Fitter
from emiss.inference.fastmodel import FastBackground, FastModel, FitData, UnsupportedSpec
from emiss.names import POI

log = logging.getLogger(__name__)

#: Fitters a backend can use: spey's optimiser, or emiss's through spey's fast paths.
FITTERS = ("spey", "emiss")
#: Lowest POI bound with ``allow_negative_signal`` (spey-pyhf's convention).
NEGATIVE_POI_FLOOR = -10.0
#: Step of the finite-difference Hessian, in units of each parameter's constraint width.
HESSIAN_STEP = 1e-5
#: spey version from which ``StatisticalModel`` calls the backend's fast paths.
FAST_PATH_SPEY = (0, 2, 7)


def _spey_version() -> tuple[int, int, int]:
    """spey's (major, minor, patch)."""
    import spey

    parts = []
    for piece in spey.version().split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def resolve_workspace_spec(workspace: Any) -> tuple[dict, str]:
    """The background-only workspace JSON of a name, a path, a Bundle or a dict.

    Args:
        workspace: ``"belle2"``, a bundled stem, a workspace file, an ``emiss.bundles.Bundle``
            or a pyhf workspace dict.

    Returns:
        (workspace dict, a label naming it).

    Raises:
        EmissError: nothing of that name, or not a pyhf workspace.
    """
    from emiss.inference.scan import check_workspace_shape

    if isinstance(workspace, (str, os.PathLike)):
        from emiss.bundles import load_bundle

        bundle = load_bundle(workspace)  # checks the workspace, warns on emulated data
        return bundle.spec, bundle.stem
    if hasattr(workspace, "spec") and hasattr(workspace, "path"):  # a Bundle
        spec = workspace.spec
        label = getattr(workspace, "stem", "workspace")
    else:
        spec, label = workspace, "workspace"
    check_workspace_shape(spec)
    return dict(spec), label


def resolve_patch(patch: Any, patch_name: str | None, spec: Mapping) -> tuple[list, str]:
    """The JSON Patch operations of one hypothesis.

    Args:
        patch: JSON Patch operations (a list of dicts), one patch of a PatchSet (a dict with
            ``patch``), a PatchSet dict, or a PatchSet file.
        patch_name: the patch to take from a PatchSet (optional when it holds one patch).
        spec: the workspace (a PatchSet's digest must name it).

    Returns:
        (operations, patch name).

    Raises:
        EmissError: no such patch, an ambiguous PatchSet, or a PatchSet made for another
            workspace.
    """
    if isinstance(patch, (str, os.PathLike)):
        from emiss.inference.scan import load_json_file

        patch = load_json_file(Path(patch), "patchset")
    if isinstance(patch, Mapping) and "patches" in patch:
        from emiss.patches import verify_digest

        verify_digest(patch, spec)
        patches = patch["patches"]
        names = [p.get("metadata", {}).get("name") for p in patches]
        if patch_name is None:
            if len(patches) != 1:
                raise EmissError(f"the PatchSet holds {len(patches)} patches; give patch_name "
                                 f"(one of {', '.join(map(str, names[:5]))}"
                                 f"{', ...' if len(names) > 5 else ''})")
            return list(patches[0]["patch"]), str(names[0])
        if patch_name not in names:
            raise EmissError(f"patch {patch_name!r} is not in the PatchSet; its patches: "
                             f"{', '.join(map(str, names[:5]))}{', ...' if len(names) > 5 else ''}")
        return list(patches[names.index(patch_name)]["patch"]), patch_name
    if patch_name is not None:
        raise EmissError("patch_name selects a patch of a PatchSet; patch is not a PatchSet")
    if isinstance(patch, Mapping) and "patch" in patch:
        return list(patch["patch"]), str(patch.get("metadata", {}).get("name", "patch"))
    if isinstance(patch, Sequence) and all(isinstance(op, Mapping) and "op" in op
                                           for op in patch):
        return [dict(op) for op in patch], "patch"
    raise EmissError("patch must be JSON Patch operations, a patch of a PatchSet, a PatchSet "
                     f"or a PatchSet file; got {type(patch).__name__}")


def _emiss_version() -> str:
    """emiss's installed version (the package metadata; the API module is a later stage)."""
    try:
        return _dist_version("emiss")
    except PackageNotFoundError:
        return "0+unknown"


class EmissBackend(BackendBase):
    """spey backend: an emiss workspace and one hypothesis on the fast likelihood.

    Args:
        workspace: ``"belle2"`` (Belle II's released likelihood), a bundled stem, a workspace
            file, an ``emiss.bundles.Bundle`` or a pyhf workspace dict (background only).
        patch: the hypothesis: JSON Patch operations, one patch of a PatchSet, a PatchSet (with
            ``patch_name``) or a PatchSet file.
        patch_name: the patch of a PatchSet.
        poi: parameter of interest (default: the measurement's POI).
        measurement: measurement name (default: the first, as pyhf).
        fitter: ``"emiss"`` (emiss's fitter via spey's fast paths; the default with
            spey >= 0.2.7) or ``"spey"`` (spey's optimiser; the default with older spey).
        seed: seed of the toy sampler (``get_sampler``).

    Raises:
        EmissError: bad workspace, patch or option, or a spec the fast engine does not handle.
    """

    name: str = "emiss"
    version: str = _emiss_version()
    author: str = "The emiss developers"
    spey_requires: str = ">=0.2.0,<0.3.0"
    #: Belle II's measurement and released likelihood, which ``belle2`` is (cite them).
    arXiv: list[str] = ["2311.14647", "2507.12393"]
    doi: list[str] = ["10.17182/hepdata.166082"]

    def __init__(self, workspace: Any, patch: Any, patch_name: str | None = None, *,
                 poi: str | None = None, measurement: str | None = None,
                 fitter: str | None = None, seed: int | None = None) -> None:
        if fitter is None:
            fitter = "emiss" if _spey_version() >= FAST_PATH_SPEY else "spey"
        if fitter not in FITTERS:
            raise EmissError(f"fitter {fitter!r} is unknown; valid: {', '.join(FITTERS)}")
        if fitter == "emiss" and _spey_version() < FAST_PATH_SPEY:
            raise EmissError("fitter='emiss' needs spey >= 0.2.7 (its fast paths); this is spey "
                             f"{'.'.join(map(str, _spey_version()))}: use fitter='spey'")
        spec, self.workspace_label = resolve_workspace_spec(workspace)
        ops, self.patch_name = resolve_patch(patch, patch_name, spec)
        meas = spec.get("measurements") or [{}]
        chosen = next((m for m in meas if m.get("name") == measurement), None) \
            if measurement is not None else meas[0]
        if chosen is None:
            raise EmissError(f"measurement {measurement!r} is not in the workspace; its "
                             f"measurements: {', '.join(m.get('name', '?') for m in meas)}")
        self.poi = poi or chosen.get("config", {}).get("poi") or POI
        try:
            self.fm: FastModel = FastBackground(spec, poi=self.poi, measurement=measurement)\
                .with_patch(ops)
        except UnsupportedSpec as exc:
            raise EmissError(f"the emiss spey backend cannot compile this workspace and patch: "
                             f"{exc} (spey-pyhf, backend 'pyhf', takes any pyhf workspace)") \
                from None
        self.fitter = fitter
        self._rng = np.random.default_rng(seed)
        fm = self.fm
        self.nmain = fm.nbins_total
        self.ndata = fm.nbins_total + fm.n_idx.size + fm.p_idx.size
        x0 = fm.init.copy()
        x0[fm.poi_index] = 0.0
        self._background = fm.expected_main(x0)
        x0[fm.poi_index] = 1.0
        self._signal = fm.expected_main(x0) - self._background
        sig = self._signal > 0
        self.minimum_poi = float(-np.min(self._background[sig] / self._signal[sig])) \
            if np.any(sig) else -math.inf
        self._observed = fm.observed_data()
        self._apriori = FitData(self._background.copy(), fm.n_aux.copy(), fm.p_aux.copy())
        self._fit_cache: dict[tuple, dict[float, tuple[np.ndarray, float]]] = {}
        self._asimov: dict[tuple, tuple[FitData, np.ndarray]] = {}
        log.debug("emiss spey backend: %s + %s, %d parameters, %d bins, fitter %s",
                  self.workspace_label, self.patch_name, fm.npars, self.nmain, fitter)

    # ------------------------------------------------------------------ spey's interface
    @property
    def is_alive(self) -> bool:
        """True when the hypothesis adds signal to at least one bin (at mu = 1)."""
        return bool(np.any(self._signal > 0))

    def config(self, allow_negative_signal: bool = True,
               poi_upper_bound: float | None = None) -> ModelConfig:
        """POI index, bounds and suggested start of the fits.

        Args:
            allow_negative_signal: POI lower bound ``max(minimum_poi, -10)`` instead of 0.
            poi_upper_bound: POI upper bound (default: the workspace's).

        Returns:
            spey's ModelConfig (parameter names and fixed parameters included).
        """
        fm = self.fm
        bounds = [(float(lo), float(hi)) for lo, hi in fm.bounds]
        hi = float(poi_upper_bound) if poi_upper_bound else bounds[fm.poi_index][1]
        lo = max(self.minimum_poi, NEGATIVE_POI_FLOOR) if allow_negative_signal else 0.0
        bounds[fm.poi_index] = (lo, hi)
        return ModelConfig(
            poi_index=int(fm.poi_index),
            minimum_poi=self.minimum_poi,
            suggested_init=[float(v) for v in fm.init],
            suggested_bounds=bounds,
            parameter_names=list(fm.par_names),
            suggested_fixed=[bool(v) for v in fm.fixed],
        )

    def fit_data(self, expected: Any = ExpectationType.observed,
                 data: Sequence[float] | np.ndarray | None = None) -> FitData:
        """The dataset of an expectation type or of an explicit data vector.

        Args:
            expected: spey's ExpectationType (``apriori``: the background prediction).
            data: main counts, or main counts followed by the auxiliary data (module doc).

        Returns:
            FitData.

        Raises:
            EmissError: a data vector of the wrong length or with non-finite values.
        """
        if data is None:
            return self._apriori if expected == ExpectationType.apriori else self._observed
        arr = np.asarray(data, dtype=float).ravel()
        if not np.all(np.isfinite(arr)):
            raise EmissError("data holds non-finite values")
        fm, nb = self.fm, self.nmain
        if arr.size == nb:
            return FitData(arr.copy(), fm.n_aux.copy(), fm.p_aux.copy())
        if arr.size == self.ndata:
            nn = nb + fm.n_idx.size
            return FitData(arr[:nb].copy(), arr[nb:nn].copy(), arr[nn:].copy())
        raise EmissError(f"data has {arr.size} values; expected {nb} main counts or {self.ndata}"
                         " values (main counts then auxiliary data)")

    def get_logpdf_func(self, expected: Any = ExpectationType.observed,
                        data: Sequence[float] | np.ndarray | None = None,
                        ) -> Callable[[np.ndarray], float]:
        """ln L(pars) of the chosen dataset (pyhf's logpdf, constants included).

        Args:
            expected: spey's ExpectationType.
            data: explicit data vector (overrides ``expected``).

        Returns:
            pars -> ln L (-inf where an expected count is negative).
        """
        fd, fm = self.fit_data(expected, data), self.fm

        def logpdf(pars: np.ndarray) -> float:
            return -0.5 * fm.twice_nll(np.asarray(pars, dtype=float), fd)

        return logpdf

    def get_objective_function(self, expected: Any = ExpectationType.observed,
                               data: Sequence[float] | np.ndarray | None = None,
                               do_grad: bool = True) -> Callable[[np.ndarray], Any]:
        """-ln L(pars), with its analytic gradient when ``do_grad``.

        Args:
            expected: spey's ExpectationType.
            data: explicit data vector (overrides ``expected``).
            do_grad: also return the gradient.

        Returns:
            pars -> -ln L, or pars -> (-ln L, gradient).
        """
        fd, fm = self.fit_data(expected, data), self.fm

        def objective(pars: np.ndarray) -> Any:
            nll, grad = fm.nll_grad(np.asarray(pars, dtype=float), fd, need_grad=do_grad)
            return (nll, grad) if do_grad else nll

        return objective

    def get_hessian_logpdf_func(self, expected: Any = ExpectationType.observed,
                                data: Sequence[float] | np.ndarray | None = None,
                                ) -> Callable[[np.ndarray], np.ndarray]:
        """Hessian of ln L (central differences of the analytic gradient).

        Args:
            expected: spey's ExpectationType.
            data: explicit data vector (overrides ``expected``).

        Returns:
            pars -> (npars, npars) symmetric matrix d2 ln L / dp_i dp_j.
        """
        fd, fm = self.fit_data(expected, data), self.fm
        steps = HESSIAN_STEP * np.where(np.isfinite(fm.width) & (fm.width > 0), fm.width, 1.0)

        def hessian(pars: np.ndarray) -> np.ndarray:
            x = np.asarray(pars, dtype=float)
            h = np.empty((fm.npars, fm.npars))
            for i, step in enumerate(steps):
                up, dn = x.copy(), x.copy()
                up[i] += step
                dn[i] -= step
                h[i] = (fm.nll_grad(up, fd)[1] - fm.nll_grad(dn, fd)[1]) / (2.0 * step)
            return -0.5 * (h + h.T)

        return hessian

    def expected_data(self, pars: Sequence[float] | np.ndarray) -> list[float]:
        """Expected main counts and auxiliary data at pars (spey's Asimov data).

        Args:
            pars: parameter vector.

        Returns:
            The data vector (module doc): main counts, then auxiliary data.
        """
        fd = self.fm.asimov_data(np.asarray(pars, dtype=float))
        return np.concatenate([fd.main, fd.n_aux, fd.p_aux]).tolist()

    def get_sampler(self, pars: np.ndarray) -> Callable[..., np.ndarray]:
        """Toy datasets at pars: Poisson main counts and fluctuated auxiliary data.

        Auxiliary data are drawn from the constraint terms (Gaussian around the parameter with
        its width; Poisson with rate parameter x tau), as pyhf's ``make_pdf(pars).sample``.

        Args:
            pars: parameter vector.

        Returns:
            sampler(n, include_auxiliary=True) -> (n, ndata) array (or (n, nbins)).
        """
        fm = self.fm
        x = np.asarray(pars, dtype=float)
        lam = fm.expected_main(x)
        n_mean, p_mean = fm.expected_aux(x)

        def sampler(number_of_samples: int, include_auxiliary: bool = True) -> np.ndarray:
            n = int(number_of_samples)
            main = self._rng.poisson(lam, size=(n, lam.size)).astype(float)
            if not include_auxiliary:
                return main
            gauss = self._rng.normal(n_mean, fm.n_sig, size=(n, n_mean.size))
            pois = self._rng.poisson(p_mean, size=(n, p_mean.size)).astype(float)
            return np.concatenate([main, gauss, pois], axis=1)

        return sampler

    # ------------------------------------------------------------------ fast paths (emiss)
    def _fast(self, kwargs: Mapping[str, Any], init_pars: Any, par_bounds: Any) -> None:
        """NotImplementedError (spey then runs its own optimiser) unless emiss's fitter takes
        the call: ``fitter="emiss"``, no start point, bounds or optimiser options, and -ln L
        wanted (spey 0.2.7 does not pass ``return_nll`` to a fast path; the caller's value is
        read from its frame, so that ``return_nll=False`` gets spey's own, correct answer)."""
        if self.fitter != "emiss" or init_pars is not None or par_bounds is not None or kwargs:
            raise NotImplementedError("spey's optimiser handles this call")
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") == __name__:
            frame = frame.f_back
        if frame is not None and frame.f_locals.get("return_nll", True) is False:
            raise NotImplementedError("return_nll=False: spey's optimiser handles this call")

    def _poi_value(self, poi_test: Any) -> float:
        """The POI value of spey's poi_test (a float, or a dict naming only the POI)."""
        if isinstance(poi_test, Mapping):
            if len(poi_test) != 1:
                raise NotImplementedError("several fixed parameters: spey's optimiser")
            (key, val), = poi_test.items()
            if key not in (self.fm.poi_index, self.poi):
                raise NotImplementedError("a fixed parameter other than the POI")
            return float(val)
        return float(poi_test)

    def _fitter(self, allow_negative_signal: bool | None) -> Fitter:
        """emiss's fitter with spey's POI bounds (None: the workspace's)."""
        if allow_negative_signal is None:
            return Fitter(self.fm)
        fm = copy.copy(self.fm)
        fm.bounds = np.array(self.fm.bounds, dtype=float)
        lo, hi = self.config(allow_negative_signal).suggested_bounds[fm.poi_index]
        fm.bounds[fm.poi_index] = (lo, hi)
        return Fitter(fm)

    def _fixed_fit(self, key: tuple, fd: FitData, mu: float) -> tuple[np.ndarray, float]:
        """Fit with the POI fixed to mu, warm-started from the nearest fitted mu of fd."""
        cache = self._fit_cache.setdefault(key, {})
        if mu not in cache:
            x0 = None
            if cache:
                x0 = cache[min(cache, key=lambda m: abs(m - mu))][0].copy()
                x0[self.fm.poi_index] = mu
            try:
                cache[mu] = self._fitter(None).fit(fd, mu, x0)
            except FitFailure as exc:
                raise EmissError(f"fit at mu={mu:g} did not converge: {exc}") from None
        pars, tnll = cache[mu]
        return pars.copy(), tnll

    def _free_fit(self, fd: FitData, allow_negative_signal: bool) -> tuple[np.ndarray, float]:
        """Free fit within spey's POI bounds; the best of the model's start and mu = 0."""
        fitter = self._fitter(allow_negative_signal)
        best = None
        for x0 in (None, self._mu0_start()):
            try:
                res = fitter.fit(fd, None, x0)
            except FitFailure:
                continue
            if best is None or res[1] < best[1]:
                best = res
        if best is None:
            raise EmissError("the free fit did not converge")
        return best

    def _mu0_start(self) -> np.ndarray:
        x0 = self.fm.init.copy()
        x0[self.fm.poi_index] = 0.0
        return x0

    def _data_key(self, expected: Any, data: Any) -> tuple | None:
        """Cache key of a dataset (None: an explicit data vector, not cached)."""
        if data is not None:
            return None
        return self._expected_key(expected)

    @staticmethod
    def _expected_key(expected: Any) -> tuple[str]:
        """Cache key of the observed or the a-priori expected dataset."""
        return ("apriori",) if expected == ExpectationType.apriori else ("observed",)

    def _asimov_data(self, expected: Any, test_statistics: str) -> tuple[FitData, np.ndarray]:
        """spey's Asimov data: fit with mu = 1 (q0) or 0 (otherwise), expected data there."""
        key = (self._expected_key(expected), test_statistics == "q0")
        if key not in self._asimov:
            mu = 1.0 if test_statistics == "q0" else 0.0
            pars, _ = self._fixed_fit(key[0], self.fit_data(expected), mu)
            self._asimov[key] = (self.fm.asimov_data(pars), pars)
        fd, pars = self._asimov[key]
        return fd, pars.copy()

    def negative_loglikelihood(self, poi_test: Any = 1.0,
                               expected: Any = ExpectationType.observed,
                               data: Any = None, return_parameters: bool = False,
                               init_pars: Any = None, par_bounds: Any = None,
                               **kwargs: Any) -> Any:
        """Profiled -ln L at fixed mu with emiss's fitter (``fitter="emiss"``).

        Args:
            poi_test: mu (or {POI: mu}).
            expected: spey's ExpectationType.
            data: explicit data vector.
            return_parameters: also return the fitted parameters.
            init_pars, par_bounds, kwargs: not handled here (spey's optimiser takes them).

        Returns:
            -ln L, or (-ln L, parameters).
        """
        self._fast(kwargs, init_pars, par_bounds)
        mu = self._poi_value(poi_test)
        key = self._data_key(expected, data)
        fd = self.fit_data(expected, data)
        if key is None:
            try:
                pars, tnll = Fitter(self.fm).fit(fd, mu)
            except FitFailure as exc:
                raise EmissError(f"fit at mu={mu:g} did not converge: {exc}") from None
        else:
            pars, tnll = self._fixed_fit(key, fd, mu)
        return (0.5 * tnll, pars) if return_parameters else 0.5 * tnll

    def minimize_negative_loglikelihood(self, expected: Any = ExpectationType.observed,
                                        allow_negative_signal: bool = True, data: Any = None,
                                        init_pars: Any = None, par_bounds: Any = None,
                                        poi_indices: Any = None, **kwargs: Any) -> Any:
        """Free fit with emiss's fitter (``fitter="emiss"``).

        Args:
            expected: spey's ExpectationType.
            allow_negative_signal: POI lower bound below 0 (``config``).
            data: explicit data vector.
            init_pars, par_bounds, kwargs: not handled here (spey's optimiser takes them).
            poi_indices: parameters (indices or names) whose fitted values to return.

        Returns:
            (mu_hat, -ln L), or ({index or name: value}, -ln L) with ``poi_indices``.
        """
        self._fast(kwargs, init_pars, par_bounds)
        pars, tnll = self._free_fit(self.fit_data(expected, data), bool(allow_negative_signal))
        return self._pick(pars, poi_indices), 0.5 * tnll

    def asimov_negative_loglikelihood(self, poi_test: Any = 1.0,
                                      expected: Any = ExpectationType.observed,
                                      test_statistics: str = "qtilde", init_pars: Any = None,
                                      par_bounds: Any = None, **kwargs: Any) -> float:
        """Profiled -ln L at fixed mu on spey's Asimov data (``fitter="emiss"``).

        Args:
            poi_test: mu (or {POI: mu}).
            expected: spey's ExpectationType.
            test_statistics: ``"q0"`` (Asimov data at mu = 1) or another (mu = 0).
            init_pars, par_bounds, kwargs: not handled here (spey's optimiser takes them).

        Returns:
            -ln L.
        """
        self._fast(kwargs, init_pars, par_bounds)
        mu = self._poi_value(poi_test)
        fd, _ = self._asimov_data(expected, test_statistics)
        key = ("asimov",) + self._expected_key(expected) + (test_statistics == "q0",)
        return 0.5 * self._fixed_fit(key, fd, mu)[1]

    def minimize_asimov_negative_loglikelihood(self, expected: Any = ExpectationType.observed,
                                               test_statistics: str = "qtilde",
                                               init_pars: Any = None, par_bounds: Any = None,
                                               poi_indices: Any = None, **kwargs: Any) -> Any:
        """Free fit to spey's Asimov data (``fitter="emiss"``): solved exactly by the
        parameters that generate them (every Poisson and constraint term is at its maximum).

        Args:
            expected: spey's ExpectationType.
            test_statistics: ``"q0"`` (Asimov data at mu = 1) or another (mu = 0).
            init_pars, par_bounds, kwargs: not handled here (spey's optimiser takes them).
            poi_indices: parameters (indices or names) whose fitted values to return.

        Returns:
            (mu_hat_A, -ln L), or ({index or name: value}, -ln L) with ``poi_indices``.
        """
        self._fast(kwargs, init_pars, par_bounds)
        fd, pars = self._asimov_data(expected, test_statistics)
        return self._pick(pars, poi_indices), 0.5 * self.fm.twice_nll(pars, fd)

    def _pick(self, pars: np.ndarray, poi_indices: Any) -> Any:
        """mu_hat, or {key: value} of the requested parameters (indices or names)."""
        if poi_indices is None:
            return float(pars[self.fm.poi_index])
        out = {}
        for key in poi_indices:
            idx = self.fm.par_names.index(key) if isinstance(key, str) else int(key)
            out[key] = float(pars[idx])
        return out
