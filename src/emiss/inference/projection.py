"""Luminosity projections: scaled workspaces, expected limits, significances, separations.

One module for every projection (B -> K, B -> K*, K + K*): the scaling rules and asymptotic
formulae first, then the Belle II forecasts that run them over the bundled workspaces
(``run``, behind ``emiss project``).

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

Belle II forecasts (``run``): which scenarios can 1, 5, 10, 50 ab^-1 tell apart?

The machinery above runs over three bundled workspaces, all at Belle II's 362 fb^-1
(N_BB = 387e6) and scaled to each luminosity:

* ``K``: the B+ -> K+ workspace (ITA + HTA, ``belle2_combined_bkgonly``);
* ``Kstar``: the K* workspace (q^2_rec x cos(theta_K), ``belle2_kstar_bkgonly``);
* ``K+Kstar``: their combination (``belle2_k_kstar_combined_bkgonly``);

and, for the separations, the K* channels with the cos(theta_K) bins merged (``Kstar_q2``,
``K+Kstar_q2``: no F_L information) to show what the helicity angle adds.

Benchmark normalisation of a light-X hypothesis ("mu_bench"): the coupling for which
B(B+ -> K+ X) = 1e-5 (``emiss.patches.metadata.LIGHT_X_REFERENCE_BR``, the size of the Belle II
excess, arXiv:2311.14629); B -> K* rates then follow from the physics. Discovery significances
and separations use that benchmark; limits are on the branching ratio of each workspace's first
process (K: B(B+ -> K+ X); Kstar: B(B0 -> K*0 X); K+Kstar: B(B+ -> K+ X) with K* tied to it).
The SM is reported as a signal over background: expected limits, Z and the expected relative
precision sigma(B)/B of B(B -> K(*) nu nu).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammaln

from emiss import validate
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


def restrict(spec: Mapping[str, Any], ops: Sequence[Mapping[str, Any]], keep: Sequence[str])\
        -> tuple[dict, list[dict]]:
    """Workspace and patch reduced to the channels ``keep`` (patch paths re-indexed).

    Args:
        spec: workspace.
        ops: ``add`` operations on ``/channels/<i>/samples/-``.
        keep: channel names to keep.

    Returns:
        (spec, ops) of the reduced workspace.
    """
    idx = [i for i, c in enumerate(spec["channels"]) if c["name"] in keep]
    out = copy.deepcopy(dict(spec))
    out["channels"] = [copy.deepcopy(spec["channels"][i]) for i in idx]
    out["observations"] = [copy.deepcopy(o) for o in spec["observations"] if o["name"] in keep]
    new = []
    for op in ops:
        parts = op["path"].split("/")
        i = int(parts[2])
        if i in idx:
            op = copy.deepcopy(dict(op))
            parts[2] = str(idx.index(i))
            op["path"] = "/".join(parts)
            new.append(op)
    return out, new


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


# ----------------------------------------------------------------------------- forecasts
#: Luminosity of the bundled workspaces in ab^-1 (Belle II, arXiv:2311.14647).
REFERENCE_LUMI_AB = 0.362
#: Default scenarios compared.
DEFAULT_SCENARIOS = ("twobody-scalar", "twobody-vector", "threebody-scalar")
#: Default masses (GeV): a light X and the Belle II excess' 2.1 GeV (arXiv:2503.19025).
DEFAULT_MASSES = (0.5, 2.1)
#: Workspace variants.
VARIANTS = ("K", "Kstar_q2", "Kstar", "K+Kstar_q2", "K+Kstar")
#: Stems of the bundled workspaces.
STEMS = {"K": "belle2_combined_bkgonly", "Kstar": "belle2_kstar_bkgonly",
         "K+Kstar": "belle2_k_kstar_combined_bkgonly"}


@dataclass
class _Hyp:
    """Patch operations of one hypothesis per base workspace and its benchmark mu."""

    scenario: str
    mass: float | None
    ops: dict[str, list[dict]]
    mu_bench: dict[str, float]
    refs: dict[str, dict[str, float]]


def _parse_lumis(lumis: Sequence[float]) -> list[float]:
    out = validate.LUMI.check_all(lumis, "luminosity")
    if not out:
        raise EmissError("no luminosity given; e.g. --lumi 1,5,10,50")
    return out


def _endpoint(scenario: Any) -> tuple[float, bool]:
    """(largest m_X, m_X = 0 allowed) of a light-X scenario on every B -> K* process."""
    from emiss.physics.processes import get_process

    n = 1 if scenario.multiplicity == 2 else 2
    lim = min((get_process(p).m_B - get_process(p).m_M) / n for p in ("B0->K*0", "B+->K*+"))
    return lim, bool(scenario.massless_allowed)


def check_request(lumis: Sequence[float], scenarios: Sequence[str],
                  masses: Sequence[float]) -> int:
    """Check a projection's inputs before any work: ranges, scenario names, endpoints, size.

    A mass beyond the B -> K* endpoint of one scenario is skipped for it (a warning says so);
    a mass no scenario can take is an error, and so is a request above
    ``emiss.validate.MAX_PROJECTION_POINTS`` (luminosity, scenario, mass) points.

    Args:
        lumis: luminosities in ab^-1.
        scenarios: light-X scenario names.
        masses: m_X values in GeV.

    Returns:
        The number of (luminosity, scenario, mass) points that will be computed.

    Raises:
        EmissError: one line naming the bad value and what is valid.
    """
    from emiss.physics.scenarios import get_scenario

    lumis = _parse_lumis(lumis)
    masses = validate.MASS.check_all(masses, "mass")
    if not masses:
        raise EmissError("no mass given; e.g. --masses 0.5,2.1")
    if not scenarios:
        raise EmissError("no scenario given; e.g. --scenario twobody-scalar")
    ranges = {}
    for name in scenarios:
        sc = get_scenario(name)
        if not getattr(sc, "needs_mass", False):
            raise EmissError(f"scenario {name!r} has no mass; projections compare light-X "
                             "scenarios (e.g. twobody-scalar, twobody-vector)")
        ranges[name] = _endpoint(sc)

    def fits(m: float, name: str) -> bool:
        lim, zero_ok = ranges[name]
        return (0 < m or (m == 0 and zero_ok)) and m < lim

    n_points = 0
    for m in masses:
        ok = [s for s in scenarios if fits(m, s)]
        if not ok:
            valid = "; ".join(f"{s}: {'0 <=' if z else '0 <'} m_X < {lim:.3f} GeV"
                              for s, (lim, z) in ranges.items())
            raise EmissError(f"mass {m:g} GeV is outside the B -> K* range of every scenario "
                             f"asked for; valid: {valid}")
        skipped = [s for s in scenarios if s not in ok]
        if skipped:
            log.warning("m_X = %g GeV is beyond the B -> K* endpoint of %s: skipped for it",
                        m, ", ".join(skipped))
        n_points += len(ok) * len(lumis)
    if n_points > validate.MAX_PROJECTION_POINTS:
        raise EmissError(f"the projection asks for {n_points} (luminosity, scenario, mass) "
                         f"points; at most {validate.MAX_PROJECTION_POINTS} are computed in one "
                         "call (each is several fits): split --lumi, --masses or --scenario "
                         "over several commands")
    return n_points


def load_targets(workspaces_dir: str | Path) -> dict[str, Any]:
    """H4 Targets of the three base workspaces (K, Kstar, K+Kstar).

    Args:
        workspaces_dir: folder with the bundles.

    Returns:
        name -> Target.
    """
    from emiss.patches.target import load_target

    d = Path(workspaces_dir)
    out = {}
    for name, stem in STEMS.items():
        p = d / f"{stem}.json"
        if not p.is_file():
            raise EmissError(f"workspace {str(p)!r} is missing; build it with "
                             "scripts/build_workspaces.py and scripts/build_kstar_workspaces.py")
        out[name] = load_target(p)
    return out


def _hypotheses(targets: dict[str, Any], scenarios: Sequence[str], masses: Sequence[float],
                n_samples: int) -> tuple[list[_Hyp], _Hyp]:
    """Patches of every (scenario, mass) and of the SM on the three base workspaces."""
    from emiss.patches.build import scenario_patchset
    from emiss.patches.templates import TemplateBuilder
    from emiss.physics.scenarios import get_scenario

    builders = {w: TemplateBuilder(t, n_samples=n_samples) for w, t in targets.items()}

    def patches(scen: str, ms: Sequence[float] | None) -> dict[str, list[dict]]:
        return {w: scenario_patchset(targets[w], scen, masses=ms, builder=builders[w])["patches"]
                for w in targets}

    sm = patches("sm", None)
    def refs_of(meta: dict) -> dict[str, float]:
        em = meta["emiss"]
        return dict(em.get("reference_branching_ratios")
                    or {em["process"]: em["reference_branching_ratio"]})

    sm_h = _Hyp("sm", None, {w: p[0]["patch"] for w, p in sm.items()},
                {w: 1.0 for w in sm}, {w: refs_of(p[0]["metadata"]) for w, p in sm.items()})
    hyps = []
    for scen in scenarios:
        sc = get_scenario(scen)
        if not getattr(sc, "needs_mass", False):
            raise EmissError(f"scenario {scen!r} has no mass; projections compare light-X "
                             "scenarios (e.g. twobody-scalar, twobody-vector)")
        # masses inside every process' endpoint (pairs: 2 m_X < m_B - m_K*), PDG masses
        lim, zero_ok = _endpoint(sc)
        ok = [m for m in masses if (0 < m or (m == 0 and zero_ok)) and m < lim]
        if not ok:
            continue
        per = patches(scen, ok)
        for i, m in enumerate(ok):
            ops = {w: per[w][i]["patch"] for w in per}
            refs = {w: refs_of(per[w][i]["metadata"]) for w in per}
            comb = refs["K+Kstar"]
            ref0 = float(per["Kstar"][i]["metadata"]["emiss"]["reference_branching_ratio"])
            mu = {"K": 1.0, "K+Kstar": 1.0, "Kstar": float(comb["B0->K*0"]) / ref0}
            hyps.append(_Hyp(scen, float(m), ops, mu, refs))
    return hyps, sm_h


def _signal_ops(spec: dict, ops: list[dict]) -> list[tuple[str, dict]] | None:
    """(channel name, signal sample) of the ``add .../samples/-`` ops; None for other op forms."""
    names = [c["name"] for c in spec["channels"]]
    out = []
    for o in ops:
        parts = str(o.get("path", "")).split("/")
        if o.get("op") != "add" or len(parts) != 5 or parts[1] != "channels" \
                or not parts[2].isdigit() or int(parts[2]) >= len(names):
            return None
        if isinstance(o.get("value"), dict) and o["value"].get("name") == "signal":
            out.append((names[int(parts[2])], o["value"]))
    return out


def kstar_rate_to_k(spec: dict, ops: list[dict], rtol: float = 1e-6) -> list[dict]:
    """Carry the form-factor rate variations of a K + K* hypothesis on its K channels.

    The builder (``emiss.patches.templates``) normalises a K + K* hypothesis to B(B+ -> K+), so
    every ``ff_*_pc<i>`` histosys of the K* signal mixes a shape change (F_L, q^2) with a change
    of the K*/K rate. Histosys interpolation is additive (pyhf code 0), and with the free mu
    multiplying the sum, the effective K* shape change at pull theta is
    theta delta / (1 + theta r): a rate pull dilutes or amplifies the shape change. At the
    pulls a separation fit needs (|theta| ~ 4) that lets the K* part of the combination mimic
    shapes the K*-only model (normalised to B(B0 -> K*0), shape-only variations) cannot, and
    Delta chi^2(K + K*) fell below Delta chi^2(K*) (45.8 -> 32.8, two-body scalar vs vector,
    2.1 GeV, 50 ab^-1). This re-expresses the same first-order variations with the rate on
    the K side: for each nuisance without a shape effect on the K signal (absent or a pure
    rate there) the K* signal variations are scaled to keep the K* total and the K signal gets
    the inverse rate, K/K* being the same as before at theta = +-1. The K* part is then the
    K*-only model's form (mu x (nominal + sum theta delta)) and adding K can only raise the
    profile Delta chi^2. Nominal yields are unchanged (Asimov truths and benchmarks too), but
    mu no longer equals B(B+ -> K+)/ref exactly when ff nuisances move: use for separations,
    not limits.

    Args:
        spec: the K + K* background-only spec the ops patch.
        ops: the hypothesis' patch (``add /channels/<i>/samples/-`` ops).
        rtol: relative tolerance deciding that a K-signal variation is a pure rate.

    Returns:
        New ops (input untouched); the input when it has no K or no K* signal.
    """
    sig = _signal_ops(spec, ops)
    if sig is None:
        return ops
    ops = copy.deepcopy(ops)
    sig = _signal_ops(spec, ops) or []
    kst = [v for c, v in sig if c.startswith("kstar_")]
    kk = [v for c, v in sig if not c.startswith("kstar_")]
    if not kst or not kk:
        return ops
    tot = float(sum(np.sum(v["data"]) for v in kst))
    names = sorted({m["name"] for v in kst for m in v["modifiers"] if m["type"] == "histosys"})
    for n in names:
        k_mods = [m for v in kk for m in v["modifiers"] if m["name"] == n]
        if any(m["type"] != "histosys" for m in k_mods):
            continue
        pure = True
        for v in kk:
            for m in v["modifiers"]:
                if m["name"] == n:
                    nom = np.asarray(v["data"], float)
                    for key in ("hi_data", "lo_data"):
                        var = np.asarray(m["data"][key], float)
                        r = var.sum() / nom.sum() if nom.sum() > 0 else 1.0
                        pure &= bool(np.allclose(var, r * nom, rtol=rtol, atol=0.0))
        if not pure:
            continue  # n shapes the K signal: leave its rate where the builder put it
        fac = {}
        for key in ("hi_data", "lo_data"):
            t = float(sum(np.sum(m["data"][key]) for v in kst for m in v["modifiers"]
                          if m["name"] == n))
            if not t > 0:
                break
            fac[key] = tot / t
        if len(fac) != 2:
            continue
        for v in kst:
            for m in v["modifiers"]:
                if m["name"] == n:
                    for key, x in fac.items():
                        m["data"][key] = [float(y) * x for y in m["data"][key]]
        for v in kk:
            mods = [m for m in v["modifiers"] if m["name"] == n]
            if mods:
                for key, x in fac.items():
                    mods[0]["data"][key] = [float(y) * x for y in mods[0]["data"][key]]
            else:
                v["modifiers"].append({"name": n, "type": "histosys", "data": {
                    key: [float(y) * x for y in v["data"]] for key, x in fac.items()}})
    return ops


def _variant(targets: dict[str, Any], variant: str, ops: list[dict],
             separation: bool = False) -> tuple[dict, list[dict]]:
    """Base spec + ops of a variant (merging the cos(theta_K) bins for the *_q2 variants).

    ``separation=True`` re-expresses K + K* form-factor rates on the K side
    (``kstar_rate_to_k``) so that the combination's K* part is the K*-only model's.
    """
    base = variant.replace("_q2", "")
    spec = targets[base].spec
    if separation and base == "K+Kstar":
        ops = kstar_rate_to_k(spec, ops)
    if not variant.endswith("_q2"):
        return spec, ops
    from emiss.bundles.kstar_emulation import load_config

    b = load_config()["binning"]
    n_cos = len(b["cos_edges"]) - 1
    groups = {c["name"]: n_cos for c in spec["channels"] if c["name"].startswith("kstar_")}
    return merge_bins(spec, ops, groups)


def _first_process_br(variant: str) -> str:
    return "B0->K*0" if variant.startswith("Kstar") else "B+->K+"


def run(lumis: Sequence[float], scenarios: Sequence[str] = DEFAULT_SCENARIOS,
        masses: Sequence[float] = DEFAULT_MASSES, workspaces_dir: str | Path = "workspaces",
        policy: str = "data-driven", cls: Sequence[float] = (0.90, 0.95),
        limit_variants: Sequence[str] = ("Kstar",), n_samples: int = 20,
        pairs: Sequence[tuple[str, str]] | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Expected limits, significances and separations versus luminosity.

    Args:
        lumis: luminosities in ab^-1.
        scenarios: light-X scenario names.
        masses: m_X values (GeV); masses beyond a scenario's K* endpoint are skipped.
        workspaces_dir: folder with the three base bundles.
        policy: systematics policy (``emiss.inference.projection.SYST_POLICIES``).
        cls: confidence levels of the limits.
        limit_variants: workspaces on which limits are computed (the engine's fits of the
            150-parameter K + K* model are slow; add "K", "K+Kstar" when time allows).
        n_samples: form-factor draws per hypothesis (patch systematics).
        pairs: scenario pairs to separate (default: all pairs of ``scenarios``).
        progress: called with a short message before each long step (patches, then per
            luminosity the SM, the limits and the separations) and after each luminosity.

    Returns:
        JSON-ready dict: ``sm`` rows, ``limits`` rows, ``separation`` rows and the settings.
    """
    check_request(lumis, scenarios, masses)  # before any work
    lumis = _parse_lumis(lumis)
    n_samples = validate.FF_SAMPLES.check(n_samples, "n_samples")
    if policy not in SYST_POLICIES:
        raise EmissError(f"systematics policy {policy!r} unknown; valid: "
                         f"{', '.join(SYST_POLICIES)}")
    bad = [v for v in limit_variants if v not in VARIANTS]
    if bad:
        raise EmissError(f"unknown workspace variants {bad}; valid: {', '.join(VARIANTS)}")
    def say(message: str) -> None:
        log.info("project: %s", message)
        if progress is not None:
            progress(message)

    targets = load_targets(workspaces_dir)
    say(f"building patches: {len(scenarios)} scenario(s) x {len(masses)} mass(es) + SM on "
        f"{', '.join(targets)} ({n_samples} form-factor draws each)")
    hyps, sm = _hypotheses(targets, scenarios, masses, n_samples)
    if pairs is None:
        names = list(dict.fromkeys(h.scenario for h in hyps))
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    by_key = {(h.scenario, h.mass): h for h in hyps}
    n_sep = sum(1 for a, b in pairs for h in hyps if h.scenario == a and (b, h.mass) in by_key)
    sm_rows, lim_rows, sep_rows = [], [], []
    for k, lumi in enumerate(lumis, 1):
        f = lumi / REFERENCE_LUMI_AB
        step = f"[{k}/{len(lumis)}] {lumi:g} ab^-1"
        say(f"{step}: SM nu nubar on K, Kstar, K+Kstar")
        # --- SM nu nubar as the signal
        for v in ("K", "Kstar", "K+Kstar"):
            spec, ops = _variant(targets, v, sm.ops[v.replace("_q2", "")])
            s, o = scale_spec(spec, f, policy), scale_patch(ops, f, policy)
            lim = (expected_limits(s, o, cls) if v in limit_variants
                   else {float(c): float("nan") for c in cls})
            z = discovery_significance(s, o, 1.0)
            prec = sm_precision(s, o)
            ref = sm.refs[v].get(_first_process_br(v)) if sm.refs[v] else None
            sm_rows.append({"lumi_ab": lumi, "workspace": v, "Z": _f(z),
                            "precision": _f(prec),
                            "mu_limit": {f"{c:g}": _f(x) for c, x in lim.items()},
                            "br_limit": {f"{c:g}": _f(x * ref) if ref else None
                                         for c, x in lim.items()},
                            "process": _first_process_br(v)})
        # --- light-X scenarios: limits and discovery at the benchmark
        if hyps and limit_variants:
            say(f"{step}: limits and significances, {len(hyps)} hypotheses on "
                f"{', '.join(limit_variants)}")
        for h in hyps:
            for v in limit_variants:
                spec, ops = _variant(targets, v, h.ops[v.replace("_q2", "")])
                s, o = scale_spec(spec, f, policy), scale_patch(ops, f, policy)
                lim = expected_limits(s, o, cls)
                z = discovery_significance(s, o, h.mu_bench[v.replace("_q2", "")])
                lim_rows.append({
                    "lumi_ab": lumi, "scenario": h.scenario, "m_X": h.mass, "workspace": v,
                    "process": _first_process_br(v),
                    # mu = 1 <-> the patch's stated reference B of the reported process
                    "br_limit": {f"{c:g}": _f(x * float(
                        h.refs[v.replace("_q2", "")][_first_process_br(v)]))
                        for c, x in lim.items()},
                    "Z_benchmark": _f(z), "mu_benchmark": _f(h.mu_bench[v.replace("_q2", "")]),
                })
        # --- separations
        if n_sep:
            say(f"{step}: separations, {n_sep} (scenario pair, mass) combination(s) x "
                f"{len(VARIANTS)} workspace variants")
        for a, b in pairs:
            for m in sorted({h.mass for h in hyps if h.scenario == a}):
                if (b, m) not in by_key:
                    continue
                ha, hb = by_key[(a, m)], by_key[(b, m)]
                for v in VARIANTS:
                    w = v.replace("_q2", "")
                    row = {"lumi_ab": lumi, "m_X": m, "A": a, "B": b, "variant": v}
                    for tag, x, y in (("A_true", ha, hb), ("B_true", hb, ha)):
                        spec, ox = _variant(targets, v, x.ops[w], separation=True)
                        _, oy = _variant(targets, v, y.ops[w], separation=True)
                        s = scale_spec(spec, f, policy)
                        row[f"delta_chi2_{tag}"] = _f(delta_chi2(
                            s, scale_patch(ox, f, policy), scale_patch(oy, f, policy),
                            mu_a=x.mu_bench[w]))
                    sep_rows.append(row)
        say(f"{step} done")
    return {
        "settings": {
            "lumis_ab": lumis, "scenarios": list(scenarios), "masses": list(masses),
            "policy": policy, "cls": list(cls), "ff_samples": n_samples,
            "limit_variants": list(limit_variants),
            "data": _data_info(workspaces_dir),
            "reference_lumi_ab": REFERENCE_LUMI_AB,
            "benchmark": "light X: coupling with B(B+ -> K+ X) = 1e-5; K* follows from physics",
            "expected": "Asimov (median) of background-only + SM nu nubar; asymptotic formulae",
        },
        "sm": sm_rows,
        "limits": lim_rows,
        "separation": sep_rows,
    }


def _data_info(workspaces_dir: str | Path) -> dict[str, Any]:
    """Data info of the base workspaces (their sidecars): projections are Asimov data, made on
    the bundled emulation unless the folder holds other workspaces."""
    from emiss.bundles.bundle import sidecar_path
    from emiss.inference.results import data_info
    from emiss.io import read_json

    flags = []
    for stem in STEMS.values():
        side = sidecar_path(Path(workspaces_dir) / f"{stem}.json")
        if side.is_file():
            flags.append(read_json(side).get("emulated_data"))
    emulated = any(bool(x) for x in flags)
    info = data_info({"emulated_data": emulated} if flags else None)
    info["label"] = ("emulated data: expected (Asimov) results" if emulated else
                     "expected (Asimov) results")
    return info


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return float(f"{x:.6g}") if math.isfinite(x) else None
