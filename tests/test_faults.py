"""Faults are one line: a full disk, a folder where a file was expected, a malformed sidecar or
resume journal, an archive whose members collide, a malformed limit band, a file that is not a
pyhf workspace. Each is ``emiss: error: ...`` on one line saying what to do (exit 2), without a
traceback, and nothing is left half-written (no temporary file, no empty journal, no lock).
"""

from __future__ import annotations

import errno
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import scan_toy as T
from cli_run import run

from emiss import io as eio
from emiss.bundles import belle2_fetch, bundled_dir
from emiss.errors import EmissError
from emiss.inference import scan as scan_mod
from emiss.inference.results import Journal

MASSES = [1.2, 1.5, 1.8]
SCAN = ["--jobs", "1", "--chunk-size", "1", "--engine", T.ENGINE, "-q"]


def _one_line(capsys, args: list[str], *words: str) -> str:
    code, _, err = run(capsys, *args)
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("WARNING ")]
    assert code == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("emiss: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture()
def toy(tmp_path):
    return T.write_inputs(tmp_path, MASSES)


def _full_disk(monkeypatch, after: int = 0) -> list[int]:
    """Make atomic writes fail with ENOSPC half-way (after ``after`` successful writes)."""
    calls = [0]
    real = eio._write_all

    def write(fd: int, data: bytes) -> None:
        calls[0] += 1
        if calls[0] <= after:
            return real(fd, data)
        real(fd, data[: len(data) // 2])  # half of it reaches the temporary file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(eio, "_write_all", write)
    return calls


# ----------------------------------------------------------------------------- disk full
def test_disk_full_writing_results_leaves_no_temp_file(toy, tmp_path, monkeypatch, capsys):
    wsf, psf, _ = toy
    out = tmp_path / "r.json"
    _full_disk(monkeypatch)
    line = _one_line(capsys, ["scan", wsf, psf, "-o", str(out), *SCAN],
                     "cannot write", "'" + str(out) + "'", "No space left on device",
                     "disk is full", "--resume")
    assert "journal" in line
    assert not out.exists() and not list(tmp_path.glob(".r.json.*"))  # no temporary file
    assert not (tmp_path / "r.json.lock").exists()
    monkeypatch.undo()  # space again: the journal holds every row, --resume writes the file
    code, _, err = run(capsys, "scan", wsf, psf, "-o", str(out), "--resume", *SCAN)
    assert code == 0, err
    assert len(json.loads(out.read_text())["results"]) == len(MASSES)


def test_disk_full_keeps_an_existing_output(tmp_path, monkeypatch):
    old = tmp_path / "old.json"
    old.write_text('{"old": true}\n')
    _full_disk(monkeypatch)
    with pytest.raises(EmissError, match="No space left on device.*nothing was written"):
        eio.write_json(old, {"new": 1})
    assert old.read_text() == '{"old": true}\n'
    assert _files(tmp_path) == ["old.json"]


def test_disk_full_while_journaling(toy, tmp_path, monkeypatch, capsys):
    wsf, psf, _ = toy
    out = tmp_path / "r.json"
    real = Journal._append
    n = [0]

    def append(self, rec):
        n[0] += 1
        if n[0] >= 3:  # the header and the first chunk made it
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, rec)

    monkeypatch.setattr(Journal, "_append", append)
    _one_line(capsys, ["scan", wsf, psf, "-o", str(out), *SCAN],
              "cannot append to the scan journal", "No space left on device", "--resume")
    header, chunks, _ = Journal.read(tmp_path / "r.json.journal.jsonl")
    assert header is not None and len(chunks) == 1
    assert not out.exists() and not (tmp_path / "r.json.lock").exists()


def test_disk_full_while_installing_a_fetched_record(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    files = []
    for name in ("a.json", "b.json"):
        (src / name).write_text(name)
        files.append(src / name)
    real = shutil.copyfile

    def copy(a, b, **kw):
        if Path(b).name == ".b.json.tmp":
            raise OSError(errno.ENOSPC, "No space left on device", str(b))
        return real(a, b, **kw)

    monkeypatch.setattr(belle2_fetch.shutil, "copyfile", copy)
    dest = tmp_path / "dest"
    with pytest.raises(EmissError, match="No space left on device.*nothing was written"):
        belle2_fetch._install(files, dest)
    assert not dest.exists()  # the temporary copies and the new folder are gone


# ----------------------------------------------------------------------------- folders
def test_folder_given_for_a_file(toy, tmp_path, capsys):
    wsf, psf, _ = toy
    (tmp_path / "adir").mkdir()
    adir = str(tmp_path / "adir")
    _one_line(capsys, ["scan", adir, psf, "-o", str(tmp_path / "r.json")], "'" + adir + "'",
              "folder")
    with pytest.raises(EmissError, match="patchset file .* is a folder"):
        scan_mod.load_json_file(adir, "patchset")
    (tmp_path / "r.json.journal.jsonl").mkdir()
    for extra in ([], ["--resume"]):
        _one_line(capsys, ["scan", wsf, psf, "-o", str(tmp_path / "r.json"), *extra],
                  "r.json.journal.jsonl", "is a folder", "move it away")
    with pytest.raises(EmissError, match="is a folder"):
        eio.read_json(adir)
    assert _files(tmp_path) == ["adir", "ps.json", "r.json.journal.jsonl", "sm.json", "ws.json"]


@pytest.fixture()
def hta(tmp_path):
    """A copy of the bundled HTA emulation with its sidecar and response."""
    for name in ("belle2_hta_bkgonly.json", "belle2_hta_bkgonly.meta.json",
                 "belle2_hta_response.json"):
        shutil.copy(bundled_dir() / name, tmp_path / name)
    return tmp_path / "belle2_hta_bkgonly.json"


@pytest.mark.parametrize("sidecar", ["folder", "not json", "a list"])
def test_malformed_sidecar(sidecar, hta, tmp_path, capsys):
    side = tmp_path / "belle2_hta_bkgonly.meta.json"
    side.unlink()
    if sidecar == "folder":
        side.mkdir()
    else:
        side.write_text("{nope" if sidecar == "not json" else "[1, 2]")
    ps = str(Path(__file__).resolve().parents[1] / "patches" / "belle2_hta" / "sm.json")
    before = _files(tmp_path)
    for args in (["scan", str(hta), ps, "-o", str(tmp_path / "r.json"), "-q"],
                 ["measure", str(hta), "-q"]):
        _one_line(capsys, args, "sidecar", "belle2_hta_bkgonly.meta.json")
    assert _files(tmp_path) == before


# ----------------------------------------------------------------------------- journal
@pytest.mark.parametrize("line", [
    "[1, 2]",
    '"a string"',
    '{"kind": "chunk", "chunk": "p0c0", "rows": 7}',
    '{"kind": "chunk", "chunk": "p0c0", "rows": [[[0, "mX_1p200"]]]}',
    '{"kind": "chunk", "chunk": "p0c0", "rows": [[["0", "mX_1p200"], {}]]}',
    '{"kind": "chunk", "chunk": "p0c0", "rows": [[[0, "mX_1p200"], [1]]]}',
])
def test_malformed_resume_journal(line, toy, tmp_path, capsys):
    wsf, psf, _ = toy
    out = tmp_path / "r.json"
    journal = tmp_path / "r.json.journal.jsonl"
    text = json.dumps({"kind": "header", "options": {}}) + "\n" + line + "\n"
    journal.write_text(text)
    _one_line(capsys, ["scan", wsf, psf, "-o", str(out), "--resume", *SCAN],
              "journal", "line 2", "not a record of an emiss scan journal", "without --resume")
    assert journal.read_text() == text and not out.exists()
    assert not (tmp_path / "r.json.lock").exists()


# ----------------------------------------------------------------------------- leftovers
def test_failing_executor_leaves_nothing(toy, tmp_path, monkeypatch, capsys):
    wsf, psf, _ = toy

    def unreachable(*a, **k):
        raise EmissError("cannot connect to dask scheduler 'tcp://127.0.0.1:1'")

    monkeypatch.setattr(scan_mod, "make_executor", unreachable)
    out = tmp_path / "new" / "r.json"
    _one_line(capsys, ["scan", wsf, psf, "-o", str(out), "-q"], "dask scheduler")
    assert not (tmp_path / "new").exists()  # no journal, no lock, no folder
    with pytest.raises(EmissError, match="jobs"):
        scan_mod.scan(wsf, [psf], out, jobs=0)
    assert not (tmp_path / "new").exists()


def test_not_a_workspace_is_said_so(toy, tmp_path, capsys):
    wsf, psf, _ = toy
    (tmp_path / "other.json").write_text('{"a": 1}')
    for ws, kind in ((str(tmp_path / "other.json"), "JSON without the lists"),
                     (psf, "a pyhf PatchSet")):
        line = _one_line(capsys, ["scan", ws, psf, "-o", str(tmp_path / "r.json")],
                         "is not a pyhf workspace", kind)
        assert "digest" not in line and "sha256" not in line
    with pytest.raises(EmissError, match="not a pyhf workspace"):
        scan_mod.check_patchsets({"results": []}, [json.loads(Path(psf).read_text())])


# ----------------------------------------------------------------------------- archives
def _tar(members: dict[str, bytes], path: Path, mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return path


def test_nested_archive_next_to_a_member_of_its_folder_name(tmp_path):
    inner = _tar({"lik.json": b"{}"}, tmp_path / "inner.tar.gz", "w:gz").read_bytes()
    outer = _tar({"res/x.tar.gz": inner, "res/x.tar.gz.d": b"in the way"}, tmp_path / "o.tar")
    dest = tmp_path / "u"
    dest.mkdir()
    assert belle2_fetch._unpack(outer, dest)
    belle2_fetch._unpack_nested(dest, name="the archive")
    assert (dest / "res" / "x.tar.gz.d").read_bytes() == b"in the way"
    assert (dest / "res" / "x.tar.gz.d-2" / "lik.json").read_bytes() == b"{}"


def test_colliding_members_are_one_line(tmp_path):
    bad = _tar({"a": b"file", "a/b": b"under a file"}, tmp_path / "bad.tar")
    dest = tmp_path / "u"
    dest.mkdir()
    with pytest.raises(EmissError, match=r"^https://x/original: cannot unpack it at member "
                                         r"'a.*collide"):
        belle2_fetch._unpack(bad, dest, "https://x/original")


def test_fetch_errors_name_the_archive_not_temporary_paths(tmp_path, capsys):
    from belle2_data import require_data
    from test_belle2_fetch import _mirror

    url = _mirror(require_data(), tmp_path / "mirror", alter=True)
    line = _one_line(capsys, ["data", "fetch", "belle2-knunu", "-o", str(tmp_path / "d"),
                              "--mirror", url], "member 'resources/table_1.csv' of " + url,
                     "sha256")
    assert "emiss-fetch-" not in line and "/tmp" not in line.replace(url, "")
    assert not (tmp_path / "d").exists()
    msg = belle2_fetch._public(
        f"'{tmp_path}/u/res/lik.zip.d/a/l.json' and '{tmp_path}/s/combined_likelihood.json' "
        f"in '{tmp_path}/u'", tmp_path / "u", "URL", tmp_path / "s")
    assert msg == ("member 'res/lik.zip:a/l.json' of URL and 'combined_likelihood.json' "
                   "(from URL) in the archive URL")


# ----------------------------------------------------------------------------- limit band
@pytest.mark.parametrize("band", [[1e-6, 2e-6], "oops", None, [1e-6, "x", 1, 2, 3]])
def test_plot_limits_on_a_malformed_band(band, toy, tmp_path, capsys):
    wsf, psf, _ = toy
    res = tmp_path / "r.json"
    code, _, err = run(capsys, "scan", wsf, psf, "-o", str(res), *SCAN)
    assert code == 0, err
    doc = json.loads(res.read_text())
    if band is None:
        del doc["results"][1]["br_limit_exp"]
    else:
        doc["results"][1]["br_limit_exp"] = band
    res.write_text(json.dumps(doc))
    _one_line(capsys, ["plot", "limits", str(res), "-o", str(tmp_path / "plots")],
              "results row 'mX_1p500'", "br_limit_exp", "list of 5 numbers", "rerun the scan")
    assert not (tmp_path / "plots").exists() or not any((tmp_path / "plots").iterdir())


def test_a_damaged_journal_is_never_resumed_from(tmp_path, capsys):
    """A complete line that is not JSON is damage (a kill only cuts the last line short)."""
    from cli_run import run

    ps = tmp_path / "ps.json"
    code, _, err = run(capsys, "patchset", "belle2_hta_bkgonly", "--scenario", "twobody-scalar",
                       "--masses", "1,2", "--ff-samples", "0", "-o", str(ps))
    assert code == 0, err
    journal = tmp_path / "r.json.journal.jsonl"
    journal.write_text("garbage, not json\n")
    code, _, err = run(capsys, "scan", "belle2_hta_bkgonly", str(ps), "-o",
                       str(tmp_path / "r.json"), "--resume")
    assert code == 2 and "line 1 is not JSON" in err and "without --resume" in err
    assert journal.read_text() == "garbage, not json\n" and not (tmp_path / "r.json").exists()
