"""emiss: B -> K(*) + missing energy, from new-physics hypotheses to pyhf likelihoods.

The public API (what the CLI calls, and what a limit-setting script needs)::

    import emiss

    bundle = emiss.load_bundle("belle2")                 # Belle II's released likelihood
    print(emiss.measure(bundle).mu_hat)                   # 4.60: the SM-shaped signal strength
    ps = emiss.patchset(bundle, "twobody-scalar", masses="0.1:4.6:0.1")
    results = emiss.scan(bundle, [ps, emiss.patchset(bundle, "sm")])
    print(emiss.format_compare(emiss.compare(results)))

Names are resolved on first use, so ``import emiss`` stays light (no pyhf import).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: public name -> (module, attribute): the functions and classes the API re-exports as they are.
_EXPORTS: dict[str, tuple[str, str]] = {
    "EmissError": ("emiss.errors", "EmissError"),
    "EmulatedDataWarning": ("emiss.errors", "EmulatedDataWarning"),
    "Bundle": ("emiss.bundles.bundle", "Bundle"),
    "load_bundle": ("emiss.bundles.bundle", "load_bundle"),
    "load_target": ("emiss.patches.target", "load_target"),
    "make_entry": ("emiss.patches.grid", "make_entry"),
    "load_grid": ("emiss.patches.grid", "load_grid"),
    "build_patchset": ("emiss.patches.build", "build_patchset"),
    "generate": ("emiss.patches.build", "generate"),
    "scan": ("emiss.inference.scan", "scan"),
    "load_results": ("emiss.inference.results", "load_results"),
    "format_compare": ("emiss.inference.compare", "format_table"),
    "scenario": ("emiss.physics.scenarios", "get_scenario"),
    "scenarios": ("emiss.physics.scenarios", "list_scenarios"),
    "Spectrum": ("emiss.physics.spectrum", "Spectrum"),
    "user_spectrum": ("emiss.physics.user", "from_callable"),
    "read_spectrum": ("emiss.physics.user", "read_table"),
    "user_scenario": ("emiss.physics.user", "user_scenario"),
}

__all__ = ["__version__", "compare", "measure", "patchset", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """The re-exported names, imported on first use."""
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emiss' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _bundle(workspace: Any) -> Any:
    from emiss.bundles.bundle import Bundle, load_bundle

    return workspace if isinstance(workspace, Bundle) else load_bundle(workspace)


def patchset(workspace: Any, scenario: str, masses: Any = None, params: Any = None,
             **kwargs: Any) -> dict:
    """One PatchSet of one scenario on a workspace.

    Args:
        workspace: a name (``belle2``, a bundled stem), a workspace file or a Bundle.
        scenario: scenario name (``emiss.scenarios()``), or a user scenario's name.
        masses: m_X values (list, or grid syntax such as ``"0.1:4.6:0.1"``).
        params: parameter values or grids (name -> value or syntax).
        **kwargs: passed to ``emiss.generate`` (``n_samples``, ``seed``, ``ctau_m``).

    Returns:
        The PatchSet dict (schema-valid, digest-stamped).
    """
    from emiss.patches.build import generate
    from emiss.patches.grid import make_entry
    from emiss.patches.target import load_target

    if masses is not None and not isinstance(masses, str):
        masses = list(masses)
    entry = make_entry(scenario, masses=masses, params=dict(params or {}))
    (ps,) = generate(load_target(_bundle(workspace)), [entry], **kwargs).values()
    return ps


def measure(workspace: Any, patch: list | None = None) -> Any:
    """Fit the SM-shaped signal strength mu (``emiss measure``).

    Args:
        workspace: a name, a workspace file or a Bundle.
        patch: JSON Patch adding the signal (default: the workspace's SM patch).

    Returns:
        ``emiss.inference.measure.MeasureResult`` (mu_hat, errors, Z_bkg_only, Z_sm, ...).
    """
    from emiss.inference.measure import measure as _measure

    return _measure(_bundle(workspace), patch=patch)


def compare(*results: Any, **kwargs: Any) -> dict:
    """Best-fit mass per scenario and likelihood ratios (``emiss compare``).

    Args:
        *results: scan results documents or their files.
        **kwargs: passed to ``emiss.inference.compare.compare`` (``label``, ``gv_level``).

    Returns:
        The comparison dict (``emiss.format_compare`` prints it as the CLI does).
    """
    from emiss.inference.compare import compare as _compare
    from emiss.inference.results import load_results

    docs = [r if isinstance(r, dict) else load_results(r) for r in results]
    return _compare(docs, **kwargs)
