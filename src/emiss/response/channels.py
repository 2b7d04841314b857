"""Channel kinds: the efficiency x migration of one fit channel and how it folds a spectrum.

* ``ChannelResponse`` (no ``kind`` in files): one matrix R[i, j] = P(selected in fit bin i |
  true q^2 in bin j), folded with the spectrum's bin integrals (B -> K and any isotropic channel).
* ``KstarChannelResponse`` (``kind`` "kstar-helicity"): B -> K* channels binned in the K*
  helicity angle; separate longitudinal and transverse matrices R_L, R_T fold the spectrum's
  longitudinal and transverse parts apart (``fold_parts``), so templates follow F_L.

Every kind folds the same way from the outside: ``integrate`` bins a spectrum over the
channel's true bins (the spectrum parts the kind names in ``parts``, ``emiss.response.binned``)
and ``fold_binned`` turns that input, one spectrum or a stack of spectra or form-factor draws,
into yields; ``fold`` and ``fold_many`` chain the two.

A new channel kind is a subclass here with its own ``kind`` tag, ``parts`` and
``fold_binned``, registered in ``CHANNEL_KINDS`` (the file loader dispatches on it), plus its
kernel in ``emiss.response.kernels`` when it has an analytic one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from emiss.errors import EmissError
from emiss.io import round_sig
from emiss.response.binned import PARTS, Binned, integrate
from emiss.response.kernels import RESPONSE_DIGITS, BoxKernel, HelicityKernel

if TYPE_CHECKING:
    from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: ``kind`` of K* helicity channels in response files (plain channels have no ``kind``).
POLARISED_KIND = "kstar-helicity"
#: How a binned response places a two-body line at true q0 (``ChannelResponse.line_placement``):
#: "bin" takes the column of the true bin holding q0; "interpolate" interpolates the columns
#: linearly between the centres of the neighbouring physical (q^2 >= 0) true bins, using the
#: edge column beyond the first/last centre. A bin-averaged column is the response at the
#: spectrum-weighted mean q^2 of its bin, i.e. (to second order in the bin width) at its centre.
LINE_PLACEMENTS = ("bin", "interpolate")


def _apply(matrix: np.ndarray, integrals: np.ndarray) -> np.ndarray:
    """matrix @ integrals for one spectrum (n_true,) or for each row of a stack (N, n_true).

    A stack is multiplied row by row: one matrix-matrix product would round differently
    from the matrix-vector product of a single fold (BLAS sums in another order), and a
    spectrum's yields must not depend on how many others are folded with it.
    """
    if integrals.ndim == 1:
        return matrix @ integrals
    return np.stack([matrix @ row for row in integrals]) if len(integrals) else \
        np.zeros((0, matrix.shape[0]))


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
    #: response columns of the lines folded so far, by true q^2
    _columns: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    #: spectrum parts this kind folds (``emiss.response.binned.PARTS``)
    parts: ClassVar[tuple[str, ...]] = ("total",)

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

    def check_spectrum(self, spectrum: Spectrum) -> None:
        """Raise EmissError unless the spectrum carries every part this kind folds."""
        for p in self.parts:
            PARTS[p].check(spectrum, self.name)

    def integrate(self, spectrum: Spectrum) -> Binned:
        """The fold's input: the spectrum's parts integrated over the true bins, its lines.

        Args:
            spectrum: an ``emiss.physics.spectrum.Spectrum`` (continuum + exact lines).

        Returns:
            Binned of one spectrum (``Spectrum.bin_integrals``).
        """
        self.check_spectrum(spectrum)
        return integrate(spectrum, self.true_edges, self.parts)

    def _line_columns(self, q2: float) -> tuple[np.ndarray, ...]:
        """The response columns of a line at true q2 (cached): (column_at(q2),)."""
        key = float(q2)
        if key not in self._columns:
            self._columns[key] = (self.column_at(key),)
        return self._columns[key]

    def fold_binned(self, binned: Binned) -> np.ndarray:
        """Expected yields per fit bin: n_b * (R @ continuum bin integrals + lines via column_at).

        Args:
            binned: spectra integrated over this channel's true bins (``integrate``, or
                ``emiss.response.binned.DrawQuadrature``), one or stacked (``Binned.stack``).

        Returns:
            Yields, shape (n_reco,), or (N, n_reco) for a stack.
        """
        y = _apply(self.matrix, binned.continuum["total"])
        w = binned.lines["total"]
        for j, q2 in enumerate(binned.line_q2):
            y = y + w[..., j, None] * self._line_columns(q2)[0]
        return self.n_b * y

    def fold(self, spectrum: Spectrum) -> np.ndarray:
        """Expected yields per fit bin: n_b * (R @ continuum bin integrals + lines via column_at).

        Args:
            spectrum: an ``emiss.physics.spectrum.Spectrum`` (continuum + exact lines).

        Returns:
            Yields, shape (n_reco,).
        """
        return self.fold_binned(self.integrate(spectrum))

    def fold_many(self, spectra: Sequence[Spectrum]) -> np.ndarray:
        """Expected yields of several spectra at once.

        Args:
            spectra: Spectrum objects of this channel's process.

        Returns:
            Yields, shape (len(spectra), n_reco).
        """
        return self.fold_binned(Binned.stack([self.integrate(s) for s in spectra]))

    def to_dict(self) -> dict:
        """JSON form (rounded to 12 significant digits; ``line_placement`` only when not "bin")."""
        out = {
            "name": self.name,
            "process": self.process,
            "n_b": round_sig(self.n_b, RESPONSE_DIGITS),
            "true_edges": round_sig(self.true_edges, RESPONSE_DIGITS),
            "matrix": round_sig(self.matrix, RESPONSE_DIGITS),
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
@dataclass(kw_only=True)
class KstarChannelResponse(ChannelResponse):
    """A ChannelResponse with separate longitudinal / transverse matrices.

    Attributes (beyond ChannelResponse, keyword-only):
        matrix_long: R_L, shape (n_reco, n_true).
        matrix_trans: R_T, shape (n_reco, n_true).
        hkernel: exact kernel for lines (or None: binned columns).
    """

    matrix_long: np.ndarray
    matrix_trans: np.ndarray
    hkernel: HelicityKernel | None = None

    #: the total rate and its longitudinal part (their difference is the transverse part)
    parts: ClassVar[tuple[str, ...]] = ("total", "long")

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

    def fold_parts(self, spectrum: Spectrum) -> tuple[np.ndarray, np.ndarray]:
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
        b = self.integrate(spectrum)
        b_all, b_l = b.continuum["total"], b.continuum["long"]
        y_l = self.matrix_long @ b_l
        y_t = self.matrix_trans @ (b_all - b_l)
        for j, q2 in enumerate(b.line_q2):
            cl, ct = self._line_columns(q2)
            br, br_l = b.lines["total"][j], b.lines["long"][j]
            y_l = y_l + br_l * cl
            y_t = y_t + (br - br_l) * ct
        return self.n_b * y_l, self.n_b * y_t

    def fold(self, spectrum: Spectrum) -> np.ndarray:
        """Expected yields per fit bin (longitudinal + transverse)."""
        y_l, y_t = self.fold_parts(spectrum)
        return y_l + y_t

    def _line_columns(self, q2: float) -> tuple[np.ndarray, ...]:
        """The (col_L, col_T) of a line at true q2 (cached)."""
        key = float(q2)
        if key not in self._columns:
            self._columns[key] = self.columns_at(key)
        return self._columns[key]

    def fold_binned(self, binned: Binned) -> np.ndarray:
        """Expected yields per fit bin: n_b (R_L @ longitudinal + R_T @ transverse integrals
        + each line's longitudinal and transverse B through col_L and col_T).

        Args:
            binned: spectra integrated over this channel's true bins with the parts "total"
                and "long", one or stacked (``Binned.stack``).

        Returns:
            Yields, shape (n_reco,), or (N, n_reco) for a stack.
        """
        b_all, b_l = binned.continuum["total"], binned.continuum["long"]
        y = _apply(self.matrix_long, b_l) + _apply(self.matrix_trans, b_all - b_l)
        w, w_l = binned.lines["total"], binned.lines["long"]
        for j, q2 in enumerate(binned.line_q2):
            cl, ct = self._line_columns(q2)
            br, br_l = w[..., j, None], w_l[..., j, None]
            y = y + br_l * cl + (br - br_l) * ct
        return self.n_b * y

    def to_dict(self) -> dict:
        """JSON form (adds the polarised matrices and the K* kernel)."""
        d = super().to_dict()
        d["kernel"] = None
        d["kind"] = POLARISED_KIND
        d["matrix_long"] = round_sig(self.matrix_long, RESPONSE_DIGITS)
        d["matrix_trans"] = round_sig(self.matrix_trans, RESPONSE_DIGITS)
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
