"""Every registered scenario predicts B -> K* (rate, dGamma_L, dGamma_T, F_L) or says why not,
and each prediction obeys a physical fact: 0 <= F_L <= 1 and dGamma_L <= dGamma, the rate
vanishes at the kinematic endpoint, F_L = 1 when only the K* helicity 0 can be reached (scalar
or pseudoscalar quark currents; a spin-0 X recoiling alone), and a self-conjugate pair (Majorana
fermions, real bosons) has half the rate of its Dirac/complex version with the same F_L.
The K* prediction also gives binned F_L and a patch on the K* workspace.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from cli_run import run

from emiss.errors import EmissError
from emiss.physics.observables import fl_row
from emiss.physics.predict import predict
from emiss.physics.processes import get_process
from emiss.physics.scenarios import get_scenario, list_scenarios

NAMES = [s.name for s in list_scenarios()]
KSTAR = ("B0->K*0", "B+->K*+")
#: scenarios whose K* comes out longitudinal only: the quark current is scalar/pseudoscalar
#: (<K*|s̄ γ5 b|B> has helicity 0 only), or a spin-0 X recoils alone (angular momentum)
LONGITUDINAL_ONLY = {n for n in NAMES
                     if "s̄ (c_L P_L + c_R P_R) b" in get_scenario(n).operator
                     or n in ("twobody-scalar", "twobody-scalar-s")}
#: self-conjugate scenario -> (Dirac/complex partner, parameters of both for the comparison).
#: A Majorana vector-current coupling keeps only the axial part (d_R - d_L)/2 chī γ γ5 χ, so
#: its partner is the Dirac current with d_L = -a, d_R = a, a = (d_R - d_L)/2.
SELF_CONJUGATE = {
    "threebody-scalar-s-real": ("threebody-scalar-s", {}),
    "threebody-vector-s-real": ("threebody-vector-s", {}),
    "threebody-fermion-axial-majorana": ("threebody-fermion-axial", {}),
    "threebody-fermion-scalar-majorana": ("threebody-fermion-scalar", {}),
    "threebody-fermion-pseudoscalar-majorana": ("threebody-fermion-pseudoscalar", {}),
    "threebody-spin32-axial-majorana": ("threebody-spin32-axial", {}),
    "threebody-spin32-scalar-majorana": ("threebody-spin32-scalar", {}),
    "threebody-spin32-pseudoscalar-majorana": ("threebody-spin32-pseudoscalar", {}),
    "threebody-fermion-majorana": ("threebody-fermion", {"d_L": 0.5, "d_R": -0.5}),
    "threebody-spin32-majorana": ("threebody-spin32", {"d_L": 0.5, "d_R": -0.5}),
}


def test_every_self_conjugate_scenario_is_compared():
    assert {n for n in NAMES if n.endswith(("-majorana", "-real"))} == set(SELF_CONJUGATE)


@pytest.mark.parametrize("proc", KSTAR)
@pytest.mark.parametrize("name", NAMES)
def test_kstar_prediction_exists_and_is_physical(name, proc):
    try:
        r = predict(name, proc, n_samples=4, seed=1)
    except EmissError as exc:  # a refusal must say why, in one line
        msg = str(exc)
        assert msg and "\n" not in msg and "valid" in msg, msg
        pytest.fail(f"{name} refuses {proc}: {msg}")
    assert np.isfinite(r["branching_ratio"]) and r["branching_ratio"] > 0
    assert 0.0 <= r["FL"] <= 1.0 + 1e-12 and r["FL_uncertainty"] >= 0.0
    spec = get_scenario(name).spectrum(proc)
    for line, line_long in zip(r["lines"], spec.lines_long, strict=True):
        assert 0.0 <= line_long <= line["branching_ratio"] * (1 + 1e-12)
    if spec.continuum is None:
        return
    q2 = np.linspace(spec.q2_min, spec.q2_max, 301)[1:-1]
    tot, lon = spec.dBdq2(q2), spec.dBLdq2(q2)
    assert np.all(tot >= 0) and np.all(lon >= -1e-30) and np.all(lon <= tot * (1 + 1e-12))
    # the rate vanishes at q2_max: lambda^(1/2) (or a higher power) of the K* recoil
    end = float(spec.dBdq2(np.array([spec.q2_max * (1 - 1e-8)]))[0])
    assert end <= 1e-3 * float(tot.max())
    assert float(spec.dBdq2(np.array([spec.q2_max]))[0]) == 0.0


@pytest.mark.parametrize("name", [n for n in NAMES if get_scenario(n).multiplicity == 2])
def test_two_body_line_vanishes_at_the_endpoint(name):
    """B -> K* X at m_X -> m_B - m_K*: the line's rate goes to zero with the recoil momentum."""
    p = get_process("B0->K*0")
    at_default = predict(name, p.name, n_samples=2)["branching_ratio"]
    near_end = predict(name, p.name, mass=(p.m_B - p.m_M) * (1 - 1e-8),
                       n_samples=2)["branching_ratio"]
    assert near_end <= 1e-3 * at_default


@pytest.mark.parametrize("name", sorted(LONGITUDINAL_ONLY))
def test_longitudinal_only_scenarios_have_fl_one(name):
    for proc in KSTAR:
        assert predict(name, proc, n_samples=2)["FL"] == pytest.approx(1.0, abs=1e-12)


def test_vector_currents_reach_transverse_kstar():
    """The converse: a vector quark current with a spin >= 1/2 invisible state gives F_L < 1."""
    for name in ("sm", "threebody-fermion", "threebody-spin32", "threebody-fermion-tensor",
                 "twobody-vector"):
        assert predict(name, "B0->K*0", n_samples=2)["FL"] < 0.9


@pytest.mark.parametrize("proc", KSTAR)
@pytest.mark.parametrize("name", sorted(SELF_CONJUGATE))
def test_self_conjugate_pair_is_half_of_dirac_for_kstar(name, proc):
    partner, params = SELF_CONJUGATE[name]
    sc = get_scenario(name).spectrum(proc)
    dirac = get_scenario(partner).spectrum(proc, params=params or None)
    q2 = np.linspace(sc.q2_min, sc.q2_max, 41)[1:-1]
    np.testing.assert_allclose(sc.dBdq2(q2), 0.5 * dirac.dBdq2(q2), rtol=1e-10, atol=0)
    np.testing.assert_allclose(sc.dBLdq2(q2), 0.5 * dirac.dBLdq2(q2), rtol=1e-10, atol=1e-300)
    r_sc = predict(name, proc, n_samples=2)
    r_d = predict(partner, proc, params=params or None, n_samples=2)
    assert r_sc["branching_ratio"] == pytest.approx(0.5 * r_d["branching_ratio"], rel=1e-10)
    assert r_sc["FL"] == pytest.approx(r_d["FL"], rel=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_binned_fl_of_every_scenario(name):
    """The binned <F_L> = int dGamma_L / int dGamma per q2 bin (what scan rows and patches
    report) lies in [0, 1], and its integrated value is the prediction's F_L."""
    spec = get_scenario(name).spectrum("B0->K*0")
    row = fl_row(spec)
    vals = [v for v in row["FL_binned"] if v is not None]
    assert vals and all(0.0 <= v <= 1.0 + 1e-12 for v in vals)
    assert row["FL"] == pytest.approx(predict(name, "B0->K*0", n_samples=2)["FL"], rel=1e-6)


@pytest.fixture(scope="module")
def kstar_target():
    from emiss.patches.build import TemplateBuilder, load_target

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the K* workspace is an emulation (it says so)
        target = load_target("belle2_kstar_bkgonly")
    return target, TemplateBuilder(target, n_samples=20, seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_makes_a_kstar_patch(kstar_target, name):
    from emiss.patches.build import scenario_patchset

    target, builder = kstar_target
    sc = get_scenario(name)
    ps = scenario_patchset(target, name, masses=[sc.default_mass] if sc.needs_mass else None,
                           builder=builder)
    (patch,) = ps["patches"]
    assert patch["metadata"]["emiss"]["scenario"] == name
    signal = [op["value"] for op in patch["patch"] if op.get("op") == "add"
              and isinstance(op.get("value"), dict) and op["value"].get("name") == "signal"]
    assert signal and sum(sum(s["data"]) for s in signal) > 0


@pytest.mark.parametrize("name", [n for n in NAMES if "spin32" in n or "tensor" in n
                                  or "vector-t" in n or n.endswith(("-majorana", "-real"))])
def test_rate_and_spectrum_commands_give_kstar_fl(capsys, name):
    code, out, err = run(capsys, "rate", name, "--process", "B+->K*+", "--samples", "3",
                         "--json")
    assert code == 0, err
    assert 0.0 < json.loads(out)["FL"] <= 1.0
    code, out, err = run(capsys, "spectrum", name, "--process", "B+->K*+", "--q2", "2,8,14",
                         "--json")
    assert code == 0, err
    fl = json.loads(out)["FL"]
    assert len(fl) == 3 and all(v is not None and 0.0 <= v <= 1.0 for v in fl)
