"""Spectrum container: integrals against analytic results, exact lines never lost by a binning."""

import numpy as np
import pytest

from emiss.physics.spectrum import Spectrum


def _quadratic() -> Spectrum:
    # dB/dq2 = 3 q2^2 on [0, 2]: integral over [a, b] is b^3 - a^3, total 8
    return Spectrum(process="B+->K+", q2_min=0.0, q2_max=2.0, continuum=lambda q2: 3.0 * q2**2)


def test_bin_integrals_match_analytic():
    s = _quadratic()
    edges = np.array([-1.0, 0.0, 0.5, 1.3, 2.0, 3.0])
    expected = np.array([0.0, 0.5**3, 1.3**3 - 0.5**3, 8.0 - 1.3**3, 0.0])
    np.testing.assert_allclose(s.bin_integrals(edges), expected, rtol=1e-12, atol=1e-15)
    assert s.branching_ratio() == pytest.approx(8.0, rel=1e-10)


def test_support_is_respected():
    s = Spectrum(process="B+->K+", q2_min=1.0, q2_max=2.0, continuum=lambda q2: np.ones_like(q2))
    assert s.dBdq2(np.array([0.5, 1.5, 2.5])).tolist() == [0.0, 1.0, 0.0]
    np.testing.assert_allclose(s.bin_integrals(np.array([0.0, 1.25, 3.0])), [0.25, 0.75])


@pytest.mark.parametrize("q2,expected_bin", [(0.0, 0), (0.99, 0), (1.0, 1), (4.4, 2), (5.0, 2)])
def test_lines_land_in_one_bin_exactly(q2, expected_bin):
    s = Spectrum(process="B+->K+", q2_min=0.0, q2_max=5.0, lines=((q2, 2e-6),))
    out = s.bin_integrals(np.array([0.0, 1.0, 2.0, 5.0]))
    assert out[expected_bin] == 2e-6
    assert out.sum() == 2e-6  # a line is never split or lost
    assert s.branching_ratio() == 2e-6


def test_line_outside_binning_is_not_counted():
    s = Spectrum(process="B+->K+", q2_min=0.0, q2_max=5.0, lines=((4.41, 1e-5),))
    assert s.bin_integrals(np.array([0.0, 1.0, 2.0])).sum() == 0.0


def test_fl_and_scaling():
    s = Spectrum(
        process="B0->K*0",
        q2_min=0.0,
        q2_max=1.0,
        continuum=lambda q2: 2.0 * np.ones_like(q2),
        continuum_long=lambda q2: 0.5 * np.ones_like(q2),
        lines=((0.5, 1.0),),
        lines_long=(0.25,),
    )
    # total = 2 + 1, longitudinal = 0.5 + 0.25
    assert s.fl() == pytest.approx(0.75 / 3.0)
    t = s.scaled(3.0)
    assert t.branching_ratio() == pytest.approx(9.0)
    assert t.fl() == pytest.approx(s.fl())
    assert _quadratic().fl() is None
