"""The CKM matrix (complex) and the top-quark combinations lambda_t^{ij} = V_ti^* V_tj.

Standard parameterisation of the PDG review "CKM quark-mixing matrix" (eq. (12.3) there),
built from four inputs, as collected (with these sources) in flavio's
``flavio/data/parameters_uncorrelated.yml``:

* |V_us| = 0.2248(6)      FLAG 2023, N_f = 2+1+1 (arXiv:2111.09849 and its 2023 web update)
* |V_ub| = 3.64(16)e-3    FLAG 2023, N_f = 2+1, from B -> pi l nu
* |V_cb| = 41.97(48)e-3   Bordone, Capdevila, Gambino, arXiv:2310.20324 (inclusive)
* gamma  = 1.15(6) rad    HFLAV 2022, B -> D K

s13 = |V_ub|, s12 = |V_us|/c13, s23 = |V_cb|/c13; the phase delta is solved so that
gamma = arg(-V_ud V_ub^* / (V_cd V_cb^*)) equals the input exactly (delta and gamma differ by
O(1e-3) rad). The matrix is exactly unitary.

Transitions are named "b->s", "b->d", "s->d"; lambda_t of "i->j" with the quark current
d̄_j gamma^mu P_L d_i ("b->s": s̄ ... b) is V_tj^* V_ti (the talk's V_ti^* V_tj with i, j
the labels of d̄_i ... d_j), e.g. "b->s": V_ts^* V_tb.

``vtd_over_vts()`` gives |V_td/V_ts| with its 1 sigma uncertainty, propagated linearly from the
four inputs' uncertainties above (they are independent measurements); the SM b -> d nu nubar
rates scale the b -> s normalisation by its square.
"""

from __future__ import annotations

import logging
import math
from functools import cache

import numpy as np
from scipy.optimize import brentq

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: |V_us| (FLAG 2023, N_f = 2+1+1).
V_US: float = 0.2248
#: |V_ub| (FLAG 2023, N_f = 2+1, B -> pi l nu).
V_UB: float = 3.64e-3
#: |V_cb| (arXiv:2310.20324).
V_CB: float = 41.97e-3
#: CKM angle gamma in rad (HFLAV 2022).
GAMMA: float = 1.15
#: 1 sigma uncertainties of the four inputs (same sources as the values).
INPUT_UNCERTAINTIES: dict[str, float] = {"V_us": 0.0006, "V_ub": 0.16e-3, "V_cb": 0.48e-3,
                                         "gamma": 0.06}

#: quark index of each down-type flavour
_IDX = {"d": 0, "s": 1, "b": 2}
TRANSITIONS: tuple[str, ...] = ("b->s", "b->d", "s->d")


def _matrix(delta: float, v_us: float = V_US, v_ub: float = V_UB,
            v_cb: float = V_CB) -> np.ndarray:
    s13 = v_ub
    c13 = math.sqrt(1.0 - s13**2)
    s12 = v_us / c13
    c12 = math.sqrt(1.0 - s12**2)
    s23 = v_cb / c13
    c23 = math.sqrt(1.0 - s23**2)
    e = np.exp(1j * delta)
    return np.array([
        [c12 * c13, s12 * c13, s13 / e],
        [-s12 * c23 - c12 * s23 * s13 * e, c12 * c23 - s12 * s23 * s13 * e, s23 * c13],
        [s12 * s23 - c12 * c23 * s13 * e, -c12 * s23 - s12 * c23 * s13 * e, c23 * c13],
    ])


def _gamma_of(V: np.ndarray) -> float:
    return float(np.angle(-V[0, 0] * np.conj(V[0, 2]) / (V[1, 0] * np.conj(V[1, 2]))))


def _solve(v_us: float, v_ub: float, v_cb: float, gamma: float) -> np.ndarray:
    """The unitary matrix whose angle gamma equals the input (delta solved by brentq)."""
    delta = brentq(lambda d: _gamma_of(_matrix(d, v_us, v_ub, v_cb)) - gamma, gamma - 0.2,
                   gamma + 0.2, xtol=1e-14)
    return _matrix(delta, v_us, v_ub, v_cb)


@cache
def ckm_matrix() -> np.ndarray:
    """The 3x3 complex CKM matrix V (rows u, c, t; columns d, s, b).

    Returns:
        Read-only complex array.
    """
    V = _solve(V_US, V_UB, V_CB, GAMMA)
    V.setflags(write=False)
    return V


def _td_over_ts(v_us: float, v_ub: float, v_cb: float, gamma: float) -> float:
    V = _solve(v_us, v_ub, v_cb, gamma)
    return float(abs(V[2, 0]) / abs(V[2, 1]))


@cache
def vtd_over_vts() -> tuple[float, float]:
    """|V_td/V_ts| of ``ckm_matrix()`` and its 1 sigma uncertainty.

    The uncertainty propagates INPUT_UNCERTAINTIES linearly (central differences of +-1 sigma,
    added in quadrature); |V_ub| and gamma dominate, |V_cb| nearly cancels in the ratio.

    Returns:
        (value, uncertainty).
    """
    central = {"V_us": V_US, "V_ub": V_UB, "V_cb": V_CB, "gamma": GAMMA}
    r0 = _td_over_ts(**{k.lower(): v for k, v in central.items()})
    var = 0.0
    for name, sig in INPUT_UNCERTAINTIES.items():
        up = {k.lower(): v + (sig if k == name else 0.0) for k, v in central.items()}
        dn = {k.lower(): v - (sig if k == name else 0.0) for k, v in central.items()}
        var += (0.5 * (_td_over_ts(**up) - _td_over_ts(**dn))) ** 2
    return r0, float(math.sqrt(var))


def lambda_t(transition: str) -> complex:
    """V_tj^* V_ti for the transition "i->j" (quark current d̄_j ... d_i).

    Args:
        transition: "b->s", "b->d" or "s->d".

    Returns:
        The complex CKM product (e.g. "b->s": V_ts^* V_tb).
    """
    try:
        i, j = (_IDX[q] for q in transition.split("->"))
    except (KeyError, ValueError):
        raise EmissError(f"unknown transition {transition!r}; valid: "
                         f"{', '.join(TRANSITIONS)}") from None
    V = ckm_matrix()
    return complex(np.conj(V[2, j]) * V[2, i])
