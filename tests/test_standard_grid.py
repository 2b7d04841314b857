"""`emiss patchset WS --grid standard` says how the workspace's standard grid differs from the
B -> K emulation's and why (stderr, one line per difference, and the PatchSets' metadata).

Independent facts: Belle II's released number densities (HEPData ins2947386) have no selected
signal MC above q^2 ~ 22 GeV^2 (docs/belle2.md), so two-body lines stop at 4.6 GeV (4.7^2 = 22.09
GeV^2 is past it); the heavy-NP B -> K spectrum is the SM one rescaled (arXiv:1409.4557).
"""

from __future__ import annotations

import json

import pytest
from cli_run import run

from emiss.api import standard_grid_differences
from emiss.patches.grid import load_grid


def test_belle2_grid_differences_are_listed_with_their_reasons():
    b2 = load_grid("standard", key="belle2_patchsets")
    base = {e.name: e for e in load_grid("standard", key="patchsets")}
    lines = standard_grid_differences("belle2_patchsets", b2)
    # two-body lines on Belle II's likelihood stay below q^2 = 22 GeV^2; the emulation's do not
    shared = [e for e in b2 if e.name in base]  # the seed's entries, in both grids
    for e in shared:
        if e.scenario.startswith("twobody"):
            assert max(e.masses) ** 2 < 22.0 < max(base[e.name].masses) ** 2
    changed = [e.name for e in shared if e.masses != base[e.name].masses]
    assert changed  # the mass ranges differ ...
    for name in changed:  # ... and each difference is one line with its reason
        (line,) = [x for x in lines if f" {name} m_X " in x]
        assert "22 GeV^2" in line and "instead of" in line
    (hnp,) = [x for x in lines if "heavy_np" in x]
    assert "not written" in hnp and "sm" in hnp
    added = [e.name for e in b2 if e.name not in base]  # every other scenario: one line
    (more,) = [x for x in lines if "entries added" in x]
    assert f"{len(added)} entries added" in more and "registry" in more
    assert len(lines) == len(changed) + 2
    assert standard_grid_differences("patchsets", list(base.values())) == []


def test_cli_reports_and_records_the_differences_on_belle2(tmp_path, capsys):
    from belle2_data import require_data

    from emiss.bundles import belle2_hepdata as B2

    B2.import_belle2(require_data(), tmp_path / "b2")
    ws = str(tmp_path / "b2" / f"{B2.STEM}.json")
    code, out, err = run(capsys, "patchset", ws, "--grid", "standard", "--ff-samples", "0",
                         "-o", str(tmp_path / "p"))
    assert code == 0, err
    notes = [x for x in err.splitlines() if x.startswith("emiss: note: standard grid")]
    expected = standard_grid_differences("belle2_patchsets",
                                         load_grid("standard", key="belle2_patchsets"))
    assert [x.removeprefix("emiss: note: ") for x in notes] == expected
    files = sorted((tmp_path / "p").glob("*.json"))
    assert {f.stem for f in files} == {e.name for e in load_grid("standard",
                                                                  key="belle2_patchsets")}
    for f in files:
        grid = json.loads(f.read_text())["metadata"]["emiss"]["grid"]
        assert grid["key"] == "belle2_patchsets" and grid["differences"] == expected
    # an explicit grid file is the user's choice: no note, no record
    g = tmp_path / "g.yaml"
    g.write_text("patchsets:\n  - name: lines\n    scenario: twobody-scalar\n    masses: 2.1\n")
    code, out, err = run(capsys, "patchset", ws, "--grid", str(g), "--ff-samples", "0",
                         "-o", str(tmp_path / "q"))
    assert code == 0 and "standard grid" not in err
    ps = json.loads((tmp_path / "q" / "lines.json").read_text())
    assert "grid" not in ps["metadata"]["emiss"]


@pytest.mark.parametrize("key", ["kstar_patchsets"])
def test_every_workspace_grid_difference_has_a_reason(key):
    lines = standard_grid_differences(key, load_grid("standard", key=key))
    assert lines and all("see the comments" not in x for x in lines)
