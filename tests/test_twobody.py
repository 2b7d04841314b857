"""Two-body B -> K(*) X: the checked closed forms of shared/reference/physics.md (Kamenik & Smith
1111.6402) for B -> K, explicit covariant polarisation sums for B -> K*, exact lines, bad masses."""

import numpy as np
import pytest
from _amplitudes import V_HIGGS, G, dot, hadronic, lower, pair_frame_momenta
from particle import Particle

from emiss.errors import EmissError
from emiss.physics import formfactors as F
from emiss.physics import twobody
from emiss.physics.processes import get_process

HBAR = 6.582119569e-25  # GeV s (PDG)
MB_Q = Particle.from_pdgid(5).mass / 1000.0
MS_Q = Particle.from_pdgid(3).mass / 1000.0


def _tau(pdgid):
    return Particle.from_pdgid(pdgid).lifetime * 1e-9 / HBAR  # GeV^-1


def _mass(pdgid):
    return Particle.from_pdgid(pdgid).mass / 1000.0


def _lam(a, b, c):
    return a * a + b * b + c * c - 2 * (a * b + b * c + c * a)


@pytest.mark.parametrize("m", [0.0, 1.0, 2.1, 4.3])
def test_scalar_density_matches_closed_form(m):
    """Gamma(B -> K phi) = g_S^2 lambda^{1/2} [(m_B^2-m_K^2) f_0/(m_b - m_s)]^2 / (16 pi m_B^3)."""
    p = get_process("B+->K+")
    ff = F.central("B->K")
    gS = 3e-9
    mB, mK = _mass(521), _mass(321)  # PDG via particle
    lam = _lam(mB**2, mK**2, m * m)
    f0 = float(ff.f0(np.array([m * m]))[0])
    amp2 = ((mB**2 - mK**2) * f0 / (MB_Q - MS_Q)) ** 2
    gamma = gS**2 * np.sqrt(lam) * amp2 / (16 * np.pi * mB**3)
    # c_L = c_R = 1: s̄ (P_L + P_R) b = s̄ b; g v/(sqrt2 Lambda) = g_S with Lambda = 1
    s = twobody.scalar_line(p, ff, m, np.sqrt(2) * gS / V_HIGGS, 1.0, 1.0, 1.0, "density")
    (q2, br), = s.lines
    assert q2 == pytest.approx(m * m)
    assert br == pytest.approx(gamma * _tau(521), rel=1e-6)  # v typed by hand to 7 digits
    assert s.lines_long == () and s.fl() is None and s.continuum is None


@pytest.mark.parametrize("m", [0.5, 2.1, 4.0])
def test_derivative_scalar_equals_density_with_mb_minus_ms(m):
    """(g/Lambda) d_mu phi s̄ gamma^mu b  ==  g_S phi s̄ b with g_S = g (m_b - m_s)/Lambda (EOM)."""
    p = get_process("B+->K+")
    ff = F.central("B->K")
    g, Lam = 0.7, 3e8
    der = twobody.scalar_line(p, ff, m, g, Lam, 1.0, 1.0, "derivative").lines[0][1]
    gS = g * (MB_Q - MS_Q) / Lam
    den = twobody.scalar_line(p, ff, m, np.sqrt(2) * gS / V_HIGGS, 1.0, 1.0, 1.0, "density")
    assert der == pytest.approx(den.lines[0][1], rel=1e-6)


@pytest.mark.parametrize("m", [0.3, 2.1, 4.5])
def test_vector_matches_closed_form(m):
    """Gamma(B -> K V) = g_V^2 f_+^2 lambda^{3/2} / (16 pi m_B^3 m_V^2)."""
    p = get_process("B0->K0")
    ff = F.central("B->K")
    g = 2e-8
    mB, mK = _mass(511), _mass(311)  # PDG via particle
    lam = _lam(mB**2, mK**2, m * m)
    fp = float(ff.fplus(np.array([m * m]))[0])
    gamma = g**2 * fp**2 * lam**1.5 / (16 * np.pi * mB**3 * m * m)
    s = twobody.vector_line(p, ff, m, g, 1.0, 1.0)  # c_L = c_R = 1: s̄ gamma^mu b
    assert s.lines[0][1] == pytest.approx(gamma * _tau(511), rel=1e-9)


def _kstar_explicit(m, cL, cR, what):
    """Sum over K* helicities of |M|^2 for B0 -> K*0 X from covariant matrix elements."""
    p = get_process("B0->K*0")
    ff = F.central("B->K*")
    pB, pM, *_ = pair_frame_momenta(np.array([m * m]), np.array([0.0]), p.m_B, p.m_M, 0.0)
    q = (pB - pM).astype(complex)
    gE, gO = (cL + cR) / 2, (cR - cL) / 2
    tot = lng = 0.0
    for hel, Vmu, Amu, S, P in hadronic(p, ff, pB, pM, MB_Q, MS_Q):
        J = gE * Vmu + gO * Amu
        if what == "vector":  # sum_pol eps_mu eps_nu^* = -g_{mu nu} + q_mu q_nu / m^2
            Jl = lower(J)
            proj = -G + np.outer(lower(q.real)[0], lower(q.real)[0]) / (m * m)
            val = float(np.einsum("m,n,mn->", Jl[0], Jl[0].conj(), proj).real)
        elif what == "derivative":
            val = float(np.abs(dot(J, q)[0]) ** 2)
        else:
            val = float(np.abs(gE * S + gO * P)[0] ** 2)
        tot += val
        lng += val if hel == 0 else 0.0
    w = np.sqrt(p.lam(m * m)) / (16 * np.pi * p.m_B**3) * p.tau_B
    return tot * w, lng * w


@pytest.mark.parametrize("m,cL,cR", [(0.8, 1.0, 0.0), (2.1, 0.3, 1.0), (3.9, 1.0, -1.0)])
def test_kstar_lines_match_covariant_polarisation_sums(m, cL, cR):
    p = get_process("B0->K*0")
    ff = F.central("B->K*")
    tot, lng = _kstar_explicit(m, cL, cR, "vector")
    s = twobody.vector_line(p, ff, m, 1.0, cL, cR)
    assert s.lines[0][1] == pytest.approx(tot, rel=1e-8)
    assert s.lines_long[0] == pytest.approx(lng, rel=1e-8)
    assert 0 < s.fl() < 1
    for coupling, g in (("derivative", 1.0), ("density", np.sqrt(2) / V_HIGGS)):
        tot, lng = _kstar_explicit(m, cL, cR, coupling)
        s = twobody.scalar_line(p, ff, m, g, 1.0, cL, cR, coupling)
        assert s.lines[0][1] == pytest.approx(tot, rel=1e-6)
        assert lng == pytest.approx(tot, rel=1e-12)  # a scalar recoils against K*_L only
        assert s.fl() == pytest.approx(1.0)


def test_parity_b_to_k_sees_only_even_currents():
    p = get_process("B+->K+")
    ff = F.central("B->K")
    # c_L = -c_R: pure axial / pseudoscalar quark current -> no B -> K rate
    assert twobody.vector_line(p, ff, 2.0, 1.0, 1.0, -1.0).lines[0][1] == 0.0
    assert twobody.scalar_line(p, ff, 2.0, 1.0, 1.0, 1.0, -1.0).lines[0][1] == 0.0


@pytest.mark.parametrize("edges", [np.linspace(0, 23, 7), np.array([0.0, 4.41, 4.41 + 1e-9, 23]),
                                   np.array([4.40999, 4.41001])])
def test_line_is_exact_in_any_binning(edges):
    p = get_process("B+->K+")
    s = twobody.vector_line(p, F.central("B->K"), 2.1, 1e-8)
    br = s.lines[0][1]
    assert s.bin_integrals(edges).sum() == pytest.approx(br, rel=1e-12)
    assert s.branching_ratio() == pytest.approx(br, rel=1e-12)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf"), "abc"])
def test_bad_masses(proc, bad):
    p = get_process(proc)
    with pytest.raises(EmissError, match="mass"):
        twobody.scalar_line(p, F.central(p.ff_kind), bad, 1.0, 1.0)


@pytest.mark.parametrize("proc", ["B+->K+", "B0->K*0"])
def test_mass_at_or_above_endpoint(proc):
    p = get_process(proc)
    ff = F.central(p.ff_kind)
    end = p.m_B - p.m_M
    for m in (end, end + 0.1):
        with pytest.raises(EmissError, match="endpoint"):
            twobody.vector_line(p, ff, m, 1.0)
    twobody.vector_line(p, ff, end - 1e-3, 1.0)  # just below: fine
    with pytest.raises(EmissError, match="mass"):
        twobody.vector_line(p, ff, 0.0, 1.0)  # longitudinal rate ~ 1/m_V^2


def test_one_endpoint_rule_for_physics_and_patches():
    """The physics stage and the patch grid refuse the same masses with the same words.

    m(B+) - m(K+) = 5.27941 - 0.493677 = 4.785733 GeV (PDG 2024), half of it for a pair.
    """
    from emiss.patches.hypotheses import check_masses
    from emiss.physics.scenarios import get_scenario

    p = get_process("B+->K+")
    assert p.mass_limit() == pytest.approx(4.785733, abs=2e-5)
    assert p.mass_limit(2) == pytest.approx(4.785733 / 2, abs=1e-5)
    assert p.q2_max == pytest.approx(4.785733**2, rel=1e-5)
    pair = get_scenario("threebody-scalar")
    check_masses(pair, [2.39], ["B+->K+"])  # below (m_B - m_K) / 2: fine
    for m in (2.40, float("nan"), -1.0):
        with pytest.raises(EmissError) as physics:
            p.check_mass(m, 2, allow_zero=True)
        with pytest.raises(EmissError) as grid:
            check_masses(pair, [m], ["B+->K+"])
        assert str(grid.value) == str(physics.value).replace(
            " GeV ", " GeV of scenario 'threebody-scalar' ", 1)
        assert "valid: 0 <= m_X (each of the pair) < 2.3929 GeV" in str(grid.value)
