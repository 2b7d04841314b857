"""`emiss patchset inspect` and `emiss patchset merge` (PatchSet files as a user meets them).

Facts checked: a light-X patch means B = 1e-5 at mu = 1 (docs/interfaces.md) and the SM patch the
short-distance SM B(B+ -> K+ nu nubar) = 4.97e-6 that Belle II's mu = 1 stands for
(arXiv:2311.14647, sec. I); the K + K* combination measures
B+ -> K+, B+ -> K*+ and B0 -> K*0; merging two mass ranges gives the PatchSet of their union
built at once, byte for byte; pyhf's own `patchset verify` accepts the merged file; bad inputs
are one line with exit code 2 and write nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run

import emiss
from emiss.bundles import bundled_dir

ROOT = Path(__file__).resolve().parents[1]
WS = bundled_dir() / "belle2_hta_bkgonly.json"
ARGS = ["--scenario", "twobody-scalar", "--ff-samples", "20"]


def _ok(capsys, *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Two mass ranges and their union, built by `emiss patchset` (the default command and
    the explicit `build`)."""
    from emiss.cli import main

    d = tmp_path_factory.mktemp("patchset_tools")
    for name, masses, cmd in (("lo", "0.5,1.2", ["patchset"]),
                              ("hi", "2.1,3", ["patchset", "build"]),
                              ("union", "0.5,1.2,2.1,3", ["patchset"])):
        try:
            main([*cmd, str(WS), *ARGS, "--masses", masses, "-o", str(d / f"{name}.json")])
        except SystemExit as exc:
            assert exc.code in (0, None)
    return d


def _err_line(capsys, *args: str) -> str:
    code, out, err = run(capsys, *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("emiss: error: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


# ------------------------------------------------------------------------------ inspect
def test_inspect_lists_mass_and_reference_branching_ratio(built, capsys):
    doc = json.loads(_ok(capsys, "patchset", "inspect", str(built / "lo.json"), "--json"))
    (ps,) = doc["patchsets"]
    assert ps["labels"] == ["m_X"] and ps["written_by_emiss"]
    assert ps["emiss"]["scenario"] == "twobody-scalar"
    assert [p["values"] for p in ps["patches"]] == [{"m_X": 0.5}, {"m_X": 1.2}]
    for p, m in zip(ps["patches"], (0.5, 1.2), strict=True):
        assert p["emiss"]["m_X"] == m
        assert p["emiss"]["reference_branching_ratio"] == 1e-5  # light X: mu = 1 <-> B = 1e-5
        assert p["processes"] == ["B+->K+"]
        assert p["emiss"]["coupling"]["name"] == "g"
    spec = json.loads(WS.read_text())
    import pyhf

    assert ps["digests"] == {"sha256": pyhf.utils.digest(spec, algorithm="sha256")}
    text = _ok(capsys, "patchset", "inspect", str(built / "lo.json"))
    row = next(ln for ln in text.splitlines() if "twobody_scalar_mX_1p20" in ln)
    assert row.split()[1] == "1.2" and "B+->K+ 1e-05" in row and "g = " in row
    assert "written by emiss" in text and "the emiss version is not recorded" in text


def test_inspect_sm_and_several_processes(capsys):
    sm = ROOT / "patches" / "belle2_hta" / "sm.json"
    kk = ROOT / "patches" / "belle2_k_kstar_combined" / "twobody_scalar.json"
    doc = emiss.inspect_patchsets([sm, kk])
    (p_sm,) = doc["patchsets"][0]["patches"]
    assert p_sm["emiss"]["scenario"] == "sm"
    assert p_sm["emiss"]["reference_branching_ratio"] == pytest.approx(4.97e-6, rel=1e-12)
    assert p_sm["emiss"]["coupling"] is None
    first = doc["patchsets"][1]["patches"][0]
    assert sorted(first["processes"]) == ["B+->K*+", "B+->K+", "B0->K*0"]
    assert first["processes"][0] == "B+->K+"  # mu refers to the first
    text = emiss.patches.format_inspect(doc)
    assert "B+->K+ 4.97e-06" in text and "B0->K*0" in text


def test_inspect_foreign_patchset_shows_pyhf_fields_only(built, tmp_path, capsys):
    ps = json.loads((built / "lo.json").read_text())
    for p in ps["patches"]:
        del p["metadata"]["emiss"]
    del ps["metadata"]["emiss"]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(ps))
    doc = json.loads(_ok(capsys, "patchset", "inspect", "--json", str(plain)))
    (entry,) = doc["patchsets"]
    assert not entry["written_by_emiss"]
    assert [(p["name"], p["values"], p["emiss"]) for p in entry["patches"]] == [
        ("twobody_scalar_mX_0p50", {"m_X": 0.5}, None),
        ("twobody_scalar_mX_1p20", {"m_X": 1.2}, None)]
    text = _ok(capsys, "patchset", "inspect", str(plain))
    assert "2 patch(es) without an emiss block: pyhf fields only" in text
    assert "written by emiss" not in text


# -------------------------------------------------------------------------------- merge
def test_merge_of_two_ranges_is_the_union(built, tmp_path, capsys):
    out = tmp_path / "merged.json"
    text = _ok(capsys, "patchset", "merge", str(built / "lo.json"), str(built / "hi.json"),
               "-o", str(out))
    assert "wrote 4 patches" in text
    merged, union = (json.loads(p.read_text()) for p in (out, built / "union.json"))
    assert [p["metadata"]["name"] for p in merged["patches"]] == \
        [p["metadata"]["name"] for p in union["patches"]]
    for a, b in zip(merged["patches"], union["patches"], strict=True):
        assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True), \
            a["metadata"]["name"]
    # the whole file too: same metadata, same writer
    assert out.read_bytes() == (built / "union.json").read_bytes()
    # deterministic: the same inputs give the same bytes
    again = tmp_path / "again.json"
    _ok(capsys, "patchset", "merge", str(built / "lo.json"), str(built / "hi.json"),
        "-o", str(again))
    assert again.read_bytes() == out.read_bytes()
    # the inputs' order is the patches' order
    rev = emiss.merge_patchsets([built / "hi.json", built / "lo.json"])
    assert [p["metadata"]["values"] for p in rev["patches"]] == [[2.1], [3.0], [0.5], [1.2]]


def test_pyhf_verifies_the_merged_patchset(built, tmp_path, capsys):
    import pyhf
    from click.testing import CliRunner
    from pyhf.cli import cli as pyhf_cli

    out = tmp_path / "merged.json"
    _ok(capsys, "patchset", "merge", str(built / "lo.json"), str(built / "hi.json"),
        "-o", str(out))
    ps = pyhf.PatchSet(json.loads(out.read_text()))
    assert len(ps.patches) == 4
    ps.verify(pyhf.Workspace(json.loads(WS.read_text())))
    res = CliRunner().invoke(pyhf_cli, ["patchset", "verify", str(WS), str(out)])
    assert res.exit_code == 0 and "All good" in res.output, res.output
    ws = pyhf.Workspace(json.loads(WS.read_text()))
    model = ws.model(patches=[ps["twobody_scalar_mX_2p10"]], poi_name="mu")
    assert "signal" in model.config.samples


def test_merge_refusals_are_one_line(built, tmp_path, capsys):
    lo, hi = str(built / "lo.json"), str(built / "hi.json")
    out = tmp_path / "out.json"
    other_ws = str(ROOT / "patches" / "belle2_ita" / "twobody_scalar.json")
    line = _err_line(capsys, "patchset", "merge", lo, other_ws, "-o", str(out))
    assert "workspace digests (metadata.digests) differ" in line and other_ws in line
    line = _err_line(capsys, "patchset", "merge", lo, lo, "-o", str(out))
    assert "patch name 'twobody_scalar_mX_0p50'" in line
    line = _err_line(capsys, "patchset", "merge", lo, str(built / "union.json"), "-o", str(out))
    assert "patch name" in line
    line = _err_line(capsys, "patchset", "merge", lo,
                     str(ROOT / "patches" / "belle2_hta" / "sm.json"), "-o", str(out))
    assert "labels differ (['m_X'] vs ['C_L', 'C_R'])" in line
    line = _err_line(capsys, "patchset", "merge", lo,
                     str(ROOT / "patches" / "belle2_hta" / "twobody_scalar.json"), "-o",
                     str(out))  # the committed set has 100 form-factor draws, lo 20
    assert "metadata.emiss.ff_samples (20 vs 100)" in line
    # same values under another name
    renamed = json.loads(Path(hi).read_text())
    renamed["patches"][0]["metadata"]["values"] = [0.5]
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(renamed))
    line = _err_line(capsys, "patchset", "merge", lo, str(dup), "-o", str(out))
    assert "has the values [0.5] of patch 'twobody_scalar_mX_0p50'" in line
    # bad files
    (tmp_path / "bad.json").write_text("{not json")
    line = _err_line(capsys, "patchset", "merge", lo, str(tmp_path / "bad.json"), "-o", str(out))
    assert "is not valid JSON" in line
    line = _err_line(capsys, "patchset", "merge", lo, str(WS), "-o", str(out))
    assert "is a pyhf workspace, not a PatchSet" in line
    line = _err_line(capsys, "patchset", "merge", lo, str(tmp_path / "missing.json"), "-o",
                     str(out))
    assert "does not exist" in line
    line = _err_line(capsys, "patchset", "inspect", str(tmp_path / "bad.json"))
    assert "is not valid JSON" in line
    assert not out.exists()


def test_merge_output_is_checked_before_any_work(built, monkeypatch, capsys):
    import emiss.patches.patchsets as mod

    def _never(*a, **k):
        raise AssertionError("merge ran before the output was checked")

    monkeypatch.setattr(mod, "merge_patchsets", _never)
    line = _err_line(capsys, "patchset", "merge", str(built / "lo.json"),
                     str(built / "hi.json"), "-o", "/proc/nope/x.json")
    assert line.startswith("emiss: error: cannot write PatchSet file '/proc/nope/x.json'")


def test_merge_of_foreign_patchsets(built, tmp_path):
    """PatchSets without emiss metadata merge on pyhf's fields alone."""
    parts = []
    for name in ("lo", "hi"):
        ps = json.loads((built / f"{name}.json").read_text())
        del ps["metadata"]["emiss"]
        for p in ps["patches"]:
            del p["metadata"]["emiss"]
        parts.append(ps)
    merged = emiss.merge_patchsets(parts)
    assert [p["metadata"]["name"] for p in merged["patches"]] == [
        "twobody_scalar_mX_0p50", "twobody_scalar_mX_1p20", "twobody_scalar_mX_2p10",
        "twobody_scalar_mX_3p00"]
    assert "emiss" not in merged["metadata"]


# ----------------------------------------------------------------------------- commands
def test_patchset_group_keeps_the_build_invocation(capsys):
    code, out, err = run(capsys, "patchset", "--help")
    assert code == 0
    for word in ("build", "inspect", "merge", "emiss patchset WORKSPACE [OPTIONS]"):
        assert word in out, word
    code, out, _ = run(capsys, "patchset", "build", "--help")
    assert code == 0 and "--grid FILE" in out and "--scenario" in out
    # no arguments: the build command's own usage error, as before the group existed
    line = _err_line(capsys, "patchset")
    assert "Missing argument 'WORKSPACE'" in line
    assert emiss.merge_patchsets is emiss.patches.merge_patchsets
    assert {"inspect_patchsets", "merge_patchsets"} <= set(emiss.__all__)
