"""The HEPData submission, built with hepdata-lib and checked with hepdata-validator.

hepdata-lib's ``Submission.create_files`` writes the YAML files into the directory it is given
but also drops a ``submission.tar.gz`` into the *current* directory with ordinary tar metadata.
emiss therefore runs it inside a scratch directory, discards that archive and packs the submission
itself with :mod:`emiss.publish.tarball` (byte-reproducible).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from emiss.errors import EmissError
from emiss.publish.inputs import PublishInputs
from emiss.publish.tables import (
    TableNamer,
    limit_tables,
    response_tables,
    spectrum_tables,
    template_tables,
)

if TYPE_CHECKING:
    from emiss.publish._hdl import Submission

log = logging.getLogger(__name__)

_CWD_LOCK = threading.Lock()


@contextlib.contextmanager
def _in_scratch_dir() -> Iterator[Path]:
    """Run with a throw-away current directory (hepdata-lib writes its archive into the cwd)."""
    with _CWD_LOCK, tempfile.TemporaryDirectory(prefix="emiss-hepdata-") as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def _comment(inputs: PublishInputs) -> str:
    ws = inputs.workspace
    parts = [
        "Full statistical model (pyhf JSON: background-only workspace plus signal PatchSets) "
        "for B -> K(*) + missing energy searches, made with emiss.",
        f"Background-only workspace digest sha256:{ws.digest}.",
        "PatchSets: "
        + ", ".join(f"{p.filename} ({len(p.patches)} hypotheses)" for p in inputs.patchsets)
        + ".",
        "mu = 1 is the reference branching ratio stated in each patch's metadata.",
    ]
    for key in ("data_statement", "emulated_data", "statement"):
        text = (ws.meta or {}).get(key)
        if isinstance(text, str) and text.strip():
            parts.append(text.strip())
            break
    return " ".join(parts)


def build_submission(
    inputs: PublishInputs,
    pallet_path: Path,
    *,
    spectra: bool = True,
    max_hypotheses: int = 5,
) -> Submission:
    """Assemble the hepdata-lib ``Submission``: tables plus the pallet as a HistFactory resource.

    Args:
        inputs: checked publication inputs.
        pallet_path: the pallet ``.tar.gz`` (copied into the submission).
        spectra: add the dB/dq² tables (needs ``emiss.physics.scenarios``).
        max_hypotheses: hypotheses per PatchSet in the template and spectrum tables.

    Returns:
        ``hepdata_lib.Submission``.
    """
    from emiss.publish._hdl import Submission

    sub = Submission()
    sub.comment = _comment(inputs)
    sub.add_additional_resource(
        "Full likelihoods (pyhf JSON): BkgOnly.json, the signal PatchSets and a README with the "
        "pyhf commands that reproduce the limits",
        str(pallet_path),
        copy_file=True,
        file_type="HistFactory",
    )
    namer = TableNamer()
    tables = limit_tables(inputs, namer)
    tables += template_tables(inputs, namer, max_hypotheses=max_hypotheses)
    if spectra:
        tables += spectrum_tables(inputs, namer, max_hypotheses=max_hypotheses)
    tables += response_tables(inputs, namer)
    for table in tables:
        sub.add_table(table)
    log.info("HEPData submission with %d tables", len(tables))
    return sub


def write_submission(sub: Submission, out_dir: str | Path) -> list[Path]:
    """Write submission.yaml, the table YAMLs and the copied resources into out_dir.

    Args:
        sub: ``hepdata_lib.Submission``.
        out_dir: directory to fill (created; should be new and empty).

    Returns:
        The files written, sorted.
    """
    out = Path(out_dir).resolve()
    with _in_scratch_dir():
        sub.create_files(str(out), validate=False, remove_old=False)
    return sorted(p for p in out.iterdir() if p.is_file())


def validation_messages(*, directory: str | Path | None = None,
                        archive: str | Path | None = None) -> list[str]:
    """hepdata-validator's verdict on a submission directory or archive.

    Args:
        directory: a directory holding submission.yaml (all files must be referenced).
        archive: a ``.tar.gz`` submission.

    Returns:
        List of "file: message" strings; empty when valid.
    """
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    val = FullSubmissionValidator(autoload_remote_schemas=False)
    if archive is not None:
        ok = val.validate(archive=str(archive))
    else:
        ok = val.validate(directory=str(directory))
    if ok:
        return []
    return [f"{f}: {m.message}" for f, msgs in val.get_messages().items() for m in msgs]


def check_submission(*, directory: str | Path | None = None,
                     archive: str | Path | None = None) -> None:
    """Raise EmissError if hepdata-validator rejects the submission."""
    msgs = validation_messages(directory=directory, archive=archive)
    if msgs:
        raise EmissError(f"HEPData submission fails hepdata-validator: {msgs[0]}")
