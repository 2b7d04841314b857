"""Look-elsewhere effect: toys against an exactly known trials factor, Gross-Vitells against Rice.

* Independent bins: hypothesis i puts signal only in bin i of a background-only model with known
  backgrounds and no nuisances. q0_i is increasing in n_i above b, so max_i q0_i >= q_obs exactly
  when some n_i >= n_obs, and P = 1 - (1 - P(n >= n_obs | b))^N (independent Poisson bins).
* Rice's formula (Rice 1945; Gross & Vitells arXiv:1005.1891, Eq. 7 for chi^2_1): a stationary
  Gaussian process Z(t) with correlation exp(-t^2 / 2 l^2) has on average
  T / (2 pi l) exp(-u^2 / 2) upcrossings of the level u on an interval of length T.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _counting import counting_workspace
from scipy.stats import norm, poisson

from emiss.inference.fastmodel import FastBackground
from emiss.inference.lee import global_significance, gross_vitells, upcrossings

NB, B, N_OBS, K_OBS = 8, 50.0, 66, 3


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
