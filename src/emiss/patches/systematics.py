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
per channel (``sidecar_modifiers``; same names as the background ones, so they correlate).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from emiss.patches.grid import sanitize

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


def sidecar_modifiers(meta: Mapping) -> dict[str, list[dict]]:
    """channel -> modifiers every signal sample there must carry, from a workspace sidecar.

    Args:
        meta: the sidecar dict (``signal_modifiers`` at top level, or per channel under
            ``channels``).

    Returns:
        channel -> list of pyhf modifier dicts ({} when the sidecar names none).
    """
    for key in ("signal_modifiers", "signal_sample_modifiers"):
        val = meta.get(key)
        if isinstance(val, Mapping):
            return {str(k): [dict(m) for m in v] for k, v in val.items()}
    chans = meta.get("channels")
    out: dict[str, list[dict]] = {}
    if isinstance(chans, Mapping):
        for name, info in chans.items():
            if isinstance(info, Mapping) and isinstance(info.get("signal_modifiers"), list):
                out[str(name)] = [dict(m) for m in info["signal_modifiers"]]
    return out
