"""Spin-3/2 (Rarita-Schwinger) pairs, B -> K(*) Psi Psī: the vector-spinors built by
Clebsch-Gordan coupling against the field equations and the closed-form spin sum, the closed-form
rates against a numerical integration over the pair's angle of |M|^2 summed over the 16 explicit
spin states, the non-relativistic threshold (angular-momentum algebra), the small-mass limit
(helicity-1/2 components = goldstino), Majorana = Dirac/2 with explicit antisymmetrised
amplitudes, and the identically vanishing Majorana vector current."""

import numpy as np
import pytest
from _amplitudes import (
    GAMMA,
    GAMMA5,
    ONE,
    PL,
    PR,
    G,
    charge_conjugate,
    dot,
    gamma_lower,
    hadronic,
    lower,
    numeric_dgamma,
    pair_amplitudes_rs,
    rs_spin_sum,
    rs_spinors,
    slash,
)
from particle import Particle

from emiss.errors import EmissError
from emiss.physics import formfactors as F
from emiss.physics import threebody
from emiss.physics.processes import get_process

MB_Q = Particle.from_pdgid(5).mass / 1000.0
MS_Q = Particle.from_pdgid(3).mass / 1000.0


def _momenta(m, n=5, seed=1):
    rng = np.random.default_rng(seed)
    pv = rng.normal(size=(n, 3))
    return np.concatenate([np.sqrt(m * m + (pv**2).sum(1))[:, None], pv], axis=1)


@pytest.mark.parametrize("m", [0.3, 1.7])
def test_rarita_schwinger_spinors_and_spin_sum(m):
    """Clebsch-Gordan vector-spinors obey (p-slash - m) u^mu = 0, gamma_mu u^mu = 0,
    p_mu u^mu = 0, ū_mu u^mu = -2m, and sum_s u^mu ū^nu (and v v̄, v = C ū^T) equals the closed
    form with its full mass dependence (the projector used in docs/spin32.md)."""
    p = _momenta(m)
    u = rs_spinors(p, m)
    for s in range(4):
        us = u[:, s]
        assert np.abs(np.einsum("nij,naj->nai", slash(p) - m * ONE[None], us)).max() < 1e-12
        assert np.abs(sum(G[a, a] * np.einsum("ij,nj->ni", GAMMA[a], us[:, a])
                          for a in range(4))).max() < 1e-12
        assert np.abs(np.einsum("na,nai->ni", lower(p), us)).max() < 1e-12
        norm = np.einsum("nai,ij,naj,a->n", us.conj(), GAMMA[0], us, np.diag(G))
        np.testing.assert_allclose(norm, -2 * m, rtol=1e-12)
    ubar = np.einsum("nsai,ij->nsaj", u.conj(), GAMMA[0])
    scale = np.abs(rs_spin_sum(p, m, +1)).max()
    assert np.abs(np.einsum("nsai,nsbj->nabij", u, ubar) - rs_spin_sum(p, m, +1)).max() \
        < 1e-12 * scale
    v = charge_conjugate(u)
    vbar = np.einsum("nsai,ij->nsaj", v.conj(), GAMMA[0])
    assert np.abs(np.einsum("nsai,nsbj->nabij", v, vbar) - rs_spin_sum(p, m, -1)).max() \
        < 1e-12 * scale


def _rs_msq(kind, process, ff, cL, cR, dL, dR, majorana=False):
    """Spin-summed |M|^2 (K = 1) from the explicit vector-spinors, for numeric_dgamma."""
    gE, gO = (cL + cR) / 2, (cR - cL) / 2

    def msq(pB, pM, p1, p2):
        m = np.sqrt(dot(p1, p1))[0]
        tot, lng = np.zeros(len(pB)), np.zeros(len(pB))
        if kind == "rs-vector":
            amps = [pair_amplitudes_rs(p1, p2, m, g @ (dL * PL + dR * PR), majorana)
                    for g in gamma_lower(GAMMA)]  # Psī_nu gamma_mu Psi^nu, mu lower
        else:
            Gam = ONE if kind == "rs-scalar" else 1j * GAMMA5
            amp = pair_amplitudes_rs(p1, p2, m, Gam, majorana)
        for hel, Vmu, Amu, S, P in hadronic(process, ff, pB, pM, MB_Q, MS_Q):
            if kind == "rs-vector":
                J = gE * Vmu + gO * Amu  # upper index
                M = sum(J[:, a, None, None] * amps[a] for a in range(4))
            else:
                M = (gE * S + gO * P)[:, None, None] * amp
            val = np.sum(np.abs(M) ** 2, axis=(1, 2))
            tot += val
            if hel == 0:
                lng += val
        return tot, lng

    return msq


CASES = [
    ("rs-vector", 0.35, 1.0, 0.0, 1.0, 1.0),  # vector invisible current
    ("rs-vector", 0.5, 0.2, 1.0, 1.0, -1.0),  # axial invisible current, mixed quark current
    ("rs-vector", 0.8, 1.0, 0.4, 1.0, 0.0),  # left-handed invisible current
    ("rs-scalar", 0.35, 1.0, 0.3, 1.0, 1.0),
    ("rs-pseudoscalar", 0.6, 0.1, 1.0, 1.0, 1.0),
]


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,m,cL,cR,dL,dR", CASES)
def test_closed_form_matches_explicit_vector_spinors(proc, kind, m, cL, cR, dL, dR):
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    q2s = np.array([4 * m * m + 0.2, 0.5 * (4 * m * m + p.q2_max), p.q2_max - 0.3])
    tot_cf, long_cf = threebody.dgamma_dq2(p, ff, q2s, kind, m, 1.0, 1.0, cL, cR, dL, dR)
    msq = _rs_msq(kind, p, ff, cL, cR, dL, dR)
    for i, q2 in enumerate(q2s):
        tot, lng = numeric_dgamma(p, q2, m, msq)
        assert tot > 0
        assert tot_cf[i] == pytest.approx(tot, rel=1e-8), (kind, q2)
        assert long_cf[i] == pytest.approx(lng, rel=1e-8, abs=1e-12 * tot), (kind, q2)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,dL,dR", [("rs-vector", -1.0, 1.0), ("rs-vector", 1.0, 0.3),
                                        ("rs-scalar", 1.0, 1.0), ("rs-pseudoscalar", 1.0, 1.0)])
def test_majorana_is_half_dirac_with_explicit_antisymmetrised_amplitudes(proc, kind, dL, dR):
    """Majorana Psi, L = (K/2) J Psī_nu Gam Psi^nu: amplitude (ū1 Gam v2 - ū2 Gam v1)/2, phase
    space 1/2 for identical particles; the vector part of a chiral current drops out."""
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    m = 0.45
    q2s = np.array([4 * m * m + 0.5, 9.0, p.q2_max - 0.5])
    maj, maj_l = threebody.dgamma_dq2(p, ff, q2s, kind, m, 1.0, 1.0, 1.0, 0.2, dL, dR,
                                      self_conjugate=True)
    msq = _rs_msq(kind, p, ff, 1.0, 0.2, dL, dR, majorana=True)
    for i, q2 in enumerate(q2s):
        tot, lng = numeric_dgamma(p, q2, m, msq)
        assert maj[i] == pytest.approx(0.5 * tot, rel=1e-8)
        assert maj_l[i] == pytest.approx(0.5 * lng, rel=1e-8, abs=1e-12 * tot)
    if kind != "rs-vector" or dL == -dR:  # C-even current: Majorana = Dirac / 2
        dirac = threebody.dgamma_dq2(p, ff, q2s, kind, m, 1.0, 1.0, 1.0, 0.2, dL, dR)[0]
        np.testing.assert_allclose(maj, 0.5 * dirac, rtol=1e-12)


def test_majorana_vector_current_vanishes_identically():
    """Psī_nu gamma^mu Psi^nu of a Majorana Rarita-Schwinger field: the antisymmetrised amplitude
    is zero spin by spin (C gamma^T C^-1 = -gamma), the axial one is not."""
    m = 0.5
    p1, p2 = _momenta(m, 4, seed=2), _momenta(m, 4, seed=3)
    for g in GAMMA:
        ref = np.abs(pair_amplitudes_rs(p1, p2, m, g)).max()
        assert np.abs(pair_amplitudes_rs(p1, p2, m, g, majorana=True)).max() < 1e-13 * ref
        assert np.abs(pair_amplitudes_rs(p1, p2, m, g @ GAMMA5, majorana=True)).max() > 0.1 * ref
    p = get_process("B+->K+")
    with pytest.raises(EmissError, match="Majorana vector current vanishes"):
        threebody.pair_spectrum(p, F.central(p.ff_kind), "rs-vector", m, 1.0, 1.0, d_L=1.0,
                                d_R=1.0, self_conjugate=True)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,dL,dR,ratio", [
    ("rs-vector", 1.0, 1.0, 10.0 / 9.0),  # 3S1 pair: Tr_{3/2}[(2J/3)^2] / Tr_{1/2}[sigma^2]
    ("rs-pseudoscalar", 1.0, 1.0, 2.0),  # spin singlet: dim(3/2) / dim(1/2)
])
def test_threshold_ratio_to_spin_half(proc, kind, dL, dR, ratio):
    """Non-relativistic limit (heavy pair, q^2 -> 4 m^2): a spin-3/2 pair made by gamma^i is a
    3S1 state, sigma restricted to j = 3/2 being (2/3) J (projection theorem), so the spin sum is
    (4/9) j(j+1)(2j+1) = 20/3 against Tr sigma^i sigma^i = 6 for spin 1/2; by i gamma5 a singlet,
    4 states against 2."""
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    m = 1.0
    q2 = np.array([4 * m * m * (1 + 1e-7)])
    half = {"rs-vector": "fermion-vector", "rs-pseudoscalar": "fermion-pseudoscalar"}[kind]
    cR = 0.0 if kind == "rs-vector" else 0.4  # c_L + c_R (K) and c_R - c_L (K*) both != 0
    rs = threebody.dgamma_dq2(p, ff, q2, kind, m, 1.0, 1.0, 1.0, cR, dL, dR)[0]
    sp = threebody.dgamma_dq2(p, ff, q2, half, m, 1.0, 1.0, 1.0, cR, dL, dR)[0]
    assert rs[0] / sp[0] == pytest.approx(ratio, rel=1e-5)


def test_threshold_ratio_axial_timelike():
    """The axial current's time-like part (B -> K via f_0) makes a spin singlet: ratio 2."""
    p = get_process("B+->K+")
    ff = F.central(p.ff_kind)
    q2 = np.array([4.0 * (1 + 1e-8)])
    rs = threebody.dgamma_dq2(p, ff, q2, "rs-vector", 1.0, 1.0, 1.0, 1.0, 0.0, -1.0, 1.0)[0]
    sp = threebody.dgamma_dq2(p, ff, q2, "fermion-vector", 1.0, 1.0, 1.0, 1.0, 0.0, -1.0, 1.0)[0]
    assert rs[0] / sp[0] == pytest.approx(2.0, rel=1e-5)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,half,dL,dR,cR", [
    ("rs-vector", "fermion-vector", 1.0, 1.0, 0.0),
    ("rs-vector", "fermion-vector", -1.0, 1.0, 0.3),
    ("rs-scalar", "fermion-scalar", 1.0, 1.0, 0.3),
    ("rs-pseudoscalar", "fermion-pseudoscalar", 1.0, 1.0, 0.3),
])
def test_small_mass_limit_is_goldstino(proc, kind, half, dL, dR, cR):
    """m -> 0: the helicity-1/2 components dominate, u^mu -> sqrt(2/3) p^mu u / m, so
    ū_nu Gam v^nu -> (2/3)(p1.p2/m^2) ū Gam v = (q^2/3m^2) ū Gam v: m^4 x (rate) -> (q^4/9) x the
    massless spin-1/2 rate (Fayet 1977; Casalbuoni et al. 1989), longitudinal part included."""
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    m = 2e-3
    q2 = np.array([0.5, 6.0, 15.0])
    rs, rs_l = threebody.dgamma_dq2(p, ff, q2, kind, m, 1.0, 1.0, 1.0, cR, dL, dR)
    sp, sp_l = threebody.dgamma_dq2(p, ff, q2, half, 0.0, 1.0, 1.0, 1.0, cR, dL, dR)
    assert np.all(sp > 0) and np.all(sp_l > 0)
    np.testing.assert_allclose(rs * m**4, q2**2 / 9 * sp, rtol=1e-4)
    np.testing.assert_allclose(rs_l * m**4, q2**2 / 9 * sp_l, rtol=1e-4)


@pytest.mark.parametrize("kind,power", [("rs-scalar", 3), ("rs-pseudoscalar", 1)])
def test_threshold_power_of_beta(kind, power):
    """Near threshold dGamma/dq2 ~ beta^power (P wave 3, S wave 1)."""
    p = get_process("B+->K+")
    ff = F.central(p.ff_kind)
    m = 0.5
    q2 = 4 * m * m / (1 - np.array([1e-4, 4e-4]))
    tot, _ = threebody.dgamma_dq2(p, ff, q2, kind, m, 1.0, 1.0)
    assert tot[1] / tot[0] == pytest.approx(2.0**power, rel=2e-3)


def test_massless_spin32_rejected():
    p = get_process("B+->K+")
    with pytest.raises(EmissError, match="0 < m_X"):
        threebody.pair_spectrum(p, F.central(p.ff_kind), "rs-scalar", 0.0, 1.0, 1.0)
