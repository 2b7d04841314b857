"""PatchSets of one scenario on a K* (or K + K*) workspace, in one call.

The generator is ``emiss.patches.build``: its ``TemplateBuilder`` folds K* helicity channels
with their longitudinal and transverse parts and varies B -> K and B -> K* form factors as
separate nuisances (``ff_BK_pc<i>``, ``ff_BKstar_pc<i>``). Load a workspace with
``emiss.patches.build.load_target`` (any bundle: K, K* or K + K*).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from emiss.patches.build import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    Target,
    TemplateBuilder,
    build_patchset,
)
from emiss.patches.grid import make_entry

log = logging.getLogger(__name__)


def scenario_patchset(target: Target, scenario: str,
                      masses: Sequence[float] | str | None = None,
                      params: Mapping[str, Sequence[float] | str] | None = None,
                      n_samples: int = DEFAULT_FF_SAMPLES, seed: int = DEFAULT_FF_SEED,
                      builder: TemplateBuilder | None = None) -> dict:
    """A PatchSet for one scenario on a workspace.

    Args:
        target: the workspace (``emiss.patches.build.load_target``).
        scenario: scenario name (``emiss.physics.scenarios``).
        masses: m_X grid: values or a grid string such as "0.1:4.3:0.2" (None: no mass).
        params: parameter grids.
        n_samples: form-factor draws per family (ignored when a builder is given).
        seed: their seed (ignored when a builder is given).
        builder: reuse a builder (caches) across scenarios.

    Returns:
        The PatchSet dict.
    """
    if masses is not None and not isinstance(masses, str):
        masses = list(masses)
    entry = make_entry(scenario, masses=masses, params=dict(params or {}))
    builder = builder or TemplateBuilder(target, n_samples=n_samples, seed=seed)
    return build_patchset(target, entry, builder=builder)
