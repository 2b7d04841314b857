"""Real-data commands: ``emiss data fetch`` and ``emiss workspace import-belle2``.

A thin shell over ``emiss.bundles.belle2_fetch`` and ``emiss.bundles.belle2_hepdata``.
Imports of the stages are inside the commands: ``emiss --help`` stays fast.
"""

from __future__ import annotations

import logging

import click

from emiss.cli._common import OUT_DIR, output_dir
from emiss.errors import EmissError

log = logging.getLogger(__name__)


def _bundle_files() -> list[str]:
    """Names of the three files of the imported bundle (workspace, sidecar, response)."""
    from emiss.bundles.belle2_hepdata import RESPONSE_NAME, STEM

    return [f"{STEM}.json", f"{STEM}.meta.json", RESPONSE_NAME]


@click.group("data")
def data() -> None:
    """Public data emiss can download (Belle II's released likelihood)."""


@data.command("fetch")
@click.argument("dataset", type=click.Choice(["belle2-knunu"]))
@click.option("-o", "--outdir", "--to", "dest", type=OUT_DIR, default=None,
              help="Output folder (default: $EMISS_DATA_DIR/ins2947386 or "
                   "~/.local/share/emiss/ins2947386, where `belle2` finds it).")
@click.option("--mirror", "base_url", default=None,
              help="HEPData base URL or a mirror (https://, file://); default "
                   "$EMISS_HEPDATA_URL or https://www.hepdata.net.")
@click.option("--allow-unverified", is_flag=True,
              help="Import files whose sha256 differs from the verified release.")
def fetch_cmd(dataset: str, dest: str | None, base_url: str | None,
              allow_unverified: bool) -> None:
    """Download DATASET from HEPData, check its sha256 and import it as a bundle.

    belle2-knunu: Belle II's B+ -> K+ nu nubar likelihood (HEPData ins2947386,
    arXiv:2507.12393); afterwards `belle2` names it in every command.
    """
    from emiss.bundles.belle2_fetch import fetch
    from emiss.bundles.belle2_hepdata import SHA256, default_location

    output_dir(dest if dest is not None else default_location(), "data folder",
               writes=[*sorted(SHA256), *_bundle_files()])
    for p in fetch(dest, base_url=base_url, allow_unverified=allow_unverified):
        click.echo(str(p))


@click.command("import-belle2")
@click.argument("source", type=click.Path(file_okay=False))
@click.option("-o", "--outdir", "out_dir", type=OUT_DIR, required=True,
              help="Output folder for the bundle (3 files).")
@click.option("--allow-unverified", is_flag=True,
              help="Import files whose sha256 differs from the verified release.")
def import_belle2_cmd(source: str, out_dir: str, allow_unverified: bool) -> None:
    """Turn Belle II's released likelihood in SOURCE (HEPData ins2947386) into a bundle.

    SOURCE holds combined_likelihood.json and the three number-density CSVs (recognised
    by name or content). Writes belle2_ins2947386_bkgonly.json, its .meta.json and the
    response into -o.
    """
    from emiss.bundles.belle2_hepdata import import_belle2, locate_inputs

    try:
        inputs = list(locate_inputs(source).values())
    except EmissError:  # reported by the import, after the output check
        inputs = []
    output_dir(out_dir, inputs=inputs, writes=_bundle_files())
    for p in import_belle2(source, out_dir, allow_unverified=allow_unverified):
        click.echo(str(p))
