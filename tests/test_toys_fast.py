"""Toy-based CLs on the fast engine: against the asymptotic formulae at large counts, against
pyhf's ToyCalculator, and through ``emiss scan --calctype toybased`` (no pyhf fallback)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from _counting import counting_workspace, patchset, signal_patch
from scipy.stats import norm

from emiss.inference.fastlimits import AsymptoticLimits
from emiss.inference.fastmodel import model_from_workspace
from emiss.inference.toys import FastToyCalculator, _pvalue


def test_pvalue_is_the_fraction_at_or_above():
    s = np.array([0.0, 1.0, 1.0, 2.0, 5.0])
    assert _pvalue(s, 1.0).tolist() == [0.8]
    assert _pvalue(s, np.array([0.0, 5.0, 6.0])).tolist() == [1.0, 0.2, 0.0]


@pytest.mark.parametrize("mu", [1.0, 2.0])
def test_toy_cls_matches_asymptotics_at_large_counts(mu):
    """One bin, b = 1000 known, s = 50 mu: the test statistic is in the asymptotic regime
    (arXiv:1007.1727: corrections O(1/sqrt(b)) ~ 3 %), so toy CLs = asymptotic CLs within the
    toys' binomial error."""
    fm = model_from_workspace(counting_workspace([1000], [1000.0], signal=[50.0]))
    res = FastToyCalculator(fm, ntoys=4000, seed=2).hypotest(mu)
    asym = AsymptoticLimits(fm).cls_obs(mu)
    assert abs(res["CLs_obs"] - asym) < 4 * res["CLs_obs_error"] + 0.03 * asym
    # the discovery p-value of the observed n = b is about 1/2 (q0 = 0 half of the time)
    disc = FastToyCalculator(fm, ntoys=4000, seed=3).discovery()
    assert disc["q0_obs"] == pytest.approx(0.0, abs=1e-8)
    assert disc["p0"] == 1.0


def test_toy_p0_of_a_counting_excess_is_the_poisson_tail():
    """No nuisances, one bin: q0 increases with n above b, so p0 = P(n >= n_obs | b)."""
    from scipy.stats import poisson

    fm = model_from_workspace(counting_workspace([68], [50.0], signal=[10.0]))
    ntoys = 4000
    d = FastToyCalculator(fm, ntoys=ntoys, seed=5).discovery()
    p = poisson.sf(67, 50.0)
    assert abs(d["p0"] - p) < 4 * math.sqrt(p * (1 - p) / ntoys)
    assert d["Z"] == pytest.approx(norm.isf(d["p0"]))


def test_background_toy_teststats_equal_the_closed_forms():
    """One bin, known background b, signal s (arXiv:1007.1727): for n toys from Poisson(b),
    mu_hat = max((n - b) / s, 0), q0 = 2 [n ln(n / b) - (n - b)] when n > b, and
    q~_mu = 2 [mu s + b - n + n ln(n / (mu s + b))] - (the same at mu_hat) when mu_hat <= mu:
    the batched fits (mu = 0, free where needed, mu) give them toy by toy."""
    from emiss.inference.batch import BatchModel
    from emiss.inference.toys import background_teststats

    b, s, mu = 40.0, 12.0, 1.5
    fm = model_from_workspace(counting_workspace([45], [b], signal=[s]))
    res = background_teststats(fm, mu, ntoys=3000, seed=3, batch=700)
    # the toys' counts, drawn again from the same seed, batches and generating point (mu = 0)
    gen = fm.init.copy()
    gen[fm.poi_index] = 0.0
    rng = np.random.default_rng(3)
    counts = np.concatenate([BatchModel(fm).sample_data(np.tile(gen, (k, 1)), rng).main[:, 0]
                             for k in (700, 700, 700, 700, 200)])
    mh = np.maximum((counts - b) / s, 0.0)

    def t(m, k):
        lam = m * s + b
        return 2.0 * (lam - k + np.where(k > 0, k * np.log(np.where(k > 0, k, 1.0) / lam), 0.0))

    q0 = np.where(counts > b, t(0.0, counts) - t(mh, counts), 0.0)
    qm = np.where(mh <= mu, t(mu, counts) - t(mh, counts), 0.0)
    np.testing.assert_allclose(res["mu_hat"], mh, atol=2e-3)
    np.testing.assert_allclose(res["q0"], q0, atol=2e-4)
    np.testing.assert_allclose(res["qmu"], qm, atol=2e-4)
    assert res["n_failed"] == 0
    assert res["n_free_fits"] == int(np.sum(counts > b))  # mu_hat = 0 toys need no free fit


def test_toy_cls_agrees_with_pyhf_toy_calculator(monkeypatch):
    import pyhf
    from pyhf.tensor.numpy_backend import numpy_backend

    # pyhf 0.7.6 calls np.percentile(..., interpolation=) which numpy >= 2.4 removed; give it
    # the same computation under numpy's new keyword so that its ToyCalculator runs at all
    monkeypatch.setattr(numpy_backend, "percentile", lambda self, t, q, axis=None,
                        interpolation="linear": np.percentile(t, q, axis=axis,
                                                              method=interpolation))
    pyhf.set_backend("numpy")
    model = pyhf.simplemodels.uncorrelated_background(signal=[12.0, 8.0], bkg=[50.0, 40.0],
                                                      bkg_uncertainty=[7.0, 5.0])
    data = [58, 44] + model.config.auxdata
    spec = json.loads(json.dumps(dict(pyhf.Workspace.build(model, data))))
    fm = model_from_workspace(spec)
    n_fast, n_pyhf = 4000, 200
    fast = FastToyCalculator(fm, ntoys=n_fast, seed=1).hypotest(1.0)
    np.random.seed(7)  # noqa: NPY002 - pyhf draws its toys from the global state
    cls, (clsb, clb), exp = pyhf.infer.hypotest(1.0, data, model, calctype="toybased",
                                                ntoys=n_pyhf, return_tail_probs=True,
                                                return_expected_set=True, track_progress=False)
    for ours, theirs in ((fast["CLsb"], float(clsb)), (fast["CLb"], float(clb))):
        sig = math.sqrt(theirs * (1 - theirs) / n_pyhf + ours * (1 - ours) / n_fast)
        assert abs(ours - theirs) < 4 * sig
    sig_cls = math.hypot(fast["CLs_obs_error"], fast["CLs_obs_error"] * math.sqrt(n_fast / n_pyhf))
    assert abs(fast["CLs_obs"] - float(cls)) < 4 * sig_cls
    # the median expected CLs: its Monte-Carlo spread at pyhf's toy count, measured by repeating
    # the fast calculation with independent seeds
    spread = np.std([FastToyCalculator(fm, ntoys=n_pyhf, seed=100 + k).hypotest(1.0)["CLs_exp"][2]
                     for k in range(20)], ddof=1)
    tol = 4 * spread * math.sqrt(1 + n_pyhf / n_fast)
    assert abs(fast["CLs_exp"][2] - float(exp[2])) < tol


def test_scan_toybased_runs_on_the_fast_engine(monkeypatch, tmp_path):
    import emiss.inference.limits as limits
    from emiss.inference.scan import scan

    def no_pyhf(*a, **k):
        raise AssertionError("the pyhf toy path was used")

    monkeypatch.setattr(limits, "reference_analyse", no_pyhf)
    ws = counting_workspace([58, 44], [50.0, 40.0])
    ps = patchset(ws, [signal_patch([12.0, 8.0], mass=1.0, name="a"),
                       signal_patch([6.0, 14.0], mass=2.0, name="b")])
    doc = scan(ws, [ps], tmp_path / "r.json", jobs=1, calctype="toybased", ntoys=500,
               toy_seed=3)
    assert doc["options"]["ntoys"] == 500 and doc["options"]["calctype"] == "toybased"
    for row in doc["results"]:
        assert row["status"] == "ok"
        exp = [e for e in row["mu_limit_exp"] if e is not None]
        assert len(exp) >= 4 and exp == sorted(exp)
        assert 0 < row["mu_limit_obs"] < 10
    # the same seed gives the same file
    doc2 = scan(ws, [ps], tmp_path / "r2.json", jobs=1, calctype="toybased", ntoys=500,
                toy_seed=3)
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "r2.json").read_bytes()
    assert doc2["results"] == doc["results"]


def test_pyhf_toys_that_cannot_run_stop_before_work():
    """Where pyhf's ToyCalculator cannot run (pyhf 0.7.6 with numpy >= 2.4), --engine pyhf
    --calctype toybased is one clear error before any fit; where it can, it is accepted."""
    import pyhf

    from emiss.errors import EmissError
    from emiss.inference.limits import GridAnalyzer
    from emiss.inference.scan import scan

    pyhf.set_backend("numpy")
    model = pyhf.simplemodels.uncorrelated_background(signal=[5.0], bkg=[50.0],
                                                      bkg_uncertainty=[5.0])
    spec = json.loads(json.dumps(dict(pyhf.Workspace.build(model, [52] + model.config.auxdata))))
    try:
        pyhf.tensorlib.percentile(pyhf.tensorlib.astensor([1.0, 2.0]), 50)
        works = True
    except TypeError:
        works = False
    if works:
        GridAnalyzer(spec, engine="pyhf", calctype="toybased", ntoys=10)
    else:
        with pytest.raises(EmissError, match="numpy .* use the fast engine"):
            GridAnalyzer(spec, engine="pyhf", calctype="toybased", ntoys=10)
        with pytest.raises(EmissError, match="numpy .* use the fast engine"):
            scan(spec, [{"patches": []}], None, engine="pyhf", calctype="toybased", ntoys=10)
