"""WET b -> s nu nubar (EOS sbnunu basis): independent checks of emiss.physics.wet."""

from __future__ import annotations

import numpy as np
import pytest

from emiss.errors import EmissError
from emiss.physics import wet
from emiss.physics.sm import heavy_np_spectrum, sm_spectrum

Q2 = np.linspace(0.05, 18.0, 40)


@pytest.mark.parametrize("process", ["B+->K+", "B0->K*0"])
def test_vector_terms_are_the_heavy_np_rates(process):
    """C_VL, C_VR = C_L, C_R of arXiv:1409.4557 up to alpha(M_Z)/alpha_e(m_b) (same operator)."""
    scale = wet.ALPHA_E_SBNUNU / 1.0 * 127.952  # alpha_e(m_b) / alpha(M_Z), typed by hand
    cl, cr = 7.3, 2.1
    w = wet.wet_spectrum(process, {"C_VL": cl / scale, "C_VR": cr / scale})
    h = heavy_np_spectrum(process, cl, cr)
    np.testing.assert_allclose(w.dBdq2(Q2), h.dBdq2(Q2), rtol=1e-12)
    if process == "B0->K*0":
        np.testing.assert_allclose(w.dBLdq2(Q2), h.dBLdq2(Q2), rtol=1e-12)


def test_sm_point_and_eos_value():
    # EOS's own SM value of Re{cVL} is 6.61 (eos/parameters/sm-and-eft.yaml); ours reproduces
    # emiss's SM rate with the inputs of the Belle II code (X_t = 1.468, s_W^2 = 0.23124)
    assert wet.C_VL_SM == pytest.approx(6.61, rel=0.01)
    w = wet.wet_spectrum("B+->K+", {"C_VL": wet.C_VL_SM})
    assert w.branching_ratio() == pytest.approx(sm_spectrum("B+->K+").branching_ratio(),
                                                rel=1e-12)


def test_endpoints_and_low_q2_powers():
    """Every term vanishes at the endpoint (λ^½ phase space); B -> K scalar and tensor terms
    vanish as q² at q² -> 0 (helicity suppression of the ν ν pair), the vector term (and the
    K* longitudinal A_12 term) stays finite."""
    for process in ("B+->K+", "B0->K*0"):
        terms = wet.unit_terms(process, np.array([1e-6, 2e-6]), None)
        qmax = sm_spectrum(process).q2_max
        at_end = wet.unit_terms(process, np.array([qmax]), None)
        scale = wet.unit_terms(process, Q2, None)
        for name, (tot, _) in terms.items():
            assert at_end[name][0][0] < 1e-5 * scale[name][0].max()  # λ^½ -> 0
            if name in ("S", "T") and process == "B+->K+":
                assert tot[1] / tot[0] == pytest.approx(2.0, rel=1e-3)
        finite = "V" if process == "B+->K+" else "A"  # K*: the longitudinal A_12 piece
        assert terms[finite][0][1] / terms[finite][0][0] == pytest.approx(1.0, rel=1e-3)


def test_kstar_longitudinal_parts():
    terms = wet.unit_terms("B0->K*0", Q2, None)
    tot_s, long_s = terms["S"]
    np.testing.assert_allclose(long_s, tot_s)  # the timelike (A_0) amplitude: K* helicity 0
    assert np.all(terms["V"][1] == 0)  # the V form factor feeds helicities +-1 only
    assert np.all((terms["T"][1] > 0) & (terms["T"][1] < terms["T"][0]))


def test_bad_input():
    with pytest.raises(EmissError, match="C_XX"):
        wet.wet_spectrum("B+->K+", {"C_XX": 1.0})
    with pytest.raises(EmissError, match="finite"):
        wet.wet_spectrum("B+->K+", {"C_VL": float("nan")})
    with pytest.raises(EmissError, match="zero"):
        wet.wet_spectrum("B+->K+", {"C_VR": 0.0})
