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

import contextlib
import errno
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from emiss.bundles import belle2_hepdata as real
from emiss.errors import EmissError
from emiss.io import write_error

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
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) == dest or \
                exc.errno in (errno.ENOSPC, errno.EDQUOT):  # our temporary copy, not the URL
            raise EmissError(f"download of {url} failed: the temporary folder "
                             f"{tempfile.gettempdir()!r} cannot hold it ({exc.strerror or exc}); "
                             "free space there or set TMPDIR to a folder with room") from None
        raise EmissError(f"download of {url} failed: {_reason(exc)}") from None
    except ValueError as exc:
        raise EmissError(f"download of {url} failed: {exc}") from None


def _reason(exc: BaseException) -> str:
    """Why a download failed, in words (urllib wraps the cause in .reason)."""
    reason = getattr(exc, "reason", None) or exc
    return getattr(reason, "strerror", None) or str(reason)


def _inside(root: Path, member: str) -> bool:
    target = (root / member).resolve()
    return target == root.resolve() or root.resolve() in target.parents


def _unpack(archive: Path, dest: Path, name: str | None = None) -> bool:
    """Unpack a tar or zip archive into dest (paths leaving dest refused); False if neither.

    Args:
        archive: the archive file.
        dest: an existing folder.
        name: how messages name the archive (default: its file name).

    Returns:
        Whether archive was a tar or zip archive.

    Raises:
        EmissError: a member leaves the folder, or the archive cannot be unpacked (a corrupt
            archive, members that collide, a full disk).
    """
    name = name or archive.name
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = [m for m in tf.getmembers() if m.isfile() or m.isdir()]
                bad = [m.name for m in members if not _inside(dest, m.name)]
                if bad:
                    raise EmissError(f"{name}: refusing archive paths outside the folder: "
                                     f"{bad[:3]}")
                tf.extractall(dest, members=members)  # noqa: S202 (paths checked above)
            return True
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                bad = [n for n in zf.namelist() if not _inside(dest, n)]
                if bad:
                    raise EmissError(f"{name}: refusing archive paths outside the folder: "
                                     f"{bad[:3]}")
                zf.extractall(dest)
            return True
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        member = ""
        if isinstance(exc, OSError) and exc.filename:
            with contextlib.suppress(ValueError):
                member = f" at member {Path(exc.filename).relative_to(dest).as_posix()!r}"
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EmissError(f"{name}: cannot unpack it: the temporary folder "
                             f"{tempfile.gettempdir()!r} is full ({what}); free space there or "
                             "set TMPDIR to a folder with room") from None
        raise EmissError(f"{name}: cannot unpack it{member} ({what}); it is not an archive "
                         "emiss can read (a corrupt download, or members that collide)") from None
    return False


#: Suffix of the folder a nested archive is unpacked into (``x.zip`` -> ``x.zip.d``).
NESTED_SUFFIX = ".d"


def _nested_folder(archive: Path) -> Path:
    """A new folder next to archive for its members (``x.zip.d``; ``x.zip.d-2``, ... when the
    archive itself holds an entry of that name)."""
    sub = archive.parent / (archive.name + NESTED_SUFFIX)
    n = 1
    while sub.exists() or sub.is_symlink():
        n += 1
        sub = archive.parent / f"{archive.name}{NESTED_SUFFIX}-{n}"
    sub.mkdir()
    return sub


def _unpack_nested(folder: Path, depth: int = 2, name: str | None = None) -> None:
    """Unpack archives found inside folder (HEPData stores resources as .tar.gz/.zip too).

    Args:
        folder: the unpacked top-level archive.
        depth: levels of nesting unpacked.
        name: how messages name the top-level archive (default: the folder).
    """
    done: set[Path] = set()
    for _ in range(depth):
        archives = [p for p in sorted(folder.rglob("*")) if p.is_file() and p not in done
                    and p.name.endswith((".tar.gz", ".tgz", ".tar", ".zip"))]
        if not archives:
            return
        for a in archives:
            done.add(a)
            sub = _nested_folder(a)
            rel = a.relative_to(folder).as_posix()
            if _unpack(a, sub, f"{name or folder}: member {rel!r}"):
                a.unlink()
            else:
                sub.rmdir()


#: A nested-archive folder in a path: ``x.zip.d/`` (or ``x.zip.d-2/``) stands for ``x.zip:``.
_NESTED_RE = re.compile(r"(\.(?:tar\.gz|tgz|tar|zip))\.d(?:-\d+)?/")


def _public(message: str, root: Path, url: str, staged: Path | None = None) -> str:
    """message with the paths of the (deleted) temporary folders named by what they hold.

    ``<root>/resources/x.zip.d/a.json`` becomes ``member 'resources/x.zip:a.json' of <url>``;
    ``<root>`` alone ``the archive <url>``; ``<staged>/name`` ``'name' (from <url>)``.

    Args:
        message: an error message.
        root: the folder the archive was unpacked into.
        url: where the archive came from.
        staged: the folder the record's files were copied to (None: none).

    Returns:
        The message without temporary paths.
    """
    def sub(folder: Path, member: str, whole: str, text: str) -> str:
        pat = re.compile("'?" + re.escape(str(folder)) + r"(/[^'\s]*)?'?")

        def repl(m: re.Match) -> str:
            rel = (m.group(1) or "").lstrip("/")
            return member.format(_NESTED_RE.sub(r"\1:", rel)) if rel else whole
        return pat.sub(repl, text)

    if staged is not None:
        message = sub(staged, "{!r} (from " + url + ")", f"the files from {url}", message)
    return sub(root, "member {!r} of " + url, f"the archive {url}", message)


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
        unpacked = tmpd / "unpacked"
        staged = tmpd / "staged"
        log.info("downloading %s", url)
        try:
            _download(url, archive, timeout)
            unpacked.mkdir()
            if not _unpack(archive, unpacked, url):
                raise EmissError(f"{url} did not return a tar or zip archive")
            _unpack_nested(unpacked, name=url)
            files = _collect(unpacked)
            real.verify_inputs(files, allow_unverified)
            staged.mkdir()
            for name, path in files.items():
                shutil.copyfile(path, staged / name)
            bundle = real.import_belle2(staged, staged, allow_unverified=allow_unverified)
        except EmissError as exc:  # the temporary folder is gone: name what the paths held
            raise EmissError(_public(str(exc), unpacked, url, staged)) from None
        except OSError as exc:
            raise EmissError(f"cannot prepare the files of {url} in the temporary folder "
                             f"{tempfile.gettempdir()!r} ({exc.strerror or exc}); free space "
                             "there or set TMPDIR to a folder with room") from None
        written = _install([*(staged / n for n in sorted(real.SHA256)), *bundle], out)
    log.info("fetched %s into %s", real.RECORD, out)
    return written


def _install(sources: list[Path], out: Path) -> list[Path]:
    """Copy sources into out: all to temporary names first, then renamed (nothing half-done).

    Args:
        sources: the files to install.
        out: the destination folder (created if missing; removed again if that fails).

    Returns:
        The installed paths.

    Raises:
        EmissError: a copy failed (e.g. a full disk); the temporary copies are removed and
            nothing at out changed.
    """
    made = not out.exists()
    temps: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for p in sources:
            temps.append(out / f".{p.name}.tmp")
            shutil.copyfile(p, temps[-1])
    except OSError as exc:
        for t in temps:
            with contextlib.suppress(OSError):
                t.unlink()
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise write_error(out, exc, "data folder") from None
    written = []
    for p, t in zip(sources, temps, strict=True):
        os.replace(t, out / p.name)  # same folder: atomic
        written.append(out / p.name)
    return written
