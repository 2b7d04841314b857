"""CLI: ``emiss posterior`` (posteriors, credible intervals, Bayes factors) and ``emiss bayes``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, output_dir, workspace_arg
from emiss.errors import EmissError

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


def register(cli: click.Group, plot: click.Group) -> None:
    """Add the posterior and bayes commands.

    Args:
        cli: the main click group.
        plot: the ``plot`` subgroup (unused).
    """

    @cli.command("posterior", help=_POSTERIOR_HELP)
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
        from emiss.cli._common import workspace_inputs
        from emiss.cli.scan_cmds import _names
        from emiss.inference.bayes import format_bayes_table
        from emiss.inference.posterior_grid import PosteriorGrid, posterior_document
        from emiss.inference.scan import _select, check_patchsets, load_json_file
        from emiss.io import write_json

        output_dir(outdir, inputs=[*workspace_inputs(workspace), *patchsets],
                   writes=["posterior.json"])
        ws = load_json_file(workspace_arg(workspace), "workspace")
        pss = [load_json_file(p, "patchset") for p in patchsets]
        ws_digest, ps_digests = check_patchsets(ws, pss)
        selected = _select(pss, _names(names))
        grid = PosteriorGrid(ws, br_max=br_max, mass_prior=mass_prior, sampler=sampler,
                             draws=draws, tune=tune, chains=chains, seed=seed, label=label,
                             min_weight=min_weight)
        body = grid.run(pss, selected)
        doc = posterior_document(ws_digest, ps_digests, body)
        out = Path(outdir)
        paths = [write_json(out / "posterior.json", doc)]
        if not no_plots:
            from emiss.plotting.posterior import plot_scenario, plot_single

            for s in doc["scenarios"]:
                d = grid.draws.get(s["scenario"])
                if d is None:
                    continue
                if "single" in d:
                    paths += plot_single(s, d["single"], out, s["scenario"])
                elif s.get("mass", {}).get("single_point") and len(d["draws"][0]):
                    # one mass: no mass marginal or (m_X, B) contours, the B marginal only
                    paths += plot_single(s, d["draws"][0], out, s["scenario"])
                else:
                    paths += plot_scenario(s, d, out, label)
        from emiss.cli._common import data_line

        click.echo(data_line(workspace))
        click.echo(format_bayes_table(doc["bayes_factors"], "sm-only"), nl=False)
        click.echo("\n".join(_summary_lines(doc)))
        click.echo(f"wrote {', '.join(str(p) for p in paths)}")

    @cli.command("bayes")
    @click.argument("posterior", type=click.Path(dir_okay=False))
    @click.option("--reference", default="sm-only", show_default=True,
                  help="Denominator scenario of the Bayes factors.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
    def bayes_cmd(posterior: str, reference: str, as_json: bool) -> None:
        """Bayes-factor table of a posterior.json (against --reference)."""
        from emiss.inference.bayes import bayes_factor_table, format_bayes_table
        from emiss.io import dumps_json, read_json

        try:
            doc = read_json(posterior)
        except (FileNotFoundError, ValueError) as exc:
            raise EmissError(f"cannot read posterior file {posterior!r}: {exc}") from None
        if doc.get("format") != "emiss-posterior/1":
            raise EmissError(f"{posterior!r} is not an emiss posterior file (format "
                             f"{doc.get('format')!r}, need 'emiss-posterior/1')")
        evid = {"sm-only": doc["reference"]}
        for s in doc["scenarios"]:
            evid[s["scenario"]] = s
        rows = bayes_factor_table(evid, reference)
        click.echo(dumps_json(rows) if as_json else format_bayes_table(rows, reference), nl=False)
