"""Workspace commands: ``emiss workspace build|combine``, ``emiss measure``, ``emiss plot postfit``.

A thin shell over ``emiss.api`` (``build_workspaces``, ``measure_document``) and
``emiss.bundles.global_likelihood``; user errors are EmissError (one line, exit 2, via
``emiss.cli.main``). Imports of the stages are inside the commands: ``emiss --help`` stays fast.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import click

from emiss import api
from emiss.cli._common import (
    NO_SIDECAR_HELP,
    OUT_DIR,
    check_sidecar,
    output_dir,
    progress_printer,
    refuse_installed,
    workspace_arg,
    workspace_inputs,
)
from emiss.errors import EmissError
from emiss.io import dumps_json

log = logging.getLogger(__name__)


@click.group("workspace")
def workspace() -> None:
    """Background-only workspaces (Belle II's released likelihood, the emulations)."""


@workspace.command("build")
@click.option("-o", "--outdir", "--out", "out_dir", type=OUT_DIR,
              default="workspaces", show_default=True,
              help="Output folder (created if missing), relative to the current "
                   "directory (run from the repository root to rebuild its workspaces/).")
@click.option("--force", is_flag=True,
              help="Write even into an installed package (site-packages).")
def build(out_dir: str, force: bool) -> None:
    """Rebuild the B -> K workspaces, sidecars and responses (deterministic) into -o.

    Belle II's released likelihood (the shipped HEPData ins2947386 files, imported as the
    bundle `belle2` names) and the B -> K emulations.
    """
    refuse_installed(out_dir, force)
    output_dir(Path(out_dir))
    for p in api.build_workspaces(Path(out_dir)):
        click.echo(str(p))


def _combination_stem(names: tuple[str, ...], stem: str | None) -> str:
    """The stem of the combined bundle: --stem, checked, or the default of the NAMES."""
    from emiss.bundles.global_likelihood import SOURCES, default_stem, source_key, source_stem

    if len(names) == 1 and source_key(names[0]) is not None:
        stem = stem or source_stem(names[0])  # one simplified likelihood, written alone
    elif len(names) < 2:
        raise EmissError(f"workspace combine needs at least two NAMES (e.g. belle2 babar2013 "
                         f"bs-invisible), or one simplified likelihood alone "
                         f"({', '.join(SOURCES)}); got {names[0]!r}")
    else:
        stem = stem or default_stem(names)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stem):
        raise EmissError(f"--stem {stem!r}: use letters, digits, '_', '-' and '.' only")
    return stem


def _combination_inputs(names: tuple[str, ...]) -> list[Path]:
    """The files the NAMES of a combination read (sources by name read none of the user's)."""
    from emiss.bundles.global_likelihood import ALIASES, SOURCES

    inputs: list[Path] = []
    for n in names:
        if ALIASES.get(n.lower(), n.lower()) in SOURCES and not Path(n).is_file():
            continue
        try:
            inputs += workspace_inputs(n)
        except EmissError:  # reported by the combination, after the output check
            pass
    return inputs


@workspace.command("combine")
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--outdir", "out_dir", type=OUT_DIR, required=True,
              help="Output folder (created if missing) for the combined bundle (3 files).")
@click.option("--stem", default=None,
              help="Stem of the combined workspace (default: "
                   "combined_<name>_<name>..._bkgonly).")
def combine_cmd(names: tuple[str, ...], out_dir: str, stem: str | None) -> None:
    """Combine workspaces of several experiments into one bundle in -o.

    NAMES: belle2 (Belle II's released likelihood), babar2013 (BaBar, arXiv:1303.7465),
    belle2017 (Belle, arXiv:1702.03224), bs-invisible (B_s -> invisible, ALEPH recast
    arXiv:2310.13043), a bundled stem or a workspace file with its sidecar. Experimental
    nuisances are kept apart (prefixed by part); mu and the form-factor components
    ff_<family>_pc<i> are shared. Writes <stem>.json, <stem>.meta.json and the response.
    One simplified likelihood alone (e.g. `emiss workspace combine babar2013 -o DIR`) is
    written as it is (<prefix>_bkgonly), to scan that experiment by itself.
    """
    from emiss.bundles.global_likelihood import write_combination
    from emiss.bundles.simplified import response_name

    stem = _combination_stem(names, stem)
    output_dir(out_dir, inputs=_combination_inputs(names),
               writes=[f"{stem}.json", f"{stem}.meta.json", response_name(stem)])
    for p in write_combination(list(names), out_dir, stem):
        click.echo(str(p))


def _measure_and_plot(workspace: str, response: str | None, plot_dir: str | None,
                      no_sidecar: bool = False, quiet: bool = False) -> dict:
    """Check the outputs and the sidecar, then ``emiss.api.measure_document``."""
    output_dir(plot_dir, "plot folder")  # before the fit: a bad folder fails at once
    workspace = workspace_arg(workspace)
    check_sidecar(workspace, no_sidecar)
    return api.measure_document(workspace, response=response, plot_dir=plot_dir,
                                progress=progress_printer(quiet, "measure"))


def _measure_lines(out: dict) -> list[str]:
    """What ``emiss measure`` prints for the document of ``emiss.api.measure_document``."""
    at_zero = out["mu_hat"] - out["mu_err_down"] <= 1e-9  # mu >= 0 in the workspaces
    return [f"workspace   {out['workspace']}",
            f"data        {out['data']['label']}",
            f"mu_hat      {out['mu_hat']:.3g} +{out['mu_err_up']:.3g} "
            f"-{out['mu_err_down']:.3g}  (68 % CL, profile likelihood"
            + ("; t(mu) < 1 down to the bound mu = 0, so the interval is cut there)"
               if at_zero else ")"),
            f"B_hat       {out['br_hat']:.3g}  (mu = 1 <-> "
            f"{out['reference_branching_ratio']:.3g})",
            f"Z_bkg_only  {out['Z_bkg_only']:.3g}  (vs mu = 0)",
            f"Z_sm        {out['Z_sm']:.3g}  (vs mu = 1, signed)",
            *[f"plot        {p}" for p in out.get("plots", [])]]


@click.command("measure")
@click.argument("workspace")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (stdout).")
@click.option("--plot", "plot_dir", type=OUT_DIR, default=None,
              help="Folder (created if missing) for the post-fit plots, PNG + PDF per "
                   "channel: <workspace stem>_<channel>_postfit.*")
@click.option("--response", type=click.Path(dir_okay=False), default=None,
              help="Detector response file (default: the one the sidecar names).")
@click.option("--no-sidecar", "no_sidecar", is_flag=True, help=NO_SIDECAR_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def measure_cmd(workspace: str, as_json: bool, plot_dir: str | None,
                response: str | None, no_sidecar: bool, quiet: bool) -> None:
    """Fit the SM-shaped signal strength mu on WORKSPACE (path or bundled stem).

    Prints mu_hat with its 68 % interval (profile likelihood), B_hat, Z_bkg_only (the
    discovery significance against mu = 0) and Z_sm (mu_hat against the SM, mu = 1).
    Progress goes to stderr (-q silences it).
    """
    out = _measure_and_plot(workspace, response, plot_dir, no_sidecar, quiet)
    if as_json:
        click.echo(dumps_json(out), nl=False)
        return
    click.echo("\n".join(_measure_lines(out)))


@click.command("postfit")
@click.argument("workspace")
@click.option("-o", "--outdir", "--out", "out_dir", type=OUT_DIR,
              default="plots", show_default=True,
              help="Output folder (created if missing): <stem>_<channel>_postfit.png/.pdf.")
@click.option("--response", type=click.Path(dir_okay=False), default=None,
              help="Detector response file (default: the one the sidecar names).")
@click.option("--no-sidecar", "no_sidecar", is_flag=True, help=NO_SIDECAR_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def postfit(workspace: str, out_dir: str, response: str | None, no_sidecar: bool,
            quiet: bool) -> None:
    """Post-fit distributions of WORKSPACE with the SM-shaped signal (PNG + PDF)."""
    out = _measure_and_plot(workspace, response, out_dir, no_sidecar, quiet)
    for p in out.get("plots", []):
        click.echo(p)
