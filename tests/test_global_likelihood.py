"""The global likelihood (issue "The seed's global likelihood", arXiv:2403.13887, 2503.19025).

Simplified likelihoods of BaBar 2013 (arXiv:1303.7465), Belle 2017 (arXiv:1702.03224) and
B_s -> invisible (ALEPH recast, arXiv:2310.13043), and their combination with Belle II's
released likelihood (``emiss workspace combine``). Limits are checked against the papers'
published numbers with emiss's scan engine (asymptotic CLs, the procedure of ``emiss scan``):

* each mode's 90 % CL limit (its sensitivity is derived from it: a round trip through the
  bundle and the scan engine, rtol 1e-3);
* the combinations of modes, which the construction never uses: BaBar's combined
  B(B -> K nu nubar) < 3.2e-5 and B(B -> K* nu nubar) < 7.9e-5, Belle's combined
  B(B -> K* nu nubar) < 2.7e-5 (charged and neutral modes at equal branching ratio), within
  10 % (measured: +5.9 %, -4.4 %, -2.8 %);
* a workspace combined with a renamed copy of itself doubles -2 Delta ln L; shared
  form-factor nuisances appear once, experimental ones once per part.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonpatch
import numpy as np
import pyhf
import pytest
import yaml
from cli_run import run

from emiss.bundles import babar2013, belle2017, bs_invisible, simplified
from emiss.bundles.bundle import Bundle, load_bundle
from emiss.bundles.global_likelihood import (
    SHARED,
    combine_parts,
    load_part,
    rename_channels,
)
from emiss.errors import EmissError
from emiss.inference.fastlimits import fast_analyse
from emiss.inference.fastmodel import model_from_workspace
from emiss.response import KstarChannelResponse

DATA = Path(simplified.__file__).resolve().parent.parent / "data"
#: Branching ratio a test signal stands for at mu = 1.
REF = 1e-5
#: Tolerance on the combined limits (charged/neutral combination convention unknown).
COMBINED_RTOL = 0.10


def _signal_ops(spec: dict, meta: dict, channels: list[str], ref: float = REF) -> list[dict]:
    """Patch adding a signal of B = ref * mu to the given counting channels (equal B)."""
    names = [c["name"] for c in spec["channels"]]
    ops = []
    for ch in channels:
        s = meta["channels"][ch]["simplified"]["sensitivity"]
        ops.append({"op": "add", "path": f"/channels/{names.index(ch)}/samples/-",
                    "value": {"name": "signal", "data": [s * ref],
                              "modifiers": [{"name": "mu", "type": "normfactor",
                                             "data": None}]}})
    return ops


def _limit(spec: dict, ops: list[dict], cl: float = 0.90, ref: float = REF) -> float:
    """Observed upper limit on B with emiss's scan engine."""
    row = fast_analyse(model_from_workspace(spec, ops), cl=cl)
    assert row["status"].startswith("ok"), row["status"]
    return float(row["mu_limit_obs"]) * ref


# ----------------------------------------------------------------------------- data files
@pytest.mark.parametrize("name", ["babar2013_knunu.yaml", "belle2017_knunu.yaml",
                                  "bs_invisible_aleph.yaml"])
def test_every_number_names_its_source(name):
    doc = yaml.safe_load((DATA / name).read_text())
    bare = []

    def walk(node, path):
        if isinstance(node, dict):
            if "value" in node:
                assert isinstance(node.get("source"), str) and node["source"], path
            for k, v in node.items():
                if k in ("version", "confidence_level", "value"):
                    continue
                walk(v, f"{path}.{k}")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            bare.append(path)

    walk(doc, name)
    assert not bare, f"numbers without {{value, source}}: {bare}"


# ----------------------------------------------------------------------------- the modes
MODES = [(babar2013, c.name) for c in babar2013.channels()] + \
        [(belle2017, c.name) for c in belle2017.channels()]


@pytest.mark.parametrize(("module", "channel"), MODES, ids=[c for _, c in MODES])
def test_each_mode_reproduces_its_published_limit(module, channel):
    spec, meta, _ = module.build_bundle()
    published = meta["channels"][channel]["simplified"]["limit"]
    assert _limit(spec, _signal_ops(spec, meta, [channel])) == pytest.approx(published,
                                                                             rel=1e-3)


@pytest.mark.parametrize(("module", "group", "channels"), [
    (babar2013, "K", ["babar2013_kp", "babar2013_k0"]),
    (babar2013, "Kstar", ["babar2013_kstp", "babar2013_kst0"]),
    (belle2017, "Kstar", ["belle2017_kstp", "belle2017_kst0"]),
])
def test_combined_modes_reproduce_the_papers_combined_limits(module, group, channels):
    spec, meta, _ = module.build_bundle()
    published = module.combined_limits()[group]
    got = _limit(spec, _signal_ops(spec, meta, channels))
    assert got == pytest.approx(published, rel=COMBINED_RTOL), (module.NAME, group, got)


def test_published_inputs_enter_unchanged():
    """BaBar 1303.7465 Tables IV-V and Belle 1702.03224 Tables I-II (as transcribed)."""
    spec, meta, _ = babar2013.build_bundle()
    kp = next(c for c in spec["channels"] if c["name"] == "babar2013_kp")
    assert kp["samples"][0]["data"] == [2.9]
    hs = kp["samples"][0]["modifiers"][0]["data"]
    assert hs["hi_data"] == [pytest.approx(3.0)] and hs["lo_data"] == [pytest.approx(2.8)]
    obs = {o["name"]: o["data"] for o in spec["observations"]}
    assert obs == {"babar2013_kp": [6.0], "babar2013_k0": [3.0], "babar2013_kstp": [6.0],
                   "babar2013_kst0": [9.0]}
    spec, meta, _ = belle2017.build_bundle()
    kp = next(c for c in spec["channels"] if c["name"] == "belle2017_kp")
    assert kp["samples"][0]["data"] == [pytest.approx(83 - 17.7)]
    assert {o["name"]: o["data"] for o in spec["observations"]}["belle2017_kst0"] == [13.0]


def test_responses_flat_and_kstar_helicity_with_equal_efficiencies():
    _, meta, resp = babar2013.build_bundle()
    for name, cr in resp.channels.items():
        assert cr.n_b == meta["channels"][name]["n_b"]
        assert np.all(cr.matrix == 1.0) and cr.true_edges[0] == 0.0
        if "K*" in cr.process:
            assert isinstance(cr, KstarChannelResponse)
            assert np.array_equal(cr.matrix_long, cr.matrix_trans)
        else:
            assert not isinstance(cr, KstarChannelResponse)


def test_bs_invisible_one_bin_reproduces_the_recast_bound():
    spec, meta, resp = bs_invisible.build_bundle()
    assert list(resp.channels) == ["bs_invisible"]  # pair scenarios predict B(B_s -> X X)
    info = meta["channels"]["bs_invisible"]
    assert info["process"] == "Bs->invisible"
    assert info["simplified"]["limit"] == 5.4e-4  # arXiv:2310.13043 abstract (ar5iv)
    # pyhf's own asymptotic CLs at the bound: CLs = 1 - 0.90
    ref = 1e-4
    ws = pyhf.Workspace(jsonpatch.apply_patch(spec, _signal_ops(spec, meta, ["bs_invisible"],
                                                                ref)))
    model = ws.model()
    cls = float(pyhf.infer.hypotest(5.4e-4 / ref, ws.data(model), model, test_stat="qtilde"))
    assert cls == pytest.approx(0.10, abs=2e-4)
    # emiss's scan engine, with the channel inside a combination (the engine needs at least
    # one nuisance parameter besides mu; the lone bin has none)
    cspec, cmeta, _ = combine_parts([load_part("babar2013"), load_part("bs-invisible")], "c")
    assert _limit(cspec, _signal_ops(cspec, cmeta, ["bs_invisible"])) == pytest.approx(
        5.4e-4, rel=1e-3)


# ----------------------------------------------------------------------------- combination
def test_combine_cli_belle2_babar_bs_patchset_and_scan(tmp_path, capsys):
    code, out, err = run(capsys, "workspace", "combine", "belle2", "babar2013",
                         "bs-invisible", "-o", str(tmp_path))
    assert code == 0, err
    stem = "combined_belle2_babar2013_bs_invisible_bkgonly"
    ws_path = tmp_path / f"{stem}.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{stem}.json", f"{stem}.meta.json", "combined_belle2_babar2013_bs_invisible_"
         "response.json"])
    spec = json.loads(ws_path.read_text())
    pyhf.schema.validate(spec, "workspace.json")
    meta = json.loads((tmp_path / f"{stem}.meta.json").read_text())
    assert [p["prefix"] for p in meta["parts"]] == ["belle2", "babar2013", "bs_invisible"]
    for ch in spec["channels"]:  # every experimental nuisance carries its part's prefix
        part = next(p for p in meta["parts"] if ch["name"] in p["channels"])
        for s in ch["samples"]:
            for m in s["modifiers"]:
                assert m["name"].startswith(part["prefix"] + "_"), (ch["name"], m["name"])
    signal_channels = sorted(c for c, i in meta["channels"].items() if i.get("process"))
    assert len(signal_channels) == 8 and "bs_invisible" in signal_channels
    # neither the SM nor a single X annihilates a B_s: no signal in the B_s bin
    b_channels = [c for c in signal_channels if c != "bs_invisible"]

    ps_sm, ps_2b = tmp_path / "sm.json", tmp_path / "twobody.json"
    code, _, err = run(capsys, "patchset", str(ws_path), "--scenario", "sm", "-o", str(ps_sm))
    assert code == 0, err
    code, _, err = run(capsys, "patchset", str(ws_path), "--scenario", "twobody-vector",
                       "--masses", "2.1", "-o", str(ps_2b))
    assert code == 0, err
    names = [c["name"] for c in spec["channels"]]
    for ps in (ps_sm, ps_2b):
        doc = json.loads(ps.read_text())
        pyhf.PatchSet(doc).verify(spec)
        patch = doc["patches"][0]["patch"]
        sig = {names[int(op["path"].split("/")[2])] for op in patch
               if op["value"]["name"] == "signal"}
        assert sorted(sig) == b_channels  # one patch covers every experiment
        ff = {}
        for op in patch:
            for m in op["value"]["modifiers"]:
                if SHARED.match(m["name"]) and m["name"] != "mu":
                    ff.setdefault(m["name"], set()).add(
                        names[int(op["path"].split("/")[2])])
        # B -> K form factors shared by Belle II's and BaBar's K channels, K* by BaBar's K*
        # (shape-only variations leave the flat-acceptance B+ -> K+ bin of BaBar unchanged
        # in the SM patch: mu fixes B(B+ -> K+))
        assert {"sgn1_had", "babar2013_k0"} <= ff["ff_BK_pc1"]
        assert {"babar2013_kstp", "babar2013_kst0"} <= ff["ff_BKstar_pc1"]
        model = pyhf.Workspace(jsonpatch.apply_patch(spec, patch)).model()
        assert model.config.par_order.count("ff_BK_pc1") == 1
    # the SM through Belle II's own response reproduces its published SM sample (0.1 %)
    published = load_bundle("belle2").meta["channels"]
    compared = 0
    for op in json.loads(ps_sm.read_text())["patches"][0]["patch"]:
        ch = names[int(op["path"].split("/")[2])]
        if ch in published and "sm_sample" in published[ch]:
            np.testing.assert_allclose(op["value"]["data"], published[ch]["sm_sample"]["data"],
                                       rtol=1e-3)
            compared += 1
    assert compared == 3

    res = tmp_path / "res.json"
    code, _, err = run(capsys, "scan", str(ws_path), str(ps_2b), str(ps_sm), "-o", str(res))
    assert code == 0, err
    rows = json.loads(res.read_text())["results"]
    assert len(rows) == 2 and all(r["status"].startswith("ok") for r in rows)


def _sm_ops(spec: dict, meta: dict, resp, n_samples: int) -> list[dict]:
    from emiss.patches import make_entry, resolve_entry
    from emiss.patches.assemble import sample_ops
    from emiss.patches.target import target_from_bundle
    from emiss.patches.templates import TemplateBuilder

    target = target_from_bundle(Bundle(spec=spec, meta=meta, response=resp, path=None))
    builder = TemplateBuilder(target, n_samples=n_samples)
    res = resolve_entry(make_entry("sm"))
    t = builder.template(res, res.hypotheses[0])
    return sample_ops(spec, t.samples, target.channel_modifiers, builder.family)


def _delta_twice_nll(spec: dict, ops: list[dict]) -> float:
    """-2 ln L(mu = 0) + 2 ln L(mu_hat) with pyhf."""
    ws = pyhf.Workspace(jsonpatch.apply_patch(spec, ops))
    model = ws.model()
    data = ws.data(model)
    _, best = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    _, zero = pyhf.infer.mle.fixed_poi_fit(0.0, data, model, return_fitted_val=True)
    return float(zero - best)


@pytest.fixture(scope="module")
def self_combination():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # emulated-data warning
        a = load_part("belle2_hta_bkgonly", prefix="a")
        b = rename_channels(load_part("belle2_hta_bkgonly", prefix="b"), {"hta": "hta_copy"})
    return a, combine_parts([a, b], "self_bkgonly")


def test_self_combination_doubles_minus_two_delta_lnl(self_combination):
    a, (spec, meta, resp) = self_combination
    single = _delta_twice_nll(a.spec, _sm_ops(a.spec, a.meta, a.response, 0))
    double = _delta_twice_nll(spec, _sm_ops(spec, meta, resp, 0))
    assert single > 0.5  # the emulated HTA prefers a signal (mu_hat ~ 2.2)
    assert double == pytest.approx(2.0 * single, rel=1e-5)


def test_shared_nuisances_once_experimental_twice(self_combination):
    a, (spec, meta, resp) = self_combination
    ops = _sm_ops(spec, meta, resp, 8)
    pars = pyhf.Workspace(jsonpatch.apply_patch(spec, ops)).model().config.par_order
    for i in (1, 2, 3):
        assert pars.count(f"ff_BK_pc{i}") == 1
    base = {m["name"] for s in a.spec["channels"][0]["samples"] for m in s["modifiers"]}
    for name in base:
        assert f"a_{name}" in pars and f"b_{name}" in pars and name not in pars
    # the sidecar's signal modifiers follow the renaming (n_bb, the signal efficiency)
    mods = {m["name"] for m in meta["channels"]["hta_copy"]["signal_modifiers"]}
    assert mods == {"b_n_bb", "b_sig_eff_hta"}
    assert meta["workspace_digest"] == pyhf.utils.digest(spec, algorithm="sha256")


def test_combination_refuses_clashes(self_combination, capsys, tmp_path):
    a, _ = self_combination
    with pytest.raises(EmissError, match="same nuisance prefix"):
        combine_parts([a, rename_channels(a, {"hta": "x"})], "s")
    with pytest.raises(EmissError, match="is in both"):
        b = load_part("babar2013")
        combine_parts([b, load_part("babar2013", prefix="c")], "s")
    code, _, err = run(capsys, "workspace", "combine", "belle2", "-o", str(tmp_path))
    assert code == 2 and "at least two" in err and "'belle2'" in err
    assert "babar2013, belle2017, bs-invisible" in err  # what one name alone may be


@pytest.mark.parametrize(("name", "module"), [("babar2013", babar2013), ("belle", belle2017),
                                              ("bs-invisible", bs_invisible)])
def test_one_simplified_likelihood_is_written_alone(tmp_path, capsys, name, module):
    """``emiss workspace combine babar2013 -o DIR``: that experiment's own bundle, unchanged."""
    code, out, err = run(capsys, "workspace", "combine", name, "-o", str(tmp_path))
    assert code == 0, err
    spec, meta, _ = module.build_bundle()
    (ws,) = [Path(p) for p in out.split() if p.endswith("_bkgonly.json")]
    assert ws.name == module.STEM + ".json"
    b = load_bundle(ws)
    assert b.spec == spec and b.meta["channels"] == meta["channels"]
    assert b.response is not None


def test_combine_checks_its_output_before_any_work(tmp_path, capsys, monkeypatch):
    import emiss.bundles.global_likelihood as gl

    def _must_not_run(*a, **k):
        raise AssertionError("combined before the output was checked")

    monkeypatch.setattr(gl, "write_combination", _must_not_run)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, out, err = run(capsys, "workspace", "combine", "babar2013", "bs-invisible", "-o",
                         str(blocker))
    assert code == 2 and err.startswith("emiss: error: cannot write") and out == ""


def test_written_bundles_load(tmp_path):
    for mod in (babar2013, belle2017, bs_invisible):
        paths = mod.write_bundle(tmp_path)
        b = load_bundle(paths[-1])
        assert b.response is not None and b.meta["emulated_data"] is False


def test_folded_sm_carries_its_ckm_and_x_t_normalisation(tmp_path, capsys):
    """The SM nu nubar sample emiss folds (light-X patches of a combination) carries one
    shared histosys for B_SM ~ |V_tb V_ts|^2 X_t^2: 2 sqrt((0.9/41.5)^2 + (0.017/1.469)^2)
    (PDG 2024 CKM review, arXiv:1009.0947) in every B -> K and B -> K* channel; the SM patch
    declares it without effect (one likelihood family); Belle II's published SM sample keeps
    Belle II's own modifiers."""
    r = 2 * np.hypot(0.9 / 41.5, 0.017 / 1.469)
    code, _, err = run(capsys, "workspace", "combine", "belle2", "babar2013", "-o",
                       str(tmp_path))
    assert code == 0, err
    ws = tmp_path / "combined_belle2_babar2013_bkgonly.json"
    for scen, extra in (("twobody-scalar", ["--masses", "2.0"]), ("sm", [])):
        code, _, err = run(capsys, "patchset", str(ws), "--scenario", scen, *extra, "-o",
                           str(tmp_path / f"{scen}.json"))
        assert code == 0, err
    (light,) = json.loads((tmp_path / "twobody-scalar.json").read_text())["patches"]
    sm_ops = [op["value"] for op in light["patch"] if op["value"]["name"] == "sm_nunu"]
    assert len(sm_ops) == 7  # Belle II's three signal channels, BaBar's K+, K0, K*+, K*0
    for v in sm_ops:
        (m,) = [m for m in v["modifiers"] if m["name"] == "sm_nunu_norm"]
        np.testing.assert_allclose(m["data"]["hi_data"], np.multiply(v["data"], 1 + r),
                                   rtol=1e-8)
        np.testing.assert_allclose(m["data"]["lo_data"], np.multiply(v["data"], 1 - r),
                                   rtol=1e-8)
    (smp,) = json.loads((tmp_path / "sm.json").read_text())["patches"]
    (m,) = [m for op in smp["patch"] for m in op["value"]["modifiers"]
            if m["name"] == "sm_nunu_norm"]
    host = next(op["value"]["data"] for op in smp["patch"]
                if m in op["value"]["modifiers"])
    assert m["data"] == {"hi_data": host, "lo_data": host}  # declared, no effect
    code, _, err = run(capsys, "patchset", "belle2", "--scenario", "twobody-scalar",
                       "--masses", "2.0", "-o", str(tmp_path / "b2.json"))
    assert code == 0, err
    (b2,) = json.loads((tmp_path / "b2.json").read_text())["patches"]
    assert not any(m["name"] == "sm_nunu_norm" for op in b2["patch"]
                   for m in op["value"]["modifiers"])
