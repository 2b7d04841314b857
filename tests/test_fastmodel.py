"""The compiled fast likelihood equals pyhf 0.7.6's model.logpdf (independent implementation)."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
from toy_model import toy_signal_patch, toy_workspace

from emiss.inference.fastmodel import (
    FastBackground,
    UnsupportedSpec,
    model_from_workspace,
    to_pyhf_order,
)


def _random_point(fm, rng, spread=0.6):
    x = fm.init.copy()
    free = ~fm.fixed
    x[free] += rng.normal(0.0, spread, free.sum()) * np.minimum(fm.width[free], 1.0)
    lo, hi = fm.bounds[:, 0], fm.bounds[:, 1]
    return np.clip(x, lo + 1e-3, hi - 1e-3)


@pytest.fixture(scope="module")
def rich():
    """Two channels, three backgrounds, every supported modifier type (incl. config overrides)."""
    ws = toy_workspace({"sr": 4, "cr": 3}, ("b1", "b2", "b3"), all_modifiers=True, seed=3)
    # non-integer observations exercise pyhf's lgamma Poisson
    ws["observations"][0]["data"] = [x + 0.37 for x in ws["observations"][0]["data"]]
    patch = toy_signal_patch(ws, 0.4)
    w = pyhf.Workspace(ws)
    model = w.model(patches=[patch])
    data = np.asarray(w.data(model))
    fm = model_from_workspace(ws, patch)
    kinds = {ps.kind for ps in fm.psets.values()}
    assert kinds == {"normfactor", "normsys", "histosys", "staterror", "shapesys", "lumi",
                     "shapefactor"}
    return ws, patch, model, data, fm


def test_parameters_match_pyhf(rich):
    _, _, model, _, fm = rich
    assert sorted(fm.par_names) == sorted(model.config.par_names)
    np.testing.assert_allclose(to_pyhf_order(fm, model, fm.init), model.config.suggested_init())
    np.testing.assert_allclose(
        to_pyhf_order(fm, model, fm.bounds[:, 0]),
        [b[0] for b in model.config.suggested_bounds()],
    )
    assert list(to_pyhf_order(fm, model, fm.fixed.astype(float))) == [
        float(f) for f in model.config.suggested_fixed()
    ]


def test_twice_nll_equals_pyhf_logpdf(rich):
    _, _, model, data, fm = rich
    rng = np.random.default_rng(11)
    obs = fm.observed_data()
    for _ in range(8):
        x = _random_point(fm, rng, spread=1.5)  # beyond |alpha| = 1: exponential/linear branches
        ref = -2.0 * float(model.logpdf(to_pyhf_order(fm, model, x), data)[0])
        assert fm.twice_nll(x, obs) == pytest.approx(ref, rel=1e-10)


def test_asimov_data_equals_pyhf_expected_data(rich):
    _, _, model, _, fm = rich
    rng = np.random.default_rng(5)
    x1, x2 = _random_point(fm, rng), _random_point(fm, rng)
    p1, p2 = to_pyhf_order(fm, model, x1), to_pyhf_order(fm, model, x2)
    np.testing.assert_allclose(fm.expected_main(x1), model.expected_actualdata(p1), rtol=1e-12)
    asimov_pyhf = model.expected_data(p1)
    ref = -2.0 * float(model.logpdf(p2, asimov_pyhf)[0])
    assert fm.twice_nll(x2, fm.asimov_data(x1)) == pytest.approx(ref, rel=1e-10)


def test_gradient_matches_finite_differences(rich):
    *_, fm = rich
    rng = np.random.default_rng(2)
    obs = fm.observed_data()
    x = _random_point(fm, rng)
    x0 = x.copy()
    x0[fm.poi_index] = 0.0  # a zero factor (background-only point) must not break it
    for point in (x, x0):
        _check_grad(fm, point, obs)


def _check_grad(fm, x, obs):
    _, g = fm.nll_grad(x, obs)
    eps = 1e-6
    for i in range(fm.npars):
        d = np.zeros(fm.npars)
        d[i] = eps
        num = (fm.nll_grad(x + d, obs, False)[0] - fm.nll_grad(x - d, obs, False)[0]) / (2 * eps)
        assert g[i] == pytest.approx(num, rel=1e-5, abs=1e-5), fm.par_names[i]


def test_realistic_size_logpdf():
    """Belle II-like 30-bin, six-background layout."""
    ws = toy_workspace(seed=7)
    patch = toy_signal_patch(ws, 0.3)
    w = pyhf.Workspace(ws)
    model = w.model(patches=[patch])
    data = np.asarray(w.data(model))
    fm = FastBackground(ws).with_patch(patch)
    assert fm.nbins_total == 30
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = _random_point(fm, rng)
        ref = -2.0 * float(model.logpdf(to_pyhf_order(fm, model, x), data)[0])
        assert fm.twice_nll(x, fm.observed_data()) == pytest.approx(ref, rel=1e-10)


def test_unsupported_features_are_reported():
    ws = toy_workspace({"sr": 2}, ("b1",), seed=1)
    bad = toy_signal_patch(ws, 0.5)
    bad[0]["value"]["modifiers"].append({"name": "x", "type": "normsys",
                                         "data": {"hi": 1.1, "lo": 0.0}})
    with pytest.raises(UnsupportedSpec):
        FastBackground(ws).with_patch(bad)
    ws2 = toy_workspace({"sr": 2}, ("b1",), seed=1)
    ws2["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "x", "type": "unknownsys", "data": None})
    with pytest.raises(UnsupportedSpec):
        FastBackground(ws2)


def _pyhf_min(model, data) -> float:
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-10))
    try:
        _, val = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    finally:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    return float(val)


def test_damped_newton_reaches_pyhf_minimum_from_far_start(rich):
    """Newton path (no fallback) from a start far from the optimum lands on pyhf's minimum."""
    from emiss.inference.fastlimits import Fitter

    _, _, model, data, fm = rich
    ref = _pyhf_min(model, data)
    fit = Fitter(fm)
    free = np.flatnonzero(~fm.fixed)
    lo, hi = fm.bounds[free, 0], fm.bounds[free, 1]
    rng = np.random.default_rng(5)
    for _ in range(3):
        start = _random_point(fm, rng, spread=3.0)
        res = fit._newton(fm.observed_data(), start, free, lo, hi)
        assert res is not None
        assert res[1] == pytest.approx(ref, abs=2e-6)


def test_bad_curvature_falls_back_quickly(rich, monkeypatch):
    """With a useless Hessian the Newton stage gives up within its caps and the fallback still
    finds pyhf's minimum (the dense solver, and the structured one whose failure is retried
    with the dense one, then L-BFGS-B)."""
    from emiss.inference import fastlimits
    from emiss.inference.fastlimits import Fitter

    _, _, model, data, fm = rich
    ref = _pyhf_min(model, data)
    orig = type(fm).nll_grad_hess
    orig_jac = type(fm).evaluate_jac
    calls = {"n": 0}

    def bad(self, pars, d):
        calls["n"] += 1
        nll, g, H = orig(self, pars, d)
        return nll, g, (None if H is None else H * 1e-9)

    def bad_jac(self, pars, d):
        calls["n"] += 1
        out = orig_jac(self, pars, d)
        if out[1] is None:
            return out
        nll, g, J, c, dc, pieces = out
        return nll, g, J * 1e-5, c, dc * 1e-9, pieces

    monkeypatch.setattr(type(fm), "nll_grad_hess", bad)
    pars, val = Fitter(fm, solver="dense").fit(fm.observed_data())
    cap = fastlimits.NEWTON_MAXITER * fastlimits.NEWTON_BACKTRACK + 1
    assert calls["n"] <= cap
    assert val == pytest.approx(ref, abs=2e-6)
    monkeypatch.setattr(type(fm), "evaluate_jac", bad_jac)
    calls["n"] = 0
    fit = Fitter(fm)
    pars, val = fit.fit(fm.observed_data())
    assert calls["n"] <= 2 * cap
    assert val == pytest.approx(ref, abs=2e-6)
    assert fit.fallbacks and fit.fallbacks[-1][1] in ("newton-dense", "L-BFGS-B", "TNC")


def test_structured_solve_equals_the_dense_solve(rich):
    """The Woodbury / Schur solve of the Gauss-Newton system (emiss.inference.structured)
    equals numpy's dense solve of the same matrix, with parameters held fixed and damping."""
    from emiss.inference.structured import HessianStructure

    *_, fm = rich
    hs = HessianStructure(fm)
    assert hs.kg.size and hs.kl.size and hs.u.size  # every group present
    rng = np.random.default_rng(4)
    data = fm.observed_data()
    for k in range(4):
        x = _random_point(fm, rng)
        nll, g, J, c, d = fm.nll_grad_jac(x, data)
        H = (J.T * c) @ J + np.diag(d)
        use = ~fm.fixed & (rng.random(fm.npars) > 0.2 * k)
        lam = (0.0, 1e-12, 0.1, 10.0)[k]
        idx = np.flatnonzero(use)
        Hs = H[np.ix_(idx, idx)]
        Hs[np.diag_indices_from(Hs)] += lam * np.maximum(np.diag(Hs), 1e-12)
        ref = np.zeros(fm.npars)
        ref[idx] = np.linalg.solve(Hs, g[idx])
        got = hs.solve(J, c, d, g, use, lam)
        np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10 * np.max(np.abs(ref)))


def _pyhf_curvature(model, data, fm, x, u, v, h):
    """u^T H v of pyhf's -ln L (= -logpdf) at x, by central second differences."""
    def f(y):
        return -float(model.logpdf(to_pyhf_order(fm, model, y), data)[0])

    return (f(x + h * (u + v)) - f(x + h * (u - v)) - f(x - h * (u - v)) + f(x - h * (u + v))) \
        / (4.0 * h * h)


def test_exact_hessian_equals_pyhf_curvature():
    """The exact Hessian of the structured engine (Gauss-Newton plus the residual term
    sum_b (1 - n_b / lambda_b) d2 lambda_b) matches second differences of pyhf's logpdf, on a
    Belle II-like layout (per-bin staterror gammas shared by the signal, normsys, histosys),
    near a conditional minimum at mu = 2 (positive definite there)."""
    from emiss.inference.fastlimits import Fitter
    from emiss.inference.structured import HessianStructure

    ws = toy_workspace({"sr": 5, "cr": 3}, ("b1", "b2", "b3"), seed=5)
    patch = toy_signal_patch(ws, 0.4)
    w = pyhf.Workspace(ws)
    model = w.model(patches=[patch])
    data = np.asarray(w.data(model))
    fm = FastBackground(ws).with_patch(patch)
    hs = HessianStructure(fm)
    assert hs.exact_ok, hs.exact_reason
    x, _ = Fitter(fm).fit(fm.observed_data(), 2.0)
    x = x + 0.05 * np.random.default_rng(8).standard_normal(fm.npars) * (~fm.fixed)
    use = ~fm.fixed
    system = hs.exact_system(fm, fm.evaluate_jac(x, fm.observed_data()), use, 0.0)
    assert system is not None
    solve, column = system
    P, poi, h = fm.npars, fm.poi_index, 1e-4
    e = np.eye(P)
    col = column(poi)  # H e_mu
    for i in range(P):
        ref = _pyhf_curvature(model, data, fm, x, e[i], e[poi], h)
        assert col[i] == pytest.approx(ref, rel=1e-4, abs=1e-5 * abs(col[poi])), fm.par_names[i]
    # H from the factorised H^-1 (columns of the solver), in random directions
    Hinv = np.column_stack([solve(e[j]) for j in range(P)])
    H = np.linalg.inv(Hinv[np.ix_(use, use)])
    rng = np.random.default_rng(9)
    for _ in range(6):
        v = rng.standard_normal(P) * use
        ref = _pyhf_curvature(model, data, fm, x, v, v, h)
        assert float(v[use] @ H @ v[use]) == pytest.approx(ref, rel=1e-4)


def test_single_thread_blas_restores_thread_count():
    from emiss.inference.blas import _find, single_thread_blas

    libs = _find()
    before = [int(getattr(lib, pat % "get")()) for lib, pat in libs]
    with single_thread_blas():
        assert all(int(getattr(lib, pat % "get")()) == 1 for lib, pat in libs)
    assert [int(getattr(lib, pat % "get")()) for lib, pat in libs] == before
