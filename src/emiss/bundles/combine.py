"""The combined B -> K + B -> K* background-only bundle.

The K part is the Belle II-style combined B+ -> K+ emulation (ITA on/off resonance + HTA,
``belle2_combined_bkgonly``, made by ``emiss.bundles.k_emulation``), the K* part the channels of
``belle2_kstar_bkgonly``. Both emulate the same Belle II data set (362 fb^-1, N_BB = 387e6), so
the modifiers that describe the data set (``n_bb``, ``lumi``) are shared; everything else keeps
its own name. One hypothesis predicts all channels: the patches (``emiss.patches.TemplateBuilder``)
carry a ``signal`` sample with one ``mu`` in every channel, mu = 1 meaning the reference
branching ratio of the first process (B+ -> K+), the K* yields following from the physics, and
form-factor uncertainties ``ff_BK_pc<i>`` (B -> K form factors, in the K channels and, through
the normalisation, the K* ones) and ``ff_BKstar_pc<i>`` (B -> K* form factors, K* channels only).
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

from emiss import contracts
from emiss.bundles.bundle import Bundle, load_bundle
from emiss.bundles.k_emulation import build_bundle
from emiss.errors import EmissError
from emiss.io import read_json, write_json
from emiss.names import POI
from emiss.response import Response

log = logging.getLogger(__name__)

#: Stem of the combined K + K* workspace.
COMBINED_STEM = "belle2_k_kstar_combined_bkgonly"
#: Stem of the Belle II-style combined B+ -> K+ emulation (ITA on/off resonance + HTA).
K_STEM = "belle2_combined_bkgonly"


def k_bundle(workspaces_dir: str | os.PathLike | None = None) -> tuple[dict, dict, Response]:
    """The Belle II-style combined B+ -> K+ emulation: from ``workspaces_dir`` when present,
    else built in memory.

    Args:
        workspaces_dir: folder holding ``belle2_combined_bkgonly.json`` (+ sidecar, response).

    Returns:
        (spec, sidecar, response).
    """
    if workspaces_dir is not None:
        p = Path(workspaces_dir) / f"{K_STEM}.json"
        side = Path(workspaces_dir) / f"{K_STEM}.meta.json"
        if p.is_file() and side.is_file():
            meta = read_json(side)
            return read_json(p), meta, Response.load(p.parent / meta["response"])
    return build_bundle(K_STEM)


def combine(k: tuple[dict, dict, Response], kst: tuple[dict, dict, Response])\
        -> tuple[dict, dict, Response]:
    """Combine a K bundle and a K* bundle into one (spec, sidecar, response).

    Args:
        k: (spec, sidecar, response) of the B -> K workspace.
        kst: (spec, sidecar, response) of the K* workspace.

    Returns:
        (spec, sidecar, response) of the combination (response in the K* format).

    Raises:
        EmissError: channel names clash.
    """
    ks, km, kr = k
    ss, sm, sr = kst
    names_k = {c["name"] for c in ks["channels"]}
    clash = names_k & {c["name"] for c in ss["channels"]}
    if clash:
        raise EmissError(f"channels {sorted(clash)} appear in both workspaces")
    params: dict[str, dict] = {}
    for spec in (ks, ss):
        for p in spec["measurements"][0]["config"].get("parameters", []):
            params.setdefault(p["name"], copy.deepcopy(p))
    spec = {
        "channels": copy.deepcopy(ks["channels"]) + copy.deepcopy(ss["channels"]),
        "observations": copy.deepcopy(ks["observations"]) + copy.deepcopy(ss["observations"]),
        "measurements": [{"name": "belle2_k_kstar_nunu", "config": {
            "poi": POI, "parameters": [params[n] for n in sorted(params)]}}],
        "version": "1.0.0",
    }
    meta = {
        "description": "Belle II-style background-only B -> K and B -> K* E_miss workspace "
                       "(emiss emulation; K channels from belle2_combined_bkgonly, K* channels "
                       "from belle2_kstar_bkgonly)",
        "data_statement": (f"K channels: {km.get('data_statement', '')} K* channels: "
                           f"{sm.get('data_statement', '')}"),
        "emulated_data": True,
        "references": dict(km.get("references") or {"hepdata": "ins2725943"}),
        "response": f"{COMBINED_STEM.replace('_bkgonly', '')}_response.json",
        "poi": POI,
        "signal": dict(km.get("signal") or {}),
        "channels": {**copy.deepcopy(km.get("channels", {})),
                     **copy.deepcopy(sm.get("channels", {}))},
        "parts": {"k": K_STEM, "kstar": "belle2_kstar_bkgonly"},
    }
    resp = Response(channels={**kr.channels, **sr.channels}, meta={
        "source": "union of the B -> K and B -> K* emulated responses"})
    resp.check_workspace(spec)
    return spec, meta, resp


def write_combined(outdir: str | os.PathLike, kstar_dir: str | os.PathLike | None = None)\
        -> list[Path]:
    """Write the combined bundle (workspace, sidecar, response) into outdir.

    Args:
        outdir: destination (``workspaces/``).
        kstar_dir: folder with the K and K* bundles (default outdir).

    Returns:
        Written paths.
    """
    import pyhf

    src = Path(kstar_dir or outdir)
    kb = load_bundle(src / "belle2_kstar_bkgonly.json")
    if kb.response is None:
        raise EmissError(f"{kb.path}: the K* bundle has no response file")
    spec, meta, resp = combine(k_bundle(src), (kb.spec, kb.meta, kb.response))
    pyhf.schema.validate(spec, "workspace.json")
    outdir = Path(outdir)
    return [
        write_json(outdir / meta["response"], resp.to_dict()),
        contracts.write(outdir / f"{COMBINED_STEM}.meta.json", meta, "sidecar"),
        write_json(outdir / f"{COMBINED_STEM}.json", spec),
    ]


def load_combined(path: str | os.PathLike) -> Bundle:
    """Load the combined bundle (an ``emiss.bundles.Bundle`` with a Response)."""
    return load_bundle(path)


