"""Scenario registry and predictions: names, parameters, operator-dimension scaling of rates,
sum rules, heavy-NP rescaling, SM numbers of 2503.19025 / 1409.4557, parity zeros, bad input."""

import numpy as np
import pytest

from emiss.errors import EmissError
from emiss.physics import constants as C
from emiss.physics.predict import integrate, predict
from emiss.physics.processes import ALL_PROCESSES, PROCESSES
from emiss.physics.scenarios import Scenario, get_scenario, list_scenarios

LIGHT = [s.name for s in list_scenarios() if s.needs_mass]


def test_required_names_and_fields():
    names = [s.name for s in list_scenarios()]
    for required in ("sm", "heavy-np", "twobody-scalar", "twobody-vector", "threebody-scalar",
                     "threebody-fermion", "threebody-vector", "threebody-spin32",
                     "threebody-spin32-scalar", "threebody-fermion-tensor", "threebody-vector-t",
                     "threebody-fermion-axial-majorana", "threebody-scalar-s-real",
                     "threebody-vector-s-real", "threebody-spin32-axial-majorana"):
        assert required in names
    assert len(set(names)) == len(names)
    for s in list_scenarios():
        assert isinstance(s, Scenario)
        assert s.multiplicity in (1, 2, 3)
        assert s.spin in (0, 0.5, 1, 1.5)
        assert s.massless_allowed == (s.spin < 1)
        # the K(*) modes always; vector-current light-X scenarios also the related modes
        assert set(PROCESSES) <= set(s.processes) <= set(ALL_PROCESSES)
        for default, unit, desc in s.parameters.values():
            assert np.isfinite(default) and isinstance(unit, str) and desc
        if s.multiplicity == 1:
            assert s.coupling is None and not s.needs_mass
        else:
            assert s.coupling in s.parameters and s.needs_mass and s.default_mass > 0
    assert get_scenario("heavy-np").parameters.keys() == {"C_L", "C_R"}


def test_unknown_scenario_lists_valid_names():
    with pytest.raises(EmissError, match="twobody-scalar") as exc:
        get_scenario("twobody-tensor")
    assert "\n" not in str(exc.value)


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(EmissError, match=r"'Lam'.*valid: g, Lambda, c_L, c_R"):
        get_scenario("twobody-scalar").spectrum("B+->K+", params={"Lam": 1.0})


@pytest.mark.parametrize("bad", [{"g": float("nan")}, {"Lambda": -1.0}, {"Lambda": 0.0},
                                 {"g": "x"}])
def test_bad_parameter_values(bad):
    with pytest.raises(EmissError):
        get_scenario("threebody-scalar").spectrum("B+->K+", params=bad)


def test_mass_rules():
    with pytest.raises(EmissError, match="takes no mass"):
        get_scenario("sm").spectrum("B+->K+", mass=1.0)
    with pytest.raises(EmissError, match="endpoint"):
        get_scenario("threebody-fermion").spectrum("B+->K+", mass=2.4)  # 2 m > m_B - m_K
    with pytest.raises(EmissError, match="process"):
        get_scenario("twobody-scalar").spectrum("B+->D+")
    with pytest.raises(EmissError, match="does not predict"):
        get_scenario("sm").spectrum("Bs->phi")
    s = get_scenario("twobody-vector").spectrum("B+->K+")  # default mass 2.1 GeV
    assert s.lines[0][0] == pytest.approx(2.1**2)


@pytest.mark.parametrize("name", LIGHT)
def test_rate_scales_with_coupling_squared_and_operator_dimension(name):
    sc = get_scenario(name)
    base = integrate(sc.spectrum("B+->K+"))[0]
    g0 = sc.parameters["g"][0]
    assert integrate(sc.spectrum("B+->K+", params={"g": 3 * g0}))[0] == pytest.approx(9 * base,
                                                                                      rel=1e-12)
    if "Lambda" in sc.parameters:
        lam0 = sc.parameters["Lambda"][0]
        power = 2 if sc.multiplicity == 2 else 4  # dim-5 line, dim-6 (or v/Lambda^2) pairs
        scaled = integrate(sc.spectrum("B+->K+", params={"Lambda": 2 * lam0}))[0]
        assert scaled == pytest.approx(base / 2**power, rel=1e-12)
    assert 1e-7 < base < 1e-4  # defaults give rates of the size of the Belle II excess


@pytest.mark.parametrize("name", ["threebody-scalar", "threebody-fermion-axial",
                                  "threebody-vector"])
@pytest.mark.parametrize("proc", ["B0->K0", "B+->K*+"])
def test_integral_of_spectrum_equals_rate(name, proc):
    spec = get_scenario(name).spectrum(proc, mass=0.4)
    br, brl = integrate(spec)
    assert br == pytest.approx(spec.branching_ratio(), rel=1e-6)
    if spec.continuum_long is not None:
        assert brl == pytest.approx(spec.branching_ratio_long(), rel=1e-6)
    edges = np.linspace(0.0, spec.q2_max, 13)
    assert spec.bin_integrals(edges, n_sub=8).sum() == pytest.approx(br, rel=1e-4)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
def test_heavy_np_with_cr_zero_rescales_sm(proc):
    sm = get_scenario("sm").spectrum(proc)
    hn = get_scenario("heavy-np").spectrum(proc, params={"C_L": 1.5 * C.C_L_SM, "C_R": 0.0})
    q2 = np.linspace(0.1, sm.q2_max - 0.1, 9)
    np.testing.assert_allclose(hn.dBdq2(q2), 2.25 * sm.dBdq2(q2), rtol=1e-12)


def test_sm_predictions_against_published():
    """2503.19025: B(B+ -> K+ nunu) = (4.90 +- 0.30)e-6, B(B0 -> K*0 nunu) = (8.95 +- 1.00)e-6;
    F_L(K*) ~ 0.47 (1409.4557)."""
    k = predict("sm", "B+->K+", n_samples=50)
    ks = predict("sm", "B0->K*0", n_samples=50)
    assert abs(k["branching_ratio"] - 4.90e-6) < 0.30e-6
    assert abs(ks["branching_ratio"] - 8.95e-6) < 1.00e-6
    assert 0.1e-6 < k["uncertainty"] < 0.6e-6 and 0.4e-6 < ks["uncertainty"] < 2e-6
    assert ks["FL"] == pytest.approx(0.47, abs=0.03)
    assert k["FL"] is None


@pytest.mark.parametrize("name", ["twobody-scalar", "threebody-fermion", "threebody-vector-s"])
def test_predict_has_uncertainty_and_fl(name):
    r = predict(name, "B0->K*0", n_samples=30, seed=1)
    assert r["branching_ratio"] > 0 and 0 < r["uncertainty"] < 0.5 * r["branching_ratio"]
    assert 0 < r["FL"] <= 1 + 1e-12
    if name in ("twobody-scalar", "threebody-vector-s"):
        assert r["FL"] == pytest.approx(1.0)  # scalar currents / scalar X: K*_L only
    r2 = predict(name, "B0->K*0", n_samples=30, seed=1)
    assert r2 == r  # deterministic
    assert predict(name, "B+->K+", n_samples=5)["FL"] is None


def test_parity_forbidden_rate_is_an_error_not_a_zero():
    # pure vector quark current for a scalar recoiling against K*: no rate
    with pytest.raises(EmissError, match="parity"):
        get_scenario("twobody-scalar").spectrum("B0->K*0", params={"c_L": 1.0, "c_R": 1.0})
    # pure axial current: no B -> K rate
    with pytest.raises(EmissError, match="parity"):
        get_scenario("threebody-fermion").spectrum("B+->K+", params={"c_L": -1.0, "c_R": 1.0})


def test_n_samples_validation():
    with pytest.raises(EmissError, match="n_samples"):
        predict("twobody-vector", "B+->K+", n_samples=1)


def test_spectrum_band_matches_central_and_has_width():
    from emiss.physics.predict import spectrum_band

    q2 = np.array([2.0, 8.0, 15.0])
    b = spectrum_band("threebody-scalar", "B0->K*0", q2, n_samples=20)
    spec = get_scenario("threebody-scalar").spectrum("B0->K*0")
    np.testing.assert_allclose(b["central"], spec.dBdq2(q2), rtol=1e-14)
    assert np.all(b["sigma"] > 0) and np.all(b["sigma"] < 0.5 * b["central"])
    assert np.all((b["FL"] > 0) & (b["FL"] < 1)) and np.all(b["FL_sigma"] > 0)


# pairs of identical (self-conjugate) particles: the registry's defaults use the Lambda of the
# Dirac/complex scenario, so B = B(Dirac/complex)/2 where the operator is C-even
HALF = [("threebody-fermion-axial-majorana", "threebody-fermion-axial"),
        ("threebody-fermion-scalar-majorana", "threebody-fermion-scalar"),
        ("threebody-fermion-pseudoscalar-majorana", "threebody-fermion-pseudoscalar"),
        ("threebody-scalar-s-real", "threebody-scalar-s"),
        ("threebody-vector-s-real", "threebody-vector-s"),
        ("threebody-spin32-axial-majorana", "threebody-spin32-axial"),
        ("threebody-spin32-scalar-majorana", "threebody-spin32-scalar"),
        ("threebody-spin32-pseudoscalar-majorana", "threebody-spin32-pseudoscalar")]


@pytest.mark.parametrize("sc,dirac", HALF)
def test_self_conjugate_scenarios_are_half_their_dirac_or_complex_partner(sc, dirac):
    for proc in ("B+->K+", "B0->K*0"):
        a, al = integrate(get_scenario(sc).spectrum(proc, mass=0.7, params={"c_R": 0.3}))
        b, bl = integrate(get_scenario(dirac).spectrum(proc, mass=0.7, params={"c_R": 0.3}))
        assert a == pytest.approx(0.5 * b, rel=1e-12) and al == pytest.approx(0.5 * bl, rel=1e-12)


def test_majorana_chiral_current_keeps_its_axial_part():
    """chī gamma (d_L P_L + d_R P_R) chi = (d_R - d_L)/2 chī gamma gamma5 chi (the vector part
    vanishes): the V - A Majorana pair is 1/4 of the axial one; d_L = d_R is an error."""
    for spin in ("fermion", "spin32"):
        va = integrate(get_scenario(f"threebody-{spin}-majorana").spectrum("B+->K+"))[0]
        ax = integrate(get_scenario(f"threebody-{spin}-axial-majorana").spectrum("B+->K+"))[0]
        assert va == pytest.approx(ax / 4, rel=1e-12)
        with pytest.raises(EmissError, match="Majorana vector current vanishes"):
            get_scenario(f"threebody-{spin}-majorana").spectrum("B+->K+",
                                                                params={"d_L": 1, "d_R": 1})


def test_new_pair_scenarios_masses_and_processes():
    for name in ("threebody-spin32", "threebody-spin32-scalar-majorana", "threebody-vector-t"):
        with pytest.raises(EmissError, match="0 < m_X"):
            get_scenario(name).spectrum("B+->K+", mass=0.0)
    assert integrate(get_scenario("threebody-fermion-tensor").spectrum("B+->K+", mass=0.0))[0] > 0
    # tensor quark currents: B -> K(*) only (f_T, T_i); vector currents: also the related modes
    assert set(get_scenario("threebody-fermion-tensor").processes) == set(PROCESSES)
    assert set(get_scenario("threebody-spin32").processes) == set(ALL_PROCESSES)
    assert set(get_scenario("threebody-spin32-scalar").processes) == set(PROCESSES)
