"""Analytic response kernels: P(selected in fit bin i | true q^2), exact at any q^2.

* ``BoxKernel``: the isotropic kernel of the emulated Belle II-style analyses (the ITA kinematic
  box of q^2_rec smeared by a Gaussian, times an efficiency; classifier bins as an outer axis).
* ``HelicityKernel``: the K* kernel, the same q^2_rec box with the K* mass times the
  cos(theta_K) templates of the longitudinal and transverse parts (``helicity_acceptance``).

A kernel gives the exact column of a line (``columns``) and the bin-averaged matrix of a true-q^2
grid (``bin_average``); channel kinds (``emiss.response.channels``) hold one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from emiss.errors import EmissError
from emiss.io import round_sig

log = logging.getLogger(__name__)

#: Gauss-Legendre nodes used to average an analytic kernel over one true bin.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


#: Significant digits of the numbers in response files (``emiss.io.round_sig``).
RESPONSE_DIGITS = 12


# ----------------------------------------------------------------------------- isotropic box
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
        d["fractions"] = round_sig(np.asarray(self.fractions), RESPONSE_DIGITS)
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


# ----------------------------------------------------------------------------- K* helicity
def helicity_acceptance(cos_edges: ArrayLike, slope: float) -> tuple[np.ndarray, np.ndarray]:
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

    def columns(self, q2: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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
            "eff_norm": round_sig(self.eff_norm, RESPONSE_DIGITS),
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
