"""Two-body X of finite width (Breit-Wigner in q^2) and of finite lifetime (B * P_inv)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import trapezoid

import emiss.patches as P
from emiss.bundles import load_bundle
from emiss.errors import EmissError
from emiss.models.escape import escape_probability
from emiss.physics.processes import get_process
from emiss.physics.scenarios import get_scenario


@pytest.fixture(scope="module")
def target():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return P.load_target(load_bundle("belle2"))


def _signal(ps: dict, k: int = 0) -> np.ndarray:
    return np.concatenate([op["value"]["data"] for op in ps["patches"][k]["patch"]
                           if op["value"].get("name") == "signal"])


@pytest.mark.parametrize("scen,proc", [("twobody-scalar", "B+->K+"),
                                       ("twobody-vector", "B0->K*0")])
def test_width_conserves_the_rate_and_its_polarisation(scen, proc):
    s = get_scenario(scen)
    line = s.spectrum(proc, mass=2.1)
    (q0, br), = line.lines
    for width in (1e-3, 0.05, 0.3):
        bw = s.spectrum(proc, mass=2.1, params={"width": width})
        # two quadratures of a peaked integrand (the normalisation and branching_ratio's)
        assert not bw.lines and bw.branching_ratio() == pytest.approx(br, rel=1e-5)
        if line.lines_long and width < 0.1:  # F_L follows the rate at each q^2: a narrow
            # peak keeps the line's (a broad one mixes in F_L of other masses)
            q2 = np.linspace(bw.q2_min, bw.q2_max, 4001)
            fl = trapezoid(bw.continuum_long(q2), q2) / trapezoid(bw.continuum(q2), q2)
            assert fl == pytest.approx(line.lines_long[0] / br, abs=2e-3)


def test_breit_wigner_has_its_full_width_2_m_gamma():
    """A relativistic Breit-Wigner in q^2 has FWHM 2 m Gamma (PDG "Resonances"), up to the
    slow variation of the narrow rate across the peak."""
    m, width = 2.1, 0.02
    bw = get_scenario("twobody-scalar").spectrum("B+->K+", mass=m, params={"width": width})
    q2 = np.linspace((m - 5 * width) ** 2, (m + 5 * width) ** 2, 200001)
    f = bw.continuum(q2)
    above = q2[f >= 0.5 * f.max()]
    assert above[-1] - above[0] == pytest.approx(2 * m * width, rel=0.01)
    assert q2[np.argmax(f)] == pytest.approx(m * m, abs=2e-3)


def test_narrow_width_limit_gives_the_line_patch(target):
    """Gamma -> 0 on Belle II's likelihood. A line folds through the response column
    interpolated between generated-q^2 bin centres (docs/belle2.md), a continuum through the
    columns of the bins it fills: at a bin centre both are that bin's column, so there the
    narrow Breit-Wigner must give the line's yields (bin width 22.885/100 GeV^2, HEPData
    ins2947386)."""
    m = math.sqrt(19.5 * 22.885 / 100)  # the centre of generated bin [4.3482, 4.5770] GeV^2
    line = P.build_patchset(target, P.make_entry("twobody-scalar", masses=[m]), n_samples=0)
    narrow = P.build_patchset(target, P.make_entry("twobody-scalar", masses=[m],
                                                   params={"width": "0.001"}), n_samples=0)
    a, b = _signal(line), _signal(narrow)
    assert b == pytest.approx(a, rel=1e-4, abs=1e-6 * np.max(a))
    with pytest.raises(EmissError, match="width -0.1 GeV"):
        get_scenario("twobody-scalar").spectrum("B+->K+", mass=2.1, params={"width": -0.1})


def test_ctau_scales_the_signal_by_the_escape_probability(target):
    kw = {"n_samples": 0}
    inv = P.generate(target, [P.make_entry("twobody-vector", masses=[1.0, 2.1])], **kw)
    part = P.generate(target, [P.make_entry("twobody-vector", masses=[1.0, 2.1])], ctau_m=2.0,
                      **kw)
    stable = P.generate(target, [P.make_entry("twobody-vector", masses=[1.0, 2.1])],
                        ctau_m=math.inf, **kw)
    proc = get_process("B+->K+")
    for k, m in enumerate((1.0, 2.1)):
        (ps_inv,), (ps_part,), (ps_stable,) = inv.values(), part.values(), stable.values()
        p_inv = ps_part["patches"][k]["metadata"]["emiss"]["P_inv"]["B+->K+"]
        # independent: exp(-L m / (p c tau)) for an X at rest in the B frame would be the
        # largest escape probability; the boosted average is below it and above 0
        p_star = math.sqrt(proc.lam(m * m)) / (2 * proc.m_B)
        assert 0 < p_inv < 1 and p_inv == pytest.approx(
            escape_probability(proc.m_B, proc.m_M, m, 2.0), rel=1e-7)
        assert p_inv > math.exp(-3.0 * m / (0.5 * p_star * 2.0))
        assert _signal(ps_part, k) == pytest.approx(p_inv * _signal(ps_inv, k), rel=1e-7)
        assert _signal(ps_stable, k) == pytest.approx(_signal(ps_inv, k), rel=1e-12)
    with pytest.raises(EmissError, match="--ctau -1"):
        P.generate(target, [P.make_entry("twobody-vector", masses=[1.0])], ctau_m=-1, **kw)
