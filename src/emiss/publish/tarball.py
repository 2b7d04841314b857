"""Byte-reproducible ``.tar.gz`` archives.

Members are added in sorted order with fixed metadata (mtime, uid/gid 0, empty user/group names,
modes 0644/0755) in GNU tar format, and the gzip header carries mtime 0 and no file name, so the
same files always give the same archive bytes.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
from pathlib import Path

from emiss.io import atomic_write_bytes

log = logging.getLogger(__name__)

#: Fixed modification time of every member (the Unix epoch).
FIXED_MTIME = 0


def _info(name: str, *, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = 0 if is_dir else size
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tar_gz_bytes(files: dict[str, bytes], top: str | None = None) -> bytes:
    """A deterministic gzipped tar of in-memory files.

    Args:
        files: archive member name (relative, ``/``-separated) → content.
        top: optional top-level directory that holds every member.

    Returns:
        The ``.tar.gz`` bytes.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs: set[str] = set()
        names = sorted(files)
        for name in names:
            parts = ((top + "/") if top else "") + name
            segs = parts.split("/")[:-1]
            for k in range(1, len(segs) + 1):
                dirs.add("/".join(segs[:k]))
        for d in sorted(dirs):
            tar.addfile(_info(d, is_dir=True))
        for name in names:
            data = files[name]
            arc = f"{top}/{name}" if top else name
            tar.addfile(_info(arc, is_dir=False, size=len(data)), io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(buf.getvalue())
    return out.getvalue()


def write_tar_gz(path: str | Path, src_dir: str | Path, top: str | None = None) -> Path:
    """Pack every regular file under src_dir into a deterministic ``.tar.gz`` (atomic write).

    Args:
        path: destination archive.
        src_dir: directory whose files (recursively) become the members.
        top: optional top-level directory name inside the archive.

    Returns:
        The archive path.
    """
    src = Path(src_dir)
    files = {
        p.relative_to(src).as_posix(): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()
    }
    log.debug("packing %d files from %s into %s", len(files), src, path)
    out = atomic_write_bytes(path, tar_gz_bytes(files, top=top))
    out.chmod(0o644)  # mkstemp creates 0600; an archive to share is world-readable
    return out
