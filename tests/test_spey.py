"""The spey backend (``spey.get_backend("emiss")``) against emiss's own numbers and spey-pyhf.

One two-body scalar hypothesis (m_X = 2.1 GeV) on the emulated HTA workspace (6 bins, 25
parameters) and on Belle II's released likelihood (``belle2``: 30 bins, 235 parameters). spey's
``maximize_likelihood``, ``exclusion_confidence_level`` (spey returns 1 - CLs) and
``poi_upper_limit`` on the emiss backend are compared with emiss's scan row (mu_hat, twice_nll,
mu_limit_obs/exp, Z), with emiss's asymptotic CLs at mu = 1, and with spey-pyhf given the same
workspace and patch. Tolerances follow from each quantity's scale (sigma_mu = the median
expected limit / 1.96, the curvature scale of mu):

* emiss's fitter (the backend's default) is the scan's fitter: mu_hat within 1e-4 sigma_mu
  (Newton stops when the predicted decrease of -2 ln L is below 1e-10, i.e. mu to ~1e-5 sigma),
  -2 ln L within 1e-6 (the scan rounds to 10 significant digits), CLs within 1e-6;
* spey's SLSQP (``fitter="spey"``, and spey-pyhf) stops at a change of 1e-6 in its objective:
  mu_hat within 2e-3 sigma_mu (sqrt(2e-6) sigma), -2 ln L within 5e-5, CLs within 1e-5;
* upper limits: spey's toms748 root search stops at a relative width of 1e-4: 2e-4 relative.

Spey-pyhf's full fits on Belle II's likelihood (235 parameters, gradients by finite differences)
take minutes: the default run compares the two likelihoods there point by point (same -ln L and
expected counts at the same parameters) and ``-m validation`` runs the full spey-pyhf fit.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import math
import os
import warnings

import numpy as np
import pytest

from emiss.bundles import load_bundle
from emiss.errors import EmissError, EmulatedDataWarning
from emiss.inference.fastlimits import AsymptoticLimits
from emiss.inference.fastmodel import to_pyhf_order
from emiss.inference.scan import scan
from emiss.patches import build_patchset, load_target, make_entry

os.environ.setdefault("SPEY_CHECKUPDATE", "OFF")  # no PyPI query when spey is imported
spey = pytest.importorskip("spey")
# spey prints a citation request at interpreter exit, after pytest's closing line; the suite's
# output must end with that line (the project cites spey in docs/spey.md)
atexit.unregister(getattr(spey, "_print_thanks", lambda: None))
pytest.importorskip("spey_pyhf")


def _drop_spey_root_handler() -> None:
    """spey's import adds a handler to the root logger that rewrites every record's message
    (colour codes): remove it, so the other tests of this process see plain log records."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if type(h.formatter).__module__.startswith("spey"):
            root.removeHandler(h)


_drop_spey_root_handler()

MASS = 2.1
#: agreement with emiss's own fitter (module doc)
MU_TOL_EMISS, TNLL_TOL_EMISS, CLS_TOL_EMISS = 1e-4, 1e-6, 1e-6
#: agreement of spey's SLSQP fits (fitter="spey", spey-pyhf)
MU_TOL_SLSQP, TNLL_TOL_SLSQP, CLS_TOL_SLSQP = 2e-3, 5e-5, 1e-5
#: spey's upper-limit root search (toms748, rtol 1e-4)
UL_RTOL = 2e-4


def _case(name: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmulatedDataWarning)
        bundle = load_bundle(name)
    ps = build_patchset(load_target(bundle), make_entry("twobody-scalar", masses=[MASS]))
    patch = ps["patches"][0]
    row = scan(bundle, [ps], jobs=1, progress=False)["results"][0]
    assert row["status"] == "ok"
    backend = spey.get_backend("emiss")
    model = backend(workspace=bundle, patch=ps, patch_name=patch["metadata"]["name"],
                    analysis=name)
    al = AsymptoticLimits(model.backend.fm)
    return {"bundle": bundle, "patchset": ps, "patch": patch, "row": row, "model": model,
            "cls1": al.cls_obs(1.0), "sigma": row["mu_limit_exp"][2] / 1.96}


@pytest.fixture(scope="module")
def hta() -> dict:
    return _case("belle2_hta_bkgonly")


@pytest.fixture(scope="module")
def belle2() -> dict:
    return _case("belle2")


def _pyhf_model(case: dict):
    """spey-pyhf's statistical model of the same workspace and patch."""
    return spey.get_backend("pyhf")(background_only_model=copy.deepcopy(case["bundle"].spec),
                                    signal_patch=copy.deepcopy(case["patch"]["patch"]),
                                    analysis="spey-pyhf")


def _check_fit(model, case: dict, mu_tol: float, tnll_tol: float) -> None:
    mu_hat, nll = model.maximize_likelihood(allow_negative_signal=False)
    row = case["row"]
    assert abs(mu_hat - row["mu_hat"]) < mu_tol * case["sigma"], (mu_hat, row["mu_hat"])
    assert abs(2.0 * nll - row["twice_nll"]) < tnll_tol, (2.0 * nll, row["twice_nll"])


# ---------------------------------------------------------------------------- registration
def test_backend_is_registered_with_its_metadata():
    """The entry point makes spey find the backend by name, with emiss's metadata."""
    import emiss

    assert "emiss" in spey.AvailableBackends()
    meta = spey.get_backend_metadata("emiss")
    assert meta["name"] == "emiss"
    assert meta["version"] == emiss.__version__
    assert meta["author"] and meta["spey_requires"] == ">=0.2.0,<0.3.0"
    assert "2507.12393" in meta["arXiv"]


def test_model_config_and_calculators(hta):
    model = hta["model"]
    fm = model.backend.fm
    assert model.backend_type == "emiss"
    assert model.is_alive
    assert {"asymptotic", "toy", "chi_square"} <= set(model.available_calculators)
    cfg = model.backend.config(allow_negative_signal=False)
    assert cfg.parameter_names[cfg.poi_index] == "mu"
    assert cfg.suggested_bounds[cfg.poi_index] == (0.0, 50.0)  # the workspace's mu bounds
    assert cfg.npar == fm.npars == len(cfg.suggested_fixed)
    neg = model.backend.config(allow_negative_signal=True, poi_upper_bound=7.0)
    lo, hi = neg.suggested_bounds[neg.poi_index]
    assert hi == 7.0 and -10.0 <= lo < 0.0
    # minimum_poi: the smallest mu at which every expected count stays non-negative
    x = fm.init.copy()
    x[fm.poi_index] = neg.minimum_poi
    lam = fm.expected_main(x)
    assert lam.min() == pytest.approx(0.0, abs=1e-9 * lam.max())
    x[fm.poi_index] = neg.minimum_poi * (1 - 1e-6)
    assert fm.expected_main(x).min() > 0


# ---------------------------------------------------------------------------- emulated HTA
def test_hta_agrees_with_emiss_scan(hta):
    """maximize_likelihood, 1 - CLs at mu = 1, observed and expected limits, Z."""
    model, row = hta["model"], hta["row"]
    _check_fit(model, hta, MU_TOL_EMISS, TNLL_TOL_EMISS)
    (cl,) = model.exclusion_confidence_level(poi_test=1.0)
    assert abs((1.0 - cl) - hta["cls1"]) < CLS_TOL_EMISS
    assert model.poi_upper_limit() == pytest.approx(row["mu_limit_obs"], rel=UL_RTOL)
    band = model.poi_upper_limit(expected=spey.ExpectationType.aposteriori,
                                 expected_pvalue="2sigma")
    np.testing.assert_allclose(band, row["mu_limit_exp"], rtol=UL_RTOL)
    _, sqrt_q0, _, _ = model.significance()
    assert sqrt_q0 == pytest.approx(row["Z"], abs=1e-5)


def test_hta_agrees_with_spey_pyhf(hta):
    """spey-pyhf on the same workspace and patch: same best fit, 1 - CLs and upper limit."""
    ours, theirs = hta["model"], _pyhf_model(hta)
    mu_a, nll_a = ours.maximize_likelihood(allow_negative_signal=False)
    mu_b, nll_b = theirs.maximize_likelihood(allow_negative_signal=False)
    assert abs(mu_a - mu_b) < MU_TOL_SLSQP * hta["sigma"]
    assert abs(2.0 * (nll_a - nll_b)) < TNLL_TOL_SLSQP
    (cl_a,) = ours.exclusion_confidence_level()
    (cl_b,) = theirs.exclusion_confidence_level()
    assert abs(cl_a - cl_b) < CLS_TOL_SLSQP
    ul_a = ours.poi_upper_limit()
    # bracket spey's root search around our limit (it widens the bracket if the root is not in)
    ul_b = theirs.poi_upper_limit(low_init=ul_a * 0.99, hig_init=ul_a * 1.01)
    assert ul_b == pytest.approx(ul_a, rel=UL_RTOL)


def test_hta_spey_optimiser_agrees(hta):
    """fitter="spey": spey's own SLSQP on the backend's objective and analytic gradient."""
    model = spey.get_backend("emiss")(workspace=hta["bundle"], patch=hta["patch"],
                                      fitter="spey", analysis="slsqp")
    assert model.backend.fitter == "spey"
    _check_fit(model, hta, MU_TOL_SLSQP, TNLL_TOL_SLSQP)
    (cl,) = model.exclusion_confidence_level()
    assert abs((1.0 - cl) - hta["cls1"]) < CLS_TOL_SLSQP
    ul = hta["row"]["mu_limit_obs"]
    assert model.poi_upper_limit(low_init=ul * 0.99, hig_init=ul * 1.01) == \
        pytest.approx(ul, rel=UL_RTOL)


def test_return_nll_false_uses_spey_optimiser(hta):
    """spey does not pass return_nll to a backend's fast path: the backend leaves such calls to
    spey's optimiser, which returns the likelihood itself (not -ln L)."""
    model = hta["model"]
    nll = model.likelihood(poi_test=1.0)
    lik = model.likelihood(poi_test=1.0, return_nll=False)
    assert 0.0 < lik < 1.0
    assert -math.log(lik) == pytest.approx(nll, abs=TNLL_TOL_SLSQP)
    _, lmax = model.maximize_likelihood(return_nll=False, allow_negative_signal=False)
    assert -math.log(lmax) == pytest.approx(hta["row"]["twice_nll"] / 2, abs=TNLL_TOL_SLSQP)


# ---------------------------------------------------------------------------- Belle II
def test_belle2_agrees_with_emiss_scan(belle2):
    """Belle II's released likelihood: best fit, 1 - CLs at mu = 1, limits, Z."""
    model, row = belle2["model"], belle2["row"]
    _check_fit(model, belle2, MU_TOL_EMISS, TNLL_TOL_EMISS)
    (cl,) = model.exclusion_confidence_level()
    assert abs((1.0 - cl) - belle2["cls1"]) < CLS_TOL_EMISS
    assert model.poi_upper_limit() == pytest.approx(row["mu_limit_obs"], rel=UL_RTOL)
    band = model.poi_upper_limit(expected=spey.ExpectationType.aposteriori,
                                 expected_pvalue="2sigma")
    np.testing.assert_allclose(band, row["mu_limit_exp"], rtol=UL_RTOL)
    assert model.significance()[1] == pytest.approx(row["Z"], abs=1e-5)


def test_belle2_same_likelihood_as_spey_pyhf(belle2):
    """Point by point: spey-pyhf's ln L and expected counts equal the backend's at the same
    parameters (the emiss best fit and a displaced point), parameters matched by name."""
    ours, theirs = belle2["model"].backend, _pyhf_model(belle2).backend
    fm = ours.fm
    pyhf_model = theirs.model()[1]
    assert sorted(pyhf_model.config.par_names) == sorted(fm.par_names)
    best = ours.negative_loglikelihood(poi_test=belle2["row"]["mu_hat"],
                                       return_parameters=True)[1]
    shifted = best + 0.3 * fm.width * np.where(np.arange(fm.npars) % 2, 1.0, -1.0)
    for pars in (best, shifted):
        pp = to_pyhf_order(fm, pyhf_model, pars)
        assert ours.get_logpdf_func()(pars) == pytest.approx(
            float(theirs.get_logpdf_func()(pp)), abs=1e-8)
        np.testing.assert_allclose(ours.expected_data(pars)[:ours.nmain],
                                   np.asarray(theirs.expected_data(pp))[:ours.nmain],
                                   rtol=1e-10)


@pytest.mark.validation
def test_belle2_agrees_with_spey_pyhf_fits(belle2):
    """Full spey-pyhf fits on Belle II's likelihood (one to three minutes)."""
    ours, theirs = belle2["model"], _pyhf_model(belle2)
    mu_a, nll_a = ours.maximize_likelihood(allow_negative_signal=False)
    mu_b, nll_b = theirs.maximize_likelihood(allow_negative_signal=False)
    assert abs(mu_a - mu_b) < MU_TOL_SLSQP * belle2["sigma"]
    assert abs(2.0 * (nll_a - nll_b)) < TNLL_TOL_SLSQP
    assert abs(ours.exclusion_confidence_level()[0]
               - theirs.exclusion_confidence_level()[0]) < CLS_TOL_SLSQP


# ---------------------------------------------------------------------------- the pieces
def test_gradient_and_hessian(hta):
    """The objective's gradient is the derivative of -ln L; on Asimov data at the generating
    parameters the Hessian of ln L is minus the expected information (Gauss-Newton) exactly."""
    be = hta["model"].backend
    fm = be.fm
    x = fm.init + 0.2 * fm.width * np.cos(np.arange(fm.npars))
    nll, grad = be.get_objective_function(do_grad=True)(x)
    logpdf = be.get_logpdf_func()
    assert nll == pytest.approx(-logpdf(x), abs=1e-12)
    for i in range(fm.npars):
        h = 1e-6 * fm.width[i]
        up, dn = x.copy(), x.copy()
        up[i] += h
        dn[i] -= h
        fd = -(logpdf(up) - logpdf(dn)) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-6), fm.par_names[i]
    asimov = be.expected_data(x)
    hess = be.get_hessian_logpdf_func(data=asimov)(x)
    np.testing.assert_allclose(hess, hess.T)
    gn = fm.nll_grad_hess(x, be.fit_data(data=asimov))[2]
    np.testing.assert_allclose(hess, -gn, rtol=1e-5, atol=1e-6 * np.abs(gn).max())


def test_data_layouts_and_sampler(hta):
    be = hta["model"].backend
    fm = be.fm
    # observed data as a vector: main counts alone, or main counts then auxiliary data
    obs = fm.observed_data()
    full = np.concatenate([obs.main, obs.n_aux, obs.p_aux])
    x = fm.init.copy()
    ref = be.get_logpdf_func()(x)
    assert be.get_logpdf_func(data=obs.main)(x) == pytest.approx(ref, abs=1e-12)
    assert be.get_logpdf_func(data=full)(x) == pytest.approx(ref, abs=1e-12)
    with pytest.raises(EmissError, match="values"):
        be.get_logpdf_func(data=obs.main[:-1])
    # apriori: the model's prediction at mu = 0 (nominal nuisance parameters)
    x[fm.poi_index] = 0.0
    apriori = be.fit_data(spey.ExpectationType.apriori)
    np.testing.assert_allclose(apriori.main, fm.expected_main(x))
    # toys: Poisson main counts around the expectation, auxiliary data around the parameters
    x[fm.poi_index] = 1.0
    toys = be.get_sampler(x)(4000)
    expect = np.asarray(be.expected_data(x))
    assert toys.shape == (4000, be.ndata)
    spread = np.concatenate([np.sqrt(fm.expected_main(x)), fm.n_sig,
                             np.sqrt(np.maximum(fm.expected_aux(x)[1], 1e-12))])
    assert np.all(np.abs(toys.mean(axis=0) - expect) < 5 * spread / math.sqrt(4000))
    assert be.get_sampler(x)(3, include_auxiliary=False).shape == (3, be.nmain)


def test_inputs_name_the_same_model(hta, tmp_path):
    """Workspace as name, path, Bundle or dict; patch as ops, patch dict, PatchSet (+ name) or
    file: one likelihood. Bad inputs are EmissErrors that say what is valid."""
    backend = spey.get_backend("emiss")
    ps, patch, bundle = hta["patchset"], hta["patch"], hta["bundle"]
    ps_file = tmp_path / "ps.json"
    ps_file.write_text(json.dumps(ps))
    x = hta["model"].backend.fm.init
    ref = hta["model"].backend.get_logpdf_func()(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmulatedDataWarning)
        for ws, p in (("belle2_hta_bkgonly", patch["patch"]), (bundle.path, patch),
                      (bundle.spec, ps), (bundle, str(ps_file))):
            model = backend(workspace=ws, patch=p)
            assert model.backend.get_logpdf_func()(x) == pytest.approx(ref, abs=1e-12)
    two = dict(ps, patches=[patch, dict(patch, metadata=dict(patch["metadata"], name="b"))])
    with pytest.raises(EmissError, match="patch_name"):
        backend(workspace=bundle, patch=two)
    with pytest.raises(EmissError, match="not in the PatchSet"):
        backend(workspace=bundle, patch=ps, patch_name="nope")
    with pytest.raises(EmissError, match="digest"):
        backend(workspace="belle2", patch=ps)
    with pytest.raises(EmissError, match="fitter"):
        backend(workspace=bundle, patch=ps, fitter="minuit")
    with pytest.raises(EmissError, match="JSON Patch"):
        backend(workspace=bundle, patch=42)


def test_no_signal_is_not_alive(hta):
    """A patch whose mu-scaled samples are empty: not alive, and spey's limit is infinite."""
    ops = copy.deepcopy(hta["patch"]["patch"])
    for op in ops:
        if any(m["type"] == "normfactor" and m["name"] == "mu"
               for m in op["value"]["modifiers"]):
            op["value"]["data"] = [0.0] * len(op["value"]["data"])
            for m in op["value"]["modifiers"]:
                if m["type"] == "histosys":
                    m["data"] = {"hi_data": op["value"]["data"],
                                 "lo_data": op["value"]["data"]}
    model = spey.get_backend("emiss")(workspace=hta["bundle"], patch=ops)
    assert not model.is_alive
    assert model.backend.minimum_poi == -math.inf
    assert model.poi_upper_limit() == math.inf
