"""Calibration of the K* emulation against Belle's published B -> K* nu nu limits.

Belle (semileptonic tag, 711 fb^-1, 772e6 BB; Grygier et al., arXiv:1702.03224) published
90 % CL upper limits B(B0 -> K*0 nu nu) < 1.8e-5 and B(B+ -> K*+ nu nu) < 6.1e-5. The
emulation's background level per channel (``background_scale``) is chosen so that the expected
(Asimov background-only, median) 90 % CL CLs limit with the SM-shaped signal, scaled to Belle's
N_BB, equals those numbers: K*0 from ``kstar_kpi`` alone, K*+ from ``kstar_kspi`` and
``kstar_kpi0`` together (one common scale).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from typing import Any

from scipy.optimize import brentq

from emiss.bundles.kstar_emulation import load_config
from emiss.inference.asimov import expected_limits
from emiss.studies.projection import restrict, scale_patch, scale_spec

log = logging.getLogger(__name__)

#: Channel groups and the process / published limit key they are calibrated to.
GROUPS = {
    "B0->K*0": (("kstar_kpi",), "ul90_B0_Kstar0"),
    "B+->K*+": (("kstar_kspi", "kstar_kpi0"), "ul90_Bp_Kstarp"),
}


def expected_ul_at_belle(cfg: Mapping[str, Any] | None = None, n_samples: int = 20,
                         cl: float = 0.90) -> dict[str, float]:
    """Expected 90 % CL upper limits on B(B -> K* nu nu) at Belle's N_BB (SM-shaped signal).

    Args:
        cfg: emulation configuration (default: bundled).
        n_samples: form-factor draws of the SM patch.
        cl: confidence level.

    Returns:
        process -> expected upper limit on the branching ratio.
    """
    from emiss.bundles.bundle import Bundle
    from emiss.bundles.kstar_emulation import build_response, build_spec, sidecar
    from emiss.patches.build import scenario_patchset
    from emiss.patches.target import target_from_bundle
    from emiss.patches.templates import TemplateBuilder

    cfg = cfg or load_config()
    resp = build_response(cfg)
    spec = build_spec(cfg, response=resp)
    bundle = Bundle(spec=spec, meta=sidecar(cfg, "none"), response=resp, path=None)
    target = target_from_bundle(bundle)
    ps = scenario_patchset(target, "sm", builder=TemplateBuilder(target, n_samples))
    patch = ps["patches"][0]
    refs = patch["metadata"]["emiss"]["reference_branching_ratios"]
    rr = cfg["reference_results"]
    factor = float(rr["belle_n_bb"]) / float(cfg["dataset"]["n_bb"])
    big, big_ops = scale_spec(spec, factor), scale_patch(patch["patch"], factor)
    out = {}
    for proc, (chans, _) in GROUPS.items():
        s, o = restrict(big, big_ops, chans)
        mu = expected_limits(s, o, cls=(cl,))[cl]
        out[proc] = mu * float(refs[proc])
    return out


def calibrate(cfg: Mapping[str, Any] | None = None, n_samples: int = 20,
              rtol: float = 2e-3) -> dict[str, float]:
    """Background scales that reproduce Belle's limits (see module docstring).

    Args:
        cfg: emulation configuration (default: bundled; not modified).
        n_samples: form-factor draws of the SM patch.
        rtol: relative tolerance on the scale.

    Returns:
        channel -> background_scale.
    """
    base = copy.deepcopy(dict(cfg or load_config()))
    rr = base["reference_results"]
    scales: dict[str, float] = {}
    for proc, (chans, key) in GROUPS.items():
        target = float(rr[key])

        def resid(log_s: float, chans: tuple[str, ...] = chans, proc: str = proc,
                  target: float = target) -> float:
            c = copy.deepcopy(base)
            for ch in chans:
                c["channels"][ch]["background_scale"] = math.exp(log_s)
            ul = expected_ul_at_belle(c, n_samples=n_samples)[proc]
            log.info("%s: scale %.4g -> UL %.4g (target %.3g)", proc, math.exp(log_s), ul, target)
            return math.log(ul / target)

        log_s = brentq(resid, math.log(0.05), math.log(20.0), xtol=rtol)
        for ch in chans:
            scales[ch] = round(math.exp(log_s), 4)
    return scales
