"""Small file helpers shared by every stage: atomic writes, output checks, deterministic JSON."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emiss.errors import EmissError

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


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check, before any work, that a file can be written at path (nothing is created).

    The target must not be an existing folder; its folder must exist or be creatable (the
    nearest existing ancestor is a folder that accepts new files: not a file, not /proc, not
    read-only).

    Args:
        path: the file to be written.
        what: how the message names it (e.g. "results file").

    Returns:
        The path.

    Raises:
        EmissError: one line naming the path and the reason.
    """
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise EmissError(f"cannot write {what} {str(path)!r}: not a file name")
    if p.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: it is an existing folder; "
                         "give a file name")
    base = _nearest_existing(p.absolute().parent)
    if not base.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: {str(base)!r} is a file, "
                         "not a folder")
    _probe_writable(base, p, what)
    return p


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Check, before any work, that files can be written into the folder path (none created).

    The folder must be an existing folder or creatable (the nearest existing ancestor is a
    folder that accepts new files).

    Args:
        path: the folder.
        what: how the message names it.

    Returns:
        The path.

    Raises:
        EmissError: one line naming the path and the reason.
    """
    p = Path(path)
    if str(path) == "":
        raise EmissError(f"cannot write {what} {str(path)!r}: empty folder name")
    if p.exists() and not p.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: it is an existing file, "
                         "not a folder")
    base = _nearest_existing(p.absolute())
    if not base.is_dir():
        raise EmissError(f"cannot write {what} {str(path)!r}: {str(base)!r} is a file, "
                         "not a folder")
    _probe_writable(base, p, what)
    return p


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write data to path via a temporary file in the same folder and a rename.

    Args:
        path: destination.
        data: bytes to write.

    Returns:
        The destination path.

    Raises:
        EmissError: the folder cannot be created or written (commands check with
            ``check_output_file`` before their work; this is the last line of defence).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        check_output_file(path)  # names the reason
        raise
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; give the file the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write obj as deterministic JSON."""
    return atomic_write_text(path, dumps_json(obj))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def round_sig(values: Any, digits: int) -> Any:
    """Round to ``digits`` significant digits for deterministic JSON; |x| < FLUSH_BELOW -> 0.

    Args:
        values: a number or an array-like of finite numbers.
        digits: significant digits kept.

    Returns:
        A float for a scalar input, else a (nested) list of floats with the input's shape.
    """
    arr = np.asarray(values, dtype=float)
    flat = [0.0 if abs(v) < FLUSH_BELOW else float(f"{v:.{digits}g}") + 0.0
            for v in arr.ravel().tolist()]
    if arr.ndim == 0:
        return flat[0]
    return np.asarray(flat).reshape(arr.shape).tolist()


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
