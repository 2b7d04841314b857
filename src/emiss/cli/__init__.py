"""Command-line interface: a thin shell over the Python API.

Each stage registers its commands from its own module (``register(main, plot)``), so the
modules stay small and independent.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from typing import NoReturn

import click

from emiss.errors import EmissError, Interrupted

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
    from emiss.io import describe_os_error

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
