"""CLI: ``emiss model u1prime``, ``emiss model u1prime-scan``, ``emiss model u1prime-coupling``.

A thin shell over ``emiss.models.u1prime``, ``emiss.models.plane`` and
``emiss.plotting.model``; bad input is an ``EmissError`` (one line, exit 2), checked before any
file is written.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import click
import numpy as np

from emiss.cli._common import OUT_DIR
from emiss.errors import EmissError
from emiss.io import dumps_json, write_json

log = logging.getLogger(__name__)


def _jsonable(obj):
    """numpy/tuple-free copy for JSON (inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _pair(text: str | None, what: str) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",")]
    try:
        lo, hi = (float(t) for t in parts)
    except ValueError:
        raise EmissError(f"bad {what} {text!r}; expected LOW,HIGH, e.g. 1000,100000") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise EmissError(f"bad {what} {text!r}; need finite LOW < HIGH")
    return lo, hi


def _model_options(f):
    opts = [
        click.option("--gX", "g_qX", type=float, default=0.0, show_default=True,
                     help="g̃ q'_X of the dark Dirac fermion X (0: minimal model)."),
        click.option("--mX", "m_X", type=float, default=None, help="Mass of X in GeV."),
        click.option("--delta", type=float, default=1.0, show_default=True,
                     help="Kinetic-mixing cancellation (eps = eps_loop/delta)."),
        click.option("--Lambda", "Lambda_UV", type=float, default=1e16, show_default=True,
                     help="UV scale of the kinetic-mixing log (GeV)."),
        click.option("--radius", "radius_m", type=float, default=3.0, show_default=True,
                     help="Belle II detector radius (m) for P_inv."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def register(cli: click.Group, plot: click.Group) -> None:
    """Add the ``model`` group."""

    @cli.group("model")
    def model() -> None:
        """UV models: parameters -> scenario couplings, Z' decays, constraints, model planes."""

    @model.command("u1prime")
    @click.option("--mT", "m_T", type=float, required=True, help="Heavy top-partner mass (GeV).")
    @click.option("--g-qprime", "g_qprime", type=float, required=True, help="g̃ q'.")
    @click.option("--YTt", "Y_Tt", type=float, default=None, help="Yukawa Y_T^t.")
    @click.option("--vtilde", type=float, default=None, help="vev ṽ of Phi (GeV).")
    @click.option("--mZp", "m_Zp", type=float, default=None,
                  help="Z' mass (GeV); default 2.1 unless --vtilde fixes it.")
    @_model_options
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def u1prime_cmd(m_T, g_qprime, Y_Tt, vtilde, m_Zp, g_qX, m_X, delta, Lambda_UV, radius_m,
                    as_json) -> None:
        """Every derived quantity of the U(1)' + T' model at one point."""
        from emiss.models import u1prime as U

        res = _jsonable(U.derive(m_T=m_T, g_qprime=g_qprime, Y_Tt=Y_Tt, vtilde=vtilde,
                                 m_Zp=m_Zp, g_qX=g_qX, m_X=m_X, delta=delta,
                                 Lambda_UV=Lambda_UV, detector_radius_m=radius_m))
        if as_json:
            click.echo(dumps_json(res), nl=False)
            return
        sc = res["scenario"]
        z = res["zprime"]
        km = res["kinetic_mixing"]
        click.echo(f"U(1)' + T': m_T = {m_T:g} GeV, g̃q' = {g_qprime:g}, M_Z' = {res['M_Zp']:g} "
                   f"GeV, ṽ = {res['vtilde']:.4g} GeV")
        click.echo(f"twobody-vector couplings (c_L=1, c_R=0): b->s {sc['g_b->s']:.4e}, "
                   f"b->d {sc['g_b->d']:.4e}, s->d {sc['g_s->d']:.4e}")
        click.echo(f"kinetic mixing eps_A = {km['eps_A']:.3e} (loop {km['eps_A_loop']:.3e}), "
                   f"eps_Z = {km['eps_Z']:.3e}")
        bf = ", ".join(f"{k} {v:.3f}" for k, v in z["branching_fractions"].items() if v > 0)
        click.echo(f"Z': Gamma = {z['total_width_GeV']:.3e} GeV, c tau = {z['ctau_m']:.3e} m; "
                   f"BR: {bf or '-'}")
        for name, row in res["modes"].items():
            if not row["open"]:
                click.echo(f"  {name:10s} {row['note']}")
                continue
            extra = f"  F_L {row['FL']:.3f}" if "FL" in row else ""
            if "P_inv" in row:
                extra += (f"  P_inv {row['P_inv']:.3e}  B*P_inv "
                          f"{row['branching_ratio_times_P_inv']:.3e}")
            click.echo(f"  {name:10s} B = {row['branching_ratio']:.3e}{extra}")
        mx = res["mixing"]
        if mx["computed"]:
            click.echo(f"T'-t mixing: s_L {mx['s_L']:.3e}, s_R {mx['s_R']:.3e}")
        else:
            click.echo(f"T'-t mixing: not computed: {mx['reason']}")
        e = res["ewpo"]
        if e["computed"]:
            click.echo(f"EWPO: S {e['S']:.2e}, T {e['T']:.2e}, U {e['U']:.2e}, "
                       f"Delta chi2 {e['delta_chi2']:.3g} -> "
                       f"{'allowed' if e['allowed_95'] else 'excluded'} (95% CL)")
        else:
            y = (f" (Y_T^t <= {e['Y_Tt_max_95']:.3e} at this ṽ)" if "Y_Tt_max_95" in e
                 else "")
            click.echo(f"EWPO: S, T, U not computed (needs --YTt); 95% CL bound "
                       f"s_L^2 <= {e['s_L2_max_95']:.3e}{y}")
        dm = res["dark_matter"]
        if dm["computed"]:
            rf = (f"Omega_X/Omega_DM {dm['relic_fraction']:.3g}" if "relic_fraction" in dm
                  else dm["not_computed"]["relic_fraction"])
            click.echo(f"dark matter: {rf}; CMB "
                       f"{'allowed' if dm['cmb_allowed'] else 'excluded'}")
        else:
            click.echo(f"dark matter: not computed: {dm['reason']}")

    @model.command("u1prime-coupling")
    @click.option("--br-hat", "br_hat", type=float, required=True,
                  help="Best-fit B * P_inv (e.g. from emiss scan).")
    @click.option("--br-interval", "br_interval", default=None, metavar="LOW,HIGH",
                  help="Interval of B * P_inv.")
    @click.option("--mZp", "m_Zp", type=float, default=2.1, show_default=True)
    @click.option("--process", default="B+->K+", show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def coupling_cmd(br_hat, br_interval, m_Zp, process, as_json) -> None:
        """The g̃ q'(m_T) that B̂ requires when all Z' escape: g̃ q' = C (10 TeV/m_T)."""
        from emiss.plotting.model import coupling_summary

        iv = _pair(br_interval, "--br-interval")
        if iv is not None and iv[0] < 0:
            raise EmissError(f"--br-interval {br_interval!r}: LOW must be >= 0")
        res = coupling_summary(br_hat, iv, m_Zp, process)
        if res is None:
            raise EmissError(f"--br-hat {br_hat:g} must be > 0")
        if as_json:
            click.echo(dumps_json(_jsonable(res)), nl=False)
            return
        txt = f"g̃q' = {res['g_qprime_at_10TeV']:.3e} x (10 TeV / m_T)"
        if "g_qprime_at_10TeV_interval" in res:
            lo, hi = res["g_qprime_at_10TeV_interval"]
            txt += f"   [{lo:.3e}, {hi:.3e}]"
        click.echo(txt + f"   (B*P_inv = {br_hat:g}, M_Z' = {m_Zp:g} GeV, P_inv = 1)")

    @model.command("u1prime-scan")
    @click.argument("results", nargs=-1, required=True, type=click.Path())
    @click.option("-o", "--outdir", "--output", "outdir", required=True, type=OUT_DIR,
                  help="Output folder (created if missing): <results stem>_u1prime_plane.png/"
                       ".pdf/.json.")
    @click.option("--mZp", "m_Zp", type=float, default=None,
                  help="Z' mass (GeV); default: the scan's best-fit mass.")
    @click.option("--YTt", "Y_Tt", type=float, multiple=True,
                  help="Y_T^t for the EWPO curve (repeatable; default 1e-3).")
    @click.option("--br-interval", "br_interval", default=None, metavar="LOW,HIGH",
                  help="Override the B * P_inv interval (default B_hat +- B_hat/Z).")
    @click.option("--charge-ratio", type=float, default=None,
                  help="q'_X/q' for the relic and CMB lines (needs --mX > M_Z').")
    @click.option("--mT-range", "mT_range", default="1000,100000", show_default=True,
                  help="m_T range in GeV.")
    @click.option("--g-range", "g_range", default="1e-8,1e-4", show_default=True,
                  help="g̃ q' range.")
    @_model_options
    def scan_cmd(results, outdir, m_Zp, Y_Tt, br_interval, charge_ratio, mT_range, g_range,
                 g_qX, m_X, delta, Lambda_UV, radius_m) -> None:
        """Model plane g̃ q' vs m_T at fixed M_Z' from RESULTS of twobody-vector patches."""
        from emiss.cli._common import output_dir
        from emiss.inference.results import load_results
        from emiss.models.plane import PlaneInputs
        from emiss.plotting.model import coupling_summary, plot_plane, scan_numbers

        output_dir(outdir)
        docs = [load_results(p) for p in results]
        nums = scan_numbers(docs, m_Zp)
        iv = _pair(br_interval, "--br-interval") or nums["br_interval"]
        for name, v in (("--delta", delta), ("--Lambda", Lambda_UV), ("--radius", radius_m)):
            if not (v > 0 and math.isfinite(v)):
                raise EmissError(f"{name} {v!r} must be > 0")
        if any(y <= 0 for y in Y_Tt):
            raise EmissError(f"--YTt values {list(Y_Tt)} must be > 0")
        if charge_ratio is not None and not charge_ratio > 0:
            raise EmissError(f"--charge-ratio {charge_ratio!r} must be > 0")
        inp = PlaneInputs(m_Zp=nums["m_Zp"], br_hat=nums["br_hat"], br_interval=iv,
                          br_limit=nums["br_limit"], process=nums["process"],
                          Y_Tt=tuple(Y_Tt) or (1e-3,), g_qX=g_qX, m_X=m_X, delta=delta,
                          Lambda_UV=Lambda_UV, radius_m=radius_m, charge_ratio=charge_ratio,
                          m_T_range=_pair(mT_range, "--mT-range"),
                          g_range=_pair(g_range, "--g-range"))
        from emiss.models.plane import _check

        _check(inp)
        out = Path(outdir)
        stem = "+".join(dict.fromkeys(Path(p).name.removesuffix(".json") for p in results))
        data = next((d["workspace"] for d in docs if d.get("workspace")), None)
        paths, _ = plot_plane(inp, out / f"{stem}_u1prime_plane", data=data)
        summary = {"scan": nums, "br_interval_used": iv,
                   "coupling_all_escape": coupling_summary(nums["br_hat"], iv, nums["m_Zp"],
                                                           nums["process"]),
                   "options": {"Y_Tt": list(inp.Y_Tt), "g_qX": g_qX, "m_X": m_X,
                               "delta": delta, "Lambda_UV": Lambda_UV, "radius_m": radius_m,
                               "charge_ratio": charge_ratio}}
        paths.append(write_json(out / f"{stem}_u1prime_plane.json", _jsonable(summary)))
        for p in paths:
            click.echo(str(p))
