"""B_s -> X X̄ through the pair operators: the closed form of emiss.physics.bs_pairs against
|M|^2 summed over explicit spin states (Dirac spinors, Rarita-Schwinger vector-spinors,
polarisation vectors) in the B_s rest frame, the textbook B_s -> mu+ mu- width, and the selection
rules (vector / scalar / tensor quark currents and conserved invisible currents give zero)."""

import math

import numpy as np
import pytest
from _amplitudes import (
    GAMMA,
    GAMMA5,
    ONE,
    PL,
    PR,
    dot,
    lower,
    massive_polarisations,
    pair_amplitudes_dirac,
    pair_amplitudes_rs,
)
from particle import Particle

from emiss.errors import EmissError
from emiss.physics import bs_pairs
from emiss.physics.scenarios import get_scenario, list_scenarios

M_BS = Particle.from_pdgid(531).mass / 1000.0
MB_Q = Particle.from_pdgid(5).mass / 1000.0
MS_Q = Particle.from_pdgid(3).mass / 1000.0
F_BS = 0.2303  # FLAG 2021, typed by hand for the test


def _pair_momenta(m, n=3, seed=2):
    """Back-to-back momenta of the pair in the B_s rest frame, random directions."""
    rng = np.random.default_rng(seed)
    nh = rng.normal(size=(n, 3))
    nh /= np.linalg.norm(nh, axis=1)[:, None]
    k = math.sqrt(M_BS**2 / 4 - m * m)
    E = np.full((n, 1), M_BS / 2)
    return np.concatenate([E, k * nh], axis=1), np.concatenate([E, -k * nh], axis=1)


def _explicit_width(kind, m, K, cL, cR, dL, dR, self_conj):
    """sym * sum|M|^2 / (2 M) * beta / (8 pi), amplitudes from explicit spin states."""
    gA = gP = (cR - cL) / 2  # axial / pseudoscalar parts of the quark currents
    p1, p2 = _pair_momenta(m)
    P = np.array([M_BS, 0.0, 0.0, 0.0])
    fA = gA * F_BS * lower(P)  # <0|J_mu|B_s> (lower index), up to a phase
    fS = gP * F_BS * M_BS**2 / (MB_Q + MS_Q)
    if kind in ("fermion-vector", "rs-vector"):
        amp = pair_amplitudes_dirac if kind == "fermion-vector" else pair_amplitudes_rs
        Gam = [g @ (dL * PL + dR * PR) for g in GAMMA]  # upper index
        L = [amp(p1, p2, m, G_, self_conj) for G_ in Gam]
        M = sum(fA[a] * L[a] for a in range(4))
    elif kind in ("fermion-scalar", "fermion-pseudoscalar", "rs-scalar", "rs-pseudoscalar"):
        amp = pair_amplitudes_dirac if kind.startswith("fermion") else pair_amplitudes_rs
        Gam = ONE if kind.endswith("-scalar") else 1j * GAMMA5
        M = fS * amp(p1, p2, m, Gam, self_conj)
    elif kind == "scalar-scalar":  # <phi phi*| |phi|^2 |0> = 1; real: (1/2) <phi phi|phi^2|0> = 1
        M = np.full((len(p1), 1, 1), fS, dtype=complex)
    elif kind == "scalar-vector":  # i phi* d<->_mu phi -> (k1 - k2)_mu
        M = np.einsum("a,na->n", fA, (p1 - p2))[:, None, None].astype(complex)
    elif kind in ("vector-scalar", "vector-vector"):
        e1s, e2s = massive_polarisations(p1, m), massive_polarisations(p2, m)
        M = np.zeros((len(p1), 3, 3), dtype=complex)
        for i, e1 in enumerate(e1s):
            for j, e2 in enumerate(e2s):
                ee = dot(e1, e2)
                if kind == "vector-scalar":
                    M[:, i, j] = fS * ee
                else:
                    M[:, i, j] = np.einsum("a,na->n", fA, p1 - p2) * ee
    else:
        raise AssertionError(kind)
    msq = np.sum(np.abs(K * M) ** 2, axis=(1, 2))
    assert np.ptp(msq) <= 1e-9 * max(msq.max(), 1e-300)  # a spin-0 parent: no angular dependence
    beta = math.sqrt(1 - 4 * m * m / M_BS**2)
    sym = 0.5 if self_conj else 1.0
    return sym * msq[0] / (2 * M_BS) * beta / (8 * math.pi)


CASES = [
    ("fermion-vector", 0.4, 1.0, 0.0, 1.0, 0.0),
    ("fermion-vector", 1.3, 0.3, 1.0, -1.0, 1.0),
    ("fermion-vector", 0.7, 1.0, 0.0, 1.0, 1.0),  # vector invisible current: zero
    ("fermion-scalar", 0.9, 1.0, 0.2, 1.0, 1.0),
    ("fermion-pseudoscalar", 0.2, 0.0, 1.0, 1.0, 1.0),
    ("scalar-scalar", 1.1, 1.0, 0.0, 1.0, 1.0),
    ("scalar-vector", 0.5, 1.0, 0.0, 1.0, 1.0),  # P wave: zero
    ("vector-scalar", 0.6, 1.0, 0.0, 1.0, 1.0),
    ("vector-vector", 0.6, 1.0, 0.0, 1.0, 1.0),  # zero
    ("rs-vector", 0.8, 1.0, 0.0, 1.0, 0.0),
    ("rs-vector", 0.5, 0.0, 1.0, -1.0, 1.0),
    ("rs-scalar", 0.7, 1.0, 0.0, 1.0, 1.0),
    ("rs-pseudoscalar", 1.2, 0.5, 0.0, 1.0, 1.0),
]


@pytest.mark.parametrize("kind,m,cL,cR,dL,dR", CASES)
def test_width_matches_explicit_spin_states(kind, m, cL, cR, dL, dR):
    g, Lam = 1.0, 1.0e3
    width, reason = bs_pairs.pair_width(kind, m, g, Lam, cL, cR, dL, dR)
    K = bs_pairs.threebody.coefficient(kind, g, Lam)
    ref = _explicit_width(kind, m, K, cL, cR, dL, dR, False)
    if ref == 0.0 or ref < 1e-14 * _explicit_width(kind, m, K, 1.0, 0.0, 1.0, 0.0, False):
        assert width == 0.0 and reason
    else:
        assert width == pytest.approx(ref, rel=1e-9)
        assert reason == ""


@pytest.mark.parametrize("kind,m,cL,cR,dL,dR", [
    ("fermion-vector", 0.4, 1.0, 0.0, 1.0, 0.0),
    ("fermion-scalar", 0.9, 1.0, 0.2, 1.0, 1.0),
    ("fermion-pseudoscalar", 0.3, 1.0, 0.0, 1.0, 1.0),
    ("rs-vector", 0.8, 1.0, 0.0, -1.0, 1.0),
    ("rs-pseudoscalar", 1.2, 0.5, 0.0, 1.0, 1.0),
])
def test_majorana_width_from_antisymmetrised_amplitudes(kind, m, cL, cR, dL, dR):
    g, Lam = 1.0, 1.0e3
    width, _ = bs_pairs.pair_width(kind, m, g, Lam, cL, cR, dL, dR, self_conjugate=True)
    K = bs_pairs.threebody.coefficient(kind, g, Lam)
    assert width == pytest.approx(_explicit_width(kind, m, K, cL, cR, dL, dR, True), rel=1e-9)


def test_muon_limit_is_the_textbook_bs_to_mumu_width():
    """H = -(4 G_F/sqrt2) V (alpha/4pi) C10 (s̄ gamma_mu P_L b)(mū gamma^mu gamma5 mu):
    Gamma = G_F^2 alpha^2 |V|^2 f^2 m_Bs m_mu^2 beta |C10|^2 / (16 pi^3) (arXiv:1311.0903 eq. (2)
    without the Delta Gamma_s factor)."""
    GF, alpha, V, C10 = 1.1663787e-5, 1 / 127.952, 0.04185, -4.198
    m_mu = Particle.from_pdgid(13).mass / 1000.0
    K = 4 * GF / math.sqrt(2) * V * alpha / (4 * math.pi) * C10
    width, _ = bs_pairs.pair_width("fermion-vector", m_mu, K, 1.0, 1.0, 0.0, -1.0, 1.0)
    beta = math.sqrt(1 - 4 * m_mu**2 / M_BS**2)
    ref = GF**2 * alpha**2 * V**2 * F_BS**2 * M_BS * m_mu**2 * beta * C10**2 / (16 * math.pi**3)
    assert width == pytest.approx(ref, rel=1e-12)
    # and the branching ratio is the SM's (3.66 +- 0.14)e-9 of arXiv:1908.07011 once the
    # time-integration factor 1/(1 - y_s), y_s = 0.064 (HFLAV), is applied, within its error
    tau = Particle.from_pdgid(531).lifetime * 1e-9 / 6.582119569e-25
    assert width * tau / (1 - 0.064) == pytest.approx(3.66e-9, abs=2 * 0.14e-9 + 0.04 * 3.66e-9)


def test_time_integration_factors_span_a_delta_gamma():
    """(1 + A y_s) / (1 - y_s^2) at A = -1, +1 (arXiv:1204.1737), y_s = 0.129 / 2 (HFAG 2016)."""
    lo, hi = bs_pairs.time_integration_factors()
    y = 0.129 / 2
    assert lo == pytest.approx((1 - y) / (1 - y**2), rel=1e-12)
    assert hi == pytest.approx((1 + y) / (1 - y**2), rel=1e-12)
    assert bs_pairs.time_integration_factors(0.0) == (1.0, 1.0)  # no width difference
    with pytest.raises(EmissError, match="y_s"):
        bs_pairs.time_integration_factors(1.0)


@pytest.mark.parametrize("kind", ["fermion-tensor", "vector-tensor"])
def test_tensor_current_cannot_annihilate_bs(kind):
    w, reason = bs_pairs.pair_width(kind, 0.5, 1.0, 1e3, 1.0, 0.0)
    assert w == 0.0 and "tensor" in reason


def test_parity_even_quark_current_gives_zero():
    w, reason = bs_pairs.pair_width("fermion-pseudoscalar", 0.5, 1.0, 1e3, 1.0, 1.0)
    assert w == 0.0 and "c_L = c_R" in reason


def test_above_threshold_and_bad_mass():
    assert bs_pairs.pair_width("fermion-scalar", 2.7, 1.0, 1e3)[0] == 0.0
    with pytest.raises(EmissError, match="m_X"):
        bs_pairs.pair_width("vector-scalar", 0.0, 1.0, 1e3)
    with pytest.raises(EmissError, match="m_X"):
        bs_pairs.pair_width("fermion-scalar", float("nan"), 1.0, 1e3)


def test_every_scenario_has_a_rate_or_a_reason():
    """Each registered scenario gives a non-negative finite B(B_s -> X X̄), with a reason when 0;
    the self-conjugate pairs are half their Dirac / complex partners."""
    seen = 0
    for scen in list_scenarios():
        r = bs_pairs.scenario_rate(scen)
        assert math.isfinite(r.branching_ratio) and r.branching_ratio >= 0.0
        assert (r.branching_ratio == 0.0) == bool(r.reason), scen.name
        seen += r.branching_ratio > 0
    assert seen >= 8
    pairs = [("threebody-fermion-axial", "threebody-fermion-axial-majorana"),
             ("threebody-fermion-scalar", "threebody-fermion-scalar-majorana"),
             ("threebody-scalar-s", "threebody-scalar-s-real"),
             ("threebody-vector-s", "threebody-vector-s-real"),
             ("threebody-spin32-pseudoscalar", "threebody-spin32-pseudoscalar-majorana")]
    for dirac, maj in pairs:
        a = bs_pairs.scenario_rate(get_scenario(dirac)).branching_ratio
        b = bs_pairs.scenario_rate(get_scenario(maj)).branching_ratio
        assert b == pytest.approx(a / 2, rel=1e-12), (dirac, maj)


def test_rate_scales_with_coupling_squared():
    s = get_scenario("threebody-fermion-pseudoscalar")
    a = bs_pairs.scenario_rate(s, 0.5, {"g": 1.0}).branching_ratio
    b = bs_pairs.scenario_rate(s, 0.5, {"g": 3.0}).branching_ratio
    assert b == pytest.approx(9 * a, rel=1e-12)
