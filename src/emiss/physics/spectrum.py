"""The physics stage's product: one hypothesis' q^2 spectrum for one process.

A spectrum is a continuum dB/dq^2 (a vectorised callable, GeV^-2) plus exact two-body lines
(q^2 position, branching ratio): a line is a delta function in q^2 and is never turned into a
narrow bump that a binning could miss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate

ArrayFn = Callable[[np.ndarray], np.ndarray]

#: Gauss-Legendre order used per integration sub-interval.
_GL_ORDER = 24
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)


def _gauss_legendre(fn: ArrayFn, lo: np.ndarray, hi: np.ndarray, n_sub: int) -> np.ndarray:
    """Integrate fn over each [lo_k, hi_k] with n_sub Gauss-Legendre panels (vectorised).

    Args:
        fn: vectorised integrand.
        lo: lower limits, shape (K,).
        hi: upper limits, shape (K,).
        n_sub: panels per interval.

    Returns:
        Integrals, shape (K,).
    """
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    t = np.linspace(0.0, 1.0, n_sub + 1)
    a = lo[:, None] + (hi - lo)[:, None] * t[None, :-1]
    b = lo[:, None] + (hi - lo)[:, None] * t[None, 1:]
    half = 0.5 * (b - a)
    mid = 0.5 * (b + a)
    x = mid[..., None] + half[..., None] * _GL_X
    vals = np.asarray(fn(x.ravel()), dtype=float).reshape(x.shape)
    return np.sum(vals * _GL_W * half[..., None], axis=(1, 2))


@dataclass(frozen=True)
class Spectrum:
    """dB/dq^2 of one hypothesis for one process.

    Attributes:
        process: process label, one of ``emiss.physics.processes.PROCESSES``.
        q2_min: lower end of the support in GeV^2 (0, or 4 m_X^2 for pairs).
        q2_max: kinematic endpoint (m_B - m_K(*))^2 in GeV^2.
        continuum: vectorised dB/dq^2 in GeV^-2 (zero outside [q2_min, q2_max]), or None.
        lines: exact two-body lines as (q^2 in GeV^2, branching ratio) pairs.
        continuum_long: longitudinal part dB_L/dq^2 (K* processes only), else None.
        lines_long: longitudinal branching ratio of each line (K* only), same order as ``lines``.
        label: short human-readable description of the hypothesis.
    """

    process: str
    q2_min: float
    q2_max: float
    continuum: ArrayFn | None = None
    lines: tuple[tuple[float, float], ...] = ()
    continuum_long: ArrayFn | None = None
    lines_long: tuple[float, ...] = ()
    label: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    # ---------------------------------------------------------------- evaluation
    def _on_support(self, fn: ArrayFn | None, q2: np.ndarray) -> np.ndarray:
        """fn evaluated inside [q2_min, q2_max], zero outside (and everywhere if fn is None)."""
        q2 = np.asarray(q2, dtype=float)
        out = np.zeros_like(q2)
        if fn is None:
            return out
        inside = (q2 >= self.q2_min) & (q2 <= self.q2_max)
        if np.any(inside):
            out[inside] = fn(q2[inside])
        return out

    def dBdq2(self, q2: np.ndarray) -> np.ndarray:
        """Continuum dB/dq^2 at q2 (GeV^-2); lines are not included (they are deltas)."""
        return self._on_support(self.continuum, q2)

    def dBLdq2(self, q2: np.ndarray) -> np.ndarray:
        """Longitudinal continuum dB_L/dq^2 (K* only; zeros when undefined)."""
        return self._on_support(self.continuum_long, q2)

    def _integrate(self, fn: ArrayFn | None, edges: np.ndarray, n_sub: int) -> np.ndarray:
        edges = np.asarray(edges, dtype=float)
        if fn is None:
            return np.zeros(len(edges) - 1)
        lo = np.clip(edges[:-1], self.q2_min, self.q2_max)
        hi = np.clip(edges[1:], self.q2_min, self.q2_max)
        res = np.zeros(len(lo))
        ok = hi > lo
        if np.any(ok):
            res[ok] = _gauss_legendre(fn, lo[ok], hi[ok], n_sub)
        return res

    def _lines_in_bins(self, edges: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
        edges = np.asarray(edges, dtype=float)
        out = np.zeros(len(edges) - 1)
        for (q2, _), w in zip(self.lines, weights, strict=True):
            idx = np.searchsorted(edges, q2, side="right") - 1
            if idx == len(edges) - 1 and q2 == edges[-1]:
                idx -= 1  # the last bin is closed on the right
            if 0 <= idx < len(out):
                out[idx] += w
        return out

    def bin_integrals(self, edges: np.ndarray, n_sub: int = 4) -> np.ndarray:
        """Branching ratio in each q^2 bin, lines included in the bin that holds them.

        Args:
            edges: monotonically increasing bin edges in GeV^2; bins are [lo, hi), the last closed.
            n_sub: Gauss-Legendre panels per bin.

        Returns:
            Array of len(edges) - 1 branching ratios.
        """
        cont = self._integrate(self.continuum, edges, n_sub)
        return cont + self._lines_in_bins(edges, tuple(br for _, br in self.lines))

    def bin_integrals_long(self, edges: np.ndarray, n_sub: int = 4) -> np.ndarray:
        """Longitudinal branching ratio per q^2 bin (K* only), lines included."""
        cont = self._integrate(self.continuum_long, edges, n_sub)
        if self.lines and self.lines_long:
            cont = cont + self._lines_in_bins(edges, self.lines_long)
        return cont

    def _total(self, fn: ArrayFn | None) -> float:
        """Integral of fn over the support [q2_min, q2_max] (adaptive quadrature)."""
        if fn is None or self.q2_max <= self.q2_min:
            return 0.0
        # epsabs=0: scipy's default absolute tolerance (1.5e-8) exceeds B ~ 1e-5 rates
        val, _ = integrate.quad(
            lambda x: float(fn(np.array([x]))[0]),
            self.q2_min,
            self.q2_max,
            limit=200,
            epsabs=0.0,
            epsrel=1e-8,
        )
        return float(val)

    def branching_ratio(self) -> float:
        """Total branching ratio: continuum integral plus all lines."""
        return float(sum(br for _, br in self.lines)) + self._total(self.continuum)

    def branching_ratio_long(self) -> float:
        """Longitudinal branching ratio (K* only)."""
        return float(sum(self.lines_long)) + self._total(self.continuum_long)

    def fl(self) -> float | None:
        """q^2-integrated longitudinal fraction F_L (None when not a K* process)."""
        if self.continuum_long is None and not self.lines_long:
            return None
        br = self.branching_ratio()
        return self.branching_ratio_long() / br if br > 0 else float("nan")

    def scaled(self, factor: float) -> Spectrum:
        """The same shape with every rate multiplied by factor."""
        c, cl = self.continuum, self.continuum_long
        return Spectrum(
            process=self.process,
            q2_min=self.q2_min,
            q2_max=self.q2_max,
            continuum=None if c is None else (lambda q2: factor * c(q2)),
            lines=tuple((q2, factor * br) for q2, br in self.lines),
            continuum_long=None if cl is None else (lambda q2: factor * cl(q2)),
            lines_long=tuple(factor * b for b in self.lines_long),
            label=self.label,
            meta=dict(self.meta),
        )
