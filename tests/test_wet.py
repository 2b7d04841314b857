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


# --------------------------------------------------------------------- explicit amplitudes
def _sigma():
    from _amplitudes import GAMMA
    return [[0.5j * (GAMMA[m] @ GAMMA[n] - GAMMA[n] @ GAMMA[m]) for n in range(4)]
            for m in range(4)]


def _gamma5_sign() -> float:
    """eta in sigma^{mu nu} gamma5 = eta (i/2) eps^{mu nu rho sigma} sigma_{rho sigma}, read off
    the Dirac matrices numerically (conventions of tests/_amplitudes.py)."""
    from _amplitudes import _EPS, GAMMA5, G

    sig = np.array(_sigma())
    low = np.einsum("ra,sb,abij->rsij", G, G, sig)
    rhs = 0.5j * np.einsum("mnrs,rsij->mnij", _EPS, low)
    lhs = np.einsum("mnij,jk->mnik", sig, GAMMA5)
    for eta in (1.0, -1.0):
        if np.allclose(lhs, eta * rhs):
            return eta
    raise AssertionError("no sign relates sigma gamma5 to eps sigma")


@pytest.mark.parametrize("term", ["V", "S", "T"])
def test_b_to_k_terms_equal_explicit_amplitudes(term):
    """|M|^2 from Dirac matrices and covariant matrix elements (HPQCD 2207.12468 eqs. (1)-(3)),
    integrated over the pair's decay angle, against emiss.physics.wet (EOS/FLS formulas).

    Amplitude M = (4 G_F/sqrt2)(alpha_e/2pi) V_tb V_ts [hadronic ⊗ lepton], with
    <K|s̄ Γ P_L b|B>: vector (1/2) f_+ (P - ...)^mu, scalar (1/2)(m_B^2 - m_K^2)/(m_b - m_s) f_0,
    tensor (1/2)(T^{mu nu} - <s̄ sigma^{mu nu} gamma5 b>), T^{mu nu} = -2i f_T/(m_B + m_K)
    (p_B^mu p_K^nu - p_B^nu p_K^mu) (contracting with q_nu gives 2207.12468 eq. (3)).
    Leptons: a massless Dirac pair ū(p1) Γ_l P_L v(p2); the ΔL = 2 operators O_S, O_T create
    two identical (anti)neutrinos from ν̄^c Γ ν with a symmetric Γ: two Wick contractions
    (x 4 in |M|^2) and the identical-particle phase space (x 1/2) give a factor 2 relative to
    the Dirac pair. dΓ/dq² = <|M|^2> λ^½ / (256 π³ m_B³) (massless pair), 3 flavours.
    """
    from _amplitudes import _EPS, GAMMA, PL, G, bar, dot, hadronic, pair_frame_momenta, slash

    from emiss.physics import constants as C
    from emiss.physics import formfactors as F
    from emiss.physics.processes import get_process

    proc = get_process("B+->K+")
    ff = F.central("B->K")
    mB, mK = proc.m_B, proc.m_M
    x, w = np.polynomial.legendre.leggauss(12)
    q2s = np.array([0.7, 4.4, 9.0, 15.5, 21.0])
    sig = np.array(_sigma())
    eta = _gamma5_sign()
    got = []
    for q2 in q2s:
        pB, pK, p1, p2, _ = pair_frame_momenta(np.full(len(x), q2), x, mB, mK, 0.0)
        (_, Vmu, _, S, _), = hadronic(proc, ff, pB, pK, wet.M_B_MSBAR, wet.M_S_MSBAR)
        lowV = Vmu @ G
        if term == "V":
            gam = 0.5 * np.einsum("nm,mab->nab", lowV, np.array(GAMMA)) @ PL
            factor = 1.0
        elif term == "S":
            gam = 0.5 * S[:, None, None] * PL[None]
            factor = 2.0
        else:
            fT = ff.fT(np.full(len(x), q2))
            Tup = -2j * (fT / (mB + mK))[:, None, None] * (
                np.einsum("nm,nv->nmv", pB, pK) - np.einsum("nm,nv->nvm", pB, pK))
            Tlow = np.einsum("ma,vb,nab->nmv", G, G, Tup)
            T5 = eta * 0.5j * np.einsum("mvrs,nrs->nmv", _EPS, Tlow)
            H = 0.5 * (Tup - T5)  # <K| s̄ sigma^{mu nu} P_L b |B>, upper indices
            Hlow = np.einsum("ma,vb,nab->nmv", G, G, H)
            gam = np.einsum("nmv,mvij->nij", Hlow, sig) @ PL
            factor = 2.0
        A, B = slash(p1), slash(p2)
        m2 = np.einsum("nab,nbc,ncd,nda->n", A, gam, B,
                       np.array([bar(g) for g in gam])).real
        avg = 0.5 * np.sum(w * m2) * factor
        lam = mB**4 + mK**4 + q2**2 - 2 * (mB**2 * mK**2 + mB**2 * q2 + mK**2 * q2)
        pref = (4 * C.G_F / np.sqrt(2) * wet.ALPHA_E_SBNUNU / (2 * np.pi) * C.VTB_VTS) ** 2
        got.append(3 * pref * avg * np.sqrt(lam) / (256 * np.pi**3 * mB**3) * proc.tau_B)
        assert dot(p1, p2)[0] == pytest.approx(q2 / 2)
    want = wet.unit_terms("B+->K+", q2s, ff)[term][0]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_flat_prior_in_the_magnitude_matches_quadrature():
    """A one-bin counting model with rate C² s + b and a flat prior on |C| in [0, 20]: the
    sampled posterior of |C| (NUTS, the prior as emiss.studies.wet applies it) against the
    exact posterior p(C | n) ∝ Pois(n | C² s + b), integrated numerically."""
    from scipy import integrate, stats

    from emiss.inference.fastmodel import model_from_workspace
    from emiss.inference.posterior import PosteriorSetup, sample_posterior
    from emiss.studies.wet import _flat_in_magnitude

    n, s, b = 18, 0.25, 12.0  # |C| ~ 4.5 with a wide posterior: the prior shape matters
    spec = {"channels": [{"name": "c", "samples": [
        {"name": "sig", "data": [s], "modifiers": [{"name": "c2", "type": "normfactor",
                                                    "data": None}]},
        {"name": "bkg", "data": [b], "modifiers": []}]}],
        "observations": [{"name": "c", "data": [n]}],
        "measurements": [{"name": "m", "config": {"poi": "c2", "parameters": [
            {"name": "c2", "bounds": [[0.0, 400.0]]}]}}], "version": "1.0.0"}
    fm = model_from_workspace(spec, poi="c2")
    setup = PosteriorSetup(fm, ref_br=1.0, br_max=400.0, poi_fixed=None,
                           extra_log_prior=_flat_in_magnitude(np.array([0])))
    run = sample_posterior(setup, draws=3000, tune=500, chains=2, seed=3)
    c = np.sqrt(run.chain[:, :, 0].ravel())

    grid = np.linspace(0.0, 20.0, 20001)
    cdf = integrate.cumulative_trapezoid(stats.poisson.pmf(n, grid**2 * s + b), grid, initial=0)
    cdf /= cdf[-1]
    for q in (0.16, 0.5, 0.84):
        exact = float(np.interp(q, cdf, grid))
        # MC error of the quantiles ~0.05; a flat prior in C² instead moves them by 0.5 - 1.3
        assert np.quantile(c, q) == pytest.approx(exact, abs=0.2)
