"""Kill a scan mid-way, resume it, and get the bytes of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scan_toy as T

from emiss.cli import main
from emiss.inference import executors
from emiss.inference.results import Journal

MASSES = [float(m) for m in np.round(np.linspace(1.0, 2.05, 8), 4)]


def _scan_args(wsf, psf, smf, out, *extra):
    return ["scan", wsf, psf, smf, "-o", str(out), "--jobs", "1", "--chunk-size", "2",
            "--engine", T.ENGINE, "-q", *extra]


def _expect_error(capsys, argv):
    """The CLI turns the EmissError into one line on stderr and exit code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as ex:
        main(argv)
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("emiss: error: cannot resume") and err.count("\n") == 1


def test_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch, capsys):
    wsf, psf, smf = T.write_inputs(tmp_path, MASSES)
    out = tmp_path / "killed.json"
    journal = tmp_path / "killed.json.journal.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    # the CLI in a subprocess, each chunk padded by 0.3 s so the kill lands mid-scan however fast
    # the engine is
    code = ("import sys, time; from emiss.inference import executors as e; f = e.analyse_chunk\n"
            "def slow(*a):\n    time.sleep(0.3)\n    return f(*a)\n"
            "e.analyse_chunk = slow\nfrom emiss.cli import main\nmain(sys.argv[1:])\n")
    proc = subprocess.Popen([sys.executable, "-c", code, *_scan_args(wsf, psf, smf, out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_text().count("\n") >= 3:  # header + 2 chunks
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"scan ended before the kill: {proc.stderr.read()[-500:]!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    header, chunks, _ = Journal.read(journal)
    done = {tuple(k) for rec in chunks for k, _ in rec["rows"]}
    assert header is not None and 4 <= len(done) < len(MASSES) + 1
    # a kill mid-write leaves a partial line: it must be ignored
    with open(journal, "a") as fh:
        fh.write('{"kind": "chunk", "chunk": "p0c9", "rows": [[[0, "mX_')

    # resuming with different numbers-changing options is refused
    _expect_error(capsys, _scan_args(wsf, psf, smf, out, "--resume", "--cl", "0.9"))

    analysed = []
    real = executors.analyse_chunk

    def spy(spec, options, items):
        analysed.extend(k for k, _ in items)
        return real(spec, options, items)

    monkeypatch.setattr(executors, "analyse_chunk", spy)
    main(_scan_args(wsf, psf, smf, out, "--resume"))
    assert not journal.exists()
    assert not done & {tuple(k) for k in analysed}, "resume recomputed finished hypotheses"
    assert len(analysed) == len(MASSES) + 1 - len(done)

    ref = tmp_path / "ref.json"
    main(_scan_args(wsf, psf, smf, ref))
    assert out.read_bytes() == ref.read_bytes()
    rows = json.loads(out.read_text())["results"]
    assert [r["name"] for r in rows][-1] == "sm" and len(rows) == len(MASSES) + 1
    assert all("time" not in k for r in rows for k in r)


def test_resume_refuses_other_patchset(tmp_path, capsys):
    wsf, psf, smf = T.write_inputs(tmp_path, [1.3, 1.5])
    out = tmp_path / "r.json"
    ws = json.loads(open(wsf).read())
    j = Journal(tmp_path / "r.json.journal.jsonl")
    j.start({"workspace_digest": "0" * 64, "patchset_digests": [], "names": None, "options": {}})
    j.close()
    _expect_error(capsys, _scan_args(wsf, psf, smf, out, "--resume"))
    assert ws  # inputs untouched
    assert not out.exists()
