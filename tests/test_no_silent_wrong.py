"""No silent wrong number: capped fits flagged, mismatched inputs and bad yields refused, strict
JSON, honest provenance."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from cli_run import run

from emiss.bundles import belle2_hepdata as B2
from emiss.bundles import bundled_dir, load_bundle
from emiss.errors import EmissError
from emiss.inference.results import data_info, make_row, summary_table
from emiss.io import dumps_json, read_json, write_json

WS = bundled_dir()


def _copy(stem: str, dest, sidecar_of: str | None = None, response_of: str | None = None):
    """A workspace copied with its own (or another workspace's) sidecar and response."""
    shutil.copy(WS / f"{stem}.json", dest / f"{stem}.json")
    side = read_json(WS / f"{sidecar_of or stem}.meta.json")
    resp = side["response"]
    shutil.copy(WS / resp, dest / resp)
    write_json(dest / f"{stem}.meta.json", side)
    return dest / f"{stem}.json"


# ------------------------------------------------------------------ capped fits
def _row(mu_hat: float, upper: float) -> dict:
    meta = {"name": "p", "values": [1.0], "emiss": {"scenario": "heavy-np", "process": "B+->K+",
                                                      "reference_branching_ratio": 1e-7}}
    analysis = {"mu_hat": mu_hat, "mu_upper_bound": upper, "twice_nll": 3.0,
                "mu_limit_obs": 60.0, "mu_limit_exp": [1.0] * 5, "p0": 0.1, "Z": 1.2}
    return make_row(meta, ["C_L"], analysis, "ok", 0)


def test_fit_at_the_bound_is_flagged_in_the_row_and_the_summary():
    capped, free = _row(50.0, 50.0), _row(12.0, 50.0)
    assert capped["at_bound"] == "mu" and "upper bound 50" in capped["status"]
    assert capped["status"].startswith("ok")  # kept, but never without its caveat
    assert "at_bound" not in free and free["status"] == "ok"
    doc = {"labels": ["C_L"], "options": {"cl": 0.95}, "results": [capped]}
    table = summary_table(doc)
    assert "C_L=1^" in table and "1 hypotheses: mu_hat at the upper bound" in table


def test_scan_flags_a_capped_heavy_np_fit(tmp_path, capsys):
    """C_L + C_R = -1 predicts B 40 times below the SM: the best-fit mu exceeds the emulated
    workspace's bound mu <= 50 (the measured excess is ~4.6 x the SM)."""
    ps = tmp_path / "np.json"
    code, _, err = run(capsys, "patchset", "belle2_hta_bkgonly", "--scenario", "heavy-np",
                       "--param", "C_L=-7", "--param", "C_R=6", "--ff-samples", "0",
                       "-o", str(ps))
    assert code == 0, err
    code, out, err = run(capsys, "scan", "belle2_hta_bkgonly", str(ps), "-o",
                         str(tmp_path / "r.json"), "-j", "1")
    assert code == 0, err
    (row,) = read_json(tmp_path / "r.json")["results"]
    assert row["at_bound"] == "mu" and row["mu_hat"] == pytest.approx(50.0, rel=1e-3)
    assert "^" in out and "upper bound of mu" in out


# ------------------------------------------------------------------ mismatched inputs
def test_sidecar_of_another_workspace_is_refused(tmp_path):
    ws = _copy("belle2_combined_bkgonly", tmp_path, sidecar_of="belle2_hta_bkgonly")
    with pytest.raises(EmissError, match="describes channels.*another workspace"):
        load_bundle(ws)


def test_response_missing_a_signal_channel_is_refused(capsys):
    code, _, err = run(capsys, "patchset", "belle2_combined_bkgonly", "--scenario", "sm",
                       "--response", str(WS / "belle2_hta_response.json"), "-o", "/dev/null/x")
    assert code == 2 and "ita_onres" in err and "carry signal" in err
    assert len(err.strip().splitlines()) == 1


def test_verify_patchset_catches_a_patchset_without_signal_in_a_signal_channel(tmp_path, capsys):
    combined = "belle2_combined_bkgonly"
    out = tmp_path / "ps.json"
    code, _, err = run(capsys, "patchset", combined, "--scenario", "twobody-scalar",
                       "--masses", "2.1", "--ff-samples", "0", "-o", str(out))
    assert code == 0, err
    doc = read_json(out)
    spec = read_json(WS / f"{combined}.json")
    names = [c["name"] for c in spec["channels"]]
    hta = names.index("hta")
    for p in doc["patches"]:  # drop the HTA signal: as if built with the ITA sidecar alone
        p["patch"] = [op for op in p["patch"] if not op["path"].startswith(f"/channels/{hta}/")]
    write_json(out, doc)
    code, _, err = run(capsys, "verify-patchset", combined, str(out))
    assert code == 2 and "'hta'" in err and "carry signal" in err


# ------------------------------------------------------------------ bad numbers
@pytest.mark.parametrize("bad", [float("nan"), -3.0, float("inf")])
def test_workspace_with_bad_yields_or_observations_is_refused(tmp_path, bad):
    ws = _copy("belle2_hta_bkgonly", tmp_path)
    spec = read_json(ws)
    spec["channels"][0]["samples"][0]["data"][1] = bad
    ws.write_text(json.dumps(spec))  # Python's json writes NaN/Infinity tokens
    with pytest.raises(EmissError, match="yield .* is not a finite number >= 0"):
        load_bundle(ws)
    spec = read_json(WS / "belle2_hta_bkgonly.json")
    spec["observations"][0]["data"][0] = bad
    ws.write_text(json.dumps(spec))
    with pytest.raises(EmissError, match="observations .* is not a finite count >= 0"):
        load_bundle(ws)


@pytest.mark.parametrize("bad", [float("nan"), -1.0])
def test_patchset_with_bad_signal_yields_is_refused_by_verify_and_scan(tmp_path, capsys, bad):
    out = tmp_path / "ps.json"
    code, _, err = run(capsys, "patchset", "belle2_hta_bkgonly", "--scenario", "twobody-scalar",
                       "--masses", "1,2.1", "--ff-samples", "0", "-o", str(out))
    assert code == 0, err
    doc = read_json(out)
    doc["patches"][1]["patch"][0]["value"]["data"][0] = bad
    out.write_text(json.dumps(doc))
    for cmd in (["verify-patchset", "belle2_hta_bkgonly", str(out), "--all"],
                ["scan", "belle2_hta_bkgonly", str(out), "-o", str(tmp_path / "r.json")]):
        code, _, err = run(capsys, *cmd)
        assert code == 2 and "twobody_scalar_mX_2p10" in err and "finite number >= 0" in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


def test_results_json_is_strict():
    text = dumps_json({"mu_hat": float("nan"), "lims": [1.0, float("inf"), -float("inf")]})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"mu_hat": None, "lims": [1.0, None, None]}
    assert math.isfinite(json.loads(dumps_json({"x": 1e-300}))["x"])


# ------------------------------------------------------------------ provenance
def test_unverified_import_is_labelled_and_an_edited_bundle_refused(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(B2.shipped_inputs(), src)
    csv = src / "number_density_hta.csv"
    csv.write_text(csv.read_text() + "\n")  # same numbers, other sha256
    out = tmp_path / "bundle"
    B2.import_belle2(src, out, allow_unverified=True)
    bundle = load_bundle(out / f"{B2.STEM}.json")
    label = data_info(bundle.meta)["label"]
    assert "UNVERIFIED" in label and "HEPData ins2947386" in label
    # doubled observations after the import: refused, not labelled as Belle II's data
    ws = out / f"{B2.STEM}.json"
    spec = read_json(ws)
    spec["observations"][0]["data"] = [2 * x for x in spec["observations"][0]["data"]]
    write_json(ws, spec)
    with pytest.raises(EmissError, match="modified after it was imported"):
        load_bundle(ws)
