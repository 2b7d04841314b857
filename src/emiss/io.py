"""Small file helpers shared by every stage: atomic writes, output checks, deterministic JSON."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: Generated numbers whose magnitude is below this are written as 0: Gaussian tails of 1e-300
#: carry no information but their last digits differ between machines (exp of large arguments).
FLUSH_BELOW = 1e-30
#: Relative tolerance of the staleness checks of generated files (workspaces, responses,
#: patches). Files keep 8 to 12 significant digits, so one flip of the last written digit is at
#: most 1e-7 relative; rebuilds on other machines differ by float noise of ~1e-11 relative.
#: 1e-6 sits above both and far below any physical change (form factors, efficiencies: >1e-4).
STALE_RTOL = 1e-6


def _nearest_existing(path: Path) -> Path:
    """path itself or its closest ancestor that exists (``/`` at worst)."""
    q = path
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def _probe_writable(folder: Path, target: Path, what: str) -> None:
    """EmissError unless a file can be created in folder (tried, then removed at once).

    ``os.access`` is not enough: it says yes to root for /proc and ignores read-only mounts, so
    a temporary file is created and deleted instead.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".emiss-write-check.")
    except OSError as exc:
        raise EmissError(f"cannot write {what} {str(target)!r}: folder {str(folder)!r} does not "
                         f"accept new files ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(tmp)


#: What a path that is neither a regular file nor a folder is, by its ``stat`` mode test.
_SPECIAL_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """What path is when it is not a regular file, a folder or absent (its own entry, links
    not followed): "a symbolic link to '...'", "a character device", "a FIFO (named pipe)", ...

    Args:
        path: any path.

    Returns:
        The words for it, or None for a regular file, a folder or a missing path.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        return f"a symbolic link to {os.readlink(path)!r}"
    for test, words in _SPECIAL_KINDS:
        if test(mode):
            return words
    return None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when a and b name the same file (same inode, links and hard links followed).

    Args:
        a: a path.
        b: another path.

    Returns:
        Whether both exist and are one file, or (either missing) resolve to the same path.
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, RuntimeError):
            return False


def _refuse_inputs(p: Path, shown: str, what: str,
                   inputs: Iterable[str | os.PathLike | None]) -> None:
    """EmissError when the output p is one of the command's input files."""
    for inp in inputs:
        if inp is not None and str(inp) != "" and same_file(p, inp):
            raise EmissError(f"cannot write {what} {shown!r}: it is the input {str(inp)!r} of "
                             "this command, which writing would destroy; give another output "
                             "path")


def check_output_file(path: str | os.PathLike, what: str = "output file",
                      inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Check, before any work, that a file can be written at path (nothing is created).

    The target must not be an existing folder, a symbolic link, a device, a FIFO or a socket
    (outputs are written to a temporary file and renamed onto the path, which would replace
    such an entry), nor one of the command's inputs (same file); its folder must exist or be
    creatable (the nearest existing ancestor is a folder that accepts new files: not a file,
    not /proc, not read-only).

    Args:
        path: the file to be written.
        what: how the message names it (e.g. "results file").
        inputs: the files the command reads (None entries are skipped).

    Returns:
        The path.

    Raises:
        EmissError: one line naming the path and the reason.
    """
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise EmissError(f"cannot write {what} {str(path)!r}: not a file name")
    kind = special_kind(p)
    if kind is not None:
        raise EmissError(f"cannot write {what} {str(path)!r}: it is {kind}, not a regular "
                         "file; emiss writes a new file and renames it into place, which would "
                         "replace it: give a regular file or a new path")
    if p.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: it is an existing folder; "
                         "give a file name")
    _refuse_inputs(p, str(path), what, inputs)
    base = _nearest_existing(p.absolute().parent)
    if not base.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: {str(base)!r} is a file, "
                         "not a folder")
    _probe_writable(base, p, what)
    return p


def check_output_dir(path: str | os.PathLike, what: str = "output folder",
                     inputs: Iterable[str | os.PathLike | None] = (),
                     writes: Iterable[str] = ()) -> Path:
    """Check, before any work, that files can be written into the folder path (none created).

    The folder must be an existing folder or creatable (the nearest existing ancestor is a
    folder that accepts new files). Each of ``writes`` (file names the command will write into
    the folder) is checked like ``check_output_file``: not a link, device or FIFO, not an input.

    Args:
        path: the folder.
        what: how the message names it.
        inputs: the files the command reads (None entries are skipped).
        writes: names of the files the command writes into the folder, when known.

    Returns:
        The path.

    Raises:
        EmissError: one line naming the path and the reason.
    """
    p = Path(path)
    if str(path) == "":
        raise EmissError(f"cannot write {what} {str(path)!r}: empty folder name")
    kind = special_kind(p)
    if kind is not None and not p.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: it is {kind}, not a folder; "
                         "give a folder")
    if p.exists() and not p.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: it is an existing file, "
                         "not a folder")
    inputs = list(inputs)
    if p.is_dir():
        for name in writes:
            check_output_file(p / name, f"file {name!r} of {what}", inputs)
    base = _nearest_existing(p.absolute())
    if not base.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: {str(base)!r} is a file, "
                         "not a folder")
    _probe_writable(base, p, what)
    return p


#: errno -> what to do about it, for the one-line messages of failed writes.
_WRITE_HINTS = {errno.ENOSPC: "the disk is full: free space or write to another disk",
                errno.EDQUOT: "the disk quota is exhausted: free space or write elsewhere",
                errno.EROFS: "the file system is read-only: write elsewhere",
                errno.EACCES: "no permission: write elsewhere",
                errno.EPERM: "no permission: write elsewhere"}


def describe_os_error(exc: OSError) -> str:
    """An OSError in words with what to do: "No space left on device: 'x' (the disk is full: ...)".

    Args:
        exc: the error.

    Returns:
        One line.
    """
    where = f": {str(exc.filename)!r}" if exc.filename else ""
    hint = _WRITE_HINTS.get(exc.errno or 0, "check the paths given and the disk")
    return f"{exc.strerror or exc}{where} ({hint})"


def write_error(path: str | os.PathLike, exc: OSError, what: str = "file") -> EmissError:
    """The one-line EmissError for an OSError while writing path (what to do included).

    Args:
        path: the file being written.
        exc: the error.
        what: how the message names the file.

    Returns:
        The error to raise.
    """
    reason = exc.strerror or str(exc)
    hint = _WRITE_HINTS.get(exc.errno or 0, "check the path and the disk")
    return EmissError(f"cannot write {what} {str(path)!r}: {reason} ({hint}); nothing was "
                      "written there")


def _write_all(fd: int, data: bytes) -> None:
    """Write data to the open file descriptor fd and close it (tests replace it: a full disk)."""
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write data to path via a temporary file in the same folder and a rename.

    Nothing is half-written: on any failure (disk full, interrupt) the temporary file is removed
    and an existing file at path is unchanged. The path must be new or a regular file (a link,
    device or FIFO would be replaced by the rename).

    Args:
        path: destination.
        data: bytes to write.

    Returns:
        The destination path.

    Raises:
        EmissError: the path is not a regular file, or the folder cannot be created or written
            (commands check with ``check_output_file`` before their work; this is the last line
            of defence).
    """
    path = Path(path)
    kind = special_kind(path)
    if kind is not None:
        raise EmissError(f"cannot write {str(path)!r}: it is {kind}, not a regular file; give "
                         "a regular file or a new path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        check_output_file(path)  # names the reason
        raise write_error(path, exc) from None
    try:
        _write_all(fd, data)
        # mkstemp creates 0600; give the file the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    return path


#: Suffix of the lock file next to an output being produced by a long run (``RESULTS.json.lock``).
LOCK_SUFFIX = ".lock"


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output path (``<output>.lock``)."""
    output = Path(output)
    return output.with_name(output.name + LOCK_SUFFIX)


class OutputLock:
    """Exclusive, non-blocking lock on an output path, held while a run produces it.

    ``fcntl.flock`` on ``<output>.lock``, which holds the owner's pid. The kernel drops the lock
    when its process dies (SIGKILL included), so a lock file left by a dead process never
    blocks: the next run takes it over. Released (and its file removed) by ``release``; folders
    created for it are removed again when they are left empty. Without ``fcntl`` (Windows) it
    does nothing.

    Args:
        output: the output file being produced.
        what: how messages name the output (e.g. "results file").
    """

    def __init__(self, output: str | os.PathLike, what: str = "output") -> None:
        self.output = Path(output)
        self.path = lock_path(output)
        self.what = what
        self._fd: int | None = None
        self._made: list[Path] = []

    def acquire(self) -> OutputLock:
        """Take the lock.

        Returns:
            self.

        Raises:
            EmissError: another live process holds it (its pid named), or it cannot be created.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        missing = []
        q = self.path.parent.absolute()
        while not q.exists() and q != q.parent:
            missing.append(q)
            q = q.parent
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.path, exc, "lock file") from None
        self._made = missing
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                             0o666)
            except OSError as exc:
                self._remove_made()
                raise write_error(self.path, exc, "lock file") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise write_error(self.path, exc, "lock file") from None
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise EmissError(
                    f"{self.what} {str(self.output)!r} is being written by another emiss "
                    f"process (pid {holder}; lock {str(self.path)!r}): wait for it to finish "
                    f"or stop it (kill {holder}), or give another output path") from None
            # the previous holder may have removed the file between our open and flock
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def _remove_made(self) -> None:
        for d in self._made:  # innermost first; a folder that received files stays
            with contextlib.suppress(OSError):
                d.rmdir()
        self._made = []

    def release(self) -> None:
        """Remove the lock file and drop the lock; remove folders made for it if still empty."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
        self._remove_made()

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _finite_or_null(obj: Any) -> Any:
    """obj with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> str:
    """Deterministic, strict JSON text (sorted keys, 2-space indent, trailing newline).

    NaN and infinities (a failed fit's numbers) are written as null: JSON has no such tokens
    (RFC 8259 section 6), and strict readers refuse Python's ``NaN``/``Infinity``; the row's
    status says why a number is missing.
    """
    return json.dumps(_finite_or_null(obj), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write obj as deterministic JSON."""
    return atomic_write_text(path, dumps_json(obj))


def read_json(path: str | os.PathLike, what: str | None = None) -> Any:
    """Read a JSON file: the one JSON reader of emiss.

    Args:
        path: the file.
        what: what messages call the file ("workspace", "patchset", "results", ...). With it,
            every failure (missing, a folder, unreadable, not JSON) is one EmissError naming
            the file; without it a folder is an EmissError and the rest raise as ``open`` and
            ``json.load`` do (OSError, ValueError).

    Returns:
        The parsed JSON.
    """
    if os.path.isdir(path):
        if what is None:
            raise EmissError(f"{str(path)!r} is a folder, not a JSON file")
        raise EmissError(f"{what} file {str(path)!r} is a folder; give the {what} JSON file")
    if what is None:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise EmissError(f"{what} file {str(path)!r} does not exist") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise EmissError(f"{what} file {str(path)!r} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise EmissError(f"{what} file {str(path)!r} cannot be read "
                         f"({exc.strerror or exc})") from None


#: What ``round_sig`` does with NaN and infinities: keep them, write None, or refuse them.
NONFINITE = ("keep", "none", "raise")


def _round_one(v: float, digits: int, flush: bool, nonfinite: str) -> float | None:
    if not math.isfinite(v):
        return None if nonfinite == "none" else v
    if flush:
        return 0.0 if abs(v) < FLUSH_BELOW else float(f"{v:.{digits}g}") + 0.0
    return float(f"{v:.{digits}g}")


def round_sig(values: Any, digits: int, *, flat: bool = False, flush: bool = True,
              nonfinite: str = "keep", error: str = "") -> Any:
    """Round to ``digits`` significant digits for deterministic JSON (the project's one helper).

    Args:
        values: a number (numpy scalars included), None, or an array-like of numbers.
        digits: significant digits kept.
        flat: return a flat list whatever the input's shape (a number gives a 1-element list).
        flush: |x| < FLUSH_BELOW becomes 0 and -0.0 becomes 0.0; False rounds exactly as
            ``float(f"{x:.{digits}g}")`` (tiny numbers and the sign of zero kept).
        nonfinite: what NaN and infinities become (``NONFINITE``): "keep" (themselves),
            "none" (None), "raise" (EmissError ``error``).
        error: message of that error.

    Returns:
        A float (None for None) for a scalar input, else a (nested) list with the input's
        shape, or a flat list.
    """
    if nonfinite not in NONFINITE:
        raise EmissError(f"nonfinite={nonfinite!r}; valid: {', '.join(NONFINITE)}")
    if values is None:
        return None
    arr = np.asarray(values, dtype=float)
    if flat:
        arr = arr.ravel()
    if nonfinite == "raise" and not np.all(np.isfinite(arr)):
        raise EmissError(error or f"cannot round NaN or infinite numbers: {values!r}")
    out = [_round_one(v, digits, flush, nonfinite) for v in arr.ravel().tolist()]
    if arr.ndim == 0:
        return out[0]
    return np.asarray(out).reshape(arr.shape).tolist()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def numeric_mismatches(a: Any, b: Any, rtol: float = STALE_RTOL, path: str = "",
                       scale: float | None = None) -> Iterator[str]:
    """Where two JSON documents differ beyond ``rtol`` (numbers) or at all (everything else).

    Numbers compare relative to the scale of the array they belong to: in a list of numbers
    |x - y| <= rtol * max |list| + FLUSH_BELOW, so floating-point noise of an entry that is 0
    on one machine and 1e-17 on another (a cancellation next to entries of order 1) never
    flips the comparison, while a change of any entry by more than ``rtol`` of its array's
    largest entry is caught. A number outside a list is its own scale. Keys, strings,
    booleans and list lengths must be equal.

    Args:
        a: first document (parsed JSON).
        b: second document.
        rtol: relative tolerance for numbers.
        path: JSON-pointer-like prefix for the messages.
        scale: the scale numbers compare to (set for the entries of a numeric list).

    Yields:
        One line per difference, ``/path: a != b``.
    """
    if not (_is_number(a) and _is_number(b)):
        if isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                yield f"{path or '/'}: keys {sorted(set(a) ^ set(b))} in only one of them"
                return
            for k in a:
                yield from numeric_mismatches(a[k], b[k], rtol, f"{path}/{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                yield f"{path or '/'}: length {len(a)} != {len(b)}"
                return
            numeric = all(_is_number(x) for x in a) and all(_is_number(y) for y in b)
            arr_scale = None
            if numeric and a:
                vals = np.abs(np.asarray([*a, *b], dtype=float))
                arr_scale = float(np.max(vals)) if np.all(np.isfinite(vals)) else None
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                yield from numeric_mismatches(x, y, rtol, f"{path}/{i}", arr_scale)
        elif a != b or type(a) is not type(b):
            yield f"{path or '/'}: {a!r} != {b!r}"
        return
    ref = scale if scale is not None else max(abs(a), abs(b))
    if not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) > rtol * ref + FLUSH_BELOW:
        yield f"{path or '/'}: {a!r} != {b!r}"


def stale_json_files(fresh: dict[str, Any], committed_dir: str | os.PathLike,
                     rtol: float = STALE_RTOL) -> list[str]:
    """Committed JSON files that differ from a fresh build beyond ``rtol`` (or are missing).

    Args:
        fresh: file name (relative to ``committed_dir``) -> freshly built parsed JSON.
        committed_dir: folder of the committed files.
        rtol: relative tolerance (``numeric_mismatches``).

    Returns:
        One message per stale file: its name and the first difference.
    """
    stale = []
    for name, doc in fresh.items():
        path = Path(committed_dir) / name
        if not path.is_file():
            stale.append(f"{name} (missing)")
            continue
        first = next(numeric_mismatches(doc, read_json(path), rtol), None)
        if first is not None:
            stale.append(f"{name} ({first})")
    return stale
