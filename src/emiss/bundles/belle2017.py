"""Belle 2017 semileptonic-tag B -> K(*) nu nubar (arXiv:1702.03224) as a simplified likelihood.

One counting bin per K(*) mode, flavio's effective counting model of Belle's published fitted
signal yields (``src/emiss/data/belle2017_knunu.yaml``): n_obs = (statistical uncertainty of
the yield)^2, background = n_obs - yield, its uncertainty = the yield's systematic
uncertainty; the sensitivity of each mode derived from its published 90 % CL limit
(``emiss.bundles.simplified``); flat response in true q^2. Bundle name: ``belle2017``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emiss.bundles import simplified
from emiss.bundles.simplified import CountingChannel, value
from emiss.errors import EmissError
from emiss.response import Response

log = logging.getLogger(__name__)

#: Name of the source (``emiss workspace combine``) and stem of its workspace.
NAME = "belle2017"
STEM = "belle2017_bkgonly"
#: Data file (package ``emiss.data``).
DATA_FILE = "belle2017_knunu.yaml"


def load_config() -> Mapping[str, Any]:
    """The published inputs (``belle2017_knunu.yaml``)."""
    return simplified.load_data(DATA_FILE)


def channels(cfg: Mapping[str, Any] | None = None) -> list[CountingChannel]:
    """The K(*) modes as counting channels (flavio's effective counts).

    Args:
        cfg: the data file's content (default: the bundled file).

    Returns:
        Counting channels in the file's order.
    """
    cfg = cfg or load_config()
    cl = float(cfg.get("confidence_level", 0.90))
    out = []
    for name, c in (cfg.get("channels") or {}).items():
        try:
            total = value(c["counts_total"], f"{name}.counts_total")
            yld = value(c["signal_yield"], f"{name}.signal_yield")
            syst = value(c["signal_yield_syst"], f"{name}.signal_yield_syst")
            src = {k: str(c[k]["source"]) for k in
                   ("counts_total", "signal_yield", "signal_yield_syst", "limit")}
            out.append(CountingChannel(
                name=str(name), process=str(c["process"]), description=str(c["description"]),
                n_obs=total, background=total - yld, background_unc=syst,
                limit=value(c["limit"], f"{name}.limit"), cl=cl,
                sources={**src, "n_obs": "counts_total", "background":
                         "counts_total - signal_yield", "background_unc": "signal_yield_syst"}))
        except KeyError as exc:
            raise EmissError(f"{DATA_FILE}: mode {name!r} lacks {exc.args[0]!r}") from None
    if not out:
        raise EmissError(f"{DATA_FILE} lists no channels")
    return out


def combined_limits(cfg: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Belle's combined limits (not used by the construction; they test it): {"Kstar"}."""
    cfg = cfg or load_config()
    return {k: value(v, f"combined_limits.{k}")
            for k, v in (cfg.get("combined_limits") or {}).items()}


def build_bundle(cfg: Mapping[str, Any] | None = None) -> tuple[dict, dict, Response]:
    """The Belle 2017 bundle in memory.

    Args:
        cfg: the data file's content (default: the bundled file).

    Returns:
        (spec, sidecar, response).
    """
    cfg = cfg or load_config()
    return simplified.build_bundle(
        channels(cfg), stem=STEM,
        description=("Belle 2017 semileptonic-tag B -> K(*) nu nubar (arXiv:1702.03224) as a "
                     "simplified likelihood: one counting bin per mode (emiss)"),
        data_statement=(
            "Effective counts from Belle's published signal yields and uncertainties "
            f"(arXiv:1702.03224, {cfg.get('journal', '')}; {cfg.get('transcription', '')}), "
            "one bin per mode. A simplified likelihood reconstructed by emiss, not Belle's: "
            "the sensitivity of each mode is derived from its published 90 % CL limit and the "
            "efficiency is taken flat in q^2."),
        source={"experiment": str(cfg.get("experiment", "Belle")), "arxiv": str(cfg["arxiv"]),
                "journal": cfg.get("journal"), "transcription": cfg.get("transcription")},
        construction=(
            "one counting bin per mode (flavio general_gamma_upper_limit): n_obs = (stat. "
            "uncertainty of the signal yield)^2, background = n_obs - yield, Gaussian "
            "background uncertainty = the yield's systematic uncertainty; signal = S * B with "
            "S derived so that the asymptotic CLs limit equals the published limit; response "
            "flat in true q^2; K* with equal longitudinal and transverse efficiency"),
        extra={"combined_limits": {k: dict(v) for k, v in
                                   (cfg.get("combined_limits") or {}).items()}},
    )


def write_bundle(outdir: str | os.PathLike) -> list[Path]:
    """Write ``belle2017_bkgonly.json``, its sidecar and response into outdir.

    Args:
        outdir: destination folder.

    Returns:
        The written paths.
    """
    return simplified.write_bundle(build_bundle(), outdir, STEM)
