"""The U(1)' model plane (g̃ q' versus m_T at fixed M_Z') from an ``emiss scan`` of two-body
vector patches.

From the scan rows of ``twobody-vector`` at M_Z' (results format: docs/interfaces.md) it takes
the best fit B̂ = ``br_hat`` (B * P_inv of the patch's process), its 68 % interval in the
asymptotic (Wald) approximation B̂ ± B̂/Z (Z = sqrt(q0), so sigma_mu = mu_hat/Z; Cowan,
Cranmer, Gross, Vitells arXiv:1007.1727 eqs. (12), (16)) unless an interval is given, and the
observed upper limit ``br_limit_obs``; between grid masses the numbers are interpolated
linearly in m_X. The figure (PNG + PDF, deterministic) shows the region that fits the excess,
the region excluded by the limit, EWPO exclusions per Y_T^t, the "all Z' escape" band and,
when a charge ratio q'_X/q' is given, the relic and CMB lines.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from emiss.errors import EmissError
from emiss.models import plane as PL
from emiss.plotting import draw_data_label, plt, save_figure, use_hep_style

log = logging.getLogger(__name__)

SCENARIO = "twobody-vector"


def _ok(r: Mapping[str, Any]) -> bool:
    return str(r.get("status", "")).startswith("ok")


def scan_numbers(docs: Sequence[Mapping[str, Any]], m_Zp: float | None = None,
                 label: str = "m_X") -> dict[str, Any]:
    """B̂, its interval and the limit at M_Z' from scan results of twobody-vector patches.

    Args:
        docs: results documents.
        m_Zp: Z' mass in GeV (None: the mass of the smallest twice_nll, i.e. the best fit).
        label: the mass label of the rows.

    Returns:
        {"m_Zp", "process", "br_hat", "Z", "br_interval", "br_limit", "interval_method",
        "n_rows"}.

    Raises:
        EmissError: no successful twobody-vector rows, or M_Z' outside the scanned masses.
    """
    rows = [r for d in docs for r in d.get("results", [])
            if r.get("scenario") == SCENARIO and _ok(r) and r.get(label) is not None]
    if not rows:
        raise EmissError(f"no successful {SCENARIO!r} rows with label {label!r} in the results; "
                         "run `emiss scan` on two-body vector patches")
    procs = sorted({str(r.get("process")) for r in rows})
    if len(procs) > 1:
        raise EmissError(f"results mix processes {procs}; pass results of one process")
    best: dict[float, Mapping[str, Any]] = {}
    for r in rows:
        x = float(r[label])
        if x not in best or (r.get("twice_nll") or 0) < (best[x].get("twice_nll") or 0):
            best[x] = r
    xs = np.array(sorted(best))
    if m_Zp is None:
        cand = [x for x in xs if best[x].get("twice_nll") is not None]
        if not cand:
            raise EmissError("no twice_nll in the results; give --mZp")
        m_Zp = float(min(cand, key=lambda x: best[x]["twice_nll"]))
    m_Zp = float(m_Zp)
    if not xs[0] <= m_Zp <= xs[-1]:
        raise EmissError(f"M_Z' = {m_Zp:g} GeV is outside the scanned masses "
                         f"[{xs[0]:g}, {xs[-1]:g}] GeV")

    def interp(key: str) -> float | None:
        vals = [best[x].get(key) for x in xs]
        if any(v is None for v in vals):
            near = vals[int(np.argmin(abs(xs - m_Zp)))]
            return None if near is None else float(near)
        return float(np.interp(m_Zp, xs, np.array(vals, dtype=float)))

    br_hat, z, lim = interp("br_hat"), interp("Z"), interp("br_limit_obs")
    interval = None
    if br_hat is not None and br_hat > 0 and z is not None and z > 0:
        sig = br_hat / z
        interval = (max(br_hat - sig, 0.0), br_hat + sig)
    return {"m_Zp": m_Zp, "process": procs[0], "br_hat": br_hat, "Z": z,
            "br_interval": interval, "br_limit": lim,
            "interval_method": "Wald: B_hat +- B_hat/Z (arXiv:1007.1727)", "n_rows": len(rows)}


def plot_plane(inp: PL.PlaneInputs, stem: str | Path, data: Mapping[str, Any] | None = None)\
        -> tuple[list[Path], dict]:
    """Draw the model plane and write stem.png, stem.pdf.

    Args:
        inp: plane inputs (scan numbers and model options).
        stem: output path without suffix.
        data: data info of the scan (the results' ``workspace`` block), written on the figure.

    Returns:
        (written paths, the computed grids and lines).
    """
    res = PL.compute(inp)
    use_hep_style()
    mT, g = res["m_T"] / 1e3, res["g"]
    fig, ax = plt.subplots(figsize=(9, 7))
    handles: list[Artist] = []
    if inp.br_interval is not None:
        lo, hi = inp.br_interval
        band = (res["br_pinv"] >= lo) & (res["br_pinv"] <= hi)
        if band.any():
            ax.contourf(mT, g, band.astype(float), levels=[0.5, 1.5], colors=["#4daf4a"],
                        alpha=0.55)
            lab = r"fits the excess ($\hat B\pm1\sigma$), model $P_{\rm inv}$"
            handles.append(plt.Rectangle((0, 0), 1, 1, fc="#4daf4a", alpha=0.55, label=lab))
    if inp.br_limit is not None:
        exc = res["br_pinv"] > inp.br_limit
        if exc.any():
            ax.contourf(mT, g, exc.astype(float), levels=[0.5, 1.5], colors=["#e41a1c"],
                        alpha=0.25)
            lab = r"excluded by the $B\to K$ limit, model $P_{\rm inv}$"
            handles.append(plt.Rectangle((0, 0), 1, 1, fc="#e41a1c", alpha=0.25, label=lab))
    ln = res["lines"]
    if "escape_low" in ln and "escape_high" in ln:
        ax.fill_between(mT, ln["escape_low"], ln["escape_high"], facecolor="none",
                        edgecolor="#377eb8", hatch="////", lw=0)
    if "escape_best" in ln:
        (h,) = ax.plot(mT, ln["escape_best"], color="#377eb8", lw=2,
                       label=r"$\hat B$ if all $Z'$ escape ($P_{\rm inv}=1$), hatched $\pm1\sigma$")
        handles.append(h)
    if "escape_limit" in ln:
        (h,) = ax.plot(mT, ln["escape_limit"], color="#e41a1c", lw=2, ls="--",
                       label=r"$B\to K$ limit if all $Z'$ escape")
        handles.append(h)
    handles += _draw_ewpo(ax, mT, g, res["ewpo"])
    if res["relic"] is not None:
        h = ax.axhline(res["relic"], color="#984ea3", lw=2,
                       label=rf"relic $\Omega_X=\Omega_{{\rm DM}}$ ($m_X={inp.m_X:g}$ GeV, "
                             rf"$q'_X/q'={inp.charge_ratio:g}$)")
        handles.append(h)
        h = ax.axhline(res["cmb"], color="#984ea3", lw=1.5, ls=":", label="CMB (talk)")
        handles.append(h)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(mT[0], mT[-1])
    ax.set_ylim(g[0], g[-1])
    ax.set_xlabel(r"$m_T$ [TeV]")
    ax.set_ylabel(r"$\tilde g\, q'$")
    ax.set_title(rf"U(1)$'$ + $T'$, $M_{{Z'}}={inp.m_Zp:g}$ GeV, $\delta={inp.delta:g}$, "
                 rf"$\tilde g q'_X={inp.g_qX:g}$", fontsize=13, loc="right")
    ax.legend(handles=handles, loc="lower left", fontsize=10, framealpha=0.9)
    draw_data_label(ax, data)
    return save_figure(fig, Path(stem)), res


def _draw_ewpo(ax: Axes, mT: np.ndarray, g: np.ndarray, ewpo: Mapping[float, Any]
               ) -> list[Artist]:
    """EWPO contours per Y_T^t: where no T'-t solution exists and the 95 % CL exclusion.

    Args:
        ax: the Axes.
        mT: m_T grid (TeV).
        g: coupling grid.
        ewpo: Y_T^t -> {"no_solution", "delta_chi2"} on the (g, m_T) grid (``plane.compute``).

    Returns:
        Legend handles.
    """
    handles: list[Artist] = []
    styles = ["-", "--", ":", "-."]
    for i, (y, e) in enumerate(ewpo.items()):
        ls = styles[i % 4]
        nosol = e["no_solution"].astype(float)
        if 0 < nosol.mean() < 1:
            ax.contour(mT, g, nosol, levels=[0.5], colors=["0.35"], linestyles=[ls])
            (h,) = ax.plot([], [], color="0.35", ls=ls,
                           label=rf"no $T'$-$t$ solution below ($\tilde v Y_T^t > 1.41(m_T-m_t)$), "
                                 rf"$Y_T^t={y:g}$")
            handles.append(h)
        finite = np.where(np.isfinite(e["delta_chi2"]), e["delta_chi2"], 0.0)
        # 3.841: the 95 % quantile of chi^2 with one degree of freedom (PDG, Statistics)
        excl = ((finite > 3.841) & ~e["no_solution"]).astype(float)
        if excl.any():
            ax.contour(mT, g, excl, levels=[0.5], colors=["#ff7f00"], linestyles=[ls])
            lab = rf"EWPO 95% CL exclusion, $Y_T^t={y:g}$"
        else:
            lab = rf"EWPO: no 95% CL exclusion in range, $Y_T^t={y:g}$"
        (h,) = ax.plot([], [], color="#ff7f00", ls=ls, label=lab)
        handles.append(h)
    return handles


def coupling_summary(br_hat: float | None, interval: Sequence[float] | None, m_Zp: float,
                     process: str) -> dict[str, Any] | None:
    """g̃ q' (m_T / 10 TeV) required by B̂ (and its interval) when all Z' escape."""
    from emiss.models import u1prime as U

    if br_hat is None or br_hat <= 0:
        return None
    c = float(U.required_coupling(br_hat, 1e4, m_Zp, process))
    out: dict[str, Any] = {"g_qprime_at_10TeV": c, "scaling": "g_qprime = C * (10 TeV / m_T)",
           "br_hat": br_hat, "m_Zp": m_Zp, "process": process, "P_inv": 1.0}
    if interval is not None:
        lo, hi = interval
        out["g_qprime_at_10TeV_interval"] = [
            float(U.required_coupling(lo, 1e4, m_Zp, process)) if lo > 0 else 0.0,
            float(U.required_coupling(hi, 1e4, m_Zp, process))]
    if not math.isfinite(c):  # pragma: no cover - guarded above
        return None
    return out
