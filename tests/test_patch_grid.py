"""Grid syntax, grid files and patch names (emiss.patches.grid); pure, no physics."""

from __future__ import annotations

import re

import pytest

from emiss.errors import EmissError
from emiss.patches.grid import (
    format_number,
    grid_from_dict,
    hypothesis_name,
    load_grid,
    make_entry,
    parse_masses,
    parse_param,
    parse_values,
)

NAME_RE = re.compile(r"^[a-zA-Z0-9_]+$")  # pyhf patchset schema, defs.json


def test_range_includes_stop_within_float_tolerance():
    vals = parse_masses("0:4.6:0.05")
    assert len(vals) == 93  # 4.6 / 0.05 + 1
    assert vals[0] == 0.0 and vals[-1] == 4.6
    assert vals[6] == 0.3  # no 0.30000000000000004
    assert parse_values("0.1:0.3:0.1") == [0.1, 0.2, 0.3]  # 0.3/0.1 = 2.9999999999999996


def test_range_stop_off_grid_is_excluded():
    assert parse_values("0:1:0.3") == [0.0, 0.3, 0.6, 0.9]


def test_lists_mixed_and_deduplicated():
    assert parse_values("0.5,1,2.1") == [0.5, 1.0, 2.1]
    assert parse_values("0:1:0.5,2.1,1") == [0.0, 0.5, 1.0, 2.1]
    assert parse_values([1, "2:3:1"]) == [1.0, 2.0, 3.0]
    assert parse_values(-6) == [-6.0]


@pytest.mark.parametrize(
    "spec", ["", "a", "1:2", "1:2:0", "2:1:0.1", "1:2:-1", "nan", "inf", "1,,2", "0:1e6:1e-3"]
)
def test_bad_specs_raise(spec):
    with pytest.raises(EmissError):
        parse_values(spec, "--masses")


def test_negative_mass_rejected_with_message():
    with pytest.raises(EmissError, match="negative mass -1"):
        parse_masses("-1,2")


def test_parse_param():
    assert parse_param("C_L=-16:-12:2") == ("C_L", [-16.0, -14.0, -12.0])
    with pytest.raises(EmissError, match="NAME=VALUE"):
        parse_param("C_L")


def test_names_readable_and_valid():
    assert hypothesis_name("twobody-scalar", 2.1) == "twobody_scalar_mX_2p10"
    assert hypothesis_name("threebody-fermion", 0.05) == "threebody_fermion_mX_0p05"
    assert hypothesis_name("heavy-np", None, [("C_L", -6.32), ("C_R", 1.0)]) == \
        "heavy_np_CL_m6p32_CR_1p00"
    assert format_number(0.125) == "0p125"  # more decimals only where needed
    for v in (1e-8, -3.3e-7, 2.5e7, 0.0, -0.0):
        assert NAME_RE.match(format_number(v))
    assert format_number(-0.0) == format_number(0.0)


def test_entry_expansion_labels_values_names():
    e = make_entry("heavy-np", params={"C_L": "-2:0:2", "C_R": "1,3"})
    assert e.labels == ["C_L", "C_R"]
    hyps = e.hypotheses()
    assert [h.values for h in hyps] == [[-2.0, 1.0], [-2.0, 3.0], [0.0, 1.0], [0.0, 3.0]]
    assert len({h.name for h in hyps}) == 4
    m = make_entry("twobody-vector", masses="0.5,2.1")
    assert m.labels == ["m_X"]
    assert [h.name for h in m.hypotheses()] == ["twobody_vector_mX_0p50", "twobody_vector_mX_2p10"]


def test_fine_grid_names_stay_unique():
    hyps = make_entry("twobody-scalar", masses="2:2.01:0.001").hypotheses()
    assert len({h.name for h in hyps}) == len(hyps) == 11


YAML = """
patchsets:
  - name: lines
    scenario: twobody-scalar
    masses: "0:1:0.5"
  - scenario: heavy-np
    params: {C_L: "-4:-2:2", C_R: 1}
"""

TOML = """
[[patchsets]]
name = "lines"
scenario = "twobody-scalar"
masses = "0:1:0.5"

[[patchsets]]
scenario = "heavy-np"
params = {C_L = "-4:-2:2", C_R = 1}
"""


def test_grid_files_yaml_and_toml_agree(tmp_path):
    (tmp_path / "g.yaml").write_text(YAML)
    (tmp_path / "g.toml").write_text(TOML)
    a, b = load_grid(tmp_path / "g.yaml"), load_grid(tmp_path / "g.toml")
    for ea, eb in zip(a, b, strict=True):
        assert ea.name == eb.name and ea.scenario == eb.scenario
        assert [h.values for h in ea.hypotheses()] == [h.values for h in eb.hypotheses()]
    assert [e.name for e in a] == ["lines", "heavy_np"]
    assert a[0].masses == [0.0, 0.5, 1.0]


def test_grid_file_errors(tmp_path):
    with pytest.raises(EmissError, match="does not exist"):
        load_grid(tmp_path / "nope.yaml")
    (tmp_path / "g.txt").write_text(YAML)
    with pytest.raises(EmissError, match="unknown format"):
        load_grid(tmp_path / "g.txt")
    with pytest.raises(EmissError, match="unknown key"):
        grid_from_dict({"patchsets": [{"scenario": "sm", "mass": 1}]})
    with pytest.raises(EmissError, match="named 'a'"):
        grid_from_dict({"patchsets": [{"scenario": "sm", "name": "a"},
                                      {"scenario": "sm", "name": "a"}]})
    with pytest.raises(EmissError, match="patchsets"):
        grid_from_dict({"grids": []})
