"""Bundled Belle II-style workspaces: freshness, pyhf validity, contents, bundle loading."""

from __future__ import annotations

import shutil

import jsonpatch
import numpy as np
import pyhf
import pytest
from click.testing import CliRunner
from pyhf.cli import cli as pyhf_cli
from sm_fold import plain_sm_patch

from emiss.bundles import BACKGROUNDS, BUNDLED_STEMS, K_STEMS, bundled_dir, load_bundle
from emiss.bundles import belle2_hepdata as B2
from emiss.cli import cli
from emiss.errors import EmissError
from emiss.io import read_json, stale_json_files, write_json
from emiss.response import BELLE2_TRUE_EDGES

BUNDLED_DIR = bundled_dir()
STEMS = (*K_STEMS, B2.STEM)  # the emulations and Belle II's released likelihood
FILES = [f"{s}{suffix}" for s in STEMS for suffix in (".json", ".meta.json")] + [
    f"{s.replace('_bkgonly', '')}_response.json" for s in STEMS]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """`emiss workspace build` run in an empty directory: writes ./workspaces there."""
    cwd = tmp_path_factory.mktemp("ws")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        res = CliRunner().invoke(cli, ["workspace", "build"])
    assert res.exit_code == 0, res.output
    out = cwd / "workspaces"
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # nothing else written
    return out


@pytest.mark.parametrize("name", FILES)
def test_committed_files_are_fresh(rebuilt, name):
    """A rebuild gives the committed numbers to STALE_RTOL (rerun `emiss workspace build`)."""
    assert (BUNDLED_DIR / name).is_file(), f"{name} missing: run scripts/build_workspaces.py"
    assert not stale_json_files({name: read_json(rebuilt / name)}, BUNDLED_DIR), (
        f"workspaces/{name} is stale: run scripts/build_workspaces.py")


@pytest.mark.parametrize("stem", K_STEMS)
def test_pyhf_schema_inspect_json2xml(stem, tmp_path):
    path = BUNDLED_DIR / f"{stem}.json"
    spec = read_json(path)
    pyhf.schema.validate(spec, "workspace.json")
    runner = CliRunner()
    # pyhf 0.7.6 `inspect` builds ws.model() with the measurement's POI, which only a signal
    # patch declares (as for ATLAS BkgOnly files, scikit-hep/pyhf#514): inspect the workspace
    # with the SM patch applied, and check the bare one fails for that reason only.
    res = runner.invoke(pyhf_cli, ["inspect", str(path)])
    assert res.exit_code != 0 and "'mu' cannot be fit" in str(res.exception)
    patched = jsonpatch.apply_patch(spec, plain_sm_patch(load_bundle(path)))
    write_json(tmp_path / "sm.json", patched)
    res = runner.invoke(pyhf_cli, ["inspect", str(tmp_path / "sm.json")])
    assert res.exit_code == 0, res.output
    assert "signal" in res.output and "mu" in res.output
    (tmp_path / "xml").mkdir()
    res = runner.invoke(pyhf_cli, ["json2xml", str(path), "--output-dir", str(tmp_path / "xml")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "xml" / "FitConfig.xml").is_file()
    # a background-only workspace: no signal sample, POI declared, fit with poi_name=None
    ws = pyhf.Workspace(spec)
    assert "signal" not in ws.samples
    assert ws.get_measurement()["config"]["poi"] == "mu"
    model = ws.model(poi_name=None)
    pyhf.set_backend("numpy", "scipy")
    fit = pyhf.infer.mle.fit(ws.data(model), model)
    assert np.all(np.isfinite(fit))


def test_layout_and_components():
    spec = read_json(BUNDLED_DIR / "belle2_combined_bkgonly.json")
    chans = {c["name"]: c for c in spec["channels"]}
    assert list(chans) == ["ita_onres", "ita_offres", "hta"]
    assert [len(c["samples"][0]["data"]) for c in chans.values()] == [12, 12, 6]
    assert {s["name"] for s in chans["ita_onres"]["samples"]} == set(BACKGROUNDS)
    assert {s["name"] for s in chans["hta"]["samples"]} == set(BACKGROUNDS)
    off = {s["name"]: np.sum(s["data"]) for s in chans["ita_offres"]["samples"]}
    assert set(off) == {"bkg_uds", "bkg_ccbar", "bkg_tautau"}  # continuum only
    on = {s["name"]: np.sum(s["data"]) for s in chans["ita_onres"]["samples"]}
    for s, n in off.items():  # scaled by the luminosity ratio 42/362 fb^-1 (2311.14647)
        assert n / on[s] == pytest.approx(42.0 / 362.0, rel=1e-6)
    types = {m["type"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert {"normsys", "histosys", "staterror"} <= types
    obs = {o["name"]: o["data"] for o in spec["observations"]}
    assert all(float(v).is_integer() for d in obs.values() for v in d)


def test_sidecar_and_response():
    b = load_bundle(BUNDLED_DIR / "belle2_combined_bkgonly.json")
    assert b.meta["emulated_data"] is True and "EMULATION" in b.meta["data_statement"]
    assert b.meta["references"]["hepdata"] == "ins2725943"
    assert b.channel_process() == {"ita_onres": "B+->K+", "ita_offres": None, "hta": "B+->K+"}
    # N(B+-) = 2 N_BB f+- = 2 x 387e6 x ~0.516 ~ 4.0e8 (belle2.md 1.3)
    assert b.meta["channels"]["ita_onres"]["n_b"] == pytest.approx(4.0e8, rel=0.01)
    # every signal modifier shares its name with a background modifier (so they correlate)
    bkg_mods = {m["name"] for c in b.spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    for ch in ("ita_onres", "hta"):
        names = {m["name"] for m in b.signal_modifiers(ch)}
        assert "n_bb" in names
        assert "n_bb" in bkg_mods
    r = b.require_response()
    for cr in r.channels.values():
        np.testing.assert_allclose(cr.true_edges, BELLE2_TRUE_EDGES)
        assert cr.matrix.sum(axis=0).max() <= 1.0
    # SM signal yields at mu = 1 (B = 4.97e-6): ITA ~ 160, HTA ~ 8 (belle2.md 1.8)
    yields = {op["path"]: sum(op["value"]["data"]) for op in plain_sm_patch(b)}
    assert yields["/channels/0/samples/0"] == pytest.approx(4.0e8 * 4.97e-6 * 0.08, rel=0.02)
    assert yields["/channels/2/samples/0"] == pytest.approx(4.0e8 * 4.97e-6 * 0.004, rel=0.02)


def test_bundle_errors(tmp_path):
    with pytest.raises(EmissError, match="does not exist"):
        load_bundle(tmp_path / "nope.json")
    # a user's workspace without sidecar: no response until one is passed
    ws = tmp_path / "mine.json"
    shutil.copy(BUNDLED_DIR / "belle2_hta_bkgonly.json", ws)
    b = load_bundle(ws)
    assert b.response is None
    with pytest.raises(EmissError, match="no detector response"):
        b.require_response()
    b2 = load_bundle(ws, response=BUNDLED_DIR / "belle2_hta_response.json")
    assert set(b2.require_response().channels) == {"hta"}
    # a response whose channel is not in the workspace
    with pytest.raises(EmissError, match="'ita_onres' is not in the workspace"):
        load_bundle(ws, response=BUNDLED_DIR / "belle2_ita_response.json")
    # not a pyhf workspace
    bad = tmp_path / "bad.json"
    bad.write_text('{"channels": []}')
    with pytest.raises(EmissError, match="not a valid pyhf workspace"):
        load_bundle(bad)
    # bundled stems resolve without a path
    assert load_bundle("belle2_hta_bkgonly").path == BUNDLED_DIR / "belle2_hta_bkgonly.json"


@pytest.mark.parametrize("stem", BUNDLED_STEMS)
def test_every_bundled_stem_resolves_by_name(stem, tmp_path, monkeypatch):
    """B -> K and B -> K* stems load by name from any directory (package data, not the cwd)."""
    monkeypatch.chdir(tmp_path)
    b = load_bundle(stem)
    assert b.path == BUNDLED_DIR / f"{stem}.json"
    assert b.require_response().channels


def test_bundled_stems_list_every_bundled_workspace():
    """The emulations by their stems, Belle II's released likelihood as `belle2`."""
    on_disk = {p.name.removesuffix(".json") for p in BUNDLED_DIR.glob("*_bkgonly.json")}
    assert on_disk == set(BUNDLED_STEMS) | {B2.STEM}


def test_hepdata_default_n_b_equals_the_emulation_n_b():
    """The response stage's cited N(B+-) and the emulation's (from its data file) agree."""
    from emiss.bundles.k_emulation import load_inputs, n_bplus
    from emiss.response import BELLE2_N_BPLUS

    assert BELLE2_N_BPLUS == n_bplus(load_inputs())


def test_workspace_build_refuses_site_packages():
    """An installed package folder is never written to without --force (nothing written)."""
    import sysconfig
    from pathlib import Path

    target = Path(sysconfig.get_paths()["purelib"]) / "emiss_refused_outdir"
    res = CliRunner().invoke(cli, ["workspace", "build", "-o", str(target)])
    assert isinstance(res.exception, EmissError)
    assert "--force" in str(res.exception) and str(target) in str(res.exception)
    assert not target.exists()
