"""Fit-bin labels of a workspace's channels and readable sample names, for figures.

Bin labels, in order of precedence:

1. the sidecar's ``meta["channels"][CH]["bin_labels"]`` (a list of strings, one per bin);
2. the detector response of the channel: the K* helicity kernel's q²_rec (outer) × cos θ_K
   (inner) bins; the bundled B⁺ → K⁺ emulation's η(BDT2) (outer) × q²_rec (inner) bins (ITA,
   on and off resonance) and BDTh bins (HTA), read from ``belle2_emulation.yaml``; any other
   box kernel's classifier slices × q²_rec bins;
3. plain bin numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: Legend names of the samples of the bundled workspaces (Belle II-style emulation).
SAMPLE_NAMES = {
    "bkg_bplus": r"$B^+B^-$ background",
    "bkg_b0": r"$B^0\bar B^0$ background",
    "bkg_uds": r"$e^+e^-\to u\bar u, d\bar d, s\bar s$",
    "bkg_ccbar": r"$e^+e^-\to c\bar c$",
    "bkg_tautau": r"$e^+e^-\to\tau^+\tau^-$",
    "bkg_btaunu": r"$B^+\to\tau^+\nu$ (as background)",
    "sm_nunu": r"SM $\nu\bar\nu$ (fixed)",
    "signal": "signal",
}


def sample_name(name: str) -> str:
    """Legend name of a sample (the raw name when it is not one of SAMPLE_NAMES)."""
    return SAMPLE_NAMES.get(name, name)


@dataclass
class ChannelBins:
    """How to label the fit bins of one channel.

    Attributes:
        labels: one tick label per bin (the inner axis when there are groups).
        xlabel: the axis title.
        groups: (text, first bin, one past the last bin) of the outer axis; [] when flat.
        source: where the labels come from ("sidecar", "response", "emulation", "index").
    """

    labels: list[str]
    xlabel: str
    groups: list[tuple[str, int, int]] = field(default_factory=list)
    source: str = "index"


def _pairs(edges: Any) -> list[tuple[float, float]]:
    e = [float(x) for x in edges]
    return list(zip(e[:-1], e[1:], strict=True))


def _ranges(edges: Any) -> list[str]:
    return [f"{a:g}–{b:g}".replace("-", "−") for a, b in _pairs(edges)]


def _between(edges: Any, var: str) -> list[str]:
    """Outer-axis texts ``$a < var < b$`` (mathtext)."""
    return [f"${a:g} < {var} < {b:g}$" for a, b in _pairs(edges)]


def _product(outer: list[str], outer_name: str, inner: list[str], inner_name: str,
             source: str) -> ChannelBins:
    n = len(inner)
    return ChannelBins(labels=inner * len(outer), xlabel=f"{inner_name} in {outer_name} slices",
                       groups=[(o, i * n, (i + 1) * n) for i, o in enumerate(outer)],
                       source=source)


def _emulation_bins(channel: str) -> ChannelBins | None:
    """Bins of the bundled B+ -> K+ emulation (belle2_emulation.yaml) for its channel names."""
    from emiss.bundles.k_emulation import load_inputs

    inp = load_inputs()
    if channel.startswith("ita_"):
        eta = _between(inp["ita"]["eta_edges"]["value"], r"\eta")
        q2 = _ranges(inp["ita"]["q2rec_edges"]["value"])
        return _product(eta, r"$\eta$(BDT2)", q2, r"$q^2_{rec}$ [GeV$^2$]", "emulation")
    if channel == "hta":
        return ChannelBins(labels=_ranges(inp["hta"]["bdt_edges"]["value"]),
                           xlabel="BDTh output", source="emulation")
    return None


def _response_bins(cr: Any) -> ChannelBins | None:
    """Bins from a channel response's analytic kernel, or None."""
    hk = getattr(cr, "hkernel", None)
    if hk is not None:
        q2 = _between(hk.box.q2rec_edges, "q^2_{rec}")
        cos = _ranges(hk.cos_edges)
        return _product(q2, r"$q^2_{rec}$ [GeV$^2$]", cos, r"$\cos\theta_K$", "response")
    k = getattr(cr, "kernel", None)
    if k is None:
        return None
    n_cls = len(k.fractions)
    if len(k.q2rec_edges) > 1:
        q2 = _ranges(k.q2rec_edges)
        if n_cls > 1:
            return _product([f"slice {i + 1}" for i in range(n_cls)], "classifier", q2,
                            r"$q^2_{rec}$ [GeV$^2$]", "response")
        return ChannelBins(labels=q2, xlabel=r"$q^2_{rec}$ [GeV$^2$]", source="response")
    return ChannelBins(labels=[str(i + 1) for i in range(n_cls)], xlabel="classifier bin",
                       source="response")


def _is_emulation(cr: Any) -> bool:
    return "belle2_emulation.yaml" in str((getattr(cr, "meta", None) or {}).get("source", ""))


def channel_bins(bundle: Any) -> dict[str, ChannelBins]:
    """Bin labels of every channel of a bundle (see the module docstring for the precedence).

    Args:
        bundle: an ``emiss.bundles.Bundle`` (spec, meta, response).

    Returns:
        channel -> ChannelBins.

    Raises:
        EmissError: a sidecar ``bin_labels`` entry that is not a list of strings of the
            channel's length.
    """
    chans = (bundle.meta or {}).get("channels", {}) or {}
    resp = getattr(bundle, "response", None)
    rchans = resp.channels if resp is not None else {}
    emulation = any(_is_emulation(c) for c in rchans.values())
    out = {}
    for ch in bundle.spec["channels"]:
        name = ch["name"]
        n = len(ch["samples"][0]["data"]) if ch["samples"] else 0
        given = (chans.get(name) or {}).get("bin_labels")
        if given is not None:
            if not (isinstance(given, list) and all(isinstance(x, str) for x in given)
                    and len(given) == n):
                raise EmissError(f"sidecar channels.{name}.bin_labels must be a list of {n} "
                                 f"strings (one per bin); got {given!r}")
            out[name] = ChannelBins(labels=list(given), xlabel=f"{name} fit bin",
                                    source="sidecar")
            continue
        cand = None
        if name in rchans and not _is_emulation(rchans[name]):
            cand = _response_bins(rchans[name])
        if cand is None and emulation:
            cand = _emulation_bins(name)
        if cand is None and name in rchans:
            cand = _response_bins(rchans[name])
        if cand is not None and len(cand.labels) != n:
            log.warning("channel %s: %d bin labels for %d bins; numbering the bins instead",
                        name, len(cand.labels), n)
            cand = None
        out[name] = cand or ChannelBins(labels=[str(i + 1) for i in range(n)],
                                        xlabel=f"{name} fit bin")
    return out
