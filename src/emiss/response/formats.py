"""Response file formats: emiss JSON, Belle II HEPData number densities, ROOT TH2.

* emiss JSON (``emiss-response-1``; ``emiss-kstar-response-1`` exactly when a K* helicity channel
  is present): what ``Response.save`` writes and ``Response.load`` reads; channels are
  dispatched on their ``kind`` (``emiss.response.channels.CHANNEL_KINDS``).
* Belle II's HEPData "joint number density" tables (ins2947386, arXiv:2507.12393) together
  with the released ``combined_likelihood.json`` (``hepdata_channels``, behind
  ``Response.from_hepdata``).
* any ROOT TH2 holding R (``root_channels``, behind ``Response.from_root``).

The functions here return ``(channels, meta)``; ``emiss.response.container.Response`` wraps
them. A new external format is one more function of that shape and a classmethod there.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emiss import contracts
from emiss.errors import EmissError
from emiss.io import read_json, round_sig
from emiss.names import POI
from emiss.physics.constants import SM_REFERENCE_BR_BPLUS_KPLUS
from emiss.response.channels import ChannelResponse, channel_from_dict

log = logging.getLogger(__name__)

#: Belle II's true-q^2 grid of the released number densities (arXiv:2507.12393, HEPData
#: ins2947386; knunu-reinterpretation-mini): a sentinel bin [-1, 0) plus 100 bins up to 22.885.
BELLE2_TRUE_EDGES: np.ndarray = np.concatenate([[-1.0], np.linspace(0.0, 22.885, 101)])

#: Format tag written into response files (contract ``response`` of ``emiss.contracts``).
RESPONSE_FORMAT = contracts.RESPONSE_FORMAT
#: Format tag of response files holding at least one K* helicity channel (``kind``
#: "kstar-helicity"); ``Response.load`` reads both formats.
KSTAR_RESPONSE_FORMAT = contracts.KSTAR_RESPONSE_FORMAT

#: B Bbar pairs of Belle II's 362 fb^-1 on-resonance sample: (387 +- 6) x 10^6
#: (arXiv:2311.14647; the same number as ``n_bb`` of data/belle2_emulation.yaml).
BELLE2_N_BB = 387.0e6
#: R^{+-/00} = B(Y(4S) -> B+B-) / B(Y(4S) -> B0 B0bar) = 1.065 +- 0.052 (HFLAV, arXiv:2206.07501
#: sec. 3.1); with f+- + f00 = 1, f+- = R / (1 + R).
BELLE2_R_PM_00 = 1.065
#: Produced B+ and B- mesons of that sample, N(B+-) = 2 N_BB f+- (default n_b of the HEPData
#: import; equal to the K emulation's ``n_bplus``).
BELLE2_N_BPLUS = 2.0 * BELLE2_N_BB * BELLE2_R_PM_00 / (1.0 + BELLE2_R_PM_00)


# ----------------------------------------------------------------------------- emiss JSON
def response_dict(channels: Mapping[str, ChannelResponse], meta: Mapping[str, Any]) -> dict:
    """The emiss JSON form of a response (K* format exactly when a K* channel is present).

    Args:
        channels: channel name -> channel response.
        meta: provenance.

    Returns:
        JSON-ready dict, checked against the contract ``response``.
    """
    chans = {n: c.to_dict() for n, c in sorted(channels.items())}
    # files with typed channels (today: K* helicity) carry the K* format tag, so that readers
    # that only know plain channels refuse them instead of misreading them
    typed = any(c.get("kind") is not None for c in chans.values())
    return contracts.validate({
        "format": KSTAR_RESPONSE_FORMAT if typed else RESPONSE_FORMAT,
        "meta": meta,
        "channels": chans,
    }, "response")


def channels_from_dict(d: Mapping[str, Any], where: str | None = None)\
        -> tuple[dict[str, ChannelResponse], dict]:
    """Inverse of ``response_dict``: plain and K* files (channels dispatched on ``kind``).

    Args:
        d: parsed response file.
        where: what messages call it (its file).

    Returns:
        (channels, meta).

    Raises:
        EmissError: not an emiss response file (contract ``response``: one line naming the bad
            field and what is valid), unknown channel kind.
    """
    doc = contracts.ResponseFile.from_dict(
        d, where, hint="give a response file written by emiss (Response.save)")
    chans = {n: channel_from_dict(n, c) for n, c in doc.channels.items()}
    return chans, doc.meta


def read_response_file(path: str | os.PathLike) -> tuple[dict[str, ChannelResponse], dict]:
    """Read a response file written by ``Response.save`` (plain or K*).

    Args:
        path: the file.

    Returns:
        (channels, meta).
    """
    doc = read_json(path, "response")
    return channels_from_dict(doc, repr(str(path)))


# ----------------------------------------------------------------------------- HEPData
def hepdata_channels(
    likelihood_json: str | os.PathLike | Mapping[str, Any],
    csv_files: Mapping[str, str | os.PathLike],
    null_spectrum: Any = None,
    n_b: float | None = None,
    process: str = "B+->K+",
    true_edges: np.ndarray | None = None,
    signal_samples: Mapping[str, str] | None = None,
    reference_branching_ratio: float = SM_REFERENCE_BR_BPLUS_KPLUS,
    line_placement: str = "bin",
) -> tuple[dict[str, ChannelResponse], dict]:
    """Channels from Belle II's released likelihood and "joint number density" CSVs.

    Belle II (arXiv:2507.12393, HEPData ins2947386) publishes, per channel, a table
    M[i, j] of selected signal MC in fit bin i (rows, flattened fit bins) and generated
    q^2 bin j (columns, edges ``[-1] + linspace(0, 22.885, 101)``). The table is a joint
    number density, so its overall scale is arbitrary. We normalise it to an efficiency
    with the null (SM) spectrum the MC follows and the signal sample of the likelihood:
    M[i, j] is proportional to n_b * B_null[j] * R[i, j], and the workspace signal yields
    are nu_i = n_b * sum_j R[i, j] B_null[j] (mu = 1), hence

        R[i, j] = M[i, j] * sum_i nu_i / (n_b * B_null[j] * sum_ij M[i, j]),

    the sums over j running over the bins where B_null > 0. True bins where B_null is zero (the
    sentinel [-1, 0)) get a zero column; the share of M they held (0.18 % of the HTA table of
    ins2947386, none of the ITA ones) is logged and spread over the others by this
    normalisation, so that folding the null gives back the workspace's signal yields.

    Args:
        likelihood_json: path to (or dict of) ``combined_likelihood.json`` (pyhf).
        csv_files: channel name -> CSV path (rows = fit bins, columns = true bins).
        null_spectrum: spectrum of the signal sample at mu = 1 (default for B+ -> K+: the null
            of Belle II's reweighting, ``emiss.physics.null``; otherwise the SM spectrum of
            ``emiss.physics.sm`` scaled to ``reference_branching_ratio``).
        n_b: number of produced parent B mesons (default: Belle II's N(B+-) = 2 N_BB f+-,
            ``BELLE2_N_BPLUS``, for 387e6 BBbar pairs).
        process: process of the channels.
        true_edges: true-q^2 edges (default Belle II's grid).
        signal_samples: channel -> signal sample name (default: the sample with normfactor mu).
        reference_branching_ratio: B at mu = 1 for the default null (Belle II: 4.97e-6).
        line_placement: how the channels place two-body lines (``LINE_PLACEMENTS``).

    Returns:
        (channels, meta).
    """
    spec = likelihood_json if isinstance(likelihood_json, Mapping) else read_json(
        likelihood_json
    )
    edges = BELLE2_TRUE_EDGES if true_edges is None else np.asarray(true_edges, dtype=float)
    if null_spectrum is None:
        null_spectrum = _default_null(process, reference_branching_ratio)
    if n_b is None:
        n_b = BELLE2_N_BPLUS
    channels = {ch["name"]: ch for ch in spec.get("channels", [])}
    b_null = np.asarray(null_spectrum.bin_integrals(edges), dtype=float)
    out = {}
    for name, path in csv_files.items():
        if name not in channels:
            raise EmissError(
                f"channel {name!r} is not in the likelihood; channels: "
                f"{', '.join(sorted(channels))}"
            )
        sample = _signal_sample(channels[name], (signal_samples or {}).get(name))
        nu = np.asarray(sample["data"], dtype=float)
        r, dropped = _normalised_density(name, path, nu, b_null, n_b)
        out[name] = ChannelResponse(
            name=name, process=process, true_edges=edges, matrix=r, n_b=n_b,
            meta={"source": f"HEPData number density {Path(path).name}",
                  "share_outside_null_support": round_sig(dropped, 6, flush=False)},
            line_placement=line_placement,
        )
    return out, {"source": "Belle II HEPData ins2947386 number densities"}


def _default_null(process: str, reference_branching_ratio: float) -> Any:
    """The spectrum of the signal sample at mu = 1 when none is given.

    Args:
        process: process of the channels.
        reference_branching_ratio: B at mu = 1 (processes other than B+ -> K+).

    Returns:
        For B+ -> K+ the null of Belle II's reweighting (``emiss.physics.null``), otherwise
        the SM spectrum of ``emiss.physics.sm`` scaled to ``reference_branching_ratio``.
    """
    if process == "B+->K+":
        from emiss.physics.null import null_spectrum as belle2_null

        return belle2_null()
    from emiss.physics.sm import sm_spectrum

    sm = sm_spectrum(process)
    return sm.scaled(reference_branching_ratio / sm.branching_ratio())


def _normalised_density(name: str, path: str | os.PathLike, nu: np.ndarray, b_null: np.ndarray,
                        n_b: float) -> tuple[np.ndarray, float]:
    """One channel's number-density table turned into R[i, j] (:func:`hepdata_channels`).

    Args:
        name: the channel.
        path: its CSV table (rows = fit bins, columns = true bins).
        nu: signal yields of the workspace per fit bin (mu = 1).
        b_null: null branching fraction per true bin.
        n_b: number of produced parent B mesons.

    Returns:
        (R, the share of the table dropped where the null rate is zero).
    """
    n_true = b_null.size
    m = _read_matrix_csv(path)
    if m.shape != (len(nu), n_true):
        raise EmissError(
            f"{os.fspath(path)!r}: number-density table has shape {m.shape}; channel "
            f"{name!r} needs ({len(nu)} fit bins, {n_true} true-q2 bins)"
        )
    total = m.sum()
    if not total > 0:
        raise EmissError(f"{os.fspath(path)!r}: number-density table is empty")
    ok = b_null > 0
    dropped = m[:, ~ok].sum() / total
    if dropped > 0:
        log.info("%s: %.3g of the number density sits where the null rate is 0; dropped",
                 name, dropped)
    kept = m[:, ok].sum()
    if not kept > 0:
        raise EmissError(f"{os.fspath(path)!r}: the number density has no entries where "
                         "the null spectrum is non-zero")
    r = np.zeros_like(m)
    r[:, ok] = m[:, ok] * nu.sum() / (n_b * b_null[ok] * kept)
    return r, dropped


def _signal_sample(channel: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    """The signal sample of a pyhf channel: by name, else the one carrying normfactor mu."""
    samples = channel.get("samples", [])
    if name is not None:
        for s in samples:
            if s["name"] == name:
                return s
        raise EmissError(
            f"channel {channel['name']!r} has no sample {name!r}; samples: "
            f"{', '.join(s['name'] for s in samples)}"
        )
    for s in samples:
        if any(m["type"] == "normfactor" and m["name"] == POI for m in s.get("modifiers", [])):
            return s
    raise EmissError(f"channel {channel['name']!r} has no sample with normfactor {POI!r}")


def _read_matrix_csv(path: str | os.PathLike) -> np.ndarray:
    """Read a numeric CSV matrix, skipping '#' comments and a non-numeric header row."""
    path = Path(path)
    if not path.is_file():
        raise EmissError(f"CSV file {str(path)!r} does not exist")
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        for rec in csv.reader(fh):
            if not rec or rec[0].lstrip().startswith("#"):
                continue
            try:
                rows.append([float(v) for v in rec if v.strip() != ""])
            except ValueError:
                if rows:
                    raise EmissError(f"{str(path)!r}: non-numeric entry in row {rec!r}") from None
                continue  # header row
    if not rows or len({len(r) for r in rows}) != 1:
        raise EmissError(f"{str(path)!r}: rows of unequal length or no numeric rows")
    return np.asarray(rows, dtype=float)


# ----------------------------------------------------------------------------- ROOT
def root_channels(
    path: str | os.PathLike,
    hist_name: str,
    channel: str,
    n_b: float,
    process: str = "B+->K+",
) -> tuple[dict[str, ChannelResponse], dict]:
    """One channel from a ROOT TH2 holding R (x: true q^2, y: fit-bin index).

    Args:
        path: ROOT file.
        hist_name: TH2 name inside the file.
        channel: workspace channel name the matrix belongs to.
        n_b: number of produced parent B mesons.
        process: process of the channel.

    Returns:
        (channels, meta) with one channel.
    """
    import uproot

    path = Path(path)
    if not path.is_file():
        raise EmissError(f"ROOT file {str(path)!r} does not exist")
    with uproot.open(path) as fh:
        if hist_name not in fh:
            raise EmissError(
                f"{str(path)!r} has no object {hist_name!r}; keys: "
                f"{', '.join(k.split(';')[0] for k in fh.keys())}"
            )
        h = fh[hist_name]
        if len(h.axes) != 2:
            raise EmissError(f"{hist_name!r} is not a 2D histogram")
        values = np.asarray(h.values(flow=False), dtype=float)  # (nx, ny)
        x_edges = np.asarray(h.axes[0].edges(), dtype=float)
    cr = ChannelResponse(
        name=channel, process=process, true_edges=x_edges, matrix=values.T, n_b=n_b,
        meta={"source": f"{path.name}:{hist_name}"},
    )
    return {channel: cr}, {"source": f"ROOT TH2 {path.name}:{hist_name}"}
