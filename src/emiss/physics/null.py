"""The SM B+ -> K+ nu nubar spectrum Belle II's reweighting uses as its null hypothesis.

Belle II's released likelihood (arXiv:2507.12393, HEPData ins2947386) describes the signal
template by "joint number densities" of SM signal MC; reinterpretations reweight them by the
ratio of a new hypothesis' q² density to this null density, integrated per generated-q² bin
(arXiv:2507.12393 sec. IV; the method of Gärtner et al. arXiv:2402.08417, "redist"). The null is
the HPQCD prediction of arXiv:2207.13371 eq. (16) with the vector form factor of arXiv:2207.12468:

    dB/dq² = tau_B G_F² alpha² X_t² |V_tb V_ts^*|² / (32 pi^5 sin^4 theta_W) |p_K|³ f_+(q²)²,
    |p_K| = λ^½(m_B², m_K², q²) / (2 m_B),
    f_+(q²) = L / (1 - q²/M_Bs*²) · sum_{n<3} a_n [z^n - (n/3)(-1)^(n-3) z³],
    z(q²) = (sqrt(t_+ - q²) - sqrt(t_+)) / (sqrt(t_+ - q²) + sqrt(t_+)),  t_+ = (m_B + m_K)²,

with (a_0, a_1, a_2) = (0.2545, -0.71, 0.32) (2207.12468 table V), L = 1.304 (the chiral-log
factor of the same fit) and the constants of Belle II's public reinterpretation code
(knunu-reinterpretation-mini, scripts/utils.py): G_F = 1.1663787e-5 GeV⁻², 1/alpha = 127.952,
X_t = 1.468, sin² theta_W = 0.23124, |V_tb V_ts^*| = 0.04185, m_B = 5.279495 GeV,
m_K = 0.495644 GeV, M_Bs* = 5.4158 GeV, tau_B = 1.638 ps. It integrates to
B = 4.966e-6 over 0 <= q² <= (m_B - m_K)², Belle II's mu = 1 normalisation ("4.97e-6").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from emiss.physics import constants as C
from emiss.physics.spectrum import Spectrum

#: Inputs of Belle II's null prediction (knunu-reinterpretation-mini scripts/utils.py).
M_B: float = 5.279495
M_K: float = 0.4956440
M_BS_STAR: float = 5.4158
TAU_B_S: float = 1.638e-12
HBAR_GEV_S: float = 6.58211e-25
FPLUS_COEFFICIENTS: tuple[float, float, float] = (0.2545, -0.71, 0.32)
LOG_FACTOR: float = 1.304
#: The process this null describes.
PROCESS = "B+->K+"


def fplus(q2: ArrayLike) -> np.ndarray:
    """HPQCD f_+(q²) with three z coefficients as in the module docstring (2207.12468)."""
    q2 = np.asarray(q2, dtype=float)
    t_plus = (M_B + M_K) ** 2
    a, b = np.sqrt(t_plus - q2), np.sqrt(t_plus)
    z = (a - b) / (a + b)
    n_par = len(FPLUS_COEFFICIENTS)
    series = sum(c * (z**n - (n / n_par) * (-1.0) ** (n - n_par) * z**n_par)
                 for n, c in enumerate(FPLUS_COEFFICIENTS))
    return LOG_FACTOR * series / (1.0 - q2 / M_BS_STAR**2)


def null_dbdq2(q2: ArrayLike) -> np.ndarray:
    """dB/dq² (GeV⁻²) of the null spectrum; zero outside 0 <= q² <= (m_B - m_K)²."""
    q2 = np.asarray(q2, dtype=float)
    m_b2, m_k2 = M_B**2, M_K**2
    lam = m_b2**2 + m_k2**2 + q2**2 - 2.0 * (m_b2 * m_k2 + m_k2 * q2 + m_b2 * q2)
    inside = (q2 >= 0.0) & (q2 <= (M_B - M_K) ** 2)
    p_k3 = np.where(inside, np.clip(lam, 0.0, None), 0.0) ** 1.5 / (2.0 * M_B) ** 3
    norm = (C.G_F**2 * C.ALPHA_EM**2 * C.X_T**2 / (32.0 * np.pi**5 * C.SIN2_THETA_W**2)
            * (TAU_B_S / HBAR_GEV_S) * C.VTB_VTS**2)
    return norm * p_k3 * np.where(inside, fplus(np.where(inside, q2, 0.0)), 0.0) ** 2


def null_spectrum() -> Spectrum:
    """The null spectrum as an emiss Spectrum (process B+ -> K+)."""
    return Spectrum(process=PROCESS, q2_min=0.0, q2_max=(M_B - M_K) ** 2, continuum=null_dbdq2,
                    label="Belle II null (HPQCD, arXiv:2207.13371 eq. (16))")
