"""Download Belle II's released likelihood (HEPData ins2947386) and import it.

HEPData serves every record's original submission, additional resources included, as one
archive (https://www.hepdata.net/download/submission/<record>/<version>/original; HEPData's
documentation, "Downloading"). ``fetch`` downloads it with the standard library (HTTPS, or any
URL scheme urllib handles, e.g. ``file://`` for a local mirror), unpacks it (nested .tar.gz /
.zip resources too, refusing paths that leave the folder), recognises the four files by content
(``belle2_hepdata.locate_inputs``: HEPData's own resource names are not relied on), checks their
sha256 against the record's and imports them (``belle2_hepdata.import_belle2``). Nothing is
written to the destination unless every step succeeds.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from emiss.bundles import belle2_hepdata as real
from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: HEPData's base URL (override with $EMISS_HEPDATA_URL or ``base_url``, e.g. a mirror).
HEPDATA_URL = "https://www.hepdata.net"
#: Version of the record whose files carry the sha256 of ``belle2_hepdata.SHA256``.
RECORD_VERSION = 1
#: Names accepted by ``emiss data fetch``.
DATASETS = ("belle2-knunu",)


def submission_url(base_url: str | None = None, version: int = RECORD_VERSION) -> str:
    """URL of the original-submission archive of ins2947386."""
    base = (base_url or os.environ.get("EMISS_HEPDATA_URL") or HEPDATA_URL).rstrip("/")
    return f"{base}/download/submission/{real.RECORD}/{version}/original"


def _download(url: str, dest: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as fh:
            shutil.copyfileobj(resp, fh)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EmissError(f"download of {url} failed: {exc}") from None


def _inside(root: Path, member: str) -> bool:
    target = (root / member).resolve()
    return target == root.resolve() or root.resolve() in target.parents


def _unpack(archive: Path, dest: Path) -> bool:
    """Unpack a tar or zip archive into dest (paths leaving dest refused); False if neither."""
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() or m.isdir()]
            bad = [m.name for m in members if not _inside(dest, m.name)]
            if bad:
                raise EmissError(f"{archive.name}: refusing archive paths outside the folder: "
                                 f"{bad[:3]}")
            tf.extractall(dest, members=members)  # noqa: S202 (paths checked above)
        return True
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            bad = [n for n in zf.namelist() if not _inside(dest, n)]
            if bad:
                raise EmissError(f"{archive.name}: refusing archive paths outside the folder: "
                                 f"{bad[:3]}")
            zf.extractall(dest)
        return True
    return False


def _unpack_nested(folder: Path, depth: int = 2) -> None:
    """Unpack archives found inside folder (HEPData stores resources as .tar.gz/.zip too)."""
    for _ in range(depth):
        archives = [p for p in sorted(folder.rglob("*")) if p.is_file()
                    and p.name.endswith((".tar.gz", ".tgz", ".tar", ".zip"))]
        if not archives:
            return
        for a in archives:
            sub = a.parent / (a.name + ".d")
            sub.mkdir(exist_ok=True)
            if _unpack(a, sub):
                a.unlink()


def _collect(folder: Path) -> dict[str, Path]:
    """The record's four files anywhere under folder (by name or content)."""
    try:
        return real.locate_inputs(folder, recursive=True)
    except EmissError as exc:
        raise EmissError(f"the downloaded record is incomplete: {exc}") from None


def fetch(dest: str | os.PathLike | None = None, *, base_url: str | None = None,
          version: int = RECORD_VERSION, timeout: float = 120.0,
          allow_unverified: bool = False) -> list[Path]:
    """Download ins2947386, verify it and import it into dest.

    Args:
        dest: destination folder (default ``belle2_hepdata.default_location()``); receives the
            four files of the record under their record names and the imported bundle.
        base_url: HEPData (or mirror) base URL; default $EMISS_HEPDATA_URL or hepdata.net.
        version: record version.
        timeout: network timeout in seconds.
        allow_unverified: import files whose sha256 differs from the verified copy's.

    Returns:
        Paths written (the four inputs, then workspace, sidecar and response).
    """
    out = Path(dest) if dest is not None else real.default_location()
    if out.exists() and not out.is_dir():
        raise EmissError(f"destination {str(out)!r} exists and is not a folder")
    url = submission_url(base_url, version)
    with tempfile.TemporaryDirectory(prefix="emiss-fetch-") as tmp:
        tmpd = Path(tmp)
        archive = tmpd / "submission"
        log.info("downloading %s", url)
        _download(url, archive, timeout)
        unpacked = tmpd / "unpacked"
        unpacked.mkdir()
        if not _unpack(archive, unpacked):
            raise EmissError(f"{url} did not return a tar or zip archive")
        _unpack_nested(unpacked)
        files = _collect(unpacked)
        real.verify_inputs(files, allow_unverified)
        staged = tmpd / "staged"
        staged.mkdir()
        for name, path in files.items():
            shutil.copyfile(path, staged / name)
        bundle = real.import_belle2(staged, staged, allow_unverified=allow_unverified)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for p in [*(staged / n for n in sorted(real.SHA256)), *bundle]:
            final = out / p.name
            tmp_final = out / f".{p.name}.tmp"
            shutil.copyfile(p, tmp_final)
            os.replace(tmp_final, final)  # same folder: atomic
            written.append(final)
    log.info("fetched %s into %s", real.RECORD, out)
    return written
