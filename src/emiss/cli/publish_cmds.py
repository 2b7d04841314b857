"""``emiss publish``: pallet + HEPData submission for a workspace and its PatchSets.

A thin shell over ``emiss.publish.publish``, imported inside the command: ``emiss --help``
stays fast.
"""

from __future__ import annotations

import logging

import click

from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, data_line, workspace_arg

log = logging.getLogger(__name__)


@click.command("publish")
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("patchsets", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--results",
    "results",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Scan results JSON (emiss scan) for the limit tables; repeat for several PatchSets.",
)
@click.option(
    "--spectra/--no-spectra",
    default=True,
    show_default=True,
    help="Add dB/dq^2 tables from the physics stage.",
)
@click.option(
    "--max-hypotheses",
    default=5,
    show_default=True,
    type=A.TABLE_HYPOTHESES,
    help="Hypotheses per PatchSet in the template and spectrum tables.",
)
@click.option("--force", is_flag=True, help="Replace an existing non-empty output directory.")
@click.option(
    "-o",
    "--outdir",
    "--output",
    "out_dir",
    required=True,
    type=OUT_DIR,
    help="Output folder (new or empty; created if missing).",
)
def publish_cmd(
    workspace: str,
    patchsets: tuple[str, ...],
    results: tuple[str, ...],
    spectra: bool,
    max_hypotheses: int,
    force: bool,
    out_dir: str,
) -> None:
    """Write BkgOnly.json, the PatchSets, README.md, pallet.tar.gz and a HEPData submission.

    WORKSPACE is the background-only pyhf workspace, PATCHSETS the PatchSets built on it.
    """
    from emiss.publish import publish

    res = publish(  # checks the output folder before any work
        workspace_arg(workspace),
        list(patchsets),
        out_dir,
        results=list(results),
        spectra=spectra,
        force=force,
        max_hypotheses=max_hypotheses,
    )
    click.echo(data_line(workspace))
    click.echo(f"wrote {len(res.files)} files ({res.n_tables} HEPData tables) to {res.out_dir}")
    for name in res.files:
        click.echo(f"  {name}")
