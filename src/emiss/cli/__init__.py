"""Command-line interface: a thin shell over the Python API.

Each stage registers its commands from its own module (``register(main, plot)``), so the
modules stay small and independent.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: Modules under emiss.cli that contribute commands, in help order.
COMMAND_MODULES = (
    "physics_cmds",
    "workspace_cmds",
    "data_cmds",
    "patch_cmds",
    "scan_cmds",
    "publish_cmds",
    "project_cmds",
    "model_cmds",
    "wet_cmds",
    "stats_cmds",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
              help="Folder with Belle II's released likelihood (HEPData ins2947386), which the "
                   "workspace name `belle2` then stands for (same as $EMISS_BELLE2_DATA).")
@click.version_option(package_name="emiss")
def cli(verbose: int, data_dir: str | None) -> None:
    """emiss: B -> K(*) + missing energy, from new-physics hypotheses to pyhf likelihoods."""
    import warnings

    from emiss.errors import EmulatedDataWarning

    warnings.simplefilter("ignore", EmulatedDataWarning)  # the log line says it already
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if data_dir is not None:
        import os

        os.environ["EMISS_BELLE2_DATA"] = data_dir


@cli.group()
def plot() -> None:
    """Figures (PNG and PDF)."""


for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"emiss.cli.{_name}")
    except ModuleNotFoundError as exc:  # a stage not built yet
        if exc.name != f"emiss.cli.{_name}":
            raise
        continue
    _mod.register(cli, plot)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``emiss`` console script: user errors become one line and exit 2."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except EmissError as exc:
        click.echo(f"emiss: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("emiss: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
