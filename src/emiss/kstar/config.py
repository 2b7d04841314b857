"""Inputs of the Belle II-style B -> K* emulation, read from ``data/belle2_kstar_emulation.yaml``.

Every number there carries its source or is marked as an assumption; this module only reads
and checks them.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: The bundled emulation inputs.
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "data" / "belle2_kstar_emulation.yaml"

#: Channel names of the K* emulation, in workspace order.
KSTAR_CHANNELS: tuple[str, ...] = ("kstar_kpi", "kstar_kspi", "kstar_kpi0")

_REQUIRED = ("dataset", "binning", "channels", "efficiency_shape", "backgrounds",
             "tau_background", "signal_systematics", "reference_results")


@cache
def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise EmissError(f"K* emulation config {path!r} does not exist")
    with open(p, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    missing = [k for k in _REQUIRED if k not in (cfg or {})]
    if missing:
        raise EmissError(f"K* emulation config {path!r} lacks the sections {missing}")
    for ch in KSTAR_CHANNELS:
        if ch not in cfg["channels"]:
            raise EmissError(f"K* emulation config {path!r} lacks channel {ch!r}")
    return cfg


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The K* emulation inputs.

    Args:
        path: YAML file (default: the bundled ``belle2_kstar_emulation.yaml``).

    Returns:
        The parsed configuration (a fresh deep copy is not made: do not mutate it).
    """
    return _load(str(path or DEFAULT_CONFIG))
