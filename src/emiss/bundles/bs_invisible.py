"""B_s -> invisible (ALEPH recast, arXiv:2310.13043) as a one-bin simplified likelihood.

The recast bound B(B_s -> invisible) < 5.4e-4 at 90 % CL is turned into one counting bin
(``src/emiss/data/bs_invisible_aleph.yaml``): n_obs = b (a convention, stated there), no
background uncertainty, and a sensitivity S derived so that the asymptotic CLs 90 % CL limit
on B equals the bound (``emiss.bundles.simplified``). The channel measures the process
"Bs->invisible" (one line at q^2 = m_Bs^2): a patch puts S * B(B_s -> X X̄) there, the rate of
its pair scenario at the patch's coupling (``emiss.physics.bs_pairs``; 0 for scenarios that
cannot annihilate a B_s), with the f_Bs uncertainty as the normsys ``FBS_MODIFIER`` and the
B_s-mixing factor of a time-integrated rate as the normsys ``YS_MODIFIER``.
Bundle name: ``bs-invisible``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emiss.bundles import simplified
from emiss.bundles.simplified import CountingChannel, value
from emiss.physics import bs_pairs
from emiss.response import Response

log = logging.getLogger(__name__)

#: Name of the source (``emiss workspace combine``) and stem of its workspace.
NAME = "bs-invisible"
STEM = "bs_invisible_bkgonly"
#: Data file (package ``emiss.data``).
DATA_FILE = "bs_invisible_aleph.yaml"
#: Name of the f_Bs normsys of the signal (B ~ f_Bs^2: +-2 x 1.3/230.3 = +-1.13 %, FLAG 2021
#: arXiv:2111.09849 via ``emiss.physics.bs_pairs``); it starts with the part's prefix, so a
#: combination keeps it as it is.
FBS_MODIFIER = "bs_invisible_f_Bs"
#: Name of the B_s-mixing normsys of the signal: the time-integrated rate is
#: B (1 + A_DeltaGamma y_s) / (1 - y_s^2) with A_DeltaGamma in [-1, 1] not fixed by a scenario
#: (arXiv:1204.1737); the normsys puts A = -1 and +1 at -1 and +1 sigma
#: (``bs_pairs.time_integration_factors``, y_s = 0.0645: -6.1 %, +6.9 %).
YS_MODIFIER = "bs_invisible_y_s"


def fbs_normsys() -> dict[str, Any]:
    """The signal's f_Bs normsys: factors 1 +- 2 delta f_Bs / f_Bs (``bs_pairs.F_BS_UNC``)."""
    r = 2.0 * bs_pairs.F_BS_UNC / bs_pairs.F_BS
    return {"name": FBS_MODIFIER, "type": "normsys",
            "data": {"hi": round(1.0 + r, 8), "lo": round(1.0 - r, 8)}}


def ys_normsys() -> dict[str, Any]:
    """The signal's B_s-mixing normsys: lo, hi = 1/(1 + y_s), 1/(1 - y_s) (A_DeltaGamma -1, +1)."""
    lo, hi = bs_pairs.time_integration_factors()
    return {"name": YS_MODIFIER, "type": "normsys",
            "data": {"hi": round(hi, 8), "lo": round(lo, 8)}}


def load_config() -> Mapping[str, Any]:
    """The bound and the stated counting convention (``bs_invisible_aleph.yaml``)."""
    return simplified.load_data(DATA_FILE)


def channel(cfg: Mapping[str, Any] | None = None) -> CountingChannel:
    """The one counting channel.

    Args:
        cfg: the data file's content (default: the bundled file).

    Returns:
        The counting channel (``process`` "Bs->invisible", with the f_Bs and y_s normsys).
    """
    cfg = cfg or load_config()
    c = cfg["channel"]
    return CountingChannel(
        name=str(c["name"]), process=str(c["process"]), description=str(c["description"]),
        signal_modifiers=(fbs_normsys(), ys_normsys()),
        n_obs=value(c["n_obs"], "channel.n_obs"),
        background=value(c["background"], "channel.background"),
        background_unc=value(c["background_unc"], "channel.background_unc"),
        limit=value(cfg["limit"], "limit"), cl=float(cfg.get("confidence_level", 0.90)),
        sqrt_s_gev=value(c["sqrt_s_gev"], "channel.sqrt_s_gev"),
        sources={"limit": str(cfg["limit"]["source"]),
                 **{k: str(c[k]["source"]) for k in ("n_obs", "background", "background_unc",
                                                     "sqrt_s_gev")}})


def build_bundle(cfg: Mapping[str, Any] | None = None) -> tuple[dict, dict, Response]:
    """The B_s -> invisible bundle in memory (one flat channel at q^2 = m_Bs^2).

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
            "the recast bound; pair scenarios predict B(B_s -> X Xbar) from f_Bs "
            "(emiss.physics.bs_pairs; normsys bs_invisible_f_Bs, 1.1 %, and bs_invisible_y_s, "
            "-6.1/+6.9 % for B_s mixing, arXiv:1204.1737), every other scenario 0"),
        extra={"limit_versions": {"used": dict(cfg["limit"])}},
    )


def write_bundle(outdir: str | os.PathLike) -> list[Path]:
    """Write ``bs_invisible_bkgonly.json``, its sidecar and response into outdir.

    Args:
        outdir: destination folder.

    Returns:
        The written paths.
    """
    return simplified.write_bundle(build_bundle(), outdir, STEM)
