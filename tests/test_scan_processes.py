"""A scan's processes clean up: workers die with their parent (SIGKILL included), SIGINT and
SIGTERM stop every worker within seconds and leave a journal that ``--resume`` completes to the
bytes of an uninterrupted run, and ``--jobs`` is capped at the cores.

The CLI runs in a subprocess whose chunks are padded by a sleep (60 s for the chunks not named
in $FAST), so a worker is provably in the middle of a long chunk when the parent is signalled:
a worker that waited for its chunk, or for its next one, would still be alive.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scan_toy as T

from emiss.cli import main
from emiss.inference import executors

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs /proc to find worker processes")

MASSES = [float(m) for m in np.round(np.linspace(1.0, 2.0, 6), 4)]
#: the CLI with every chunk padded: 60 s unless its first patch is named in $FAST
SLOW_CLI = (
    "import os, sys, time\n"
    "from emiss.inference import executors as e\n"
    "real = e.analyse_chunk\n"
    "fast = set(os.environ.get('FAST', '').split(','))\n"
    "def slow(spec, options, items):\n"
    "    time.sleep(0.0 if items[0][0][1] in fast else 60.0)\n"
    "    return real(spec, options, items)\n"
    "e.analyse_chunk = slow\n"
    "from emiss.cli import main\n"
    "main(sys.argv[1:])\n")


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            info = _ppid_and_state(int(d.name))
            if info is not None and info[0] == pid and info[1] != "Z":
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    info = _ppid_and_state(pid)
    return info is not None and info[1] != "Z"  # a zombie is dead, waiting to be reaped


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _start(tmp_path: Path, out: Path, fast: list[str], *extra: str) -> subprocess.Popen:
    wsf, psf, _ = T.write_inputs(tmp_path, MASSES)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), FAST=",".join(fast))
    args = ["scan", wsf, psf, "-o", str(out), "--jobs", "2", "--chunk-size", "1",
            "--engine", T.ENGINE, "-q", *extra]
    return subprocess.Popen([sys.executable, "-c", SLOW_CLI, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _workers(proc: subprocess.Popen) -> list[int]:
    """The scan's two worker processes, once both run."""
    _wait_for(lambda: len(_children(proc.pid)) >= 2 or proc.poll() is not None, 30,
              "two worker processes")
    assert proc.poll() is None, proc.stderr.read()[-800:]
    time.sleep(0.5)  # let them start their (60 s) chunks
    return _children(proc.pid)


def _names(n: int) -> list[str]:
    return ["mX_" + f"{m:.3f}".replace(".", "p") for m in MASSES[:n]]


def test_workers_die_with_a_killed_parent(tmp_path):
    out = tmp_path / "r.json"
    proc = _start(tmp_path, out, [])
    try:
        workers = _workers(proc)
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _wait_for(lambda: not any(_alive(w) for w in workers), 5, "orphaned workers to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_stops_the_scan_and_its_workers(tmp_path):
    out = tmp_path / "r.json"
    proc = _start(tmp_path, out, [])
    try:
        workers = _workers(proc)
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        assert time.time() - t0 < 8
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().strip().splitlines()
    assert code == 128 + signal.SIGTERM
    assert err[-1].startswith("emiss: interrupted by SIGTERM: 0 of 6 hypotheses are in the "
                              "journal") and "--resume" in err[-1], err
    assert not any("Traceback" in line for line in err), err
    _wait_for(lambda: not any(_alive(w) for w in workers), 5, "workers to exit")
    assert (tmp_path / "r.json.journal.jsonl").is_file()
    assert not (tmp_path / "r.json.lock").exists() and not out.exists()


def test_sigint_stops_within_seconds_and_resume_equals_uninterrupted(tmp_path, capsys):
    out = tmp_path / "r.json"
    journal = tmp_path / "r.json.journal.jsonl"
    proc = _start(tmp_path, out, _names(2))
    try:
        workers = _workers(proc)
        _wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 3, 30,
                  "two chunks in the journal")  # header + the 2 fast chunks
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
        assert time.time() - t0 < 8  # the running chunks would take 60 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().strip().splitlines()
    assert code == 128 + signal.SIGINT
    assert err[-1].startswith("emiss: interrupted by SIGINT: ") and "--resume" in err[-1], err
    _wait_for(lambda: not any(_alive(w) for w in workers), 5, "workers to exit")
    assert journal.is_file() and not out.exists()

    wsf, psf = str(tmp_path / "ws.json"), str(tmp_path / "ps.json")
    common = ["--chunk-size", "1", "--engine", T.ENGINE, "-q", "--jobs", "1"]
    main(["scan", wsf, psf, "-o", str(out), "--resume", *common])
    ref = tmp_path / "ref.json"
    main(["scan", wsf, psf, "-o", str(ref), *common])
    assert out.read_bytes() == ref.read_bytes()
    assert len(json.loads(out.read_text())["results"]) == len(MASSES)
    assert not journal.exists() and not (tmp_path / "r.json.lock").exists()
    capsys.readouterr()


def test_jobs_are_capped_at_the_cores(monkeypatch, caplog):
    monkeypatch.setattr(executors, "available_cores", lambda: 2)
    with caplog.at_level(logging.WARNING, logger="emiss.inference.executors"):
        ex = executors.make_executor("local", {}, {}, jobs=64)
    try:
        assert isinstance(ex, executors.LocalExecutor) and ex.jobs == 2
    finally:
        ex.close()
    assert "--jobs 64 capped at 2" in caplog.text
    monkeypatch.setattr(executors, "available_cores", lambda: 1)
    assert isinstance(executors.make_executor("local", {}, {}, jobs=8),
                      executors.SerialExecutor)


def test_available_cores_follows_the_affinity():
    want = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert executors.available_cores() == want >= 1
