"""One workspace from several experiments: the global B -> K(*) E_miss likelihood (a bundle source).

``combine_parts`` joins bundles (Belle II's released likelihood ``belle2``, the simplified
likelihoods ``babar2013``, ``belle2017``, ``bs-invisible``, an emulation or any bundle file)
into one pyhf workspace with a sidecar and a response, so that one patch per hypothesis covers
every channel (``emiss patchset``) and ``emiss scan`` runs on it unchanged:

* **Experimental nuisances apart.** Every modifier of a part (backgrounds, detector, MC
  statistics, luminosity) is renamed ``<prefix>_<name>`` with the part's prefix (``belle2``,
  ``babar2013``, ...; a name that already starts with the prefix keeps it), in the workspace,
  its measurement and the sidecar's signal modifiers; channels keep their names (they must be
  unique).
* **Theory nuisances shared.** ``mu`` and emiss's form-factor components ``ff_<family>_pc<i>``
  (``SHARED``), which the patches add, keep their names: one B -> K form-factor variation moves
  every B -> K channel of every experiment, likewise for B -> K*.
* **One signal model.** Patches fold each hypothesis through every channel's own response.
  Belle II's published SM signal samples (sidecar ``sm_sample``, with Belle II's own
  form-factor nuisances ``corr_ff_c1..3``) serve only channels that all have one; when the
  parts mix channels with and without them the combination drops them, so that the SM and the
  SM nu nubar under a light X are emiss's folded templates everywhere (through Belle II's own
  response for its channels) and one ``ff_BK_pc<i>`` set describes the form factors. The B_s
  bin of ``bs-invisible`` measures "Bs->invisible": a pair hypothesis puts S * B(B_s -> X X̄)
  there at the same coupling as its B -> K(*) signal (one ``mu`` scales every channel, rates
  go as the coupling squared); a hypothesis that cannot annihilate a B_s puts nothing there.

The bundle is the usual three files (``<stem>.json``, ``<stem>.meta.json`` recording the parts,
their prefixes and the combined pyhf digest, and the response ``<stem>_response.json``).
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emiss.bundles import babar2013, belle2017, bs_invisible
from emiss.bundles.simplified import response_name, write_bundle
from emiss.errors import EmissError
from emiss.names import POI, SIGNAL_SAMPLE
from emiss.response import Response

log = logging.getLogger(__name__)

#: Parameter names every part shares (theory: the POI and emiss's form-factor components).
SHARED = re.compile(rf"^({POI}|ff_[A-Za-z0-9]+_pc[0-9]+)$")
#: Sidecar keys of a channel that describe a published SM signal sample.
PUBLISHED_SM_KEYS = ("sm_sample", "sample_index", "sm_form_factor_modifiers", "signal_sample")
#: Simplified-likelihood sources built from emiss's data files: name -> builder.
SOURCES: dict[str, Callable[[], tuple[dict, dict, Response]]] = {
    babar2013.NAME: babar2013.build_bundle,
    belle2017.NAME: belle2017.build_bundle,
    bs_invisible.NAME: bs_invisible.build_bundle,
}
#: Other spellings of the source names.
ALIASES = {"bs_invisible": bs_invisible.NAME, "bsinvisible": bs_invisible.NAME,
           "babar": babar2013.NAME, "belle": belle2017.NAME}


@dataclass
class Part:
    """One experiment's bundle in a combination.

    Attributes:
        name: the name it was given by (``belle2``, ``babar2013``, a file path).
        prefix: prefix of its experimental nuisances.
        spec: pyhf workspace.
        meta: sidecar.
        response: Response (may have no channel).
    """

    name: str
    prefix: str
    spec: dict
    meta: dict
    response: Response


def default_prefix(name: str) -> str:
    """Prefix of a part: its name without folder and ``.json``/``_bkgonly``, made pyhf-safe."""
    stem = Path(name).name.removesuffix(".json").removesuffix("_bkgonly")
    return re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_") or "part"


def load_part(name: str, prefix: str | None = None) -> Part:
    """A part by name: a simplified-likelihood source (``SOURCES``) or any bundle.

    Args:
        name: ``babar2013``, ``belle2017``, ``bs-invisible``, ``belle2``, a bundled stem or a
            workspace file (with its sidecar and response).
        prefix: nuisance prefix (default: from the name).

    Returns:
        The Part.
    """
    from emiss.bundles.bundle import load_bundle

    key = ALIASES.get(name.lower(), name.lower())
    if key in SOURCES and not Path(name).is_file():
        spec, meta, resp = SOURCES[key]()
        return Part(key, prefix or default_prefix(key), spec, meta, resp)
    try:
        b = load_bundle(name)
    except EmissError as exc:
        if Path(name).exists():
            raise
        raise EmissError(f"{exc}; or a simplified likelihood: {', '.join(SOURCES)}") from None
    if b.response is None:
        raise EmissError(f"workspace {name!r} has no response (its sidecar names none): it "
                         "cannot take part in a combination")
    pref = prefix or default_prefix("belle2" if name == "belle2" else b.stem)
    return Part(name, pref, b.spec, dict(b.meta), b.response)


# ----------------------------------------------------------------------------- renaming
def prefixed(name: str, prefix: str) -> str:
    """The combined name of a parameter: shared ones unchanged, others ``<prefix>_<name>``."""
    if SHARED.match(name) or name.startswith(f"{prefix}_"):
        return name
    return f"{prefix}_{name}"


def _rename_modifiers(mods: Iterable[Mapping], prefix: str) -> list[dict]:
    out = []
    for m in mods:
        d = copy.deepcopy(dict(m))
        d["name"] = prefixed(str(d["name"]), prefix)
        out.append(d)
    return out


def rename_spec(spec: Mapping, prefix: str) -> dict:
    """A workspace with every non-shared modifier and parameter config renamed with prefix.

    Args:
        spec: pyhf workspace.
        prefix: the part's prefix.

    Returns:
        A renamed deep copy.
    """
    out = copy.deepcopy(dict(spec))
    for ch in out["channels"]:
        for s in ch["samples"]:
            s["modifiers"] = _rename_modifiers(s.get("modifiers", []), prefix)
    for meas in out.get("measurements", []):
        for p in meas["config"].get("parameters", []):
            p["name"] = prefixed(str(p["name"]), prefix)
    return out


def rename_channels(part: Part, mapping: Mapping[str, str]) -> Part:
    """A copy of a part with channels renamed (workspace, observations, sidecar, response).

    Args:
        part: the part.
        mapping: old channel name -> new name (channels not named keep theirs).

    Returns:
        The renamed Part.
    """
    spec = copy.deepcopy(part.spec)
    for ch in spec["channels"]:
        ch["name"] = mapping.get(ch["name"], ch["name"])
    for obs in spec["observations"]:
        obs["name"] = mapping.get(obs["name"], obs["name"])
    meta = copy.deepcopy(part.meta)
    if isinstance(meta.get("channels"), Mapping):
        meta["channels"] = {mapping.get(k, k): v for k, v in meta["channels"].items()}
    meta.pop("workspace_digest", None)
    chans = {}
    for old, cr in part.response.channels.items():
        new = copy.deepcopy(cr)
        new.name = mapping.get(old, old)
        chans[new.name] = new
    return Part(part.name, part.prefix, spec, meta,
                Response(channels=chans, meta=copy.deepcopy(part.response.meta)))


def _signal_channels(meta: Mapping) -> dict[str, Mapping]:
    chans = meta.get("channels")
    if not isinstance(chans, Mapping):
        chans = {}
    return {str(k): v for k, v in chans.items() if isinstance(v, Mapping) and v.get("process")}


def _keep_published(parts: Sequence[Part]) -> bool:
    """Whether every signal channel of every part has a published SM sample."""
    chans = [c for p in parts for c in _signal_channels(p.meta).values()]
    return bool(chans) and all(isinstance(c.get("sm_sample"), Mapping) for c in chans)


def _channel_info(info: Mapping, part: Part, keep_published: bool) -> dict:
    out = copy.deepcopy(dict(info))
    out["part"] = part.name
    if isinstance(out.get("signal_modifiers"), list):
        out["signal_modifiers"] = _rename_modifiers(out["signal_modifiers"], part.prefix)
    if keep_published:
        if isinstance(out.get("sm_sample"), Mapping):
            out["sm_sample"]["modifiers"] = _rename_modifiers(out["sm_sample"]["modifiers"],
                                                              part.prefix)
        if isinstance(out.get("sm_form_factor_modifiers"), list):
            out["sm_form_factor_modifiers"] = [prefixed(str(n), part.prefix)
                                               for n in out["sm_form_factor_modifiers"]]
    else:
        for key in PUBLISHED_SM_KEYS:
            out.pop(key, None)
    return out


def _experiment(meta: Mapping) -> str:
    src = meta.get("source")
    if not isinstance(src, Mapping):
        src = {}
    if src.get("experiment"):
        return str(src["experiment"])
    return "emulation" if meta.get("emulated_data") else "unknown"


def _arxiv(meta: Mapping) -> list[str]:
    out: list[str] = []
    for block in (meta.get("source"), meta.get("references")):
        if not isinstance(block, Mapping):
            continue
        for key in ("arxiv", "measurement_arxiv"):
            val = block.get(key)
            for v in (val if isinstance(val, (list, tuple)) else [val]):
                if v and str(v) not in out:
                    out.append(str(v))
    return out


# ----------------------------------------------------------------------------- combination
def combine_parts(parts: Sequence[Part], stem: str) -> tuple[dict, dict, Response]:
    """Combine parts into one (spec, sidecar, response).

    Args:
        parts: the experiments' bundles (two or more; prefixes must differ).
        stem: workspace stem of the combination.

    Returns:
        (spec, sidecar, response); the spec is schema-valid.

    Raises:
        EmissError: fewer than two parts, equal prefixes, clashing channel names or parameter
            configurations that differ for a shared name.
    """
    import pyhf

    if len(parts) < 2:
        raise EmissError("a combination needs at least two workspaces")
    prefixes = [p.prefix for p in parts]
    if len(set(prefixes)) != len(prefixes):
        raise EmissError(f"two parts have the same nuisance prefix ({prefixes}); combining a "
                         "workspace with itself needs distinct prefixes")
    seen: dict[str, str] = {}
    for p in parts:
        for ch in p.spec["channels"]:
            if ch["name"] in seen:
                raise EmissError(f"channel {ch['name']!r} is in both {seen[ch['name']]!r} and "
                                 f"{p.name!r}: rename one (channels must be unique)")
            seen[ch["name"]] = p.name
    keep = _keep_published(parts)
    channels, observations = [], []
    params: dict[str, dict] = {}
    side_chans: dict[str, Any] = {}
    resp_chans = {}
    for p in parts:
        renamed = rename_spec(p.spec, p.prefix)
        channels += renamed["channels"]
        observations += renamed["observations"]
        for meas in renamed.get("measurements", [])[:1]:
            for cfg in meas["config"].get("parameters", []):
                old = params.get(cfg["name"])
                if old is not None and old != cfg:
                    raise EmissError(f"parameter {cfg['name']!r} is configured differently in "
                                     f"two parts: {old} vs {cfg}")
                params[cfg["name"]] = cfg
        for name, info in (p.meta.get("channels") or {}).items():
            side_chans[name] = _channel_info(info, p, keep)
        resp_chans.update(p.response.channels)
    spec = {
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": stem, "config": {
            "poi": POI, "parameters": [params[n] for n in sorted(params)]}}],
        "version": "1.0.0",
    }
    pyhf.schema.validate(spec, "workspace.json")
    response = Response(channels=resp_chans, meta={
        "source": "union of the parts' responses (emiss.bundles.global_likelihood)",
        "parts": {p.name: p.response.meta for p in parts}})
    response.check_workspace(spec)
    meta = _sidecar(parts, stem, spec, side_chans, keep)
    return spec, meta, response


def _sidecar(parts: Sequence[Part], stem: str, spec: dict, channels: dict,
             keep_published: bool) -> dict:
    import pyhf

    signal = next((dict(p.meta["signal"]) for p in parts
                   if isinstance(p.meta.get("signal"), Mapping)
                   and p.meta["signal"].get("reference_branching_ratio") is not None), None)
    signal = signal or {"process": "B+->K+", "sample": SIGNAL_SAMPLE}
    hepdata = next((p.meta["references"]["hepdata"] for p in parts
                    if isinstance(p.meta.get("references"), Mapping)
                    and isinstance(p.meta["references"].get("hepdata"), str)), None)
    experiments = [_experiment(p.meta) for p in parts]
    arxiv = [a for p in parts for a in _arxiv(p.meta)]
    emulated = any(bool(p.meta.get("emulated_data")) for p in parts)
    refs: dict[str, Any] = {"arxiv": arxiv}
    if hepdata:
        refs["hepdata"] = hepdata
    return {
        "description": "combined background-only B -> K(*) E_miss workspace: "
                       + " + ".join(f"{p.name} ({e})" for p, e in zip(parts, experiments,
                                                                       strict=True))
                       + " (emiss.bundles.global_likelihood)",
        "data_statement": " ".join(f"[{p.name}] {p.meta.get('data_statement', '')}".strip()
                                   for p in parts),
        "emulated_data": emulated,
        "references": refs,
        "source": {"experiment": " + ".join(dict.fromkeys(experiments)), "arxiv": arxiv,
                   **({"hepdata": hepdata} if hepdata else {})},
        "response": response_name(stem),
        "poi": POI,
        "signal": signal,
        "channels": channels,
        "parts": [{"name": p.name, "prefix": p.prefix, "experiment": e,
                   "channels": [c["name"] for c in p.spec["channels"]],
                   "description": p.meta.get("description")}
                  for p, e in zip(parts, experiments, strict=True)],
        "nuisances": {
            "experimental": "every modifier of a part is renamed <prefix>_<name> (prefixes in "
                            "`parts`): experiments' systematics are independent",
            "shared": "mu and emiss's form-factor components ff_<family>_pc<i> (added by the "
                      "patches) keep their names: one variation moves every experiment",
            "published_sm_samples": (
                "kept (every signal channel has one)" if keep_published else
                "not used: the parts mix channels with and without a published SM signal "
                "sample, so every channel's signal (SM included) is emiss's folded template"),
        },
        "workspace_digest": pyhf.utils.digest(spec, algorithm="sha256"),
    }


def default_stem(names: Sequence[str]) -> str:
    """Stem of a combination: ``combined_<prefix>_<prefix>..._bkgonly``."""
    return "combined_" + "_".join(default_prefix(ALIASES.get(n, n)) for n in names) + \
        "_bkgonly"


def combine(names: Sequence[str], stem: str | None = None) -> tuple[dict, dict, Response]:
    """Combine bundles by name (``SOURCES``, ``belle2``, bundled stems, files).

    Args:
        names: two or more names.
        stem: stem of the combination (default ``default_stem``).

    Returns:
        (spec, sidecar, response).
    """
    return combine_parts([load_part(n) for n in names], stem or default_stem(names))


def source_key(name: str) -> str | None:
    """The simplified-likelihood source a name means (``SOURCES``, ``ALIASES``), or None."""
    key = ALIASES.get(name.lower(), name.lower())
    return key if key in SOURCES and not Path(name).is_file() else None


def source_stem(name: str) -> str:
    """The workspace stem of a simplified source alone: ``<prefix>_bkgonly``."""
    key = source_key(name)
    if key is None:
        raise EmissError(f"{name!r} is not a simplified likelihood ({', '.join(SOURCES)})")
    return f"{default_prefix(key)}_bkgonly"


def write_combination(names: Sequence[str], outdir: str | os.PathLike,
                      stem: str | None = None) -> list[Path]:
    """Combine bundles by name and write the three files into outdir.

    One simplified source alone (``SOURCES``, e.g. ``babar2013``) is written as it is: its own
    bundle, to scan or measure that experiment by itself.

    Args:
        names: two or more names, or one simplified source.
        outdir: destination folder.
        stem: stem of the combination (default ``default_stem``; one source:
            ``source_stem``).

    Returns:
        The written paths (response, sidecar, workspace).
    """
    if len(names) == 1:
        stem = stem or source_stem(names[0])
        key = source_key(names[0])
        assert key is not None
        log.info("wrote the simplified likelihood %s alone as %s", key, stem)
        return write_bundle(SOURCES[key](), outdir, stem)
    stem = stem or default_stem(names)
    bundle = combine(names, stem)
    log.info("combined %s into %s (%d channels)", ", ".join(names), stem,
             len(bundle[0]["channels"]))
    return write_bundle(bundle, outdir, stem)
