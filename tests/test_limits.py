"""Fast CLs limits / discovery / best fit against pyhf 0.7.6 and closed-form asymptotics."""

from __future__ import annotations

import logging
import math

import numpy as np
import pyhf
import pytest
from scipy.optimize import brentq
from scipy.special import gammaln
from scipy.stats import norm
from toy_model import toy_signal_patch, toy_workspace

from emiss.errors import EmissError
from emiss.inference import limits
from emiss.inference.limits import GridAnalyzer, reference_analyse

# small model: pyhf's reference limits take seconds per patch even here
SMALL = toy_workspace({"sr": 3}, ("b1",), seed=4, scale=30.0)
PATCHES = [toy_signal_patch(SMALL, p, total_yield=12.0, with_systematics=s)
           for p, s in ((0.2, False), (0.8, True))]


@pytest.fixture(scope="module", params=["fast", "reference"])
def fast_rows(request):
    """Rows of both compiled engines: the fast one and the previous (dense) one."""
    ga = GridAnalyzer(SMALL, engine=request.param)
    rows, warm = [], None
    for p in PATCHES:
        r = ga.analyse(p, warm_start=warm)
        warm = r.pop("warm_start")
        rows.append(r)
    return rows


#: relative agreement required between the fast engine and pyhf (limits)
LIMIT_RTOL = 1e-3


@pytest.mark.parametrize("i", [0, 1])
def test_fast_equals_pyhf_reference(fast_rows, i):
    """pyhf's own CLs limits lie within LIMIT_RTOL of the fast ones.

    pyhf's CLs(mu) (qtilde, asymptotic) falls monotonically through 1 - cl at its limit, so the
    pyhf limit lies in (f (1 - r), f (1 + r)) exactly when CLs is above 0.05 at f (1 - r) and
    below at f (1 + r): the same statement as |f - pyhf| <= r f, from two pyhf hypotests per
    limit instead of pyhf's full root search (~45 hypotests per patch). mu_hat, -2 ln L and p0
    come from pyhf's plain fit and q0 test (``emiss.inference.limits.reference_analyse`` runs
    the same pyhf calls).
    """
    fast = fast_rows[i]
    assert fast["status"] == "ok"
    ws = pyhf.Workspace(SMALL)
    model = ws.model(patches=[PATCHES[i]])
    data = ws.data(model)
    pyhf.set_backend("numpy", "scipy")
    pars, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    mu_hat = float(pars[model.config.poi_index])
    p0 = float(pyhf.infer.hypotest(0.0, data, model, test_stat="q0"))

    def cls(mu: float) -> tuple[float, list[float]]:
        obs, exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde",
                                       return_expected_set=True)
        return float(obs), [float(e) for e in exp]

    for k, limit in enumerate([fast["mu_limit_obs"], *fast["mu_limit_exp"]]):
        lo, hi = cls(limit * (1 - LIMIT_RTOL)), cls(limit * (1 + LIMIT_RTOL))
        at_lo = lo[0] if k == 0 else lo[1][k - 1]
        at_hi = hi[0] if k == 0 else hi[1][k - 1]
        assert at_lo > 0.05 > at_hi, (k, limit, at_lo, at_hi)
    limit_exp_median = fast["mu_limit_exp"][2]
    assert fast["mu_hat"] == pytest.approx(mu_hat, abs=1e-3 * limit_exp_median)
    assert fast["twice_nll"] == pytest.approx(float(twice_nll), abs=1e-5)
    assert fast["p0"] == pytest.approx(p0, abs=1e-3)
    assert fast["twice_nll"] <= float(twice_nll) + 1e-7  # the fast minimum is not worse


def test_cls_at_fast_limits_is_alpha(fast_rows):
    w = pyhf.Workspace(SMALL)
    model = w.model(patches=[PATCHES[1]])
    data = w.data(model)
    row = fast_rows[1]
    cls_obs = pyhf.infer.hypotest(row["mu_limit_obs"], data, model, test_stat="qtilde")
    assert float(cls_obs) == pytest.approx(0.05, abs=2e-4)
    _, exp_set = pyhf.infer.hypotest(row["mu_limit_exp"][2], data, model, test_stat="qtilde",
                                     return_expected_set=True)
    assert float(exp_set[2]) == pytest.approx(0.05, abs=2e-4)


def _counting(n: float, b: float, s: float) -> dict:
    return {
        "channels": [{"name": "c", "samples": [
            {"name": "bkg", "data": [b], "modifiers": []},
        ]}],
        "observations": [{"name": "c", "data": [n]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }, [{"op": "add", "path": "/channels/0/samples/-", "value": {
        "name": "signal", "data": [s],
        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}}]


def test_counting_experiment_closed_forms():
    """One bin, known background (arXiv:1007.1727): mu_hat = (n - b)/s,
    q0 = 2 [n ln(n/b) - (n - b)] (Eq. 97 with the observed n), and the median expected CLs
    limit solves q_mu,A = 2 [mu s - b ln(1 + mu s / b)] = Phi^-1(1 - alpha/2)^2."""
    n, b, s = 37.0, 25.0, 10.0
    spec, patch = _counting(n, b, s)
    row = GridAnalyzer(spec).analyse(patch)
    assert row["status"] == "ok"
    assert row["mu_hat"] == pytest.approx((n - b) / s, rel=1e-6)
    assert row["twice_nll"] == pytest.approx(2 * (n - n * math.log(n) + gammaln(n + 1)), rel=1e-9)
    z = math.sqrt(2 * (n * math.log(n / b) - (n - b)))
    assert row["Z"] == pytest.approx(z, rel=1e-6)
    assert row["p0"] == pytest.approx(norm.sf(z), rel=1e-5)
    target = norm.isf(0.025)
    med = brentq(lambda m: 2 * (m * s - b * math.log(1 + m * s / b)) - target**2, 1e-6, 100)
    assert row["mu_limit_exp"][2] == pytest.approx(med, rel=1e-5)
    # ordering of the band: -2 sigma ... +2 sigma
    assert np.all(np.diff(row["mu_limit_exp"]) > 0)


def test_engines_agree_on_a_realistic_layout():
    """The fast engine (structured Newton steps, Newton root finding) and the previous engine
    (dense steps, secant root finding) give the same limits, p0 and best fit to 1e-5."""
    ws = toy_workspace(seed=3)
    rows = {}
    for engine in ("fast", "reference"):
        ga = GridAnalyzer(ws, engine=engine)
        rows[engine] = [ga.analyse(toy_signal_patch(ws, p)) for p in (0.2, 0.5)]
    for a, b in zip(rows["fast"], rows["reference"], strict=True):
        assert a["status"] == b["status"] == "ok"
        lim_a = np.array([a["mu_limit_obs"], *a["mu_limit_exp"]])
        lim_b = np.array([b["mu_limit_obs"], *b["mu_limit_exp"]])
        np.testing.assert_allclose(lim_a, lim_b, rtol=1e-5)
        assert a["p0"] == pytest.approx(b["p0"], rel=1e-5, abs=1e-8)
        assert a["twice_nll"] == pytest.approx(b["twice_nll"], abs=1e-6)


def test_warm_start_does_not_change_results():
    ga = GridAnalyzer(SMALL)
    cold = ga.analyse(PATCHES[1])
    warm = ga.analyse(PATCHES[1], warm_start=ga.analyse(PATCHES[0])["warm_start"])
    for k in ("mu_hat", "mu_limit_obs", "p0"):
        assert warm[k] == pytest.approx(cold[k], rel=1e-5, abs=1e-7)


def test_realistic_size_cls_at_limit():
    """Belle II-like 30 bins, six backgrounds: pyhf's CLs at the fast observed limit is 0.05."""
    ws = toy_workspace(seed=2)
    patch = toy_signal_patch(ws, 0.35)
    row = GridAnalyzer(ws).analyse(patch)
    assert row["status"] == "ok"
    w = pyhf.Workspace(ws)
    model = w.model(patches=[patch])
    # pyhf's MINUIT interface (as emiss measure uses): 2x faster than scipy on these 45
    # parameters, and its CLs is converged far below the 5e-4 asked (tolerance 1e-3)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-3))
    try:
        cls = pyhf.infer.hypotest(row["mu_limit_obs"], w.data(model), model, test_stat="qtilde")
    finally:
        pyhf.set_backend("numpy", "scipy")
    assert float(cls) == pytest.approx(0.05, abs=5e-4)


def test_bad_inputs_raise_emiss_error():
    with pytest.raises(EmissError, match="engine"):
        GridAnalyzer(SMALL, engine="turbo")
    with pytest.raises(EmissError, match="cl"):
        GridAnalyzer(SMALL, cl=1.5)
    with pytest.raises(EmissError, match="calctype"):
        reference_analyse(SMALL, PATCHES[0], calctype="bayes")


def test_unsupported_patch_falls_back_to_pyhf(monkeypatch, caplog):
    calls = []

    def fake_reference(spec, patch_ops, **kw):
        calls.append(patch_ops)
        return limits.failed_row("ok-from-pyhf")

    monkeypatch.setattr(limits, "reference_analyse", fake_reference)
    bad = toy_signal_patch(SMALL, 0.5, with_systematics=False)
    bad[0]["value"]["modifiers"].append({"name": "z", "type": "normsys",
                                         "data": {"hi": 1.1, "lo": -0.1}})
    ga = GridAnalyzer(SMALL)
    assert ga.engine == "fast"
    with caplog.at_level(logging.WARNING):
        row = ga.analyse(bad)
    assert calls and row["status"] == "ok-from-pyhf"
    assert "using pyhf" in caplog.text
