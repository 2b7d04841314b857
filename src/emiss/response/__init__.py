"""Detector response: efficiency x migration from true q^2 bins to reconstructed fit bins.

For each channel, ``R[i, j]`` is the probability that a decay whose true q^2 lies in true bin j
is selected into reconstructed (fit) bin i, averaged uniformly over the true bin. Column sums are
the selection efficiency and never exceed 1. ``Response.fold(spectrum)`` turns a dB/dq^2
(continuum + exact lines) into expected yields per fit bin for ``n_b`` produced B mesons;
a line at q^2 = m^2 is routed through the exact column ``column_at(m^2)`` and never smeared
over a true bin.

Sources of a response:

* the bundled emulation (analytic kernel: the ITA kinematic box of Belle II's q^2_rec, see
  ``BoxKernel``; built by ``emiss.workspace_build``);
* Belle II's HEPData "joint number density" tables (ins2947386, arXiv:2507.12393) together
  with the released ``combined_likelihood.json`` (``Response.from_hepdata``);
* any ROOT TH2 holding R (``Response.from_root``).

B -> K* channels binned in the K* helicity angle are ``KstarChannelResponse`` (separate
longitudinal and transverse matrices, ``fold_parts``; built by ``emiss.kstar.response``). One
loader (``Response.load``) reads plain (``emiss-response-1``) and K* (``emiss-kstar-response-1``)
files; a file is written in the K* format exactly when it holds a K* channel.

The stage knows bins and matrices only; which hypothesis made a spectrum is not its business.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

from emiss.errors import EmissError
from emiss.io import read_json, round_sig, write_json

log = logging.getLogger(__name__)

#: Belle II's true-q^2 grid of the released number densities (arXiv:2507.12393, HEPData
#: ins2947386; knunu-reinterpretation-mini): a sentinel bin [-1, 0) plus 100 bins up to 22.885.
BELLE2_TRUE_EDGES: np.ndarray = np.concatenate([[-1.0], np.linspace(0.0, 22.885, 101)])

#: Format tag written into response files.
RESPONSE_FORMAT = "emiss-response-1"

#: Gauss-Legendre nodes used to average an analytic kernel over one true bin.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def _round(x: np.ndarray | float, digits: int = 12) -> Any:
    """Round to 12 significant digits (``emiss.io.round_sig``) for stable JSON files."""
    return round_sig(x, digits)


# ----------------------------------------------------------------------------- analytic kernel
@dataclass(frozen=True)
class BoxKernel:
    """Exact P(selected in fit bin i | true q^2) of the emulated Belle II-style analyses.

    Fit bins are the flattened product (outer axis: classifier bins with probabilities
    ``fractions``, inner axis: q^2_rec bins ``q2rec_edges``; without q^2_rec edges the fit
    bins are the classifier bins alone, as for the HTA). The selection efficiency is
    ``eff_norm * exp(-eff_slope * q^2)`` (shape: proxy of 1.6 in shared/reference/belle2.md).

    q^2_rec (ITA, belle2.md 1.4) assumes a signal B at rest in the e+e- frame, while it moves with
    gamma*beta = p*_B / m_B. For an isotropic decay q^2_rec is uniform on
    [c - h, c + h] with c = gamma^2 q^2 + m_K^2 (1 - gamma^2) and h = sqrt(s) gamma beta p_K(q^2),
    p_K the kaon momentum in the B frame (exact two-body kinematics, belle2.md 1.7). The box is
    convolved with a Gaussian resolution ``sigma`` (GeV^2).

    Attributes:
        sqrt_s: e+e- CM energy in GeV.
        m_B, m_K: parent and kaon masses in GeV.
        sigma: q^2_rec Gaussian resolution in GeV^2.
        q2rec_edges: q^2_rec fit-bin edges in GeV^2 (empty: no q^2_rec axis).
        fractions: probabilities of the classifier bins (sum <= 1).
        eff_norm: efficiency normalisation.
        eff_slope: efficiency slope in GeV^-2.
    """

    sqrt_s: float
    m_B: float
    m_K: float
    sigma: float
    q2rec_edges: tuple[float, ...]
    fractions: tuple[float, ...]
    eff_norm: float
    eff_slope: float

    @property
    def n_reco(self) -> int:
        """Number of fit bins."""
        nq = max(len(self.q2rec_edges) - 1, 1)
        return len(self.fractions) * nq

    @property
    def q2_max(self) -> float:
        """Kinematic endpoint (m_B - m_K)^2."""
        return (self.m_B - self.m_K) ** 2

    def efficiency(self, q2: np.ndarray) -> np.ndarray:
        """Selection efficiency before the q^2_rec window (zero outside [0, q2_max])."""
        q2 = np.asarray(q2, dtype=float)
        inside = (q2 >= 0.0) & (q2 <= self.q2_max)
        return np.where(inside, self.eff_norm * np.exp(-self.eff_slope * q2), 0.0)

    def box(self, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre and half-width of the q^2_rec box at true q2 (GeV^2)."""
        q2 = np.clip(np.asarray(q2, dtype=float), 0.0, self.q2_max)
        mb2, mk2 = self.m_B**2, self.m_K**2
        lam = np.clip(mb2**2 + mk2**2 + q2**2 - 2 * (mb2 * mk2 + mk2 * q2 + q2 * mb2), 0.0, None)
        p_k = np.sqrt(lam) / (2 * self.m_B)
        gamma2 = self.sqrt_s**2 / (4 * mb2)
        gbeta = np.sqrt(max(gamma2 - 1.0, 0.0))
        centre = gamma2 * q2 + mk2 * (1.0 - gamma2)
        return centre, self.sqrt_s * gbeta * p_k

    def q2rec_probabilities(self, q2: np.ndarray) -> np.ndarray:
        """P(q^2_rec in each q^2_rec bin | q2), shape (n_q2rec, len(q2)), box (x) Gaussian."""
        edges = np.asarray(self.q2rec_edges, dtype=float)
        c, h = self.box(q2)
        s = self.sigma

        def prim(t: np.ndarray) -> np.ndarray:
            # antiderivative of Phi(t / s) in t: t Phi(t/s) + s phi(t/s)
            u = t / s
            return t * ndtr(u) + s * np.exp(-0.5 * u**2) / np.sqrt(2 * np.pi)

        def cdf_box(x: np.ndarray) -> np.ndarray:
            # P(q2_rec < x) for the box of centre c, half-width h, smeared by s
            wide = h > 1e-9
            hh = np.where(wide, h, 1.0)
            val_box = (prim(x - c + hh) - prim(x - c - hh)) / (2 * hh)
            return np.where(wide, val_box, ndtr((x - c) / s))

        cdfs = np.array([cdf_box(np.full_like(c, e)) for e in edges])
        return np.clip(np.diff(cdfs, axis=0), 0.0, 1.0)

    def columns(self, q2: np.ndarray) -> np.ndarray:
        """P(selected in fit bin i | q2), shape (n_reco, len(q2))."""
        q2 = np.atleast_1d(np.asarray(q2, dtype=float))
        eff = self.efficiency(q2)
        frac = np.asarray(self.fractions, dtype=float)
        if len(self.q2rec_edges) >= 2:
            prob = self.q2rec_probabilities(q2)  # (nq, n)
            out = frac[:, None, None] * prob[None, :, :] * eff[None, None, :]
            return out.reshape(-1, len(q2))
        return frac[:, None] * eff[None, :]

    def bin_average(self, true_edges: np.ndarray) -> np.ndarray:
        """R averaged uniformly over each true bin (8-point Gauss-Legendre), (n_reco, n_true)."""
        lo, hi = np.asarray(true_edges[:-1]), np.asarray(true_edges[1:])
        half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
        x = mid[:, None] + half[:, None] * _GL_X[None, :]
        cols = self.columns(x.ravel()).reshape(self.n_reco, len(lo), len(_GL_X))
        return np.sum(cols * _GL_W[None, None, :], axis=2) / 2.0

    def to_dict(self) -> dict:
        """JSON form."""
        d = dataclasses.asdict(self)
        d["type"] = "box"
        d["q2rec_edges"] = list(self.q2rec_edges)
        d["fractions"] = _round(np.asarray(self.fractions))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BoxKernel:
        """Inverse of to_dict."""
        if d.get("type") != "box":
            raise EmissError(f"unknown response kernel type {d.get('type')!r}; valid: 'box'")
        return cls(
            sqrt_s=float(d["sqrt_s"]),
            m_B=float(d["m_B"]),
            m_K=float(d["m_K"]),
            sigma=float(d["sigma"]),
            q2rec_edges=tuple(float(e) for e in d["q2rec_edges"]),
            fractions=tuple(float(f) for f in d["fractions"]),
            eff_norm=float(d["eff_norm"]),
            eff_slope=float(d["eff_slope"]),
        )


# ----------------------------------------------------------------------------- channel response
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
    """

    name: str
    process: str
    true_edges: np.ndarray
    matrix: np.ndarray
    n_b: float
    kernel: BoxKernel | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
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
        holding q2 (the last bin is closed). Outside the true range the column is zero.
        """
        q2 = float(q2)
        if self.kernel is not None:
            return self.kernel.columns(np.array([q2]))[:, 0]
        edges = self.true_edges
        if q2 < edges[0] or q2 > edges[-1]:
            return np.zeros(self.n_reco)
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
        """JSON form (rounded to 12 significant digits)."""
        return {
            "name": self.name,
            "process": self.process,
            "n_b": _round(self.n_b),
            "true_edges": _round(self.true_edges),
            "matrix": _round(self.matrix),
            "kernel": None if self.kernel is None else self.kernel.to_dict(),
            "meta": self.meta,
        }

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
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChannelResponse:
        """Inverse of to_dict."""
        try:
            return cls(**cls._fields_from_dict(d))
        except KeyError as exc:
            raise EmissError(f"response channel entry lacks the key {exc.args[0]!r}") from None


# ----------------------------------------------------------------------------- K* helicity
#: Format tag of response files holding at least one K* helicity channel (``kind``
#: "kstar-helicity"); ``Response.load`` reads both formats.
KSTAR_RESPONSE_FORMAT = "emiss-kstar-response-1"
#: ``kind`` of K* helicity channels in response files (plain channels have no ``kind``).
POLARISED_KIND = "kstar-helicity"


def helicity_acceptance(cos_edges: Any, slope: float) -> tuple[np.ndarray, np.ndarray]:
    """Integrated angular templates per cos(theta_K) bin, times the relative acceptance.

    Args:
        cos_edges: bin edges in [-1, 1].
        slope: k of a(cos) = 1 - k ((1 + cos)/2)^2 (0: perfect acceptance).

    Returns:
        (A_L, A_T): per-bin integrals of (3/2) cos^2 a(cos) and (3/4)(1 - cos^2) a(cos); each
        sums to 1 over [-1, 1] for slope 0.
    """
    e = np.asarray(cos_edges, dtype=float)
    if e[0] < -1 - 1e-12 or e[-1] > 1 + 1e-12 or np.any(np.diff(e) <= 0):
        raise EmissError(f"cos(theta_K) edges {e.tolist()} must increase within [-1, 1]")
    if not 0.0 <= slope < 1.0:
        raise EmissError(f"acceptance slope {slope} invalid; valid: 0 <= slope < 1")
    lo, hi = e[:-1], e[1:]
    x = 0.5 * (hi + lo)[:, None] + 0.5 * (hi - lo)[:, None] * _GL_X[None, :]
    acc = 1.0 - slope * ((1.0 + x) / 2.0) ** 2
    w = 0.5 * (hi - lo)[:, None] * _GL_W[None, :]
    a_l = np.sum(1.5 * x**2 * acc * w, axis=1)
    a_t = np.sum(0.75 * (1.0 - x**2) * acc * w, axis=1)
    return a_l, a_t


@dataclass(frozen=True)
class HelicityKernel:
    """Exact P(selected in fit bin i | true q^2) for the L and T parts of one K* channel.

    Attributes:
        box: q^2_rec kernel (``emiss.response.BoxKernel`` with the K* mass; its own
            efficiency is not used).
        cos_edges: cos(theta_K) bin edges.
        acc_slope: relative-acceptance parameter k.
        eff_norm: efficiency normalisation.
        eff_a, eff_b: efficiency shape 1 - a exp(b q^2 / m_B^2) (data file, proxy).
    """

    box: BoxKernel
    cos_edges: tuple[float, ...]
    acc_slope: float
    eff_norm: float
    eff_a: float
    eff_b: float

    @property
    def n_cos(self) -> int:
        """Number of cos(theta_K) bins."""
        return len(self.cos_edges) - 1

    @property
    def n_reco(self) -> int:
        """Number of fit bins (q^2_rec x cos)."""
        return (len(self.box.q2rec_edges) - 1) * self.n_cos

    def efficiency(self, q2: np.ndarray) -> np.ndarray:
        """Selection efficiency vs true q^2 before the fit-bin windows (0 outside the range)."""
        q2 = np.asarray(q2, dtype=float)
        inside = (q2 >= 0.0) & (q2 <= self.box.q2_max)
        shape = 1.0 - self.eff_a * np.exp(self.eff_b * q2 / self.box.m_B**2)
        return np.where(inside, self.eff_norm * shape, 0.0)

    def columns(self, q2: Any) -> tuple[np.ndarray, np.ndarray]:
        """(col_L, col_T), each of shape (n_reco, len(q2))."""
        q2 = np.atleast_1d(np.asarray(q2, dtype=float))
        prob = self.box.q2rec_probabilities(q2) * self.efficiency(q2)[None, :]  # (nq, n)
        a_l, a_t = helicity_acceptance(self.cos_edges, self.acc_slope)
        col_l = (prob[:, None, :] * a_l[None, :, None]).reshape(self.n_reco, len(q2))
        col_t = (prob[:, None, :] * a_t[None, :, None]).reshape(self.n_reco, len(q2))
        return col_l, col_t

    def bin_average(self, true_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(R_L, R_T) averaged uniformly over each true bin (8-point Gauss-Legendre)."""
        lo, hi = np.asarray(true_edges[:-1]), np.asarray(true_edges[1:])
        x = 0.5 * (hi + lo)[:, None] + 0.5 * (hi - lo)[:, None] * _GL_X[None, :]
        cl, ct = self.columns(x.ravel())
        shape = (self.n_reco, len(lo), len(_GL_X))
        r_l = np.sum(cl.reshape(shape) * _GL_W, axis=2) / 2.0
        r_t = np.sum(ct.reshape(shape) * _GL_W, axis=2) / 2.0
        return r_l, r_t

    def to_dict(self) -> dict:
        """JSON form."""
        return {
            "type": "kstar-helicity",
            "box": self.box.to_dict(),
            "cos_edges": list(self.cos_edges),
            "acc_slope": self.acc_slope,
            "eff_norm": _round(self.eff_norm),
            "eff_a": self.eff_a,
            "eff_b": self.eff_b,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HelicityKernel:
        """Inverse of to_dict."""
        if d.get("type") != "kstar-helicity":
            raise EmissError(f"unknown K* kernel type {d.get('type')!r}; valid: 'kstar-helicity'")
        return cls(
            box=BoxKernel.from_dict(d["box"]),
            cos_edges=tuple(float(c) for c in d["cos_edges"]),
            acc_slope=float(d["acc_slope"]),
            eff_norm=float(d["eff_norm"]),
            eff_a=float(d["eff_a"]),
            eff_b=float(d["eff_b"]),
        )


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


# ----------------------------------------------------------------------------- response
@dataclass
class Response:
    """Per-channel responses of one workspace.

    Attributes:
        channels: channel name -> ChannelResponse.
        meta: free-form provenance (source, assumptions).
    """

    channels: dict[str, ChannelResponse]
    meta: dict = field(default_factory=dict)

    def fold(self, spectrum: Any, channels: list[str] | None = None) -> dict[str, np.ndarray]:
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

    def fold_parts(self, spectrum: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
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
        """JSON form."""
        return {
            "format": KSTAR_RESPONSE_FORMAT if self.polarised else RESPONSE_FORMAT,
            "meta": self.meta,
            "channels": {n: c.to_dict() for n, c in sorted(self.channels.items())},
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write deterministic JSON atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Response:
        """Inverse of to_dict: plain and K* response files (channels dispatched on ``kind``)."""
        if d.get("format") not in (RESPONSE_FORMAT, KSTAR_RESPONSE_FORMAT):
            raise EmissError(
                f"not an emiss response file (format {d.get('format')!r}, expected "
                f"{RESPONSE_FORMAT!r} or {KSTAR_RESPONSE_FORMAT!r})"
            )
        chans: dict[str, ChannelResponse] = {}
        for n, c in d["channels"].items():
            kind = c.get("kind")
            if kind == POLARISED_KIND:
                chans[n] = KstarChannelResponse.from_dict(c)
            elif kind is None:
                chans[n] = ChannelResponse.from_dict(c)
            else:
                raise EmissError(f"response channel {n!r} has unknown kind {kind!r}; valid: "
                                 f"none (plain) or {POLARISED_KIND!r}")
        return cls(channels=chans, meta=dict(d.get("meta") or {}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Response:
        """Read a response file written by ``save`` (plain or K*)."""
        path = Path(path)
        if not path.is_file():
            raise EmissError(f"response file {str(path)!r} does not exist")
        return cls.from_dict(read_json(path))

    # ------------------------------------------------------------------ external formats
    @classmethod
    def from_hepdata(
        cls,
        likelihood_json: str | os.PathLike | Mapping[str, Any],
        csv_files: Mapping[str, str | os.PathLike],
        null_spectrum: Any = None,
        n_b: float | None = None,
        process: str = "B+->K+",
        true_edges: np.ndarray | None = None,
        signal_samples: Mapping[str, str] | None = None,
        reference_branching_ratio: float = 4.97e-6,
    ) -> Response:
        """Response from Belle II's released likelihood and "joint number density" CSVs.

        Belle II (arXiv:2507.12393, HEPData ins2947386) publishes, per channel, a table
        M[i, j] of selected signal MC in fit bin i (rows, flattened fit bins) and generated
        q^2 bin j (columns, edges ``[-1] + linspace(0, 22.885, 101)``). The table is a joint
        number density, so its overall scale is arbitrary. We normalise it to an efficiency
        with the null (SM) spectrum the MC follows and the signal sample of the likelihood:
        M[i, j] is proportional to n_b * B_null[j] * R[i, j], and the workspace signal yields
        are nu_i = n_b * sum_j R[i, j] B_null[j] (mu = 1), hence

            R[i, j] = M[i, j] * sum_i nu_i / (n_b * B_null[j] * sum_ij M[i, j]).

        True bins where B_null is zero (the sentinel [-1, 0)) get a zero column; the share of
        M they held is logged.

        Args:
            likelihood_json: path to (or dict of) ``combined_likelihood.json`` (pyhf).
            csv_files: channel name -> CSV path (rows = fit bins, columns = true bins).
            null_spectrum: spectrum of the signal sample at mu = 1 (default: the SM spectrum of
                ``emiss.physics.sm`` scaled to ``reference_branching_ratio``).
            n_b: number of produced parent B mesons (default: Belle II's N(B+-) = 2 N_BB f+-
                of the bundled emulation inputs, 387e6 BBbar pairs).
            process: process of the channels.
            true_edges: true-q^2 edges (default Belle II's grid).
            signal_samples: channel -> signal sample name (default: the sample with normfactor mu).
            reference_branching_ratio: B at mu = 1 for the default null (Belle II: 4.97e-6).

        Returns:
            The Response.
        """
        spec = likelihood_json if isinstance(likelihood_json, Mapping) else read_json(
            likelihood_json
        )
        edges = BELLE2_TRUE_EDGES if true_edges is None else np.asarray(true_edges, dtype=float)
        n_true = len(edges) - 1
        if null_spectrum is None:
            from emiss.physics.sm import sm_spectrum

            sm = sm_spectrum(process)
            null_spectrum = sm.scaled(reference_branching_ratio / sm.branching_ratio())
        if n_b is None:
            from emiss.workspace_build.emulation import load_inputs, n_bplus

            n_b = n_bplus(load_inputs())
        channels = {ch["name"]: ch for ch in spec.get("channels", [])}
        b_null = np.asarray(null_spectrum.bin_integrals(edges), dtype=float)
        out = {}
        for name, path in csv_files.items():
            if name not in channels:
                raise EmissError(
                    f"channel {name!r} is not in the likelihood; channels: "
                    f"{', '.join(sorted(channels))}"
                )
            ch = channels[name]
            sample = _signal_sample(ch, (signal_samples or {}).get(name))
            nu = np.asarray(sample["data"], dtype=float)
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
            r = np.zeros_like(m)
            r[:, ok] = m[:, ok] * nu.sum() / (n_b * b_null[ok] * total)
            out[name] = ChannelResponse(
                name=name, process=process, true_edges=edges, matrix=r, n_b=n_b,
                meta={"source": f"HEPData number density {Path(path).name}"},
            )
        return cls(channels=out, meta={"source": "Belle II HEPData ins2947386 number densities"})

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
        return cls(channels={channel: cr}, meta={"source": f"ROOT TH2 {path.name}:{hist_name}"})


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
        if any(m["type"] == "normfactor" and m["name"] == "mu" for m in s.get("modifiers", [])):
            return s
    raise EmissError(f"channel {channel['name']!r} has no sample with normfactor 'mu'")


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
