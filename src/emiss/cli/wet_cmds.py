"""``emiss wet``: fit the WET Wilson coefficients to a B -> K workspace."""

from __future__ import annotations

import logging

import click

from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, OUT_FILE, output_dir, output_file, workspace_inputs
from emiss.io import dumps_json, write_json

log = logging.getLogger(__name__)


def register(cli: click.Group, plot: click.Group) -> None:
    """Add ``emiss wet``."""

    @cli.command("wet")
    @click.argument("workspace")
    @click.option("-o", "--output", type=OUT_FILE, default=None,
                  help="Write the result as JSON to this file.")
    @click.option("--plot", "plot_dir", type=OUT_DIR, default=None,
                  help="Write the profile-likelihood figure (PNG + PDF) into this folder.")
    @click.option("--ff-samples", default=100, show_default=True, type=A.FF_SAMPLES,
                  help="Form-factor draws for the template components (0: none).")
    @click.option("--posterior", is_flag=True,
                  help="Also sample the Bayesian posterior (flat priors on each |C| in [0, 20], "
                       "NUTS), Belle II's own reading of the likelihood (slower: minutes).")
    @click.option("--draws", default=1000, show_default=True, type=A.WET_DRAWS,
                  help="Posterior draws per chain (4 chains).")
    @click.option("--seed", default=0, show_default=True, type=A.SEED,
                  help="Seed of the posterior sampler.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def wet_cmd(workspace: str, output: str | None, plot_dir: str | None, ff_samples: int,
                posterior: bool, draws: int, seed: int, as_json: bool) -> None:
        """Best fit and profile intervals of |C_VL+C_VR|, |C_SL+C_SR|, |C_TL| on WORKSPACE.

        WORKSPACE: a B -> K workspace (path or name; `belle2` is Belle II's released
        likelihood when available). Shown next to Belle II's Bayesian result
        (arXiv:2507.12393): profile intervals and marginal credible intervals differ by
        construction (see docs/belle2.md).
        """
        from emiss.bundles import load_bundle
        from emiss.inference.results import data_info
        from emiss.inference.wet import fit_wet, posterior_wet

        output_file(output, inputs=workspace_inputs(workspace))
        output_dir(plot_dir, "plot folder")
        bundle = load_bundle(workspace)
        res = fit_wet(bundle, n_samples=ff_samples, curve_points=41 if plot_dir else 0)
        if posterior:
            res["posterior"] = posterior_wet(bundle, n_samples=ff_samples, seed=seed,
                                             draws=draws, tune=max(draws // 2, 100))
        res["workspace"] = str(bundle.path)
        res["data"] = data_info(bundle.meta)
        if plot_dir:
            from emiss.plotting.wet import plot_wet_profiles

            res["plots"] = [str(p) for p in plot_wet_profiles(res, plot_dir, bundle.stem,
                                                                res["data"]["label"])]
        if output:
            write_json(output, res)
        if as_json:
            click.echo(dumps_json(res), nl=False)
            return
        click.echo(f"workspace {res['workspace']}\ndata      {res['data']['label']}")
        click.echo(f"{'':15s} {'best fit':>9s} {'68% profile':>16s} {'95% profile':>16s}   "
                   "Belle II 2507.12393: mode, 95% credible")
        for par, label in res["labels"].items():
            i68, i95 = res["intervals"][par]["68"], res["intervals"][par]["95"]
            pub = res["belle2_2507_12393"][par]
            click.echo(f"{label:15s} {res['best'][par]:9.2f} [{i68[0]:6.2f}, {i68[1]:6.2f}] "
                       f"[{i95[0]:6.2f}, {i95[1]:6.2f}]   {pub['mode']:.2f}, "
                       f"[{pub['ci95'][0]:.2f}, {pub['ci95'][1]:.2f}]")
        if posterior:
            click.echo("posterior (flat in |C| on [0, 20]): marginal mode, median, 95% central, "
                       "95% HPD, R-hat")
            for par, label in res["labels"].items():
                m = res["posterior"]["marginals"][par]
                click.echo(f"{label:15s} {m['mode']:6.2f} {m['median']:6.2f} "
                           f"[{m['central_95'][0]:.2f}, {m['central_95'][1]:.2f}] "
                           f"[{m['hpd_95'][0]:.2f}, {m['hpd_95'][1]:.2f}] {m['rhat']:.3f}")
        for p in res.get("plots", []):
            click.echo(f"plot {p}")
