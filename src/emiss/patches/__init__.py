"""Patches stage: hypothesis grids -> folded signal templates -> validated pyhf PatchSets.

Modules, in the order they import each other:

* ``grid``: grid syntax, grid files, patch names (``make_entry``, ``load_grid``);
* ``hypotheses``: entries checked against the physics (``resolve_entry``, ``check_masses``);
  the stage's only calls into ``emiss.physics``;
* ``metadata``: what mu means (reference branching ratios), the ``emiss`` block, descriptions;
* ``systematics``: form-factor principal components, the sidecar's signal modifiers;
* ``target``: the workspace a patch is made for (``load_target``: an
  ``emiss.bundles.Bundle`` with its response);
* ``templates``: hypothesis -> spectra -> templates, folded by the response stage
  (``TemplateBuilder``);
* ``assemble``: templates -> JSON Patch ops -> PatchSet, digests, validation (no physics);
* ``build``: the entry points (``build_patchset``, ``generate``, ``scenario_patchset``,
  ``sm_patch``);
* ``patchsets``: PatchSet files as a user meets them (``inspect_patchsets``,
  ``merge_patchsets``, ``read_patchset``).
"""

from emiss.patches.assemble import validate_patchset, verify_digest
from emiss.patches.build import (
    build_patchset,
    generate,
    scenario_patchset,
    sm_patch,
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
from emiss.patches.hypotheses import ResolvedEntry, check_masses, resolve_entry
from emiss.patches.metadata import LIGHT_X_REFERENCE_BR, SM_REFERENCE_BR
from emiss.patches.patchsets import (
    format_inspect,
    inspect_patchsets,
    merge_patchsets,
    read_patchset,
)
from emiss.patches.systematics import DEFAULT_FF_SAMPLES, DEFAULT_FF_SEED
from emiss.patches.target import load_target, target_from_bundle
from emiss.patches.templates import TemplateBuilder

__all__ = [
    "DEFAULT_FF_SAMPLES",
    "DEFAULT_FF_SEED",
    "LIGHT_X_REFERENCE_BR",
    "SM_REFERENCE_BR",
    "GridEntry",
    "Hypothesis",
    "ResolvedEntry",
    "TemplateBuilder",
    "build_patchset",
    "check_masses",
    "format_inspect",
    "generate",
    "hypothesis_name",
    "inspect_patchsets",
    "load_grid",
    "load_target",
    "make_entry",
    "merge_patchsets",
    "parse_masses",
    "parse_values",
    "read_patchset",
    "resolve_entry",
    "scenario_patchset",
    "sm_patch",
    "target_from_bundle",
    "validate_patchset",
    "verify_digest",
    "write_patchset",
]
