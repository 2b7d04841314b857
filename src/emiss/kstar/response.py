"""K* response in q^2_rec x cos(theta_K): longitudinal and transverse parts folded apart.

A K* decay with true q^2 and polarisation splits into a longitudinal (helicity 0) and a
transverse (helicity +-1) rate. In the K* -> K pi helicity angle theta_K (angle of the kaon
with the direction opposite to the B, in the K* rest frame) the two parts are distributed as

    dGamma_L/dcos = Gamma_L (3/2) cos^2,   dGamma_T/dcos = Gamma_T (3/4) (1 - cos^2),

so that dGamma/dcos = Gamma [(3/2) F_L cos^2 + (3/4)(1 - F_L) sin^2] (arXiv:0902.0160 eq. (3.5);
arXiv:1409.4557 sec. 2). The fit bins are the flattened product (outer: q^2_rec bins, inner:
cos(theta_K) bins; index = i_q * n_cos + i_c). For each channel

    R_L[i, j] = eps(q^2_j) P(q^2_rec in i_q | q^2_j) A_L[i_c],
    R_T[i, j] = eps(q^2_j) P(q^2_rec in i_q | q^2_j) A_T[i_c],

with A_L/T[i_c] = int_bin (3/2 cos^2 | 3/4 sin^2) a(cos) dcos and a(cos) = 1 - k ((1 + cos)/2)^2 a
relative acceptance (soft-pion loss as the kaon goes forward; an assumption, see
data/belle2_kstar_emulation.yaml). P(q^2_rec | q^2) is the ITA kinematic box of a K* recoil
(B moving in the Upsilon(4S) frame) convolved with a Gaussian resolution: the exact kernel of
``emiss.response.BoxKernel`` with the K* mass (its half-width sqrt(s) gamma beta p_K*(q^2) is up
to 1.71 GeV^2 at q^2 = 0, against 1.74 GeV^2 for a kaon). The resolution in cos(theta_K) is
neglected (bins of width 0.5). The yields are n_b (R_L b_L + R_T b_T) with b_L/T the
longitudinal/transverse branching ratios per true-q^2 bin; lines use exact columns.

``KstarChannelResponse`` is an ``emiss.response.ChannelResponse`` whose ``matrix`` is the
isotropic (F_L = 1/3) combination R_L/3 + 2 R_T/3, so code that only knows ``matrix`` still gets
a sensible unpolarised answer; ``fold`` uses the two parts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from particle import Particle

from emiss.errors import EmissError
from emiss.io import read_json
from emiss.kstar.config import KSTAR_CHANNELS, load_config
from emiss.physics.processes import get_process
from emiss.response import BoxKernel, ChannelResponse, Response, _round

log = logging.getLogger(__name__)

#: Format tag of K* response files.
KSTAR_RESPONSE_FORMAT = "emiss-kstar-response-1"

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def sqrt_s() -> float:
    """e+e- CM energy = m(Upsilon(4S)) in GeV (PDG, via the ``particle`` package)."""
    return float(Particle.from_pdgid(300553).mass) / 1000.0


def box_halfwidth(q2: Any, process: str) -> np.ndarray:
    """Half-width of the q^2_rec box, sqrt(s) gamma beta p*_M(q^2), in GeV^2.

    Args:
        q2: true q^2 (GeV^2).
        process: e.g. "B0->K*0".

    Returns:
        Half-widths (GeV^2).
    """
    proc = get_process(process)
    kern = BoxKernel(sqrt_s(), proc.m_B, proc.m_M, 1e-3, (0.0, 1.0), (1.0,), 1.0, 0.0)
    return kern.box(np.asarray(q2, dtype=float))[1]


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
        d["kind"] = "kstar-helicity"
        d["matrix_long"] = _round(self.matrix_long)
        d["matrix_trans"] = _round(self.matrix_trans)
        d["hkernel"] = None if self.hkernel is None else self.hkernel.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KstarChannelResponse:
        """Inverse of to_dict."""
        try:
            return cls(
                name=str(d["name"]),
                process=str(d["process"]),
                true_edges=np.asarray(d["true_edges"], dtype=float),
                matrix=np.asarray(d["matrix"], dtype=float),
                n_b=float(d["n_b"]),
                kernel=None,
                meta=dict(d.get("meta") or {}),
                matrix_long=np.asarray(d["matrix_long"], dtype=float),
                matrix_trans=np.asarray(d["matrix_trans"], dtype=float),
                hkernel=None if d.get("hkernel") is None else HelicityKernel.from_dict(
                    d["hkernel"]),
            )
        except KeyError as exc:
            raise EmissError(f"K* response channel entry lacks the key {exc.args[0]!r}") from None


class KstarResponse(Response):
    """Response whose channels may be K* helicity channels (``KstarChannelResponse``)."""

    def to_dict(self) -> dict:
        """JSON form (format ``emiss-kstar-response-1``)."""
        d = super().to_dict()
        d["format"] = KSTAR_RESPONSE_FORMAT
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KstarResponse:
        """Read a K* response (also accepts plain emiss responses, channel by channel)."""
        fmt = d.get("format")
        if fmt not in (KSTAR_RESPONSE_FORMAT, "emiss-response-1"):
            raise EmissError(f"not an emiss response file (format {fmt!r}); expected "
                             f"{KSTAR_RESPONSE_FORMAT!r}")
        chans: dict[str, ChannelResponse] = {}
        for n, c in d["channels"].items():
            chans[n] = (KstarChannelResponse.from_dict(c) if c.get("kind") == "kstar-helicity"
                        else ChannelResponse.from_dict(c))
        return cls(channels=chans, meta=dict(d.get("meta") or {}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> KstarResponse:
        """Read a response file (K* or plain)."""
        path = Path(path)
        if not path.is_file():
            raise EmissError(f"response file {str(path)!r} does not exist")
        return cls.from_dict(read_json(path))

    def fold_parts(self, spectrum: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """channel -> (yields_L, yields_T) for the K* channels measuring spectrum.process."""
        return {n: c.fold_parts(spectrum) for n, c in self.channels.items()
                if isinstance(c, KstarChannelResponse) and c.process == spectrum.process}


# ----------------------------------------------------------------------------- construction
def channel_kernel(name: str, cfg: Mapping[str, Any]) -> HelicityKernel:
    """The exact kernel of one K* channel from the emulation inputs (efficiency normalised).

    The normalisation makes the mean efficiency over a flat true-q^2 spectrum on
    [0, (m_B - m_K*)^2] with an isotropic cos(theta_K) distribution (F_L = 1/3) equal to the
    channel's ``efficiency`` (fit-bin windows included).

    Args:
        name: channel name (one of KSTAR_CHANNELS).
        cfg: the emulation configuration.

    Returns:
        The HelicityKernel.
    """
    if name not in cfg["channels"]:
        raise EmissError(f"unknown K* channel {name!r}; valid: {', '.join(KSTAR_CHANNELS)}")
    ch = cfg["channels"][name]
    proc = get_process(ch["process"])
    b = cfg["binning"]
    box = BoxKernel(sqrt_s=sqrt_s(), m_B=proc.m_B, m_K=proc.m_M, sigma=float(ch["q2rec_sigma"]),
                    q2rec_edges=tuple(float(e) for e in b["q2rec_edges"]), fractions=(1.0,),
                    eff_norm=1.0, eff_slope=0.0)
    es = cfg["efficiency_shape"]
    unit = HelicityKernel(box=box, cos_edges=tuple(float(c) for c in b["cos_edges"]),
                          acc_slope=float(ch["acc_slope"]), eff_norm=1.0,
                          eff_a=float(es["a"]), eff_b=float(es["b"]))
    grid = np.linspace(0.0, proc.q2_max, 401)
    cl, ct = unit.columns(grid)
    iso = (cl.sum(axis=0) + 2.0 * ct.sum(axis=0)) / 3.0
    # trapezoid rule on the fine grid (mean efficiency over a flat q^2 spectrum)
    mean = float(np.sum(0.5 * (iso[1:] + iso[:-1]) * np.diff(grid)) / proc.q2_max)
    eff = float(ch["efficiency"])
    if not 0.0 < eff < 1.0:
        raise EmissError(f"channel {name!r}: efficiency {eff} invalid; valid: 0 < eff < 1")
    return dataclasses.replace(unit, eff_norm=eff / mean)


def true_edges(cfg: Mapping[str, Any]) -> np.ndarray:
    """True-q^2 edges of the K* responses (data file ``binning``)."""
    b = cfg["binning"]
    return np.linspace(0.0, float(b["true_q2_max"]), int(b["true_q2_nbins"]) + 1)


def n_b_channel(name: str, cfg: Mapping[str, Any], n_bb: float | None = None) -> float:
    """Produced parent B mesons times the K* sub-decay branching fraction of the channel.

    Args:
        name: channel name.
        cfg: emulation configuration.
        n_bb: number of B Bbar pairs (default: the data set of the config).

    Returns:
        n_B = 2 N_BB f_(+-|00) B(K* -> final state).
    """
    ds = cfg["dataset"]
    ch = cfg["channels"][name]
    n_bb = float(ds["n_bb"] if n_bb is None else n_bb)
    r = float(ds["r_pm_00"])
    frac = r / (1.0 + r) if ch["process"].startswith("B+") else 1.0 / (1.0 + r)
    return 2.0 * n_bb * float(frac) * float(ch["sub_bf"])


def build_response(cfg: Mapping[str, Any] | None = None,
                   n_bb: float | None = None) -> KstarResponse:
    """The K* response of the emulation (all channels).

    Args:
        cfg: emulation configuration (default: the bundled one).
        n_bb: number of B Bbar pairs (default: the config's data set).

    Returns:
        KstarResponse with one KstarChannelResponse per channel of KSTAR_CHANNELS.
    """
    cfg = cfg or load_config()
    edges = true_edges(cfg)
    chans = {}
    for name in KSTAR_CHANNELS:
        kern = channel_kernel(name, cfg)
        r_l, r_t = kern.bin_average(edges)
        chans[name] = KstarChannelResponse(
            name=name, process=cfg["channels"][name]["process"], true_edges=edges,
            matrix=r_l / 3 + 2 * r_t / 3, n_b=n_b_channel(name, cfg, n_bb), kernel=None,
            meta={"final_state": cfg["channels"][name]["final_state"],
                  "fit_bins": "flattened q2rec (outer) x cos(theta_K) (inner)"},
            matrix_long=r_l, matrix_trans=r_t, hkernel=kern)
    return KstarResponse(channels=chans, meta={
        "source": "emiss Belle II-style B -> K* emulation (data/belle2_kstar_emulation.yaml)",
        "q2rec_edges": list(cfg["binning"]["q2rec_edges"]),
        "cos_edges": list(cfg["binning"]["cos_edges"]),
    })
