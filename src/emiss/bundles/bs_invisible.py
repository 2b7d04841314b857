"""B_s -> invisible (ALEPH recast, arXiv:2310.13043) as a one-bin simplified likelihood.

The recast bound B(B_s -> invisible) < 5.4e-4 at 90 % CL is turned into one counting bin
(``src/emiss/data/bs_invisible_aleph.yaml``): n_obs = b (a convention, stated there), no
background uncertainty, and a sensitivity S derived so that the asymptotic CLs 90 % CL limit
on B equals the bound (``emiss.bundles.simplified``). emiss does not predict B_s rates yet
(pair scenarios' B(B_s -> X Xbar) are left for later), so the channel has no response and
patches put no signal there: in a combination it is a constant factor until those rates exist.
Bundle name: ``bs-invisible``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from emiss.bundles import simplified
from emiss.bundles.simplified import CountingChannel, value
from emiss.response import Response

log = logging.getLogger(__name__)

#: Name of the source (``emiss workspace combine``) and stem of its workspace.
NAME = "bs-invisible"
STEM = "bs_invisible_bkgonly"
#: Data file (package ``emiss.data``).
DATA_FILE = "bs_invisible_aleph.yaml"


def load_config() -> dict[str, Any]:
    """The bound and the stated counting convention (``bs_invisible_aleph.yaml``)."""
    return simplified.load_data(DATA_FILE)


def channel(cfg: dict[str, Any] | None = None) -> CountingChannel:
    """The one counting channel.

    Args:
        cfg: the data file's content (default: the bundled file).

    Returns:
        The counting channel (``process`` None, ``measures`` "Bs->invisible").
    """
    cfg = cfg or load_config()
    c = cfg["channel"]
    return CountingChannel(
        name=str(c["name"]), process=None, measures=str(c["measures"]),
        description=str(c["description"]),
        n_obs=value(c["n_obs"], "channel.n_obs"),
        background=value(c["background"], "channel.background"),
        background_unc=value(c["background_unc"], "channel.background_unc"),
        limit=value(cfg["limit"], "limit"), cl=float(cfg.get("confidence_level", 0.90)),
        sources={"limit": str(cfg["limit"]["source"]),
                 **{k: str(c[k]["source"]) for k in ("n_obs", "background", "background_unc")}})


def build_bundle(cfg: dict[str, Any] | None = None) -> tuple[dict, dict, Response]:
    """The B_s -> invisible bundle in memory (its response has no channel).

    Args:
        cfg: the data file's content (default: the bundled file).

    Returns:
        (spec, sidecar, response).
    """
    cfg = cfg or load_config()
    ch = channel(cfg)
    return simplified.build_bundle(
        [ch], stem=STEM,
        description=("B_s -> invisible: the ALEPH recast bound of arXiv:2310.13043 as a one-bin "
                     "simplified likelihood (emiss)"),
        data_statement=(
            f"Only the bound B(B_s -> invisible) < {ch.limit:.2g} at {ch.cl:.0%} CL "
            "(arXiv:2310.13043, a recast of ALEPH data) enters; the bin's observed count and "
            "background are a stated convention (n_obs = b), not ALEPH's counts."),
        source={"experiment": str(cfg.get("experiment", "ALEPH (recast)")),
                "arxiv": str(cfg["arxiv"])},
        construction=(
            "one counting bin: n_obs = b (convention), no background uncertainty, signal = "
            "S * B(B_s -> invisible) with S derived so that the asymptotic CLs limit equals "
            "the recast bound; no emiss scenario predicts B_s rates yet (B_s -> X Xbar of "
            "pair scenarios left for later), so patches add no signal here"),
        extra={"limit_versions": {"used": dict(cfg["limit"])}},
    )


def write_bundle(outdir: str | os.PathLike) -> list[Path]:
    """Write ``bs_invisible_bkgonly.json``, its sidecar and (empty) response into outdir.

    Args:
        outdir: destination folder.

    Returns:
        The written paths.
    """
    return simplified.write_bundle(build_bundle(), outdir, STEM)
