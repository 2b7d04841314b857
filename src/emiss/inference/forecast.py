"""Belle II forecasts for B -> K(*) E_miss: which scenarios can 1, 5, 10, 50 ab^-1 tell apart?

Orchestrates the projection machinery (``emiss.inference.projection``) over three bundled
workspaces, all at Belle II's 362 fb^-1 (N_BB = 387e6) and scaled to each luminosity:

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

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.inference.projection import (
    SYST_POLICIES,
    delta_chi2,
    discovery_significance,
    expected_limits,
    merge_bins,
    scale_patch,
    scale_spec,
)

log = logging.getLogger(__name__)

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
    out = []
    for x in lumis:
        v = float(x)
        if not (math.isfinite(v) and v > 0):
            raise EmissError(f"luminosity {x!r} invalid; valid: positive numbers in ab^-1")
        out.append(v)
    if not out:
        raise EmissError("no luminosity given; e.g. --lumi 1,5,10,50")
    return out


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
        from emiss.physics.processes import get_process

        n = 1 if sc.multiplicity == 2 else 2
        lim = min((get_process(p).m_B - get_process(p).m_M) / n for p in ("B0->K*0", "B+->K*+"))
        ok = [m for m in masses if 0 <= m < lim]
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
    import copy

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
        progress: called with a short message after each luminosity.

    Returns:
        JSON-ready dict: ``sm`` rows, ``limits`` rows, ``separation`` rows and the settings.
    """
    lumis = _parse_lumis(lumis)
    if policy not in SYST_POLICIES:
        raise EmissError(f"systematics policy {policy!r} unknown; valid: "
                         f"{', '.join(SYST_POLICIES)}")
    bad = [v for v in limit_variants if v not in VARIANTS]
    if bad:
        raise EmissError(f"unknown workspace variants {bad}; valid: {', '.join(VARIANTS)}")
    targets = load_targets(workspaces_dir)
    hyps, sm = _hypotheses(targets, scenarios, masses, n_samples)
    if pairs is None:
        names = list(dict.fromkeys(h.scenario for h in hyps))
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    by_key = {(h.scenario, h.mass): h for h in hyps}
    sm_rows, lim_rows, sep_rows = [], [], []
    for lumi in lumis:
        f = lumi / REFERENCE_LUMI_AB
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
        if progress:
            progress(f"{lumi:g} ab^-1 done")
    return {
        "settings": {
            "lumis_ab": lumis, "scenarios": list(scenarios), "masses": list(masses),
            "policy": policy, "cls": list(cls), "ff_samples": n_samples,
            "reference_lumi_ab": REFERENCE_LUMI_AB,
            "benchmark": "light X: coupling with B(B+ -> K+ X) = 1e-5; K* follows from physics",
            "expected": "Asimov (median) of background-only + SM nu nubar; asymptotic formulae",
        },
        "sm": sm_rows,
        "limits": lim_rows,
        "separation": sep_rows,
    }


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
    from emiss.inference.projection import _Compiled

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


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return float(f"{x:.6g}") if math.isfinite(x) else None
