"""Helpers shared by the command modules: output checks, sidecar checks, notes and progress.

Every command checks its outputs with ``output_file`` / ``output_dir`` before it starts work
(``emiss.io.check_output_file`` / ``check_output_dir``): a path that cannot be written, or that
is one of the command's inputs (``inputs=``; ``workspace_inputs`` names a workspace's three
files), a symbolic link, a device or a FIFO, is one line ``emiss: error: ...`` (exit 2) and
nothing is computed or written. Output options follow one convention: ``-o/--output`` names a
file, ``-o/--outdir`` a folder. The stages are imported inside the helpers: ``emiss --help``
stays fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from emiss.errors import EmissError
from emiss.io import check_output_dir, check_output_file

log = logging.getLogger(__name__)

#: Help text of the --no-sidecar flag.
NO_SIDECAR_HELP = ("Allow a workspace without its <stem>.meta.json sidecar: the signal then "
                   "carries no per-channel signal modifiers (a warning names them when known). "
                   "Without this flag a missing sidecar is an error.")


class OutputPath(click.ParamType):
    """Type of the output options: a path checked by ``output_file`` / ``output_dir`` (not by
    click, whose multi-line usage errors would not name the reason in one line).

    ``kind`` is "file" or "folder"; --help shows FILE or DIR.
    """

    def __init__(self, kind: str) -> None:
        if kind not in ("file", "folder"):
            raise ValueError(f"OutputPath kind {kind!r}; valid: file, folder")
        self.kind = kind
        self.name = kind

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:  # click 8.1 / 8.2 signatures
        return "FILE" if self.kind == "file" else "DIR"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        return os.fspath(value)


#: Type of ``-o/--output`` (a file) and of ``-o/--outdir`` (a folder).
OUT_FILE = OutputPath("file")
OUT_DIR = OutputPath("folder")


def output_file(path: str | os.PathLike | None, what: str = "output file",
                inputs: Iterable[str | os.PathLike | None] = ()) -> Path | None:
    """Check that the file path can be written (None passes); see ``emiss.io``.

    Args:
        path: the -o file.
        what: how messages name it.
        inputs: the command's input files: the output must be none of them.

    Returns:
        The path, or None.
    """
    return None if path is None else check_output_file(path, what, inputs)


def output_dir(path: str | os.PathLike | None, what: str = "output folder",
               inputs: Iterable[str | os.PathLike | None] = (),
               writes: Iterable[str] = ()) -> Path | None:
    """Check that files can be written into the folder path (None passes).

    Args:
        path: the -o folder.
        what: how messages name it.
        inputs: the command's input files: no file written into the folder may be one.
        writes: names of the files the command writes there, when known before the work.

    Returns:
        The path, or None.
    """
    return None if path is None else check_output_dir(path, what, inputs, writes)


def installed_location(path: Path) -> Path | None:
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


def refuse_installed(path: str | os.PathLike, force: bool) -> None:
    """An output folder inside the installed package is an error unless force (``--force``).

    Args:
        path: the -o folder.
        force: the --force flag.

    Raises:
        EmissError: path lies inside site-packages or the installed emiss package.
    """
    target = Path(path)
    installed = installed_location(target)
    if installed is not None and not force:
        raise EmissError(
            f"output folder {str(target)!r} is inside the installed package folder "
            f"{str(installed)!r}; give another -o/--outdir (e.g. ./workspaces of a "
            "checkout) or pass --force to write there anyway")


def workspace_inputs(workspace: str | os.PathLike | None) -> list[Path]:
    """The files a workspace argument reads: the workspace, its sidecar and the sidecar's response.

    Args:
        workspace: a workspace argument (file or bundled name; None gives []).

    Returns:
        Those of the three that can be named (missing or unreadable ones are left out: the
        loaders report them).
    """
    from emiss.bundles.bundle import sidecar_path
    from emiss.io import read_json

    if workspace is None:
        return []
    path = resolve_workspace(workspace) or Path(workspace)
    side = sidecar_path(path)
    out = [path, side]
    try:
        meta = read_json(side) if side.is_file() else {}
    except (OSError, ValueError):
        meta = {}
    if isinstance(meta, dict) and isinstance(meta.get("response"), str):
        out.append(path.parent / meta["response"])
    return out


def note(message: str) -> None:
    """One line ``emiss: note: ...`` on stderr (defaults that change physics, skipped work)."""
    click.echo(f"emiss: note: {message}", err=True)


def warn(message: str) -> None:
    """One line ``emiss: warning: ...`` on stderr."""
    click.echo(f"emiss: warning: {message}", err=True)


def progress_printer(quiet: bool, command: str) -> Callable[[str], None] | None:
    """A progress callback writing ``emiss COMMAND: message`` to stderr (None when quiet)."""
    if quiet:
        return None

    def show(message: str) -> None:
        click.echo(f"emiss {command}: {message}", err=True)

    return show


def resolve_workspace(workspace: str | os.PathLike, announce: bool = False) -> Path | None:
    """The workspace file a command will read, or None if there is none
    (``emiss.bundles.bundle.resolve_workspace``).

    A bundled stem (``belle2_kstar_bkgonly``) names the installed file; so does the README's
    spelling ``workspaces/<stem>.json`` when no such file exists here (e.g. after ``pip
    install .``, run from another folder): then a note says which file is used.

    Args:
        workspace: the command's workspace argument.
        announce: print the note when the bundled file replaces a missing path.

    Returns:
        The file, or None.
    """
    from emiss.bundles.bundle import resolve_workspace as resolve

    return resolve(workspace, missing_ok=True, announce=note if announce else None)


def workspace_arg(workspace: str) -> str:
    """The workspace argument with bundled stems and missing ``workspaces/<stem>.json`` resolved
    to the installed files (a note says so); other paths unchanged (the loaders report them)."""
    path = resolve_workspace(workspace, announce=True)
    return str(path) if path is not None else workspace


def workspace_data(workspace: str | os.PathLike) -> dict | None:
    """Data info (``emiss.inference.results.data_info``) from the workspace's sidecar."""
    from emiss.inference.results import workspace_record

    path = resolve_workspace(workspace)
    return workspace_record(path) if path is not None else None


def data_line(workspace: str | os.PathLike) -> str:
    """The line every command prints to name the data it used (``data: ...``).

    Args:
        workspace: the command's workspace argument (file or name).

    Returns:
        ``data: <label>`` from the workspace's sidecar, or a statement that it names none.
    """
    rec = workspace_data(workspace)
    label = (rec or {}).get("label")
    return f"data: {label}" if label else (
        f"data: not stated (workspace {str(workspace)!r} has no sidecar naming its data)")


def bundled_twin(spec: dict) -> str | None:
    """The bundled stem whose workspace is identical (same pyhf digest) to spec, or None."""
    import pyhf

    from emiss.bundles.bundle import BUNDLED_STEMS, bundled_dir
    from emiss.io import read_json

    digest = pyhf.utils.digest(spec)
    for stem in BUNDLED_STEMS:
        path = bundled_dir() / f"{stem}.json"
        if path.is_file() and pyhf.utils.digest(read_json(path)) == digest:
            return stem
    return None


def _missing_modifiers(stem: str) -> dict[str, list[str]]:
    """channel -> names of the signal modifiers the bundled stem's sidecar lists."""
    from emiss.bundles.bundle import bundled_dir
    from emiss.io import read_json

    meta = read_json(bundled_dir() / f"{stem}.meta.json")
    return {ch: [m["name"] for m in info.get("signal_modifiers", [])]
            for ch, info in meta.get("channels", {}).items() if info.get("signal_modifiers")}


def check_sidecar(workspace: str | os.PathLike, no_sidecar: bool) -> None:
    """A workspace without its sidecar is an error unless no_sidecar (then a warning).

    Without the sidecar the signal sample gets no per-channel signal modifiers (efficiency,
    N_BB, ... shared with the backgrounds), which changes every fit; the message names them when
    the workspace is a copy of a bundled one (same pyhf digest).

    Args:
        workspace: the workspace argument of the command (path or bundled stem).
        no_sidecar: the --no-sidecar flag.

    Raises:
        EmissError: the sidecar is missing and no_sidecar is False.
    """
    from emiss.bundles.bundle import sidecar_path
    from emiss.io import read_json

    path = resolve_workspace(workspace)
    if path is None:
        return  # the loader reports a missing workspace
    side = sidecar_path(path)
    if side.exists() and not side.is_file() and not no_sidecar:
        raise EmissError(f"sidecar {str(side)!r} of workspace {str(workspace)!r} is a folder, "
                         "not a file; put the workspace's sidecar file there, or pass "
                         "--no-sidecar to go on without it")
    if side.is_file():
        if no_sidecar:
            log.info("--no-sidecar given but %s exists; it is used", side)
        return
    try:
        twin = bundled_twin(read_json(path))
    except ValueError:
        return  # not JSON: the loader reports it
    only_mu = "a signal that carries only mu (and, in patches, the form-factor systematics)"
    if twin is not None:
        listed = "; ".join(f"{ch}: {', '.join(names)}"
                           for ch, names in _missing_modifiers(twin).items())
        if not no_sidecar:
            raise EmissError(
                f"workspace {str(workspace)!r} has no sidecar {str(side)!r}: it is a copy of the "
                f"bundled {twin}, whose sidecar gives the signal sample the modifiers "
                f"[{listed}], and without them the result changes. Copy {twin}.meta.json and "
                "its response from emiss.bundles.bundled_dir() next to it, or pass "
                f"--no-sidecar to go on with {only_mu}")
        warn(f"workspace {str(workspace)!r} has no sidecar (--no-sidecar): the signal sample "
             f"lacks the modifiers [{listed}] that the bundled {twin}'s sidecar gives it, so "
             "results differ from the full model")
        return
    if not no_sidecar:
        raise EmissError(
            f"workspace {str(workspace)!r} has no sidecar {str(side)!r}: the per-channel signal "
            "modifiers it would list (efficiency, N_BB, ... shared with the backgrounds) are "
            "unknown, and without them the result changes. Put the sidecar next to it, or "
            f"pass --no-sidecar to go on with {only_mu}")
    warn(f"workspace {str(workspace)!r} has no sidecar (--no-sidecar): no per-channel signal "
         f"modifiers are applied ({only_mu}); results differ from a model with them")
