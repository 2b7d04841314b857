"""Asimov expectations of a workspace and a hypothesis patch (pyhf JSON), no physics.

The observations are replaced by the Asimov expectation of the null hypothesis (background plus
the fixed SM nu nubar sample when a light-X patch carries one; for the SM patch: background
only), i.e. expected results, median of the background-only(+SM) experiment.

Expected quantities (all asymptotic, Cowan, Cranmer, Gross, Vitells arXiv:1007.1727):

* 90 % / 95 % CL CLs upper limits on mu with the inference engine
  (``emiss.inference.limits.GridAnalyzer``) on the Asimov null data (median expected limit);
* discovery significance Z_A = sqrt(q0) on the Asimov data of the hypothesis at mu_A (Eq. 97);
* separation of hypothesis A from hypothesis B: Delta chi^2 = -2 ln [L_B(Asimov_A; profiled)
  / L_A(Asimov_A)], the median of the likelihood-ratio test of B when A is true (the Asimov
  approximation, 1007.1727 Sec. 3.2); mu_B and all nuisance parameters of B are profiled.
  Constraint-term constants of the two models are removed so that identical models give 0.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import gammaln

if TYPE_CHECKING:
    from emiss.inference.fastmodel import FitData

log = logging.getLogger(__name__)

#: Name of the sample that carries the POI.
SIGNAL = "signal"


def apply_ops(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]] | None) -> dict:
    """spec with JSON Patch operations applied (a new dict)."""
    import jsonpatch

    doc = copy.deepcopy(dict(spec))
    return jsonpatch.apply_patch(doc, list(ops or [])) if ops else doc


def null_yields(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]] | None = None)\
        -> dict[str, list[float]]:
    """Expected yields at nominal of every sample except the POI-carrying ``signal``.

    Args:
        spec: workspace.
        ops: patch operations (their ``sm_nunu`` samples count as null).

    Returns:
        channel -> yields.
    """
    doc = apply_ops(spec, ops)
    out = {}
    for ch in doc["channels"]:
        tot = np.zeros(len(ch["samples"][0]["data"]))
        for s in ch["samples"]:
            if s["name"] != SIGNAL:
                tot += np.asarray(s["data"], dtype=float)
        out[ch["name"]] = tot.tolist()
    return out


def with_asimov(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]] | None = None,
                mu: float = 0.0) -> dict:
    """spec whose observations are the Asimov data of null (+ mu x signal of ops).

    Args:
        spec: background-only workspace.
        ops: hypothesis patch (its ``sm_nunu`` is part of the null; ``signal`` enters x mu).
        mu: signal strength injected (0: null hypothesis).

    Returns:
        New workspace dict (background-only, observations replaced).
    """
    nul = null_yields(spec, ops)
    if mu:
        doc = apply_ops(spec, ops)
        for ch in doc["channels"]:
            for s in ch["samples"]:
                if s["name"] == SIGNAL:
                    nul[ch["name"]] = (np.asarray(nul[ch["name"]])
                                       + mu * np.asarray(s["data"])).tolist()
    out = copy.deepcopy(dict(spec))
    out["observations"] = [{"name": o["name"], "data": [float(x) for x in nul[o["name"]]]}
                           for o in spec["observations"]]
    return out


def expected_limits(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]],
                    cls: Sequence[float] = (0.90, 0.95), engine: str = "fast")\
        -> dict[float, float]:
    """Median expected CLs upper limits on mu (Asimov null data) with GridAnalyzer.

    Args:
        spec: background-only workspace (its observations are replaced by the Asimov null).
        ops: hypothesis patch (``signal`` with normfactor mu).
        cls: confidence levels.
        engine: GridAnalyzer engine.

    Returns:
        cl -> expected upper limit on mu (nan if the analysis failed).
    """
    from emiss.inference.limits import GridAnalyzer

    asimov = with_asimov(spec, ops, mu=0.0)
    out: dict[float, float] = {}
    ga = GridAnalyzer(asimov, engine=engine)  # one model for every confidence level
    for cl in cls:
        row = ga.analyse(list(ops), cl=float(cl))
        if row.get("status") != "ok":
            log.warning("limit failed (cl=%s): %s", cl, row.get("status"))
            out[float(cl)] = float("nan")
        else:
            out[float(cl)] = float(row["mu_limit_exp"][2])
    return out


def _main_twice_nll(nu: np.ndarray, n: np.ndarray) -> float:
    nu = np.clip(nu, 1e-300, None)
    return float(-2.0 * np.sum(n * np.log(nu) - nu - gammaln(n + 1.0)))


class _Compiled:
    """A FastModel of spec + ops with its nominal parameters and constraint constant."""

    def __init__(self, spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]] | None) -> None:
        from emiss.inference.fastlimits import Fitter
        from emiss.inference.fastmodel import FastBackground

        self.fm = FastBackground(dict(spec), poi="mu").with_patch(list(ops or []))
        self.fitter = Fitter(self.fm)

    def pars(self, mu: float) -> np.ndarray:
        p = self.fm.init.copy()
        p[self.fm.poi_index] = mu
        return p

    def data_for(self, main: np.ndarray) -> FitData:
        from emiss.inference.fastmodel import FitData

        na, pa = self.fm.expected_aux(self.fm.init)
        return FitData(np.asarray(main, dtype=float), na, pa)

    def constraint_const(self, data: FitData) -> float:
        """-2 ln (constraint terms) at the nominal parameters (data's auxdata)."""
        p = self.fm.init
        return self.fm.twice_nll(p, data) - _main_twice_nll(self.fm.expected_main(p), data.main)

    def fit(self, data: FitData, mu: float | None = None) -> float:
        """Minimum -2 ln L minus the constraint constant, with the inference engine's fitter
        (``emiss.inference.fastlimits.Fitter``: damped Gauss-Newton, L-BFGS-B/TNC fallbacks).

        Args:
            data: FitData.
            mu: fixed POI value, or None to profile it too.

        Returns:
            Profiled -2 ln L without the constraint constant.
        """
        _, val = self.fitter.fit(data, poi_value=mu)
        return val - self.constraint_const(data)


def discovery_significance(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]],
                           mu: float = 1.0) -> float:
    """Median discovery significance Z_A = sqrt(q0) for the hypothesis at mu (Asimov).

    Args:
        spec: background-only workspace.
        ops: hypothesis patch.
        mu: injected signal strength.

    Returns:
        Z_A.
    """
    c = _Compiled(spec, ops)
    data = c.fm.asimov_data(c.pars(mu))
    q0 = c.fit(data, mu=0.0) - (c.fm.twice_nll(c.pars(mu), data) - c.constraint_const(data))
    return math.sqrt(max(q0, 0.0))


def delta_chi2(spec: Mapping[str, Any], ops_a: Sequence[Mapping[str, Any]],
               ops_b: Sequence[Mapping[str, Any]], mu_a: float = 1.0) -> float:
    """Expected separation: -2 ln L_B(Asimov of A, profiled) + 2 ln L_A(Asimov of A).

    Args:
        spec: background-only workspace (same for both hypotheses).
        ops_a: patch of the true hypothesis A.
        ops_b: patch of the tested hypothesis B (mu_B free >= 0, nuisances profiled).
        mu_a: signal strength of A in its Asimov data.

    Returns:
        Delta chi^2 >= 0 (0 when B can mimic A).
    """
    a = _Compiled(spec, ops_a)
    truth = a.pars(mu_a)
    main = a.fm.expected_main(truth)
    da = a.data_for(main)
    nll_a = a.fm.twice_nll(truth, da) - a.constraint_const(da)
    b = _Compiled(spec, ops_b)
    nll_b = b.fit(b.data_for(main))
    return max(nll_b - nll_a, 0.0)


def sm_precision(spec: dict, ops: list[dict]) -> float:
    """Expected relative precision sigma(mu)/mu of the SM signal (Asimov mu = 1).

    sigma from the profile likelihood: q(mu) = -2 ln lambda(mu) on the Asimov data at mu = 1
    is evaluated at 1 -+ d (d = 1/Z_A) and sigma = d / sqrt(q) averaged over both sides
    (exact for a parabolic profile).

    Args:
        spec: scaled background-only workspace.
        ops: scaled SM patch.

    Returns:
        sigma(mu) (mu = 1 is the SM, so this is the relative precision on B).
    """
    c = _Compiled(spec, ops)
    truth = c.pars(1.0)
    data = c.fm.asimov_data(truth)
    base = c.fm.twice_nll(truth, data) - c.constraint_const(data)
    q0 = c.fit(data, mu=0.0) - base
    d = 1.0 / math.sqrt(max(q0, 1e-12))
    d = min(d, 0.9)
    sig = []
    for mu in (1.0 - d, 1.0 + d):
        q = c.fit(data, mu=mu) - base
        if q > 0:
            sig.append(d / math.sqrt(q))
    return float(np.mean(sig)) if sig else float("nan")
