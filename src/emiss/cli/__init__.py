"""Command-line interface: a thin shell over the Python API (``emiss.api``).

Every command is a module-level click command in ``emiss.cli.<stage>_cmds`` that checks its
outputs, calls the API and prints the answer. This module defines the ``emiss`` group and its
``plot`` group and adds every command to them below, so the whole command tree is read here.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings
from typing import NoReturn

import click

from emiss.cli import (
    data_cmds,
    model_cmds,
    patch_cmds,
    physics_cmds,
    project_cmds,
    publish_cmds,
    scan_cmds,
    stats_cmds,
    wet_cmds,
    workspace_cmds,
)
from emiss.errors import EmissError, EmulatedDataWarning, Interrupted
from emiss.io import describe_os_error

log = logging.getLogger(__name__)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
              help="Folder with Belle II's released likelihood (HEPData ins2947386), which the "
                   "workspace name `belle2` then stands for (same as $EMISS_BELLE2_DATA).")
@click.version_option(package_name="emiss")
def cli(verbose: int, data_dir: str | None) -> None:
    """emiss: B -> K(*) + missing energy, from new-physics hypotheses to pyhf likelihoods."""
    warnings.simplefilter("ignore", EmulatedDataWarning)  # the log line says it already
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if data_dir is not None:
        os.environ["EMISS_BELLE2_DATA"] = data_dir


@cli.group()
def plot() -> None:
    """Figures (PNG and PDF)."""


# physics
cli.add_command(physics_cmds.scenarios_cmd)
cli.add_command(physics_cmds.rate_cmd)
cli.add_command(physics_cmds.spectrum_cmd)
plot.add_command(physics_cmds.plot_spectra_cmd)
# workspaces and data
cli.add_command(workspace_cmds.workspace)  # build, combine
workspace_cmds.workspace.add_command(data_cmds.import_belle2_cmd)
cli.add_command(data_cmds.data)  # fetch
cli.add_command(workspace_cmds.measure_cmd)
plot.add_command(workspace_cmds.postfit)
# patches
cli.add_command(patch_cmds.patchset)  # build (the default: `emiss patchset WS ...`), inspect, merge
patch_cmds.patchset.add_command(patch_cmds.patchset_cmd)
patch_cmds.patchset.add_command(patch_cmds.inspect_cmd)
patch_cmds.patchset.add_command(patch_cmds.merge_cmd)
cli.add_command(patch_cmds.verify_cmd)
plot.add_command(patch_cmds.plot_templates_cmd)
# scans
cli.add_command(scan_cmds.scan_cmd)
cli.add_command(scan_cmds.compare_cmd)
plot.add_command(scan_cmds.plot_limits_cmd)
plot.add_command(scan_cmds.plot_significance_cmd)
plot.add_command(scan_cmds.plot_likelihood_cmd)
plot.add_command(scan_cmds.plot_cls_cmd)
# statistics, studies, publication, models
cli.add_command(stats_cmds.posterior_cmd)
cli.add_command(stats_cmds.bayes_cmd)
cli.add_command(project_cmds.project_cmd)
plot.add_command(project_cmds.plot_projection_cmd)
cli.add_command(wet_cmds.wet_cmd)
cli.add_command(publish_cmds.publish_cmd)
cli.add_command(model_cmds.model)  # u1prime, u1prime-coupling, u1prime-scan


def _one_line(exc: click.ClickException) -> str:
    """click's message on one line, with the command whose --help lists the valid values."""
    text = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return text


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM stops a command like Ctrl-C: its clean-up runs (a scan keeps its journal)."""
    raise Interrupted(signum=signum)


def _interrupted(exc: BaseException) -> NoReturn:
    """One line ``emiss: interrupted by SIG...: <what was kept>``; exit 128 + the signal."""
    signum = getattr(exc, "signum", None) or signal.SIGINT
    text = str(exc)
    click.echo(f"emiss: interrupted by {signal.Signals(signum).name}"
               + (f": {text}" if text else ""), err=True)
    sys.exit(128 + int(signum))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``emiss`` console script: user errors become one line and exit 2.

    Faults of the system (a full disk, a folder where a file was expected) are one line and
    exit 2 too; SIGINT and SIGTERM stop the command with its clean-up (exit 128 + signal).
    """
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(args=argv, standalone_mode=False)
    except EmissError as exc:
        click.echo(f"emiss: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _interrupted(exc.__cause__)
        click.echo("emiss: aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except OSError as exc:  # disk full, a folder given for a file, ...: no traceback
        click.echo(f"emiss: error: {describe_os_error(exc)}", err=True)
        sys.exit(2)
    except click.ClickException as exc:  # usage errors too: one line, like EmissError
        click.echo(f"emiss: error: {_one_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    main()
