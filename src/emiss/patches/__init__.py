"""Patches stage: hypothesis grids -> folded signal templates -> validated pyhf PatchSets.

Modules: ``grid`` (grid syntax, grid files, names), ``assemble`` (templates -> JSON Patch ops
-> PatchSet, validation), ``build`` (physics + response -> templates, the public API).
"""

from emiss.patches.assemble import validate_patchset, verify_digest
from emiss.patches.build import (
    LIGHT_X_REFERENCE_BR,
    SM_REFERENCE_BR,
    Target,
    TemplateBuilder,
    build_patchset,
    generate,
    load_target,
    sm_patch,
    target_from_bundle,
    write_patchset,
)
from emiss.patches.grid import (
    GridEntry,
    Hypothesis,
    hypothesis_name,
    load_grid,
    make_entry,
    parse_masses,
    parse_values,
)

__all__ = [
    "LIGHT_X_REFERENCE_BR",
    "SM_REFERENCE_BR",
    "GridEntry",
    "Hypothesis",
    "Target",
    "TemplateBuilder",
    "build_patchset",
    "generate",
    "hypothesis_name",
    "load_grid",
    "load_target",
    "make_entry",
    "parse_masses",
    "parse_values",
    "sm_patch",
    "target_from_bundle",
    "validate_patchset",
    "verify_digest",
    "write_patchset",
]
