"""``emiss publish``: a ready-to-upload directory with the pallet and the HEPData submission.

The directory is built in a temporary sibling and renamed into place at the end, so a failure
never leaves a half-written output; an existing non-empty directory is only replaced on ``force``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emiss.errors import EmissError
from emiss.io import dumps_json, write_error
from emiss.publish.hepdata import build_submission, check_submission, write_submission
from emiss.publish.inputs import PublishInputs, load_inputs
from emiss.publish.readme import render_readme
from emiss.publish.tarball import tar_gz_bytes, write_tar_gz

log = logging.getLogger(__name__)

#: File names inside the output directory.
BKGONLY = "BkgOnly.json"
README = "README.md"
PALLET = "pallet.tar.gz"
PALLET_TOP = "pallet"
HEPDATA_DIR = "hepdata"
HEPDATA_ARCHIVE = "hepdata_submission.tar.gz"


@dataclass(frozen=True)
class PublishResult:
    """What publish wrote.

    Attributes:
        out_dir: the output directory.
        files: every file written, relative to out_dir, sorted.
        n_tables: number of HEPData tables.
    """

    out_dir: Path
    files: tuple[str, ...]
    n_tables: int


def _check_out_dir(out: Path, force: bool) -> None:
    from emiss.io import check_output_dir

    # a folder (not a file), creatable and writable: checked before any work
    check_output_dir(out, "publication folder")
    if out.is_symlink():  # the folder is replaced by a rename, which would replace the link
        raise EmissError(
            f"output directory {str(out)!r} is a symbolic link to {os.readlink(out)!r}; the "
            "publication replaces the folder by a rename, which would replace the link: give "
            "the link's target or a new directory"
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise EmissError(
            f"output directory {str(out)!r} exists and is not empty; "
            "give a new or empty directory, or --force to replace it"
        )


def _refuse_to_replace_inputs(out: Path, inputs: list[str | Path]) -> None:
    """--force must never delete the inputs or the current directory."""
    real = out.resolve()
    for p in [Path.cwd(), *map(Path, inputs)]:
        q = p.resolve()
        if q == real or real in q.parents:
            raise EmissError(
                f"output directory {str(out)!r} holds {str(p)!r}; --force would delete it, "
                "give another output directory"
            )


def pallet_files(inputs: PublishInputs) -> dict[str, bytes]:
    """The pallet's members: BkgOnly.json, the PatchSets and the README (deterministic bytes).

    Args:
        inputs: checked publication inputs.

    Returns:
        file name → content.
    """
    files = {BKGONLY: dumps_json(inputs.workspace.spec).encode("utf-8")}
    for ps in inputs.patchsets:
        files[ps.filename] = dumps_json(ps.spec).encode("utf-8")
    files[README] = render_readme(inputs, PALLET).encode("utf-8")
    return files


def _build(inputs: PublishInputs, build: Path, spectra: bool, max_hypotheses: int) -> int:
    files = pallet_files(inputs)
    for name, data in files.items():
        (build / name).write_bytes(data)
    pallet = build / PALLET
    pallet.write_bytes(tar_gz_bytes(files, top=PALLET_TOP))
    sub = build_submission(inputs, pallet, spectra=spectra, max_hypotheses=max_hypotheses)
    hep = build / HEPDATA_DIR
    write_submission(sub, hep)
    archive = write_tar_gz(build / HEPDATA_ARCHIVE, hep)
    check_submission(archive=archive)
    return len(sub.tables)


def publish(
    workspace: str | Path,
    patchsets: list[str | Path],
    out_dir: str | Path,
    *,
    results: list[str | Path] | None = None,
    spectra: bool = True,
    force: bool = False,
    max_hypotheses: int = 5,
) -> PublishResult:
    """Write a publication: BkgOnly.json, PatchSets, README, pallet and HEPData submission.

    Args:
        workspace: the background-only workspace JSON (bundled with a sidecar, or a bare one).
        patchsets: PatchSet JSON files built on that workspace.
        out_dir: output directory; must not exist or be empty unless force.
        results: scan results files (one per PatchSet at most) for the limit tables.
        spectra: add dB/dq² tables from ``emiss.physics`` when it is available.
        force: replace an existing non-empty out_dir.
        max_hypotheses: hypotheses per PatchSet in the template and spectrum tables.

    Returns:
        :class:`PublishResult`.

    Raises:
        EmissError: inconsistent inputs or an occupied output directory; nothing is written then.
    """
    from emiss import validate

    max_hypotheses = validate.TABLE_HYPOTHESES.check(max_hypotheses, "max_hypotheses")
    out = Path(out_dir).absolute()
    _check_out_dir(out, force)
    if force and out.exists():
        _refuse_to_replace_inputs(out, [workspace, *patchsets, *(results or [])])
    inputs = load_inputs(workspace, patchsets, results)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.build-"))
    try:
        n_tables = _build(inputs, build, spectra, max_hypotheses)
        os.chmod(build, 0o755)
        written = tuple(
            sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file())
        )
        _swap_into_place(build, out, force)
    except BaseException as exc:
        shutil.rmtree(build, ignore_errors=True)
        if isinstance(exc, OSError):  # e.g. disk full: one line, nothing left behind
            raise write_error(out, exc, "publication folder") from None
        raise
    log.info("published %d files (%d HEPData tables) to %s", len(written), n_tables, out)
    return PublishResult(out_dir=out, files=written, n_tables=n_tables)


def _swap_into_place(build: Path, out: Path, force: bool) -> None:
    """Rename build to out; an existing out is moved aside first and removed after."""
    if not out.exists():
        os.rename(build, out)
        return
    _check_out_dir(out, force)  # it may have been filled meanwhile
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(build, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
