"""``emiss wet``: fit the WET Wilson coefficients to a B -> K workspace (``emiss.api.wet``)."""

from __future__ import annotations

import logging

import click

from emiss import api
from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, OUT_FILE, output_dir, output_file, workspace_inputs
from emiss.io import dumps_json, write_json

log = logging.getLogger(__name__)


def _wet_lines(res: dict, posterior: bool) -> list[str]:
    """What ``emiss wet`` prints for the dict of ``emiss.api.wet``."""
    lines = [f"workspace {res['workspace']}\ndata      {res['data']['label']}",
             f"{'':15s} {'best fit':>9s} {'68% profile':>16s} {'95% profile':>16s}   "
             "Belle II 2507.12393: mode, 95% credible"]
    for par, label in res["labels"].items():
        i68, i95 = res["intervals"][par]["68"], res["intervals"][par]["95"]
        pub = res["belle2_2507_12393"][par]
        lines.append(f"{label:15s} {res['best'][par]:9.2f} [{i68[0]:6.2f}, {i68[1]:6.2f}] "
                     f"[{i95[0]:6.2f}, {i95[1]:6.2f}]   {pub['mode']:.2f}, "
                     f"[{pub['ci95'][0]:.2f}, {pub['ci95'][1]:.2f}]")
    if posterior:
        lines.append("posterior (flat in |C| on [0, 20]): marginal mode, median, 95% central, "
                     "95% HPD, R-hat")
        for par, label in res["labels"].items():
            m = res["posterior"]["marginals"][par]
            lines.append(f"{label:15s} {m['mode']:6.2f} {m['median']:6.2f} "
                         f"[{m['central_95'][0]:.2f}, {m['central_95'][1]:.2f}] "
                         f"[{m['hpd_95'][0]:.2f}, {m['hpd_95'][1]:.2f}] {m['rhat']:.3f}")
    return lines + [f"plot {p}" for p in res.get("plots", [])]


@click.command("wet")
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
    output_file(output, inputs=workspace_inputs(workspace))
    output_dir(plot_dir, "plot folder")
    res = api.wet(workspace, ff_samples=ff_samples, posterior=posterior, draws=draws,
                  seed=seed, plot_dir=plot_dir)
    if output:
        write_json(output, res)
    if as_json:
        click.echo(dumps_json(res), nl=False)
        return
    click.echo("\n".join(_wet_lines(res, posterior)))
