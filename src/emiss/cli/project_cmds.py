"""CLI: ``emiss project`` (luminosity projections) and ``emiss plot projection``.

A thin shell over ``emiss.api.project`` and ``emiss.api.plot_projection``.
"""

from __future__ import annotations

import logging

import click

from emiss import api, validate
from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, output_dir, progress_printer
from emiss.errors import EmissError
from emiss.io import dumps_json
from emiss.validate import Range

log = logging.getLogger(__name__)

_HELP = """Expected Belle II sensitivity at other luminosities (Asimov, asymptotic).

Scales the bundled Belle II-style workspaces (B -> K, B -> K*, K + K*; 362 fb^-1) to each
luminosity (yields x L; MC-statistical uncertainties as 1/sqrt(L) relative; systematics per
--policy: `data-driven` (default) shrinks background normalisation/shape systematics as
1/sqrt(L), keeps signal-side ones; `fixed` keeps all relative sizes) and reports: the SM
nu nubar significance and precision; per scenario and m_X the expected 90/95% CL limits and the
discovery significance of the benchmark (coupling with B(B+ -> K+ X) = 1e-5); and the expected
Delta chi^2 between scenario pairs from K, K* (with and without the cos(theta_K) bins, i.e.
F_L) and K + K*.

\b
Example:
  emiss project --lumi 1,5,10,50 --scenario twobody-scalar --scenario twobody-vector \\
      --masses 2.1 -o results/projection --json
"""


def _floats(text: str, what: str, rng: Range) -> list[float]:
    """Comma-separated numbers, each checked against rng (``emiss.validate``)."""
    items = [x.strip() for x in text.split(",")]
    if not any(items):
        raise EmissError(f"{what} {text!r} holds no numbers; valid: comma-separated "
                         f"{rng.describe()}")
    if not all(items):
        raise EmissError(f"{what} {text!r} has an empty item; valid: comma-separated "
                         f"{rng.describe()}")
    return rng.check_all(items, what)


def _num(x: float | None, fmt: str, width: int) -> str:
    """x formatted, or '-' (right-aligned) when it was not computed."""
    return f"{x:{width}{fmt}}" if x is not None else f"{'-':>{width}s}"


def _table(doc: dict) -> str:
    """Text summary of a projection document (what ``emiss project`` prints)."""
    settings = doc.get("settings", {})
    computed = set(settings.get("limit_variants", []))
    lines = [f"data        {doc.get('data', {}).get('label', 'not recorded')}",
             "SM nu nubar (expected, Asimov):",
             f"  {'L/ab^-1':>8s} {'workspace':10s} {'Z':>7s} {'sigma/B':>8s} {'UL90(B)':>10s}"]
    skipped = set()
    for r in doc["sm"]:
        ul = r["br_limit"].get("0.9")
        if ul is None and r["workspace"] not in computed:
            skipped.add(r["workspace"])
        lines.append(f"  {r['lumi_ab']:8g} {r['workspace']:10s} {_num(r['Z'], '.2f', 7)} "
                     f"{_num(r['precision'], '.3f', 8)} {_num(ul, '.3g', 10)}")
    if skipped:
        lines.append(f"  (-: limits not computed on {', '.join(sorted(skipped))}; add them to "
                     "--limits-on)")
    lines.append("Light X (benchmark B(B+->K+X) = 1e-5):")
    if doc["limits"]:
        lines.append(f"  {'L/ab^-1':>8s} {'scenario':22s} {'m_X':>5s} {'workspace':10s} "
                     f"{'UL90(B)':>10s} {'UL95(B)':>10s} {'Z':>7s}")
        for r in doc["limits"]:
            lines.append(f"  {r['lumi_ab']:8g} {r['scenario']:22s} {r['m_X']:5.2f} "
                         f"{r['workspace']:10s} {_num(r['br_limit'].get('0.9'), '.3g', 10)} "
                         f"{_num(r['br_limit'].get('0.95'), '.3g', 10)} "
                         f"{_num(r['Z_benchmark'], '.2f', 7)}")
    else:
        lines.append("  (no hypotheses: every mass is beyond the scenarios' K* endpoints)")
    lines.append("Separation Delta chi^2 (A true -> B fitted / B true -> A fitted):")
    if doc["separation"]:
        for r in doc["separation"]:
            lines.append(f"  {r['lumi_ab']:8g} m_X={r['m_X']:.2f} {r['A']} vs {r['B']} "
                         f"[{r['variant']}]: {_num(r['delta_chi2_A_true'], '.3g', 0)} / "
                         f"{_num(r['delta_chi2_B_true'], '.3g', 0)}")
    else:
        lines.append("  (none: separations need two scenarios at a common mass; give "
                     "--scenario twice)")
    return "\n".join(lines)


@click.command("project", help=_HELP)
@click.option("--lumi", "lumi", default="1,5,10,50", show_default=True,
              help="Luminosities in ab^-1 (comma-separated).")
@click.option("--scenario", "scenarios", multiple=True,
              help="Light-X scenario (repeatable; default: twobody-scalar, twobody-vector, "
                   "threebody-scalar).")
@click.option("--masses", default=None, help="m_X values in GeV (comma-separated; "
              "default 0.5,2.1).")
@click.option("--policy", type=click.Choice(["data-driven", "fixed"]), default="data-driven",
              show_default=True, help="Systematics scaling policy.")
@click.option("--workspaces", "ws_dir", default=None, type=click.Path(file_okay=False),
              help="Folder with the bundled workspaces (default: the installed ones, "
                   "emiss.bundles.bundled_dir()).")
@click.option("--limits-on", "limits_on", default="Kstar,K+Kstar", show_default=True,
              help="Workspaces whose expected limits are computed (comma-separated of "
                   "K, Kstar, K+Kstar).")
@click.option("--ff-samples", type=A.FF_SAMPLES, default=20, show_default=True,
              help="Form-factor draws per hypothesis.")
@click.option("-o", "--outdir", "--output", "output", default=None, type=OUT_DIR,
              help="Output folder (created if missing) for projection.json and the "
                   "figures projection_*.png/.pdf.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def project_cmd(lumi: str, scenarios: tuple[str, ...], masses: str | None, policy: str,
                ws_dir: str | None, limits_on: str, ff_samples: int, output: str | None,
                as_json: bool, quiet: bool) -> None:
    output_dir(output, writes=["projection.json"])
    lumis = _floats(lumi, "--lumi", validate.LUMI)
    ms = _floats(masses, "--masses", validate.MASS) if masses is not None else None
    res = api.project(lumis, scenarios, ms, policy=policy, workspaces=ws_dir,
                      limits_on=[v.strip() for v in limits_on.split(",") if v.strip()],
                      ff_samples=ff_samples, outdir=output,
                      progress=progress_printer(quiet, "project"))
    for p in res.files[1:]:  # the figures after projection.json
        log.info("wrote %s", p)
    click.echo(dumps_json(res.doc) if as_json else _table(res.doc), nl=not as_json)


@click.command("projection")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("-o", "--outdir", "--output", "output", required=True, type=OUT_DIR,
              help="Output folder (created if missing): <results stem>_*.png/.pdf.")
def plot_projection_cmd(results: str, output: str) -> None:
    """Figures of a projection.json written by `emiss project -o DIR`."""
    output_dir(output, inputs=[results])
    for path in api.plot_projection(results, output):
        click.echo(str(path))
