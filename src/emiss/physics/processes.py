"""The four B -> K(*) processes and the related modes: masses, lifetimes, kinematic range.

Masses and lifetimes are PDG values via ``emiss.physics.constants`` (``particle`` package).
"B0->K0" means the neutral kaon K0 (not K_S): the rate is for B0 -> K0 nu nubar.

Related modes (``RELATED_PROCESSES``; b -> d: B -> pi, B -> rho; b -> s: B_s -> phi;
s -> d: K -> pi) share the light-X quark-current machinery. ``iso_factor`` multiplies the squared
hadronic amplitude: 1/2 for a final pi0 or rho0 from a B0 (|pi0> = (|uū> - |dd̄>)/sqrt(2), so
<pi0|d̄ gamma b|B0> = -<pi+|d̄ gamma b|B+>/sqrt(2) in the isospin limit). "KL->pi0" is CP
violating: for a coupling g of the s -> d current only Im(g) contributes, and
|A(K_L -> pi0 X)|^2 = |A(K+ -> pi+ X)|^2 (Im g/|g|)^2 in the isospin limit (Grossman, Nir,
arXiv:hep-ph/9701313); its scenario coupling ``g`` therefore means Im(g_sd), iso_factor 1.
The narrow-width approximation is used for rho and phi (PDG widths 149 MeV and 4.2 MeV).
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
#: b -> d, B_s -> phi and s -> d modes (light-X vector-current scenarios and emiss.models).
RELATED_PROCESSES: tuple[str, ...] = ("B+->pi+", "B0->pi0", "B+->rho+", "B0->rho0", "Bs->phi",
                                      "K+->pi+", "KL->pi0")
ALL_PROCESSES: tuple[str, ...] = PROCESSES + RELATED_PROCESSES

# name: (parent, meson, is_vector, ff_kind, transition, iso_factor)
_DEF = {
    "B+->K+": ("B+", "K+", False, "B->K", "b->s", 1.0),
    "B0->K0": ("B0", "K0", False, "B->K", "b->s", 1.0),
    "B0->K*0": ("B0", "K*0", True, "B->K*", "b->s", 1.0),
    "B+->K*+": ("B+", "K*+", True, "B->K*", "b->s", 1.0),
    "B+->pi+": ("B+", "pi+", False, "B->pi", "b->d", 1.0),
    "B0->pi0": ("B0", "pi0", False, "B->pi", "b->d", 0.5),
    "B+->rho+": ("B+", "rho+", True, "B->rho", "b->d", 1.0),
    "B0->rho0": ("B0", "rho0", True, "B->rho", "b->d", 0.5),
    "Bs->phi": ("Bs", "phi", True, "Bs->phi", "b->s", 1.0),
    "K+->pi+": ("K+", "pi+", False, "K->pi", "s->d", 1.0),
    "KL->pi0": ("K_L", "pi0", False, "K->pi", "s->d", 1.0),
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
        is_vector: True for vector final states (K*, rho, phi).
        ff_kind: form-factor kind ("B->K", "B->K*", "B->pi", "B->rho", "Bs->phi", "K->pi").
        transition: quark transition, "b->s", "b->d" or "s->d".
        iso_factor: multiplier of the squared hadronic amplitude (1/2 for pi0, rho0 from B0).
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
    transition: str = "b->s"
    iso_factor: float = 1.0

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
        name: one of ALL_PROCESSES, e.g. "B+->K+" or "B+->pi+".

    Returns:
        The Process.

    Raises:
        EmissError: unknown name (the message lists the valid ones).
    """
    if name not in _DEF:
        raise EmissError(f"unknown process {name!r}; valid: {', '.join(ALL_PROCESSES)}")
    parent, meson, vec, kind, transition, iso = _DEF[name]
    return Process(
        name=name,
        parent=parent,
        meson=meson,
        m_B=C.mass(parent),
        m_M=C.mass(meson),
        tau_B=C.lifetime_gev(parent),
        tau_B_s=C.lifetime_s(parent),
        is_vector=vec,
        ff_kind=kind,
        transition=transition,
        iso_factor=iso,
    )
