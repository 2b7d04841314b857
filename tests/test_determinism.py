"""Generated files: byte-identical across runs on one machine, numerically stable across machines.

The committed workspaces/ and patches/ are checked against rebuilds in clean processes
(``--check`` of the build scripts compares numbers to ``emiss.io.STALE_RTOL``); two rebuilds on
this machine must give the same bytes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emiss.errors import EmissError
from emiss.io import FLUSH_BELOW, STALE_RTOL, numeric_mismatches, round_sig

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_numeric_comparison_tolerates_noise_and_catches_changes():
    doc = {"a": [1.0, 2.5e-246, 0.0], "name": "x", "n": 3}
    noisy = {"a": [1.0 + 1e-11, 2.5e-246 * (1 + 1e-11), 0.0], "name": "x", "n": 3}
    assert not list(numeric_mismatches(doc, noisy))
    changed = {"a": [1.0 + 1e-5, 2.5e-246, 0.0], "name": "x", "n": 3}
    assert list(numeric_mismatches(doc, changed)) == ["/a/0: 1.0 != 1.00001"]
    assert list(numeric_mismatches(doc, {**doc, "name": "y"}))
    assert list(numeric_mismatches(doc, {**doc, "a": [1.0, 0.0]}))
    assert list(numeric_mismatches(doc, {"a": doc["a"], "name": "x"}))
    assert list(numeric_mismatches({"b": True}, {"b": 1}))
    assert STALE_RTOL < 1e-5  # a real change (here 1e-5) is never inside the tolerance


def test_rounding_flushes_tails_and_keeps_digits():
    assert round_sig([1.23456789012345, -3e-300, FLUSH_BELOW * 2], 8) == \
        [1.2345679, 0.0, float(f"{FLUSH_BELOW * 2:.8g}")]
    assert round_sig(-0.0, 8) == 0.0 and str(round_sig(-0.0, 8)) == "0.0"
    assert round_sig([[1.0, 2.0]], 3) == [[1.0, 2.0]]


def test_rounding_options_of_the_one_helper():
    # flush=False is plain "%.{n}g": the sign of zero and tiny numbers survive
    assert math.copysign(1.0, round_sig(-0.0, 6, flush=False)) == -1.0
    assert round_sig(3.3e-31, 6, flush=False) == 3.3e-31 and round_sig(3.3e-31, 6) == 0.0
    assert round_sig(2.0 / 3.0, 6, flush=False) == 0.666667
    assert round_sig(np.float64(1234567.0), 4) == 1235000.0
    assert round_sig(None, 6) is None
    assert round_sig([1.0, float("nan")], 3, nonfinite="none") == [1.0, None]
    assert math.isinf(round_sig(float("inf"), 3))
    with pytest.raises(EmissError, match="bad yields"):
        round_sig([1.0, float("inf")], 3, nonfinite="raise", error="bad yields")
    assert round_sig([[1.0, 2.0]], 3, flat=True) == [1.0, 2.0]
    assert round_sig(5.0, 3, flat=True) == [5.0]
    with pytest.raises(EmissError, match="nonfinite"):
        round_sig(1.0, 3, nonfinite="drop")


@pytest.mark.parametrize("script", ["build_workspaces.py", "build_kstar_workspaces.py"])
def test_rebuild_in_clean_processes(script, tmp_path):
    """Two clean-process rebuilds: same bytes; the committed files equal them numerically."""
    out_flag = "--out" if script == "build_workspaces.py" else "--output"
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        r = _run(str(SCRIPTS / script), out_flag, str(out))
        assert r.returncode == 0, r.stdout + r.stderr
    names = sorted(p.name for p in first.iterdir())
    assert names and names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    r = _run(str(SCRIPTS / script), "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "up to date" in r.stdout
