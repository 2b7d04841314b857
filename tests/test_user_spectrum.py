"""A hypothesis the user brings (`emiss patchset WS --spectrum FILE`, or a Python callable)."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from cli_run import run

import emiss.patches as P
from emiss.bundles import load_bundle
from emiss.errors import EmissError
from emiss.io import numeric_mismatches, read_json
from emiss.physics import user as U
from emiss.physics.scenarios import get_scenario


def _tabulate(tmp_path, n: int = 3001):
    """A built-in hypothesis (a scalar pair, m = 0.5 GeV) written as a user's table."""
    tmp_path.mkdir(exist_ok=True)
    s = get_scenario("threebody-scalar").spectrum("B+->K+", mass=0.5)
    q2 = np.linspace(s.q2_min, s.q2_max, n)
    path = tmp_path / "pair.csv"
    np.savetxt(path, np.column_stack([q2, s.dBdq2(q2)]), delimiter=",",
               header="q2 [GeV^2], dB/dq2 [GeV^-2]")
    return path, s


def _signal(patch: dict) -> list[dict]:
    return [op["value"] for op in patch["patch"] if op["value"].get("name") == "signal"]


def test_a_tabulated_builtin_gives_the_builtin_patch(tmp_path, capsys):
    path, _ = _tabulate(tmp_path)
    for args, out in ((["--spectrum", str(path)], "u.json"),
                      (["--scenario", "threebody-scalar", "--masses", "0.5"], "b.json")):
        code, stdout, err = run(capsys, "patchset", "belle2", *args, "--ff-samples", "0",
                                "-o", str(tmp_path / out))
        assert code == 0, err
    user = read_json(tmp_path / "u.json")["patches"][0]
    built = read_json(tmp_path / "b.json")["patches"][0]
    mine, theirs = _signal(user), _signal(built)
    assert len(mine) == len(theirs) >= 3
    for a, b in zip(mine, theirs, strict=True):  # yields and every modifier, to 1e-6
        assert not list(numeric_mismatches(a, b, rtol=1e-6))
    block = user["metadata"]["emiss"]["user_spectrum"]
    assert block["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert block["label"] == "pair.csv"
    assert block["branching_ratio"] == pytest.approx(_tabulate(tmp_path / "x")[1]
                                                     .branching_ratio(), rel=1e-6)
    assert "user spectrum" in read_json(tmp_path / "u.json")["metadata"]["description"]


def test_a_python_callable_gives_the_same_patch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = P.load_target(load_bundle("belle2"))
    s = get_scenario("threebody-scalar").spectrum("B+->K+", mass=0.5)
    user = U.from_callable(s.dBdq2, "B+->K+", s.q2_min, s.q2_max, label="scalar pair")
    assert user.branching_ratio() == pytest.approx(s.branching_ratio(), rel=1e-6)
    scen = U.user_scenario(user)
    mine = P.build_patchset(target, P.make_entry(scen.name), n_samples=0)["patches"][0]
    ref = P.build_patchset(target, P.make_entry("threebody-scalar", masses=[0.5]),
                           n_samples=0)["patches"][0]
    for a, b in zip(_signal(mine), _signal(ref), strict=True):
        assert not list(numeric_mismatches(a["data"], b["data"], rtol=1e-6))


@pytest.mark.parametrize("rows,message", [
    ("1,1e-7\n2,-1e-7\n3,1e-7\n", "row 2: dB/dq^2 = -1e-07 < 0"),
    ("1,1e-7\n30,1e-7\n", "leaves the physical range"),
    ("2,1e-7\n1,1e-7\n3,1e-7\n", "row 2: q^2 = 1 after 2"),
    ("1,1e-7\n2,nan\n", "row 2: q^2 = 2.0, dB/dq^2 = nan"),
    ("1,1e-7,1e-8\n2,1e-7,1e-8\n", "not a B -> K* process"),
    ("1,abc\n", "line 1"),
    ("1,0\n2,0\n", "zero everywhere"),
    ("", "no rows"),
])
def test_malformed_tables_get_one_clear_line(tmp_path, capsys, rows, message):
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    code, _, err = run(capsys, "patchset", "belle2_hta_bkgonly", "--spectrum", str(path),
                       "-o", str(tmp_path / "out.json"))
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out.json").exists()


def test_kstar_table_needs_its_longitudinal_part(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("1,1e-7\n2,1e-7\n")
    with pytest.raises(EmissError, match="needs the longitudinal part"):
        U.read_table(path, "B0->K*0")
    path.write_text("1,1e-7,2e-7\n2,1e-7,5e-8\n")
    with pytest.raises(EmissError, match=r"row 1: dB_L/dq\^2 = 2e-07 must lie in"):
        U.read_table(path, "B0->K*0")
    path.write_text("1,1e-7,5e-8\n2,1e-7,5e-8\n")
    spec = U.read_table(path, "B0->K*0").spectrum()
    q2 = np.array([1.5])
    assert spec.continuum_long(q2) / spec.continuum(q2) == pytest.approx(0.5)
