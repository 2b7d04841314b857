"""Systematics a signal sample carries: form-factor variations and the sidecar's modifiers.

Form-factor uncertainty: ``n_samples`` correlated form-factor draws per form-factor family
(fixed seed, ``emiss.physics.formfactors.sample``) give template variations; their principal
components (at most ``FF_COMPONENTS`` per family) become histosys modifiers ``ff_<tag>_pc<i>``
(``ff_BK_pc<i>``, ``ff_BKstar_pc<i>``) shared by every channel and every sample of the patch (the
``signal`` and ``sm_nunu`` samples see the same form factors). When a workspace measures both
B -> K and B -> K* (the K + K* combination) the families are varied one at a time (draws
0..n-1: B -> K varied, B -> K* central; draws n..2n-1: the reverse), so that B -> K and B -> K*
form factors are separate nuisance parameters with the same names as on the single-channel
workspaces, each shared by every channel it enters.

Because mu is a branching ratio, the signal variations are shape
only (each draw keeps B of the first process fixed); the fixed ``sm_nunu`` sample of light-X
hypotheses keeps its full (rate and shape) form-factor uncertainty.

Detector systematics: the modifiers the workspace sidecar says every signal sample must carry
per channel (``Bundle.channel_modifiers``, from the sidecar; same names as the background ones,
so they correlate).
A sidecar modifier may be relative (Belle II's released likelihood, ``emiss.bundles.
belle2_hepdata``): histosys with per-bin ``hi_rel``/``lo_rel`` and staterror with per-bin
``rel`` factors become, for a template with yields n, hi_data = n hi_rel, lo_data = n lo_rel and
data = n rel (``materialise``): the published detector systematics and signal MC statistics
carried over to any new template with their relative size per fit bin.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.names import POI
from emiss.patches.grid import sanitize
from emiss.physics import constants as C

#: Rounds a sequence of yields for the JSON file (``emiss.patches.assemble.round_yields``).
Rounder = Callable[..., list]

log = logging.getLogger(__name__)

#: Default number of form-factor draws per hypothesis and their seed.
DEFAULT_FF_SAMPLES = 100
DEFAULT_FF_SEED = 0
#: Principal components kept per form-factor family (Belle II uses three, corr_ff_c1..3).
FF_COMPONENTS = 3
#: Components below this fraction of the leading singular value are dropped.
FF_MIN_RELATIVE = 1e-6
#: Modifier tag of each form-factor family (``ff_<tag>_pc<i>``).
FF_TAGS = {"B->K": "BK", "B->K*": "BKstar"}
#: Histosys of the normalisation of the SM nu nubar prediction that emiss folds itself (the
#: fixed ``sm_nunu`` sample of light-X patches): B_SM goes as |V_tb V_ts^*|^2 X_t^2, so its
#: relative 1-sigma is 2 sqrt(0.9/41.5 ^2 + 0.017/1.469 ^2) = 4.9 % (|V_tb V_ts^*| from PDG 2024,
#: X_t from arXiv:1009.0947; ``emiss.physics.constants``). One name for every channel and
#: process (B -> K and B -> K* share the CKM factor and X_t), so it correlates experiments.
SM_NORM = "sm_nunu_norm"


def ff_histosys(noms: Sequence[np.ndarray], draws: Sequence[np.ndarray | None],
                families: Sequence[str], n_samples: int)\
        -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Principal components of the form-factor variations, per family, of all samples.

    The draws of every sample use the same form factors (same index k), so one set of
    components per family describes them jointly: the modifiers ``ff_<tag>_pc<i>`` are
    shared across samples and channels. Each family's components come from its own block
    of draws (the other families central).

    Args:
        noms: nominal yields per sample (flat, channels concatenated).
        draws: per sample, yields per draw, shape (n_samples * len(families), D), or None
            (the sample does not depend on the form factors).
        families: form-factor families in draw order (draw k varies families[k // n_samples]).
        n_samples: draws per family.

    Returns:
        modifier name -> per sample (lo, hi) flat arrays.
    """
    if not n_samples or all(d is None for d in draws):
        return {}
    n = n_samples
    n_draws = n_samples * len(families)
    mats = [d if d is not None else np.repeat(v[None, :], n_draws, axis=0)
            for v, d in zip(noms, draws, strict=True)]
    x_all = np.concatenate(mats, axis=1)
    sizes = np.cumsum([0] + [len(v) for v in noms])
    out: dict[str, list] = {}
    for f, fam in enumerate(families):
        x = x_all[f * n:(f + 1) * n]
        xc = (x - x.mean(axis=0)) / math.sqrt(n - 1)
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        tag = FF_TAGS.get(fam, sanitize(fam))
        for i in range(min(FF_COMPONENTS, len(s))):
            if s[0] <= 0 or s[i] < FF_MIN_RELATIVE * s[0]:
                break
            v = s[i] * vt[i]
            j = int(np.argmax(np.abs(v)))
            if v[j] < 0:
                v = -v  # fixed sign convention: largest entry positive
            out[f"ff_{tag}_pc{i + 1}"] = [
                (nv - v[sizes[k]:sizes[k + 1]], nv + v[sizes[k]:sizes[k + 1]])
                for k, nv in enumerate(noms)]
    return out



def sm_norm_relative() -> float:
    """Relative 1-sigma of the SM nu nubar normalisation: 2 x (|V_tb V_ts^*| (+) X_t)."""
    return 2.0 * math.hypot(C.VTB_VTS_REL_UNC, C.X_T_REL_UNC)


def is_relative(modifier: Mapping) -> bool:
    """Whether a sidecar modifier holds per-bin relative factors (see ``materialise``)."""
    data = modifier.get("data")
    return isinstance(data, Mapping) and ("hi_rel" in data or "rel" in data)


def materialise(modifier: Mapping, nominal: np.ndarray, rounder: Rounder | None = None) -> dict:
    """A sidecar modifier for a sample with yields ``nominal`` (relative factors -> data).

    Args:
        modifier: pyhf modifier dict, possibly relative (``hi_rel``/``lo_rel`` or ``rel``).
        nominal: the sample's yields in the channel.
        rounder: function rounding a list of yields for the JSON file (default: none).

    Returns:
        A plain pyhf modifier dict (absolute modifiers are copied unchanged).
    """
    if not is_relative(modifier):
        return dict(modifier)
    nominal = np.asarray(nominal, dtype=float)
    data = modifier["data"]
    r = rounder or (lambda v: [float(x) for x in v])
    if modifier["type"] == "histosys":
        hi = nominal * np.asarray(data["hi_rel"], dtype=float)
        lo = nominal * np.asarray(data["lo_rel"], dtype=float)
        out_data: object = {"hi_data": r(hi), "lo_data": r(lo)}
    elif modifier["type"] == "staterror":
        out_data = r(nominal * np.asarray(data["rel"], dtype=float))
    else:
        raise EmissError(f"relative data for modifier {modifier['name']!r} of type "
                         f"{modifier['type']!r}; only histosys and staterror can be relative")
    return {"name": modifier["name"], "type": modifier["type"], "data": out_data}


def scaled_sample(sample: Mapping, factor: float, name: str, normfactor: str | None,
                  rounder: Rounder | None = None) -> dict:
    """A published pyhf sample with every yield (nominal, histosys, staterror) times factor.

    Args:
        sample: pyhf sample dict (e.g. Belle II's SM signal sample of one channel).
        factor: scale of all yields (1 keeps the numbers exactly).
        name: the new sample's name.
        normfactor: normfactor it carries (None: none, e.g. the fixed ``sm_nunu``); an existing
            normfactor ``mu`` is replaced by it.
        rounder: rounding of scaled yields for the JSON file (unused when factor is 1).

    Returns:
        The new sample dict.
    """
    exact = factor == 1.0
    r = (lambda v: [float(x) for x in v]) if exact or rounder is None else rounder

    def sc(values: Sequence[float]) -> list:
        return list(values) if exact else r(np.asarray(values, dtype=float) * factor)

    mods: list[dict[str, Any]] = []
    placed = normfactor is None
    for m in sample["modifiers"]:
        if m["type"] == "normfactor" and m["name"] == POI:
            if not placed:  # the new normfactor takes mu's place (same modifier order)
                mods.append({"name": normfactor, "type": "normfactor", "data": None})
                placed = True
            continue
        if m["type"] == "histosys":
            mods.append({"name": m["name"], "type": "histosys",
                         "data": {"hi_data": sc(m["data"]["hi_data"]),
                                  "lo_data": sc(m["data"]["lo_data"])}})
        elif m["type"] == "staterror":
            mods.append({"name": m["name"], "type": "staterror", "data": sc(m["data"])})
        else:
            mods.append(copy.deepcopy(dict(m)))
    if not placed:
        mods.insert(0, {"name": normfactor, "type": "normfactor", "data": None})
    return {"name": name, "data": sc(sample["data"]), "modifiers": mods}
