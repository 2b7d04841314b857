"""The vectorised likelihood and fitter equal the single-point engine (itself checked against pyhf
in test_fastmodel.py) on a workspace with every supported modifier type."""

from __future__ import annotations

import numpy as np
import pytest
from toy_model import toy_signal_patch, toy_workspace

from emiss.inference.batch import BatchData, BatchFitter, BatchModel
from emiss.inference.fastlimits import Fitter
from emiss.inference.fastmodel import model_from_workspace


@pytest.fixture(scope="module")
def model():
    ws = toy_workspace({"a": 6, "b": 4}, ("b1", "b2", "b3"), seed=3, all_modifiers=True)
    return model_from_workspace(ws, toy_signal_patch(ws, 0.4))


def test_batched_nll_and_gradient_equal_the_scalar_engine(model):
    fm = model
    rng = np.random.default_rng(0)
    x = fm.init + 0.5 * rng.standard_normal((40, fm.npars)) * np.minimum(fm.width, 1.0)
    x[:5, :] += 1.5 * (rng.random((5, fm.npars)) < 0.3)  # some histosys/normsys beyond |1|
    x = np.clip(x, fm.bounds[:, 0] + 1e-6, fm.bounds[:, 1])
    x[:, fm.poi_index] = np.abs(x[:, fm.poi_index])
    data = fm.observed_data()
    bm = BatchModel(fm)
    bd = BatchData.repeat(data, x.shape[0])
    nll = bm.nll(x, bd)
    nll2, g2 = bm.nll_grad(x, bd)
    nll3, g3, _, _, _ = bm.nll_grad_jac(x, bd)
    for i in range(x.shape[0]):
        ref, gref = fm.nll_grad(x[i], data)
        assert nll[i] == pytest.approx(ref, rel=1e-12, abs=1e-9)
        assert nll2[i] == pytest.approx(ref, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(g2[i], gref, rtol=1e-9, atol=1e-8)
        np.testing.assert_allclose(g3[i], gref, rtol=1e-9, atol=1e-8)


def test_batched_fits_equal_scalar_fits_on_toys(model):
    fm = model
    data = fm.observed_data()
    gen, _ = Fitter(fm).fit(data, 0.0)
    toys = BatchModel(fm).sample_data(np.tile(gen, (30, 1)), np.random.default_rng(1))
    bf = BatchFitter(fm)
    xs, t = bf.fit(toys, gen)
    xs0, t0 = bf.fit(toys, gen, poi_value=0.0)
    f = Fitter(fm)
    for i in range(10):
        _, ref = f.fit(toys.row(i), None, gen)
        _, ref0 = f.fit(toys.row(i), 0.0, gen)
        # both minimise the same function; the better minimum may be either one's
        assert t[i] == pytest.approx(ref, abs=2e-5)
        assert t0[i] == pytest.approx(ref0, abs=2e-5)
    assert np.all(t0 >= t - 1e-6)  # the free fit is never worse than the conditional one
