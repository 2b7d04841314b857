"""What mu means and what a patch says about itself: reference branching ratios and metadata.

Normalisation (what mu means), the same for every scenario:
    mu = B(hypothesis, first process of the workspace) / ``reference_branching_ratio``; the
    other processes of a workspace follow with the rate ratios the physics predicts. The
    reference is
    * light invisible X (two-body lines, three-body pairs): ``LIGHT_X_REFERENCE_BR`` = 1e-5, and
      the coupling at mu is ``coupling.reference_value * sqrt(mu)`` (rate ~ coupling^2);
    * heavy new physics (C_L, C_R): the hypothesis' own branching ratio (mu = 1 is the
      hypothesis; limits mu < 1 exclude it);
    * the SM: 4.97e-6 for B+ -> K+ nu nubar, the short-distance SM value Belle II normalises
      mu = 1 to (arXiv:2311.14647; shared/reference/belle2.md 1.2), so that the SM patch
      reproduces ``emiss measure``; other processes: the computed SM value.

The ``emiss`` block of each patch's metadata states it (``emiss_block``; its contract is the
schema ``patch`` of ``emiss.contracts``), together with the physics a later stage needs of the
hypothesis: for B -> K* hypotheses the K* polarisation (``polarisation``), so that the scan copies
it into its rows instead of computing it; the PatchSet description says it in words
(``describe``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from emiss.bundles.bundle import SM_REFERENCE_BR
from emiss.contracts import PATCH_FORMAT, Polarisation
from emiss.errors import EmissError
from emiss.io import round_sig
from emiss.patches.hypotheses import parameter_default
from emiss.physics.observables import fl_row
from emiss.physics.scenarios import get_scenario

log = logging.getLogger(__name__)

__all__ = ["KSTAR_PROCESSES", "LIGHT_X_REFERENCE_BR", "SM_REFERENCE_BR", "describe",
           "emiss_block", "polarisation"]

#: mu = 1 <-> B(B -> K X) (or B(B -> K X X̄)) = 1e-5 for light invisible particles: a round
#: number of the size of the Belle II excess (B ~ 0.9e-5, arXiv:2311.14629).
LIGHT_X_REFERENCE_BR = 1e-5
#: B -> K* processes whose polarisation a patch carries (the first the workspace measures).
KSTAR_PROCESSES = ("B0->K*0", "B+->K*+")
#: Significant digits of the polarisation fields: those of the scan's result rows
#: (``emiss.inference.results.SIG_DIGITS``), which copy them.
FL_DIGITS = 10


def _sig(x: float, digits: int = 8) -> float:
    """A number of the ``emiss`` block, rounded to ``digits`` significant digits."""
    return round_sig(x, digits, flush=False)


def _fl(x: float | None) -> float | None:
    """A polarisation number as the rows write it (FL_DIGITS digits; None when undefined)."""
    return round_sig(x, FL_DIGITS, flush=False, nonfinite="none")


def polarisation(scenario: str, processes: Sequence[str], mass: float | None,
                 params: Mapping[str, float]) -> Polarisation | None:
    """The K* longitudinal polarisation of a hypothesis on a workspace measuring B -> K*.

    F_L and the binned <F_L> (``emiss.physics.observables.fl_row``, default q^2 edges) of the
    spectrum ``get_scenario(scenario).spectrum(process, mass, params)`` with central form
    factors; F_L does not depend on the overall coupling, so the defaults of parameters not
    given are right.

    Args:
        scenario: scenario name.
        processes: processes of the workspace; the first of KSTAR_PROCESSES among them is used.
        mass: m_X in GeV (None without a mass).
        params: the hypothesis' parameters.

    Returns:
        The Polarisation, or None when the workspace measures no B -> K* process (or the
        scenario cannot say, with a warning).
    """
    proc = next((p for p in KSTAR_PROCESSES if p in processes), None)
    if proc is None:
        return None
    try:
        spec = get_scenario(scenario).spectrum(proc, mass=mass, params=dict(params))
        fl = fl_row(spec)
    except EmissError as exc:
        log.warning("no F_L for scenario %r (%s): %s", scenario, proc, exc)
        return None
    return Polarisation(process=proc, FL=_fl(fl["FL"]),
                        FL_binned=[_fl(v) for v in fl["FL_binned"]],
                        FL_q2_edges=list(fl["FL_q2_edges"]))


def emiss_block(scen: Any, hyp: Any, params: Mapping[str, float], processes: Sequence[str],
                ref: float, br0: float, scale: float, br_central: Mapping[str, float]) -> dict:
    """The ``emiss`` block of one patch's metadata (docs/interfaces.md, patches).

    Args:
        scen: the Scenario.
        hyp: the Hypothesis (its ``mass``).
        params: the hypothesis' parameters.
        processes: processes of the workspace, the first one setting mu's reference.
        ref: the branching ratio of the first process at mu = 1.
        br0: the hypothesis' own branching ratio of the first process.
        scale: ref / br0 (the factor applied to the hypothesis' yields).
        br_central: process -> the hypothesis' branching ratio (central form factors).

    Returns:
        JSON-ready dict (contract ``patch`` of ``emiss.contracts``).
    """
    coupling = getattr(scen, "coupling", None)
    block: dict[str, Any] = {
        "format": PATCH_FORMAT,
        "scenario": scen.name,
        "process": processes[0],
        "reference_branching_ratio": _sig(ref),
        "coupling": None,
    }
    if coupling:
        known = dict(getattr(scen, "parameters", {}) or {})
        g = float(params.get(coupling, parameter_default(known[coupling]) if coupling in known
                             else float("nan")))
        block["coupling"] = {"name": coupling, "reference_value": _sig(g * math.sqrt(scale))}
    if len(processes) > 1:
        block["reference_branching_ratios"] = {
            p: _sig(br_central[p] * scale) for p in processes}
    if scen.name == "sm":
        block["predicted_branching_ratio"] = _sig(br0)
    from emiss.physics.user import record_of

    user = record_of(scen.name)
    if user is not None:  # a user's table: what it was, and its own rate
        block["user_spectrum"] = {**user, "branching_ratio": _sig(br0)}
    if hyp.mass is not None:
        block["m_X"] = hyp.mass
    if params:
        block["parameters"] = {k: float(v) for k, v in sorted(params.items())}
    pol = polarisation(scen.name, processes, hyp.mass, block.get("parameters", {}))
    if pol is not None:
        block["polarisation"] = pol.to_dict()
    return block


def describe(scen: Any, target: Any, labels: Sequence[str]) -> str:
    """PatchSet description saying what mu means.

    Args:
        scen: the Scenario.
        target: the workspace (``emiss.bundles.Bundle``: ``name``, ``processes()``).
        labels: the PatchSet labels.

    Returns:
        One paragraph.
    """
    mult = int(getattr(scen, "multiplicity", 1))
    first = target.processes()[0]
    if mult in (2, 3):
        mu = (f"mu = B({first.replace('->', ' -> ')} + invisible) / reference_branching_ratio "
              f"(patch metadata emiss block; {LIGHT_X_REFERENCE_BR:g}); the coupling at mu is "
              "coupling.reference_value * sqrt(mu). Sample 'sm_nunu' is the SM nu nubar "
              "prediction, fixed (no mu), with its form-factor uncertainty")
    elif scen.name == "sm":
        mu = (f"mu = B({first.replace('->', ' -> ')} nu nubar) / reference_branching_ratio "
              "(4.97e-6 for B+ -> K+, Belle II's short-distance SM normalisation)")
    else:
        mu = ("mu = B / reference_branching_ratio, the branching ratio the hypothesis predicts: "
              "mu = 1 is the hypothesis itself (mu < 1 at 95% CL excludes it)")
    from emiss.physics.user import record_of

    user = record_of(scen.name)
    if user is not None:
        mu += (f". The hypothesis is a user spectrum: {user['label']} (sha256 {user['sha256']}), "
               "its own branching ratio in each patch's emiss.user_spectrum")
    return (f"emiss {scen.name} hypotheses ({', '.join(labels)}) for workspace {target.name}: "
            f"sample 'signal' with normfactor 'mu' in every channel measuring {first}; {mu}. "
            "Form-factor uncertainties: histosys ff_*_pc* (principal components of sampled "
            "form factors, shape only for 'signal'); efficiency systematics share the "
            "background modifiers' names. Yields from emiss (emulated Belle II-style response "
            "where the workspace says so).")
