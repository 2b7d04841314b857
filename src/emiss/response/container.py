"""The Response of one workspace: per-channel responses, folding, persistence.

``Response.fold(spectrum)`` turns a dB/dq^2 (continuum + exact lines) into expected yields per
fit bin of every channel measuring the spectrum's process; each channel folds with its own kind
(``emiss.response.channels``). Reading and writing go through ``emiss.response.formats``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emiss.errors import EmissError
from emiss.io import write_json
from emiss.physics.constants import SM_REFERENCE_BR_BPLUS_KPLUS
from emiss.response import formats
from emiss.response.channels import ChannelResponse, KstarChannelResponse

if TYPE_CHECKING:
    from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)


@dataclass
class Response:
    """Per-channel responses of one workspace.

    Attributes:
        channels: channel name -> ChannelResponse.
        meta: free-form provenance (source, assumptions).
    """

    channels: dict[str, ChannelResponse]
    meta: dict = field(default_factory=dict)

    def fold(self, spectrum: Spectrum, channels: list[str] | None = None) -> dict[str, np.ndarray]:
        """Expected yields per fit bin for every channel measuring ``spectrum.process``.

        Args:
            spectrum: a Spectrum.
            channels: restrict to these channels (default: all whose process matches).

        Returns:
            channel name -> yields.
        """
        names = channels if channels is not None else [
            n for n, c in self.channels.items() if c.process == spectrum.process
        ]
        out = {}
        for n in names:
            if n not in self.channels:
                raise EmissError(
                    f"response has no channel {n!r}; channels: {', '.join(sorted(self.channels))}"
                )
            out[n] = self.channels[n].fold(spectrum)
        return out

    def fold_parts(self, spectrum: Spectrum) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """channel -> (yields_L, yields_T) for the K* channels measuring spectrum.process.

        Args:
            spectrum: a K* Spectrum (``continuum_long`` / ``lines_long`` set).

        Returns:
            channel name -> (longitudinal, transverse) yields per fit bin.
        """
        return {n: c.fold_parts(spectrum) for n, c in self.channels.items()
                if isinstance(c, KstarChannelResponse) and c.process == spectrum.process}

    @property
    def polarised(self) -> bool:
        """True when some channel folds longitudinal and transverse parts apart."""
        return any(isinstance(c, KstarChannelResponse) for c in self.channels.values())

    def check_workspace(self, spec: Mapping[str, Any]) -> None:
        """Raise EmissError unless every response channel exists in spec with the same bin count."""
        bins = {}
        for ch in spec.get("channels", []):
            n = len(ch["samples"][0]["data"]) if ch.get("samples") else 0
            bins[ch["name"]] = n
        for name, cr in self.channels.items():
            if name not in bins:
                raise EmissError(
                    f"response channel {name!r} is not in the workspace; workspace channels: "
                    f"{', '.join(sorted(bins))}"
                )
            if bins[name] != cr.n_reco:
                raise EmissError(
                    f"response channel {name!r} has {cr.n_reco} fit bins but the workspace "
                    f"channel has {bins[name]}"
                )

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """JSON form (``emiss.response.formats.response_dict``)."""
        return formats.response_dict(self.channels, self.meta)

    def save(self, path: str | os.PathLike) -> Path:
        """Write deterministic JSON atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Response:
        """Inverse of to_dict: plain and K* response files (channels dispatched on ``kind``)."""
        chans, meta = formats.channels_from_dict(d)
        return cls(channels=chans, meta=meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Response:
        """Read a response file written by ``save`` (plain or K*)."""
        chans, meta = formats.read_response_file(path)
        return cls(channels=chans, meta=meta)

    # ------------------------------------------------------------------ external formats
    @classmethod
    def from_hepdata(
        cls,
        likelihood_json: str | os.PathLike | Mapping[str, Any],
        csv_files: Mapping[str, str | os.PathLike],
        null_spectrum: Spectrum | None = None,
        n_b: float | None = None,
        process: str = "B+->K+",
        true_edges: np.ndarray | None = None,
        signal_samples: Mapping[str, str] | None = None,
        reference_branching_ratio: float = SM_REFERENCE_BR_BPLUS_KPLUS,
        line_placement: str = "bin",
    ) -> Response:
        """Response from Belle II's released likelihood and "joint number density" CSVs.

        See ``emiss.response.formats.hepdata_channels`` for the normalisation and the arguments
        (n_b defaults to Belle II's N(B+-), ``formats.BELLE2_N_BPLUS``).

        Returns:
            The Response.
        """
        chans, meta = formats.hepdata_channels(
            likelihood_json, csv_files, null_spectrum=null_spectrum, n_b=n_b, process=process,
            true_edges=true_edges, signal_samples=signal_samples,
            reference_branching_ratio=reference_branching_ratio, line_placement=line_placement)
        return cls(channels=chans, meta=meta)

    @classmethod
    def from_root(
        cls,
        path: str | os.PathLike,
        hist_name: str,
        channel: str,
        n_b: float,
        process: str = "B+->K+",
    ) -> Response:
        """Response of one channel from a ROOT TH2 holding R (x: true q^2, y: fit-bin index).

        Args:
            path: ROOT file.
            hist_name: TH2 name inside the file.
            channel: workspace channel name the matrix belongs to.
            n_b: number of produced parent B mesons.
            process: process of the channel.

        Returns:
            The Response (one channel).
        """
        chans, meta = formats.root_channels(path, hist_name, channel, n_b, process=process)
        return cls(channels=chans, meta=meta)
