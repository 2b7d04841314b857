"""Hypotheses -> pyhf PatchSets: the entry points of the patch stage.

``build_patchset(target, entry)`` makes one schema-valid, digest-stamped PatchSet for one grid
entry on one workspace, ``generate`` several (shared caches), ``scenario_patchset`` one scenario
in one call, ``sm_patch`` the SM signal ``emiss measure`` fits. The pieces live in their own
modules: ``target`` (the workspace), ``hypotheses`` (entries checked against the physics),
``templates`` (folding, any channel kind), ``systematics`` (form-factor variations, sidecar
modifiers), ``metadata`` (what mu means, the ``emiss`` block), ``assemble`` (JSON Patch ops,
PatchSet, validation) and ``grid`` (grid syntax and files). The names this module exported
before the split are still importable from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from emiss import validate
from emiss.bundles.bundle import Bundle
from emiss.errors import EmissError
from emiss.io import dumps_json, write_json
from emiss.names import POI, SIGNAL_SAMPLE, SM_SAMPLE
from emiss.patches.assemble import make_patchset, sample_ops, validate_patchset
from emiss.patches.grid import GridEntry, make_entry
from emiss.patches.hypotheses import ResolvedEntry, check_masses, resolve_entry
from emiss.patches.metadata import LIGHT_X_REFERENCE_BR, SM_REFERENCE_BR, describe
from emiss.patches.systematics import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    FF_COMPONENTS,
    FF_MIN_RELATIVE,
)
from emiss.patches.target import PROCESS_ORDER, load_target, target_from_bundle
from emiss.patches.templates import TemplateBuilder

log = logging.getLogger(__name__)


def build_patchset(
    target: Bundle,
    entry: GridEntry,
    n_samples: int = DEFAULT_FF_SAMPLES,
    seed: int = DEFAULT_FF_SEED,
    builder: TemplateBuilder | None = None,
    hepdata: str | None = None,
) -> dict:
    """One PatchSet for one grid entry on one workspace.

    Args:
        target: the workspace (``load_target``).
        entry: scenario, masses and parameters (``make_entry`` / ``load_grid``).
        n_samples: form-factor draws (0 switches form-factor systematics off).
        seed: seed of the draws.
        builder: reuse a TemplateBuilder (its caches) across entries.
        hepdata: INSPIRE reference (default: the workspace sidecar's).

    Returns:
        A schema-valid, digest-stamped PatchSet dict.
    """
    res = resolve_entry(entry)
    builder = builder or TemplateBuilder(target, n_samples=n_samples, seed=seed)
    if res.entry.masses is not None:
        check_masses(res.scenario, res.entry.masses, builder.processes)
    ref = hepdata or target.hepdata
    if not ref:
        raise EmissError(f"workspace {target.name!r} names no HEPData record; pass --hepdata "
                         "insNNNNNNN")
    templates = [builder.template(res, h) for h in res.hypotheses]
    meta = {
        "scenario": res.scenario.name,
        "workspace": target.name,
        "ff_samples": builder.n_samples,
        "ff_seed": builder.seed,
        "signal_sample": SIGNAL_SAMPLE,
        "poi": POI,
        "likelihood_family": {
            "nuisances": builder.family,
            "statement": (
                "every patch of this workspace declares these hypothesis nuisances (without "
                "effect where they do not act) and the same constraint widths, so -2 ln L of "
                "two patches at the same physical point agree, constants included; the SM-only "
                "point of a light-X patch (mu = 0) is the SM patch at mu = 1"),
            "mc_statistics": (
                "a template that reweights the SM signal MC shares that sample's staterror "
                "factors (fully correlated MC statistics, as in arXiv:2402.08417); the "
                "constraint widths stay those of the workspace with its fixed samples"),
        },
    }
    return make_patchset(
        target.spec, templates, res.labels, describe(res.scenario, target, res.labels),
        ref, channel_modifiers=target.channel_modifiers, emiss_meta=meta,
        family=builder.family,
    )


def sm_patch(bundle: Bundle, n_samples: int = DEFAULT_FF_SAMPLES, seed: int = DEFAULT_FF_SEED)\
        -> list[dict]:
    """JSON Patch operations adding the SM nu nubar signal (mu = 1 <-> B = 4.97e-6 for B+ -> K+).

    Used by ``emiss measure`` so that it and the committed SM patch agree.

    Args:
        bundle: ``emiss.bundles.Bundle``.
        n_samples: form-factor draws.
        seed: their seed.

    Returns:
        List of JSON Patch operations.
    """
    target = bundle if isinstance(bundle, Bundle) else target_from_bundle(bundle)
    res = resolve_entry(make_entry("sm"))
    builder = TemplateBuilder(target, n_samples=n_samples, seed=seed)
    t = builder.template(res, res.hypotheses[0])
    return sample_ops(target.spec, t.samples, target.channel_modifiers, builder.family)


def estimate_patch_bytes(spec: Mapping[str, Any]) -> int:
    """Upper estimate of one patch's JSON size on a workspace (bytes).

    Measured on the bundled workspaces' committed patches: about 700 bytes per fit bin (signal
    and SM samples with their form-factor histosys and MC-statistics modifiers) plus 2 kB of
    metadata.

    Args:
        spec: the background-only workspace.

    Returns:
        Bytes per patch.
    """
    n_bins = sum(len(ch["samples"][0]["data"]) for ch in spec.get("channels", [])
                 if ch.get("samples"))
    return 2000 + 700 * n_bins


def write_patchset(path: str | os.PathLike, patchset: Mapping) -> Path:
    """Write a PatchSet as deterministic JSON, atomically."""
    return write_json(path, patchset)


def generate(
    workspace: str | os.PathLike | Bundle,
    entries: Sequence[GridEntry],
    n_samples: int = DEFAULT_FF_SAMPLES,
    seed: int = DEFAULT_FF_SEED,
    response: str | os.PathLike | None = None,
    hepdata: str | None = None,
    progress: Callable[[str], None] | None = None,
    ctau_m: float | None = None,
) -> dict[str, dict]:
    """PatchSets for several grid entries on one workspace (shared caches).

    Args:
        workspace: workspace path or Bundle.
        entries: grid entries.
        n_samples: form-factor draws.
        seed: their seed.
        response: response file overriding the sidecar's.
        hepdata: INSPIRE reference overriding the sidecar's.
        progress: called with each entry name when it is done.
        ctau_m: proper decay length of a two-body X in m (None: invisible); the signal is
            B * P_inv (``TemplateBuilder``).

    Returns:
        entry name -> PatchSet.
    """
    n_samples = validate.FF_SAMPLES.check(n_samples, "n_samples")  # before any work
    seed = validate.SEED.check(seed, "seed")
    for e in entries:
        e.check_size()
    total = sum(e.n_hypotheses for e in entries)
    split = "build its entries in separate commands (grid files with fewer entries)"
    validate.check_hypotheses(total, f"the grid ({len(entries)} entries)", split)
    target = workspace if isinstance(workspace, Bundle) else load_target(
        workspace, response=response, hepdata=hepdata)
    size = total * estimate_patch_bytes(target.spec)
    if size > validate.MAX_PATCHSET_BYTES:
        raise EmissError(
            f"the grid's {total} patches would take about {size / 1e9:.1f} GB of PatchSet JSON on "
            f"{target.name} (about {estimate_patch_bytes(target.spec) / 1e3:.0f} kB each); at "
            f"most {validate.MAX_PATCHSET_BYTES / 1e9:.1f} GB are written by one command: "
            f"{split}, or split --masses/--param into ranges")
    builder = TemplateBuilder(target, n_samples=n_samples, seed=seed, ctau_m=ctau_m)
    resolved = [resolve_entry(e) for e in entries]  # fail early, before any work
    for r in resolved:
        if r.entry.masses is not None:
            check_masses(r.scenario, r.entry.masses, builder.processes)
    out = {}
    for e in entries:
        out[e.name] = build_patchset(target, e, builder=builder, hepdata=hepdata)
        if progress:
            progress(e.name)
    return out




def scenario_patchset(target: Bundle, scenario: str,
                      masses: Sequence[float] | str | None = None,
                      params: Mapping[str, Sequence[float] | str] | None = None,
                      n_samples: int = DEFAULT_FF_SAMPLES, seed: int = DEFAULT_FF_SEED,
                      builder: TemplateBuilder | None = None) -> dict:
    """A PatchSet for one scenario on a workspace (any bundle: K, K* or K + K*).

    Args:
        target: the workspace (``load_target``).
        scenario: scenario name (``emiss.physics.scenarios``).
        masses: m_X grid: values or a grid string such as "0.1:4.3:0.2" (None: no mass).
        params: parameter grids.
        n_samples: form-factor draws per family (ignored when a builder is given).
        seed: their seed (ignored when a builder is given).
        builder: reuse a builder (caches) across scenarios.

    Returns:
        The PatchSet dict.
    """
    if masses is not None and not isinstance(masses, str):
        masses = list(masses)
    entry = make_entry(scenario, masses=masses, params=dict(params or {}))
    builder = builder or TemplateBuilder(target, n_samples=n_samples, seed=seed)
    return build_patchset(target, entry, builder=builder)


__all__ = [
    "DEFAULT_FF_SAMPLES",
    "DEFAULT_FF_SEED",
    "FF_COMPONENTS",
    "FF_MIN_RELATIVE",
    "LIGHT_X_REFERENCE_BR",
    "POI",
    "PROCESS_ORDER",
    "SIGNAL_SAMPLE",
    "SM_REFERENCE_BR",
    "SM_SAMPLE",
    "ResolvedEntry",
    "TemplateBuilder",
    "build_patchset",
    "check_masses",
    "describe",
    "dumps_json",
    "generate",
    "load_target",
    "resolve_entry",
    "scenario_patchset",
    "sm_patch",
    "target_from_bundle",
    "validate_patchset",
    "write_patchset",
]
