"""Scan figures: Brazil-band limits, local significance and profile likelihood versus the mass.

Inputs are scan results documents (``emiss.inference.results``); every figure is written as PNG
and PDF through :func:`emiss.plotting.save_figure`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.inference.compare import SM_LIKE, interval_from_profile, profile_curve
from emiss.plotting import draw_data_label, plt, save_figure, use_hep_style

log = logging.getLogger(__name__)

_PROCESS_TEX = {"B+->K+": r"B^+\to K^+", "B0->K0": r"B^0\to K^0", "B0->K*0": r"B^0\to K^{*0}",
                "B+->K*+": r"B^+\to K^{*+}"}
_LABEL_TEX = {"m_X": r"$m_X$ [GeV]"}
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


def plot_limits(docs: Sequence[Mapping[str, Any]], outdir: Path, label: str = "m_X",
                prefix: str = "") -> list[Path]:
    """Brazil band of the upper limit on the branching ratio versus the label, one per scenario.

    Observed (solid), expected median (dashed), ±1σ (green) and ±2σ (yellow) bands; the SM
    B(B → K νν̄) of the ``sm`` patch (its reference branching ratio, μ = 1) as a dotted line
    when the results hold one.

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
                      key=lambda r: r[label])
        if not rows:
            log.warning("scenario %s: no successful rows; no limit plot", scen)
            continue
        x = np.array([r[label] for r in rows], dtype=float)
        obs = np.array([r["br_limit_obs"] for r in rows], dtype=float)
        exp = np.array([[np.nan if v is None else v for v in r["br_limit_exp"]] for r in rows],
                       dtype=float)
        fig, ax = plt.subplots(figsize=(8, 6))
        ax.fill_between(x, exp[:, 0], exp[:, 4], color="#FFDF00", lw=0,
                        label=r"Expected $\pm 2\sigma$")
        ax.fill_between(x, exp[:, 1], exp[:, 3], color="#00CC00", lw=0,
                        label=r"Expected $\pm 1\sigma$")
        ax.plot(x, exp[:, 2], "k--", lw=1.5, label="Expected")
        ax.plot(x, obs, "k-", marker="o", ms=3, lw=2, label="Observed")
        proc = rows[0].get("process")
        ptex = _PROCESS_TEX.get(proc, proc or "B\\to K")
        sm = [r for r in _sm_rows(docs, digest) if r.get("process") in (proc, None)]
        if sm:
            ax.axhline(sm[0]["reference_branching_ratio"], color="tab:blue", ls=":", lw=2,
                       label=rf"SM $\mathcal{{B}}({ptex}\nu\bar\nu)$")
        ax.set_yscale("log")
        ax.set_xlabel(_xlabel(label))
        ax.set_ylabel(rf"{100 * cl:g}% CL upper limit on $\mathcal{{B}}({ptex}X)$", fontsize=20)
        ax.set_xlim(x.min(), x.max())
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * (hi / lo) ** 0.35)  # head room for the legend
        ax.set_title(f"{scen} (CLs, asymptotic)", fontsize=14, loc="right")
        ax.legend(loc="upper right", fontsize=13, ncol=2)
        draw_data_label(ax, _data(docs, digest), loc="title")
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
                    label=scen + tag)
    for z in (1, 2, 3):
        ax.axhline(z, color="grey", ls=":", lw=1)
    ax.set_xlabel(_xlabel(label))
    ax.set_ylabel(r"Local significance $Z$ [$\sigma$]")
    ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.25)
    ax.legend(loc="upper right", fontsize=13)
    draw_data_label(ax, _data(docs), loc="title")
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
            (line,) = ax.plot(x, t - t0, ls=ls, marker=mk, ms=3, label=scen)
            iv = interval_from_profile(x, t)
            ax.hlines(t.min() - t0 + 1.0, iv["lower"], iv["upper"], color=line.get_color(),
                      lw=3, alpha=0.6)
        if t_sm is not None:
            ax.axhline(t_sm - t0, color="k", ls="--", lw=1.5, label="SM-shaped rescaling")
        ax.set_xlabel(_xlabel(label))
        ax.set_ylabel(r"$-2\Delta\ln L$")
        ax.set_ylim(bottom=0)
        ax.legend(loc="best", fontsize=13)
        ax.set_title("bars: 68% CL interval", fontsize=12, loc="right")
        draw_data_label(ax, _data(docs, digest), loc="title")
        tag = f"_{digest[:8]}" if len(digests) > 1 else ""
        pre = prefix + "_" if prefix else ""
        paths += save_figure(fig, Path(outdir) / f"{pre}likelihood{tag}")
    return paths
