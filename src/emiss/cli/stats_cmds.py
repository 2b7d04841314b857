"""CLI: ``emiss posterior`` (posteriors, credible intervals, Bayes factors) and ``emiss bayes``.

A thin shell over ``emiss.posterior`` and ``emiss.api.bayes_factors``. Imports of the stages are
inside the commands: ``emiss --help`` stays fast.
"""

from __future__ import annotations

import logging

import click

from emiss import api
from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, data_line, output_dir, workspace_arg, workspace_inputs
from emiss.cli.scan_cmds import names_option
from emiss.io import dumps_json

log = logging.getLogger(__name__)

_POSTERIOR_HELP = """Posterior of B (and of m_X across a mass grid) with nuisances marginalised.

Every patch of PATCHSET(s) on WORKSPACE is sampled (default: NUTS via nutpie on emiss's fast
likelihood and its analytic gradient) with a prior flat in B on [0, --br-max] (B = mu x the
patch's reference_branching_ratio) and the workspace's constraint terms as nuisance priors.
Its evidence (bridge sampling, with error) gives the posterior over the mass grid (prior flat or
log in m_X: --mass-prior) and Bayes factors against SM-only. A one-patch `sm` patchset adds the
rescaled SM (B free); without it SM-only is a light-X patch at mu = 0.

Writes DIR/posterior.json (modes, medians, 68 %/95 % central and HPD intervals, convergence
diagnostics, evidences, Bayes factors; deterministic for a fixed --seed) and the figures
DIR/posterior_<scenario>.png|pdf (marginals, 2D m_X-B contours); prints the Bayes-factor table.

\b
Example:
  emiss posterior workspaces/belle2_combined_bkgonly.json \\
      patches/belle2_combined/twobody_scalar.json patches/belle2_combined/sm.json -o post/
"""


def _summary_lines(doc: dict) -> list[str]:
    lines = []
    for s in doc["scenarios"]:
        b = s["B"]
        line = (f"  {s['scenario']:<24} B mode {b['mode']:.3g}, median {b['median']:.3g}, "
                f"68% HPD [{b['hpd_68'][0]:.3g}, {b['hpd_68'][1]:.3g}], "
                f"95% HPD [{b['hpd_95'][0]:.3g}, {b['hpd_95'][1]:.3g}]")
        lines.append(line)
        if "mass" in s:
            m = s["mass"]
            jm = s.get("joint_mode", {})
            if "hpd_68" not in m:  # one hypothesis: no interval over the mass
                lines.append(f"  {'':<24} {s['label']} = {m['mode']:.3g} (one grid point): "
                             "no mass interval, the mass is fixed by the hypothesis")
                continue
            lines.append(f"  {'':<24} {s['label']} mode {m['mode']:.3g}, median "
                         f"{m['median']:.3g}, 68% HPD cells [{m['hpd_68'][0]:.3g}, "
                         f"{m['hpd_68'][1]:.3g}], 95% [{m['hpd_95'][0]:.3g}, "
                         f"{m['hpd_95'][1]:.3g}]; joint mode ({jm.get(s['label'])}, "
                         f"{jm.get('B')})")
    return lines


@click.command("posterior", help=_POSTERIOR_HELP)
@click.argument("workspace")
@click.argument("patchsets", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--outdir", required=True, type=OUT_DIR,
              help="Output folder (created if missing).")
@click.option("--names", default=None, help="Only these patches (comma-separated names).")
@click.option("--br-max", type=A.BR_MAX, default=1e-4, show_default=True,
              help="Upper end of the flat prior in B.")
@click.option("--mass-prior", type=click.Choice(["flat", "log"]), default="flat",
              show_default=True, help="Prior over the mass grid (flat or log in m_X).")
@click.option("--sampler", type=click.Choice(["nuts", "emcee"]), default="nuts",
              show_default=True, help="nuts (nutpie; many nuisances) or emcee (few).")
@click.option("--draws", type=A.DRAWS, default=1000, show_default=True,
              help="Kept draws per chain (emcee: steps per walker).")
@click.option("--tune", type=A.TUNE, default=500, show_default=True,
              help="Tuning draws per chain (emcee: burn-in steps).")
@click.option("--chains", type=A.CHAINS, default=4, show_default=True, help="NUTS chains.")
@click.option("--seed", type=A.SEED, default=0, show_default=True)
@click.option("--label", default="m_X", show_default=True, help="Mass label.")
@click.option("--min-weight", type=A.MIN_WEIGHT, default=1e-4, show_default=True,
              help="Grid points whose Laplace posterior weight is below this fraction of "
                   "the best point's are not sampled (Laplace evidence); 0: sample all.")
@click.option("--no-plots", is_flag=True, help="Skip the figures.")
def posterior_cmd(workspace: str, patchsets: tuple[str, ...], outdir: str, names: str | None,
                  br_max: float, mass_prior: str, sampler: str, draws: int, tune: int,
                  chains: int, seed: int, label: str, min_weight: float,
                  no_plots: bool) -> None:
    from emiss.inference.bayes import format_bayes_table

    output_dir(outdir, inputs=[*workspace_inputs(workspace), *patchsets],
               writes=["posterior.json"])
    res = api.posterior(workspace_arg(workspace), patchsets, outdir, names=names_option(names),
                        br_max=br_max, mass_prior=mass_prior, sampler=sampler, draws=draws,
                        tune=tune, chains=chains, seed=seed, label=label,
                        min_weight=min_weight, plots=not no_plots)
    click.echo(data_line(workspace))
    click.echo(format_bayes_table(res.doc["bayes_factors"], "sm-only"), nl=False)
    click.echo("\n".join(_summary_lines(res.doc)))
    click.echo(f"wrote {', '.join(str(p) for p in res.files)}")


@click.command("bayes")
@click.argument("posterior", type=click.Path(dir_okay=False))
@click.option("--reference", default="sm-only", show_default=True,
              help="Denominator scenario of the Bayes factors.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def bayes_cmd(posterior: str, reference: str, as_json: bool) -> None:
    """Bayes-factor table of a posterior.json (against --reference)."""
    from emiss.inference.bayes import format_bayes_table

    rows = api.bayes_factors(posterior, reference)
    click.echo(dumps_json(rows) if as_json else format_bayes_table(rows, reference), nl=False)
