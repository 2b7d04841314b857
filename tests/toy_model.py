"""Synthetic pyhf workspaces and signal patches for tests and benchmarks of the inference engine.

These are statistical toys, not physics: background shapes are smooth made-up curves, the
observed counts are a seeded Poisson draw. The Belle II-like layout (channels ita_onres 12 bins,
ita_offres 12 bins, hta 6 bins; six backgrounds) follows docs/interfaces.md so that benchmark
timings are representative of the bundled workspace (arXiv:2311.14647 binning described in
shared/reference/belle2.md).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

BELLE2_LIKE_CHANNELS = {"ita_onres": 12, "ita_offres": 12, "hta": 6}
BELLE2_LIKE_BACKGROUNDS = (
    "bkg_bplus", "bkg_b0", "bkg_uds", "bkg_ccbar", "bkg_tautau", "bkg_btaunu",
)


def _shape(nbins: int, slope: float, scale: float) -> np.ndarray:
    x = (np.arange(nbins) + 0.5) / nbins
    return scale * np.exp(-slope * x) + 0.2 * scale


def toy_workspace(
    channels: dict[str, int] | None = None,
    backgrounds: tuple[str, ...] = BELLE2_LIKE_BACKGROUNDS,
    *,
    seed: int = 1,
    all_modifiers: bool = False,
    scale: float = 40.0,
) -> dict:
    """A background-only pyhf workspace (POI ``mu`` is introduced by the patches).

    Args:
        channels: channel name -> number of bins (default Belle II-like 12 + 12 + 6).
        backgrounds: background sample names.
        seed: seed of the Poisson draw of the observations and of the shapes.
        all_modifiers: also use lumi, shapesys, shapefactor and a bounded normfactor (so that
            every modifier type the fast engine supports appears).
        scale: typical background yield per bin.

    Returns:
        Workspace JSON dict (schema 1.0.0).
    """
    channels = channels or BELLE2_LIKE_CHANNELS
    rng = np.random.default_rng(seed)
    spec_channels = []
    observations = []
    for ic, (cname, nb) in enumerate(channels.items()):
        samples = []
        total = np.zeros(nb)
        for ib, bname in enumerate(backgrounds):
            nom = _shape(nb, rng.uniform(-1.5, 2.5), scale * rng.uniform(0.2, 1.0))
            total += nom
            z = rng.standard_normal(nb)  # histosys: correlated up/down variations per bin
            mods: list[dict] = [
                {"name": f"norm_{bname}", "type": "normsys",
                 "data": {"hi": 1.0 + rng.uniform(0.05, 0.3), "lo": 1.0 - rng.uniform(0.05, 0.3)}},
                {"name": f"shape_{bname}", "type": "histosys",
                 "data": {"hi_data": list(nom * (1 + 0.1 * z)),
                          "lo_data": list(nom * (1 - 0.1 * z * rng.uniform(0.7, 1.3, nb)))}},
                {"name": f"staterror_{cname}", "type": "staterror",
                 "data": list(np.sqrt(nom) * rng.uniform(0.1, 0.4))},
            ]
            if all_modifiers:
                mods.append({"name": "lumi", "type": "lumi", "data": None})
                if ib == 0:
                    mods.append({"name": f"uncorr_{cname}", "type": "shapesys",
                                 "data": list(nom * rng.uniform(0.05, 0.2, nb))})
                if ib == 1:
                    mods.append({"name": "bkg_norm", "type": "normfactor", "data": None})
                if ib == 2 and ic == 0:
                    mods.append({"name": f"sf_{cname}", "type": "shapefactor", "data": None})
            samples.append({"name": bname, "data": list(nom), "modifiers": mods})
        spec_channels.append({"name": cname, "samples": samples})
        observations.append({"name": cname, "data": [float(x) for x in rng.poisson(total)]})
    parameters: list[dict] = []
    if all_modifiers:
        parameters = [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.8, 1.2]],
             "inits": [1.0]},
            {"name": "bkg_norm", "bounds": [[0.0, 5.0]], "inits": [1.0]},
        ]
    return {
        "channels": spec_channels,
        "observations": observations,
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": parameters}}],
        "version": "1.0.0",
    }


def toy_signal_patch(
    workspace: dict,
    peak: float,
    *,
    width: float = 0.08,
    total_yield: float = 15.0,
    with_systematics: bool = True,
) -> list[dict]:
    """JSON Patch ops adding a bump-shaped ``signal`` sample (normfactor ``mu``) to each channel.

    Args:
        workspace: the background-only workspace the patch applies to.
        peak: bump position as a fraction (0..1) of each channel's bin range.
        width: bump width (same units).
        total_yield: signal events per channel at mu = 1.
        with_systematics: add a normsys, a histosys and staterror (shared with the background).

    Returns:
        List of JSON Patch ``add`` operations.
    """
    ops = []
    for ic, ch in enumerate(workspace["channels"]):
        nb = len(ch["samples"][0]["data"])
        x = (np.arange(nb) + 0.5) / nb
        shape = np.exp(-0.5 * ((x - peak) / width) ** 2) + 1e-3
        sig = total_yield * shape / shape.sum()
        mods: list[dict] = [{"name": "mu", "type": "normfactor", "data": None}]
        if with_systematics:
            mods += [
                {"name": "sig_eff", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
                {"name": "sig_shape", "type": "histosys",
                 "data": {"hi_data": list(sig * (1 + 0.05 * (x - 0.5))),
                          "lo_data": list(sig * (1 - 0.04 * (x - 0.5)))}},
                {"name": f"staterror_{ch['name']}", "type": "staterror",
                 "data": list(0.05 * sig)},
            ]
        ops.append({"op": "add", "path": f"/channels/{ic}/samples/-",
                    "value": {"name": "signal", "data": [float(s) for s in sig],
                              "modifiers": mods}})
    return ops


def toy_patchset(workspace: dict, n: int, *, total_yield: float = 15.0) -> dict:
    """A PatchSet-like dict of ``n`` bump hypotheses scanning the bump position.

    Args:
        workspace: the background-only workspace.
        n: number of hypotheses.
        total_yield: signal yield per channel at mu = 1.

    Returns:
        Dict with ``patches``: each ``{"metadata": {"name", "values"}, "patch": ops}``.
    """
    peaks = np.linspace(0.1, 0.9, n)
    patches = []
    for i, p in enumerate(peaks):
        patches.append({
            "metadata": {"name": f"toy_{i:04d}", "values": [float(p)]},
            "patch": toy_signal_patch(workspace, float(p), total_yield=total_yield),
        })
    return {"metadata": {"labels": ["peak"]}, "patches": patches, "version": "1.0.0"}
