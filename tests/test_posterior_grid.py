"""`emiss posterior` / `emiss bayes` / `emiss compare --global-toys` on a mass grid whose evidences
are analytic: grid point i puts signal s0 = 10 mu only into bin i of three known-background bins,
so Z_i = prod_{j != i} Pois(n_j | b) x (P(n_i + 1, b + 10 mu_max) - P(n_i + 1, b)) / (10 mu_max)
(flat prior in mu; P the regularised lower incomplete gamma) and SM-only has Z = prod_j Pois(n_j|b).
"""

from __future__ import annotations

import json
import math

import pytest
from _counting import counting_workspace, patchset
from cli_run import run
from scipy.special import gammainc
from scipy.stats import poisson

B, S0, REF, BR_MAX = 5.0, 10.0, 1e-5, 5e-5
N_OBS = [9, 4, 6]


def _inputs(tmp_path):
    ws = counting_workspace(N_OBS, [B] * 3)
    patches = []
    for i in range(3):
        sig = [0.0] * 3
        sig[i] = S0
        patches.append({"metadata": {"name": f"m{i + 1}", "values": [float(i + 1)],
                                     "emiss": {"scenario": "twobody-scalar",
                                               "process": "B+->K+",
                                               "reference_branching_ratio": REF}},
                        "patch": [{"op": "add", "path": "/channels/0/samples/0",
                                   "value": {"name": "sig", "data": sig, "modifiers": [
                                       {"name": "mu", "type": "normfactor", "data": None}]}}]})
    ps = patchset(ws, patches)
    wp, pp = tmp_path / "ws.json", tmp_path / "ps.json"
    wp.write_text(json.dumps(ws))
    pp.write_text(json.dumps(ps))
    return wp, pp


def _ln_z(i: int) -> float:
    mumax = BR_MAX / REF
    others = sum(poisson.logpmf(N_OBS[j], B) for j in range(3) if j != i)
    n = N_OBS[i]
    return others + math.log((gammainc(n + 1, B + S0 * mumax) - gammainc(n + 1, B))
                             / (S0 * mumax))




def test_posterior_grid_evidences_mass_posterior_and_determinism(tmp_path, capsys):
    wp, pp = _inputs(tmp_path)
    common = [str(wp), str(pp), "--br-max", str(BR_MAX), "--sampler", "emcee", "--draws",
              "500", "--tune", "150", "--seed", "5", "--min-weight", "0"]
    code, out, err = run(capsys, "posterior", *common, "-o", str(tmp_path / "a"))
    assert code == 0, err
    assert "Bayes factors against sm-only" in out
    doc = json.loads((tmp_path / "a" / "posterior.json").read_text())
    assert doc["format"] == "emiss-posterior/1"
    scen = {s["scenario"]: s for s in doc["scenarios"]}["twobody-scalar"]
    exact = [_ln_z(i) for i in range(3)]
    for i, p in enumerate(scen["points"]):
        assert abs(p["ln_z"] - exact[i]) < 4 * p["ln_z_error"] + 2e-3, i
        assert p["diagnostics"]["rhat_poi"] < 1.02
    tot = math.log(sum(math.exp(z) for z in exact) / 3)
    probs = [math.exp(z - tot) / 3 for z in exact]
    for p, q in zip(scen["points"], probs, strict=True):
        assert p["posterior_probability"] == pytest.approx(q, abs=0.01)
    assert scen["mass"]["mode"] == 1.0  # the 9-event bin
    ref = sum(poisson.logpmf(n, B) for n in N_OBS)
    assert doc["reference"]["ln_z"] == pytest.approx(ref, rel=1e-5)  # 6 digits written
    bf = {r["scenario"]: r for r in doc["bayes_factors"]}
    assert bf["twobody-scalar"]["ln_bf"] == pytest.approx(tot - ref, abs=4 * max(
        bf["twobody-scalar"]["ln_bf_error"], 1e-3))
    assert (tmp_path / "a" / "posterior_twobody-scalar.png").exists()
    assert (tmp_path / "a" / "posterior_twobody-scalar.pdf").exists()
    # same seed: the same bytes
    code, _, err = run(capsys, "posterior", *common, "-o", str(tmp_path / "b"), "--no-plots")
    assert code == 0, err
    assert (tmp_path / "a" / "posterior.json").read_bytes() == \
        (tmp_path / "b" / "posterior.json").read_bytes()
    # emiss bayes re-reads the file
    code, out, _ = run(capsys, "bayes", str(tmp_path / "a" / "posterior.json"), "--json")
    assert code == 0
    rows = {r["scenario"]: r for r in json.loads(out)}
    assert rows["twobody-scalar"]["ln_bf"] == pytest.approx(bf["twobody-scalar"]["ln_bf"])


def test_posterior_of_a_single_hypothesis_has_no_mass_interval(tmp_path, capsys):
    """One patch (--names m1): the summary says there is no mass interval instead of crashing;
    the evidence and the median of B are the analytic ones of bin 1 (n = 9 on b = 5)."""
    from scipy.optimize import brentq

    wp, pp = _inputs(tmp_path)
    code, out, err = run(capsys, "posterior", str(wp), str(pp), "--names", "m1", "--br-max",
                         str(BR_MAX), "--sampler", "emcee", "--draws", "200", "--tune", "50",
                         "--seed", "2", "-o", str(tmp_path / "one"))
    assert code == 0, err
    assert "no mass interval" in out and "Traceback" not in err
    assert (tmp_path / "one" / "posterior_twobody-scalar.png").exists()
    doc = json.loads((tmp_path / "one" / "posterior.json").read_text())
    scen = {s["scenario"]: s for s in doc["scenarios"]}["twobody-scalar"]
    m = scen["mass"]
    assert m["single_point"] is True and "no credible interval" in m["note"]
    assert "hpd_68" not in m and m["probabilities"] == [1.0] and m["mode"] == 1.0
    point = scen["points"][0]
    assert abs(point["ln_z"] - _ln_z(0)) < 4 * point["ln_z_error"] + 2e-3
    # posterior of x = b + S0 mu: Gamma(n + 1) truncated to [b, b + S0 mu_max] (flat prior)
    n, hi = N_OBS[0], B + S0 * BR_MAX / REF
    lo_c, hi_c = gammainc(n + 1, B), gammainc(n + 1, hi)
    x_med = brentq(lambda x: gammainc(n + 1, x) - 0.5 * (lo_c + hi_c), B, hi)
    dens = math.exp(n * math.log(x_med) - x_med - math.lgamma(n + 1)) / (hi_c - lo_c)
    sigma = 0.5 / math.sqrt(point["diagnostics"]["ess_poi"]) / dens  # median's MC error in x
    b_med = (x_med - B) / S0 * REF
    assert scen["B"]["median"] == pytest.approx(b_med, abs=4 * sigma / S0 * REF)


def test_posterior_bad_input_is_one_line_exit_2(tmp_path, capsys):
    wp, pp = _inputs(tmp_path)
    code, _, err = run(capsys, "posterior", str(wp), str(pp), "-o", str(tmp_path / "o"),
                       "--br-max", "-1")
    assert code == 2 and "--br-max" in err and err.count("\n") == 1
    code, _, err = run(capsys, "posterior", str(wp), str(pp), "-o", str(tmp_path / "o"),
                       "--names", "nope")
    assert code == 2 and "nope" in err
    assert not (tmp_path / "o").exists()
    code, _, err = run(capsys, "bayes", str(wp))
    assert code == 2 and "not an emiss posterior file" in err


def test_compare_reports_global_significance(tmp_path, capsys):
    wp, pp = _inputs(tmp_path)
    from emiss.inference.scan import scan

    ws = json.loads(wp.read_text())
    ps = json.loads(pp.read_text())
    scan(ws, [ps], tmp_path / "r.json", jobs=1)
    code, out, err = run(capsys, "compare", str(tmp_path / "r.json"), "--global-toys", "300",
                         "--workspace", str(wp), "--patchset", str(pp), "--json")
    assert code == 0, err
    cmp = json.loads(out)
    g = cmp["workspaces"][0]["scenarios"][0]["global"]
    # three independent bins: p_global = 1 - (1 - p_loc)^3 with p_loc = P(n >= 9 | 5)
    p_loc = poisson.sf(8, B)
    exact = 1 - (1 - p_loc) ** 3
    t = g["toys"]
    assert t["n_toys"] == 300
    assert abs(t["p_global"] - exact) < 4 * math.sqrt(exact * (1 - exact) / 300)
    assert "gross_vitells_observed" in g and "gross_vitells_toys" in g
    code, out, _ = run(capsys, "compare", str(tmp_path / "r.json"))
    assert code == 0 and "Z_global(GV)" in out
    code, _, err = run(capsys, "compare", str(tmp_path / "r.json"), "--global-toys", "10")
    assert code == 2 and "--workspace" in err
    # a bundled workspace by name is found (and refused: the patchset was not made for it)
    code, _, err = run(capsys, "compare", str(tmp_path / "r.json"), "--global-toys", "10",
                       "--workspace", "belle2_hta_bkgonly", "--patchset", str(pp))
    assert code == 2 and "does not exist" not in err and "given workspace has sha256" in err, err


def test_mass_cells_never_reach_negative_masses():
    """Cells end half-way between grid points; the lowest one stops at m = 0 (a mass is never
    negative), so all the probability of the lowest point sits in [0, (m0 + m1)/2]."""
    import numpy as np

    from emiss.inference.posterior_grid import mass_summary

    out = mass_summary(np.array([0.1, 0.5, 1.0]), np.array([0.9, 0.05, 0.05]),
                       np.ones(3) / 3, "flat")
    assert out["hpd_68"][0] == 0.0 and out["central_68"][0] >= 0.0
    # density 0.9 / 0.3 on [0, 0.3]: the median is where 0.5 of the mass is reached
    assert out["median"] == pytest.approx(0.5 / 0.9 * 0.3, rel=1e-12)
