"""B -> K* emulation: physics inputs, helicity response, workspace, calibration, patches."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from emiss.bundles.kstar_emulation import KSTAR_CHANNELS, box_halfwidth, build_response, load_config
from emiss.errors import EmissError
from emiss.io import FLUSH_BELOW
from emiss.physics.observables import binned_fl
from emiss.physics.spectrum import Spectrum
from emiss.response import helicity_acceptance

ROOT = Path(__file__).resolve().parents[1]
WS = ROOT / "workspaces"

# PDG masses (GeV) typed in here, independent of the code's particle-package look-ups
M_UPS4S, M_B0, M_KST0 = 10.5794, 5.27972, 0.89555  # PDG 2024


@pytest.fixture(scope="module")
def sm_k0():
    from emiss.physics.sm import sm_spectrum

    return sm_spectrum("B0->K*0")


@pytest.fixture(scope="module")
def response():
    return build_response()


# ----------------------------------------------------------------------------- physics (H1)
def test_sm_branching_ratio_and_fl(sm_k0):
    # seed (arXiv:2503.19025): B(B0 -> K*0 nu nu) = (8.95 +- 0.89 +- 0.45)e-6 (total +-11 %);
    # arXiv:1409.4557: (9.2 +- 1.0)e-6 and F_L = 0.47 +- 0.03
    assert abs(sm_k0.branching_ratio() / 8.95e-6 - 1.0) < 0.11
    assert abs(sm_k0.fl() - 0.47) < 0.03


def test_binned_fl_limits(sm_k0):
    # q^2 -> 0: only the longitudinal amplitude survives (H_0 ~ 1/sqrt(q^2)), F_L -> 1;
    # zero recoil q^2 -> (m_B - m_K*)^2: the K* is at rest, all helicities equal, F_L -> 1/3.
    # The BSZ fit (1503.05534) treats A12 as an independent z expansion, so the zero-recoil
    # relation A12 = (m_B + m_K*)(m_B - m_K*) A1 / (8 m_B m_K*) holds only within its ~10 %
    # uncertainty (here A12 is 5 % low): F_L(q2max) = 1/3 within 0.03
    q2max = sm_k0.q2_max
    low, high = binned_fl(sm_k0, [1e-4, 0.02, q2max - 0.02, q2max])[[0, 2]]
    assert low > 0.95
    assert high == pytest.approx(1.0 / 3.0, abs=0.03)
    # the binned values average back to the integrated F_L (rate-weighted)
    edges = np.linspace(0, q2max, 8)
    w = sm_k0.bin_integrals(edges)
    assert np.sum(binned_fl(sm_k0, edges) * w) / np.sum(w) == pytest.approx(sm_k0.fl(), rel=1e-6)


def test_binned_fl_rejects_k_spectra():
    from emiss.physics.sm import sm_spectrum

    with pytest.raises(EmissError, match="K\\*"):
        binned_fl(sm_spectrum("B+->K+"))
    with pytest.raises(EmissError, match="edges"):
        binned_fl(sm_spectrum("B0->K*0"), [1.0, 0.5])


# ----------------------------------------------------------------------------- response
def test_box_halfwidth_of_a_kstar_recoil():
    # sqrt(s) gamma beta p*_K*: B from Upsilon(4S) -> B Bbar, K* momentum in the B frame at q^2=0
    gamma = M_UPS4S / (2 * M_B0)
    p_star = (M_B0**2 - M_KST0**2) / (2 * M_B0)
    expected = M_UPS4S * math.sqrt(gamma**2 - 1) * p_star
    assert box_halfwidth([0.0], "B0->K*0")[0] == pytest.approx(expected, rel=2e-3)
    assert 1.6 < expected < 1.75  # vs 1.74 GeV^2 for a kaon (shared/reference/belle2.md 1.7)


def test_helicity_templates_integrate_analytically():
    # int (3/2) c^2 dc and int (3/4)(1 - c^2) dc over the bins, perfect acceptance
    a_l, a_t = helicity_acceptance([-1, -0.5, 0, 0.5, 1], 0.0)
    np.testing.assert_allclose(a_l, [0.4375, 0.0625, 0.0625, 0.4375], rtol=1e-12)
    np.testing.assert_allclose(a_t, [0.15625, 0.34375, 0.34375, 0.15625], rtol=1e-12)
    with pytest.raises(EmissError):
        helicity_acceptance([-1, 2], 0.0)


def test_columns_are_probabilities_and_efficiency_normalised(response):
    cfg = load_config()
    for name in KSTAR_CHANNELS:
        cr = response.channels[name]
        assert cr.matrix_long.sum(axis=0).max() <= 1.0
        assert cr.matrix_trans.sum(axis=0).max() <= 1.0
        # flat, isotropic (F_L = 1/3) spectrum with B = 1: yield / n_B = configured efficiency
        qmax = cr.hkernel.box.q2_max
        flat = Spectrum(process=cr.process, q2_min=0.0, q2_max=qmax,
                        continuum=lambda q2, q=qmax: np.full_like(q2, 1.0 / q),
                        continuum_long=lambda q2, q=qmax: np.full_like(q2, 1.0 / (3 * q)))
        eff = cr.fold(flat).sum() / cr.n_b
        assert eff == pytest.approx(cfg["channels"][name]["efficiency"], rel=0.01)


def test_channel_counts_use_pdg_sub_decays(response):
    # K* -> K pi 99.9 %, isospin 2/3 : 1/3; K0 -> K_S 1/2, K_S -> pi+ pi- 69.20 %,
    # pi0 -> gamma gamma 98.823 % (PDG); Y(4S): R+-/00 = 1.065 (HFLAV 2206.07501)
    n_bb, r = 387e6, 1.065
    f_c, f_n = r / (1 + r), 1 / (1 + r)
    exp = {"kstar_kpi": 2 * n_bb * f_n * 0.999 * 2 / 3,
           "kstar_kspi": 2 * n_bb * f_c * 0.999 * 2 / 3 * 0.5 * 0.6920,
           "kstar_kpi0": 2 * n_bb * f_c * 0.999 / 3 * 0.98823}
    for name, n in exp.items():
        assert response.channels[name].n_b == pytest.approx(n, rel=3e-3)


def test_line_lands_only_where_the_box_reaches(response):
    # a line at q^2 = 4.41 GeV^2: box ~[3.0, 5.8] GeV^2 (+ resolution) -> q2rec bins [1,4), [4,7)
    cr = response.channels["kstar_kpi"]
    cl, ct = cr.columns_at(4.41)
    per_q = (cl + ct).reshape(6, 4).sum(axis=1)
    assert per_q[[0, 3, 4, 5]].max() < 1e-6 * per_q.sum()
    assert per_q[1] > 0 and per_q[2] > 0


def test_longitudinal_line_follows_cos2(response):
    # a spin-0 X recoiling against the K* forces helicity 0: pure (3/2) cos^2 (F_L = 1)
    cr = response.channels["kstar_kpi"]
    line = Spectrum(process="B0->K*0", q2_min=0, q2_max=19.2, lines=((4.41, 1e-5),),
                    lines_long=(1e-5,))
    y = cr.fold(line).reshape(6, 4).sum(axis=0)
    cfg = load_config()
    a_l, _ = helicity_acceptance(cfg["binning"]["cos_edges"], cfg["channels"]["kstar_kpi"][
        "acc_slope"])
    np.testing.assert_allclose(y / y.sum(), a_l / a_l.sum(), rtol=1e-9)


def test_fold_needs_longitudinal_parts(response):
    no_long = Spectrum(process="B0->K*0", q2_min=0, q2_max=19.2,
                       continuum=lambda q2: np.ones_like(q2))
    with pytest.raises(EmissError, match="longitudinal"):
        response.channels["kstar_kpi"].fold(no_long)
    bad_line = Spectrum(process="B0->K*0", q2_min=0, q2_max=19.2, lines=((4.0, 1e-6),))
    with pytest.raises(EmissError, match="lines_long"):
        response.channels["kstar_kpi"].fold(bad_line)


# ----------------------------------------------------------------------------- workspaces
def test_bundled_workspaces_are_valid_and_fresh():
    import pyhf

    from emiss.bundles import load_bundle

    for stem in ("belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly"):
        b = load_bundle(WS / f"{stem}.json")
        pyhf.schema.validate(b.spec, "workspace.json")
        assert b.meta["emulated_data"] is True
        for ch in b.spec["channels"]:
            assert all(s["name"] != "signal" for s in ch["samples"])
    kst = load_bundle(WS / "belle2_kstar_bkgonly.json")
    assert kst.meta["observations"].startswith("asimov-background-only")
    # observations = backgrounds + SM nu nubar (H1's SM spectrum folded with the response)
    from emiss.physics.sm import sm_spectrum

    for ch, obs in zip(kst.spec["channels"], kst.spec["observations"], strict=True):
        cr = kst.response.channels[ch["name"]]
        tot = np.sum([s["data"] for s in ch["samples"]], axis=0) + cr.fold(
            sm_spectrum(cr.process))
        np.testing.assert_allclose(obs["data"], tot, rtol=1e-6)
    # freshness against a rebuild in a clean process: tests/test_determinism.py


def test_expected_limits_at_belle_luminosity_match_belle():
    """Calibration regression: the background levels were solved (studies/calibrate.py, rtol 2e-3,
    20 FF draws) so that the expected 90 % CL limits at Belle's 772e6 BB equal Belle's published
    ones (arXiv:1702.03224): B(B0->K*0 nu nu) < 1.8e-5, B(B+->K*+) < 6.1e-5. Recomputed here
    through scaling, patching and the inference engine; it fails if any of those drifts."""
    from emiss.studies.calibrate import expected_ul_at_belle

    ul = expected_ul_at_belle(n_samples=20)
    assert ul["B0->K*0"] == pytest.approx(1.8e-5, rel=0.01)
    assert ul["B+->K*+"] == pytest.approx(6.1e-5, rel=0.01)


def test_patches_fold_polarisation_and_share_ff_names():
    from emiss.patches import TemplateBuilder, load_target, scenario_patchset

    tgt = load_target(WS / "belle2_k_kstar_combined_bkgonly.json")
    b = TemplateBuilder(tgt, n_samples=4)
    ps = scenario_patchset(tgt, "twobody-scalar", masses=[2.1], builder=b)
    ops = ps["patches"][0]["patch"]
    meta = ps["patches"][0]["metadata"]["emiss"]
    assert meta["reference_branching_ratios"]["B+->K+"] == pytest.approx(1e-5)
    names = [c["name"] for c in tgt.spec["channels"]]
    sig = {names[int(op["path"].split("/")[2])]: op["value"] for op in ops
           if op["value"]["name"] == "signal"}
    # K* channels: scalar => pure longitudinal => cos bins follow A_L in every q2rec row
    y = np.asarray(sig["kstar_kpi"]["data"]).reshape(6, 4).sum(axis=0)
    cfg = load_config()
    a_l, _ = helicity_acceptance(cfg["binning"]["cos_edges"],
                                 cfg["channels"]["kstar_kpi"]["acc_slope"])
    np.testing.assert_allclose(y / y.sum(), a_l / a_l.sum(), rtol=1e-6)
    # B -> K and B -> K* form factors: separate nuisances, same names in every channel
    mods = {ch: {m["name"] for m in v["modifiers"]} for ch, v in sig.items()}
    assert {"ff_BK_pc1", "ff_BKstar_pc1"} <= mods["kstar_kpi"]
    assert not any(m.startswith("ff_BKstar") for m in mods.get("ita_onres", set()))
    import pyhf

    pyhf.PatchSet(ps).verify(pyhf.Workspace(tgt.spec))


def test_one_response_loader_reads_k_and_kstar_files(tmp_path):
    from emiss.bundles import load_bundle
    from emiss.response import KstarChannelResponse, Response

    comb = load_bundle(WS / "belle2_k_kstar_combined_bkgonly.json")
    kinds = {n: type(c).__name__ for n, c in comb.response.channels.items()}
    assert kinds["kstar_kpi"] == "KstarChannelResponse" and kinds["ita_onres"] == "ChannelResponse"
    assert isinstance(load_bundle(WS / "belle2_kstar_bkgonly.json").response.channels["kstar_kspi"],
                      KstarChannelResponse)
    # the file format follows the content: K only -> plain, any K* channel -> K* format
    assert Response.load(WS / "belle2_ita_response.json").to_dict()["format"] == "emiss-response-1"
    d = comb.response.to_dict()
    assert d["format"] == "emiss-kstar-response-1"
    d["format"] = "emiss-response-9"
    with pytest.raises(EmissError, match="emiss-response-9"):
        Response.from_dict(d)


def _signal_by_channel(ps, spec, i=0):
    names = [c["name"] for c in spec["channels"]]
    return {names[int(op["path"].split("/")[2])]: op["value"] for op in ps["patches"][i]["patch"]
            if op["value"]["name"] == "signal"}


@pytest.mark.parametrize("stem", ["belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly"])
def test_generic_builder_folds_the_line_polarisation(stem):
    """A vector X line has 0 < F_L < 1: the cos(theta_K) bins must follow F_L A_L + (1-F_L) A_T
    (arXiv:0902.0160 eq. (3.5)) with F_L of the line, not the isotropic (A_L + 2 A_T)/3; and the
    templates equal Response.fold of the physics spectrum normalised to B(first process) = 1e-5."""
    from emiss.patches import TemplateBuilder, load_target, scenario_patchset
    from emiss.physics.scenarios import get_scenario

    tgt = load_target(WS / f"{stem}.json")
    ps = scenario_patchset(tgt, "twobody-vector", masses=[2.1],
                           builder=TemplateBuilder(tgt, n_samples=0))
    sig = _signal_by_channel(ps, tgt.spec)
    spec = get_scenario("twobody-vector").spectrum("B0->K*0", mass=2.1)
    (q2, br), = spec.lines
    fl = spec.lines_long[0] / br
    assert 0.2 < fl < 0.98
    cfg = load_config()
    a_l, a_t = helicity_acceptance(cfg["binning"]["cos_edges"],
                                   cfg["channels"]["kstar_kpi"]["acc_slope"])
    y = np.asarray(sig["kstar_kpi"]["data"]).reshape(6, 4).sum(axis=0)
    want = fl * a_l + (1 - fl) * a_t
    np.testing.assert_allclose(y / y.sum(), want / want.sum(), rtol=1e-7)  # 8-digit JSON data
    iso = (a_l + 2 * a_t) / 3
    assert np.max(np.abs(y / y.sum() - iso / iso.sum())) > 1e-3  # the test can tell
    first = tgt.processes()[0]
    scale = 1e-5 / get_scenario("twobody-vector").spectrum(first, mass=2.1).branching_ratio()
    for ch, val in sig.items():
        cr = tgt.response.channels[ch]
        np.testing.assert_allclose(val["data"], scale * cr.fold(
            get_scenario("twobody-vector").spectrum(cr.process, mass=2.1)), rtol=1e-7,
            atol=FLUSH_BELOW)  # 8-digit JSON data, |y| < FLUSH_BELOW written as 0


def test_patchset_cli_on_kstar_bundles(tmp_path):
    from click.testing import CliRunner

    from emiss.cli import cli

    for stem in ("belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly"):
        out = tmp_path / f"{stem}.json"
        r = CliRunner().invoke(cli, ["patchset", str(WS / f"{stem}.json"), "--scenario",
                                     "twobody-vector", "--masses", "1,2.1", "-o", str(out)])
        assert r.exit_code == 0, r.output
        from emiss.io import read_json

        ps = read_json(out)
        mods = {m["name"] for p in ps["patches"] for op in p["patch"]
                for m in op["value"]["modifiers"]}
        assert "ff_BKstar_pc1" in mods
        assert ("ff_BK_pc1" in mods) == ("combined" in stem)
