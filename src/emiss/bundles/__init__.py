"""Bundles stage: background-only pyhf workspaces (sidecar + response) and their sources.

Modules:

* ``bundle``: the bundle model (``Bundle``, ``load_bundle``, sidecar handling, the bundled
  workspaces found with ``importlib.resources``: ``bundled_dir``, ``BUNDLED_STEMS``);
* one module per workspace source:

  - ``k_emulation``: the Belle II-style B+ -> K+ emulation (ITA, HTA, combined;
    ``build_all``, ``emiss workspace build``),
  - ``kstar_emulation``: the Belle II-style B -> K* emulation (inputs, helicity response,
    workspace; calibrated against Belle's limits by ``emiss.studies.calibrate``),
  - ``combine``: the combination of bundles (K + K*).

Imports only ``emiss.response``, ``emiss.physics``, ``emiss.io`` and ``emiss.errors``; knows
nothing of new physics, patches or fits (docs/architecture.md).
"""

from emiss.bundles.bundle import (
    BACKGROUNDS,
    BUNDLED_STEMS,
    CHANNELS,
    K_STEMS,
    KSTAR_STEMS,
    POI,
    SIGNAL_SAMPLE,
    Bundle,
    bundled_dir,
    channel_names,
    load_bundle,
    sidecar_path,
)
from emiss.bundles.locations import BUNDLED_PACKAGE

__all__ = [
    "BACKGROUNDS",
    "BUNDLED_PACKAGE",
    "BUNDLED_STEMS",
    "CHANNELS",
    "KSTAR_STEMS",
    "K_STEMS",
    "POI",
    "SIGNAL_SAMPLE",
    "Bundle",
    "bundled_dir",
    "channel_names",
    "load_bundle",
    "sidecar_path",
]
