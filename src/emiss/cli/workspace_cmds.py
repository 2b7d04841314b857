"""Workspace commands: ``emiss workspace build``, ``emiss measure`` and ``emiss plot postfit``.

A thin shell over ``emiss.bundles.k_emulation``, ``emiss.bundles.load_bundle`` and
``emiss.inference.measure``; user errors are EmissError (one line, exit 2, via ``emiss.cli.main``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from emiss.cli._common import NO_SIDECAR_HELP, OUT_DIR
from emiss.errors import EmissError
from emiss.io import dumps_json

log = logging.getLogger(__name__)


def _installed_location(path: Path) -> Path | None:
    """The site-packages (or installed emiss package) folder that holds path, or None.

    Args:
        path: an output folder (need not exist).

    Returns:
        The installation folder containing it, or None when it is outside every one.
    """
    import site
    import sysconfig

    import emiss

    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    roots.add(site.getusersitepackages())
    roots.add(str(Path(emiss.__file__).parent))
    where = path.resolve()
    for root in sorted(roots):
        r = Path(root).resolve()
        if where == r or r in where.parents:
            return r
    return None


def _measure_and_plot(workspace: str, response: str | None, plot_dir: str | None,
                      no_sidecar: bool = False, quiet: bool = False) -> dict:
    """Check the outputs and the sidecar, fit, then write the post-fit plots (if asked)."""
    from emiss.bundles.bundle import load_bundle
    from emiss.cli._common import check_sidecar, output_dir, progress_printer, workspace_arg
    from emiss.inference.measure import measure, postfit, sm_signal_patch
    from emiss.inference.results import data_info

    output_dir(plot_dir, "plot folder")  # before the fit: a bad folder fails at once
    workspace = workspace_arg(workspace)
    check_sidecar(workspace, no_sidecar)
    show = progress_printer(quiet, "measure")
    bundle = load_bundle(workspace, response=response)
    bins = None
    if plot_dir:
        from emiss.plotting.labels import channel_bins

        bins = channel_bins(bundle)  # a bad sidecar bin_labels fails before the fit
    if show:
        show(f"{bundle.stem}: building the SM-shaped signal patch")
    patch, source = sm_signal_patch(bundle)
    res = measure(bundle, patch=patch, progress=show)
    res.signal_patch_source = source
    out = res.to_dict()
    out["data"] = data_info(bundle.meta)
    if plot_dir:
        from emiss.plotting.measure import plot_postfit

        if show:
            show("post-fit yields and their uncertainty band")
        pf = postfit(bundle, patch)
        paths = plot_postfit(pf, plot_dir, bundle.stem, mu_hat=res.mu_hat,
                             bins=bins, data=out["data"])
        out["plots"] = [str(p) for p in paths]
    return out


def register(cli: click.Group, plot: click.Group) -> None:
    """Add the workspace commands to the main group and the plot group."""

    @cli.group("workspace")
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
        from emiss.bundles.belle2_hepdata import build_shipped
        from emiss.bundles.k_emulation import build_all
        from emiss.cli._common import output_dir

        target = Path(out_dir)
        installed = _installed_location(target)
        if installed is not None and not force:
            raise EmissError(
                f"output folder {str(target)!r} is inside the installed package folder "
                f"{str(installed)!r}; give another -o/--outdir (e.g. ./workspaces of a "
                "checkout) or pass --force to write there anyway")
        output_dir(target)
        for p in [*build_shipped(target), *build_all(target)]:
            click.echo(str(p))

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
        """
        import re

        from emiss.bundles.global_likelihood import (
            ALIASES,
            SOURCES,
            default_stem,
            write_combination,
        )
        from emiss.bundles.simplified import response_name
        from emiss.cli._common import output_dir, workspace_inputs

        if len(names) < 2:
            raise EmissError("workspace combine needs at least two NAMES (e.g. belle2 "
                             "babar2013 bs-invisible)")
        stem = stem or default_stem(names)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", stem):
            raise EmissError(f"--stem {stem!r}: use letters, digits, '_', '-' and '.' only")
        inputs = []
        for n in names:
            if ALIASES.get(n.lower(), n.lower()) in SOURCES and not Path(n).is_file():
                continue
            try:
                inputs += workspace_inputs(n)
            except EmissError:  # reported by the combination, after the output check
                pass
        output_dir(out_dir, inputs=inputs,
                   writes=[f"{stem}.json", f"{stem}.meta.json", response_name(stem)])
        for p in write_combination(list(names), out_dir, stem):
            click.echo(str(p))

    @cli.command("measure")
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
        click.echo(f"workspace   {out['workspace']}")
        click.echo(f"data        {out['data']['label']}")
        at_zero = out["mu_hat"] - out["mu_err_down"] <= 1e-9  # mu >= 0 in the workspaces
        click.echo(f"mu_hat      {out['mu_hat']:.3g} +{out['mu_err_up']:.3g} "
                   f"-{out['mu_err_down']:.3g}  (68 % CL, profile likelihood"
                   + ("; t(mu) < 1 down to the bound mu = 0, so the interval is cut there)"
                      if at_zero else ")"))
        click.echo(f"B_hat       {out['br_hat']:.3g}  (mu = 1 <-> "
                   f"{out['reference_branching_ratio']:.3g})")
        click.echo(f"Z_bkg_only  {out['Z_bkg_only']:.3g}  (vs mu = 0)")
        click.echo(f"Z_sm        {out['Z_sm']:.3g}  (vs mu = 1, signed)")
        for p in out.get("plots", []):
            click.echo(f"plot        {p}")

    @plot.command("postfit")
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
