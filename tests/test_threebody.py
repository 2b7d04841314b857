"""Three-body B -> K(*) X X̄: closed forms against a numerical Dalitz-plot integration of the
explicit |M|^2 (covariant matrix elements, numerical Dirac traces, explicit polarisation vectors),
thresholds and endpoints, and the massless fermion limit against the SM B -> K(*) nu nubar shape."""

import numpy as np
import pytest
from _amplitudes import (
    GAMMA,
    GAMMA5,
    ONE,
    PL,
    PR,
    V_HIGGS,
    dot,
    fermion_scalar_trace,
    fermion_tensor,
    hadronic,
    lower,
    massive_polarisations,
    pair_frame_momenta,
)
from particle import Particle

from emiss.errors import EmissError
from emiss.physics import formfactors as F
from emiss.physics import threebody
from emiss.physics.processes import get_process

MB_Q = Particle.from_pdgid(5).mass / 1000.0
MS_Q = Particle.from_pdgid(3).mass / 1000.0
GL_X, GL_W = np.polynomial.legendre.leggauss(12)


def _dalitz_range(mB, mM, m, q2):
    """(m12^2)_max - (m12^2)_min at fixed m23^2 = q2 (PDG kinematics review, eq. (49.23)),
    particle 1 = meson, 2 and 3 = the invisible pair."""
    m23 = np.sqrt(q2)
    E2 = q2 / (2 * m23)  # (m23^2 - m3^2 + m2^2)/(2 m23) with m2 = m3
    E1 = (mB**2 - q2 - mM**2) / (2 * m23)
    p1 = np.sqrt(E1**2 - mM**2)
    p2 = np.sqrt(E2**2 - m**2)
    hi = (E1 + E2) ** 2 - (p1 - p2) ** 2
    lo = (E1 + E2) ** 2 - (p1 + p2) ** 2
    return lo, hi


def _msq(kind, process, ff, pB, pM, p1, p2, m, cL, cR, dL, dR):
    """Spin-summed |M|^2 (total, K*-longitudinal) with operator coefficient K = 1."""
    gE, gO = (cL + cR) / 2, (cR - cL) / 2
    tot = np.zeros(len(pB))
    lng = np.zeros(len(pB))
    pk = threebody.PAIR_KINDS[kind]
    for hel, Vmu, Amu, S, P in hadronic(process, ff, pB, pM, MB_Q, MS_Q):
        if pk.quark == "vector":
            J = gE * Vmu + gO * Amu
            if kind == "scalar-vector":
                val = np.abs(dot(J, (p1 - p2).astype(complex))) ** 2
            elif kind == "vector-vector":
                e1s, e2s = massive_polarisations(p1, m), massive_polarisations(p2, m)
                amp = dot(J, (p1 - p2).astype(complex))
                val = sum(np.abs(amp * dot(a, b)) ** 2 for a in e1s for b in e2s)
            else:  # fermion-vector
                Gam = [g @ (dL * PL + dR * PR) for g in GAMMA]
                L = fermion_tensor(p1, p2, m, Gam)
                Jl = lower(J)
                val = np.einsum("nm,nv,nmv->n", Jl, Jl.conj(), L).real
        else:
            D = gE * S + gO * P
            if kind == "scalar-scalar":
                inv = 1.0
            elif kind == "fermion-scalar":
                inv = fermion_scalar_trace(p1, p2, m, ONE)
            elif kind == "fermion-pseudoscalar":
                inv = fermion_scalar_trace(p1, p2, m, 1j * GAMMA5)
            else:  # vector-scalar
                e1s, e2s = massive_polarisations(p1, m), massive_polarisations(p2, m)
                inv = sum(dot(a, b) ** 2 for a in e1s for b in e2s)
            val = np.abs(D) ** 2 * inv
        tot += val
        if hel == 0:
            lng += val
    return tot, lng


def _numeric_dgamma(kind, process, ff, q2, m, cL, cR, dL=1.0, dR=0.0):
    """dGamma/dq^2 = int dm12^2 |M|^2 / (256 pi^3 m_B^3) (PDG eq. (49.22)), K = 1."""
    mB, mM = process.m_B, process.m_M
    lo, hi = _dalitz_range(mB, mM, m, q2)
    cth = GL_X
    pB, pM, p1, p2, _ = pair_frame_momenta(np.full(len(cth), q2), cth, mB, mM, m)
    m12 = dot(pM + p1, pM + p1)
    # m12^2 is linear in cos(theta): its extremes must be the Dalitz boundaries
    ends = pair_frame_momenta(np.full(2, q2), np.array([-1.0, 1.0]), mB, mM, m)
    e12 = dot(ends[1] + ends[2], ends[1] + ends[2])
    np.testing.assert_allclose(sorted(e12), [lo, hi], rtol=1e-10)
    assert np.all((m12 >= lo - 1e-9) & (m12 <= hi + 1e-9))
    tot, lng = _msq(kind, process, ff, pB, pM, p1, p2, m, cL, cR, dL, dR)
    jac = (hi - lo) / 2.0
    norm = 256 * np.pi**3 * mB**3
    return jac * np.sum(GL_W * tot) / norm, jac * np.sum(GL_W * lng) / norm


CASES = [
    ("scalar-vector", 0.4, 1.0, 0.0, 1.0, 1.0),
    ("scalar-scalar", 0.4, 1.0, 0.3, 1.0, 1.0),
    ("fermion-vector", 0.4, 1.0, 0.0, 1.0, 1.0),  # vector invisible current
    ("fermion-vector", 0.4, 0.2, 1.0, 1.0, -1.0),  # axial invisible current, mixed quark current
    ("fermion-vector", 0.7, 1.0, 0.5, 1.0, 0.0),  # left-handed invisible current (V - A)
    ("fermion-scalar", 0.4, 1.0, 0.0, 1.0, 1.0),
    ("fermion-pseudoscalar", 0.4, 0.0, 1.0, 1.0, 1.0),
    ("vector-vector", 0.6, 1.0, 0.2, 1.0, 1.0),
    ("vector-scalar", 0.6, 1.0, 0.4, 1.0, 1.0),
]


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,m,cL,cR,dL,dR", CASES)
def test_closed_form_matches_dalitz_integration(proc, kind, m, cL, cR, dL, dR):
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    g = np.sqrt(2.0) / V_HIGGS if threebody.PAIR_KINDS[kind].with_vev else 1.0  # K = 1
    q2s = np.array([4 * m * m + 0.3, 0.5 * (4 * m * m + p.q2_max), p.q2_max - 0.4])
    tot_cf, long_cf = threebody.dgamma_dq2(p, ff, q2s, kind, m, g, 1.0, cL, cR, dL, dR)
    for i, q2 in enumerate(q2s):
        tot_num, long_num = _numeric_dgamma(kind, p, ff, q2, m, cL, cR, dL, dR)
        assert tot_num > 0
        assert tot_cf[i] == pytest.approx(tot_num, rel=1e-6), (kind, q2)
        assert long_cf[i] == pytest.approx(long_num, rel=1e-6, abs=1e-12 * tot_num), (kind, q2)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind", list(threebody.PAIR_KINDS))
def test_support_threshold_and_endpoint(kind, proc):
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    m = 0.5
    s = threebody.pair_spectrum(p, ff, kind, m, 1.0, 1e3)
    assert s.q2_min == pytest.approx(4 * m * m)
    assert s.q2_max == pytest.approx((p.m_B - p.m_M) ** 2)
    vals = s.dBdq2(np.array([0.5, 4 * m * m - 1e-6, 4 * m * m, p.q2_max, p.q2_max + 1]))
    assert vals[0] == 0 and vals[1] == 0 and vals[4] == 0
    peak = s.dBdq2(np.linspace(s.q2_min, s.q2_max, 41)).max()
    assert peak > 0
    assert vals[2] <= 1e-6 * peak  # beta = 0 at threshold
    assert vals[3] <= 1e-6 * peak  # lambda = 0 at the endpoint (up to round-off in lambda)
    # integral of dB/dq2 over bins = total rate (bins cover the support)
    edges = np.linspace(0, p.q2_max, 9)
    assert s.bin_integrals(edges, n_sub=8).sum() == pytest.approx(s.branching_ratio(), rel=1e-4)


@pytest.mark.parametrize("kind,power", [("scalar-vector", 3), ("scalar-scalar", 1),
                                        ("fermion-scalar", 3), ("fermion-pseudoscalar", 1)])
def test_threshold_power_of_beta(kind, power):
    """Near threshold dGamma/dq2 ~ beta^power (P wave 3, S wave 1)."""
    p = get_process("B+->K+")
    ff = F.central(p.ff_kind)
    m = 0.5
    q2 = 4 * m * m / (1 - np.array([1e-4, 4e-4]))  # beta^2 = 1e-4, 4e-4  => beta ratio 2
    tot, _ = threebody.dgamma_dq2(p, ff, q2, kind, m, 1.0, 1.0)
    assert tot[1] / tot[0] == pytest.approx(2.0**power, rel=2e-3)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
def test_massless_left_handed_fermions_have_sm_shape(proc):
    """m = 0, (s̄ gamma P_L b)(psī gamma P_L psi): the SM nu nubar shape (and F_L) of H1's sm."""
    from emiss.physics.sm import sm_spectrum

    p = get_process(proc)
    ff = F.central(p.ff_kind)
    s = threebody.pair_spectrum(p, ff, "fermion-vector", 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0)
    sm = sm_spectrum(proc, ff)
    q2 = np.linspace(0.05, p.q2_max - 0.05, 7)
    ratio = s.dBdq2(q2) / sm.dBdq2(q2)
    np.testing.assert_allclose(ratio / ratio[0], 1.0, rtol=1e-9)
    if p.is_vector:
        np.testing.assert_allclose(s.dBLdq2(q2) / s.dBdq2(q2), sm.dBLdq2(q2) / sm.dBdq2(q2),
                                   rtol=1e-9)


def test_massless_normalisation_is_sm_per_flavour():
    """K = (4 G_F/sqrt2) V_tb V_ts* (alpha/4pi) C_L, psī gamma (1-gamma5) psi = 2 psī gamma P_L psi:
    one Dirac fermion pair gives 1/3 of the three-flavour SM rate (1409.4557 eq. (2))."""
    from emiss.physics import constants as C
    from emiss.physics.sm import sm_spectrum

    p = get_process("B+->K+")
    ff = F.central(p.ff_kind)
    K = 4 * C.G_F / np.sqrt(2) * C.VTB_VTS * C.ALPHA_EM / (4 * np.pi) * abs(C.C_L_SM) * 2.0
    s = threebody.pair_spectrum(p, ff, "fermion-vector", 0.0, K, 1.0, 1.0, 0.0, 1.0, 0.0)
    q2 = np.array([1.0, 8.0, 15.0])
    np.testing.assert_allclose(s.dBdq2(q2), sm_spectrum("B+->K+", ff).dBdq2(q2) / 3.0, rtol=1e-9)


@pytest.mark.parametrize("mass", [-0.1, float("nan"), 2.5, 3.0])
def test_bad_pair_masses(mass):
    p = get_process("B+->K+")
    with pytest.raises(EmissError, match="mass"):
        threebody.pair_spectrum(p, F.central(p.ff_kind), "scalar-vector", mass, 1.0, 1.0)


def test_massless_vector_pair_rejected():
    p = get_process("B+->K+")
    with pytest.raises(EmissError, match="mass"):
        threebody.pair_spectrum(p, F.central(p.ff_kind), "vector-vector", 0.0, 1.0, 1.0)
