"""Workspace commands: ``emiss workspace build``, ``emiss measure`` and ``emiss plot postfit``.

A thin shell over ``emiss.bundles.k_emulation``, ``emiss.bundles.load_bundle`` and
``emiss.inference.measure``; user errors are EmissError (one line, exit 2, via ``emiss.cli.main``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

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


def _measure_and_plot(workspace: str, response: str | None, plot_dir: str | None) -> dict:
    from emiss.bundles.bundle import load_bundle
    from emiss.inference.measure import measure, postfit_yields, sm_signal_patch

    bundle = load_bundle(workspace, response=response)
    patch, source = sm_signal_patch(bundle)
    res = measure(bundle, patch=patch)
    res.signal_patch_source = source
    out = res.to_dict()
    out["data"] = bundle.data_source()
    out["emulated_data"] = bundle.emulated
    if plot_dir:
        from emiss.plotting.measure import plot_postfit

        note = "emulated data (calibrated to Belle II public results)" if bundle.meta.get(
            "emulated_data") else ""
        paths = plot_postfit(postfit_yields(bundle, patch), plot_dir, bundle.stem,
                             mu_hat=res.mu_hat, note=note)
        out["plots"] = [str(p) for p in paths]
    return out


def register(cli: click.Group, plot: click.Group) -> None:
    """Add the workspace commands to the main group and the plot group."""

    @cli.group("workspace")
    def workspace() -> None:
        """Background-only workspaces (Belle II-style emulation)."""

    @workspace.command("build")
    @click.option("-o", "--outdir", "--out", "out_dir", type=click.Path(file_okay=False),
                  default="workspaces", show_default=True,
                  help="Output folder, relative to the current directory (run from the "
                       "repository root to rebuild its workspaces/).")
    @click.option("--force", is_flag=True,
                  help="Write even into an installed package (site-packages).")
    def build(out_dir: str, force: bool) -> None:
        """Rebuild the B -> K workspaces, sidecars and responses (deterministic) into -o."""
        from emiss.bundles.k_emulation import build_all

        target = Path(out_dir)
        installed = _installed_location(target)
        if installed is not None and not force:
            raise EmissError(
                f"output folder {str(target)!r} is inside the installed package folder "
                f"{str(installed)!r}; give another -o/--outdir (e.g. ./workspaces of a "
                "checkout) or pass --force to write there anyway")
        for p in build_all(target):
            click.echo(str(p))

    @cli.command("measure")
    @click.argument("workspace")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.option("--plot", "plot_dir", type=click.Path(file_okay=False), default=None,
                  help="Write post-fit plots (PNG + PDF) per channel into this folder.")
    @click.option("--response", type=click.Path(dir_okay=False), default=None,
                  help="Detector response file (default: the one the sidecar names).")
    def measure_cmd(workspace: str, as_json: bool, plot_dir: str | None,
                    response: str | None) -> None:
        """Fit the SM-shaped signal strength mu on WORKSPACE (path or bundled stem)."""
        out = _measure_and_plot(workspace, response, plot_dir)
        if as_json:
            click.echo(dumps_json(out), nl=False)
            return
        click.echo(f"workspace   {out['workspace']}")
        click.echo(f"data        {out['data']}")
        click.echo(f"mu_hat      {out['mu_hat']:.3g} +{out['mu_err_up']:.3g} "
                   f"-{out['mu_err_down']:.3g}")
        click.echo(f"B_hat       {out['br_hat']:.3g}  (mu = 1 <-> "
                   f"{out['reference_branching_ratio']:.3g})")
        click.echo(f"Z_bkg_only  {out['Z_bkg_only']:.3g}")
        click.echo(f"Z_sm        {out['Z_sm']:.3g}")
        for p in out.get("plots", []):
            click.echo(f"plot        {p}")

    @plot.command("postfit")
    @click.argument("workspace")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default="plots",
                  show_default=True, help="Output folder.")
    @click.option("--response", type=click.Path(dir_okay=False), default=None,
                  help="Detector response file (default: the one the sidecar names).")
    def postfit(workspace: str, out_dir: str, response: str | None) -> None:
        """Post-fit distributions of WORKSPACE with the SM-shaped signal (PNG + PDF)."""
        out = _measure_and_plot(workspace, response, out_dir)
        for p in out.get("plots", []):
            click.echo(p)
