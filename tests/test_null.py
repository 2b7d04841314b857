"""Belle II's null spectrum (arXiv:2507.12393 reweighting) against independent facts."""

from __future__ import annotations

import numpy as np
import pytest

from emiss.physics.null import fplus, null_spectrum
from emiss.physics.sm import sm_spectrum


def test_normalisation_is_belle2s_mu_one():
    # Belle II: mu = 1 <-> B(B+ -> K+ nu nu)_SM short distance = 4.97e-6 (arXiv:2311.14647)
    assert null_spectrum().branching_ratio() == pytest.approx(4.97e-6, rel=1e-3)


def test_fplus_at_zero_and_pole():
    # HPQCD arXiv:2207.12468: f_+(0) = f_0(0) = 0.332 +- 0.012
    assert float(fplus(0.0)) == pytest.approx(0.332, abs=0.003)
    # the B_s* pole: f_+ grows towards zero recoil (q2_max = 22.9) by a factor ~ 7 (2207.12468
    # fig. 4: f_+(q2_max) ~ 2.3)
    assert 2.0 < float(fplus(22.88)) < 2.6


def test_agrees_with_emiss_sm_from_the_full_hpqcd_fit():
    """Two parameterisations of the same lattice result: within 1 % in shape and rate."""
    q2 = np.linspace(0.1, 22.0, 50)
    ratio = null_spectrum().dBdq2(q2) / sm_spectrum("B+->K+").dBdq2(q2)
    assert np.max(np.abs(ratio - 1.0)) < 0.01
    assert np.all(null_spectrum().dBdq2(np.array([-0.5, 23.0])) == 0.0)
