"""The workspace a patch is made for: a bundle seen from the patch stage (``Target``).

``load_target`` loads a workspace with its sidecar and response (``emiss.bundles``); a
``Target`` holds what the generator needs of it: the spec, the response, the HEPData reference,
the modifiers every signal sample must carry and the reference branching ratio of the SM patch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emiss.bundles.bundle import Bundle, load_bundle
from emiss.errors import EmissError
from emiss.patches.metadata import SM_REFERENCE_BR, hepdata_reference
from emiss.patches.systematics import sidecar_modifiers, sidecar_sm_samples
from emiss.response import Response

log = logging.getLogger(__name__)

#: Order of processes (the first present in a workspace sets mu's reference).
PROCESS_ORDER = ("B+->K+", "B0->K0", "B0->K*0", "B+->K*+")


@dataclass
class Target:
    """What the generator needs of a workspace.

    Attributes:
        spec: background-only pyhf workspace.
        response: ``emiss.response.Response`` (channels the signal enters).
        hepdata: INSPIRE reference for the PatchSet metadata, or None.
        channel_modifiers: channel -> modifiers every signal sample must carry.
        name: short name (file stem) for descriptions.
        sm_reference: process -> B that mu = 1 stands for in the SM patch (sidecar's
            ``signal.reference_branching_ratio`` when given, else ``SM_REFERENCE_BR``).
        sm_samples: channel -> the workspace's own published SM signal sample (sidecar
            ``channels[c].sm_sample``; Belle II's released likelihood): SM-shaped templates
            are this sample scaled, so the SM patch restores the published likelihood.
        sm_positions: channel -> index of that sample in the published channel.
    """

    spec: dict
    response: Any
    hepdata: str | None = None
    channel_modifiers: dict[str, list[dict]] = field(default_factory=dict)
    name: str = "workspace"
    sm_reference: dict[str, float] = field(default_factory=lambda: dict(SM_REFERENCE_BR))
    sm_samples: dict[str, dict] = field(default_factory=dict)
    sm_positions: dict[str, int] = field(default_factory=dict)

    def channels(self) -> list[str]:
        """Workspace channels with a response, in workspace order."""
        names = [ch["name"] for ch in self.spec["channels"]]
        return [n for n in names if n in self.response.channels]

    def processes(self) -> list[str]:
        """Processes the response's channels measure, first one first (see PROCESS_ORDER)."""
        procs = {self.response.channels[c].process for c in self.channels()}
        known = [p for p in PROCESS_ORDER if p in procs]
        return known + sorted(procs - set(known))



def standard_grid_key(target: Target) -> str:
    """Key of the standard grid for a workspace: ``belle2_patchsets`` (a workspace with its own
    published SM sample, Belle II's likelihood), ``kstar_patchsets`` (B -> K* channels) or
    ``patchsets``."""
    if target.sm_samples:
        return "belle2_patchsets"
    if any(p.startswith("B") and "K*" in p for p in target.processes()):
        return "kstar_patchsets"
    return "patchsets"


def target_from_bundle(bundle: Any, response: Any = None, hepdata: str | None = None) -> Target:
    """Target from an ``emiss.bundles`` bundle (spec + sidecar meta + response).

    Args:
        bundle: object with ``spec``, ``meta``, ``response`` and ``path``.
        response: a Response (or path to one) overriding the bundle's.
        hepdata: INSPIRE reference overriding the sidecar's.

    Returns:
        The Target.
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
    meta = getattr(bundle, "meta", None) or {}
    spec = bundle.spec if hasattr(bundle, "spec") else bundle
    resp.check_workspace(spec)
    sm_ref = dict(SM_REFERENCE_BR)
    sig = meta.get("signal") if isinstance(meta.get("signal"), Mapping) else {}
    if sig.get("reference_branching_ratio") is not None:
        sm_ref[str(sig.get("process", "B+->K+"))] = float(sig["reference_branching_ratio"])
    return Target(
        spec=spec,
        response=resp,
        hepdata=hepdata or hepdata_reference(meta),
        channel_modifiers=sidecar_modifiers(meta),
        name=name,
        sm_reference=sm_ref,
        sm_samples=sidecar_sm_samples(meta),
        sm_positions={str(c): int(i["sample_index"])
                      for c, i in (meta.get("channels") or {}).items()
                      if isinstance(i, Mapping) and "sample_index" in i},
    )


def load_target(path: Any, response: str | os.PathLike | None = None,
                hepdata: str | None = None) -> Target:
    """Load a workspace (and its sidecar/response) as a Target.

    Args:
        path: workspace JSON file, a name (``belle2``, a bundled stem) or an
            ``emiss.bundles.Bundle`` already loaded.
        response: response file overriding the sidecar's.
        hepdata: INSPIRE reference overriding the sidecar's.

    Returns:
        The Target.
    """
    if isinstance(path, Bundle):
        return target_from_bundle(path, response=response, hepdata=hepdata)
    bundle = load_bundle(path, response=response)  # an explicit response replaces the sidecar's
    return target_from_bundle(bundle, hepdata=hepdata)
