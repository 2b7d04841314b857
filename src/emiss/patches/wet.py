"""A WET patch with one sample per operator structure, for fits of the Wilson coefficients.

B -> K nu nu in EOS's sbnunu basis (``emiss.physics.wet``) is a sum of three non-interfering
terms, dB/dq² = |C_VL + C_VR|² V(q²) + |C_SL + C_SR|² S(q²) + |C_TL|² T(q²). Folded yields are
linear in the three squared combinations, so a pyhf model with one sample per term, each
scaled by an unconstrained normfactor (``cv2``, ``cs2``, ``ct2`` = the squared magnitudes), is
exactly the WET likelihood of Belle II's reinterpretation (arXiv:2507.12393 sec. VI, where
C_VL, C_SL and C_TL stand for the sums C_VL + C_VR, C_SL + C_SR). The samples share emiss's
form-factor components (HPQCD 2207.12468 f_+, f_0, f_T varied jointly; they replace Belle II's
``corr_ff`` nuisances, which describe the SM shape only, as in 2507.12393) and carry the
workspace's signal systematics. Each normfactor is bounded to [0, 400], i.e. |C| <= 20, Belle
II's prior range.
"""

from __future__ import annotations

import logging

import numpy as np

from emiss.bundles.bundle import Bundle
from emiss.errors import EmissError
from emiss.patches import hypotheses
from emiss.patches.assemble import SampleTemplate, sample_ops
from emiss.patches.systematics import DEFAULT_FF_SAMPLES, DEFAULT_FF_SEED, ff_histosys
from emiss.patches.templates import TemplateBuilder

log = logging.getLogger(__name__)

#: term -> (normfactor name, unit-coefficient parameters of the ``wet`` scenario, label); the
#: scenario's default C_VL is the SM value, so every other coefficient is set to 0 explicitly.
_ZERO = {"C_VL": 0.0, "C_VR": 0.0, "C_SL": 0.0, "C_SR": 0.0, "C_TL": 0.0}
TERMS = {
    "V": ("cv2", {**_ZERO, "C_VL": 1.0}, "|C_VL + C_VR|"),
    "S": ("cs2", {**_ZERO, "C_SL": 1.0}, "|C_SL + C_SR|"),
    "T": ("ct2", {**_ZERO, "C_TL": 1.0}, "|C_TL|"),
}
#: Upper bound of each squared magnitude (|C| <= 20: Belle II's prior range, 2507.12393).
C2_MAX = 400.0


def wet_patch(target: Bundle, n_samples: int = DEFAULT_FF_SAMPLES,
              seed: int = DEFAULT_FF_SEED) -> tuple[list[dict], dict[str, str]]:
    """JSON Patch adding the three WET term samples to a B -> K workspace.

    Args:
        target: the workspace (B+ -> K+ or B0 -> K0 channels only).
        n_samples: form-factor draws for the components (0: none).
        seed: their seed.

    Returns:
        (JSON Patch operations, normfactor -> label). The operations also bound the three
        normfactors in the measurement and make ``cv2`` the POI.

    Raises:
        EmissError: the workspace measures a B -> K* channel (its WET rate has a fourth
            structure, |C_VL - C_VR|², not in Belle II's three-parameter fit).
    """
    builder = TemplateBuilder(target, n_samples=n_samples, seed=seed)
    vector = [p for p in builder.processes if hypotheses.process(p).is_vector]
    if vector:
        raise EmissError(f"the WET fit takes B -> K workspaces; {target.name!r} measures "
                         f"{', '.join(vector)}")
    scen = hypotheses.scenario("wet")
    raws = {k: builder.raw(scen, None, params) for k, (_, params, _) in TERMS.items()}
    noms = [r.nominal for r in raws.values()]
    draws = [r.draws for r in raws.values()]  # full (rate and shape) variations
    histosys = ff_histosys(noms, draws, builder.families, builder.n_samples)
    samples = []
    for i, (k, (par, _, _)) in enumerate(TERMS.items()):
        hs = {m: {c: (lo, hi) for (c, lo), hi in zip(builder._split(per[i][0]).items(),
                                                     builder._split(per[i][1]).values(),
                                                     strict=True)}
              for m, per in histosys.items()}
        samples.append(SampleTemplate(name=f"wet_{k}", nominal=builder._split(noms[i]),
                                      histosys=hs, normfactor=par))
    if not all(np.any(r.nominal > 0) for r in raws.values()):
        raise EmissError(f"workspace {target.name!r}: a WET term has no yield")
    ops = sample_ops(target.spec, samples, target.channel_modifiers, builder.family)
    meas = [i for i, _ in enumerate(target.spec.get("measurements", []))]
    for i in meas:
        for par, _, _ in TERMS.values():
            ops.append({"op": "add", "path": f"/measurements/{i}/config/parameters/-",
                        "value": {"name": par, "bounds": [[0.0, C2_MAX]], "inits": [1.0]}})
        ops.append({"op": "replace", "path": f"/measurements/{i}/config/poi", "value": "cv2"})
    return ops, {par: label for par, _, label in TERMS.values()}

