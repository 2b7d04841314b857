"""A plain SM signal patch for tests: the SM spectrum folded through the bundle's response.

Independent of the patches stage's template builder (no form-factor variations): yields =
response.fold(SM spectrum scaled to the reference branching ratio), normfactor ``mu`` plus the
sidecar's signal modifiers. The reference is the sidecar's (Belle II's 4.97e-6 for B+ -> K+,
arXiv:2311.14647) or the SM prediction of the first signal channel's process.
"""

from __future__ import annotations

from emiss.bundles.bundle import POI, SIGNAL_SAMPLE
from emiss.physics.sm import sm_spectrum


def plain_sm_patch(bundle) -> list[dict]:
    """JSON Patch adding the SM-shaped signal (normfactor mu) to every signal channel.

    Args:
        bundle: an ``emiss.bundles.Bundle`` with its response.

    Returns:
        JSON Patch operations (``add /channels/<i>/samples/0``).
    """
    response = bundle.require_response()
    names = [c["name"] for c in bundle.spec["channels"]]
    ref = bundle.reference_branching_ratio()
    if ref is None:
        first = min(response.channels.values(), key=lambda cr: names.index(cr.name))
        ref = sm_spectrum(first.process).branching_ratio()
    ops: list[dict] = []
    for name, cr in sorted(response.channels.items(), key=lambda kv: names.index(kv[0])):
        sm = sm_spectrum(cr.process)
        yields = cr.fold(sm.scaled(ref / sm.branching_ratio()))
        mods = [{"name": POI, "type": "normfactor", "data": None}]
        mods += bundle.signal_modifiers(name)
        ops.append({
            "op": "add",
            "path": f"/channels/{names.index(name)}/samples/0",
            "value": {"name": SIGNAL_SAMPLE, "data": [float(y) for y in yields],
                      "modifiers": mods},
        })
    return ops
