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
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from emiss.errors import EmissError
from emiss.physics import constants as C
from emiss.physics.kinematics import kallen_clipped

log = logging.getLogger(__name__)

PROCESSES: tuple[str, ...] = ("B+->K+", "B0->K0", "B0->K*0", "B+->K*+")
#: b -> d, B_s -> phi and s -> d modes (light-X vector-current scenarios and emiss.models).
RELATED_PROCESSES: tuple[str, ...] = ("B+->pi+", "B0->pi0", "B+->rho+", "B0->rho0", "Bs->phi",
                                      "K+->pi+", "KL->pi0")
ALL_PROCESSES: tuple[str, ...] = PROCESSES + RELATED_PROCESSES
#: B_s -> invisible: the whole B_s goes into the invisible system, so q^2 = m_Bs^2 exactly. No
#: meson, no form factors (the decay constant f_Bs instead, ``emiss.physics.bs_pairs``); pair
#: scenarios predict it (``Scenario.spectrum``), every other scenario gives 0 there.
BS_INVISIBLE = "Bs->invisible"
#: Decays of a parent into the invisible system alone (``get_process`` knows them; they are not in
#: ALL_PROCESSES, whose members are B -> M transitions with form factors).
INVISIBLE_PROCESSES: tuple[str, ...] = (BS_INVISIBLE,)



def mass_range_text(limit: float, n_particles: int, allow_zero: bool) -> str:
    """The allowed mass range as every error message states it, e.g. "0 < m_X < 4.7857 GeV".

    Args:
        limit: the endpoint (m_B - m_M) / n_particles in GeV (``Process.mass_limit``).
        n_particles: 1 (two-body) or 2 (pair).
        allow_zero: whether m = 0 is physical (not for spin-1 X: the longitudinal rate grows
            as 1/m^2, see ``emiss.physics.twobody.twobody_vector`` and
            ``emiss.physics.threebody``).

    Returns:
        The range text.
    """
    what = "m_X" if n_particles == 1 else "m_X (each of the pair)"
    return f"{'0 <=' if allow_zero else '0 <'} {what} < {limit:.4f} GeV"


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
        ff_kind: form-factor kind ("B->K", "B->K*", "B->pi", "B->rho", "Bs->phi", "K->pi"; ""
            for the decays into the invisible system alone, INVISIBLE_PROCESSES).
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

    def mass_limit(self, n_particles: int = 1) -> float:
        """The kinematic endpoint of the invisible mass: n equal-mass particles need
        n m_X < m_B - m_M (energy conservation in the parent's rest frame).

        Args:
            n_particles: 1 (two-body B -> M X) or 2 (a pair, B -> M X X̄).

        Returns:
            (m_B - m_M) / n_particles in GeV (each mass must stay below it).
        """
        return (self.m_B - self.m_M) / n_particles

    @property
    def has_form_factors(self) -> bool:
        """Whether the rate depends on form factors (not for INVISIBLE_PROCESSES)."""
        return bool(self.ff_kind)

    @property
    def q2_max(self) -> float:
        """Kinematic endpoint (m_B - m_M)^2 in GeV^2."""
        return self.mass_limit() ** 2

    def check_mass(self, mass: Any, n_particles: int = 1, allow_zero: bool = True,
                   owner: str = "") -> float:
        """Validate an invisible-particle mass against the kinematic endpoint (``mass_limit``).

        Args:
            mass: mass of each invisible particle in GeV.
            n_particles: 1 (two-body) or 2 (pair).
            allow_zero: whether m = 0 is physical for this scenario.
            owner: who the mass belongs to, for the message (e.g. "of scenario 'x'").

        Returns:
            The mass as float.

        Raises:
            EmissError: not a number, NaN or infinite, negative, zero when not allowed, or at
                or above the endpoint; the message states the valid range.
        """
        try:
            m = float(mass)
        except (TypeError, ValueError):
            raise EmissError(f"mass {mass!r} is not a number (GeV)") from None
        limit = self.mass_limit(n_particles)
        valid = f"valid: {mass_range_text(limit, n_particles, allow_zero)}"
        who = f" {owner}" if owner else ""
        if not math.isfinite(m) or m < 0 or (m == 0 and not allow_zero):
            raise EmissError(f"mass {m:g} GeV{who} is invalid for {self.name}; {valid}")
        if m >= limit:
            raise EmissError(f"mass {m:g} GeV{who} is at or above the kinematic endpoint of "
                             f"{self.name}; {valid}")
        return m

    def lam(self, q2: ArrayLike) -> np.ndarray:
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
    if name in INVISIBLE_PROCESSES:
        return _invisible_process(name)
    if name not in _DEF:
        raise EmissError(f"unknown process {name!r}; valid: "
                         f"{', '.join(ALL_PROCESSES + INVISIBLE_PROCESSES)}")
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


def _invisible_process(name: str) -> Process:
    """The Process of a decay into the invisible system alone (``INVISIBLE_PROCESSES``).

    No meson (m_M = 0, ``meson`` ""), no form factors (``ff_kind`` ""): q2_max = m_parent^2 is
    the one q^2 the decay has, and ``mass_limit(n)`` = m_parent / n is the pair endpoint.

    Args:
        name: one of INVISIBLE_PROCESSES.

    Returns:
        The Process (PDG mass and lifetime of the parent).
    """
    parent = name.split("->", 1)[0]
    return Process(name=name, parent=parent, meson="", m_B=C.mass(parent), m_M=0.0,
                   tau_B=C.lifetime_gev(parent), tau_B_s=C.lifetime_s(parent),
                   is_vector=False, ff_kind="", transition="b->s", iso_factor=1.0)
