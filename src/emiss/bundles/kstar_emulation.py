"""The Belle II-style B -> K* E_miss emulation: inputs, helicity response, background-only bundle.

One workspace source (``emiss.bundles``): everything comes from
``data/belle2_kstar_emulation.yaml`` (sources and assumptions there and in docs/kstar.md). The
bundle follows the conventions of the B -> K bundles (``emiss.bundles.bundle``):
``<stem>.json`` is pure pyhf with POI ``mu`` and no signal sample, ``<stem>.meta.json`` is the
sidecar (channel -> process, n_B, signal modifiers, response file), and the response file holds
K* helicity channels (``emiss.response.KstarChannelResponse``).

Observed data: there is no Belle II B -> K* nu nu result, so the observations are the Asimov
expectation without new physics: backgrounds plus the SM nu nubar decay (central form factors),
exact non-integer yields; the sidecar says so.

Calibration: the background levels (``background_scale`` per channel in the data file) were
solved so that the expected 90 % CL limits at Belle's luminosity equal Belle's published ones
(arXiv:1702.03224). Solving needs SM patches and CLs limits, i.e. the later stages, so the
solver lives in ``emiss.studies.calibrate`` (run by ``scripts/build_kstar_workspaces.py
--calibrate``); this module only reads the result.

Response (q^2_rec x cos(theta_K), longitudinal and transverse parts folded apart).

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
``helicity_acceptance``) are a channel kind of ``emiss.response`` next to the plain ones, so that
one loader (``emiss.response.Response.load``) reads K and K* response files; this module builds
the K* emulation. ``KstarChannelResponse.matrix`` is the isotropic (F_L = 1/3) combination
R_L/3 + 2 R_T/3, so code that only knows ``matrix`` still gets a sensible unpolarised answer;
``fold`` uses the two parts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike

from emiss import contracts
from emiss.errors import EmissError
from emiss.io import round_sig, write_json
from emiss.names import POI, SIGNAL_SAMPLE
from emiss.physics.constants import pdg_mass_gev
from emiss.physics.processes import get_process
from emiss.physics.spectrum import Spectrum
from emiss.response import (
    BoxKernel,
    ChannelResponse,
    HelicityKernel,
    KstarChannelResponse,
    Response,
)

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- inputs
#: Package and file name of the bundled emulation inputs.
CONFIG_RESOURCE = ("emiss.data", "belle2_kstar_emulation.yaml")

#: Channel names of the K* emulation, in workspace order.
KSTAR_CHANNELS: tuple[str, ...] = ("kstar_kpi", "kstar_kspi", "kstar_kpi0")

_REQUIRED = ("dataset", "binning", "channels", "efficiency_shape", "backgrounds",
             "tau_background", "signal_systematics", "reference_results")


@cache
def _load(path: str | None) -> dict[str, Any]:
    if path is None:
        package, name = CONFIG_RESOURCE
        text = resources.files(package).joinpath(name).read_text("utf-8")
        what = f"bundled {name}"
    else:
        p = Path(path)
        if not p.is_file():
            raise EmissError(f"K* emulation config {path!r} does not exist")
        text = p.read_text(encoding="utf-8")
        what = repr(path)
    cfg = yaml.safe_load(text)
    missing = [k for k in _REQUIRED if k not in (cfg or {})]
    if missing:
        raise EmissError(f"K* emulation config {what} lacks the sections {missing}")
    for ch in KSTAR_CHANNELS:
        if ch not in cfg["channels"]:
            raise EmissError(f"K* emulation config {what} lacks channel {ch!r}")
    return cfg


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The K* emulation inputs.

    Args:
        path: YAML file (default: the bundled ``belle2_kstar_emulation.yaml``, package data).

    Returns:
        The parsed configuration (a fresh deep copy is not made: do not mutate it).
    """
    return _load(None if path is None else str(path))


# ----------------------------------------------------------------------------- response
def sqrt_s() -> float:
    """e+e- CM energy = m(Upsilon(4S)) in GeV (PDG, via the ``particle`` package)."""
    return pdg_mass_gev(300553)


def box_halfwidth(q2: ArrayLike, process: str) -> np.ndarray:
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
    chans: dict[str, ChannelResponse] = {}
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


# ----------------------------------------------------------------------------- workspace
#: Stem of the bundled K* workspace.
KSTAR_STEM = "belle2_kstar_bkgonly"
#: Background components of the K* channels (B+ -> tau nu only in the K*+ channels).
KSTAR_BACKGROUNDS = ("bkg_bplus", "bkg_b0", "bkg_uds", "bkg_ccbar", "bkg_btaunu")
#: What the observations are (written into the sidecar).
DATA_STATEMENT = (
    "Belle II-style EMULATION, not Belle II data: there is no Belle II B -> K* nu nu result. "
    "Observations are the Asimov background-only expectation, with the SM nu nubar decay "
    "counted as background (no new physics; central form factors). Background level and "
    "efficiencies are calibrated so that the expected 90% CL limits at Belle's luminosity "
    "(772e6 BB) match Belle's published B(B0->K*0 nu nu) < 1.8e-5 and B(B+->K*+ nu nu) < "
    "6.1e-5 (arXiv:1702.03224). Inputs: src/emiss/data/belle2_kstar_emulation.yaml; "
    "docs/kstar.md.")
#: Digits kept for yields in the JSON files.
_DIGITS = 8


def _bin_fracs(edges: np.ndarray, density: Callable[..., np.ndarray]) -> np.ndarray:
    """Fractions of a positive density per bin (64-point Gauss-Legendre per bin)."""
    x, w = np.polynomial.legendre.leggauss(64)
    lo, hi = edges[:-1], edges[1:]
    pts = 0.5 * (hi + lo)[:, None] + 0.5 * (hi - lo)[:, None] * x[None, :]
    vals = np.sum(density(pts) * w[None, :] * 0.5 * (hi - lo)[:, None], axis=1)
    return vals / vals.sum()


def tau_background_spectrum(process: str, cfg: Mapping[str, Any]) -> Spectrum:
    """B+ -> tau+ nu, tau+ -> K*+ nu as a dB/dq^2 in q^2 = (p_B - p_K*)^2.

    The tau has a fixed momentum in the B frame; tau -> K* nu is two-body, so for an
    unpolarised tau (assumption) the K* energy in the B frame is uniform between
    gamma (E' -+ beta p'), hence q^2 = m_B^2 + m_K*^2 - 2 m_B E_K* is uniform. Its helicity
    distribution is taken isotropic (F_L = 1/3, assumption).

    Args:
        process: "B+->K*+".
        cfg: emulation configuration.

    Returns:
        Spectrum (continuum with longitudinal part), B = B(B -> tau nu) B(tau -> K* nu) [PDG].
    """
    from emiss.physics import constants as C
    from emiss.physics.kinematics import tau_cascade_q2_range

    proc = get_process(process)
    m_b, m_v, m_tau = proc.m_B, proc.m_M, C.mass("tau")
    q2_lo, q2_hi = tau_cascade_q2_range(m_b, m_v, m_tau)
    tb = cfg["tau_background"]
    br = float(tb["br_b_taunu"]) * float(tb["br_tau_kstar_nu"])
    dens = br / (q2_hi - q2_lo)

    def cont(q2: np.ndarray) -> np.ndarray:
        q2 = np.asarray(q2, dtype=float)
        return np.where((q2 >= q2_lo) & (q2 <= q2_hi), dens, 0.0)

    return Spectrum(process=process, q2_min=0.0, q2_max=proc.q2_max, continuum=cont,
                    continuum_long=lambda q2: cont(q2) / 3.0,
                    label="B+ -> tau+ (-> K*+ nu) nu background",
                    meta={"q2_range": (q2_lo, q2_hi)})


def _tilt(n_q: int, n_c: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative hi/lo factors of a linear tilt along q^2_rec (+-size at the ends)."""
    t = np.linspace(-1.0, 1.0, n_q)
    t = np.repeat(t, n_c)
    return 1.0 + size * t, 1.0 - size * t


def background_yields(cfg: Mapping[str, Any], n_bb: float | None = None,
                      response: Response | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Nominal background yields per channel and component (flattened q^2_rec x cos bins).

    Args:
        cfg: emulation configuration.
        n_bb: number of B Bbar pairs (default: the config's).
        response: the K* response (for the B -> tau nu piece; built if None).

    Returns:
        channel -> component -> yields.
    """
    n_bb = float(cfg["dataset"]["n_bb"] if n_bb is None else n_bb)
    b = cfg["binning"]
    qe = np.asarray(b["q2rec_edges"], dtype=float)
    ce = np.asarray(b["cos_edges"], dtype=float)
    bk = cfg["backgrounds"]
    response = response or build_response(cfg, n_bb)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in KSTAR_CHANNELS:
        ch = cfg["channels"][name]
        total = float(bk["yield_per_1e6_bb"]) * n_bb / 1e6 * float(ch["background_scale"])
        comps = {}
        for comp, frac in bk["fractions"].items():
            s = float(bk["q2rec_slope"][comp])
            k = float(bk["cos2_coeff"][comp])
            fq = _bin_fracs(qe, lambda x, s=s: np.exp(s * x))
            fc = _bin_fracs(ce, lambda x, k=k: 1.0 + k * x**2)
            comps[comp] = total * float(frac) * np.outer(fq, fc).ravel()
        if ch.get("tau_background"):
            spec = tau_background_spectrum(ch["process"], cfg)
            eff = float(cfg["tau_background"]["efficiency_factor"])
            comps["bkg_btaunu"] = eff * response.channels[name].fold(spec)
        out[name] = comps
    return out


def sm_yields(response: Response, channels: tuple[str, ...] = KSTAR_CHANNELS)\
        -> dict[str, np.ndarray]:
    """SM nu nubar yields per channel (central form factors; ``emiss.physics.sm``).

    The SM decay is a background of every new-physics search, so it is part of the
    "background-only" Asimov observations (no new physics).
    """
    from emiss.physics.sm import sm_spectrum

    spectra: dict[str, Any] = {}
    out = {}
    for name in channels:
        cr = response.channels[name]
        if cr.process not in spectra:
            spectra[cr.process] = sm_spectrum(cr.process)
        out[name] = cr.fold(spectra[cr.process])
    return out


def _mod_normsys(name: str, size: float) -> dict:
    return {"name": name, "type": "normsys", "data": {"hi": 1.0 + size, "lo": 1.0 - size}}


def build_spec(cfg: Mapping[str, Any] | None = None, n_bb: float | None = None,
               channels: tuple[str, ...] = KSTAR_CHANNELS,
               response: Response | None = None) -> dict:
    """The background-only pyhf workspace of the K* emulation.

    Args:
        cfg: emulation configuration (default: bundled).
        n_bb: number of B Bbar pairs (default: the config's, 387e6 at 362 fb^-1).
        channels: subset of KSTAR_CHANNELS to include.
        response: prebuilt response for this n_bb (optional).

    Returns:
        Workspace dict (schema-valid; observations = Asimov backgrounds + SM nu nubar).
    """
    cfg = cfg or load_config()
    bad = [c for c in channels if c not in KSTAR_CHANNELS]
    if bad or not channels:
        raise EmissError(f"unknown K* channels {bad}; valid: {', '.join(KSTAR_CHANNELS)}")
    b = cfg["binning"]
    n_q, n_c = len(b["q2rec_edges"]) - 1, len(b["cos_edges"]) - 1
    bk = cfg["backgrounds"]
    response = response or build_response(cfg, n_bb)
    yields = background_yields(cfg, n_bb, response)
    sm = sm_yields(response, channels)
    bb_hi, bb_lo = _tilt(n_q, n_c, 0.10)
    co_hi, co_lo = _tilt(n_q, n_c, 0.10)
    n_bb_unc = float(cfg["signal_systematics"]["n_bb_unc"])
    mc = float(bk["mc_stat_factor"])
    spec_channels, observations = [], []
    for name in channels:
        samples = []
        for comp in KSTAR_BACKGROUNDS:
            if comp not in yields[name]:
                continue
            nom = yields[name][comp]
            mods: list[dict] = []
            if comp == "bkg_btaunu":
                mods.append(_mod_normsys("kstar_btaunu_norm",
                                         float(cfg["tau_background"]["norm_unc"])))
            else:
                mods.append(_mod_normsys(f"{name}_norm_{comp[4:]}", float(bk["norm_unc"][comp])))
            if comp in ("bkg_bplus", "bkg_b0"):
                mods.append({"name": "kstar_bb_shape", "type": "histosys", "data": {
                    "hi_data": round_sig(nom * bb_hi, _DIGITS, flat=True),
                    "lo_data": round_sig(nom * bb_lo, _DIGITS, flat=True)}})
            if comp in ("bkg_uds", "bkg_ccbar"):
                mods.append({"name": "kstar_continuum_shape", "type": "histosys", "data": {
                    "hi_data": round_sig(nom * co_lo, _DIGITS, flat=True),
                    "lo_data": round_sig(nom * co_hi, _DIGITS, flat=True)}})
                mods.append(_mod_normsys("lumi", 0.01))
            else:
                mods.append(_mod_normsys("n_bb", n_bb_unc))
            mods.append({"name": f"staterror_{name}", "type": "staterror",
                         "data": round_sig(mc * np.sqrt(np.clip(nom, 0.0, None)), _DIGITS,
                                           flat=True)})
            samples.append({"name": comp, "data": round_sig(nom, _DIGITS, flat=True),
                            "modifiers": mods})
        spec_channels.append({"name": name, "samples": samples})
        total = np.sum([yields[name][c] for c in yields[name]], axis=0) + sm[name]
        observations.append({"name": name, "data": round_sig(total, _DIGITS, flat=True)})
    return {
        "channels": spec_channels,
        "observations": observations,
        "measurements": [{"name": "belle2_kstarnunu", "config": {
            "poi": POI,
            "parameters": [{"name": POI, "bounds": [[0.0, 50.0]], "inits": [1.0]}]}}],
        "version": "1.0.0",
    }


def signal_modifiers(name: str, cfg: Mapping[str, Any]) -> list[dict]:
    """Modifiers (besides mu) every signal sample in K* channel ``name`` carries."""
    sig = cfg["signal_systematics"]
    return [
        _mod_normsys(f"{name}_sig_eff", float(sig["kstar_sig_eff"][name])),
        _mod_normsys("n_bb", float(sig["n_bb_unc"])),
    ]


def sidecar(cfg: Mapping[str, Any], response_file: str, n_bb: float | None = None,
            channels: tuple[str, ...] = KSTAR_CHANNELS) -> dict:
    """Sidecar dict of the K* bundle (the keys of the B -> K bundles, emiss.bundles.k_emulation)."""
    ds = cfg["dataset"]
    n_bb = float(ds["n_bb"] if n_bb is None else n_bb)
    return {
        "description": "Belle II-style background-only B -> K* E_miss workspace (emiss emulation)",
        "data_statement": DATA_STATEMENT,
        "emulated_data": True,
        "observations": "asimov-background-only (backgrounds + SM nu nubar, no new physics)",
        "references": {"hepdata": cfg.get("hepdata", "ins2725943"),
                       "calibration": "arXiv:1702.03224 (Belle 2017, semileptonic tag)"},
        "response": response_file,
        "poi": POI,
        "n_bb": n_bb,
        "lumi_fb": float(ds["lumi_fb"]) * n_bb / float(ds["n_bb"]),
        "fit_bins": {"q2rec_edges": list(cfg["binning"]["q2rec_edges"]),
                     "cos_edges": list(cfg["binning"]["cos_edges"]),
                     "order": "flattened: q2rec outer, cos(theta_K) inner"},
        "signal": {"sample": SIGNAL_SAMPLE, "process": "B0->K*0", "reference_branching_ratio": None,
                   "note": "mu = 1 <-> the reference branching ratio each patch states"},
        "channels": {
            name: {
                "process": cfg["channels"][name]["process"],
                "final_state": cfg["channels"][name]["final_state"],
                "n_b": n_b_channel(name, cfg, n_bb),
                "signal_modifiers": signal_modifiers(name, cfg),
            }
            for name in channels
        },
        "calibration_targets": dict(cfg["reference_results"]),
    }


def write_bundle(outdir: str | os.PathLike, stem: str = KSTAR_STEM,
                 cfg: Mapping[str, Any] | None = None) -> list[Path]:
    """Write ``<stem>.json``, ``<stem>.meta.json`` and ``<stem>.response.json`` (atomically).

    Args:
        outdir: destination folder (``workspaces/``).
        stem: file stem.
        cfg: emulation configuration (default: bundled).

    Returns:
        Written paths.
    """
    cfg = cfg or load_config()
    for name in KSTAR_CHANNELS:  # validates the efficiencies early
        channel_kernel(name, cfg)
    outdir = Path(outdir)
    resp = build_response(cfg)
    spec = build_spec(cfg, response=resp)
    import pyhf

    pyhf.schema.validate(spec, "workspace.json")
    resp.check_workspace(spec)
    rfile = f"{stem.replace('_bkgonly', '')}_response.json"
    paths = [
        write_json(outdir / rfile, resp.to_dict()),
        contracts.write(outdir / f"{stem}.meta.json", sidecar(cfg, rfile), "sidecar"),
        write_json(outdir / f"{stem}.json", spec),
    ]
    log.info("wrote %s", ", ".join(str(p) for p in paths))
    return paths
