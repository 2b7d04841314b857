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

The response classes (``HelicityKernel``, ``KstarChannelResponse`` with its ``fold_parts``,
``helicity_acceptance``) live in ``emiss.response`` next to the plain ones, so that one loader
(``emiss.response.Response.load``) reads K and K* response files; this module builds the K*
emulation. ``KstarChannelResponse.matrix`` is the isotropic (F_L = 1/3) combination
R_L/3 + 2 R_T/3, so code that only knows ``matrix`` still gets a sensible unpolarised answer;
``fold`` uses the two parts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from particle import Particle

from emiss.errors import EmissError
from emiss.kstar.config import KSTAR_CHANNELS, load_config
from emiss.physics.processes import get_process
from emiss.response import (
    KSTAR_RESPONSE_FORMAT,
    BoxKernel,
    HelicityKernel,
    KstarChannelResponse,
    Response,
    helicity_acceptance,
)

log = logging.getLogger(__name__)


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
                   n_bb: float | None = None) -> Response:
    """The K* response of the emulation (all channels).

    Args:
        cfg: emulation configuration (default: the bundled one).
        n_bb: number of B Bbar pairs (default: the config's data set).

    Returns:
        Response with one KstarChannelResponse per channel of KSTAR_CHANNELS.
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
    return Response(channels=chans, meta={
        "source": "emiss Belle II-style B -> K* emulation (data/belle2_kstar_emulation.yaml)",
        "q2rec_edges": list(cfg["binning"]["q2rec_edges"]),
        "cos_edges": list(cfg["binning"]["cos_edges"]),
    })


__all__ = [
    "KSTAR_RESPONSE_FORMAT",
    "HelicityKernel",
    "KstarChannelResponse",
    "box_halfwidth",
    "build_response",
    "channel_kernel",
    "helicity_acceptance",
    "n_b_channel",
    "sqrt_s",
    "true_edges",
]
