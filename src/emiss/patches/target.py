"""The workspace a patch is made for: an ``emiss.bundles.Bundle`` with a detector response.

``load_target`` loads a workspace with its sidecar and response and checks that it has a
response; ``target_from_bundle`` does the same for a bundle already loaded, with overrides of
the response and the HEPData reference (``--response``, ``--hepdata``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from emiss.bundles.bundle import PROCESS_ORDER, Bundle, load_bundle
from emiss.errors import EmissError
from emiss.response import Response

log = logging.getLogger(__name__)

__all__ = ["PROCESS_ORDER", "load_target", "standard_grid_key", "target_from_bundle"]


def standard_grid_key(target: Bundle) -> str:
    """Key of the standard grid for a workspace: ``belle2_patchsets`` (a workspace with its own
    published SM sample, Belle II's likelihood), ``kstar_patchsets`` (B -> K* channels) or
    ``patchsets``."""
    if target.sm_samples:
        return "belle2_patchsets"
    if any(p.startswith("B") and "K*" in p for p in target.processes()):
        return "kstar_patchsets"
    return "patchsets"


def target_from_bundle(bundle: Any, response: Any = None, hepdata: str | None = None) -> Bundle:
    """The bundle a patch is made for, with a response checked against its workspace.

    Args:
        bundle: an ``emiss.bundles.Bundle`` (or an object with ``spec``, ``meta``, ``response``
            and ``path``).
        response: a Response (or path to one) overriding the bundle's.
        hepdata: INSPIRE reference overriding the sidecar's.

    Returns:
        The Bundle (a copy when something is overridden).

    Raises:
        EmissError: no response.
    """
    if response is not None and not hasattr(response, "channels"):
        response = Response.load(response)
    resp = response if response is not None else getattr(bundle, "response", None)
    path = getattr(bundle, "path", None)
    name = Path(path).name.removesuffix(".json") if path else "workspace"
    if resp is None:
        raise EmissError(
            f"workspace {name!r} has no detector response (no sidecar .meta.json naming one); "
            "pass --response FILE"
        )
    if not isinstance(bundle, Bundle):
        bundle = Bundle(spec=bundle.spec if hasattr(bundle, "spec") else bundle,
                        meta=dict(getattr(bundle, "meta", None) or {}), response=resp,
                        path=None if path is None else Path(path))
    resp.check_workspace(bundle.spec)
    changes: dict[str, Any] = {}
    if resp is not bundle.response:
        changes["response"] = resp
    if hepdata:
        changes["hepdata"] = hepdata
    return dataclasses.replace(bundle, **changes) if changes else bundle


def load_target(path: Any, response: str | os.PathLike | None = None,
                hepdata: str | None = None) -> Bundle:
    """Load a workspace (and its sidecar/response) for making patches, as a ``Bundle``.

    Args:
        path: workspace JSON file, a name (``belle2``, a bundled stem) or an
            ``emiss.bundles.Bundle`` already loaded.
        response: response file overriding the sidecar's.
        hepdata: INSPIRE reference overriding the sidecar's.

    Returns:
        The ``emiss.bundles.Bundle``, with a response (checked against its workspace).
    """
    if isinstance(path, Bundle):
        return target_from_bundle(path, response=response, hepdata=hepdata)
    bundle = load_bundle(path, response=response)  # an explicit response replaces the sidecar's
    return target_from_bundle(bundle, hepdata=hepdata)
