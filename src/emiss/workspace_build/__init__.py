"""Builder of the bundled Belle II-style emulation (responses, BkgOnly workspaces, sidecars)."""

from emiss.workspace_build.emulation import LAYOUT, build_all, build_bundle, load_inputs

__all__ = ["LAYOUT", "build_all", "build_bundle", "load_inputs"]
