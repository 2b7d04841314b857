"""Tiny background-only workspace + PatchSets for the scan / resume / dask / compare tests.

Two channels over a made-up "q^2" axis in [0, 5]; one background with a normsys; signal
hypotheses are Gaussian bumps at q^2 = m_X^2 (two-body-like) or a broad falling shape (SM-like).
The observed data can be the exact expectation background + mu * signal(m_inject) (an Asimov set),
so the best fit is known in advance: mu_hat = mu_inject at m_X = m_inject.
"""

from __future__ import annotations

import json
import math

import pyhf

#: engine the scan tests use
ENGINE = "fast"
CHANNELS = {"ch_a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "ch_b": [0.0, 2.0, 3.5, 5.0]}
BKG = {"ch_a": [100.0, 90.0, 80.0, 70.0, 60.0], "ch_b": [150.0, 110.0, 90.0]}
EFF = {"ch_a": 1.0, "ch_b": 0.6}
SIG_YIELD = 40.0  # signal events in ch_a at mu = 1
WIDTH = 0.35  # bump width in q^2


def _bump(edges: list[float], centre: float, width: float = WIDTH) -> list[float]:
    cdf = [0.5 * (1 + math.erf((e - centre) / (math.sqrt(2) * width))) for e in edges]
    return [cdf[i + 1] - cdf[i] + 1e-4 for i in range(len(edges) - 1)]


def signal_yields(mass: float | None, mu: float = 1.0) -> dict[str, list[float]]:
    """Signal per channel at strength mu: a bump at q^2 = mass^2, or the SM-like shape (None)."""
    out = {}
    for ch, edges in CHANNELS.items():
        if mass is None:  # falling "SM-like" shape
            shape = [math.exp(-0.2 * (edges[i] + edges[i + 1])) for i in range(len(edges) - 1)]
            s = sum(shape)
            shape = [x / s for x in shape]
        else:
            shape = _bump(edges, mass**2)
        out[ch] = [mu * SIG_YIELD * EFF[ch] * x for x in shape]
    return out


def workspace(inject_mass: float | None = 1.5, inject_mu: float = 1.0) -> dict:
    """Background-only workspace whose data are bkg + inject_mu * signal(inject_mass)."""
    sig = signal_yields(inject_mass, inject_mu) if inject_mass is not None else None
    channels, obs = [], []
    for ch in CHANNELS:
        channels.append({"name": ch, "samples": [{
            "name": "bkg", "data": BKG[ch],
            "modifiers": [{"name": "bkg_norm", "type": "normsys",
                           "data": {"hi": 1.05, "lo": 0.95}}]}]})
        data = [b + (sig[ch][i] if sig else 0.0) for i, b in enumerate(BKG[ch])]
        obs.append({"name": ch, "data": data})
    return {"channels": channels, "observations": obs,
            "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0"}


def _ops(ws: dict, mass: float | None) -> list[dict]:
    sig = signal_yields(mass)
    return [{"op": "add", "path": f"/channels/{i}/samples/-",
             "value": {"name": "signal", "data": sig[ch["name"]],
                       "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}}
            for i, ch in enumerate(ws["channels"])]


def patchset(ws: dict, masses: list[float], ref_br: float = 1e-5, g_ref: float = 1e-8,
             scenario: str = "twobody-scalar") -> dict:
    """Two-body-like PatchSet: one bump patch per mass (label m_X)."""
    patches = []
    for m in masses:
        name = "mX_" + f"{m:.3f}".replace(".", "p")
        patches.append({"metadata": {"name": name, "values": [m], "emiss": {
            "scenario": scenario, "reference_branching_ratio": ref_br, "process": "B+->K+",
            "coupling": {"name": "g", "reference_value": g_ref}}},
            "patch": _ops(ws, m)})
    digest = pyhf.utils.digest(ws)
    return {"metadata": {"description": "toy two-body", "digests": {"sha256": digest},
                         "labels": ["m_X"], "references": {"hepdata": "ins2725943"}},
            "patches": patches, "version": "1.0.0"}


def sm_patchset(ws: dict, ref_br: float = 5e-6) -> dict:
    """SM-shaped rescaling PatchSet (one patch, label mu_SM fixed at 1)."""
    return {"metadata": {"description": "toy SM", "digests": {"sha256": pyhf.utils.digest(ws)},
                         "labels": ["C"], "references": {"hepdata": "ins2725943"}},
            "patches": [{"metadata": {"name": "sm", "values": [1.0], "emiss": {
                "scenario": "sm", "reference_branching_ratio": ref_br, "process": "B+->K+",
                "coupling": None}}, "patch": _ops(ws, None)}],
            "version": "1.0.0"}


def write_inputs(tmp_path, masses: list[float], **kw) -> tuple[str, str, str]:
    """Write workspace, two-body patchset and SM patchset into tmp_path; return their paths."""
    ws = workspace(**kw)
    paths = []
    for name, obj in (("ws.json", ws), ("ps.json", patchset(ws, masses)),
                      ("sm.json", sm_patchset(ws))):
        p = tmp_path / name
        p.write_text(json.dumps(obj))
        paths.append(str(p))
    return tuple(paths)
