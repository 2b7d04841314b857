"""The toy fitter (emiss.inference.toys.ToyFitter) and its factorised Gauss-Newton system
(emiss.inference.structured.BlockSystem): the system solves the dense Gauss-Newton equations,
the fits reach the minima the scalar fitter finds (itself checked against pyhf in
test_fastmodel.py), and the toys' test statistics are the differences of those minima."""

from __future__ import annotations

import numpy as np
import pytest
from toy_model import toy_signal_patch, toy_workspace

from emiss.inference.batch import BatchData, BatchModel
from emiss.inference.fastlimits import Fitter
from emiss.inference.fastmodel import model_from_workspace
from emiss.inference.structured import LOOP_MIN_ROWS, BlockSystem, structure_of
from emiss.inference.toys import ToyFitter, background_teststats


@pytest.fixture(scope="module")
def model():
    ws = toy_workspace({"a": 6, "b": 4}, ("b1", "b2", "b3"), seed=3, all_modifiers=True)
    return model_from_workspace(ws, toy_signal_patch(ws, 0.4))


@pytest.mark.parametrize("n", [5, LOOP_MIN_ROWS + 7])  # LAPACK inverses; row-vectorised ones
def test_block_system_solves_the_dense_gauss_newton_equations(model, n):
    """H x = g with H = J^T diag(n / lambda^2) J + diag(constraint curvatures) (the
    Gauss-Newton matrix formed densely from the batched Jacobian), the POI and some
    parameters held (their rows and columns removed, their solution 0)."""
    fm = model
    rng = np.random.default_rng(4)
    x = fm.init + 0.3 * rng.standard_normal((n, fm.npars)) * np.minimum(fm.width, 1.0)
    x = np.clip(x, fm.bounds[:, 0] + 1e-3, fm.bounds[:, 1])
    x[:, fm.poi_index] = 0.5
    bm = BatchModel(fm)
    data = BatchData.repeat(fm.observed_data(), n)
    _, _, J, curv, dcon = bm.nll_grad_jac(x, data)
    st = bm.blocks(x, data)
    fitter = ToyFitter(fm)
    order, nG = fitter.order, fitter.nG
    use = np.ones((n, order.size), bool)
    use[:, fitter.gcol] = False
    use[:, nG + 1] = False  # a per-bin parameter held at a bound
    use[::2, 0] = False  # and a multi-bin one in every other row
    system = BlockSystem.build(structure_of(fm), fitter.nk, st["JG"], st["JL"], st["c"],
                               st["dG"], st["dL"], use[:, :nG], use[:, nG:], np.zeros(n))
    rhs = rng.standard_normal((n, order.size))
    xG, xL = system.solve(rhs[:, :nG] * use[:, :nG], rhs[:, nG:] * use[:, nG:])
    sol = np.concatenate([xG, xL], axis=1)
    for i in range(n):
        H = (J[i].T * curv[i]) @ J[i] + np.diag(dcon[i])
        u = order[use[i]]
        ref = np.linalg.solve(H[np.ix_(u, u)], rhs[i][use[i]])
        np.testing.assert_allclose(sol[i][use[i]], ref, rtol=1e-8, atol=1e-10)
        assert np.all(sol[i][~use[i]] == 0.0)


def test_toy_fits_reach_the_scalar_minima(model):
    """Conditional (mu = 0, mu = 1) and free fits of toys: -2 ln L at the scalar fitter's
    minimum (both minimise the same function; the better minimum may be either one's)."""
    fm = model
    data = fm.observed_data()
    gen, _ = Fitter(fm).fit(data, 0.0)
    toys = BatchModel(fm).sample_data(np.tile(gen, (40, 1)), np.random.default_rng(1))
    fitter = ToyFitter(fm, chunk=16)
    f = Fitter(fm)
    for poi in (0.0, 1.0, None):
        xs, t = fitter.fit(toys, gen, poi_value=poi, shared=True)
        assert np.all(np.isfinite(t))
        for i in range(0, 40, 4):
            _, ref = f.fit(toys.row(i), poi, gen)
            assert t[i] == pytest.approx(ref, abs=5e-5)
            if poi is not None:
                assert xs[i, fm.poi_index] == poi
        if poi is None:
            assert np.all(xs[:, fm.poi_index] >= 0.0)
            np.testing.assert_allclose(fitter.poi_grad[xs[:, fm.poi_index] > 1e-3], 0.0,
                                       atol=1e-2)


def test_background_teststats_are_differences_of_scalar_minima(model):
    """q0 = -2 ln L(0) + 2 ln L(mu_hat) (0 where mu_hat = 0) and q~_mu = -2 ln L(mu) +
    2 ln L(mu_hat) (0 where mu_hat > mu) of background-only toys (arXiv:1007.1727, Eqs. 12
    and 16), the minima found by the scalar fitter on the same toys (drawn again from the same
    seed and generating point)."""
    fm = model
    mu = 1.2
    res = background_teststats(fm, mu, ntoys=24, seed=5, batch=24)
    assert res["n_failed"] == 0
    gen, _ = Fitter(fm).fit(fm.observed_data(), 0.0)
    toys = BatchModel(fm).sample_data(np.tile(gen, (24, 1)), np.random.default_rng(5))
    f = Fitter(fm)
    for i in range(24):
        _, t0 = f.fit(toys.row(i), 0.0, gen)
        xf, tf = f.fit(toys.row(i), None, gen)
        _, tm = f.fit(toys.row(i), mu, gen)
        mh = xf[fm.poi_index]
        q0 = max(t0 - tf, 0.0) if mh > 1e-6 else 0.0
        qm = max(tm - tf, 0.0) if mh <= mu else 0.0
        assert res["q0"][i] == pytest.approx(q0, abs=1e-4)
        assert res["qmu"][i] == pytest.approx(qm, abs=1e-4)
        assert res["mu_hat"][i] == pytest.approx(mh, abs=5e-3)


def test_a_row_without_acceptable_steps_goes_to_the_scalar_fitter(model, monkeypatch):
    """A row whose every trial point gives a non-finite -ln L (its line search always fails)
    is damped until it gives up and is refitted by the scalar fitter, while the other rows of
    its chunk keep iterating: every row ends at the scalar fitter's minimum."""
    fm = model
    gen, _ = Fitter(fm).fit(fm.observed_data(), 0.0)
    toys = BatchModel(fm).sample_data(np.tile(gen, (12, 1)), np.random.default_rng(1))
    toys.main[0, 0] = 777.0  # marks the row whose trial points fail
    fitter = ToyFitter(fm)
    full, grad = fitter._full, fitter._grad
    calls = {"n": 0}

    def poison(nll, data):
        calls["n"] += 1  # the start point (first call) stays finite
        return nll if calls["n"] == 1 else np.where(data.main[:, 0] == 777.0, np.nan, nll)

    def bad_full(x, data, jac=None):
        st = full(x, data, jac)
        st["nll"] = poison(st["nll"], data)
        return st

    def bad_grad(x, data):
        nll, g = grad(x, data)
        return poison(nll, data), g

    monkeypatch.setattr(fitter, "_full", bad_full)
    monkeypatch.setattr(fitter, "_grad", bad_grad)
    rng = np.random.default_rng(2)
    x0 = gen + 0.8 * rng.standard_normal((12, fm.npars)) * np.minimum(fm.width, 1.0) * ~fm.fixed
    _, t = fitter.fit(toys, x0, poi_value=1.0)
    assert fitter.n_fallback >= 1
    f = Fitter(fm)
    for i in range(12):
        _, ref = f.fit(toys.row(i), 1.0, gen)
        assert t[i] == pytest.approx(ref, abs=5e-5)
