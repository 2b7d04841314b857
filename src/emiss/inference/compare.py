"""Model comparison from scan results: best-fit mass per scenario and likelihood ratios against SM.

* Best-fit mass: the profile likelihood in the mass label (``twice_nll`` = −2 ln L at the best-fit
  strength, minimised over any other labels), its minimum on the grid, and the 68 % CL interval
  where −2Δln L < 1 (Wilks, one parameter; crossings linearly interpolated between grid points).
  A side of the interval whose crossing lies between the best grid point and its neighbour is
  *unresolved* (``interval_resolved`` false; marked ``*`` in the table): the grid does not sample
  the profile inside the interval there, the interpolated bound only says that the interval ends
  within one grid step (``grid_step``) of the best point. Rescan finer around the best mass.
  This is the procedure of Gärtner et al. arXiv:2602.09666 (Sec. IV, m_X = 2.1 +0.2 −0.1 GeV)
  and Altmannshofer et al. arXiv:2311.14629 (Fig. 2) on a grid.
* Likelihood ratio against the SM-shaped rescaling (the ``sm`` patch, μ free, on the same
  workspace): Δ(−2 ln L) = −2 ln L_SM-rescaled − (−2 ln L_scenario best). Both hypotheses have one
  free strength, so at the (fixed) best mass the local significance of the preference is quoted
  as the Gaussian equivalent for one degree of freedom, Z = sqrt(Δ) (Wilks; not nested, so an
  approximation, and local: the look-elsewhere effect over masses is not included).
* Significance of the best mass against the scan's null (mu = 0; for light-X patches the SM
  prediction): the likelihood ratio with Wilks' theorem for two degrees of freedom (m_X, B), as
  arXiv:2602.09666 quotes it; and, globally (look-elsewhere effect), the Gross-Vitells
  upcrossing estimate (arXiv:1005.1891) from the scan's own local q0 = Z^2 curve (always),
  and, when toys were run (:mod:`emiss.inference.lee`,
  ``emiss compare --global-toys N``), the toy global p-value with its Monte-Carlo error and the
  Gross-Vitells estimate with the toys' mean number of upcrossings.

Two significances are reported per scenario, both local (at the best mass, no look-elsewhere
correction), and named alike in the JSON, the table and docs/interfaces.md:

* ``best.Z`` (table ``Z_loc vs SM``): the scan's discovery significance of the best point
  against the SM alone, i.e. no X, SM ν ν̄ fixed at its prediction (μ_X = 0);
* ``Z_local_vs_sm`` (table ``Z_loc vs SM×μ``): the preference of the scenario over the
  SM-shaped rescaling with a free strength (the ``sm`` patch with μ free), sqrt(Δ(−2 ln L)).

The first is larger when the data exceed the SM prediction: part of the excess is explained by a
rescaled SM already.

``twice_nll`` values are comparable only within one workspace (same data, same constraints), so
rows are grouped by ``workspace_digest``.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from emiss.errors import EmissError
from emiss.io import round_sig

log = logging.getLogger(__name__)

#: Scenarios that are SM-shaped rescalings, in order of preference as the reference.
SM_LIKE = ("sm", "heavy-np")

#: −2Δ ln L threshold of the 68.27 % CL interval for one parameter (Wilks; PDG Statistics
#: review, Table 40.2: Δχ² = 1.00 for 68.27 %, one parameter).
DELTA_68 = 1.0


def _ok(row: Mapping[str, Any]) -> bool:
    return str(row.get("status", "")).startswith("ok") and row.get("twice_nll") is not None


def profile_curve(rows: Sequence[Mapping[str, Any]], label: str = "m_X")\
        -> tuple[np.ndarray, np.ndarray, list[Mapping[str, Any]]]:
    """Profile −2 ln L in one label: at each label value the minimum over the other labels.

    Args:
        rows: result rows of one scenario on one workspace.
        label: the profiled label (e.g. ``m_X``).

    Returns:
        (sorted label values, minimum twice_nll at each, the row attaining it).
    """
    best: dict[float, Mapping[str, Any]] = {}
    for r in rows:
        if not _ok(r) or r.get(label) is None:
            continue
        x = float(r[label])
        if x not in best or r["twice_nll"] < best[x]["twice_nll"]:
            best[x] = r
    xs = sorted(best)
    return (np.array(xs, dtype=float), np.array([best[x]["twice_nll"] for x in xs], dtype=float),
            [best[x] for x in xs])


def interval_from_profile(x: np.ndarray, t: np.ndarray, delta: float = DELTA_68)\
        -> dict[str, Any]:
    """Best point and the contiguous region around it where t − t_min < delta.

    Args:
        x: label values, increasing.
        t: twice_nll at each.
        delta: −2Δ ln L threshold (1 for 68 % CL in one parameter).

    Returns:
        ``{"index", "best", "lower", "upper", "lower_open", "upper_open", "lower_resolved",
        "upper_resolved", "step_lower", "step_upper"}``; an open side means the curve did not
        cross the threshold inside the grid (the bound is the grid edge); an unresolved side
        crosses between the best point and its neighbour (no grid point inside the interval on
        that side), ``step_*`` is that grid spacing (None at a grid edge).
    """
    if len(x) == 0:
        raise EmissError("no successful rows to profile; check the scan's status column")
    k = int(np.argmin(t))
    d = t - t[k]
    lower, lower_open = float(x[0]), True
    for i in range(k, 0, -1):
        if d[i - 1] >= delta:
            f = (delta - d[i]) / (d[i - 1] - d[i])
            lower, lower_open = float(x[i] + f * (x[i - 1] - x[i])), False
            break
    upper, upper_open = float(x[-1]), True
    for i in range(k, len(x) - 1):
        if d[i + 1] >= delta:
            f = (delta - d[i]) / (d[i + 1] - d[i])
            upper, upper_open = float(x[i] + f * (x[i + 1] - x[i])), False
            break
    step_lower = float(x[k] - x[k - 1]) if k > 0 else None
    step_upper = float(x[k + 1] - x[k]) if k < len(x) - 1 else None
    # resolved: at least one grid point strictly inside the interval on that side
    lower_resolved = lower_open or (k > 0 and d[k - 1] < delta)
    upper_resolved = upper_open or (k < len(x) - 1 and d[k + 1] < delta)
    return {"index": k, "best": float(x[k]), "lower": lower, "upper": upper,
            "lower_open": lower_open, "upper_open": upper_open,
            "lower_resolved": bool(lower_resolved), "upper_resolved": bool(upper_resolved),
            "step_lower": step_lower, "step_upper": step_upper}


def _sm_reference(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for scen in SM_LIKE:
        cands = [r for r in rows if r.get("scenario") == scen and _ok(r)]
        if cands:
            return min(cands, key=lambda r: r["twice_nll"])
    return None


#: Numbers of the comparison: six significant digits (``emiss.io.round_sig``; None stays None).
_r = functools.partial(round_sig, digits=6, flush=False)


def compare(docs: Sequence[Mapping[str, Any]], label: str = "m_X",
            global_toys: Mapping[str, Mapping[str, Any]] | None = None,
            gv_level: float = 1.0) -> dict[str, Any]:
    """Best-fit mass per scenario and likelihood ratios against the SM-shaped rescaling.

    Args:
        docs: scan results documents (any number; grouped by workspace digest).
        label: mass label to profile.
        global_toys: scenario -> output of ``emiss.inference.lee.global_significance``.
        gv_level: reference level c0 (in q0) of the Gross-Vitells estimate on the scan curve.

    Returns:
        ``{"label", "workspaces": [{"workspace_digest", "reference", "scenarios": [...]}]}``.
    """
    from emiss import validate

    gv_level = validate.GV_LEVEL.check(gv_level, "gv_level")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    records: dict[str, Mapping[str, Any]] = {}
    for doc in docs:
        groups.setdefault(doc["workspace_digest"], []).extend(doc["results"])
        if isinstance(doc.get("workspace"), Mapping):
            records.setdefault(doc["workspace_digest"], doc["workspace"])
    out = []
    for digest, rows in groups.items():
        ref = _sm_reference(rows)
        scenarios: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            if r.get("scenario") not in SM_LIKE and r.get(label) is not None:
                scenarios.setdefault(str(r.get("scenario")), []).append(r)
        entries: list[dict[str, Any]] = []
        for scen, srows in scenarios.items():
            x, t, prow = profile_curve(srows, label)
            n_failed = sum(1 for r in srows if not _ok(r))
            if len(x) == 0:
                entries.append({"scenario": scen, "n_points": 0, "n_failed": n_failed})
                continue
            iv = interval_from_profile(x, t)
            b = prow[iv["index"]]
            e: dict[str, Any] = {
                "scenario": scen, "n_points": int(len(x)), "n_failed": n_failed,
                "best": {"name": b["name"], label: iv["best"], "mu_hat": _r(b.get("mu_hat")),
                         "at_bound": bool(b.get("at_bound")),
                         "br_hat": _r(b.get("br_hat")), "twice_nll": _r(b["twice_nll"]),
                         "Z": _r(b.get("Z"))},
                "best_at_edge": bool(iv["index"] in (0, len(x) - 1)),
                "interval_68": [_r(iv["lower"]), _r(iv["upper"])],
                "interval_open": [iv["lower_open"], iv["upper_open"]],
                "interval_resolved": [iv["lower_resolved"], iv["upper_resolved"]],
                "grid_step": [_r(iv["step_lower"]), _r(iv["step_upper"])],
            }
            e["global"] = _global_entry(prow, srows, label, gv_level,
                                        (global_toys or {}).get(scen))
            if ref is not None:
                delta = float(ref["twice_nll"]) - float(b["twice_nll"])
                z = math.copysign(math.sqrt(abs(delta)), delta)
                e["delta_twice_nll_vs_sm"] = _r(delta)
                e["Z_local_vs_sm"] = _r(z)
                e["p_local_vs_sm"] = _r(norm.sf(z))
            entries.append(e)
        entries.sort(key=lambda e: e.get("delta_twice_nll_vs_sm") or -math.inf, reverse=True)
        reference = None if ref is None else {
            "scenario": ref.get("scenario"), "name": ref["name"], "mu_hat": _r(ref.get("mu_hat")),
            "br_hat": _r(ref.get("br_hat")), "twice_nll": _r(ref["twice_nll"])}
        if ref is None:
            log.warning("workspace %s: no sm/heavy-np rows; no likelihood ratio vs SM", digest[:12])
        rec = records.get(digest, {})
        out.append({"workspace_digest": digest, "workspace": rec.get("name"),
                    "data": rec.get("label"), "reference": reference, "scenarios": entries})
    return {"label": label, "interval_cl": 0.6827, "workspaces": out}


def _global_entry(prow: Sequence[Mapping[str, Any]], srows: Sequence[Mapping[str, Any]],
                  label: str, gv_level: float, toys: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """Global significance fields of one scenario (see the module docstring)."""
    from emiss.inference.lee import gross_vitells_observed

    # the scan curve: largest local Z per mass (q0 = Z^2; Z >= 0 by construction)
    best: dict[float, float] = {}
    for r in srows:
        if _ok(r) and r.get(label) is not None and r.get("Z") is not None:
            x = float(r[label])
            best[x] = max(best.get(x, 0.0), float(r["Z"]))
    xs = sorted(best)
    q = np.array([best[x] ** 2 for x in xs])
    out: dict[str, Any] = {"null": "mu = 0 (the scan's discovery test)"}
    if q.size >= 2:
        qmax = float(q.max())
        gv = gross_vitells_observed(q, gv_level)  # boundary counted (arXiv:1105.4355)
        out["q0_max"] = _r(qmax)
        out["Z_local_max"] = _r(math.sqrt(qmax))
        # likelihood-ratio test of the resonance (m_X and B free) against the null with Wilks'
        # theorem for two degrees of freedom: p = P(chi2_2 > q0) = exp(-q0 / 2), the convention
        # of Gaertner et al. arXiv:2602.09666 (3.0 sigma); it ignores that m_X is undefined at B = 0
        p2 = math.exp(-qmax / 2.0)
        out["p_lr_2dof"] = _r(p2)
        out["Z_lr_2dof"] = _r(max(float(norm.isf(p2)), 0.0))
        out["gross_vitells_observed"] = _r_gv(gv)
    if toys:
        t = toys["toys"]
        out["toys"] = {k: (_r(v) if isinstance(v, float) else v) for k, v in t.items()
                       if not isinstance(v, (dict, list))}
        out["toys"]["Z_global_range"] = [_r(v) for v in t["Z_global_range"]]
        if t.get("gv_check"):  # toys' P(max q0 >= u) next to Gross-Vitells at a few levels
            out["toys"]["gv_check"] = [_r_gv(c) for c in t["gv_check"]]
        out["toys"]["q0_max_engine"] = _r(toys["q0_max"])
        out["toys"]["best_mass_engine"] = _r(toys["best_mass"])
        out["gross_vitells_toys"] = _r_gv(toys["gross_vitells_toys"])
    return out


def format_table(cmp: Mapping[str, Any]) -> str:
    """Human-readable table of :func:`compare`'s output.

    Args:
        cmp: comparison dict.

    Returns:
        Text with one block per workspace and a legend of the columns and marks.
    """
    label = cmp["label"]
    lines = []
    unresolved = False
    any_capped = False
    any_edge = False
    for w in cmp["workspaces"]:
        ref = w["reference"]
        name = f"{w['workspace']} " if w.get("workspace") else ""
        lines.append(f"workspace {name}(sha256 {w['workspace_digest'][:12]})")
        lines.append(f"  data: {w.get('data') or 'not recorded in the results'}")
        if ref:
            lines.append(f"  reference: {ref['scenario']} rescaled, mu_hat={ref['mu_hat']}, "
                         f"B_hat={ref['br_hat']}, -2lnL={ref['twice_nll']}")
        sw = max([22, *(len(str(e["scenario"])) for e in w["scenarios"])])
        hdr = (f"  {'scenario':<{sw}} {'best ' + label:>12} {'68% interval':>28} {'B_hat':>10} "
               f"{'Z_loc vs SM':>11} {'D(-2lnL) vs SMxmu':>17} {'Z_loc vs SMxmu':>14} "
               f"{'Z(LR,2dof)':>10} {'Z_global(toys)':>18} {'Z_global(GV)':>12}")
        lines.append(hdr)
        for e in w["scenarios"]:
            if not e.get("n_points"):
                lines.append(f"  {e['scenario']:<{sw}} (no successful points)")
                continue
            ivs, open_crossing = _interval_text(e)
            unresolved = unresolved or open_crossing
            b = e["best"]
            d = e.get("delta_twice_nll_vs_sm")
            z = e.get("Z_local_vs_sm")
            capped = b.get("at_bound")
            any_capped = any_capped or bool(capped)
            edge = e.get("best_at_edge")
            any_edge = any_edge or bool(edge)
            best = f"{b[label]:g}" + ("^" if capped else "") + (" |" if edge else "")
            lines.append(f"  {e['scenario']:<{sw}} {best:>12} {ivs:>28}"
                         f" {_fmt(b['br_hat'], '10.3g')} {_fmt(b['Z'], '11.2f')}"
                         f" {_fmt(d, '17.2f')} {_fmt(z, '14.2f')}"
                         f" {_z2(e.get('global', {})):>10}"
                         f" {_z_toys(e.get('global', {})):>18} {_z_gv(e.get('global', {})):>12}")
        notes = [_toy_note(e) for e in w["scenarios"] if e.get("global", {}).get("toys")]
        lines += [n for n in notes if n]
        lines += [n for e in w["scenarios"] for n in _gv_caveats(e)]
    lines.append("Z_loc vs SM: local significance of the best point against the SM alone (no X, "
                 "SM nu nubar at its prediction); Z_loc vs SMxmu: local preference over the "
                 "SM-shaped rescaling with free mu, sqrt(D(-2lnL)). Both at fixed mass, no "
                 "look-elsewhere correction; Z(LR,2dof): the likelihood ratio against the SM "
                 "alone with mass and B free (two degrees of freedom, the 2602.09666 "
                 "convention); Z_global: look-elsewhere corrected (--global-toys).")
    if any(_z_gv(e.get("global", {})).endswith("!") for w in cmp["workspaces"]
           for e in w["scenarios"]):
        lines.append("!: the Gross-Vitells extrapolation is unreliable here (see the lines "
                     "above): run --global-toys N for the global significance.")
    if any_edge:
        lines.append("|: the best point is the first or last mass of the grid: the best fit may "
                     "lie beyond it (extend the grid there; at m_X = 0 the edge is physical).")
    if any_capped:
        lines.append("^: the best point's mu_hat is at the upper bound of mu: a capped fit (B_hat, "
                     "Z and -2 ln L are those of the capped fit); widen the bound of mu.")
    if unresolved:
        lines.append("*: the crossing lies within one grid step of the best point; the grid "
                     "does not resolve the interval there (linear interpolation only); rescan "
                     "finer around the best mass.")
    return "\n".join(lines) + "\n"


def _interval_text(e: Mapping[str, Any]) -> tuple[str, bool]:
    """The 68 % interval of a scenario entry as text, and whether a crossing is unresolved.

    An interval that reaches the end of the scanned grid is open there: "(edge)"; a crossing
    within one grid step of the best point is unresolved: "*".

    Args:
        e: scenario entry of :func:`compare`.

    Returns:
        ("[low, high]", unresolved).
    """
    lo, hi = e["interval_68"]
    res = e.get("interval_resolved", [True, True])
    unresolved = False
    sides = []
    for val, is_open, ok in ((lo, e["interval_open"][0], res[0]),
                             (hi, e["interval_open"][1], res[1])):
        text = f"{val:g}" + (" (edge)" if is_open else "")
        if not ok:
            text += "*"
            unresolved = True
        sides.append(text)
    return "[" + sides[0] + ", " + sides[1] + "]", unresolved


def _fmt(x: Any, spec: str) -> str:
    """x formatted with spec, or '-' right-aligned to its width when x is None."""
    if x is None:
        width = int(spec.split(".")[0] or 0)
        return f"{'-':>{width}}"
    return format(x, spec)


def _z_toys(g: Mapping[str, Any]) -> str:
    t = g.get("toys")
    if not t:
        return "-"
    if t.get("Z_global") is None:
        return f">{t['Z_global_lower_bound']:.2f}"
    return f"{t['Z_global']:.2f}+-{_z_err(t):.2f}"


def _z_err(t: Mapping[str, Any]) -> float:
    lo, hi = t.get("Z_global_range", [None, None])
    if lo is None or hi is None:
        return float("nan")
    return 0.5 * (hi - lo)


def _z2(g: Mapping[str, Any]) -> str:
    z = g.get("Z_lr_2dof")
    return "-" if z is None else f"{z:.2f}"


def _z_gv(g: Mapping[str, Any]) -> str:
    gv = g.get("gross_vitells_toys") or g.get("gross_vitells_observed")
    if not gv:
        return "-"
    return f"{gv['Z_global']:.2f}" + ("!" if gv.get("toys_needed") else "")


def _r_gv(gv: Mapping[str, Any]) -> dict[str, Any]:
    """A Gross-Vitells dict with its numbers rounded (flags, lists and text kept)."""
    return {k: (_r(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
            for k, v in gv.items()}


def _gv_caveats(e: Mapping[str, Any]) -> list[str]:
    """Caveat lines of the Gross-Vitells estimate shown in the table (toys' or observed)."""
    g = e.get("global", {})
    gv = g.get("gross_vitells_toys") or g.get("gross_vitells_observed")
    lines = []
    if gv and gv.get("caveats"):
        need = "; toys needed" if gv.get("toys_needed") and not g.get("toys") else ""
        lines.append(f"  {e['scenario']}: Z_global(GV) from the {gv.get('source')} "
                     f"(<N({gv.get('ref_level')})> = {gv.get('n_up_ref')}, trials factor "
                     f"{gv.get('trials_factor')}){need}: " + "; ".join(gv["caveats"]))
    t = g.get("toys") or {}
    if t.get("caveat"):
        lines.append(f"  {e['scenario']}: Z_global(toys): {t['caveat']}")
    return lines


def _toy_note(e: Mapping[str, Any]) -> str:
    g = e["global"]
    t = g["toys"]
    gv = g.get("gross_vitells_toys", {})
    return (f"  {e['scenario']}: {t['n_toys']} background-only toys (mu = 0), "
            f"p_global = {t['p_global']:.4g} +- {t['p_global_error']:.2g} (binomial), "
            f"local Z = {g.get('Z_local_max')}, GV with <N({gv.get('ref_level')})> = "
            f"{t['mean_upcrossings']:.3g} upcrossings: p = {gv.get('p_global')}")
