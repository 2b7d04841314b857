"""Channel kinds: the efficiency x migration of one fit channel and how it folds a spectrum.

* ``ChannelResponse`` (no ``kind`` in files): one matrix R[i, j] = P(selected in fit bin i |
  true q^2 in bin j), folded with the spectrum's bin integrals (B -> K and any isotropic channel).
* ``KstarChannelResponse`` (``kind`` "kstar-helicity"): B -> K* channels binned in the K*
  helicity angle; separate longitudinal and transverse matrices R_L, R_T fold the spectrum's
  longitudinal and transverse parts apart (``fold_parts``), so templates follow F_L.

A new channel kind is a subclass here with its own ``kind`` tag, registered in
``CHANNEL_KINDS`` (the file loader dispatches on it), plus its kernel in
``emiss.response.kernels`` when it has an analytic one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.response.kernels import BoxKernel, HelicityKernel, _round

log = logging.getLogger(__name__)

#: ``kind`` of K* helicity channels in response files (plain channels have no ``kind``).
POLARISED_KIND = "kstar-helicity"
#: How a binned response places a two-body line at true q0 (``ChannelResponse.line_placement``):
#: "bin" takes the column of the true bin holding q0; "interpolate" interpolates the columns
#: linearly between the centres of the neighbouring physical (q^2 >= 0) true bins, using the
#: edge column beyond the first/last centre. A bin-averaged column is the response at the
#: spectrum-weighted mean q^2 of its bin, i.e. (to second order in the bin width) at its centre.
LINE_PLACEMENTS = ("bin", "interpolate")


# ----------------------------------------------------------------------------- isotropic
@dataclass
class ChannelResponse:
    """Efficiency x migration of one fit channel.

    Attributes:
        name: channel name (as in the pyhf workspace).
        process: decay the channel measures, e.g. "B+->K+".
        true_edges: true-q^2 bin edges in GeV^2, length n_true + 1.
        matrix: R[i, j] = P(selected in fit bin i | true q^2 in bin j), shape (n_reco, n_true).
        n_b: number of produced parent B mesons the yields are normalised to.
        kernel: exact analytic kernel (emulation) or None (binned input).
        meta: free-form provenance.
        line_placement: for binned inputs, how lines are placed (``LINE_PLACEMENTS``).
    """

    name: str
    process: str
    true_edges: np.ndarray
    matrix: np.ndarray
    n_b: float
    kernel: BoxKernel | None = None
    meta: dict = field(default_factory=dict)
    line_placement: str = "bin"

    def __post_init__(self) -> None:
        if self.line_placement not in LINE_PLACEMENTS:
            raise EmissError(f"channel {self.name!r}: line_placement {self.line_placement!r} "
                             f"is not one of {', '.join(LINE_PLACEMENTS)}")
        self.true_edges = np.asarray(self.true_edges, dtype=float)
        self.matrix = np.asarray(self.matrix, dtype=float)
        if self.matrix.ndim != 2 or self.matrix.shape[1] != len(self.true_edges) - 1:
            raise EmissError(
                f"channel {self.name!r}: response matrix shape {self.matrix.shape} does not match "
                f"{len(self.true_edges) - 1} true-q2 bins"
            )
        if np.any(np.diff(self.true_edges) <= 0):
            raise EmissError(f"channel {self.name!r}: true-q2 edges must increase")
        if np.any(self.matrix < 0) or not np.all(np.isfinite(self.matrix)):
            raise EmissError(f"channel {self.name!r}: response has negative or non-finite entries")
        worst = float(self.matrix.sum(axis=0).max(initial=0.0))
        if worst > 1.0 + 1e-9:
            raise EmissError(
                f"channel {self.name!r}: a column of R sums to {worst:.4g} > 1; R must hold "
                "probabilities (efficiency x migration), not event counts"
            )
        if not self.n_b > 0:
            raise EmissError(f"channel {self.name!r}: n_b must be positive, got {self.n_b}")

    @property
    def n_reco(self) -> int:
        """Number of fit bins."""
        return int(self.matrix.shape[0])

    def efficiency(self) -> np.ndarray:
        """Column sums: selection efficiency per true bin."""
        return self.matrix.sum(axis=0)

    def column_at(self, q2: float) -> np.ndarray:
        """Exact response column for a line at true q2 (GeV^2).

        Analytic kernels give the exact column; binned inputs give the column of the true bin
        holding q2 (the last bin is closed) or, with ``line_placement`` "interpolate", the
        columns interpolated between bin centres (``LINE_PLACEMENTS``). Outside the true range
        the column is zero.
        """
        q2 = float(q2)
        if self.kernel is not None:
            return self.kernel.columns(np.array([q2]))[:, 0]
        edges = self.true_edges
        if q2 < edges[0] or q2 > edges[-1]:
            return np.zeros(self.n_reco)
        if self.line_placement == "interpolate" and q2 >= 0.0:
            physical = np.flatnonzero(edges[:-1] >= 0.0)
            if physical.size:
                centres = 0.5 * (edges[physical] + edges[physical + 1])
                t = float(np.interp(q2, centres, np.arange(physical.size, dtype=float)))
                k = min(int(t), physical.size - 1)
                f = t - k
                col = (1.0 - f) * self.matrix[:, physical[k]]
                if f > 0.0:
                    col = col + f * self.matrix[:, physical[k + 1]]
                return col
        j = min(int(np.searchsorted(edges, q2, side="right")) - 1, len(edges) - 2)
        return self.matrix[:, j].copy()

    def fold(self, spectrum: Any) -> np.ndarray:
        """Expected yields per fit bin: n_b * (R @ continuum bin integrals + lines via column_at).

        Args:
            spectrum: an ``emiss.physics.spectrum.Spectrum`` (continuum + exact lines).

        Returns:
            Yields, shape (n_reco,).
        """
        continuum = dataclasses.replace(spectrum, lines=(), lines_long=())
        integrals = np.asarray(continuum.bin_integrals(self.true_edges), dtype=float)
        out = self.matrix @ integrals
        for q2, br in spectrum.lines:
            out = out + br * self.column_at(q2)
        return self.n_b * out

    def to_dict(self) -> dict:
        """JSON form (rounded to 12 significant digits; ``line_placement`` only when not "bin")."""
        out = {
            "name": self.name,
            "process": self.process,
            "n_b": _round(self.n_b),
            "true_edges": _round(self.true_edges),
            "matrix": _round(self.matrix),
            "kernel": None if self.kernel is None else self.kernel.to_dict(),
            "meta": self.meta,
        }
        if self.line_placement != "bin":
            out["line_placement"] = self.line_placement
        return out

    @classmethod
    def _fields_from_dict(cls, d: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments from the JSON form (KeyError when a key is missing)."""
        return {
            "name": str(d["name"]),
            "process": str(d["process"]),
            "true_edges": np.asarray(d["true_edges"], dtype=float),
            "matrix": np.asarray(d["matrix"], dtype=float),
            "n_b": float(d["n_b"]),
            "kernel": None if d.get("kernel") is None else BoxKernel.from_dict(d["kernel"]),
            "meta": dict(d.get("meta") or {}),
            "line_placement": str(d.get("line_placement", "bin")),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChannelResponse:
        """Inverse of to_dict."""
        try:
            return cls(**cls._fields_from_dict(d))
        except KeyError as exc:
            raise EmissError(f"response channel entry lacks the key {exc.args[0]!r}") from None


# ----------------------------------------------------------------------------- K* helicity
@dataclass
class KstarChannelResponse(ChannelResponse):
    """A ChannelResponse with separate longitudinal / transverse matrices.

    Attributes (beyond ChannelResponse):
        matrix_long: R_L, shape (n_reco, n_true).
        matrix_trans: R_T, shape (n_reco, n_true).
        hkernel: exact kernel for lines (or None: binned columns).
    """

    matrix_long: np.ndarray | None = None
    matrix_trans: np.ndarray | None = None
    hkernel: HelicityKernel | None = None

    def __post_init__(self) -> None:
        self.matrix_long = np.asarray(self.matrix_long, dtype=float)
        self.matrix_trans = np.asarray(self.matrix_trans, dtype=float)
        if self.matrix_long.shape != self.matrix_trans.shape:
            raise EmissError(f"channel {self.name!r}: R_L and R_T shapes differ")
        for tag, m in (("R_L", self.matrix_long), ("R_T", self.matrix_trans)):
            if np.any(m < 0) or np.any(m.sum(axis=0) > 1 + 1e-9):
                raise EmissError(f"channel {self.name!r}: {tag} is not a probability matrix")
        # the isotropic (F_L = 1/3) combination, for code that knows only `matrix`
        self.matrix = self.matrix_long / 3.0 + 2.0 * self.matrix_trans / 3.0
        super().__post_init__()

    def columns_at(self, q2: float) -> tuple[np.ndarray, np.ndarray]:
        """Exact (col_L, col_T) for a line at true q2 (zero outside the true range)."""
        if self.hkernel is not None:
            cl, ct = self.hkernel.columns(np.array([float(q2)]))
            return cl[:, 0], ct[:, 0]
        edges = self.true_edges
        if q2 < edges[0] or q2 > edges[-1]:
            z = np.zeros(self.n_reco)
            return z, z.copy()
        j = min(int(np.searchsorted(edges, q2, side="right")) - 1, len(edges) - 2)
        return self.matrix_long[:, j].copy(), self.matrix_trans[:, j].copy()

    def column_at(self, q2: float) -> np.ndarray:
        """Isotropic (F_L = 1/3) column of a line; ``fold`` uses the polarised columns."""
        cl, ct = self.columns_at(q2)
        return cl / 3.0 + 2.0 * ct / 3.0

    def fold_parts(self, spectrum: Any) -> tuple[np.ndarray, np.ndarray]:
        """Longitudinal and transverse yields per fit bin.

        Args:
            spectrum: a K* Spectrum with ``continuum_long`` / ``lines_long``.

        Returns:
            (yields_L, yields_T), each of shape (n_reco,).

        Raises:
            EmissError: the spectrum has no longitudinal part (not a K* spectrum).
        """
        if spectrum.process != self.process:
            raise EmissError(f"channel {self.name!r} measures {self.process}, the spectrum is "
                             f"for {spectrum.process}")
        if spectrum.continuum is not None and spectrum.continuum_long is None:
            raise EmissError(f"spectrum {spectrum.label or spectrum.process!r} has no longitudinal "
                             "part (continuum_long); a K* channel needs it")
        if spectrum.lines and len(spectrum.lines_long) != len(spectrum.lines):
            raise EmissError(f"spectrum {spectrum.label or spectrum.process!r} has lines without "
                             "their longitudinal parts (lines_long)")
        cont = dataclasses.replace(spectrum, lines=(), lines_long=())
        b_all = np.asarray(cont.bin_integrals(self.true_edges), dtype=float)
        b_l = np.asarray(cont.bin_integrals_long(self.true_edges), dtype=float)
        y_l = self.matrix_long @ b_l
        y_t = self.matrix_trans @ (b_all - b_l)
        for (q2, br), br_l in zip(spectrum.lines, spectrum.lines_long, strict=True):
            cl, ct = self.columns_at(q2)
            y_l = y_l + br_l * cl
            y_t = y_t + (br - br_l) * ct
        return self.n_b * y_l, self.n_b * y_t

    def fold(self, spectrum: Any) -> np.ndarray:
        """Expected yields per fit bin (longitudinal + transverse)."""
        y_l, y_t = self.fold_parts(spectrum)
        return y_l + y_t

    def to_dict(self) -> dict:
        """JSON form (adds the polarised matrices and the K* kernel)."""
        d = super().to_dict()
        d["kernel"] = None
        d["kind"] = POLARISED_KIND
        d["matrix_long"] = _round(self.matrix_long)
        d["matrix_trans"] = _round(self.matrix_trans)
        d["hkernel"] = None if self.hkernel is None else self.hkernel.to_dict()
        return d

    @classmethod
    def _fields_from_dict(cls, d: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments from the JSON form (adds R_L, R_T and the K* kernel)."""
        return {
            **super()._fields_from_dict(d),
            "kernel": None,
            "matrix_long": np.asarray(d["matrix_long"], dtype=float),
            "matrix_trans": np.asarray(d["matrix_trans"], dtype=float),
            "hkernel": None if d.get("hkernel") is None else HelicityKernel.from_dict(
                d["hkernel"]),
        }


#: ``kind`` tag of a channel entry in response files -> its class (None: plain channel).
CHANNEL_KINDS: dict[str | None, type[ChannelResponse]] = {
    None: ChannelResponse,
    POLARISED_KIND: KstarChannelResponse,
}


def channel_from_dict(name: str, d: Mapping[str, Any]) -> ChannelResponse:
    """A channel from its JSON form, dispatched on its ``kind`` (``CHANNEL_KINDS``).

    Args:
        name: channel name (for the error message).
        d: the channel's JSON dict.

    Returns:
        The channel response of the registered kind.

    Raises:
        EmissError: unknown kind or a missing key.
    """
    kind = d.get("kind")
    if kind not in CHANNEL_KINDS:
        valid = " or ".join(repr(k) for k in CHANNEL_KINDS if k is not None)
        raise EmissError(f"response channel {name!r} has unknown kind {kind!r}; valid: "
                         f"none (plain) or {valid}")
    return CHANNEL_KINDS[kind].from_dict(d)
