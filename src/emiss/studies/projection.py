"""Luminosity projections: scaled workspaces, expected limits, significances, separations.

One module for every projection (B -> K, B -> K*, K + K*): the scaling rules first, then the
Belle II forecasts that run them over the bundled workspaces (``run``, behind ``emiss project``).

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

Expected quantities (Asimov limits, significances, separations, precision) are computed by
``emiss.inference.asimov`` (asymptotic formulae, Cowan, Cranmer, Gross, Vitells arXiv:1007.1727).

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
from typing import TYPE_CHECKING, Any

import numpy as np

from emiss import validate
from emiss.errors import EmissError
from emiss.inference.asimov import delta_chi2, discovery_significance, expected_limits, sm_precision
from emiss.io import round_sig
from emiss.studies.kstar_rate import kstar_rate_to_k

if TYPE_CHECKING:
    from emiss.bundles import Bundle
    from emiss.physics.scenarios import Scenario

log = logging.getLogger(__name__)

#: Systematics policies for the luminosity scaling.
SYST_POLICIES = ("fixed", "data-driven")
#: Background modifiers that are external inputs (never shrink with luminosity): the data-set
#: normalisation (N_BB, luminosity) and branching fractions taken from other measurements
#: (names of the B -> K emulation, data/belle2_emulation.yaml, and of the K* one).
EXTERNAL_SYSTEMATICS = ("n_bb", "lumi", "kstar_btaunu_norm", "br_btaunu", "br_dstarstar",
                        "dkl_fraction", "br_kklkl", "br_knnbar")


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
            f_hi, f_lo = float(m["data"]["hi"]), float(m["data"]["lo"])
            m["data"] = {"hi": 1.0 + (f_hi - 1.0) / root, "lo": 1.0 - (1.0 - f_lo) / root}
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
        New workspace dict (observations scaled by factor; replace them with
        ``emiss.inference.asimov.with_asimov``).
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
        new = copy.deepcopy(dict(op))
        if new.get("op") == "add" and isinstance(new.get("value"), dict) and "data" in new["value"]:
            new["value"] = _scale_sample(new["value"], factor, policy)
        out.append(new)
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
        new = copy.deepcopy(dict(op))
        parts = new.get("path", "").split("/")
        if new.get("op") == "add" and len(parts) >= 3 and parts[1] == "channels":
            ch = names[int(parts[2])]
            if ch in groups:
                new["value"] = merge_sample(new["value"], groups[ch])
        new_ops.append(new)
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
            moved = copy.deepcopy(dict(op))
            parts[2] = str(idx.index(i))
            moved["path"] = "/".join(parts)
            new.append(moved)
    return out, new


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


def _endpoint(scenario: Scenario) -> tuple[float, bool]:
    """(largest m_X, m_X = 0 allowed) of a light-X scenario on every B -> K* process."""
    from emiss.physics.processes import get_process

    n = 1 if scenario.multiplicity == 2 else 2
    lim = min(get_process(p).mass_limit(n) for p in ("B0->K*0", "B+->K*+"))
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


def load_targets(workspaces_dir: str | Path) -> dict[str, Bundle]:
    """Bundles (with their responses) of the three base workspaces (K, Kstar, K+Kstar).

    Args:
        workspaces_dir: folder with the bundles.

    Returns:
        name -> Bundle.
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


def _hypotheses(targets: dict[str, Bundle], scenarios: Sequence[str], masses: Sequence[float],
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


def _variant(targets: dict[str, Bundle], variant: str, ops: list[dict],
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
        policy: systematics policy (``SYST_POLICIES``).
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
    sm_rows: list[dict[str, Any]] = []
    lim_rows: list[dict[str, Any]] = []
    sep_rows: list[dict[str, Any]] = []
    for k, lumi in enumerate(lumis, 1):
        step = f"[{k}/{len(lumis)}] {lumi:g} ab^-1"
        say(f"{step}: SM nu nubar on K, Kstar, K+Kstar")
        sm_rows += _sm_rows(targets, sm, lumi, policy, cls, limit_variants)
        if hyps and limit_variants:
            say(f"{step}: limits and significances, {len(hyps)} hypotheses on "
                f"{', '.join(limit_variants)}")
        lim_rows += _limit_rows(targets, hyps, lumi, policy, cls, limit_variants)
        if n_sep:
            say(f"{step}: separations, {n_sep} (scenario pair, mass) combination(s) x "
                f"{len(VARIANTS)} workspace variants")
        sep_rows += _separation_rows(targets, hyps, by_key, pairs, lumi, policy)
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


def _sm_rows(targets: dict[str, Bundle], sm: _Hyp, lumi: float, policy: str,
             cls: Sequence[float], limit_variants: Sequence[str]) -> list[dict[str, Any]]:
    """SM nu nu-bar as the signal on K, K* and K + K*: limits, significance, precision.

    Args:
        targets: the base bundles by variant.
        sm: the SM hypothesis.
        lumi: luminosity in ab^-1.
        policy: systematics policy.
        cls: confidence levels.
        limit_variants: workspaces on which limits are computed (others: nan).

    Returns:
        One row per workspace.
    """
    f = lumi / REFERENCE_LUMI_AB
    rows = []
    for v in ("K", "Kstar", "K+Kstar"):
        spec, ops = _variant(targets, v, sm.ops[v.replace("_q2", "")])
        s, o = scale_spec(spec, f, policy), scale_patch(ops, f, policy)
        lim = (expected_limits(s, o, cls) if v in limit_variants
               else {float(c): float("nan") for c in cls})
        z = discovery_significance(s, o, 1.0)
        prec = sm_precision(s, o)
        ref = sm.refs[v].get(_first_process_br(v)) if sm.refs[v] else None
        rows.append({"lumi_ab": lumi, "workspace": v, "Z": _f(z),
                     "precision": _f(prec),
                     "mu_limit": {f"{c:g}": _f(x) for c, x in lim.items()},
                     "br_limit": {f"{c:g}": _f(x * ref) if ref else None
                                  for c, x in lim.items()},
                     "process": _first_process_br(v)})
    return rows


def _limit_rows(targets: dict[str, Bundle], hyps: Sequence[_Hyp], lumi: float, policy: str,
                cls: Sequence[float], limit_variants: Sequence[str]) -> list[dict[str, Any]]:
    """Light-X scenarios: expected limits and the discovery significance at the benchmark.

    Args:
        targets: the base bundles by variant.
        hyps: the light-X hypotheses.
        lumi: luminosity in ab^-1.
        policy: systematics policy.
        cls: confidence levels.
        limit_variants: workspaces on which limits are computed.

    Returns:
        One row per hypothesis and workspace.
    """
    f = lumi / REFERENCE_LUMI_AB
    rows = []
    for h in hyps:
        for v in limit_variants:
            spec, ops = _variant(targets, v, h.ops[v.replace("_q2", "")])
            s, o = scale_spec(spec, f, policy), scale_patch(ops, f, policy)
            lim = expected_limits(s, o, cls)
            z = discovery_significance(s, o, h.mu_bench[v.replace("_q2", "")])
            rows.append({
                "lumi_ab": lumi, "scenario": h.scenario, "m_X": h.mass, "workspace": v,
                "process": _first_process_br(v),
                # mu = 1 <-> the patch's stated reference B of the reported process
                "br_limit": {f"{c:g}": _f(x * float(
                    h.refs[v.replace("_q2", "")][_first_process_br(v)]))
                    for c, x in lim.items()},
                "Z_benchmark": _f(z), "mu_benchmark": _f(h.mu_bench[v.replace("_q2", "")]),
            })
    return rows


def _separation_rows(targets: dict[str, Bundle], hyps: Sequence[_Hyp],
                     by_key: Mapping[tuple[str, float | None], _Hyp],
                     pairs: Sequence[tuple[str, str]], lumi: float, policy: str
                     ) -> list[dict[str, Any]]:
    """Delta chi^2 between the scenarios of each pair at each common mass, either one true.

    Args:
        targets: the base bundles by variant.
        hyps: the light-X hypotheses.
        by_key: the hypotheses by (scenario, mass).
        pairs: scenario pairs to separate.
        lumi: luminosity in ab^-1.
        policy: systematics policy.

    Returns:
        One row per pair, mass and workspace variant.
    """
    f = lumi / REFERENCE_LUMI_AB
    rows = []
    for a, b in pairs:
        for m in sorted({h.mass for h in hyps if h.scenario == a and h.mass is not None}):
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
                rows.append(row)
    return rows


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
    """A number of a projection row: 6 significant digits; None/NaN/inf become None."""
    return round_sig(x, 6, flush=False, nonfinite="none")
