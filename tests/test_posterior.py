"""Posteriors and evidences against counting models whose answers are known analytically.

* Poisson counting, known background b, signal s = 10 mu with mu flat on [0, 5]: the posterior
  of x = s + b is a Gamma(n + 1, 1) truncated to [b, b + 50] (Bayes' theorem with a flat prior),
  so quantiles follow from the regularised incomplete gamma function; the evidence is
  (P(n+1, b+50) - P(n+1, b)) / 50 (P: regularised lower incomplete gamma).
* Gamma-Poisson conjugacy: a shapesys background gamma has the prior tau Pois(a | tau gamma) =
  Gamma(a + 1, rate tau); with n ~ Pois(b0 gamma) the posterior is Gamma(a + 1 + n, tau + b0) and
  the evidence the negative-binomial b0^n tau^(a+1) Gamma(n+a+1) / (n! Gamma(a+1) (b0+tau)^(n+a+1)).
* A Gaussian-constrained background (staterror) with a free signal: reference values by
  two-dimensional quadrature of the same density (scipy), independent of the samplers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _counting import counting_workspace
from scipy import integrate
from scipy.special import gammainc, gammaincinv, gammaln
from scipy.stats import gamma as gamma_dist
from scipy.stats import norm, poisson

from emiss.inference.bayes import bayes_factor_table, evidence, kass_raftery, mass_weights
from emiss.inference.fastmodel import model_from_workspace
from emiss.inference.posterior import (
    PosteriorSetup,
    hpd_interval,
    sample_posterior,
    split_rhat,
)

N, B, S0, MUMAX = 7, 2.0, 10.0, 5.0


def _gamma_case():
    fm = model_from_workspace(counting_workspace([N], [B], signal=[S0]))
    return PosteriorSetup(fm, 1.0, MUMAX, None)


def _gamma_quantile(u: float) -> float:
    a, c = gammainc(N + 1, B), gammainc(N + 1, B + S0 * MUMAX)
    return (gammaincinv(N + 1, a + u * (c - a)) - B) / S0


def _mc_tol(draws: np.ndarray, ess: float, q: float) -> float:
    """4 sigma of a sample quantile: sqrt(q (1-q) / ESS) / density, density from the draws."""
    lo, hi = np.quantile(draws, [max(q - 0.05, 0.0), min(q + 0.05, 1.0)])
    dens = 0.1 / (hi - lo)
    return 4.0 * math.sqrt(q * (1 - q) / ess) / dens


@pytest.mark.parametrize("sampler", ["nuts", "emcee"])
def test_gamma_posterior_quantiles_mode_and_evidence(sampler):
    run = sample_posterior(_gamma_case(), sampler=sampler, draws=1000, tune=300, chains=4,
                           seed=3)
    mu = run.poi()
    ess = run.diagnostics["ess_poi"]
    assert run.diagnostics["rhat_poi"] < 1.01
    for q in (0.1587, 0.5, 0.8413):
        assert abs(np.quantile(mu, q) - _gamma_quantile(q)) < _mc_tol(mu, ess, q), q
    # mode of (s + b)^n e^-(s+b): s = n - b
    from emiss.inference.posterior import kde_mode

    sd = float(np.std(mu))
    assert abs(kde_mode(mu) - (N - B) / S0) < 0.25 * sd
    ev = evidence(run, seed=1)
    ln_z = math.log((gammainc(N + 1, B + S0 * MUMAX) - gammainc(N + 1, B)) / (S0 * MUMAX))
    assert abs(ev["ln_z"] - ln_z) < 4 * ev["ln_z_error"] + 1e-3
    assert ev["ln_z_error"] < 0.05


def test_hpd_interval_of_a_known_density():
    # Gamma(3): the shortest 68 % interval [a, b] has equal density at both ends
    d = gamma_dist(3.0)
    s = d.ppf((np.arange(200000) + 0.5) / 200000)
    lo, hi = hpd_interval(s, 0.6827)
    assert d.cdf(hi) - d.cdf(lo) == pytest.approx(0.6827, abs=1e-3)
    assert d.pdf(lo) == pytest.approx(d.pdf(hi), rel=2e-2)


def test_gamma_poisson_conjugate_shapesys_background():
    b0, delta, n = 20.0, 4.0, 30
    tau = (b0 / delta) ** 2  # pyhf shapesys: tau = (nominal / uncertainty)^2, auxdata = tau
    mods = [{"name": "bkg_shape", "type": "shapesys", "data": [delta]}]
    fm = model_from_workspace(counting_workspace([n], [b0], signal=[5.0], bkg_modifiers=mods))
    setup = PosteriorSetup(fm, 1.0, None, poi_fixed=0.0)
    run = sample_posterior(setup, draws=1000, tune=300, chains=4, seed=5)
    g = run.chain[:, :, 0].ravel()
    post = gamma_dist(tau + 1 + n, scale=1.0 / (tau + b0))
    ess = run.diagnostics["ess_min"]
    assert abs(g.mean() - post.mean()) < 4 * post.std() / math.sqrt(ess)
    assert g.std() == pytest.approx(post.std(), rel=4 * math.sqrt(0.5 / ess) + 0.01)
    ev = evidence(run, seed=2)
    a = tau
    ln_z = (n * math.log(b0) + (a + 1) * math.log(tau) + gammaln(n + a + 1) - gammaln(n + 1)
            - gammaln(a + 1) - (n + a + 1) * math.log(b0 + tau))
    assert abs(ev["ln_z"] - ln_z) < 4 * ev["ln_z_error"] + 1e-3


def test_gaussian_constrained_background_against_quadrature():
    b0, rel, s0, n, mumax = 50.0, 0.1, 20.0, 75, 5.0
    mods = [{"name": "stat", "type": "staterror", "data": [b0 * rel]}]
    fm = model_from_workspace(counting_workspace([n], [b0], signal=[s0], bkg_modifiers=mods))
    setup = PosteriorSetup(fm, 1.0, mumax, None)
    run = sample_posterior(setup, draws=1000, tune=300, chains=4, seed=7)
    mu = run.poi()

    # Gauss-Legendre in gamma over +-6 sigma (the prior mass outside is 2e-9), fine grid in mu
    x, wq = np.polynomial.legendre.leggauss(200)
    g = 1.0 + 6 * rel * x
    wg = 6 * rel * wq
    grid = np.linspace(0, mumax, 4001)
    lam = s0 * grid[:, None] + b0 * g[None, :]
    dens = poisson.pmf(n, lam) * norm.pdf(g, 1.0, rel)[None, :] / mumax
    marg = dens @ wg
    z = integrate.simpson(marg, x=grid)
    cdf = integrate.cumulative_trapezoid(marg, grid, initial=0.0)
    cdf /= cdf[-1]
    median = float(np.interp(0.5, cdf, grid))
    assert abs(np.median(mu) - median) < _mc_tol(mu, run.diagnostics["ess_poi"], 0.5)
    ev = evidence(run, seed=3)
    assert abs(ev["ln_z"] - math.log(z)) < 4 * ev["ln_z_error"] + 1e-3


def test_bayes_factor_of_two_counting_hypotheses():
    """H1: signal mu flat on [0, 5] versus H0: background only; both evidences analytic."""
    run1 = sample_posterior(_gamma_case(), draws=1000, tune=300, seed=11)
    ev1 = evidence(run1, seed=4)
    fm = model_from_workspace(counting_workspace([N], [B], signal=[S0]))
    run0 = sample_posterior(PosteriorSetup(fm, 1.0, None, poi_fixed=0.0), draws=10, seed=1)
    ev0 = evidence(run0)
    assert ev0["ln_z"] == pytest.approx(poisson.logpmf(N, B), abs=1e-9)
    table = {r["scenario"]: r for r in bayes_factor_table({"h1": ev1, "h0": ev0}, "h0")}
    exact = math.log((gammainc(N + 1, B + S0 * MUMAX) - gammainc(N + 1, B)) / (S0 * MUMAX)) \
        - poisson.logpmf(N, B)
    assert abs(table["h1"]["ln_bf"] - exact) < 4 * table["h1"]["ln_bf_error"] + 1e-3
    # 2 ln K = 2 * 2.1 = 4.2: "positive" on the Kass-Raftery scale
    assert kass_raftery(2 * exact) == "positive"


def test_mass_weights_flat_and_log():
    w = mass_weights([1.0, 2.0, 3.0], "flat")
    assert w.tolist() == pytest.approx([1 / 3] * 3)
    wl = mass_weights([1.0, 2.0, 4.0], "log")
    # cells [0.5, 1.5], [1.5, 3], [3, 5]: weights proportional to ln(hi / lo)
    raw = np.log([3.0, 2.0, 5.0 / 3.0])
    assert wl.tolist() == pytest.approx((raw / raw.sum()).tolist())


def test_split_rhat_detects_unmixed_chains():
    rng = np.random.default_rng(0)
    good = rng.standard_normal((1000, 4))
    bad = good + np.array([0.0, 0.0, 3.0, 3.0])
    assert split_rhat(good) < 1.01
    assert split_rhat(bad) > 1.5


def test_nuts_runs_are_deterministic_for_a_fixed_seed():
    mods = [{"name": "s", "type": "staterror", "data": [0.5]}]
    fm = model_from_workspace(counting_workspace([N], [B], signal=[S0], bkg_modifiers=mods))
    setup = PosteriorSetup(fm, 1.0, MUMAX, None)
    a = sample_posterior(setup, draws=100, tune=100, chains=2, seed=4).chain
    b = sample_posterior(setup, draws=100, tune=100, chains=2, seed=4).chain
    c = sample_posterior(setup, draws=100, tune=100, chains=2, seed=5).chain
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
