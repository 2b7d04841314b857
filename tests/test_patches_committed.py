"""The committed standard PatchSets (patches/) on the bundled workspaces: valid, fresh, physical.

Independent facts used: pyhf's own schema/digest/CLI; the q^2_rec kinematics of the ITA
(q^2_rec = s/4 + m_K^2 - sqrt(s) E*_K for a B assumed at rest, shared/reference/belle2.md 1.4,
derived here from the Lorentz boost of the B with p*_B fixed by sqrt(s)); the three-body
threshold q^2 >= 4 m_X^2; ``emiss measure`` for the SM signal strength.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyhf
import pytest

import emiss.patches as P
from emiss.io import numeric_mismatches, read_json
from emiss.physics.scenarios import get_scenario

ROOT = Path(__file__).resolve().parents[1]
WS_DIR = ROOT / "workspaces"
PATCH_DIR = ROOT / "patches"
sys.path.insert(0, str(ROOT / "scripts"))
from build_patches import WORKSPACES, grid_entries, out_dir_name  # noqa: E402

#: every bundled workspace with standard patches: B -> K (ITA, HTA, combined), B -> K*, K + K*
STEMS = WORKSPACES
ENTRIES = {s: grid_entries(s) for s in STEMS}


def committed(stem: str, entry: str) -> Path:
    return PATCH_DIR / out_dir_name(stem) / f"{entry}.json"


@pytest.fixture(scope="module")
def cache():
    return {}


@pytest.fixture(scope="module")
def targets():
    return {s: P.load_target(WS_DIR / f"{s}.json") for s in STEMS}


def test_every_committed_patchset_is_valid_and_matches_its_workspace():
    for stem in STEMS:
        spec = read_json(WS_DIR / f"{stem}.json")
        ws = pyhf.Workspace(spec)
        for e in ENTRIES[stem]:
            ps_spec = read_json(committed(stem, e.name))
            ps = pyhf.PatchSet(ps_spec)  # schema, unique names and values
            ps.verify(ws)  # digest = pyhf.utils.digest(workspace)
            md = ps_spec["metadata"]
            assert md["references"]["hepdata"] == "ins2725943"
            assert "mu" in md["description"]
            for p in ps_spec["patches"]:
                assert p["metadata"]["emiss"]["reference_branching_ratio"] > 0
            # the first patch of each set gives a pyhf model with POI mu
            model = ws.model(patches=[ps.patches[0]])
            assert model.config.poi_name == "mu"


def test_committed_patchsets_are_not_stale(targets, cache):
    """Rebuild a thinned grid (first, last, every 7th hypothesis) and compare the patches."""
    for stem in STEMS:
        builder = P.TemplateBuilder(targets[stem], P.DEFAULT_FF_SAMPLES, P.DEFAULT_FF_SEED,
                                    cache=cache)
        for e in ENTRIES[stem]:
            old = read_json(committed(stem, e.name))
            res = P.resolve_entry(e)
            assert [p["metadata"]["name"] for p in old["patches"]] == \
                [h.name for h in res.hypotheses], f"{stem}/{e.name}: grid changed"
            keep = sorted({0, len(res.hypotheses) - 1, *range(0, len(res.hypotheses), 7)})
            thin = [res.hypotheses[i] for i in keep]
            new = P.build_patchset(targets[stem], _subset(e, thin), builder=builder)
            # numbers to STALE_RTOL (float noise differs between machines), the rest exactly
            diff = list(numeric_mismatches(new["metadata"], old["metadata"]))
            for i, p in zip(keep, new["patches"], strict=True):
                diff += numeric_mismatches(p, old["patches"][i], path=f"/patches/{i}")
            assert not diff, (f"{stem}/{e.name} is stale ({diff[0]}): "
                              "run python scripts/build_patches.py")


def test_no_stray_files_and_kstar_grid_below_its_endpoint():
    """Every committed file belongs to the grid; K* masses stay below (m_B0 - m_K*0) (PDG)."""
    for stem in STEMS:
        names = {f"{e.name}.json" for e in ENTRIES[stem]}
        assert {p.name for p in (PATCH_DIR / out_dir_name(stem)).glob("*.json")} == names
    m_b0, m_kst0 = 5.27966, 0.89555  # PDG 2024, GeV
    for e in grid_entries("belle2_kstar_bkgonly"):
        if e.masses is not None:
            n = 2 if e.scenario.startswith("threebody") else 1
            assert max(e.masses) < (m_b0 - m_kst0) / n
    assert not (WS_DIR / "belle2_kstar_patchsets").exists()


def _subset(entry, hyps):
    """A grid entry holding just the given hypotheses (same labels)."""
    from emiss.patches.grid import GridEntry

    if entry.masses is not None:
        return GridEntry(entry.scenario, masses=[h.mass for h in hyps], name=entry.name,
                         fixed=entry.fixed)
    if not entry.params:
        return entry

    class Sub(GridEntry):
        def hypotheses(self):
            return hyps

    return Sub(entry.scenario, params=entry.params, name=entry.name, fixed=entry.fixed)


def _q2rec_box(q2: float) -> tuple[float, float]:
    """Range of q^2_rec for true q^2 (belle2.md 1.4 and 1.7): the B moves in the CM frame with
    p*_B = sqrt(s/4 - m_B^2); q^2_rec = s/4 + m_K^2 - sqrt(s) E*_K(CM), E*_K uniform in
    gamma (E_K +- beta p_K) for an isotropic decay."""
    sqrt_s, m_b, m_k = 10.5794, 5.27934, 0.493677  # belle2.md 1.7 (PDG masses)
    s = sqrt_s**2
    gamma = sqrt_s / (2 * m_b)
    beta = math.sqrt(1 - 1 / gamma**2)
    e_k = (m_b**2 + m_k**2 - q2) / (2 * m_b)
    p_k = math.sqrt(e_k**2 - m_k**2)
    lo = s / 4 + m_k**2 - sqrt_s * gamma * (e_k + beta * p_k)
    hi = s / 4 + m_k**2 - sqrt_s * gamma * (e_k - beta * p_k)
    return lo, hi


def _signal(patch: dict, channel_index: int) -> np.ndarray:
    for op in patch["patch"]:
        if op["path"].startswith(f"/channels/{channel_index}/") and \
                op["value"]["name"] == "signal":
            return np.asarray(op["value"]["data"])
    raise AssertionError("no signal sample")


def _ita_layout():
    resp = read_json(WS_DIR / "belle2_ita_response.json")["channels"]["ita_onres"]["kernel"]
    return np.asarray(resp["q2rec_edges"]), len(resp["fractions"]), float(resp["sigma"])


def test_twobody_line_at_2p1_fills_only_the_box():
    edges, n_eta, sigma = _ita_layout()
    lo, hi = _q2rec_box(2.1**2)
    assert 2.9 < lo < 3.1 and 5.8 < hi < 6.0  # belle2.md 1.7 table: q2 = 4 -> [2.54, 5.49]
    ps = read_json(committed("belle2_ita_bkgonly", "twobody_scalar"))
    patch = next(p for p in ps["patches"] if p["metadata"]["name"] == "twobody_scalar_mX_2p10")
    y = _signal(patch, 0).reshape(n_eta, len(edges) - 1).sum(axis=0)  # per q2_rec bin
    frac = y / y.sum()
    for j in range(len(edges) - 1):
        overlap = max(0.0, min(hi, edges[j + 1]) - max(lo, edges[j])) / (hi - lo)
        if overlap == 0 and (edges[j] > hi + 8 * sigma or edges[j + 1] < lo - 8 * sigma):
            assert frac[j] < 1e-9, f"q2_rec bin {j} outside the box got {frac[j]}"
        else:  # a uniform box: the fraction is the overlap (resolution tails are symmetric)
            assert frac[j] == pytest.approx(overlap, abs=3e-3)


def test_threebody_pair_has_nothing_below_4mx2(targets):
    m = 1.5  # threshold q^2 = 9 GeV^2
    builder = P.TemplateBuilder(targets["belle2_ita_bkgonly"], n_samples=0)
    scen = get_scenario("threebody-scalar")
    binned, total = builder._integrals(scen, "B+->K+", m, {}, None)  # the fold's input
    ints = [b.continuum["total"] for b in binned]
    edges = targets["belle2_ita_bkgonly"].response.channels["ita_onres"].true_edges
    below = edges[1:] <= 4 * m * m
    assert total > 0 and np.all(ints[0][below] == 0.0) and ints[0][~below].sum() > 0
    # reco side: the lowest q^2_rec reachable from q^2 >= 9 is the box edge at q^2 = 9
    rec_lo = min(_q2rec_box(q2)[0] for q2 in np.linspace(9, 22.8, 200))
    q2edges, n_eta, sigma = _ita_layout()
    ps = read_json(committed("belle2_ita_bkgonly", "threebody_scalar"))
    patch = next(p for p in ps["patches"] if p["metadata"]["name"] == "threebody_scalar_mX_1p50")
    y = _signal(patch, 0).reshape(n_eta, len(q2edges) - 1).sum(axis=0)
    for j in range(len(q2edges) - 1):
        if q2edges[j + 1] < rec_lo - 8 * sigma:
            assert y[j] <= 1e-9 * y.sum()
    assert y.sum() > 0


def test_pyhf_cli_verify_extract_cls(tmp_path):
    ws = WS_DIR / "belle2_hta_bkgonly.json"
    ps = committed("belle2_hta_bkgonly", "twobody_scalar")
    exe = shutil.which("pyhf") or str(Path(sys.executable).with_name("pyhf"))
    pyhf_cli = [exe]
    ok = subprocess.run([*pyhf_cli, "patchset", "verify", str(ws), str(ps)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*pyhf_cli, "patchset", "verify",
                          str(WS_DIR / "belle2_ita_bkgonly.json"), str(ps)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "digest" in bad.stderr
    patch = tmp_path / "patch.json"
    subprocess.run([*pyhf_cli, "patchset", "extract", str(ps), "--name",
                    "twobody_scalar_mX_2p10", "--output-file", str(patch)], check=True)
    out = subprocess.run([*pyhf_cli, "cls", str(ws), "--patch", str(patch)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert 0.0 <= res["CLs_obs"] <= 1.0 and len(res["CLs_exp"]) == 5


def test_sm_patch_gives_the_measure_mu():
    from emiss.bundles import load_bundle
    from emiss.studies.measure import measure

    bundle = load_bundle(WS_DIR / "belle2_hta_bkgonly.json")
    mu_measure = measure(bundle).mu_hat
    ps = pyhf.PatchSet(read_json(committed("belle2_hta_bkgonly", "sm")))
    ws = pyhf.Workspace(bundle.spec)
    model = ws.model(patches=[ps["sm"]])
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4))
    try:
        best = pyhf.infer.mle.fit(ws.data(model), model)
    finally:
        pyhf.set_backend("numpy", "scipy")
    mu = float(best[model.config.poi_index])
    assert mu == pytest.approx(mu_measure, abs=0.01)
    em = ps["sm"].metadata["emiss"]
    assert em["reference_branching_ratio"] == 4.97e-6  # Belle II's mu = 1 (arXiv:2311.14647)


def _run(argv, capsys):
    from emiss.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr()


def test_cli_bad_input_clear_and_nothing_written(tmp_path, capsys):
    ws = str(WS_DIR / "belle2_hta_bkgonly.json")
    out = tmp_path / "ps.json"
    code, cap = _run(["patchset", ws, "--scenario", "twobody-scalar", "--masses", "1,4.9",
                      "-o", str(out)], capsys)
    assert code == 2 and "4.9" in cap.err and "endpoint" in cap.err
    assert len(cap.err.strip().splitlines()) == 1
    code, cap = _run(["patchset", ws, "--scenario", "nope", "--masses", "1", "-o", str(out)],
                     capsys)
    assert code == 2 and "unknown scenario 'nope'" in cap.err
    lonely = tmp_path / "lonely.json"
    shutil.copy(ws, lonely)  # no sidecar, hence no response
    code, cap = _run(["patchset", str(lonely), "--scenario", "sm", "-o", str(out)], capsys)
    assert code == 2 and "no sidecar" in cap.err and "--no-sidecar" in cap.err
    code, cap = _run(["patchset", str(lonely), "--scenario", "sm", "--no-sidecar", "-o",
                      str(out)], capsys)
    assert code == 2 and "no detector response" in cap.err
    code, cap = _run(["verify-patchset", str(WS_DIR / "belle2_ita_bkgonly.json"),
                      str(committed("belle2_hta_bkgonly", "sm"))], capsys)
    assert code == 2 and "digest mismatch" in cap.err
    assert list(tmp_path.iterdir()) == [lonely]  # no output, no temporary leftovers


def test_cli_writes_a_valid_deterministic_patchset(tmp_path, capsys):
    ws = str(WS_DIR / "belle2_hta_bkgonly.json")
    args = ["patchset", ws, "--scenario", "threebody-fermion", "--masses", "0.3,1.2",
            "--ff-samples", "20"]
    from emiss.cli import main

    main([*args, "-o", str(tmp_path / "a.json")])
    main([*args, "-o", str(tmp_path / "b.json")])
    a, b = (tmp_path / "a.json").read_bytes(), (tmp_path / "b.json").read_bytes()
    assert a == b
    spec = json.loads(a)
    pyhf.schema.validate(spec, "patchset.json")
    assert [p["metadata"]["name"] for p in spec["patches"]] == \
        ["threebody_fermion_mX_0p30", "threebody_fermion_mX_1p20"]
    assert spec["metadata"]["digests"]["sha256"] == pyhf.utils.digest(read_json(ws))


def test_templates_fold_exactly_like_the_response(targets):
    """The nominal SM template equals Response.fold of the SM spectrum at mu = 1 (4.97e-6)."""
    from emiss.physics.sm import sm_spectrum

    t = targets["belle2_combined_bkgonly"]
    ops = P.sm_patch(t, n_samples=0)
    sm = sm_spectrum("B+->K+")
    ref = sm.scaled(4.97e-6 / sm.branching_ratio())
    names = [c["name"] for c in t.spec["channels"]]
    folded = t.response.fold(ref)
    assert {names[int(op["path"].split("/")[2])] for op in ops} == set(folded)
    for op in ops:
        ch = names[int(op["path"].split("/")[2])]
        assert op["value"]["data"] == pytest.approx(folded[ch], rel=1e-7)
    # the response's batched fold agrees as well, lines included
    line = get_scenario("twobody-scalar").spectrum("B+->K+", mass=2.1)
    for c in t.channels():
        many = t.response.channels[c].fold_many([ref, line])
        for k, s in enumerate((ref, line)):
            assert many[k] == pytest.approx(t.response.fold(s)[c], rel=1e-12)


def test_heavy_np_bilinear_combination_equals_direct_spectrum(targets):
    builder = P.TemplateBuilder(targets["belle2_ita_bkgonly"], n_samples=4)
    scen = get_scenario("heavy-np")
    combined = builder.raw(scen, None, {"C_L": -3.0, "C_R": 2.0})
    direct = builder._raw_direct(scen, None, {"C_L": -3.0, "C_R": 2.0})
    assert combined.nominal == pytest.approx(direct.nominal, rel=1e-9)
    assert combined.draws == pytest.approx(direct.draws, rel=1e-9)
    assert combined.br["B+->K+"] == pytest.approx(direct.br["B+->K+"], rel=1e-9)


def test_cli_grid_file_response_override_and_plot(tmp_path, capsys):
    from emiss.cli import main

    grid = tmp_path / "g.toml"
    grid.write_text('[[patchsets]]\nname = "lines"\nscenario = "twobody-vector"\n'
                    'masses = "1:2:0.5"\n\n[[patchsets]]\nname = "np"\nscenario = "heavy-np"\n'
                    'params = {C_L = "-8,-4", C_R = 1}\n')
    ws = str(WS_DIR / "belle2_hta_bkgonly.json")
    main(["patchset", ws, "--grid", str(grid), "--ff-samples", "0", "-o", str(tmp_path / "o")])
    lines = read_json(tmp_path / "o" / "lines.json")
    assert lines["metadata"]["labels"] == ["m_X"] and len(lines["patches"]) == 3
    assert read_json(tmp_path / "o" / "np.json")["metadata"]["labels"] == ["C_L", "C_R"]
    # a workspace without sidecar: --response supplies the response, --hepdata the reference
    lonely = tmp_path / "lonely.json"
    shutil.copy(ws, lonely)
    resp = str(WS_DIR / "belle2_hta_response.json")
    code, cap = _run(["patchset", str(lonely), "--scenario", "sm", "--response", resp,
                      "--no-sidecar", "-o", str(tmp_path / "x.json")], capsys)
    assert code == 2 and "--hepdata" in cap.err and not (tmp_path / "x.json").exists()
    main(["patchset", str(lonely), "--scenario", "sm", "--response", resp, "--hepdata",
          "ins2725943", "--ff-samples", "0", "--no-sidecar", "-o", str(tmp_path / "x.json")])
    pyhf.PatchSet(read_json(tmp_path / "x.json")).verify(read_json(lonely))
    main(["plot", "templates", ws, "--scenario", "twobody-scalar", "--masses", "2.1",
          "-o", str(tmp_path / "fig")])
    for suffix in (".png", ".pdf"):
        assert (tmp_path / "fig" / f"templates_belle2_hta_bkgonly{suffix}").stat().st_size > 1000


def test_staleness_check_ignores_float_noise_and_catches_physics():
    """A committed PatchSet perturbed like another machine's floats (1e-15 relative, and
    1e-17 where an entry cancels to 0 next to entries of order 1e-2) is not stale; one yield
    changed by 1e-3 (far below any physics change) is."""
    old = read_json(committed("belle2_ita_bkgonly", "threebody_scalar"))

    count = [0]

    def noisy(x, in_array=False):  # deterministic: alternate signs of the perturbation
        if isinstance(x, dict):
            return {k: noisy(v) for k, v in x.items()}
        if isinstance(x, list):
            return [noisy(v, True) for v in x]
        if isinstance(x, float):
            count[0] += 1
            sign = 1 if count[0] % 2 else -1
            return sign * 9.4e-18 if x == 0.0 and in_array else x * (1 + sign * 1e-15)
        return x

    # the yields and systematics a machine computes (hypothesis coordinates are inputs)
    perturbed = {**old, "patches": [{**p, "patch": noisy(p["patch"])} for p in old["patches"]]}
    assert perturbed != old and not list(numeric_mismatches(perturbed, old))
    changed = json.loads(json.dumps(old))
    sample = changed["patches"][5]["patch"][0]["value"]
    sample["data"][2] = sample["data"][2] * (1 + 1e-3) + 1e-3 * max(sample["data"])
    diff = list(numeric_mismatches(changed, old))
    assert len(diff) == 1 and diff[0].startswith("/patches/5/patch/0/value/data/2")
