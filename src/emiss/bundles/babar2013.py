"""BaBar 2013 hadronic-tag B -> K(*) nu nubar (arXiv:1303.7465) as a simplified-likelihood bundle.

One counting bin per mode (K+, K0, K*+, K*0) from BaBar's published observed events and
expected background (``src/emiss/data/babar2013_knunu.yaml``, every number with its source),
the sensitivity of each mode derived from its published 90 % CL limit
(``emiss.bundles.simplified``). The per-s_B-bin efficiencies, backgrounds and counts of the
paper were not reachable offline, so the s_B shape is not used: the response is flat in true
q^2 (K: isotropic kind; K*: helicity kind with equal L/T efficiency). Bundle name:
``babar2013`` (``emiss workspace combine babar2013 ...``).
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
NAME = "babar2013"
STEM = "babar2013_bkgonly"
#: Data file (package ``emiss.data``).
DATA_FILE = "babar2013_knunu.yaml"


def load_config() -> Mapping[str, Any]:
    """The published inputs (``babar2013_knunu.yaml``)."""
    return simplified.load_data(DATA_FILE)


def channels(cfg: Mapping[str, Any] | None = None) -> list[CountingChannel]:
    """The four modes as counting channels.

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
            out.append(CountingChannel(
                name=str(name), process=str(c["process"]), description=str(c["description"]),
                n_obs=value(c["n_obs"], f"{name}.n_obs"),
                background=value(c["background"], f"{name}.background"),
                background_unc=value(c["background_unc"], f"{name}.background_unc"),
                limit=value(c["limit"], f"{name}.limit"), cl=cl,
                sources={k: str(c[k]["source"]) for k in
                         ("n_obs", "background", "background_unc", "limit")}))
        except KeyError as exc:
            raise EmissError(f"{DATA_FILE}: mode {name!r} lacks {exc.args[0]!r}") from None
    if not out:
        raise EmissError(f"{DATA_FILE} lists no channels")
    return out


def combined_limits(cfg: Mapping[str, Any] | None = None) -> dict[str, float]:
    """BaBar's combined limits (not used by the construction; they test it): {"K", "Kstar"}."""
    cfg = cfg or load_config()
    return {k: value(v, f"combined_limits.{k}")
            for k, v in (cfg.get("combined_limits") or {}).items()}


def build_bundle(cfg: Mapping[str, Any] | None = None) -> tuple[dict, dict, Response]:
    """The BaBar 2013 bundle in memory.

    Args:
        cfg: the data file's content (default: the bundled file).

    Returns:
        (spec, sidecar, response).
    """
    cfg = cfg or load_config()
    arxiv = str(cfg["arxiv"])
    return simplified.build_bundle(
        channels(cfg), stem=STEM,
        description=("BaBar 2013 hadronic-tag B -> K(*) nu nubar (arXiv:1303.7465) as a "
                     "simplified likelihood: one counting bin per mode (emiss)"),
        data_statement=(
            "Observed events and expected backgrounds published by BaBar (arXiv:1303.7465, "
            f"{cfg.get('journal', '')}; {cfg.get('transcription', '')}), one bin per mode. A "
            "simplified likelihood reconstructed by emiss, not BaBar's: the signal sensitivity "
            "of each mode is derived from its published 90 % CL limit and the efficiency is "
            "taken flat in q^2 (the per-s_B-bin numbers were not available)."),
        source={"experiment": str(cfg.get("experiment", "BaBar")), "arxiv": arxiv,
                "journal": cfg.get("journal"), "transcription": cfg.get("transcription")},
        construction=(
            "one counting bin per mode: n_obs and background +- uncertainty as published "
            "(Gaussian histosys), signal = S * B with S derived so that the asymptotic CLs "
            f"{cfg.get('confidence_level', 0.9):g} CL limit equals the published limit; "
            "response flat in true q^2; K* with equal longitudinal and transverse efficiency"),
        extra={"combined_limits": {k: dict(v) for k, v in
                                   (cfg.get("combined_limits") or {}).items()}},
    )


def write_bundle(outdir: str | os.PathLike) -> list[Path]:
    """Write ``babar2013_bkgonly.json``, its sidecar and response into outdir.

    Args:
        outdir: destination folder.

    Returns:
        The written paths.
    """
    return simplified.write_bundle(build_bundle(), outdir, STEM)
