"""Names, colours and fit-bin labels of a workspace's channels and samples, for figures.

One place for every human-readable text of a figure: channel titles and short file keys
(``channel_bins``: the real bundle's sidecar ``role``, the emulations' channel names), sample
legend names and a fixed colour-blind-safe colour per physics component (``sample_name``,
``sample_colour``), scenario names (``scenario_label``) and which samples are signal (those
carrying the POI normfactor: ``poi_samples``).

Bin labels, in order of precedence:

1. the sidecar's ``meta["channels"][CH]["bin_labels"]`` (a list of strings, one per bin);
2. Belle II's released likelihood (HEPData ins2947386), by the role of the channel (the
   sidecar's ``role``, or the channel name recognised by ``belle2_hepdata.channel_roles``):
   ITA q²_rec (inner) × η(BDT2) (outer) bins of regions A and B, HTA η(BDTh) bins
   (``REAL_BINNING``, with its sources);
3. the detector response of the channel: the K* helicity kernel's q²_rec (outer) × cos θ_K
   (inner) bins; the bundled B⁺ → K⁺ emulation's η(BDT2) (outer) × q²_rec (inner) bins (ITA,
   on and off resonance) and BDTh bins (HTA), read from ``belle2_emulation.yaml``; any other
   box kernel's classifier slices × q²_rec bins;
4. plain bin numbers.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emiss.errors import EmissError
from emiss.names import POI, SIGNAL_SAMPLE, SM_SAMPLE

if TYPE_CHECKING:
    from emiss.bundles import Bundle
    from emiss.response import ChannelResponse, Response

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- samples
#: Physics component of every known sample name: Belle II's released likelihood (HEPData
#: ins2947386: ITA ``ddbar uubar ssbar ccbar charged mixed taupair``, HTA ``bbbar_1_had
#: qqbar_1_had ccbar_1_had``) and the emulations (``bkg_*``, ``sm_nunu``).
_COMPONENT = {
    "charged": "bplus", "bkg_bplus": "bplus",
    "mixed": "b0", "bkg_b0": "b0",
    "bbbar_1_had": "bbbar",
    "ccbar": "ccbar", "bkg_ccbar": "ccbar", "ccbar_1_had": "ccbar",
    "uubar": "uubar", "ddbar": "ddbar", "ssbar": "ssbar",
    "bkg_uds": "uds", "qqbar_1_had": "uds",
    "taupair": "tautau", "bkg_tautau": "tautau",
    "bkg_btaunu": "btaunu",
    SM_SAMPLE: "sm_nunu",
}

#: Legend name and colour per component. Colours: Paul Tol's colour-blind-safe "muted" and
#: "bright" schemes (https://personal.sron.nl/~pault/, figs. 3-4); every component keeps its
#: colour in every figure, whatever else the figure holds. The HTA's ``qqbar_1_had`` is the
#: light-quark continuum (the HTA lists cc̄ separately), drawn like the emulation's u, d, s.
COMPONENTS: dict[str, tuple[str, str]] = {
    "bplus": (r"$B^+B^-$", "#4477AA"),
    "b0": (r"$B^0\bar{B}^0$", "#88CCEE"),
    "bbbar": (r"$B\bar{B}$", "#332288"),
    "ccbar": (r"$c\bar{c}$", "#882255"),
    "uds": (r"$q\bar{q}$ ($q = u, d, s$)", "#44AA99"),
    "uubar": (r"$u\bar{u}$", "#DDCC77"),
    "ddbar": (r"$d\bar{d}$", "#999933"),
    "ssbar": (r"$s\bar{s}$", "#117733"),
    "tautau": (r"$\tau^+\tau^-$", "#AA4499"),
    "btaunu": (r"$B^+\to\tau^+\nu$", "#EE99AA"),
    "sm_nunu": (r"SM $B\to K\nu\bar{\nu}$ (fixed)", "#BBBBBB"),
}
#: Colour of the signal (any sample carrying the POI normfactor), and the fallback colours of
#: sample names not in ``_COMPONENT`` (chosen by a stable hash of the name).
SIGNAL_COLOUR = "#CC3311"
_FALLBACK = ("#EE7733", "#0077BB", "#009988", "#EE3377", "#33BBEE", "#BBBBBB")
#: Stacking order of the components, bottom to top (unknown samples after, signal last).
STACK_ORDER = tuple(COMPONENTS)

#: Legend names of the samples (kept for callers of the old table).
SAMPLE_NAMES = {name: COMPONENTS[c][0] for name, c in _COMPONENT.items()}
SAMPLE_NAMES[SIGNAL_SAMPLE] = "signal"


def sample_name(name: str) -> str:
    """Legend name of a sample (the raw name when it is not a known sample).

    Args:
        name: sample name of the workspace.

    Returns:
        Mathtext legend name, e.g. ``$B^+B^-$`` for ``charged`` and ``bkg_bplus``.
    """
    return SAMPLE_NAMES.get(name, name)


def sample_colour(name: str, signal: bool = False) -> str:
    """Fixed colour of a sample: the signal colour, its component's, or a stable fallback.

    Args:
        name: sample name.
        signal: the sample carries the POI (drawn as signal whatever its name).

    Returns:
        A hex colour, the same for the same sample in every figure.
    """
    if signal:
        return SIGNAL_COLOUR
    comp = _COMPONENT.get(name)
    if comp is not None:
        return COMPONENTS[comp][1]
    return _FALLBACK[zlib.crc32(name.encode()) % len(_FALLBACK)]


def stack_key(name: str) -> tuple[int, str]:
    """Sort key stacking the known components in ``STACK_ORDER`` (unknown names after)."""
    comp = _COMPONENT.get(name)
    return (STACK_ORDER.index(comp) if comp is not None else len(STACK_ORDER), name)


def poi_samples(spec: Mapping[str, Any], patch: Sequence[Mapping[str, Any]] | None = None,
                poi: str | None = None) -> dict[str, set[str]]:
    """Samples carrying the POI normfactor, per channel: the signal, whatever its name.

    Args:
        spec: pyhf workspace spec.
        patch: JSON Patch applied first (e.g. the signal patch of a fit), or None.
        poi: POI name (default: the first measurement's).

    Returns:
        channel -> names of the samples with a normfactor named poi.
    """
    if patch:
        import jsonpatch

        spec = jsonpatch.apply_patch(spec, list(patch))
    if poi is None:
        meas = spec.get("measurements") or [{}]
        poi = meas[0].get("config", {}).get("poi", POI)
    return {ch["name"]: {s["name"] for s in ch.get("samples", [])
                         if any(m.get("type") == "normfactor" and m.get("name") == poi
                                for m in s.get("modifiers", []))}
            for ch in spec.get("channels", [])}


# ----------------------------------------------------------------------------- channels
#: Human title and short file key per channel role. Roles: the real bundle's sidecar ``role``
#: (``emiss.bundles.belle2_hepdata``: regions A and B of the ITA on and off resonance, the HTA);
#: the emulations' channel names (``k_emulation``, ``kstar_emulation``, docs/kstar.md).
CHANNEL_TITLES: dict[str, str] = {
    "ita_regA": "ITA on-resonance, signal region A",
    "ita_regB": "ITA on-resonance, control region B",
    "ita_offres_regA": "ITA off-resonance, signal region A",
    "ita_offres_regB": "ITA off-resonance, control region B",
    "hta": "HTA (hadronic tag)",
    "ita_onres": "ITA on-resonance",
    "ita_offres": "ITA off-resonance",
    "kstar_kpi": r"$B^0\to K^{*0}(\to K^+\pi^-)$",
    "kstar_kspi": r"$B^+\to K^{*+}(\to K^0_S\pi^+)$",
    "kstar_kpi0": r"$B^+\to K^{*+}(\to K^+\pi^0)$",
}
_KEY_OK = re.compile(r"^[A-Za-z0-9_.-]{1,24}$")


def channel_key(name: str, role: str | None = None) -> str:
    """Short file-name key of a channel: its role, its name when short, else a short slug.

    Args:
        name: channel name (Belle II's run to ~90 characters).
        role: the sidecar ``role`` of the channel, if any.

    Returns:
        At most 24 characters of [A-Za-z0-9_.-]; distinct names give distinct slugs.
    """
    if role and _KEY_OK.match(role):
        return role
    if _KEY_OK.match(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:15]
    return f"{slug}_{zlib.crc32(name.encode()):08x}"


def channel_title(name: str, role: str | None = None) -> str:
    """Human title of a channel (``CHANNEL_TITLES`` by role or name, else the name)."""
    return CHANNEL_TITLES.get(role or "", CHANNEL_TITLES.get(name, name))


# ----------------------------------------------------------------------------- scenarios
_NAMED = {"sm": "SM", "heavy-np": "heavy NP ($C_L$, $C_R$)", "wet": "WET"}
_MULTIPLICITY = {"twobody": "two-body", "threebody": "three-body"}
_PARTICLE = {"twobody": {"scalar": "scalar $X$", "vector": "vector $X$"},
             "threebody": {"scalar": "scalar pair", "vector": "vector pair",
                           "fermion": "fermion pair"}}
_CURRENT = {"s": "scalar current", "vector": "vector current", "axial": "axial current",
            "scalar": "scalar current", "pseudoscalar": "pseudoscalar current"}


def scenario_label(name: str) -> str:
    """Legend name of a scenario (``emiss.physics.scenarios`` names), e.g. "two-body, scalar $X$".

    Args:
        name: scenario name ("twobody-scalar", "threebody-fermion-axial", ...).

    Returns:
        The readable name; the name itself when it does not follow the registry's pattern.
    """
    if name in _NAMED:
        return _NAMED[name]
    parts = name.split("-")
    if len(parts) < 2 or parts[0] not in _MULTIPLICITY:
        return name
    particle = _PARTICLE[parts[0]].get(parts[1])
    if particle is None or len(parts) > 3 or (len(parts) == 3 and parts[2] not in _CURRENT):
        return name
    text = f"{_MULTIPLICITY[parts[0]]}, {particle}"
    return text + (f", {_CURRENT[parts[2]]}" if len(parts) == 3 else "")


# ----------------------------------------------------------------------------- bins
Q2REC = r"$q^2_\mathrm{rec}$ [GeV$^2$]"
ETA2 = r"$\eta(\mathrm{BDT}_2)$"
ETAH = r"$\eta(\mathrm{BDT}_\mathrm{h})$"

#: Fit bins of Belle II's released likelihood (HEPData ins2947386; the measurement
#: arXiv:2311.14647), by channel role: (q²_rec edges, inner; η edges, outer), bins flattened
#: with q²_rec fastest. Sources (tags as in shared/reference/belle2.md):
#: - ITA signal region η(BDT2) > 0.92 [M: arXiv:2311.14647, ITA selection]; region B is
#:   η(BDT2) ∈ [0.92, 0.94] [V: the HEPData ins2947386 table description].
#: - Region A = η(BDT2) ∈ [0.94, 1] in three bins of 0.02 [D, from the released files]: the
#:   number density of region A (number_density_ita_regA.csv) holds the same SM signal in each
#:   group of three rows (40.0, 40.0, 40.0, and 40.0 in region B's three rows) — η is the
#:   signal-efficiency-flattened BDT2 output, so equal signal means equal η width — and every
#:   background falls from group to group (observed 5352, 2777, 1164 events): ascending η.
#: - q²_rec edges 4 and 8 GeV² [M: arXiv:2311.14647; D: the generated q² of the three rows of a
#:   group has means 2.0, 5.6, 10.4 GeV² and 95 % quantiles 4.4, 8.1, 15 GeV², i.e. reconstructed
#:   bins split at 4 and 8 GeV² smeared by the ±1.5 GeV² ITA box, belle2.md 1.7]. The outer
#:   edges (−1 and 25 GeV² in the emulation, [M, low confidence]) are not verified: the outer bins
#:   are labelled "< 4" and "> 8".
#: - HTA: η(BDTh) > 0.4 in six bins of 0.1 [M: arXiv:2311.14647, HTA signal region; D: the
#:   released SM signal `sgn_1_had` is 1.3-1.4 events in each of the six bins, as for a
#:   signal-efficiency-flattened axis in equal bins].
REAL_BINNING: dict[str, dict[str, Any]] = {
    "ita_regA": {"q2": (None, 4.0, 8.0, None), "eta": (0.94, 0.96, 0.98, 1.0)},
    "ita_regB": {"q2": (None, 4.0, 8.0, None), "eta": (0.92, 0.94)},
    "ita_offres_regA": {"q2": (None, 4.0, 8.0, None), "eta": (0.94, 0.96, 0.98, 1.0)},
    "ita_offres_regB": {"q2": (None, 4.0, 8.0, None), "eta": (0.92, 0.94)},
    "hta": {"eta_h": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)},
}


@dataclass
class ChannelBins:
    """How to label one channel in a figure: its fit bins, title, file key and signal.

    Attributes:
        labels: one tick label per bin (the inner axis when there are groups).
        xlabel: the axis title.
        groups: (text, first bin, one past the last bin) of the outer axis; [] when flat.
        source: where the labels come from ("sidecar", "belle2", "response", "emulation",
            "index").
        title: human name of the channel ("ITA on-resonance, signal region A").
        key: short file-name key ("ita_regA"; never the ~90-character channel name).
        signal: names of the channel's signal samples as the sidecar states them (the sample
            carrying the POI normfactor), used when the figure is not told otherwise.
    """

    labels: list[str]
    xlabel: str
    groups: list[tuple[str, int, int]] = field(default_factory=list)
    source: str = "index"
    title: str = ""
    key: str = ""
    signal: tuple[str, ...] = ()


def _num(x: float) -> str:
    return f"{x:g}".replace("-", "−")


def _pairs(edges: Iterable[float]) -> list[tuple[float, float]]:
    e = [float(x) for x in edges]
    return list(zip(e[:-1], e[1:], strict=True))


def _ranges(edges: Iterable[Any]) -> list[str]:
    """Tick texts ``a–b`` per bin; an open (None) first or last edge gives ``< b`` / ``> a``."""
    e = list(edges)
    out = []
    for a, b in zip(e[:-1], e[1:], strict=True):
        if a is None:
            out.append(f"< {_num(b)}")
        elif b is None:
            out.append(f"> {_num(a)}")
        else:
            out.append(f"{_num(a)}–{_num(b)}")
    return out


def _between(edges: Iterable[float], var: str) -> list[str]:
    """Outer-axis texts ``$a < var < b$`` (mathtext)."""
    return [f"${a:g} < {var} < {b:g}$" for a, b in _pairs(edges)]


def _product(outer: list[str], outer_name: str, inner: list[str], inner_name: str,
             source: str) -> ChannelBins:
    n = len(inner)
    return ChannelBins(labels=inner * len(outer), xlabel=f"{inner_name} in {outer_name} bins",
                       groups=[(o, i * n, (i + 1) * n) for i, o in enumerate(outer)],
                       source=source)


def _real_bins(role: str | None) -> ChannelBins | None:
    """Bins of a channel of Belle II's released likelihood by its sidecar role (REAL_BINNING)."""
    spec = REAL_BINNING.get(role or "")
    if spec is None:
        return None
    if "eta_h" in spec:
        return ChannelBins(labels=_ranges(spec["eta_h"]), xlabel=ETAH, source="belle2")
    return _product(_between(spec["eta"], r"\eta"), ETA2, _ranges(spec["q2"]), Q2REC,
                    "belle2")


def _emulation_bins(channel: str) -> ChannelBins | None:
    """Bins of the bundled B+ -> K+ emulation (belle2_emulation.yaml) for its channel names."""
    from emiss.bundles.k_emulation import load_inputs

    inp = load_inputs()
    if channel.startswith("ita_"):
        eta = _between(inp["ita"]["eta_edges"]["value"], r"\eta")
        q2 = _ranges(inp["ita"]["q2rec_edges"]["value"])
        return _product(eta, ETA2, q2, Q2REC, "emulation")
    if channel == "hta":
        return ChannelBins(labels=_ranges(inp["hta"]["bdt_edges"]["value"]),
                           xlabel=r"BDT$_\mathrm{h}$ output", source="emulation")
    return None


def _response_bins(cr: ChannelResponse) -> ChannelBins | None:
    """Bins from a channel response's analytic kernel, or None."""
    hk = getattr(cr, "hkernel", None)
    if hk is not None:
        q2 = _between(hk.box.q2rec_edges, r"q^2_\mathrm{rec}")
        cos = _ranges(hk.cos_edges)
        return _product(q2, Q2REC, cos, r"$\cos\theta_K$", "response")
    k = getattr(cr, "kernel", None)
    if k is None:
        return None
    n_cls = len(k.fractions)
    if len(k.q2rec_edges) > 1:
        q2 = _ranges(k.q2rec_edges)
        if n_cls > 1:
            return _product([f"slice {i + 1}" for i in range(n_cls)], "classifier", q2,
                            Q2REC, "response")
        return ChannelBins(labels=q2, xlabel=Q2REC, source="response")
    return ChannelBins(labels=[str(i + 1) for i in range(n_cls)], xlabel="classifier bin",
                       source="response")


def _is_emulation(cr: ChannelResponse) -> bool:
    return "belle2_emulation.yaml" in str((getattr(cr, "meta", None) or {}).get("source", ""))


def _sidecar_signal(meta: Mapping[str, Any], entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The signal sample of a channel as its sidecar states it: the released signal sample
    (``sm_sample``) when it carries the POI normfactor, else the name the patches give the
    signal (``signal.sample``) in channels with a signal process; () for signal-free channels."""
    poi = meta.get("poi") or POI
    sm = entry.get("sm_sample")
    if isinstance(sm, Mapping) and any(m.get("type") == "normfactor" and m.get("name") == poi
                                       for m in sm.get("modifiers", [])):
        return (str(sm["name"]),)
    if entry.get("signal_free") or not entry.get("process"):
        return ()
    name = entry.get("signal_sample") or (meta.get("signal") or {}).get("sample")
    return (str(name),) if name else ()


def _roles(spec: Mapping[str, Any], chans: Mapping[str, Any]) -> dict[str, str]:
    """channel -> role: the sidecar's ``role``; without one, the role of a channel of Belle
    II's released likelihood recognised by its name (``emiss.bundles.belle2_hepdata``)."""
    roles = {n: str(e["role"]) for n, e in chans.items() if isinstance(e, Mapping)
             and e.get("role")}
    if roles:
        return roles
    from emiss.bundles.belle2_hepdata import channel_roles

    try:
        return {n: r.key for n, r in channel_roles(dict(spec)).items()}
    except EmissError:
        return {}


def spec_channel_bins(spec: Mapping[str, Any], meta: Mapping[str, Any] | None = None,
                      response: Response | None = None) -> dict[str, ChannelBins]:
    """Bin labels, title, file key and signal of every channel of a workspace spec with its
    sidecar and response (module docstring); ``channel_bins`` for a bundle.

    Args:
        spec: pyhf workspace spec.
        meta: sidecar dict, or None.
        response: ``emiss.response.Response``, or None.

    Returns:
        channel -> ChannelBins.

    Raises:
        EmissError: a sidecar ``bin_labels`` entry that is not a list of strings of the
            channel's length.
    """
    meta = meta or {}
    chans = meta.get("channels", {}) or {}
    rchans = response.channels if response is not None else {}
    emulation = any(_is_emulation(c) for c in rchans.values())
    roles = _roles(spec, chans)
    out = {}
    for ch in spec["channels"]:
        name = ch["name"]
        entry = chans.get(name) or {}
        role = roles.get(name)
        n = len(ch["samples"][0]["data"]) if ch["samples"] else 0
        given = entry.get("bin_labels")
        cand = None
        if given is not None:
            if not (isinstance(given, list) and all(isinstance(x, str) for x in given)
                    and len(given) == n):
                raise EmissError(f"sidecar channels.{name}.bin_labels must be a list of {n} "
                                 f"strings (one per bin); got {given!r}")
            cand = ChannelBins(labels=list(given), xlabel="fit bin", source="sidecar")
        if cand is None:
            cand = _real_bins(role)
        if cand is None and name in rchans and not _is_emulation(rchans[name]):
            cand = _response_bins(rchans[name])
        if cand is None and emulation:
            cand = _emulation_bins(name)
        if cand is None and name in rchans:
            cand = _response_bins(rchans[name])
        if cand is not None and len(cand.labels) != n:
            log.warning("channel %s: %d bin labels for %d bins; numbering the bins instead",
                        name, len(cand.labels), n)
            cand = None
        cand = cand or ChannelBins(labels=[str(i + 1) for i in range(n)], xlabel="fit bin")
        cand.title = channel_title(name, role)
        cand.key = channel_key(name, role)
        cand.signal = _sidecar_signal(meta, entry)
        out[name] = cand
    return out


def channel_bins(bundle: Bundle) -> dict[str, ChannelBins]:
    """Bin labels, title, file key and signal of every channel of a bundle (module docstring).

    Args:
        bundle: an ``emiss.bundles.Bundle`` (spec, meta, response).

    Returns:
        channel -> ChannelBins.

    Raises:
        EmissError: a sidecar ``bin_labels`` entry that is not a list of strings of the
            channel's length.
    """
    return spec_channel_bins(bundle.spec, bundle.meta, getattr(bundle, "response", None))
