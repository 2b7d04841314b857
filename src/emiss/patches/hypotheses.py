"""Grid entries checked against the physics stage, and the patch stage's door to the physics.

``resolve_entry`` checks an entry against its scenario (mass needed? parameters known?) and
fixes its labels; ``check_masses`` rejects masses beyond the kinematic endpoint before any work.
``scenario``, ``central_ff``, ``ff_samples`` and ``process`` are the only calls of the patch
stage into ``emiss.physics`` (templates call them through this module, so tests can replace the
physics by stand-ins).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emiss.errors import EmissError
from emiss.patches.grid import GridEntry, Hypothesis, sanitize
from emiss.physics import formfactors
from emiss.physics.constants import C_L_SM
from emiss.physics.formfactors import FormFactors
from emiss.physics.processes import Process, get_process
from emiss.physics.scenarios import Scenario, get_scenario

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- physics calls
def scenario(name: str) -> Scenario:
    """The Scenario registered under name (``emiss.physics.scenarios.get_scenario``)."""
    return get_scenario(name)


def central_ff(kind: str) -> FormFactors:
    """Central form factors of a family ("B->K", "B->K*")."""
    return formfactors.central(kind)


def ff_samples(kind: str, n: int, seed: int) -> list[FormFactors]:
    """n correlated form-factor draws of a family with a fixed seed."""
    return formfactors.sample(kind, n, seed=seed)


def process(name: str) -> Process:
    """The Process (masses, form-factor family) of a decay name such as "B+->K+"."""
    return get_process(name)


def sm_c_l() -> float:
    """C_L of the SM (the label of the SM patch)."""
    return float(C_L_SM)


# ------------------------------------------------------------------------------- checks
def check_masses(scenario: Scenario, masses: Sequence[float], processes: Sequence[str]) -> None:
    """Reject masses at or above the kinematic endpoint before any work is done.

    Two-body: m_X < m_B - m_M; pairs: m_X < (m_B - m_M) / 2 (each of the pair): the process'
    rule (``emiss.physics.processes.Process.check_mass``), as the physics stage applies it.

    Args:
        scenario: Scenario (``multiplicity`` 2 or 3 is checked).
        masses: m_X values in GeV.
        processes: processes of the workspace.
    """
    n = {2: 1, 3: 2}.get(int(getattr(scenario, "multiplicity", 1)))
    if n is None:
        return
    # m_X = 0 is unphysical for spin >= 1 (rates grow as 1/m^2 or 1/m^4), as in the physics stage
    allow_zero = bool(getattr(scenario, "massless_allowed", True))
    for proc in processes:
        p = process(proc)
        for m in masses:
            p.check_mass(m, n, allow_zero, owner=f"of scenario {scenario.name!r}")


@dataclass
class ResolvedEntry:
    """A grid entry checked against its scenario: labels and hypotheses."""

    entry: GridEntry
    scenario: Scenario
    labels: list[str]
    hypotheses: list[Hypothesis]


def resolve_entry(entry: GridEntry) -> ResolvedEntry:
    """Check an entry against its scenario (mass needed? parameters known?) and fix labels.

    Scenarios without coordinates get labels from their parameters (defaults), and the SM gets
    labels (C_L, C_R) = (C_L^SM, 0) (arXiv:1409.4557 eq. (6)), so that every PatchSet has labels.

    Args:
        entry: the grid entry.

    Returns:
        ResolvedEntry.
    """
    scen = scenario(entry.scenario)
    needs_mass = bool(getattr(scen, "needs_mass", False))
    if needs_mass and entry.masses is None:
        raise EmissError(f"scenario {scen.name!r} needs masses (--masses, e.g. 0:4.7:0.1)")
    if not needs_mass and entry.masses is not None:
        raise EmissError(f"scenario {scen.name!r} has no mass; drop --masses")
    known = dict(getattr(scen, "parameters", {}) or {})
    for p in list(entry.params) + list(entry.fixed):
        if p not in known:
            raise EmissError(
                f"unknown parameter {p!r} for scenario {scen.name!r}; valid: "
                f"{', '.join(known) or '(none)'}"
            )
    hyps = entry.hypotheses()
    labels = entry.labels
    if not labels:
        if known:
            params = tuple((p, float(parameter_default(known[p]))) for p in known)
        else:
            params = (("C_L", sm_c_l()), ("C_R", 0.0))
        labels = [sanitize(p) for p, _ in params]
        hyps = [Hypothesis(scenario=entry.scenario, mass=None, params=params,
                           labels=tuple(labels), name=sanitize(entry.scenario))]
    return ResolvedEntry(entry=entry, scenario=scen, labels=labels, hypotheses=hyps)



def parameter_default(pinfo: Any) -> float:
    """Default value of a scenario parameter (dict, tuple or object with default/value)."""
    if isinstance(pinfo, Mapping):
        return float(pinfo["default"])
    if isinstance(pinfo, (tuple, list)):
        return float(pinfo[0])
    for attr in ("default", "value"):
        if hasattr(pinfo, attr):
            return float(getattr(pinfo, attr))
    return float(pinfo)

