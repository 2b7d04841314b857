"""`emiss scenarios / rate / spectrum / plot spectra` through emiss.cli.main: JSON contract, and
bad input -> one line on stderr, exit code 2, no traceback, no silent zero."""

import json
import math

import pytest
from cli_run import run


def test_scenarios_json(capsys):
    code, out, _ = run(capsys, "scenarios", "--json")
    assert code == 0
    items = json.loads(out)
    byname = {s["name"]: s for s in items}
    assert {"sm", "twobody-scalar", "twobody-vector"} <= set(byname)
    tv = byname["twobody-vector"]
    assert tv["spin"] == 1 and tv["multiplicity"] == 2 and tv["coupling"] == "g"
    assert "g" in tv["parameters"] and set(tv["processes"]) >= {"B+->K+", "B0->K0", "B0->K*0",
                                                                 "B+->K*+", "B+->pi+"}
    assert byname["sm"]["multiplicity"] == 1 and byname["sm"]["parameters"] == {}


def test_scenarios_text(capsys):
    code, out, _ = run(capsys, "scenarios")
    assert code == 0 and "threebody-fermion" in out


def test_rate_json_kstar(capsys):
    code, out, _ = run(capsys, "rate", "twobody-vector", "--process", "B0->K*0", "--mass", "2.1",
                       "--param", "g=1e-8", "--samples", "20", "--json")
    assert code == 0
    r = json.loads(out)
    assert r["scenario"] == "twobody-vector" and r["process"] == "B0->K*0"
    assert r["mass"] == 2.1 and r["params"]["g"] == 1e-8
    assert r["branching_ratio"] > 0 and 0 < r["uncertainty"] < r["branching_ratio"]
    assert 0 < r["FL"] < 1
    assert r["lines"][0]["q2"] == pytest.approx(2.1**2)


def test_rate_coupling_scaling_via_cli(capsys):
    """B ∝ g^2 seen through the JSON interface."""
    _, o1, _ = run(capsys, "rate", "threebody-scalar", "--process", "B+->K+", "--param", "g=1",
                   "--samples", "5", "--json")
    _, o2, _ = run(capsys, "rate", "threebody-scalar", "--process", "B+->K+", "--param", "g=2",
                   "--samples", "5", "--json")
    r1, r2 = json.loads(o1), json.loads(o2)
    assert r1["FL"] is None
    assert r2["branching_ratio"] == pytest.approx(4 * r1["branching_ratio"], rel=1e-12)


def test_rate_text(capsys):
    code, out, _ = run(capsys, "rate", "sm", "--process", "B+->K+", "--samples", "10")
    assert code == 0 and "branching ratio" in out


def test_spectrum_json_three_body_and_line(capsys):
    code, out, _ = run(capsys, "spectrum", "threebody-fermion", "--process", "B+->K*+",
                       "--mass", "0.5", "--q2", "0.5,1.5,10", "--json")
    assert code == 0
    r = json.loads(out)
    assert r["q2"] == [0.5, 1.5, 10.0]
    assert r["dBdq2"][0] == 0.0 and r["dBdq2"][1] > 0 and r["dBdq2"][2] > 0  # below 4 m^2: zero
    assert r["FL"][0] is None and 0 < r["FL"][2] < 1
    code, out, _ = run(capsys, "spectrum", "twobody-scalar", "--process", "B+->K+", "--mass",
                       "2", "--q2", "1,4,9", "--json")
    r = json.loads(out)
    assert r["dBdq2"] == [0.0, 0.0, 0.0]  # a line has no continuum ...
    assert r["lines"][0]["q2"] == pytest.approx(4.0) and r["lines"][0]["branching_ratio"] > 0
    assert r["FL"] is None


BAD = [
    (("rate", "twobody-scalar", "--process", "B+->K+", "--mass", "4.9"), "endpoint"),
    (("rate", "threebody-scalar", "--process", "B0->K*0", "--mass", "2.3"), "endpoint"),
    (("rate", "twobody-scalar", "--process", "B+->K+", "--mass", "-1"), "mass"),
    (("rate", "twobody-vector", "--process", "B+->K+", "--mass", "nan"), "mass"),
    (("rate", "nosuch", "--process", "B+->K+"), "unknown scenario"),
    (("rate", "sm", "--process", "B->K"), "unknown process"),
    (("rate", "twobody-scalar", "--process", "B+->K+", "--param", "g"), "NAME=VALUE"),
    (("rate", "twobody-scalar", "--process", "B+->K+", "--param", "g=abc"), "not a number"),
    (("rate", "twobody-scalar", "--process", "B+->K+", "--param", "gg=1"), "valid: g, Lambda"),
    (("rate", "twobody-scalar", "--process", "B+->K+", "--param", "g=nan"), "finite"),
    (("rate", "sm", "--process", "B+->K+", "--mass", "1"), "takes no mass"),
    (("rate", "twobody-scalar", "--process", "B0->K*0", "--param", "c_R=1"), "parity"),
    (("spectrum", "sm", "--process", "B+->K+", "--q2", "1,x"), "--q2"),
    (("spectrum", "sm", "--process", "B+->K+", "--q2", "23.5"), "kinematic range"),
    (("spectrum", "twobody-vector", "--process", "B+->K+", "--mass", "0", "--q2", "1"), "mass"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_is_one_clear_line(capsys, args, needle):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emiss: error:")
    assert needle in lines[0]


def test_no_nan_in_json(capsys):
    _, out, _ = run(capsys, "spectrum", "threebody-vector", "--process", "B0->K*0", "--mass",
                    "0.6", "--q2", "0,1.44,5", "--json")
    r = json.loads(out)
    assert all(v is None or math.isfinite(v) for v in r["FL"])
    assert "NaN" not in out


def test_plot_spectra(capsys, tmp_path):
    code, out, _ = run(capsys, "plot", "spectra", "-o", str(tmp_path), "--process", "B+->K*+")
    assert code == 0
    for ext in ("png", "pdf"):
        f = tmp_path / f"spectra_Bp_Kstp.{ext}"
        assert f.exists() and f.stat().st_size > 10_000
    assert not list(tmp_path.glob(".*tmp"))
