"""emiss: B -> K(*) + missing energy, from new-physics hypotheses to pyhf likelihoods.

The public API (what the CLI calls, and what a limit-setting script needs)::

    import emiss

    bundle = emiss.load_bundle("belle2")                 # Belle II's released likelihood
    print(emiss.measure(bundle).mu_hat)                   # 4.60: the SM-shaped signal strength
    ps = emiss.patchset(bundle, "twobody-scalar", masses="0.1:4.6:0.1")
    results = emiss.scan(bundle, [ps, emiss.patchset(bundle, "sm")])
    print(emiss.format_compare(emiss.compare(results)))

The functions that join several stages live in ``emiss.api`` (the command line calls the same
functions); the others are the stages' own. Publication is ``emiss.publish.publish``:
``emiss.publish`` is the package of that stage. Names are resolved on first use, so
``import emiss`` stays light (no pyhf import).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: public name -> (module, attribute): the curated API; ``emiss.api`` holds the functions that
#: join several stages, the others are re-exported as they are.
_EXPORTS: dict[str, tuple[str, str]] = {
    "EmissError": ("emiss.errors", "EmissError"),
    "EmulatedDataWarning": ("emiss.errors", "EmulatedDataWarning"),
    # workspaces
    "Bundle": ("emiss.bundles.bundle", "Bundle"),
    "load_bundle": ("emiss.bundles.bundle", "load_bundle"),
    "load_target": ("emiss.patches.target", "load_target"),
    # physics
    "scenario": ("emiss.physics.scenarios", "get_scenario"),
    "scenarios": ("emiss.physics.scenarios", "list_scenarios"),
    "Spectrum": ("emiss.physics.spectrum", "Spectrum"),
    "user_spectrum": ("emiss.physics.user", "from_callable"),
    "read_spectrum": ("emiss.physics.user", "read_table"),
    "user_scenario": ("emiss.physics.user", "user_scenario"),
    "rate": ("emiss.api", "rate"),
    "spectrum_table": ("emiss.api", "spectrum_table"),
    # patches
    "make_entry": ("emiss.patches.grid", "make_entry"),
    "load_grid": ("emiss.patches.grid", "load_grid"),
    "build_patchset": ("emiss.patches.build", "build_patchset"),
    "generate": ("emiss.patches.build", "generate"),
    "patchset": ("emiss.api", "patchset"),
    "inspect_patchsets": ("emiss.patches.patchsets", "inspect_patchsets"),
    "merge_patchsets": ("emiss.patches.patchsets", "merge_patchsets"),
    # inference and studies
    "scan": ("emiss.inference.scan", "scan"),
    "load_results": ("emiss.inference.results", "load_results"),
    "measure": ("emiss.api", "measure"),
    "compare": ("emiss.api", "compare"),
    "format_compare": ("emiss.inference.compare", "format_table"),
    "posterior": ("emiss.api", "posterior"),
    "project": ("emiss.api", "project"),
    "wet": ("emiss.api", "wet"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """The public names, imported on first use."""
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emiss' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
