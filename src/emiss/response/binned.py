"""What a channel folds: spectra integrated over true-q^2 bins, one spectrum or many at once.

A channel folds the continuum of a spectrum bin by bin through its matrices and routes every
exact line through its response column (``emiss.response.channels``). Of a spectrum it needs
the continuum integrated over its true bins, for each spectrum part its kind folds (``PARTS``:
the total rate; the K* longitudinal part), and the lines: a ``Binned``. Two integrations give
it:

* ``integrate``: ``Spectrum.bin_integrals`` over one channel's true edges (the arithmetic of
  ``ChannelResponse.fold``);
* ``DrawQuadrature``: one fixed Gauss-Legendre pass over the union of several channels' edges
  and the spectrum's support, fast for the many form-factor draws of one hypothesis.

``Binned.stack`` puts many spectra (or form-factor draws) on a leading axis, and a channel
folds the stack in one call (``ChannelResponse.fold_binned``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from emiss.errors import EmissError

if TYPE_CHECKING:
    from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpectrumPart:
    """One part of a spectrum a channel kind can fold.

    Attributes:
        continuum: attribute of ``emiss.physics.spectrum.Spectrum`` holding its density.
        integrals: the Spectrum method integrating that density over bins.
        lines: attribute holding each line's share of this part (None: the line's B itself).
        what: how error messages name the part.
    """

    continuum: str
    integrals: str
    lines: str | None
    what: str

    def line_weights(self, spectrum: Spectrum) -> tuple[float, ...]:
        """Each line's branching ratio in this part."""
        if self.lines is None:
            return tuple(br for _, br in spectrum.lines)
        return tuple(getattr(spectrum, self.lines))

    def check(self, spectrum: Spectrum, channel: str) -> None:
        """Raise EmissError unless the spectrum carries this part (for the named channel)."""
        if self.lines is None:
            return
        name = spectrum.label or spectrum.process
        if spectrum.continuum is not None and getattr(spectrum, self.continuum) is None:
            raise EmissError(f"spectrum {name!r} has no {self.what} ({self.continuum}); "
                             f"channel {channel!r} needs it")
        if spectrum.lines and len(getattr(spectrum, self.lines)) != len(spectrum.lines):
            raise EmissError(f"spectrum {name!r} has lines without their {self.what}s "
                             f"({self.lines}); channel {channel!r} needs them")


#: The spectrum parts channel kinds fold: "total" (dB/dq^2 and the lines' B) and "long" (the
#: K* longitudinal part dB_L/dq^2 and each line's longitudinal B).
PARTS: dict[str, SpectrumPart] = {
    "total": SpectrumPart("continuum", "bin_integrals", None, "rate"),
    "long": SpectrumPart("continuum_long", "bin_integrals_long", "lines_long",
                         "longitudinal part"),
}


def parts_of(kinds: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The union of several channels' parts, in the order of ``PARTS``.

    Args:
        kinds: the ``parts`` of each channel.

    Returns:
        Part names.
    """
    wanted = {p for ps in kinds for p in ps}
    unknown = wanted - set(PARTS)
    if unknown:
        raise EmissError(f"unknown spectrum part(s) {sorted(unknown)}; valid: "
                         f"{', '.join(PARTS)}")
    return tuple(p for p in PARTS if p in wanted)


def continuum_only(spectrum: Spectrum) -> Spectrum:
    """The spectrum without its lines (lines are folded through exact response columns)."""
    return dataclasses.replace(spectrum, lines=(), lines_long=()) if spectrum.lines else spectrum


def total_br(spectrum: Spectrum, n_panels: int = 48) -> float:
    """Total branching ratio (continuum by Gauss-Legendre panels + lines), vectorised.

    Args:
        spectrum: Spectrum.
        n_panels: panels over [q2_min, q2_max].

    Returns:
        B.
    """
    total = float(sum(br for _, br in spectrum.lines))
    if spectrum.continuum is not None and spectrum.q2_max > spectrum.q2_min:
        edges = np.array([spectrum.q2_min, spectrum.q2_max])
        total += float(np.sum(continuum_only(spectrum).bin_integrals(edges, n_sub=n_panels)))
    return total


@dataclass(frozen=True)
class Binned:
    """Spectra integrated over one channel's true bins, with their lines: a channel's input.

    Attributes:
        continuum: part -> continuum integrals per true bin, shape (n_true,) for one spectrum,
            (N, n_true) for N spectra or form-factor draws.
        line_q2: true q^2 of each line in GeV^2.
        lines: part -> branching ratio of each line in that part, shape (n_lines,) or
            (N, n_lines).
    """

    continuum: Mapping[str, np.ndarray]
    line_q2: tuple[float, ...]
    lines: Mapping[str, np.ndarray]

    @property
    def n_spectra(self) -> int | None:
        """Number of stacked spectra (None: one spectrum, no leading axis)."""
        first = next(iter(self.continuum.values()))
        return None if first.ndim == 1 else int(first.shape[0])

    @classmethod
    def stack(cls, items: Sequence[Binned]) -> Binned:
        """Several single-spectrum inputs on a leading axis (same parts and true bins).

        Lines at different q^2 are merged: a spectrum without a line at some q^2 has weight 0
        there.

        Args:
            items: Binned of one spectrum each.

        Returns:
            Binned with (N, ...) arrays.
        """
        if not items:
            raise EmissError("nothing to stack: no spectra given")
        parts = tuple(items[0].continuum)
        if any(tuple(b.continuum) != parts for b in items):
            raise EmissError("cannot stack spectra binned for different spectrum parts")
        q2s: list[float] = []
        for b in items:
            q2s += [q for q in b.line_q2 if q not in q2s]
        if all(b.line_q2 == tuple(q2s) for b in items):
            lines = {p: np.array([b.lines[p] for b in items], dtype=float).reshape(
                len(items), len(q2s)) for p in parts}
        else:
            lines = {p: np.zeros((len(items), len(q2s))) for p in parts}
            for k, b in enumerate(items):
                for j, q in enumerate(b.line_q2):
                    for p in parts:
                        lines[p][k, q2s.index(q)] += b.lines[p][j]
        return cls({p: np.array([b.continuum[p] for b in items], dtype=float) for p in parts},
                   tuple(q2s), lines)


def integrate(spectrum: Spectrum, edges: np.ndarray, parts: Sequence[str]) -> Binned:
    """A spectrum integrated over true-q^2 bins by ``Spectrum.bin_integrals`` (exact fold).

    Args:
        spectrum: Spectrum (carrying every part asked for).
        edges: true-q^2 bin edges in GeV^2.
        parts: spectrum parts (keys of ``PARTS``).

    Returns:
        Binned of one spectrum.
    """
    cont = continuum_only(spectrum)
    return Binned(
        {p: np.asarray(getattr(cont, PARTS[p].integrals)(edges), dtype=float) for p in parts},
        tuple(q2 for q2, _ in spectrum.lines),
        {p: np.asarray(PARTS[p].line_weights(spectrum), dtype=float) for p in parts})


#: Gauss-Legendre order per sub-interval of ``DrawQuadrature`` (the nominal templates use the
#: arithmetic of ``integrate``).
DRAW_GL_ORDER = 8
_DRAW_X, _DRAW_W = np.polynomial.legendre.leggauss(DRAW_GL_ORDER)


@dataclass(frozen=True)
class UnionPieces:
    """Continuum integrals of one spectrum over the sub-intervals of a union grid, and its lines.

    Attributes:
        continuum: part -> (midpoints of the sub-intervals, integral over each).
        line_q2: true q^2 of each line.
        lines: part -> branching ratio of each line in that part.
    """

    continuum: Mapping[str, tuple[np.ndarray, np.ndarray]]
    line_q2: tuple[float, ...]
    lines: Mapping[str, np.ndarray]

    @property
    def total(self) -> float:
        """Total branching ratio: continuum pieces plus lines."""
        return (float(self.continuum["total"][1].sum())
                + float(sum(self.lines["total"].tolist())))


class DrawQuadrature:
    """Fast continuum integrals over the true-q^2 bins of several channels at once.

    The union of all channels' true edges and the spectrum's support [q2_min, q2_max] is
    integrated once per spectrum with ``DRAW_GL_ORDER``-point Gauss-Legendre rules; channel-bin
    integrals are sums of those pieces and the total branching ratio is their sum.

    Args:
        edge_sets: true-q^2 edges of each channel.
    """

    def __init__(self, edge_sets: Sequence[np.ndarray]) -> None:
        self.edge_sets = [np.asarray(e, dtype=float) for e in edge_sets]
        self.union = np.unique(np.concatenate(self.edge_sets))

    def _integrate(self, spectrum: Spectrum, fn: Callable[[np.ndarray], np.ndarray] | None
                   ) -> tuple[np.ndarray, np.ndarray]:
        if fn is None or spectrum.q2_max <= spectrum.q2_min:
            return np.zeros(0), np.zeros(0)
        lo_s, hi_s = spectrum.q2_min, spectrum.q2_max
        inner = self.union[(self.union > lo_s) & (self.union < hi_s)]
        cuts = np.concatenate([[lo_s], inner, [hi_s]])
        a, b = cuts[:-1], cuts[1:]
        half, mid = 0.5 * (b - a), 0.5 * (b + a)
        x = mid[:, None] + half[:, None] * _DRAW_X[None, :]
        vals = np.asarray(fn(x.ravel()), dtype=float).reshape(x.shape)
        return mid, np.sum(vals * _DRAW_W[None, :], axis=1) * half

    def pieces(self, spectrum: Spectrum, parts: Sequence[str]) -> UnionPieces:
        """Continuum integrals over the union grid's sub-intervals, per part, and the lines.

        Args:
            spectrum: Spectrum (carrying every part asked for).
            parts: spectrum parts (keys of ``PARTS``; "total" first).

        Returns:
            UnionPieces.
        """
        cont = {p: self._integrate(spectrum, getattr(spectrum, PARTS[p].continuum))
                for p in parts}
        return UnionPieces(cont, tuple(q2 for q2, _ in spectrum.lines),
                           {p: np.asarray(PARTS[p].line_weights(spectrum), dtype=float)
                            for p in parts})

    def _split(self, mid: np.ndarray, pieces: np.ndarray) -> list[np.ndarray]:
        out = []
        for e in self.edge_sets:
            idx = np.searchsorted(e, mid, side="right") - 1
            ok = (idx >= 0) & (idx < len(e) - 1)
            out.append(np.bincount(idx[ok], weights=pieces[ok], minlength=len(e) - 1))
        return out

    def binned(self, pieces: UnionPieces) -> list[Binned]:
        """Bin integrals per edge set (channel) from the union pieces.

        Args:
            pieces: ``pieces`` of one spectrum.

        Returns:
            One Binned per edge set.
        """
        split = {p: self._split(*v) for p, v in pieces.continuum.items()}
        return [Binned({p: split[p][i] for p in split}, pieces.line_q2, pieces.lines)
                for i in range(len(self.edge_sets))]
