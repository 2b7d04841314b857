"""Luminosity projections: scaled workspaces, expected limits, significances and separations.

Scaling a workspace (with its signal patch) from its luminosity L0 to L = f L0:

* yields (every sample's ``data`` and histosys ``hi_data``/``lo_data``) scale by f;
* MC-statistical uncertainties (``staterror`` and ``shapesys`` data, absolute) scale by
  sqrt(f): the simulated samples are assumed to grow with the data, so their relative size
  falls as 1/sqrt(L) (Belle II produces MC in proportion to the data);
* systematics policy ``fixed`` (default): normsys and histosys keep their relative size
  (conservative; background normalisations are still constrained by the data through the fit);
  policy ``data-driven``: the background normalisation and shape systematics (normsys and
  histosys on samples named ``bkg_*``, except the external inputs of
  ``EXTERNAL_SYSTEMATICS``: N_BB, luminosity, branching fractions) shrink as 1/sqrt(f), as
  for control-sample-driven systematics; signal-side (efficiency, N_BB, form factors) stay fixed;
* observations are replaced by the Asimov expectation of the null hypothesis (background plus
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
from typing import Any

import numpy as np
from scipy.special import gammaln

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: Systematics policies for the luminosity scaling.
SYST_POLICIES = ("fixed", "data-driven")
#: Background modifiers that are external inputs (never shrink with luminosity): the data-set
#: normalisation (N_BB, luminosity) and branching fractions taken from other measurements
#: (names of the B -> K emulation, data/belle2_emulation.yaml, and of the K* one).
EXTERNAL_SYSTEMATICS = ("n_bb", "lumi", "kstar_btaunu_norm", "br_btaunu", "br_dstarstar",
                        "dkl_fraction", "br_kklkl", "br_knnbar")
#: Name of the sample that carries the POI.
SIGNAL = "signal"


# ----------------------------------------------------------------------------- scaling
def _scale_sample(sample: dict, factor: float, policy: str) -> dict:
    s = copy.deepcopy(sample)
    f = float(factor)
    root = math.sqrt(f)
    s["data"] = [x * f for x in s["data"]]
    shrink = policy == "data-driven" and s["name"].startswith("bkg_")
    for m in s.get("modifiers", []):
        t = m["type"]
        ext = m["name"] in EXTERNAL_SYSTEMATICS
        if t == "histosys":
            hi = np.asarray(m["data"]["hi_data"], dtype=float) * f
            lo = np.asarray(m["data"]["lo_data"], dtype=float) * f
            if shrink and not ext:
                nom = np.asarray(s["data"], dtype=float)
                hi = nom + (hi - nom) / root
                lo = nom + (lo - nom) / root
            m["data"] = {"hi_data": hi.tolist(), "lo_data": lo.tolist()}
        elif t in ("staterror", "shapesys"):
            m["data"] = [x * root for x in m["data"]]
        elif t == "normsys" and shrink and not ext:
            hi, lo = float(m["data"]["hi"]), float(m["data"]["lo"])
            m["data"] = {"hi": 1.0 + (hi - 1.0) / root, "lo": 1.0 - (1.0 - lo) / root}
    return s


def _check(factor: float, policy: str) -> None:
    if not (math.isfinite(factor) and factor > 0):
        raise EmissError(f"luminosity scale factor {factor!r} invalid; valid: a positive number")
    if policy not in SYST_POLICIES:
        raise EmissError(f"systematics policy {policy!r} unknown; valid: "
                         f"{', '.join(SYST_POLICIES)}")


def scale_spec(spec: Mapping[str, Any], factor: float, policy: str = "fixed") -> dict:
    """A workspace scaled to factor x its luminosity (see module docstring for the rules).

    Args:
        spec: pyhf workspace.
        factor: L / L0.
        policy: systematics policy, one of SYST_POLICIES.

    Returns:
        New workspace dict (observations scaled by factor; replace them with ``with_asimov``).
    """
    _check(factor, policy)
    out = copy.deepcopy(dict(spec))
    out["channels"] = [
        {**ch, "samples": [_scale_sample(s, factor, policy) for s in ch["samples"]]}
        for ch in spec["channels"]
    ]
    out["observations"] = [{"name": o["name"], "data": [x * factor for x in o["data"]]}
                           for o in spec["observations"]]
    return out


def scale_patch(ops: Sequence[Mapping[str, Any]] | None, factor: float,
                policy: str = "fixed") -> list[dict]:
    """Patch operations whose added samples are scaled like ``scale_spec`` scales samples."""
    _check(factor, policy)
    out = []
    for op in ops or []:
        op = copy.deepcopy(dict(op))
        if op.get("op") == "add" and isinstance(op.get("value"), dict) and "data" in op["value"]:
            op["value"] = _scale_sample(op["value"], factor, policy)
        out.append(op)
    return out


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


# ----------------------------------------------------------------------------- bin merging
def merge_bins(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]] | None,
               groups: Mapping[str, int]) -> tuple[dict, list[dict]]:
    """Merge each run of ``n`` consecutive bins of the named channels (e.g. the cos(theta_K) bins).

    Yields and histosys templates add; staterror/shapesys absolute uncertainties add in
    quadrature; normsys are unchanged. Used to compare a q^2_rec-only K* analysis with the
    helicity-binned one.

    Args:
        spec: workspace.
        ops: patch operations adding samples (``add`` of whole samples only).
        groups: channel -> n (bins per merged bin; must divide the bin count).

    Returns:
        (merged spec, merged ops).
    """
    def merge_sample(s: dict, n: int) -> dict:
        s = copy.deepcopy(s)
        nb = len(s["data"])
        if nb % n:
            raise EmissError(f"cannot merge {nb} bins in groups of {n}")

        def add(x: Sequence[float]) -> list[float]:
            return np.asarray(x, dtype=float).reshape(-1, n).sum(axis=1).tolist()

        s["data"] = add(s["data"])
        for m in s.get("modifiers", []):
            if m["type"] == "histosys":
                m["data"] = {"hi_data": add(m["data"]["hi_data"]),
                             "lo_data": add(m["data"]["lo_data"])}
            elif m["type"] in ("staterror", "shapesys"):
                a = np.asarray(m["data"], dtype=float).reshape(-1, n)
                m["data"] = np.sqrt((a**2).sum(axis=1)).tolist()
        return s

    names = [c["name"] for c in spec["channels"]]
    out = copy.deepcopy(dict(spec))
    for ch in out["channels"]:
        if ch["name"] in groups:
            ch["samples"] = [merge_sample(s, groups[ch["name"]]) for s in ch["samples"]]
    for o in out["observations"]:
        if o["name"] in groups:
            n = groups[o["name"]]
            o["data"] = np.asarray(o["data"], dtype=float).reshape(-1, n).sum(axis=1).tolist()
    new_ops = []
    for op in ops or []:
        op = copy.deepcopy(dict(op))
        parts = op.get("path", "").split("/")
        if op.get("op") == "add" and len(parts) >= 3 and parts[1] == "channels":
            ch = names[int(parts[2])]
            if ch in groups:
                op["value"] = merge_sample(op["value"], groups[ch])
        new_ops.append(op)
    return out, new_ops


# ----------------------------------------------------------------------------- inference
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

    def data_for(self, main: np.ndarray):
        from emiss.inference.fastmodel import FitData

        na, pa = self.fm.expected_aux(self.fm.init)
        return FitData(np.asarray(main, dtype=float), na, pa)

    def constraint_const(self, data) -> float:
        """-2 ln (constraint terms) at the nominal parameters (data's auxdata)."""
        p = self.fm.init
        return self.fm.twice_nll(p, data) - _main_twice_nll(self.fm.expected_main(p), data.main)

    def fit(self, data, mu: float | None = None) -> float:
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
