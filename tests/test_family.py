"""One likelihood family per workspace: patches compared at the same physical point agree.

Independent facts used: pyhf's own likelihood (``Model.logpdf``, its staterror constraint widths
and its maximum-likelihood fit), and a one-bin counting experiment whose best fit saturates
the Poisson term, so that −2 ln L at the minimum is known in closed form:
−2 ln Pois(n | n) + Σ ln(2π σ_k²) over the Gaussian constraints (pyhf's staterror constraint
is N(1 | γ, σ); at the saturated point every γ = 1).
"""

from __future__ import annotations

import math

import jsonpatch
import numpy as np
import pyhf
import pytest
from scipy.stats import poisson

import emiss.patches as P
import emiss.patches.templates as T
from emiss.bundles import load_bundle
from emiss.patches.assemble import SampleTemplate, sample_ops
from emiss.patches.grid import load_grid, standard_grid_path
from emiss.patches.target import standard_grid_key

#: −2 ln L of two patches at the same physical point agree to this (values are ~100-300).
TOL = 1e-8


# ------------------------------------------------------------------ the counting example
B, DB = 100.0, 5.0  # background and its MC-statistical uncertainty
S, DS = 20.0, 2.0  # the SM signal sample and its MC-statistical uncertainty
X, RX = 10.0, 0.1  # a light-X template and the relative MC uncertainty of its events
N_OBS = 140


def _counting_spec() -> dict:
    return {
        "channels": [{"name": "sr", "samples": [
            {"name": "bkg", "data": [B], "modifiers": [
                {"name": "stat_bkg", "type": "staterror", "data": [DB]}]}]}],
        "observations": [{"name": "sr", "data": [N_OBS]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [
            {"name": "mu", "bounds": [[0.0, 50.0]], "inits": [1.0]}]}}],
        "version": "1.0.0",
    }


def _sample(name: str, n: float, normfactor: str | None, dn: float | None = None,
            rel: float | None = None) -> tuple[SampleTemplate, list[dict]]:
    """A template and the sidecar-like modifiers it carries (absolute or relative staterror)."""
    mods = [{"name": "stat_sig", "type": "staterror",
             "data": {"rel": [rel]} if rel is not None else [dn]}]
    if dn is not None:  # a published sample: add it as it is, modifiers included
        value = {"name": name, "data": [n], "modifiers": (
            [{"name": normfactor, "type": "normfactor", "data": None}] if normfactor else [])
            + mods}
        return SampleTemplate(name=name, nominal={"sr": np.array([n])},
                              normfactor=normfactor, published={"sr": value}), []
    return SampleTemplate(name=name, nominal={"sr": np.array([n])}, normfactor=normfactor), mods


def _model(ops: list[dict]) -> tuple[pyhf.pdf.Model, list[float]]:
    ws = pyhf.Workspace(jsonpatch.apply_patch(_counting_spec(), ops))
    model = ws.model(poi_name="mu")
    return model, ws.data(model)


def test_counting_example_has_the_closed_form_minimum():
    pyhf.set_backend("numpy", "scipy")  # other tests may leave another optimizer set
    sm, _ = _sample("signal", S, "mu", dn=DS)
    sm_ops = sample_ops(_counting_spec(), [sm])
    fixed, _ = _sample("sm_nunu", S, None, dn=DS)
    light, mods = _sample("signal", X, "mu", rel=RX)
    lx_ops = sample_ops(_counting_spec(), [light, fixed], {"sr": mods})
    # closed form: both saturate n (SM: 2 S + B = 140; light X: S + 2 X + B = 140) at gamma = 1
    sigma_b, sigma_s = DB / B, DS / S
    expect = -2 * poisson.logpmf(N_OBS, N_OBS) + math.log(2 * math.pi * sigma_b**2) \
        + math.log(2 * math.pi * sigma_s**2)
    for ops, mu_hat in ((sm_ops, 2.0), (lx_ops, 2.0)):
        model, data = _model(ops)
        # the MC-statistics width of the signal events is the SM sample's own, DS / S
        assert model.config.param_set("stat_sig").sigmas == pytest.approx([sigma_s], rel=1e-12)
        best, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
        assert float(best[model.config.poi_index]) == pytest.approx(mu_hat, rel=1e-4)
        assert float(twice_nll) == pytest.approx(expect, abs=1e-6)
    # the SM-only point of the light-X patch (mu = 0) is the SM patch at mu = 1
    m_sm, d_sm = _model(sm_ops)
    m_lx, d_lx = _model(lx_ops)
    p_sm = np.array(m_sm.config.suggested_init(), float)
    p_lx = np.array(m_lx.config.suggested_init(), float)
    p_lx[m_lx.config.poi_index] = 0.0
    assert float(m_lx.logpdf(p_lx, d_lx)[0]) == pytest.approx(
        float(m_sm.logpdf(p_sm, d_sm)[0]), abs=1e-12)


def test_family_declares_missing_nuisances_without_effect():
    sm, _ = _sample("signal", S, "mu", dn=DS)
    ops = sample_ops(_counting_spec(), [sm], family=["ff_BK_pc1", "stat_sig"])
    mods = {m["name"]: m for m in ops[0]["value"]["modifiers"]}
    assert mods["ff_BK_pc1"]["data"] == {"hi_data": [S], "lo_data": [S]}
    assert sum(m["name"] == "stat_sig" for m in ops[0]["value"]["modifiers"]) == 1
    model, data = _model(ops)
    pars = np.array(model.config.suggested_init(), float)
    pars[model.config.par_slice("ff_BK_pc1")] = 1.7  # no effect on the expected yields
    assert model.expected_actualdata(pars) == pytest.approx([B + S], rel=1e-14)


# ------------------------------------------------------------------ the real likelihood
@pytest.fixture(scope="module")
def belle2():
    target = P.target_from_bundle(load_bundle("belle2"))
    return target, P.TemplateBuilder(target, n_samples=8, seed=0)


def _logpdf(spec: dict, patch: dict, mu: float) -> float:
    ws = pyhf.Workspace(jsonpatch.apply_patch(spec, patch["patch"]))
    model = ws.model(poi_name="mu")
    pars = np.array(model.config.suggested_init(), float)
    pars[model.config.poi_index] = mu
    return float(model.logpdf(pars, ws.data(model))[0])


def _thin(entry, k: int = 3):
    from emiss.patches.grid import GridEntry

    if entry.masses is None:
        return entry
    m = list(entry.masses)
    picks = sorted({m[0], m[len(m) // 2], m[-1]})[:k]
    return GridEntry(entry.scenario, masses=picks, name=entry.name, fixed=entry.fixed)


def test_every_standard_scenario_is_one_family_on_belle2(belle2):
    """SM-only point (mu = 0) of every light-X patch of the standard grid = the SM patch at
    mu = 1, constants included, whatever the scenario and mass."""
    target, builder = belle2
    entries = load_grid(standard_grid_path(), key=standard_grid_key(target))
    sm = next(e for e in entries if e.scenario == "sm")
    sm_ps = P.build_patchset(target, sm, builder=builder)
    ref = _logpdf(target.spec, sm_ps["patches"][0], 1.0)
    names = None
    seen = 0
    for e in entries:
        if e.scenario == "sm":
            continue
        ps = P.build_patchset(target, _thin(e), builder=builder)
        for p in ps["patches"]:
            ws = pyhf.Workspace(jsonpatch.apply_patch(target.spec, p["patch"]))
            pars = ws.model(poi_name="mu").config.parameters
            names = names or sorted(pars)
            assert sorted(pars) == names, p["metadata"]["name"]
            assert _logpdf(target.spec, p, 0.0) == pytest.approx(ref, abs=TOL), \
                p["metadata"]["name"]
            seen += 1
    assert seen >= 10


def test_reference_branching_ratio_does_not_change_the_likelihood(belle2, monkeypatch):
    """The same X rate, B = 5e-6, from a patch normalised to 1e-5 (mu = 0.5) and one
    normalised to 2e-6 (mu = 2.5): the same -2 ln L."""
    target, _ = belle2
    entry = P.make_entry("threebody-fermion", masses=[0.6])
    values = []
    for ref in (1e-5, 2e-6):
        monkeypatch.setattr(T, "LIGHT_X_REFERENCE_BR", ref)
        builder = P.TemplateBuilder(target, n_samples=8, seed=0)
        ps = P.build_patchset(target, entry, builder=builder)
        assert ps["patches"][0]["metadata"]["emiss"]["reference_branching_ratio"] == ref
        values.append(_logpdf(target.spec, ps["patches"][0], 5e-6 / ref))
    assert values[0] == pytest.approx(values[1], abs=TOL)


def test_emulation_is_one_family_too():
    from emiss.bundles import bundle as bundle_mod

    bundle_mod._WARNED.clear()  # it warns once per process and workspace
    with pytest.warns(UserWarning, match="EMULATED"):
        bundle = load_bundle("belle2_hta_bkgonly")
    target = P.target_from_bundle(bundle)
    builder = P.TemplateBuilder(target, n_samples=8, seed=0)
    sm = P.build_patchset(target, P.make_entry("sm"), builder=builder)
    ref = _logpdf(target.spec, sm["patches"][0], 1.0)
    for scen, m in (("twobody-scalar", 2.1), ("threebody-vector", 0.5)):
        ps = P.build_patchset(target, P.make_entry(scen, masses=[m]), builder=builder)
        assert _logpdf(target.spec, ps["patches"][0], 0.0) == pytest.approx(ref, abs=TOL)


def test_folded_sm_normalisation_moves_the_light_x_sm_sample_only():
    """On a workspace whose SM sample emiss folds (the ITA emulation), the fixed SM sample of a
    light-X patch carries ``sm_nunu_norm`` (|V_tb V_ts|^2 X_t^2, 2 sqrt((0.9/41.5)^2 +
    (0.017/1.469)^2) per sigma); the SM patch declares it without effect (its mu measures the
    SM-shaped rate, as Belle II's does): at the nuisance's nominal value the SM-only point of
    the light-X patch is the SM patch at mu = 1, and at +1 sigma its SM yield is (1 + r)
    times larger."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # emulated-data warning
        target = P.target_from_bundle(load_bundle("belle2_ita_bkgonly"))
    builder = P.TemplateBuilder(target, n_samples=8, seed=0)
    assert "sm_nunu_norm" in builder.family
    entries = {e.scenario: e for e in load_grid(standard_grid_path(), key="patchsets")}
    sm_ps = P.build_patchset(target, entries["sm"], builder=builder)
    lx_ps = P.build_patchset(target, _thin(entries["threebody-scalar"]), builder=builder)
    r = 2 * math.hypot(0.9 / 41.5, 0.017 / 1.469)

    def expected(patch: dict, mu: float, theta: float) -> tuple[np.ndarray, float]:
        ws = pyhf.Workspace(jsonpatch.apply_patch(target.spec, patch["patch"]))
        model = ws.model(poi_name="mu")
        pars = np.array(model.config.suggested_init(), float)
        pars[model.config.poi_index] = mu
        pars[model.config.par_slice("sm_nunu_norm")] = theta
        return (np.asarray(model.expected_actualdata(pars)),
                float(model.logpdf(pars, ws.data(model))[0]))

    bkg, _ = expected(sm_ps["patches"][0], 0.0, 0.0)  # background only
    sm1, ref = expected(sm_ps["patches"][0], 1.0, 0.0)
    assert np.allclose(expected(sm_ps["patches"][0], 1.0, 1.0)[0], sm1, rtol=1e-12)
    for p in lx_ps["patches"]:
        at0, nll0 = expected(p, 0.0, 0.0)
        assert nll0 == pytest.approx(ref, abs=TOL)
        up, _ = expected(p, 0.0, 1.0)
        np.testing.assert_allclose(up - bkg, (1 + r) * (sm1 - bkg), rtol=1e-7, atol=1e-9)
