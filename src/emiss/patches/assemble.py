"""Binned signal templates -> JSON Patch operations -> a pyhf PatchSet (pure, no physics).

A hypothesis becomes one patch: for every channel that receives a yield, one ``add`` operation
per signal-like sample (``signal`` with normfactor ``mu``; for light-X hypotheses also
``sm_nunu``, the fixed SM nu nubar prediction). Modifiers per sample, in this order: ``mu``
(signal only), the form-factor histosys (shared names), then the per-channel modifiers the
workspace's sidecar says every signal sample must carry (same names as the background ones, so
they correlate). Numbers are rounded to ``SIG_DIGITS`` significant digits so that files are
compact and byte-reproducible.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emiss import contracts, io
from emiss.errors import EmissError
from emiss.names import POI
from emiss.patches.systematics import materialise

log = logging.getLogger(__name__)

#: Significant digits written for yields.
SIG_DIGITS = 10
#: Significant digits of the MC-statistical uncertainties ``one_family`` sets: the constraint
#: widths of different patches then agree to ~1e-12 relative (8 digits would leave ~1e-8).
STAT_DIGITS = 12
#: Relative size (of the channel's largest nominal yield) below which a histosys variation of a
#: sample in a channel is numerical noise and dropped.
NEGLIGIBLE = 1e-5
#: Version of the PatchSet schema written.
PATCHSET_VERSION = "1.0.0"


#: Yields as patches write them: ``emiss.io.round_sig`` to ``SIG_DIGITS`` (``digits=`` to
#: change), a flat list of plain floats, NaN and infinities refused.
round_yields = functools.partial(
    io.round_sig, digits=SIG_DIGITS, flat=True, nonfinite="raise",
    error="a template contains NaN or infinite yields; check the spectrum")


@dataclass
class SampleTemplate:
    """One signal-like sample of one hypothesis, over all channels.

    Attributes:
        name: sample name (``signal`` or ``sm_nunu``).
        nominal: channel -> expected yields per reco bin.
        histosys: modifier name -> channel -> (lo, hi) yields.
        normfactor: name of the normfactor (``mu``) or None for a fixed sample.
        published: channel -> a complete pyhf sample dict added as it is instead of one built
            from ``nominal`` (a workspace's own published signal sample, e.g. Belle II's SM
            signal in ``emiss.bundles.belle2_hepdata``); the sidecar modifiers are not added
            to it (it carries its own).
        positions: channel -> index in the channel's sample list to insert at (default: end).
    """

    name: str
    nominal: dict[str, np.ndarray]
    histosys: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    normfactor: str | None = None
    published: dict[str, dict] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)

    def total(self) -> float:
        """Sum of the nominal yields over all channels."""
        return float(sum(np.sum(v) for v in self.nominal.values()))


@dataclass
class PatchTemplate:
    """Everything one patch needs.

    Attributes:
        name: patch name (``^[a-zA-Z0-9_]+$``).
        values: hypothesis coordinates, one per PatchSet label.
        samples: the samples to add (``signal`` first).
        emiss: the per-patch ``emiss`` metadata block.
    """

    name: str
    values: list[float]
    samples: list[SampleTemplate]
    emiss: dict = field(default_factory=dict)


def channel_index(spec: Mapping) -> dict[str, int]:
    """Channel name -> index in the workspace's channel list."""
    return {ch["name"]: i for i, ch in enumerate(spec["channels"])}


def _channel_bins(spec: Mapping) -> dict[str, int]:
    return {ch["name"]: len(ch["samples"][0]["data"]) if ch["samples"] else -1
            for ch in spec["channels"]}


def sample_ops(
    spec: Mapping,
    samples: Sequence[SampleTemplate],
    channel_modifiers: Mapping[str, Sequence[Mapping]] | None = None,
    family: Sequence[str] = (),
) -> list[dict]:
    """JSON Patch operations that add the samples to the workspace's channels.

    The patches of one workspace form one likelihood family (``one_family``): every patch
    declares the same hypothesis nuisances (``family``) and the MC-statistical constraint
    widths of the workspace with its fixed samples, so that two patches evaluated at the same
    physical point give the same likelihood, constants included.

    Args:
        spec: the background-only workspace.
        samples: sample templates (their channels must exist in spec with matching bin counts).
        channel_modifiers: channel -> extra pyhf modifiers every signal sample in it carries.
        family: histosys names every patch of the workspace declares (``TemplateBuilder.
            family``); those this patch lacks are added with no effect.

    Returns:
        ``add`` operations, ordered by channel index then sample order.
    """
    idx = channel_index(spec)
    nbins = _channel_bins(spec)
    channel_modifiers = channel_modifiers or {}
    ops: list[tuple[int, int, dict]] = []
    existing = {ch["name"]: {s["name"] for s in ch["samples"]} for ch in spec["channels"]}
    for s_order, sample in enumerate(samples):
        for ch, nominal in sample.nominal.items():
            if ch not in idx:
                raise EmissError(
                    f"template channel {ch!r} is not in the workspace; "
                    f"channels: {', '.join(idx)}"
                )
            nominal = np.asarray(nominal, dtype=float)
            if nbins[ch] >= 0 and len(nominal) != nbins[ch]:
                raise EmissError(
                    f"template for channel {ch!r} has {len(nominal)} bins, the workspace "
                    f"channel has {nbins[ch]}"
                )
            if sample.name in existing[ch]:
                raise EmissError(
                    f"channel {ch!r} of the workspace already has a sample {sample.name!r}; "
                    "patches need a background-only workspace"
                )
            if not np.any(nominal > 0):
                continue  # nothing to add in this channel
            where = sample.positions.get(ch, "-")
            if ch in sample.published:
                value = dict(sample.published[ch])
                ops.append((idx[ch], s_order, {"op": "add", "value": value,
                                               "path": f"/channels/{idx[ch]}/samples/{where}"}))
                continue
            mods: list[dict] = []
            if sample.normfactor:
                mods.append({"name": sample.normfactor, "type": "normfactor", "data": None})
            for mname, per_ch in sample.histosys.items():
                if ch not in per_ch:
                    continue
                lo, hi = (np.clip(np.asarray(a, dtype=float), 0.0, None) for a in per_ch[ch])
                scale = max(float(np.max(np.abs(nominal))), 1e-300)
                if max(np.max(np.abs(lo - nominal)), np.max(np.abs(hi - nominal))) \
                        <= NEGLIGIBLE * scale:
                    continue
                mods.append({"name": mname, "type": "histosys",
                             "data": {"hi_data": round_yields(hi), "lo_data": round_yields(lo)}})
            for m in channel_modifiers.get(ch, ()):
                mods.append(materialise(m, nominal, round_yields))
            value = {"name": sample.name, "data": round_yields(nominal), "modifiers": mods}
            ops.append((idx[ch], s_order, {"op": "add", "value": value,
                                           "path": f"/channels/{idx[ch]}/samples/{where}"}))
    ops.sort(key=lambda t: (t[0], t[1]))
    out = [op for _, _, op in ops]
    one_family(spec, out, family)
    return out


def _scaled(value: Mapping) -> bool:
    """Whether a sample carries a normfactor (its yields follow a parameter of interest)."""
    return any(m["type"] == "normfactor" for m in value["modifiers"])


def one_family(spec: Mapping, ops: Sequence[dict], family: Sequence[str] = ()) -> None:
    """Make the added samples one likelihood family with every other patch of the workspace.

    Two rules, applied in place to the ``add`` operations of one patch:

    * **MC statistics of reweighted templates.** A template that reweights the simulated
      events of a fixed sample of the patch (Belle II's SM signal sample ``sm_nunu``, with the
      same ``staterror`` modifier) has MC-statistical fluctuations fully correlated with that
      sample's, as in the reweighting of arXiv:2402.08417 (redist) and 2507.12393: one factor
      gamma_b per bin multiplies both, and its width stays the fixed samples' own,
      sigma_b = sqrt(sum delta^2) / T_b (pyhf's staterror, sums over the samples carrying it,
      T_b their nominal yield). pyhf widens or narrows sigma_b by the delta it is given, so the
      scaled samples get delta_i,b = sigma_b sqrt(n_i,b (2 T_b + N_b)) (N_b = sum_i n_i,b):
      then sqrt(sigma_b^2 T_b^2 + sum_i delta_i,b^2) / (T_b + N_b) = sigma_b exactly, for any
      hypothesis and reference branching ratio. Bins no fixed sample populates (T_b = 0) keep
      the template's own relative MC uncertainty.
    * **The same nuisances in every patch.** Each name of ``family`` that no sample of the
      patch carries is declared by a histosys without effect (hi = lo = nominal) on the first
      scaled sample, so every patch has the same parameters and constraint terms.

    Args:
        spec: the background-only workspace.
        ops: ``add`` operations of one patch (sample values are modified in place).
        family: histosys names every patch declares.
    """
    by_channel: dict[int, list[dict]] = {}
    for op in ops:
        by_channel.setdefault(int(op["path"].split("/")[2]), []).append(op["value"])
    for ci, values in by_channel.items():
        scaled = [v for v in values if _scaled(v)]
        fixed = [v for v in values if not _scaled(v)] + list(spec["channels"][ci]["samples"])
        stat_names = {m["name"] for v in scaled for m in v["modifiers"]
                      if m["type"] == "staterror"}
        for name in sorted(stat_names):
            carriers = [(np.asarray(v["data"], float),
                         np.asarray(next(m["data"] for m in v["modifiers"]
                                         if m["type"] == "staterror" and m["name"] == name),
                                    float))
                        for v in fixed if any(m["type"] == "staterror" and m["name"] == name
                                              for m in v["modifiers"])]
            if not carriers:
                continue  # the scaled samples alone define this width (e.g. the SM patch)
            total = np.sum([n for n, _ in carriers], axis=0)
            err = np.sqrt(np.sum([d * d for _, d in carriers], axis=0))
            mine = [v for v in scaled if any(m["type"] == "staterror" and m["name"] == name
                                             for m in v["modifiers"])]
            n_all = np.sum([np.asarray(v["data"], float) for v in mine], axis=0)
            on = total > 0
            sigma = np.divide(err, total, out=np.zeros_like(total), where=on)
            for v in mine:
                v["modifiers"] = list(v["modifiers"])  # never edit a shared sidecar sample
                k = next(k for k, m in enumerate(v["modifiers"])
                         if m["type"] == "staterror" and m["name"] == name)
                n = np.clip(np.asarray(v["data"], float), 0.0, None)
                delta = np.where(on, sigma * np.sqrt(n * (2.0 * total + n_all)),
                                 np.asarray(v["modifiers"][k]["data"], float))
                v["modifiers"][k] = {**v["modifiers"][k],
                                     "data": round_yields(delta, digits=STAT_DIGITS)}
    if not family:
        return
    present = {m["name"] for op in ops for m in op["value"]["modifiers"]}
    missing = [f for f in family if f not in present]
    if not missing:
        return
    host = next((op["value"] for op in ops if _scaled(op["value"])), None)
    if host is None:
        raise EmissError("a patch without a scaled sample cannot declare the hypothesis "
                         f"nuisances {missing}")
    nominal = list(host["data"])
    host["modifiers"] = [*host["modifiers"], *(
        {"name": f, "type": "histosys", "data": {"hi_data": nominal, "lo_data": nominal}}
        for f in missing)]


def make_patchset(
    spec: Mapping,
    templates: Sequence[PatchTemplate],
    labels: Sequence[str],
    description: str,
    hepdata: str,
    channel_modifiers: Mapping[str, Sequence[Mapping]] | None = None,
    emiss_meta: Mapping | None = None,
    family: Sequence[str] = (),
) -> dict:
    """Assemble and validate a PatchSet.

    Args:
        spec: background-only workspace (its pyhf digest goes into the metadata).
        templates: one per hypothesis.
        labels: PatchSet labels (one per value of every template).
        description: what the patches are and what mu means.
        hepdata: INSPIRE reference ``insNNNNNNN``.
        channel_modifiers: per-channel modifiers every signal sample carries.
        emiss_meta: extra PatchSet-level metadata (stored under ``emiss``).
        family: hypothesis nuisances every patch of the workspace declares (``sample_ops``).

    Returns:
        The PatchSet as a JSON-able dict (schema-valid).

    Raises:
        EmissError: empty template list, a hypothesis with no yield, wrong label count,
            duplicate names/values or a malformed reference.
    """
    import pyhf

    if not templates:
        raise EmissError("no hypotheses to write; the grid is empty")
    if not isinstance(hepdata, str) or not (
        len(hepdata) == 10 and hepdata.startswith("ins") and hepdata[3:].isdigit()
    ):
        raise EmissError(f"bad HEPData reference {hepdata!r}; expected ins + 7 digits, "
                         "e.g. ins2725943")
    patches = []
    names: set[str] = set()
    values: set[tuple] = set()
    for t in templates:
        if len(t.values) != len(labels):
            raise EmissError(f"patch {t.name!r} has {len(t.values)} values for "
                             f"{len(labels)} labels {list(labels)}")
        if t.name in names:
            raise EmissError(f"patch name {t.name!r} appears twice")
        key = tuple(t.values)
        if key in values:
            raise EmissError(f"two patches have the same values {list(key)}")
        names.add(t.name)
        values.add(key)
        signal = [s for s in t.samples if s.normfactor]
        if not signal or not any(s.total() > 0 for s in signal):
            raise EmissError(
                f"hypothesis {t.name!r} gives no signal yield in any channel of the workspace "
                "(outside the acceptance); remove it from the grid"
            )
        ops = sample_ops(spec, t.samples, channel_modifiers, family)
        meta = {"name": t.name, "values": [_num(v) for v in t.values]}
        if t.emiss:
            meta["emiss"] = contracts.validate(t.emiss, "patch", f"of patch {t.name!r}")
        patches.append({"metadata": meta, "patch": ops})
    md: dict[str, Any] = {
        "description": description,
        "digests": {"sha256": pyhf.utils.digest(spec, algorithm="sha256")},
        "labels": list(labels),
        "references": {"hepdata": hepdata},
    }
    if emiss_meta:
        md["emiss"] = dict(emiss_meta)
    out = {"metadata": md, "patches": patches, "version": PATCHSET_VERSION}
    validate_patchset(out, spec, n_full=1)
    return out


def _num(v: float) -> float:
    v = float(v) + 0.0
    if not math.isfinite(v):
        raise EmissError(f"hypothesis value {v!r} is not finite")
    return v


def validate_patchset(patchset: Mapping, spec: Mapping | None = None, n_full: int = 1,
                      workspace_name: str = "the workspace") -> None:
    """Check a PatchSet: schema, unique names/values, digest, and patched models.

    Args:
        patchset: PatchSet dict.
        spec: the workspace it belongs to (digest and model checks), or None.
        n_full: number of patches (the first ones; -1: all) applied to the workspace, whose
            result is schema-validated and built into a pyhf model. Patches of one PatchSet
            share their structure, so one is representative; schema validation of a whole
            workspace costs ~0.2 s.
        workspace_name: how to call the workspace in messages.

    Raises:
        EmissError: with pyhf's message when anything fails.
    """
    import pyhf

    try:
        ps = pyhf.PatchSet(patchset)
    except (pyhf.exceptions.InvalidSpecification, pyhf.exceptions.InvalidPatchSet) as exc:
        raise EmissError(f"invalid PatchSet: {str(exc).splitlines()[0]}") from None
    check_patch_numbers(patchset)
    if spec is None:
        return
    import jsonpatch

    verify_digest(patchset, spec, workspace_name)
    todo = ps.patches if n_full < 0 else ps.patches[:n_full]
    for patch in todo:
        try:
            patched = jsonpatch.apply_patch(spec, patch.patch)
            pyhf.Workspace(patched).model(poi_name=POI)  # validates the workspace schema
        except Exception as exc:  # pyhf raises several exception types
            raise EmissError(f"patch {patch.name!r} does not give a valid model: "
                             f"{str(exc).splitlines()[0]}") from None


def check_patch_numbers(patchset: Mapping, where: str = "PatchSet") -> None:
    """Raise EmissError unless every sample the patches add has finite, non-negative yields.

    Args:
        patchset: PatchSet dict.
        where: what to call it in messages.
    """
    from emiss.bundles.checks import check_sample

    for patch in patchset.get("patches", []):
        name = patch.get("metadata", {}).get("name", "?")
        for op in patch.get("patch", []):
            value = op.get("value")
            if op.get("op") == "add" and isinstance(value, Mapping) and "data" in value:
                check_sample(value, f"{where}, patch {name!r} ({op.get('path')})")


def check_signal_channels(patchset: Mapping, spec: Mapping, signal_channels: Sequence[str],
                          where: str = "PatchSet") -> None:
    """Raise EmissError when no patch puts signal into a channel that carries signal.

    A patchset built with the sidecar or response of another workspace leaves channels without
    signal; a single hypothesis may legitimately miss a channel (outside its acceptance), so the
    check is over the whole patchset.

    Args:
        patchset: PatchSet dict.
        spec: the workspace.
        signal_channels: channels that carry signal (the workspace sidecar's).
        where: what to call the patchset in messages.
    """
    names = [c["name"] for c in spec["channels"]]
    filled: set[str] = set()
    for patch in patchset.get("patches", []):
        for op in patch.get("patch", []):
            value = op.get("value")
            parts = str(op.get("path", "")).split("/")
            if isinstance(value, Mapping) and len(parts) > 2 and parts[1] == "channels" \
                    and parts[2].isdigit() and int(parts[2]) < len(names) \
                    and any(m.get("type") == "normfactor" for m in value.get("modifiers", [])):
                filled.add(names[int(parts[2])])
    missing = [c for c in signal_channels if c not in filled]
    if missing:
        raise EmissError(f"{where}: no patch puts signal into {', '.join(map(repr, missing))}, "
                         "which the workspace's sidecar says carry signal (built with another "
                         "workspace's sidecar or response?); rebuild it with `emiss patchset`")


def verify_digest(patchset: Mapping, spec: Mapping, workspace_name: str = "the workspace")\
        -> None:
    """Raise a clear EmissError when the PatchSet was built for another workspace.

    Args:
        patchset: PatchSet dict.
        spec: workspace spec.
        workspace_name: how to call the workspace in the message.
    """
    import pyhf

    for alg, expected in patchset.get("metadata", {}).get("digests", {}).items():
        got = pyhf.utils.digest(spec, algorithm=alg)
        if got != expected:
            raise EmissError(
                f"PatchSet digest mismatch: it was built for a workspace with {alg} "
                f"{expected[:12]}..., but {workspace_name} has {got[:12]}...; use the "
                "workspace the PatchSet was generated for"
            )
