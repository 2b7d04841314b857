"""Tiny HistFactory counting models (pyhf JSON) whose posteriors, evidences and p-values are known
analytically; shared by the tests of the statistics modules."""

from __future__ import annotations


def counting_workspace(n_obs: list[float], bkg: list[float], *, signal: list[float] | None = None,
                       bkg_modifiers: list[dict] | None = None,
                       poi_bounds: tuple[float, float] | None = None) -> dict:
    """One channel ``c``: background sample (optional modifiers), optional signal (normfactor mu).

    Args:
        n_obs: observed counts per bin.
        bkg: background expectation per bin.
        signal: signal expectation at mu = 1 (None: no signal sample; patches add it).
        bkg_modifiers: modifiers of the background sample.
        poi_bounds: bounds of mu in the measurement config.

    Returns:
        Workspace JSON.
    """
    samples = [{"name": "bkg", "data": [float(b) for b in bkg],
                "modifiers": list(bkg_modifiers or [])}]
    if signal is not None:
        samples.insert(0, {"name": "sig", "data": [float(s) for s in signal],
                           "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]})
    params = []
    if poi_bounds is not None:
        params.append({"name": "mu", "bounds": [list(poi_bounds)], "inits": [1.0]})
    return {"channels": [{"name": "c", "samples": samples}],
            "observations": [{"name": "c", "data": [float(n) for n in n_obs]}],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": params}}],
            "version": "1.0.0"}


def signal_patch(signal: list[float], scenario: str = "twobody-scalar", mass: float = 1.0,
                 ref_br: float = 1e-5, name: str = "p") -> dict:
    """A PatchSet patch adding ``sig`` (normfactor mu) with an emiss metadata block."""
    return {"metadata": {"name": name, "values": [mass],
                         "emiss": {"scenario": scenario, "reference_branching_ratio": ref_br,
                                   "process": "B+->K+"}},
            "patch": [{"op": "add", "path": "/channels/0/samples/0",
                       "value": {"name": "sig", "data": [float(s) for s in signal],
                                 "modifiers": [{"name": "mu", "type": "normfactor",
                                                "data": None}]}}]}


def patchset(workspace: dict, patches: list[dict], labels: tuple[str, ...] = ("m_X",)) -> dict:
    """A PatchSet dict for ``workspace`` (digest included)."""
    import pyhf

    return {"metadata": {"description": "test", "digests": {"sha256": pyhf.utils.digest(workspace)},
                         "labels": list(labels), "references": {"hepdata": "ins0000000"}},
            "patches": patches, "version": "1.0.0"}
