"""Deprecated alias of ``emiss.bundles`` (the bundle model is ``emiss.bundles.bundle``).

Kept so that ``from emiss.workspace import load_bundle`` keeps working; importing it warns.
"""

import warnings
from typing import Any

from emiss.bundles.bundle import (
    BACKGROUNDS,
    BUNDLED_STEMS,
    CHANNELS,
    POI,
    SIGNAL_SAMPLE,
    Bundle,
    bundled_dir,
    channel_names,
    load_bundle,
    sidecar_path,
)

warnings.warn("emiss.workspace is deprecated; import from emiss.bundles instead",
              DeprecationWarning, stacklevel=2)

__all__ = ["BACKGROUNDS", "BUNDLED_STEMS", "CHANNELS", "POI", "SIGNAL_SAMPLE", "Bundle",
           "bundled_dir", "channel_names", "load_bundle", "sidecar_path"]


def __getattr__(name: str) -> Any:
    """``BUNDLED_DIR`` (``emiss.bundles.bundled_dir()``), resolved on use."""
    if name == "BUNDLED_DIR":
        return bundled_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
