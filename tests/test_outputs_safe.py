"""Outputs never destroy: -o may not be an input of the command, a device, a FIFO or a symbolic
link; files are only replaced by a rename onto a regular file or a new path; two scans on the
same -o do not run at once (a lock naming the first one's pid), and a stale lock of a dead
process does not block.

Each refusal is one line ``emiss: error: ...`` (exit 2) naming the path, before any work, and
leaves every file as it was.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import pytest
import scan_toy as T
from cli_run import run

from emiss.bundles import bundled_dir
from emiss.errors import EmissError
from emiss.io import OutputLock, atomic_write_bytes, check_output_dir, check_output_file

MASSES = [1.2, 1.6]


@pytest.fixture()
def toy(tmp_path):
    """(workspace, two-body patchset, SM patchset) files of the scan toy in tmp_path."""
    return T.write_inputs(tmp_path, MASSES)


@pytest.fixture()
def hta(tmp_path):
    """A copy of the bundled HTA emulation with its sidecar and response."""
    for name in ("belle2_hta_bkgonly.json", "belle2_hta_bkgonly.meta.json",
                 "belle2_hta_response.json"):
        shutil.copy(bundled_dir() / name, tmp_path / name)
    return tmp_path / "belle2_hta_bkgonly.json"


def _no_work(monkeypatch, target: str) -> None:
    mod, _, attr = target.rpartition(".")

    def must_not_run(*a, **k):
        raise AssertionError(f"{target} ran before the output was refused")

    monkeypatch.setattr(importlib.import_module(mod), attr, must_not_run)


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[p.name] = "-> " + os.readlink(p)
        elif p.is_file():
            out[p.name] = p.read_bytes()
        else:
            out[p.name] = "dir" if p.is_dir() else "special"
    return out


def _refused(capsys, args: list[str], *words: str) -> str:
    code, out, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and out == "", (args, err)
    assert len(lines) == 1 and lines[0].startswith("emiss: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_scan_refuses_to_overwrite_its_inputs(toy, tmp_path, monkeypatch, capsys):
    wsf, psf, smf = toy
    _no_work(monkeypatch, "emiss.inference.scan.scan")
    os.link(psf, tmp_path / "hard.json")  # another name of the same file
    before = _snapshot(tmp_path)
    cases = {psf: "ps.json", wsf: "ws.json", smf: "sm.json",
             str(tmp_path / "sub" / ".." / "ps.json"): "ps.json",
             str(tmp_path / "hard.json"): "ps.json"}
    for out, name in cases.items():
        line = _refused(capsys, ["scan", wsf, psf, smf, "-o", out], f"'{out}'", "input")
        assert f"input '{str(tmp_path / name)}'" in line, line
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "sub").exists()


def test_csv_next_to_results_may_not_be_an_input(tmp_path, monkeypatch, capsys):
    ws = T.workspace()
    (tmp_path / "ws.json").write_text(json.dumps(ws))
    (tmp_path / "r.csv").write_text(json.dumps(T.patchset(ws, MASSES)))  # the patchset, as .csv
    _no_work(monkeypatch, "emiss.inference.scan.scan")
    line = _refused(capsys, ["scan", str(tmp_path / "ws.json"), str(tmp_path / "r.csv"), "-o",
                             str(tmp_path / "r.json"), "--csv"], "CSV file", "r.csv", "input")
    assert "r.json" not in line.split("CSV file")[0]


def test_workspace_sidecar_and_response_are_inputs(hta, tmp_path, monkeypatch, capsys):
    ps = Path(__file__).resolve().parents[1] / "patches" / "belle2_hta" / "sm.json"
    _no_work(monkeypatch, "emiss.inference.scan.scan")
    before = _snapshot(tmp_path)
    for name in ("belle2_hta_bkgonly.meta.json", "belle2_hta_response.json"):
        _refused(capsys, ["scan", str(hta), str(ps), "-o", str(tmp_path / name)], name, "input")
    _no_work(monkeypatch, "emiss.patches.build.generate")
    _refused(capsys, ["patchset", str(hta), "--scenario", "twobody-scalar", "--masses", "2.1",
                      "-o", str(hta)], "PatchSet file", "input")
    _no_work(monkeypatch, "emiss.bundles.load_bundle")
    _refused(capsys, ["wet", str(hta), "-o", str(tmp_path / "belle2_hta_bkgonly.meta.json")],
             "input")
    assert _snapshot(tmp_path) == before


def test_patchset_folder_may_not_overwrite_the_workspace(hta, tmp_path, monkeypatch, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("patchsets:\n  - name: belle2_hta_bkgonly\n    scenario: twobody-scalar\n"
                    "    masses: [2.1]\n")
    _no_work(monkeypatch, "emiss.patches.build.generate")
    before = _snapshot(tmp_path)
    _refused(capsys, ["patchset", str(hta), "--grid", str(grid), "-o", str(tmp_path)],
             "belle2_hta_bkgonly.json", "input")
    assert _snapshot(tmp_path) == before


def test_compare_refuses_to_overwrite_its_results(tmp_path, monkeypatch, capsys):
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"workspace_digest": "w", "results": []}))
    _no_work(monkeypatch, "emiss.inference.compare.compare")
    _refused(capsys, ["compare", str(res), "-o", str(res)], "comparison file", "input")
    assert json.loads(res.read_text()) == {"workspace_digest": "w", "results": []}


def test_devices_fifos_and_links_are_refused(toy, tmp_path, monkeypatch, capsys):
    wsf, psf, _ = toy
    _no_work(monkeypatch, "emiss.inference.scan.scan")
    target = tmp_path / "target.json"
    target.write_text("keep me")
    (tmp_path / "link.json").symlink_to(target)
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    os.mkfifo(tmp_path / "fifo.json")
    cases = {"/dev/null": "character device", "/dev/full": "character device",
             str(tmp_path / "fifo.json"): "FIFO", str(tmp_path / "link.json"): "symbolic link",
             str(tmp_path / "dangling.json"): "symbolic link"}
    before = _snapshot(tmp_path)
    for out, kind in cases.items():
        if not os.path.exists(out) and not os.path.islink(out):
            continue
        _refused(capsys, ["scan", wsf, psf, "-o", out], f"'{out}'", kind)
    assert _snapshot(tmp_path) == before
    assert Path("/dev/null").is_char_device()
    assert target.read_text() == "keep me" and not (tmp_path / "nowhere.json").exists()


def test_helpers_check_links_devices_and_inputs(tmp_path):
    inp = tmp_path / "in.json"
    inp.write_text("{}")
    (tmp_path / "link.json").symlink_to(inp)
    with pytest.raises(EmissError, match="symbolic link"):
        check_output_file(tmp_path / "link.json")
    with pytest.raises(EmissError, match="input"):
        check_output_file(inp, inputs=[None, tmp_path / "other.json", inp])
    check_output_file(tmp_path / "new.json", inputs=[inp])  # a new path is fine
    # a folder output: the files it will write are checked like -o files
    with pytest.raises(EmissError, match="'link.json'.*symbolic link"):
        check_output_dir(tmp_path, writes=["link.json"])
    with pytest.raises(EmissError, match="input"):
        check_output_dir(tmp_path, inputs=[inp], writes=["in.json"])
    with pytest.raises(EmissError, match="character device, not a folder"):
        check_output_dir("/dev/null")
    check_output_dir(tmp_path, inputs=[inp], writes=["posterior.json"])
    # the write itself refuses what it would replace (the last line of defence)
    with pytest.raises(EmissError, match="symbolic link"):
        atomic_write_bytes(tmp_path / "link.json", b"x")
    assert inp.read_text() == "{}" and (tmp_path / "link.json").is_symlink()


def test_publish_refuses_a_linked_output_folder(hta, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "pub").symlink_to(real)
    ps = Path(__file__).resolve().parents[1] / "patches" / "belle2_hta" / "sm.json"
    _refused(capsys, ["publish", str(hta), str(ps), "-o", str(tmp_path / "pub")],
             "symbolic link")
    assert (tmp_path / "pub").is_symlink() and not any(real.iterdir())


# ----------------------------------------------------------------------------- the lock
def test_second_scan_on_the_same_output_refuses(toy, tmp_path, monkeypatch, capsys):
    wsf, psf, _ = toy
    out = tmp_path / "r.json"
    journal = tmp_path / "r.json.journal.jsonl"
    journal.write_text("progress of the first scan\n")
    _no_work(monkeypatch, "emiss.inference.scan.make_executor")
    with OutputLock(out, "results file"):  # the first scan, still running
        for extra in ([], ["--resume"]):
            _refused(capsys, ["scan", wsf, psf, "-o", str(out), *extra],
                     "another emiss process", f"pid {os.getpid()}", "r.json.lock")
        assert journal.read_text() == "progress of the first scan\n"  # untouched
    assert not (tmp_path / "r.json.lock").exists()


def test_a_stale_lock_does_not_block(toy, tmp_path, capsys):
    wsf, psf, _ = toy
    out = tmp_path / "r.json"
    (tmp_path / "r.json.lock").write_text("999999999\n")  # left by a killed scan
    code, _, err = run(capsys, "scan", wsf, psf, "-o", str(out), "-j", "1", "-q", "--engine",
                       T.ENGINE)
    assert code == 0, err
    assert out.is_file() and not (tmp_path / "r.json.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ps.json", "r.json", "sm.json",
                                                           "ws.json"]


def test_lock_is_exclusive_and_removes_folders_it_made(tmp_path):
    out = tmp_path / "new" / "deeper" / "r.json"
    first = OutputLock(out).acquire()
    assert (tmp_path / "new" / "deeper" / "r.json.lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(EmissError, match=f"pid {os.getpid()}"):
        OutputLock(out).acquire()
    first.release()
    assert not (tmp_path / "new").exists()  # nothing written: the folders go too
    with OutputLock(out):
        pass
    assert not (tmp_path / "new").exists()
