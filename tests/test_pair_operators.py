"""The remaining pair operators: tensor quark currents with fermion and vector pairs, and the
self-conjugate (Majorana, real) versions of every pair. Closed forms against numerical angular
integrations of |M|^2 from covariant tensor matrix elements (HPQCD f_T, BSZ T_1, T_2, T_3),
explicit Dirac traces, explicit spinors and polarisation vectors; the massless tensor shape and F_L
against the O_TL terms of 2111.04327 (emiss.physics.wet); identities that make operators vanish."""

import numpy as np
import pytest
from _amplitudes import (
    _EPS,
    GAMMA,
    GAMMA5,
    ONE,
    SIGMA,
    V_HIGGS,
    G,
    bar,
    dot,
    hadronic,
    hadronic_tensor,
    massive_polarisations,
    numeric_dgamma,
    pair_amplitudes_dirac,
    slash,
)
from particle import Particle

from emiss.errors import EmissError
from emiss.physics import formfactors as F
from emiss.physics import threebody, wet
from emiss.physics.processes import get_process
from emiss.physics.scenarios import VANISHING, get_scenario

MB_Q = Particle.from_pdgid(5).mass / 1000.0
MS_Q = Particle.from_pdgid(3).mass / 1000.0
SIGMA_LOW = np.einsum("am,mnij,nb->abij", G, SIGMA, G)


def test_sigma_gamma5_is_the_dual_of_sigma():
    """sigma^{mu nu} gamma5 = (i/2) eps^{mu nu a b} sigma_{ab} (eps^{0123} = +1, gamma5 =
    i gamma0 gamma1 gamma2 gamma3): the identity behind E5 = -i B in emiss.physics.currents."""
    lhs = np.einsum("abij,jk->abik", SIGMA, GAMMA5)
    rhs = 0.5j * np.einsum("abcd,cdij->abij", _EPS, SIGMA_LOW)
    np.testing.assert_allclose(lhs, rhs, atol=1e-14)


def _tensor_msq(kind, process, ff, cL, cR, self_conj=False):
    """Spin-summed |M|^2 (K = 1) of T^{mu nu} psī sigma_{mu nu} psi or T^{mu nu} V_mu^† V_nu."""
    gT, gT5 = (cL + cR) / 2, (cR - cL) / 2

    def msq(pB, pM, p1, p2):
        m = np.sqrt(max(dot(p1, p1)[0], 0.0))
        tot, lng = np.zeros(len(pB)), np.zeros(len(pB))
        for hel, Ft, F5 in hadronic_tensor(process, ff, pB, pM):
            Fq = gT * Ft + gT5 * F5  # <M| s̄ sigma^{mu nu} (c_L P_L + c_R P_R) b |B>
            if kind == "fermion-tensor":
                S = np.einsum("nab,abij->nij", Fq, SIGMA_LOW)
                A = slash(p1) + m * ONE
                B = slash(p2) - m * ONE
                val = np.einsum("nab,nbc,ncd,nda->n", A, S, B,
                                np.array([bar(x) for x in S])).real
            else:  # vector-tensor: M = F^{mu nu} eps1*_mu eps2*_nu (real polarisation vectors)
                e1s, e2s = massive_polarisations(p1, m), massive_polarisations(p2, m)
                if self_conj:  # real V, L = (K/2) T V_mu V_nu: both orderings
                    val = sum(np.abs(0.5 * (np.einsum("nab,na,nb->n", Fq, a @ G, b @ G)
                                            + np.einsum("nab,na,nb->n", Fq, b @ G, a @ G))) ** 2
                              for a in e1s for b in e2s)
                else:
                    val = sum(np.abs(np.einsum("nab,na,nb->n", Fq, a @ G, b @ G)) ** 2
                              for a in e1s for b in e2s)
            tot += val
            if hel == 0:
                lng += val
        return tot, lng

    return msq


CASES = [
    ("fermion-tensor", 0.3, 1.0, 0.0),
    ("fermion-tensor", 0.7, 1.0, 1.0),  # s̄ sigma b
    ("fermion-tensor", 0.5, -1.0, 1.0),  # s̄ sigma gamma5 b
    ("fermion-tensor", 0.4, 0.3, 1.0),
    ("vector-tensor", 0.4, 1.0, 0.0),
    ("vector-tensor", 0.8, 1.0, 1.0),
    ("vector-tensor", 0.6, -0.2, 1.0),
]


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,m,cL,cR", CASES)
def test_tensor_closed_form_matches_covariant_integration(proc, kind, m, cL, cR):
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    g = np.sqrt(2.0) / V_HIGGS if threebody.PAIR_KINDS[kind].with_vev else 1.0  # K = 1
    q2s = np.array([4 * m * m + 0.2, 0.5 * (4 * m * m + p.q2_max), p.q2_max - 0.3])
    tot_cf, long_cf = threebody.dgamma_dq2(p, ff, q2s, kind, m, g, 1.0, cL, cR)
    msq = _tensor_msq(kind, p, ff, cL, cR)
    for i, q2 in enumerate(q2s):
        tot, lng = numeric_dgamma(p, q2, m, msq)
        assert tot > 0
        assert tot_cf[i] == pytest.approx(tot, rel=1e-8), (kind, q2)
        assert long_cf[i] == pytest.approx(lng, rel=1e-8, abs=1e-12 * tot), (kind, q2)


@pytest.mark.parametrize("kind,cL,cR,power", [
    ("fermion-tensor", 1.0, 1.0, 1),  # electric part: S wave
    ("fermion-tensor", -1.0, 1.0, 3),  # B -> K with s̄ sigma gamma5 b: magnetic part, P wave
    ("vector-tensor", 1.0, 1.0, 3),
    ("vector-tensor", -1.0, 1.0, 1),
])
def test_tensor_threshold_power_of_beta(kind, cL, cR, power):
    p = get_process("B+->K+")
    ff = F.central(p.ff_kind)
    m = 0.5
    q2 = 4 * m * m / (1 - np.array([1e-4, 4e-4]))
    tot, _ = threebody.dgamma_dq2(p, ff, q2, kind, m, 1.0, 1.0, cL, cR)
    assert tot[1] / tot[0] == pytest.approx(2.0**power, rel=2e-3)


def test_massless_tensor_has_the_wet_tensor_shape_and_fl():
    """m = 0, (s̄ sigma P_L b)(psī sigma psi) = (s̄ sigma P_L b)(psī sigma P_L psi): the q^2 shape
    and F_L(q^2) of the O_TL terms of 2111.04327 eqs. (8), (13), and the same normalisation
    ratio for B -> K and B -> K* (it depends on the operator normalisations only)."""
    ratios = []
    for proc in ("B+->K+", "B0->K*0"):
        p = get_process(proc)
        ff = F.central(p.ff_kind)
        s = threebody.pair_spectrum(p, ff, "fermion-tensor", 0.0, 1.0, 1.0, 1.0, 0.0)
        q2 = np.linspace(0.05, p.q2_max - 0.05, 9)
        t, t_long = wet.unit_terms(proc, q2, ff)["T"]
        r = s.dBdq2(q2) / t
        np.testing.assert_allclose(r / r[0], 1.0, rtol=1e-10)
        if p.is_vector:
            np.testing.assert_allclose(s.dBLdq2(q2) / s.dBdq2(q2), t_long / t, rtol=1e-10)
        ratios.append(r[0])
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-10)


@pytest.mark.parametrize("proc", ["B+->pi+", "K+->pi+"])
def test_tensor_needs_tensor_form_factors(proc):
    p = get_process(proc)
    with pytest.raises(EmissError, match="tensor"):
        threebody.pair_spectrum(p, F.central(p.ff_kind), "fermion-tensor", 0.05, 1.0, 1.0)


# ------------------------------------------------------------------- self-conjugate pairs
def _majorana_msq(current, process, ff, cL, cR, dL, dR):
    """|M|^2 of L = (K/2) J chī Gam chi from explicit antisymmetrised Majorana amplitudes."""
    gE, gO = (cL + cR) / 2, (cR - cL) / 2

    def msq(pB, pM, p1, p2):
        m = np.sqrt(dot(p1, p1))[0]
        tot, lng = np.zeros(len(pB)), np.zeros(len(pB))
        if current == "vector":
            amps = [pair_amplitudes_dirac(p1, p2, m, G[a, a] * GAMMA[a]
                                          @ (dL * (ONE - GAMMA5) / 2 + dR * (ONE + GAMMA5) / 2),
                                          majorana=True) for a in range(4)]
        else:
            Gam = ONE if current == "scalar" else 1j * GAMMA5
            amp = pair_amplitudes_dirac(p1, p2, m, Gam, majorana=True)
        for hel, Vmu, Amu, S, P in hadronic(process, ff, pB, pM, MB_Q, MS_Q):
            if current == "vector":
                J = gE * Vmu + gO * Amu
                M = sum(J[:, a, None, None] * amps[a] for a in range(4))
            else:
                M = (gE * S + gO * P)[:, None, None] * amp
            val = np.sum(np.abs(M) ** 2, axis=(1, 2))
            tot += val
            if hel == 0:
                lng += val
        return tot, lng

    return msq


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind,current,dL,dR", [
    ("fermion-vector", "vector", -1.0, 1.0),  # axial
    ("fermion-vector", "vector", 1.0, 0.0),  # V - A: only the axial part survives
    ("fermion-scalar", "scalar", 1.0, 1.0),
    ("fermion-pseudoscalar", "pseudoscalar", 1.0, 1.0),
])
def test_majorana_fermions_from_explicit_antisymmetrised_amplitudes(proc, kind, current, dL, dR):
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    m = 0.4
    q2s = np.array([4 * m * m + 0.3, 8.0, p.q2_max - 0.4])
    cf, cf_l = threebody.dgamma_dq2(p, ff, q2s, kind, m, 1.0, 1.0, 1.0, 0.3, dL, dR,
                                    self_conjugate=True)
    msq = _majorana_msq(current, p, ff, 1.0, 0.3, dL, dR)
    for i, q2 in enumerate(q2s):
        tot, lng = numeric_dgamma(p, q2, m, msq)
        assert tot > 0
        assert cf[i] == pytest.approx(0.5 * tot, rel=1e-8)  # 1/2: identical particles
        assert cf_l[i] == pytest.approx(0.5 * lng, rel=1e-8, abs=1e-12 * tot)
    if dL == -dR or current != "vector":  # C-even bilinears: Majorana = Dirac / 2
        dirac = threebody.dgamma_dq2(p, ff, q2s, kind, m, 1.0, 1.0, 1.0, 0.3, dL, dR)[0]
        np.testing.assert_allclose(cf, 0.5 * dirac, rtol=1e-12)


def test_c_odd_majorana_bilinears_vanish_spin_by_spin():
    """chī gamma^mu chi and chī sigma^{mu nu} chi: the antisymmetrised amplitudes are zero for
    every spin pair (C Gam^T C^-1 = -Gam); chī gamma^mu gamma5 chi, chī chi, chī i gamma5 chi
    are not."""
    m = 0.5
    rng = np.random.default_rng(4)

    def moms(n):
        pv = rng.normal(size=(n, 3))
        return np.concatenate([np.sqrt(m * m + (pv**2).sum(1))[:, None], pv], axis=1)

    p1, p2 = moms(5), moms(5)
    odd = list(GAMMA) + [SIGMA[a, b] for a in range(4) for b in range(a + 1, 4)]
    even = [g @ GAMMA5 for g in GAMMA] + [ONE, 1j * GAMMA5]
    for gam in odd:
        ref = np.abs(pair_amplitudes_dirac(p1, p2, m, gam)).max()
        assert np.abs(pair_amplitudes_dirac(p1, p2, m, gam, majorana=True)).max() < 1e-13 * ref
    for gam in even:
        ref = np.abs(pair_amplitudes_dirac(p1, p2, m, gam)).max()
        assert np.abs(pair_amplitudes_dirac(p1, p2, m, gam, majorana=True)).max() > 0.1 * ref


def test_real_field_operators_vanish_when_symmetrised():
    """Two identical real bosons: phi d<->phi gives (p2 - p1) + (p1 - p2) = 0; V_nu d<->V^nu
    likewise; sigma^{mu nu} V_mu V_nu gives F^{mu nu}(e1_mu e2_nu + e2_mu e1_nu) = 0."""
    rng = np.random.default_rng(5)
    m = 0.6
    pv = rng.normal(size=(2, 3))
    p = np.concatenate([np.sqrt(m * m + (pv**2).sum(1))[:, None], pv], axis=1)
    p1, p2 = p[:1], p[1:]
    assert np.abs((p2 - p1) + (p1 - p2)).max() == 0.0
    F_ = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    F_ = F_ - F_.T
    for a in massive_polarisations(p1, m):
        for b in massive_polarisations(p2, m):
            sym = (np.einsum("ab,na,nb->n", F_, a @ G, b @ G)
                   + np.einsum("ab,na,nb->n", F_, b @ G, a @ G))
            assert np.abs(sym).max() < 1e-14 * np.abs(F_).max() * (1 + np.abs(a).max()) ** 2 \
                * (1 + np.abs(b).max()) ** 2


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("kind", ["scalar-scalar", "vector-scalar"])
def test_real_bosons_from_explicit_symmetrised_amplitudes(proc, kind):
    """L = (K/2) J X X for a real scalar or vector: amplitude K J (phi) and K J eps1*.eps2* (V)
    from the two contractions, phase space 1/2."""
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    m = 0.5
    g = np.sqrt(2.0) / V_HIGGS  # K = 1
    cL, cR = 1.0, 0.3

    def msq(pB, pM, p1, p2):
        tot, lng = np.zeros(len(pB)), np.zeros(len(pB))
        for hel, _, _, S, P in hadronic(p, ff, pB, pM, MB_Q, MS_Q):
            D = (cL + cR) / 2 * S + (cR - cL) / 2 * P
            # (K/2) X X: 1/2 times the two contractions (X1 X2 and X2 X1)
            if kind == "scalar-scalar":
                inv = np.abs(0.5 * (1.0 + 1.0)) ** 2
            else:
                e1s, e2s = massive_polarisations(p1, m), massive_polarisations(p2, m)
                inv = sum(np.abs(0.5 * (dot(a, b) + dot(b, a))) ** 2 for a in e1s for b in e2s)
            val = np.abs(D) ** 2 * inv
            tot += val
            if hel == 0:
                lng += val
        return tot, lng

    q2s = np.array([4 * m * m + 0.3, p.q2_max - 0.4])
    cf = threebody.dgamma_dq2(p, ff, q2s, kind, m, g, 1.0, cL, cR, self_conjugate=True)[0]
    for i, q2 in enumerate(q2s):
        tot, _ = numeric_dgamma(p, q2, m, msq)
        assert cf[i] == pytest.approx(0.5 * tot, rel=1e-8)


@pytest.mark.parametrize("kind", sorted(threebody.VANISHING_SELF_CONJUGATE))
def test_vanishing_self_conjugate_kinds_are_errors(kind):
    p = get_process("B+->K+")
    with pytest.raises(EmissError, match="no self-conjugate version"):
        threebody.pair_spectrum(p, F.central(p.ff_kind), kind, 0.5, 1.0, 1.0,
                                self_conjugate=True)


@pytest.mark.parametrize("name", sorted(VANISHING))
def test_vanishing_scenarios_are_named_errors(name):
    with pytest.raises(EmissError, match="vanishes identically") as exc:
        get_scenario(name)
    assert VANISHING[name][1] in str(exc.value)  # names the scenario to use instead
    get_scenario(VANISHING[name][1])  # which exists
