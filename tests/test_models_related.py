"""Related modes: their form factors at q^2 = 0 and cross-checks against independent sets and
exact relations; CKM unitarity; dark-photon decays; the generic scenarios on the new processes."""

import math

import numpy as np
import pytest
from particle import Particle

from emiss.errors import EmissError
from emiss.physics import darkphoton as DP
from emiss.physics import formfactors as F
from emiss.physics.ckm import ckm_matrix
from emiss.physics.predict import predict
from emiss.physics.processes import RELATED_PROCESSES, get_process
from emiss.physics.scenarios import get_scenario


def _mass(pdgid):
    return Particle.from_pdgid(pdgid).mass / 1000.0


@pytest.mark.parametrize("kind,mB,mV", [("B->rho", 511, 113), ("Bs->phi", 531, 333)])
def test_bsz_exact_relations_at_q2_zero(kind, mB, mV):
    """A12(0) = (m_B^2 - m_V^2)/(8 m_B m_V) A0(0) and T1(0) = T2(0) (arXiv:1503.05534 eq. (16)):
    the code imposes them; the published fit (the file's own a0 of A12) must agree."""
    ff = F.central(kind)
    raw = F._raw(kind)
    a12_fit = raw["means"][raw["names"].index("A12_a0")]
    mB, mV = _mass(mB), _mass(mV)
    assert float(ff.A12(0.0)) == pytest.approx((mB**2 - mV**2) / (8 * mB * mV) * float(ff.A0(0.0)))
    assert float(ff.A12(0.0)) == pytest.approx(a12_fit, rel=2e-3)
    assert float(ff.T1(0.0)) == float(ff.T2(0.0))


def test_form_factor_values_at_zero_are_the_published_fits():
    """BSZ 1503.05534: F(0) = a0 of the fits; B -> rho V(0) = 0.327(31), A1(0) = 0.262(26),
    A0(0) = 0.356(42); B_s -> phi V(0) = 0.364(14), A1(0) = 0.288(11), A0(0) = 0.421(24)
    (combined LCSR + lattice); K -> pi f+(0) = 0.9698(17) (FLAG 2021)."""
    rho, phi = F.central("B->rho"), F.central("Bs->phi")
    assert [float(rho.V(0.0)), float(rho.A1(0.0)), float(rho.A0(0.0))] == pytest.approx(
        [0.327, 0.262, 0.356], abs=1e-3)
    assert [float(phi.V(0.0)), float(phi.A1(0.0)), float(phi.A0(0.0))] == pytest.approx(
        [0.364, 0.288, 0.421], abs=1e-3)
    kpi = F.central("K->pi")
    assert float(kpi.fplus(0.0)) == pytest.approx(0.9698) and float(kpi.f0(0.0)) == 0.9698
    # FLAG's f+ slope: d ln f+/dq^2 at 0 = Lambda_+/m_pi^2 (dispersive form)
    h = 1e-6
    slope = (math.log(float(kpi.fplus(h))) - math.log(0.9698)) / h
    assert slope == pytest.approx(24.22e-3 / _mass(211) ** 2, rel=1e-3)


def test_b_to_pi_sets_agree():
    """Lattice-only FLAG (BCL) and LCSR + lattice GKvD (BSZ) agree where lattice data exist
    (q^2 = 20 GeV^2) and within the FLAG extrapolation error at low q^2; GKvD's f+(0) agrees
    with the LCSR-only value f+(0) = 0.21 +- 0.07 of arXiv:1811.00983."""
    flag, gkvd = F.central("B->pi@FLAG2019"), F.central("B->pi@GKvD2018")
    sf = np.std([float(x.fplus(20.0)) for x in F.sample("B->pi@FLAG2019", 300, 1)])
    sg = np.std([float(x.fplus(20.0)) for x in F.sample("B->pi@GKvD2018", 300, 1)])
    assert abs(float(flag.fplus(20.0)) - float(gkvd.fplus(20.0))) < math.hypot(sf, sg)
    s0 = np.std([float(x.fplus(4.41)) for x in F.sample("B->pi@FLAG2019", 300, 1)])
    assert abs(float(flag.fplus(4.41)) - float(gkvd.fplus(4.41))) < 1.5 * s0
    assert abs(float(gkvd.fplus(0.0)) - 0.21) < 0.07
    for ff in (flag, gkvd):
        assert float(ff.fplus(0.0)) == pytest.approx(float(ff.f0(0.0)), rel=1e-12)


def test_ckm_is_unitary_and_reproduces_inputs():
    V = ckm_matrix()
    assert V @ V.conj().T == pytest.approx(np.eye(3), abs=1e-14)
    assert abs(V[0, 1]) == pytest.approx(0.2248) and abs(V[0, 2]) == pytest.approx(3.64e-3)
    assert abs(V[1, 2]) == pytest.approx(41.97e-3)
    gamma = np.angle(-V[0, 0] * np.conj(V[0, 2]) / (V[1, 0] * np.conj(V[1, 2])))
    assert gamma == pytest.approx(1.15, abs=1e-10)


def test_dark_photon_widths():
    # leptonic widths become equal far above threshold and vanish below
    w = DP.widths(10.0, 1e-3)
    assert w["e+e-"] / w["mu+mu-"] == pytest.approx(1.0, rel=1e-3)
    assert DP.widths(0.2, 1e-3)["mu+mu-"] == 0.0
    # Gamma(mu mu) = eps^2 alpha M/3 for M >> m_mu
    assert w["e+e-"] == pytest.approx(1e-6 * 10.0 / (3 * 137.035999084), rel=1e-6)
    assert sum(DP.branching_fractions(w).values()) == pytest.approx(1.0)
    # alpha_s at M_Z is the input, and near m_tau it is ~0.31 (PDG QCD review, tau decays)
    assert DP.alpha_s(_mass(23)) == pytest.approx(0.1180, abs=1e-6)
    assert 0.29 < DP.alpha_s(1.777) < 0.34
    # R -> 3 sum Q^2 (1 + alpha_s/pi + ...): uds at 2.1 GeV, udsc above the D Dbar threshold
    a = DP.alpha_s(2.1) / math.pi
    assert DP.r_ratio(2.1) == pytest.approx(2.0 * (1 + a), rel=0.02)
    assert DP.r_ratio(5.0) / DP.r_ratio(3.0) == pytest.approx(10 / 6, rel=0.03)
    assert not DP.r_ratio_valid(1.0) and DP.r_ratio_valid(2.1)


def test_generic_scenarios_on_related_processes():
    for proc in RELATED_PROCESSES:
        m = 0.2 if proc.startswith("K") else 2.1
        r = predict("twobody-vector", proc, mass=m, params={"g": 1e-9}, n_samples=4)
        assert r["branching_ratio"] > 0
        assert (r["FL"] is not None) == get_process(proc).is_vector
    with pytest.raises(EmissError, match="kinematic endpoint"):
        get_scenario("twobody-vector").spectrum("K+->pi+", mass=2.1)
    with pytest.raises(EmissError, match="does not predict 'B\\+->pi\\+'"):
        get_scenario("twobody-scalar-s").spectrum("B+->pi+", mass=2.1)  # density: b -> s only
    from emiss.physics import currents

    with pytest.raises(EmissError, match="b -> s only"):
        currents.scalar_current(get_process("B+->pi+"), F.central("B->pi"), [4.0], 1.0, 0.0)
