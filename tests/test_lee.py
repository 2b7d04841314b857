"""Look-elsewhere effect: toys against an exactly known trials factor, Gross-Vitells against Rice.

* Independent bins: hypothesis i puts signal only in bin i of a background-only model with known
  backgrounds and no nuisances. q0_i is increasing in n_i above b, so max_i q0_i >= q_obs exactly
  when some n_i >= n_obs, and P = 1 - (1 - P(n >= n_obs | b))^N (independent Poisson bins).
* Rice's formula (Rice 1945; Gross & Vitells arXiv:1005.1891, Eq. 7 for chi^2_1): a stationary
  Gaussian process Z(t) with correlation exp(-t^2 / 2 l^2) has on average
  T / (2 pi l) exp(-u^2 / 2) upcrossings of the level u on an interval of length T.
* Euler characteristic of the excursion set of a 1-D process (Vitells & Gross arXiv:1105.4355,
  Sec. 2): phi(A_u) = N_u + [Z(0) >= u], so E[phi] = P(Z(0) >= u) + E[N_u] = Phi(-u) + Rice, and
  P(max Z >= u) ~ E[phi] at high u; on a short interval (T = l) the boundary term is half of it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _counting import counting_workspace
from scipy.stats import norm, poisson

from emiss.inference.fastmodel import FastBackground
from emiss.inference.lee import (
    excursion_components,
    global_significance,
    gross_vitells,
    gross_vitells_observed,
    upcrossings,
)

NB, B, N_OBS, K_OBS = 8, 50.0, 66, 3
ROOT = Path(__file__).resolve().parents[1]


def _bins_case():
    obs = [B] * NB
    obs[K_OBS] = N_OBS
    ws = counting_workspace(obs, [B] * NB)
    patches = []
    for i in range(NB):
        sig = [0.0] * NB
        sig[i] = 10.0
        ops = [{"op": "add", "path": "/channels/0/samples/0",
                "value": {"name": "sig", "data": sig,
                          "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}}]
        patches.append((float(i + 1), ops))
    return FastBackground(ws), patches


def test_independent_bins_global_p_value_matches_the_trials_factor():
    bkg, patches = _bins_case()
    n_toys = 2000
    res = global_significance(bkg, patches, n_toys=n_toys, seed=4)
    # observed: the excess bin is the best point; q0 = 2 (n ln(n/b) - (n - b)) (Poisson, exact)
    assert res["best_mass"] == K_OBS + 1
    q = 2 * (N_OBS * math.log(N_OBS / B) - (N_OBS - B))
    assert res["q0_max"] == pytest.approx(q, rel=1e-6)
    p_loc = poisson.sf(N_OBS - 1, B)
    p_glob = 1 - (1 - p_loc) ** NB
    t = res["toys"]
    assert t["n_failed"] == 0
    sigma = math.sqrt(p_glob * (1 - p_glob) / n_toys)
    assert abs(t["p_global"] - p_glob) < 4 * sigma
    assert t["p_global_error"] == pytest.approx(sigma, rel=0.2)


def test_upcrossings_of_a_smooth_gaussian_process_follow_rice():
    rng = np.random.default_rng(1)
    ell, length, npts, n_paths = 1.0, 20.0, 401, 4000
    t = np.linspace(0, length, npts)
    cov = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)
    L = np.linalg.cholesky(cov + 1e-10 * np.eye(npts))
    z = rng.standard_normal((n_paths, npts)) @ L.T
    q = np.where(z > 0, z * z, 0.0)  # one-sided q0 = Z^2 (Z > 0), as in the scans
    for u0 in (0.5, 1.0, 1.5):
        n_up = upcrossings(q, u0 * u0)
        rice = length / (2 * math.pi * ell) * math.exp(-0.5 * u0 * u0)
        err = n_up.std() / math.sqrt(n_paths)
        # the grid step 0.05 l misses crossings pairs closer than one step: < 1 % here
        assert abs(n_up.mean() - rice) < 4 * err + 0.01 * rice, u0
    # Gross-Vitells at a high level against the simulated maximum (asymptotically exact;
    # at u = 3 the next-order term of the Euler-characteristic expansion is a few per cent)
    u = 3.0
    n0 = upcrossings(q, 1.0).mean()
    gv = gross_vitells(u * u, n0, 1.0)
    p_sim = np.mean(q.max(axis=1) >= u * u)
    err = math.sqrt(p_sim * (1 - p_sim) / n_paths)
    assert abs(gv["p_global"] - p_sim) < 4 * err + 0.1 * p_sim
    assert gv["p_local"] == pytest.approx(norm.sf(u))


def test_gross_vitells_formula():
    gv = gross_vitells(16.0, 2.0, 1.0)
    assert gv["p_global"] == pytest.approx(norm.sf(4.0) + 2.0 * math.exp(-7.5))
    assert gv["trials_factor"] == pytest.approx(gv["p_global"] / norm.sf(4.0))


def test_global_significance_needs_a_scan():
    bkg, patches = _bins_case()
    from emiss.errors import EmissError

    with pytest.raises(EmissError, match="at least 2 masses"):
        global_significance(bkg, patches[:1], n_toys=10)
    with pytest.raises(EmissError, match="repeated"):
        global_significance(bkg, [patches[0], patches[0]], n_toys=10)


def test_an_excursion_touching_the_low_mass_edge_counts_once():
    """Hand-made curves: the boundary piece is counted by the Euler characteristic, not by the
    interior upcrossings; a curve that starts above c0 gets a trials factor above 1."""
    q = np.array([4.0, 3.0, 0.5, 2.0, 0.2, 1.5, 0.1])
    assert upcrossings(q, 1.0) == 2 and excursion_components(q, 1.0) == 3
    # one broad excursion from the edge (a pair scenario's q0 is largest at low mass)
    q = np.array([7.1, 8.2, 11.0, 9.0, 5.4, 0.1, 0.0])
    assert upcrossings(q, 1.0) == 0 and excursion_components(q, 1.0) == 1
    gv = gross_vitells_observed(q, 1.0)
    assert gv["starts_above_ref"] and gv["euler_characteristic_ref"] == 1
    # <N(1)> = phi - P(q0 >= 1) = 1 - Phi(-1); p = Phi(-sqrt(c)) + <N> exp(-(c - 1)/2)
    n = 1.0 - norm.sf(1.0)
    assert gv["n_up_ref"] == pytest.approx(n, rel=1e-12)
    assert gv["p_global"] == pytest.approx(norm.sf(math.sqrt(11.0)) + n * math.exp(-5.0),
                                           rel=1e-12)
    assert gv["trials_factor"] > 1 and gv["Z_global"] < math.sqrt(11.0)
    assert gv["toys_needed"] and any("low-mass edge" in c for c in gv["caveats"])
    # a curve that never reaches c0 has nothing to extrapolate from: said, not hidden
    flat = gross_vitells_observed(np.array([0.2, 0.5, 0.3]), 1.0)
    assert flat["trials_factor"] == 1.0 and flat["toys_needed"]
    assert any("no upcrossing" in c for c in flat["caveats"])


def test_euler_characteristic_with_the_boundary_gives_the_global_p_value():
    """Short interval T = l: E[phi(A_u)] = Phi(-u) + T/(2 pi l) exp(-u^2/2) (boundary + Rice),
    and the simulated P(max >= u) equals it; interior upcrossings alone miss half of it."""
    rng = np.random.default_rng(2)
    ell, length, npts, n_paths = 1.0, 1.0, 51, 40000
    t = np.linspace(0, length, npts)
    cov = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)
    z = rng.standard_normal((n_paths, npts)) @ np.linalg.cholesky(cov + 1e-10 * np.eye(npts)).T
    q = np.where(z > 0, z * z, 0.0)
    for u in (1.0, 2.0, 3.0):
        phi = excursion_components(q, u * u)
        ec = norm.sf(u) + length / (2 * math.pi * ell) * math.exp(-0.5 * u * u)
        err = phi.std() / math.sqrt(n_paths)
        assert abs(phi.mean() - ec) < 4 * err + 0.01 * ec, u  # grid step 0.02 l: < 1 % missed
        p_max = np.mean(q.max(axis=1) >= u * u)
        assert abs(p_max - ec) < 4 * math.sqrt(ec * (1 - ec) / n_paths) + 0.01 * ec, u
        assert upcrossings(q, u * u).mean() < 0.7 * ec  # the boundary term is not small here


def test_trials_factor_is_never_below_one_silently(caplog):
    rng = np.random.default_rng(0)
    for c, n in zip(rng.uniform(0, 30, 200), rng.uniform(-2, 20, 200), strict=True):
        gv = gross_vitells(c, n, 1.0)
        assert gv["trials_factor"] >= 1.0
        assert gv["p_global"] >= gv["p_local"]
        assert gv["trials_factor_clipped"] == (n < 0)
    with caplog.at_level("WARNING", logger="emiss.inference.lee"):
        gv = gross_vitells(9.0, -0.5, 1.0)
    assert gv["trials_factor"] == 1.0 and gv["trials_factor_clipped"]
    assert "clipped" in caplog.text and any("clipped" in c for c in gv["caveats"])


def test_gross_vitells_says_when_toys_are_needed():
    # a precise <N(c0)> and a moderate extrapolation: no caveat
    ok = gross_vitells(9.0, 3.0, 1.0, n_up_error=0.05)
    assert not ok["toys_needed"] and ok["caveats"] == []
    # one observed curve: <N> known to +- sqrt(N)
    assert gross_vitells(9.0, 2.0, 1.0, n_up_error=math.sqrt(2.0))["toys_needed"]
    # the rate extrapolated over more than four decades (c - c0 > 2 ln 1e4 = 18.4)
    far = gross_vitells(30.0, 3.0, 1.0, n_up_error=0.05)
    assert far["toys_needed"] and any("far above" in c for c in far["caveats"])
    # the toys do not reach p_GV < 10 / N_toys
    few = gross_vitells(16.0, 3.0, 1.0, n_up_error=0.05, n_toys=1000)
    assert any("10/N_toys" in c for c in few["caveats"])


def _agree(res: dict, n_toys: int) -> None:
    """Toy global p-values and Gross-Vitells (toys' <N(1)>) agree within the toy error: at the
    observed max (Poisson count of exceeding toys, two-sided 1e-3) and at the levels u = 4, 9
    (Z_local = 2, 3; binomial, 3 sigma); below that the Euler-characteristic approximation
    over-counts by design (several excursion pieces are likely)."""
    t, gv = res["toys"], res["gross_vitells_toys"]
    lam = n_toys * gv["p_global"]
    k = t["n_exceeding"]
    assert poisson.sf(k - 1, lam) > 1e-3 and poisson.cdf(k, lam) > 1e-3, (k, lam)
    for c in t["gv_check"]:
        if c["u"] in (4.0, 9.0):
            sig = math.sqrt(c["p_gv"] * (1 - c["p_gv"]) / n_toys)
            assert abs(c["p_toys"] - c["p_gv"]) < 3 * sig, c
    assert t["n_failed"] == 0
    assert gv["trials_factor"] >= 1 and gv["Z_global"] <= res["Z_local"] + 1e-12


@pytest.mark.parametrize("name,step", [("twobody_scalar", 3), ("threebody_fermion", 2)])
def test_toys_and_gross_vitells_agree_on_the_emulation(name, step):
    """The bundled B -> K emulation with its committed two-body and fermion-pair grids (every
    step-th mass). Both observed q0 curves start above c0 = 1 at the low-mass edge: counted."""
    ws = json.loads((ROOT / "workspaces" / "belle2_combined_bkgonly.json").read_text())
    ps = json.loads((ROOT / "patches" / "belle2_combined" / f"{name}.json").read_text())
    pts = [(float(p["metadata"]["values"][0]), p["patch"]) for p in ps["patches"]][::step]
    n_toys = 250
    res = global_significance(FastBackground(ws), pts, n_toys=n_toys, seed=3)
    _agree(res, n_toys)
    obs = res["gross_vitells_observed"]
    assert res["q0_obs"][0] >= 1.0 and obs["starts_above_ref"]
    assert obs["n_up_ref"] > 0 and obs["trials_factor"] > 1


@pytest.mark.parametrize("scenario,masses", [("twobody-scalar", "0.1:4.6:0.3"),
                                             ("threebody-fermion", "0:2.2:0.15")])
def test_toys_and_gross_vitells_agree_on_belle2(tmp_path, scenario, masses):
    """Belle II's released likelihood on coarse grids (16 and 15 masses), 400 toys."""

    from emiss.bundles import load_bundle
    from emiss.patches import build_patchset, make_entry
    from emiss.patches.target import target_from_bundle

    bundle = load_bundle("belle2")
    ps = build_patchset(target_from_bundle(bundle), make_entry(scenario, masses=masses),
                        n_samples=0)
    pts = [(float(p["metadata"]["values"][0]), p["patch"]) for p in ps["patches"]]
    n_toys = 400
    res = global_significance(FastBackground(bundle.spec), pts, n_toys=n_toys, seed=1)
    _agree(res, n_toys)


def test_compare_table_counts_the_edge_and_says_toys_are_needed():
    """A pair-like scan (q0 largest at the low-mass edge) without toys: the boundary piece is
    counted (trials factor > 1, Z_global(GV) < Z_local) and the table flags it with a caveat."""
    from emiss.inference.compare import compare, format_table

    z = [2.7, 2.9, 3.3, 3.0, 2.2, 0.3, 0.0]  # local Z per mass, first above 1
    rows = [{"name": f"p{i}", "scenario": "threebody-fermion", "status": "ok", "m_X": 0.1 * i,
             "Z": zi, "twice_nll": -zi * zi, "mu_hat": 1.0, "br_hat": 1e-5}
            for i, zi in enumerate(z)]
    cmp = compare([{"workspace_digest": "w", "results": rows}])
    g = cmp["workspaces"][0]["scenarios"][0]["global"]
    gv = g["gross_vitells_observed"]
    n = 1.0 - norm.sf(1.0)  # phi = 1 (the edge piece) minus its expected share
    assert gv["n_up_ref"] == pytest.approx(n, rel=1e-5) and gv["starts_above_ref"]
    p = norm.sf(3.3) + n * math.exp(-(3.3**2 - 1) / 2)
    assert gv["p_global"] == pytest.approx(p, rel=1e-5)
    assert gv["Z_global"] < 3.3 and gv["trials_factor"] > 1
    table = format_table(cmp)
    assert f"{gv['Z_global']:.2f}!" in table and "low-mass edge" in table
    assert "toys needed" in table and "--global-toys" in table
