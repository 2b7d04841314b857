"""The four B -> K(*) processes: masses, lifetimes, kinematic range.

Masses and lifetimes are PDG values via ``emiss.physics.constants`` (``particle`` package).
"B0->K0" means the neutral kaon K0 (not K_S): the rate is for B0 -> K0 nu nubar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from emiss.errors import EmissError
from emiss.physics import constants as C
from emiss.physics.kinematics import kallen_clipped

log = logging.getLogger(__name__)

PROCESSES: tuple[str, ...] = ("B+->K+", "B0->K0", "B0->K*0", "B+->K*+")

_DEF = {
    "B+->K+": ("B+", "K+", False),
    "B0->K0": ("B0", "K0", False),
    "B0->K*0": ("B0", "K*0", True),
    "B+->K*+": ("B+", "K*+", True),
}


@dataclass(frozen=True)
class Process:
    """One B -> M transition.

    Attributes:
        name: one of PROCESSES.
        parent, meson: particle labels (keys of constants.PDGID).
        m_B, m_M: masses in GeV (PDG).
        tau_B: parent lifetime in GeV^-1 (tau/hbar), so that B = tau_B * Gamma with Gamma in GeV.
        tau_B_s: parent lifetime in seconds.
        is_vector: True for K* final states.
        ff_kind: "B->K" or "B->K*".
    """

    name: str
    parent: str
    meson: str
    m_B: float
    m_M: float
    tau_B: float
    tau_B_s: float
    is_vector: bool
    ff_kind: str

    @property
    def q2_max(self) -> float:
        """Kinematic endpoint (m_B - m_M)^2 in GeV^2."""
        return (self.m_B - self.m_M) ** 2

    def lam(self, q2):
        """Kallen lambda(m_B^2, m_M^2, q^2) in GeV^4 (clipped at 0)."""
        return kallen_clipped(self.m_B**2, self.m_M**2, np.asarray(q2, dtype=float))


def get_process(name: str) -> Process:
    """Look up a process by name.

    Args:
        name: one of PROCESSES, e.g. "B+->K+".

    Returns:
        The Process.

    Raises:
        EmissError: unknown name (the message lists the valid ones).
    """
    if name not in _DEF:
        raise EmissError(f"unknown process {name!r}; valid: {', '.join(PROCESSES)}")
    parent, meson, vec = _DEF[name]
    return Process(
        name=name,
        parent=parent,
        meson=meson,
        m_B=C.mass(parent),
        m_M=C.mass(meson),
        tau_B=C.lifetime_gev(parent),
        tau_B_s=C.lifetime_s(parent),
        is_vector=vec,
        ff_kind="B->K*" if vec else "B->K",
    )
