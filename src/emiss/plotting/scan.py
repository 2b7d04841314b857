"""Scan figures: Brazil-band limits, local significance and profile likelihood versus the mass;
the CLs curve of one hypothesis (a scan with ``cls_curve``).

Inputs are scan results documents (``emiss.inference.results``); every figure is written as PNG
and PDF through :func:`emiss.plotting.save_figure`. Scenarios carry readable names
(``emiss.plotting.labels.scenario_label``); the data source has a line of its own above each
figure (``emiss.plotting.draw_header``). The limit plots' y range follows the curves over the
bulk of the masses: points where the limit blows up (near the kinematic endpoint) are drawn off
scale and marked, so they do not squeeze the region of interest (``robust_limit_range``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from emiss.errors import EmissError
from emiss.inference.compare import SM_LIKE, interval_from_profile, profile_curve
from emiss.plotting import draw_header, plt, save_figure, use_hep_style
from emiss.plotting.labels import scenario_label

log = logging.getLogger(__name__)

_PROCESS_TEX = {"B+->K+": r"B^+\to K^+", "B0->K0": r"B^0\to K^0", "B0->K*0": r"B^0\to K^{*0}",
                "B+->K*+": r"B^+\to K^{*+}"}
_LABEL_TEX = {"m_X": r"$m_X$ [GeV]"}
#: (mathtext symbol, unit) of the labels, for the off-scale note of the limit plots
_LABEL_SYM = {"m_X": ("m_X", "GeV")}
#: line styles cycled per scenario so that coinciding curves (e.g. two-body scalar and vector,
#: which share the q^2 = m_X^2 line shape) stay visible
_STYLES = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "v"), ((0, (5, 1, 1, 1)), "D"))


def _ok(r: Mapping[str, Any]) -> bool:
    return str(r.get("status", "")).startswith("ok")


def _by_scenario(docs: Sequence[Mapping[str, Any]], label: str)\
        -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Rows with the label, grouped by (workspace digest, scenario)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for doc in docs:
        for r in doc["results"]:
            if r.get(label) is not None and r.get("scenario") not in SM_LIKE:
                groups.setdefault((doc["workspace_digest"], str(r.get("scenario"))), []).append(r)
    if not groups:
        raise EmissError(f"no result rows with label {label!r}; the labels of these results are "
                         f"{sorted({lab for d in docs for lab in d.get('labels', [])})}")
    return groups


def _sm_rows(docs: Sequence[Mapping[str, Any]], digest: str) -> list[Mapping[str, Any]]:
    return [r for d in docs if d["workspace_digest"] == digest for r in d["results"]
            if r.get("scenario") in SM_LIKE and _ok(r) and r.get("twice_nll") is not None]


def _cl(docs: Sequence[Mapping[str, Any]]) -> float:
    return float(docs[0].get("options", {}).get("cl", 0.95))


def _xlabel(label: str) -> str:
    return _LABEL_TEX.get(label, label)


def _stem(outdir: Path, kind: str, scenario: str, digest: str, multi_ws: bool,
          prefix: str = "") -> Path:
    tag = f"_{digest[:8]}" if multi_ws else ""
    return outdir / f"{prefix + '_' if prefix else ''}{kind}_{scenario}{tag}"


def _data(docs: Sequence[Mapping[str, Any]], digest: str | None = None)\
        -> Mapping[str, Any] | None:
    """The ``workspace`` block (data source) of the results of one workspace, if recorded."""
    for d in docs:
        if (digest is None or d["workspace_digest"] == digest) and d.get("workspace"):
            return d["workspace"]
    return None


#: A point whose limit (the higher of the observed limit and the expected +2σ edge) exceeds
#: this factor times the median over the scan is "off scale" (the limit blows up there, e.g. at
#: the kinematic endpoint m_X → m_B − m_K); the y axis follows the remaining points.
OFF_SCALE_FACTOR = 30.0


def robust_limit_range(obs: np.ndarray, exp: np.ndarray, extra: Sequence[float] = (),
                       factor: float = OFF_SCALE_FACTOR) -> tuple[float, float, np.ndarray]:
    """y range of a limit plot over the bulk of the points, and which points are off scale.

    Args:
        obs: observed limits per point.
        exp: expected limits per point, columns (−2σ, −1σ, median, +1σ, +2σ).
        extra: further values that must be visible (e.g. the SM branching ratio).
        factor: a point is off scale when max(observed, expected +2σ) > factor × the median of
            that quantity over all points.

    Returns:
        (lowest value shown, highest value of the points on scale, off-scale mask).
    """
    upper = np.fmax(obs, exp[:, 4])
    finite = np.isfinite(upper) & (upper > 0)
    if not finite.any():
        return 1e-7, 1e-3, np.zeros(len(obs), dtype=bool)
    cap = factor * float(np.median(upper[finite]))
    off = finite & (upper > cap)
    keep = finite & ~off
    hi = float(np.nanmax(upper[keep])) if keep.any() else cap
    lows = np.concatenate([exp[keep, 0], obs[keep], np.asarray(extra, dtype=float)])
    lows = lows[np.isfinite(lows) & (lows > 0)]
    lo = float(lows.min()) if lows.size else hi / 100.0
    hi = max([hi, *[float(v) for v in extra if np.isfinite(v)]])
    return lo, hi, off


def _is_number(v: Any) -> TypeGuard[int | float]:
    """A number (bools are not)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _limit_arrays(rows: Sequence[Mapping[str, Any]], label: str, scenario: str)\
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, observed limits and the expected band (n x 5) of a scenario's rows, checked.

    Args:
        rows: the scenario's successful rows.
        label: x-axis label key.
        scenario: its name (for messages).

    Returns:
        (x, observed, expected) arrays; None entries of the band become NaN.

    Raises:
        EmissError: a row whose label value or observed limit is not a number, or whose
            ``br_limit_exp`` is not a list of 5 numbers (-2σ, -1σ, median, +1σ, +2σ).
    """
    def bad(r: Mapping[str, Any], key: str, want: str) -> EmissError:
        shown = repr(r.get(key))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return EmissError(f"results row {r.get('name')!r} ({scenario}): {key} {shown} is not "
                          f"{want}; the results file is damaged: rerun the scan that wrote it")

    for r in rows:
        if not _is_number(r.get(label)):
            raise bad(r, label, "a number")
        if not _is_number(r.get("br_limit_obs")):
            raise bad(r, "br_limit_obs", "a number")
        band = r.get("br_limit_exp")
        if not (isinstance(band, list) and len(band) == 5
                and all(v is None or _is_number(v) for v in band)):
            raise bad(r, "br_limit_exp", "the expected-limit band (a list of 5 numbers: "
                      "-2σ, -1σ, median, +1σ, +2σ)")
    x = np.array([r[label] for r in rows], dtype=float)
    obs = np.array([r["br_limit_obs"] for r in rows], dtype=float)
    exp = np.array([[np.nan if v is None else v for v in r["br_limit_exp"]] for r in rows],
                   dtype=float).reshape(len(rows), 5)
    return x, obs, exp


def _calc_note(docs: Sequence[Mapping[str, Any]]) -> str:
    calc = str(docs[0].get("options", {}).get("calctype", "asymptotics"))
    return "CL$_s$, " + ("toys" if calc.startswith("toy") else "asymptotic")


def plot_limits(docs: Sequence[Mapping[str, Any]], outdir: Path, label: str = "m_X",
                prefix: str = "") -> list[Path]:
    """Brazil band of the upper limit on the branching ratio versus the label, one per scenario.

    Observed (solid), expected median (dashed), ±1σ (green) and ±2σ (yellow) bands; the SM
    B(B → K νν̄) of the ``sm`` patch (its reference branching ratio, μ = 1) as a dotted line
    when the results hold one. The y range is ``robust_limit_range``'s: observed points above
    it are marked by triangles at the top edge, named in the legend. The legend sits on the side
    (left or right) where the curves are lower, with head room above them.

    Args:
        docs: results documents.
        outdir: output folder.
        label: x-axis label key.
        prefix: file-name prefix (the CLI passes the results file stem):
            ``<prefix>_limits_<scenario>.png``.

    Returns:
        Written files.
    """
    use_hep_style()
    groups = _by_scenario(docs, label)
    multi = len({d for d, _ in groups}) > 1
    cl = _cl(docs)
    paths: list[Path] = []
    for (digest, scen), rows in groups.items():
        rows = sorted((r for r in rows if _ok(r) and r.get("br_limit_obs") is not None),
                      key=lambda r: r[label] if _is_number(r[label]) else -np.inf)
        if not rows:
            log.warning("scenario %s: no successful rows; no limit plot", scen)
            continue
        x, obs, exp = _limit_arrays(rows, label, scen)
        proc = rows[0].get("process")
        ptex = _PROCESS_TEX.get(proc or "", proc or "B\\to K")
        sm = [r for r in _sm_rows(docs, digest) if r.get("process") in (proc, None)]
        sm_br = float(sm[0]["reference_branching_ratio"]) if sm else None
        lo, hi, off = robust_limit_range(obs, exp, [sm_br] if sm_br else [])
        fig, ax = plt.subplots(figsize=(8, 6.2))
        if np.isfinite(exp).any():  # an observed-only scan has no band
            ax.fill_between(x, exp[:, 0], exp[:, 4], color="#FFDF00", lw=0,
                            label=r"Expected $\pm 2\sigma$")
            ax.fill_between(x, exp[:, 1], exp[:, 3], color="#00CC00", lw=0,
                            label=r"Expected $\pm 1\sigma$")
            ax.plot(x, exp[:, 2], "k--", lw=1.5, label="Expected")
        ax.plot(x, obs, "k-", marker="o", ms=3, lw=2, label="Observed")
        if sm_br is not None:
            ax.axhline(sm_br, color="tab:blue", ls=":", lw=2,
                       label=rf"SM $\mathcal{{B}}({ptex}\nu\bar\nu)$")
        ax.set_yscale("log")
        ax.set_xlim(x.min(), x.max())
        # legend on the side where the curves are lower (it spans ~60 % of the width); the
        # top of the axis leaves it room above them
        upper = np.fmax(obs, exp[:, 4])
        on = ~off & np.isfinite(upper)
        frac = (x - x.min()) / max(x.max() - x.min(), 1e-12)
        side_max = {}
        for side, sel in (("left", frac <= 0.6), ("right", frac >= 0.4)):
            vals = upper[on & sel]
            side_max[side] = float(vals.max()) if vals.size else lo
        side = min(side_max, key=lambda s: side_max[s])
        a, b = np.log10(lo / 1.3), np.log10(hi * 1.3)
        top = max(b, a + (np.log10(side_max[side] * 1.3) - a) / 0.62)
        ax.set_ylim(10**a, 10**top)
        x_off = x[off & (obs > 10**top)]
        if x_off.size:
            sym = _LABEL_SYM.get(label, (label.replace("_", r"\_"), ""))
            if np.all(obs[x >= x_off.min()] > 10**top):  # the tail, as at the endpoint
                where = rf" (${sym[0]} \geq {x_off.min():g}$ {sym[1]})"
            else:
                where = rf" (${sym[0]}$ = {', '.join(f'{v:g}' for v in x_off)} {sym[1]})"
            ax.plot(x_off, np.full(x_off.size, 0.97), ls="none", marker="^", ms=8,
                    color="black", transform=ax.get_xaxis_transform(), clip_on=False,
                    label="Observed, off scale" + where)
        ax.set_xlabel(_xlabel(label))
        ax.set_ylabel(rf"{100 * cl:g}% CL upper limit on $\mathcal{{B}}({ptex}X)$", fontsize=18)
        ax.legend(loc="upper left" if side == "left" else "upper right", fontsize=12, ncol=2,
                  frameon=False)
        draw_header(ax, _data(docs, digest), title=scenario_label(scen), right=_calc_note(docs))
        paths += save_figure(fig, _stem(Path(outdir), "limits", scen, digest, multi, prefix))
    return paths


def plot_significance(docs: Sequence[Mapping[str, Any]], outdir: Path, label: str = "m_X",
                      prefix: str = "") -> list[Path]:
    """Local discovery significance Z versus the label, one line per scenario.

    Args:
        docs: results documents.
        outdir: output folder.
        label: x-axis label key.
        prefix: file-name prefix: ``<prefix>_significance.png``.

    Returns:
        Written files.
    """
    use_hep_style()
    groups = _by_scenario(docs, label)
    fig, ax = plt.subplots(figsize=(8, 6))
    multi = len({d for d, _ in groups}) > 1
    for i, ((digest, scen), rows) in enumerate(groups.items()):
        rows = sorted((r for r in rows if _ok(r) and r.get("Z") is not None),
                      key=lambda r: r[label])
        if rows:
            tag = f" [{digest[:8]}]" if multi else ""
            ls, mk = _STYLES[i % len(_STYLES)]
            ax.plot([r[label] for r in rows], [r["Z"] for r in rows], ls=ls, marker=mk, ms=3,
                    label=scenario_label(scen) + tag)
    for z in (1, 2, 3):
        ax.axhline(z, color="grey", ls=":", lw=1)
    ax.set_xlabel(_xlabel(label))
    ax.set_ylabel(r"Local significance $Z$ [$\sigma$]")
    ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.3)
    ax.legend(loc="best", fontsize=13, frameon=False)
    draw_header(ax, _data(docs), right="asymptotic, no look-elsewhere correction")
    return save_figure(fig, Path(outdir) / f"{prefix + '_' if prefix else ''}significance")


def plot_likelihood(docs: Sequence[Mapping[str, Any]], outdir: Path, label: str = "m_X",
                    prefix: str = "") -> list[Path]:
    """Profile −2Δln L versus the label per scenario, one figure per workspace.

    Δ is taken from the lowest −2 ln L of the workspace (all scenarios and the SM rescaling),
    so the curves also show which scenario is preferred; the SM-shaped rescaling is a dashed
    horizontal line and the 68 % CL level (Δ = 1 above a curve's minimum) marks each interval.

    Args:
        docs: results documents.
        outdir: output folder.
        label: x-axis label key.
        prefix: file-name prefix: ``<prefix>_likelihood.png``.

    Returns:
        Written files.
    """
    use_hep_style()
    groups = _by_scenario(docs, label)
    digests = sorted({d for d, _ in groups})
    paths: list[Path] = []
    for digest in digests:
        curves = {}
        for (d, scen), rows in groups.items():
            if d == digest:
                x, t, _ = profile_curve(rows, label)
                if len(x):
                    curves[scen] = (x, t)
        if not curves:
            continue
        sm = _sm_rows(docs, digest)
        t_sm = min(r["twice_nll"] for r in sm) if sm else None
        t0 = min([t.min() for _, t in curves.values()] + ([t_sm] if t_sm is not None else []))
        fig, ax = plt.subplots(figsize=(8, 6))
        for i, (scen, (x, t)) in enumerate(curves.items()):
            ls, mk = _STYLES[i % len(_STYLES)]
            (line,) = ax.plot(x, t - t0, ls=ls, marker=mk, ms=3, label=scenario_label(scen))
            iv = interval_from_profile(x, t)
            ax.hlines(t.min() - t0 + 1.0, iv["lower"], iv["upper"], color=line.get_color(),
                      lw=3, alpha=0.6)
        if t_sm is not None:
            ax.axhline(t_sm - t0, color="k", ls="--", lw=1.5, label="SM-shaped rescaling")
        ax.set_xlabel(_xlabel(label))
        ax.set_ylabel(r"$-2\Delta\ln L$")
        ax.plot([], [], color="grey", lw=3, alpha=0.6, label="68% CL interval")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.15)
        ax.legend(loc="best", fontsize=13, frameon=False)
        draw_header(ax, _data(docs, digest), title="profile likelihood")
        tag = f"_{digest[:8]}" if len(digests) > 1 else ""
        pre = prefix + "_" if prefix else ""
        paths += save_figure(fig, Path(outdir) / f"{pre}likelihood{tag}")
    return paths


def _curve_row(docs: Sequence[Mapping[str, Any]], name: str)\
        -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(document, row) of the hypothesis ``name``, which must carry a CLs curve."""
    found = [(d, r) for d in docs for r in d["results"] if r.get("name") == name]
    if not found:
        known = [str(r.get("name")) for d in docs for r in d["results"]]
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise EmissError(f"no results row named {name!r}; valid names: {shown}")
    if len(found) > 1:
        where = ", ".join(f"{r.get('scenario')} (patchset {r.get('patchset', 0)})"
                          for _, r in found)
        raise EmissError(f"{len(found)} results rows are named {name!r} ({where}); give one "
                         "results file whose patch names are unique")
    doc, row = found[0]
    if row.get("cls_curve") is None:
        why = "it failed" if not _ok(row) else "the scan kept no CLs curves"
        raise EmissError(f"results row {name!r} has no CLs curve ({why}); rerun the scan with "
                         "--cls-curve")
    return doc, row


def plot_cls(docs: Sequence[Mapping[str, Any]], outdir: Path, name: str,
             prefix: str = "") -> list[Path]:
    """Brazil band of one hypothesis' CLs curve: CLs versus mu (B = mu times the reference B).

    Observed CLs (solid, with the grid's points), expected median (dashed), ±1σ (green) and
    ±2σ (yellow) bands (the CLs of the expected limits, pyhf's expected set), the level
    1 − CL (red) and the observed limit (dotted) of the row.

    Args:
        docs: results documents (of a scan with ``cls_curve``).
        outdir: output folder.
        name: the patch name of the hypothesis.
        prefix: file-name prefix: ``<prefix>_cls_<name>.png``.

    Returns:
        Written files.

    Raises:
        EmissError: no row, several rows or a row without a curve of that name.
    """
    from emiss.contracts import ResultRow

    doc, row = _curve_row(docs, name)
    curve = ResultRow.from_dict(row, check=False).cls_curve
    assert curve is not None  # _curve_row checked
    ref = row.get("reference_branching_ratio")
    x = np.asarray(curve.mu, dtype=float)
    mu = x
    obs = np.array([np.nan if c is None else c for c in curve.cls_obs], dtype=float)
    exp = np.array([[np.nan if c is None else c for c in e] for e in curve.cls_exp],
                   dtype=float).reshape(len(mu), 5)
    cl = float(doc.get("options", {}).get("cl", 0.95))
    use_hep_style()
    fig, ax = plt.subplots(figsize=(8, 6.2))
    ax.fill_between(x, exp[:, 0], exp[:, 4], color="#FFDF00", lw=0,
                    label=r"Expected $\pm 2\sigma$")
    ax.fill_between(x, exp[:, 1], exp[:, 3], color="#00CC00", lw=0,
                    label=r"Expected $\pm 1\sigma$")
    ax.plot(x, exp[:, 2], "k--", lw=1.5, label="Expected")
    ax.plot(x, obs, "k-", marker="o", ms=4, lw=2, label="Observed")
    ax.axhline(1.0 - cl, color="tab:red", lw=1.5, label=rf"CL$_s$ = {1.0 - cl:g}")
    lim = row.get("mu_limit_obs")
    if _is_number(lim):
        ax.axvline(float(lim), color="grey", ls=":", lw=1.5,
                   label=rf"Observed {100 * cl:g}% CL limit")
    ax.set_xlim(0.0, x.max())
    ax.set_ylim(0.0, 1.05)
    if _is_number(ref) and ref > 0:
        mant, expo = f"{float(ref):.3e}".split("e")
        ax.set_xlabel(rf"$\mu$   ($\mathcal{{B}} = \mu \times {float(mant):g}"
                      rf"\times 10^{{{int(expo)}}}$)", fontsize=18)
    else:
        ax.set_xlabel(r"$\mu$")
    ax.set_ylabel(r"CL$_s$")
    ax.legend(loc="upper right", fontsize=12, frameon=False)
    labels = [lab for lab in doc.get("labels", []) if _is_number(row.get(lab))]
    point = ", ".join(f"${_LABEL_SYM.get(lab, (lab, ''))[0]}$ = {row[lab]:g} "
                      f"{_LABEL_SYM.get(lab, (lab, ''))[1]}".rstrip() for lab in labels)
    title = scenario_label(str(row.get("scenario"))) + (f", {point}" if point else "")
    draw_header(ax, doc.get("workspace"), title=title, right=_calc_note([doc]))
    pre = prefix + "_" if prefix else ""
    return save_figure(fig, Path(outdir) / f"{pre}cls_{name}")
