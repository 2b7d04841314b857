"""CLI: ``emiss model u1prime``, ``emiss model u1prime-scan``, ``emiss model u1prime-coupling``.

A thin shell over ``emiss.api`` (``u1prime``, ``u1prime_coupling``, ``u1prime_plane``), which
calls ``emiss.models.u1prime``, ``emiss.models.plane`` and ``emiss.plotting.model``; bad input
is an ``EmissError`` (one line, exit 2), checked before any file is written.
"""

from __future__ import annotations

import logging

import click

from emiss import api, validate
from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, output_dir
from emiss.errors import EmissError
from emiss.io import dumps_json
from emiss.validate import Range

log = logging.getLogger(__name__)


#: Range of the ends of --br-interval (a branching ratio, 0 allowed).
_BR_END = Range("branching ratio", 0.0, 1.0, example="1e-5")


def _pair(text: str, what: str, rng: Range) -> tuple[float, float]:
    """LOW,HIGH with both ends in rng (``emiss.validate``) and LOW < HIGH."""
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 2:
        raise EmissError(f"bad {what} {text!r}; expected LOW,HIGH, e.g. 1000,100000")
    lo, hi = (rng.check(t, what) for t in parts)
    if not lo < hi:
        raise EmissError(f"bad {what} {text!r}; need LOW < HIGH")
    return lo, hi


def _model_options(f):
    opts = [
        click.option("--gX", "g_qX", type=A.PERTURBATIVE, default=0.0, show_default=True,
                     help="g̃ q'_X of the dark Dirac fermion X (0: minimal model)."),
        click.option("--mX", "m_X", type=A.UV_SCALE, default=None, help="Mass of X in GeV."),
        click.option("--delta", type=A.POSITIVE, default=1.0, show_default=True,
                     help="Kinetic-mixing cancellation (eps = eps_loop/delta)."),
        click.option("--Lambda", "Lambda_UV", type=A.UV_SCALE, default=1e16, show_default=True,
                     help="UV scale of the kinetic-mixing log (GeV)."),
        click.option("--radius", "radius_m", type=A.POSITIVE, default=3.0, show_default=True,
                     help="Belle II detector radius (m) for P_inv."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _u1prime_lines(res: dict, m_T: float, g_qprime: float) -> list[str]:
    """What ``emiss model u1prime`` prints for the dict of ``emiss.api.u1prime``."""
    sc, z, km = res["scenario"], res["zprime"], res["kinetic_mixing"]
    bf = ", ".join(f"{k} {v:.3f}" for k, v in z["branching_fractions"].items() if v > 0)
    lines = [f"U(1)' + T': m_T = {m_T:g} GeV, g̃q' = {g_qprime:g}, M_Z' = {res['M_Zp']:g} "
             f"GeV, ṽ = {res['vtilde']:.4g} GeV",
             f"twobody-vector couplings (c_L=1, c_R=0): b->s {sc['g_b->s']:.4e}, "
             f"b->d {sc['g_b->d']:.4e}, s->d {sc['g_s->d']:.4e}",
             f"kinetic mixing eps_A = {km['eps_A']:.3e} (loop {km['eps_A_loop']:.3e}), "
             f"eps_Z = {km['eps_Z']:.3e}",
             f"Z': Gamma = {z['total_width_GeV']:.3e} GeV, c tau = {z['ctau_m']:.3e} m; "
             f"BR: {bf or '-'}"]
    for name, row in res["modes"].items():
        if not row["open"]:
            lines.append(f"  {name:10s} {row['note']}")
            continue
        extra = f"  F_L {row['FL']:.3f}" if "FL" in row else ""
        if "P_inv" in row:
            extra += (f"  P_inv {row['P_inv']:.3e}  B*P_inv "
                      f"{row['branching_ratio_times_P_inv']:.3e}")
        lines.append(f"  {name:10s} B = {row['branching_ratio']:.3e}{extra}")
    mx = res["mixing"]
    lines.append(f"T'-t mixing: s_L {mx['s_L']:.3e}, s_R {mx['s_R']:.3e}" if mx["computed"]
                 else f"T'-t mixing: not computed: {mx['reason']}")
    e = res["ewpo"]
    if e["computed"]:
        lines.append(f"EWPO: S {e['S']:.2e}, T {e['T']:.2e}, U {e['U']:.2e}, "
                     f"Delta chi2 {e['delta_chi2']:.3g} -> "
                     f"{'allowed' if e['allowed_95'] else 'excluded'} (95% CL)")
    else:
        y = f" (Y_T^t <= {e['Y_Tt_max_95']:.3e} at this ṽ)" if "Y_Tt_max_95" in e else ""
        lines.append(f"EWPO: S, T, U not computed (needs --YTt); 95% CL bound "
                     f"s_L^2 <= {e['s_L2_max_95']:.3e}{y}")
    dm = res["dark_matter"]
    if dm["computed"]:
        rf = (f"Omega_X/Omega_DM {dm['relic_fraction']:.3g}" if "relic_fraction" in dm
              else dm["not_computed"]["relic_fraction"])
        lines.append(f"dark matter: {rf}; CMB {'allowed' if dm['cmb_allowed'] else 'excluded'}")
    else:
        lines.append(f"dark matter: not computed: {dm['reason']}")
    return lines


@click.group("model")
def model() -> None:
    """UV models: parameters -> scenario couplings, Z' decays, constraints, model planes."""


@model.command("u1prime")
@click.option("--mT", "m_T", type=A.UV_SCALE, required=True,
              help="Heavy top-partner mass (GeV).")
@click.option("--g-qprime", "g_qprime", type=A.PERTURBATIVE, required=True,
              help="g̃ q' (0 < g̃ q' <= 4 pi).")
@click.option("--YTt", "Y_Tt", type=A.PERTURBATIVE, default=None, help="Yukawa Y_T^t.")
@click.option("--vtilde", type=A.UV_SCALE, default=None, help="vev ṽ of Phi (GeV).")
@click.option("--mZp", "m_Zp", type=A.UV_SCALE, default=None,
              help="Z' mass (GeV); default 2.1 unless --vtilde fixes it.")
@_model_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def u1prime_cmd(m_T: float, g_qprime: float, Y_Tt: float | None, vtilde: float | None,
                m_Zp: float | None, g_qX: float, m_X: float | None, delta: float,
                Lambda_UV: float, radius_m: float, as_json: bool) -> None:
    """Every derived quantity of the U(1)' + T' model at one point."""
    res = api.u1prime(m_T=m_T, g_qprime=g_qprime, Y_Tt=Y_Tt, vtilde=vtilde, m_Zp=m_Zp,
                      g_qX=g_qX, m_X=m_X, delta=delta, Lambda_UV=Lambda_UV,
                      detector_radius_m=radius_m)
    if as_json:
        click.echo(dumps_json(res), nl=False)
        return
    click.echo("\n".join(_u1prime_lines(res, m_T, g_qprime)))


@model.command("u1prime-coupling")
@click.option("--br-hat", "br_hat", type=A.BRANCHING_RATIO, required=True,
              help="Best-fit B * P_inv (e.g. from emiss scan).")
@click.option("--br-interval", "br_interval", default=None, metavar="LOW,HIGH",
              help="Interval of B * P_inv.")
@click.option("--mZp", "m_Zp", type=A.UV_SCALE, default=2.1, show_default=True)
@click.option("--process", default="B+->K+", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def coupling_cmd(br_hat: float, br_interval: str | None, m_Zp: float, process: str,
                 as_json: bool) -> None:
    """The g̃ q'(m_T) that B̂ requires when all Z' escape: g̃ q' = C (10 TeV/m_T)."""
    iv = _pair(br_interval, "--br-interval", _BR_END) if br_interval is not None else None
    res = api.u1prime_coupling(br_hat, iv, m_Zp, process)
    if as_json:
        click.echo(dumps_json(res), nl=False)
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
@click.option("--mZp", "m_Zp", type=A.UV_SCALE, default=None,
              help="Z' mass (GeV); default: the scan's best-fit mass.")
@click.option("--YTt", "Y_Tt", type=A.PERTURBATIVE, multiple=True,
              help="Y_T^t for the EWPO curve (repeatable; default 1e-3).")
@click.option("--br-interval", "br_interval", default=None, metavar="LOW,HIGH",
              help="Override the B * P_inv interval (default B_hat +- B_hat/Z).")
@click.option("--charge-ratio", type=A.POSITIVE, default=None,
              help="q'_X/q' for the relic and CMB lines (needs --mX > M_Z').")
@click.option("--mT-range", "mT_range", default="1000,100000", show_default=True,
              help="m_T range in GeV.")
@click.option("--g-range", "g_range", default="1e-8,1e-4", show_default=True,
              help="g̃ q' range.")
@_model_options
def scan_cmd(results: tuple[str, ...], outdir: str, m_Zp: float | None,
             Y_Tt: tuple[float, ...], br_interval: str | None, charge_ratio: float | None,
             mT_range: str, g_range: str, g_qX: float, m_X: float | None, delta: float,
             Lambda_UV: float, radius_m: float) -> None:
    """Model plane g̃ q' vs m_T at fixed M_Z' from RESULTS of twobody-vector patches."""
    # the options first (ranges declared by the option types): before any file is read
    if any(y <= 0 for y in Y_Tt):
        raise EmissError(f"--YTt values {list(Y_Tt)} must be > 0")
    given_iv = _pair(br_interval, "--br-interval", _BR_END) if br_interval is not None else None
    m_T_range = _pair(mT_range, "--mT-range", validate.UV_SCALE)
    g_range_ = _pair(g_range, "--g-range", validate.PERTURBATIVE)
    output_dir(outdir, inputs=results, writes=[f"{api.results_stem(results)}_u1prime_plane.json"])
    paths = api.u1prime_plane(results, outdir, m_Zp=m_Zp, Y_Tt=Y_Tt, br_interval=given_iv,
                              charge_ratio=charge_ratio, m_T_range=m_T_range, g_range=g_range_,
                              g_qX=g_qX, m_X=m_X, delta=delta, Lambda_UV=Lambda_UV,
                              radius_m=radius_m)
    for p in paths:
        click.echo(str(p))
