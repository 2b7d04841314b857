"""Simplified likelihoods of published searches: one counting bin per mode (a bundle source).

Used where only a search's published totals are available (``emiss.bundles.babar2013``,
``belle2017``, ``bs_invisible``; docs/global_likelihood.md). Each mode is one pyhf channel:

* a ``background`` sample with the published (or stated) expected background b and, when the
  paper gives one, its uncertainty db as a Gaussian-constrained histosys (b +- db);
* the observed count n_obs;
* the signal a patch adds: s = S * B, with the mode's sensitivity S (events per unit branching
  ratio, N_B x efficiency) **derived** so that the asymptotic CLs upper limit of this counting
  model at the paper's confidence level equals the paper's published limit on B
  (:func:`sensitivity`; pyhf's ``AsymptoticCalculator`` with the q~ statistic, the procedure
  of ``emiss scan``).

The response of a mode (``emiss.response``) is S times a flat acceptance in true q^2 over the
process' whole kinematic range (the efficiency's q^2 dependence is not published in a form
reachable here): isotropic channels for B -> K, the K* helicity kind with equal longitudinal
and transverse efficiency for B -> K*, one isotropic true bin holding the line q^2 = m_Bs^2 for
B_s -> invisible (``emiss.physics.processes.INVISIBLE_PROCESSES``). Modes of no emiss process
have no response: patches put no signal there.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from emiss import contracts
from emiss.errors import EmissError
from emiss.io import round_sig, write_json
from emiss.names import POI, SIGNAL_SAMPLE
from emiss.response import ChannelResponse, KstarChannelResponse, Response

log = logging.getLogger(__name__)

#: Package holding the data files of the simplified likelihoods.
DATA_PACKAGE = "emiss.data"
#: True-q^2 bins of the flat responses (the acceptance is flat: the number only sets how
#: finely continuum spectra are integrated before the sum).
N_TRUE_BINS = 40
#: Relative precision of the derived sensitivities (root finding on CLs).
SENSITIVITY_RTOL = 1e-7


@dataclass(frozen=True)
class CountingChannel:
    """One mode of a published search as a counting experiment.

    Attributes:
        name: workspace channel name (unique across experiments, e.g. ``babar2013_kp``).
        process: emiss process the mode measures (``"B+->K+"``), or None (not an emiss process).
        description: words for the sidecar.
        n_obs: observed events.
        background: expected background events.
        background_unc: its uncertainty (0: none).
        limit: the published upper limit on the branching ratio.
        cl: its confidence level.
        measures: the decay measured when ``process`` is None.
        sources: key -> citation of every number above.
        signal_modifiers: pyhf modifiers (besides ``mu``) the signal a patch adds here carries
            (sidecar ``channels.<name>.signal_modifiers``), e.g. a theory normsys.
        sqrt_s_gev: e+e- centre-of-mass energy of the data in GeV (sidecar
            ``channels.<name>.sqrt_s_gev``); None: the Υ(4S) of the B factories.
    """

    name: str
    process: str | None
    description: str
    n_obs: float
    background: float
    background_unc: float
    limit: float
    cl: float = 0.90
    measures: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    signal_modifiers: tuple[Mapping[str, Any], ...] = ()
    sqrt_s_gev: float | None = None

    def __post_init__(self) -> None:
        for key in ("n_obs", "background", "background_unc", "limit", "cl"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise EmissError(f"mode {self.name!r}: {key} = {v!r} is not a finite number")
        if self.n_obs < 0 or self.background <= 0 or self.background_unc < 0:
            raise EmissError(f"mode {self.name!r}: need n_obs >= 0, background > 0, "
                             "background_unc >= 0")
        if self.background_unc >= self.background:
            raise EmissError(f"mode {self.name!r}: background_unc {self.background_unc} must be "
                             f"below the background {self.background}")
        if not (self.limit > 0 and 0 < self.cl < 1):
            raise EmissError(f"mode {self.name!r}: need limit > 0 and 0 < cl < 1")


# ----------------------------------------------------------------------------- data files
@cache
def load_data(name: str) -> Mapping[str, Any]:
    """A data file of ``emiss.data`` (YAML), parsed once.

    Args:
        name: file name, e.g. ``"babar2013_knunu.yaml"``.

    Returns:
        The parsed mapping (shared: do not mutate it).
    """
    try:
        text = resources.files(DATA_PACKAGE).joinpath(name).read_text("utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise EmissError(f"data file {name!r} of {DATA_PACKAGE} cannot be read: {exc}") from None
    data = yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise EmissError(f"data file {name!r} is not a YAML mapping")
    return data


def value(entry: Any, what: str) -> float:
    """The ``value`` of a ``{value, source}`` entry of a data file (a source is required).

    Args:
        entry: the entry.
        what: its name for messages.

    Returns:
        The value as a float.
    """
    if not isinstance(entry, Mapping) or "value" not in entry or not entry.get("source"):
        raise EmissError(f"data entry {what!r} must be {{value, source}} (every number names "
                         "its source)")
    return float(entry["value"])


# ----------------------------------------------------------------------------- statistics
def _counting_spec(n_obs: float, background: float, background_unc: float) -> dict:
    """pyhf workspace of one counting bin with a one-event signal scaled by ``mu``."""
    bkg: dict[str, Any] = {"name": "background", "data": [background], "modifiers": []}
    if background_unc > 0:
        bkg["modifiers"].append({"name": "bkg_unc", "type": "histosys", "data": {
            "hi_data": [background + background_unc],
            "lo_data": [background - background_unc]}})
    return {
        "channels": [{"name": "c", "samples": [bkg, {
            "name": SIGNAL_SAMPLE, "data": [1.0],
            "modifiers": [{"name": POI, "type": "normfactor", "data": None}]}]}],
        "observations": [{"name": "c", "data": [n_obs]}],
        "measurements": [{"name": "m", "config": {"poi": POI, "parameters": [
            {"name": POI, "bounds": [[0.0, 1.0e7]]}]}}],
        "version": "1.0.0",
    }


@lru_cache(maxsize=256)
def signal_limit(n_obs: float, background: float, background_unc: float,
                 cl: float = 0.90) -> float:
    """Asymptotic CLs upper limit on the signal events of a counting bin.

    The q~ statistic with pyhf's ``AsymptoticCalculator`` (Cowan, Cranmer, Gross, Vitells,
    arXiv:1007.1727), the procedure of ``emiss scan``; CLs = 1 - cl at the limit.

    Args:
        n_obs: observed events.
        background: expected background.
        background_unc: its Gaussian uncertainty (0: none).
        cl: confidence level.

    Returns:
        The limit on the signal events.
    """
    import pyhf
    from scipy.optimize import brentq

    ws = pyhf.Workspace(_counting_spec(n_obs, background, background_unc))
    model = ws.model()
    data = ws.data(model)
    target = 1.0 - cl

    def excess(mu: float) -> float:
        cls = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde")
        return float(cls) - target

    hi = max(10.0, 2.0 * (n_obs - background) + 10.0 * math.sqrt(background + 1.0))
    for _ in range(40):
        if excess(hi) < 0:
            break
        hi *= 2.0
    else:  # pragma: no cover - a CLs curve that never falls is a broken model
        raise EmissError(f"no CLs = {target:g} crossing below {hi:g} signal events")
    lo = hi / 2.0
    while excess(lo) < 0 and lo > 1e-6:
        lo /= 2.0
    return float(brentq(excess, lo, hi, rtol=SENSITIVITY_RTOL, xtol=1e-12))


def sensitivity(channel: CountingChannel) -> float:
    """Derived signal events per unit branching ratio: S = signal limit / published limit.

    Args:
        channel: the mode.

    Returns:
        S, rounded to 8 significant digits (deterministic files).
    """
    s_up = signal_limit(float(channel.n_obs), float(channel.background),
                        float(channel.background_unc), float(channel.cl))
    return round_sig(s_up / channel.limit, 8, flush=False)


# ----------------------------------------------------------------------------- bundle parts
def workspace_channel(channel: CountingChannel) -> tuple[dict, dict]:
    """The pyhf channel and observation of one mode (no signal sample).

    Args:
        channel: the mode.

    Returns:
        (channel dict, observation dict); the background uncertainty is the histosys
        ``<channel>_bkg``.
    """
    bkg: dict[str, Any] = {"name": "background", "data": [float(channel.background)],
                           "modifiers": []}
    if channel.background_unc > 0:
        b, db = float(channel.background), float(channel.background_unc)
        bkg["modifiers"].append({"name": f"{channel.name}_bkg", "type": "histosys",
                                 "data": {"hi_data": [b + db], "lo_data": [b - db]}})
    return ({"name": channel.name, "samples": [bkg]},
            {"name": channel.name, "data": [float(channel.n_obs)]})


def invisible_top(q2: float) -> float:
    """Upper true-q^2 edge of a B_s -> invisible channel: q2 = m_Bs^2 rounded up to 1e-4 GeV^2.

    The line sits at q^2 = m_Bs^2 exactly; an edge rounded up (a number of few digits, kept
    exactly by the response file's 12-digit rounding) keeps it inside the closed last bin.
    """
    return math.ceil(q2 * 1e4) / 1e4


def flat_response(channel: CountingChannel, n_b: float) -> ChannelResponse:
    """Response of one mode: acceptance 1 over the whole true-q^2 range, normalisation n_b = S.

    Args:
        channel: the mode (its ``process`` must be an emiss process).
        n_b: the sensitivity S (events per unit branching ratio).

    Returns:
        A ``ChannelResponse`` (B -> K; B_s -> invisible: one true bin [0, ``invisible_top``]
        holding the line at m_Bs^2) or a ``KstarChannelResponse`` with R_L = R_T (B -> K*).
    """
    from emiss.physics.processes import get_process

    proc = get_process(str(channel.process))
    if not proc.has_form_factors:  # the invisible system alone: one line at q^2 = m_parent^2
        return ChannelResponse(
            name=channel.name, process=proc.name,
            true_edges=np.array([0.0, invisible_top(proc.q2_max)]), matrix=np.ones((1, 1)),
            n_b=n_b, meta={
                "source": "simplified likelihood (emiss.bundles.simplified): n_b = S, the "
                          "derived signal events per unit branching ratio; efficiency 1 at "
                          f"q^2 = m_{proc.parent}^2 (the only q^2 of {proc.name})",
                "assumptions": ["the bound is on the branching ratio: efficiency and N_B are "
                                "in S"]})
    edges = np.linspace(0.0, proc.q2_max, N_TRUE_BINS + 1)
    ones = np.ones((1, N_TRUE_BINS))
    meta: dict[str, Any] = {
        "source": "simplified likelihood (emiss.bundles.simplified): n_b = S, the derived "
                  "signal events per unit branching ratio; acceptance flat in true q^2",
        "assumptions": ["efficiency independent of q^2 over [0, (m_B - m_M)^2] (its q^2 "
                        "dependence was not available)"],
    }
    if proc.is_vector:
        meta["assumptions"].append("equal efficiency for longitudinal and transverse K* "
                                   "(no L/T split available)")
        return KstarChannelResponse(name=channel.name, process=proc.name, true_edges=edges,
                                    matrix=ones, n_b=n_b, meta=meta, matrix_long=ones,
                                    matrix_trans=ones.copy())
    return ChannelResponse(name=channel.name, process=proc.name, true_edges=edges,
                           matrix=ones, n_b=n_b, meta=meta)


def build_bundle(channels: Sequence[CountingChannel], *, stem: str, description: str,
                 data_statement: str, source: Mapping[str, Any],
                 construction: str, extra: Mapping[str, Any] | None = None)\
        -> tuple[dict, dict, Response]:
    """Workspace, sidecar and response of a simplified likelihood.

    Args:
        channels: the modes.
        stem: workspace stem (``<stem>.json``; the response is ``<stem>_response.json`` with
            ``_bkgonly`` dropped).
        description: sidecar description.
        data_statement: what the observations are.
        source: {experiment, arxiv, ...} of the search.
        construction: how the likelihood is made (sidecar ``simplified_likelihood``).
        extra: further sidecar keys.

    Returns:
        (spec, sidecar, response).
    """
    import pyhf

    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise EmissError(f"duplicate channel names in {names}")
    chans, obs, side_chans, resp_chans = [], [], {}, {}
    for ch in channels:
        c, o = workspace_channel(ch)
        chans.append(c)
        obs.append(o)
        s = sensitivity(ch)
        info: dict[str, Any] = {
            "description": ch.description,
            "process": ch.process,
            "signal_modifiers": [dict(m) for m in ch.signal_modifiers],
            "simplified": {
                "n_obs": ch.n_obs, "background": ch.background,
                "background_unc": ch.background_unc, "limit": ch.limit, "cl": ch.cl,
                "sensitivity": s,
                "sensitivity_source": (
                    "derived: the asymptotic CLs limit of this counting bin at cl, in signal "
                    "events, divided by the published limit (emiss.bundles.simplified)"),
                "sources": dict(ch.sources),
            },
        }
        if ch.sqrt_s_gev is not None:
            info["sqrt_s_gev"] = ch.sqrt_s_gev
        if ch.process is None:
            info["measures"] = ch.measures
            info["signal_free"] = True
        else:
            info["n_b"] = s
            resp_chans[ch.name] = flat_response(ch, s)
        side_chans[ch.name] = info
    spec = {
        "channels": chans,
        "observations": obs,
        "measurements": [{"name": stem, "config": {"poi": POI, "parameters": []}}],
        "version": "1.0.0",
    }
    pyhf.schema.validate(spec, "workspace.json")
    response = Response(channels=resp_chans, meta={
        "source": f"{source.get('experiment', '')} arXiv:{source.get('arxiv', '')}: simplified "
                  "likelihood, flat acceptance (emiss.bundles.simplified)"})
    response.check_workspace(spec)
    meta: dict[str, Any] = {
        "description": description,
        "data_statement": data_statement,
        "emulated_data": False,
        "simplified_likelihood": construction,
        "references": {"arxiv": source.get("arxiv")},
        "source": dict(source),
        "response": response_name(stem),
        "poi": POI,
        "signal": {"process": next((c.process for c in channels if c.process), None),
                   "sample": SIGNAL_SAMPLE},
        "channels": side_chans,
        **dict(extra or {}),
    }
    return spec, meta, response


def response_name(stem: str) -> str:
    """Response file name of a workspace stem: ``<stem without _bkgonly>_response.json``."""
    return f"{stem.removesuffix('_bkgonly')}_response.json"


def write_bundle(bundle: tuple[dict, dict, Response], outdir: str | os.PathLike,
                 stem: str) -> list[Path]:
    """Write a bundle's three files (response, sidecar, workspace) into outdir.

    Args:
        bundle: (spec, sidecar, response).
        outdir: destination folder (created if missing).
        stem: workspace stem.

    Returns:
        The written paths.
    """
    spec, meta, resp = bundle
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [
        write_json(outdir / meta["response"], resp.to_dict()),
        contracts.write(outdir / f"{stem}.meta.json", meta, "sidecar"),
        write_json(outdir / f"{stem}.json", spec),
    ]
