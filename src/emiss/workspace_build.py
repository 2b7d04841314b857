"""Deprecated alias of ``emiss.bundles.k_emulation`` (the B -> K emulation builder).

Kept so that ``from emiss.workspace_build import build_all`` keeps working; importing it warns.
"""

import warnings

from emiss.bundles.k_emulation import LAYOUT, build_all, build_bundle, load_inputs

warnings.warn("emiss.workspace_build is deprecated; import from emiss.bundles.k_emulation "
              "instead", DeprecationWarning, stacklevel=2)

__all__ = ["LAYOUT", "build_all", "build_bundle", "load_inputs"]
