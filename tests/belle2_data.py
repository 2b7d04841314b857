"""Where tests find Belle II's released likelihood (HEPData ins2947386), or skip.

The files are never part of the repository: they are read from ../shared/data/belle2_ins2947386
next to the project (or from $EMISS_BELLE2_DATA).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ("combined_likelihood.json", "number_density_ita_regA.csv",
         "number_density_ita_regB.csv", "number_density_hta.csv")


def data_dir() -> Path | None:
    """The folder with the four files, or None."""
    for cand in (os.environ.get("EMISS_BELLE2_DATA"),
                 ROOT.parent / "shared" / "data" / "belle2_ins2947386"):
        if cand and all((Path(cand) / f).is_file() for f in FILES):
            return Path(cand)
    return None


def require_data() -> Path:
    """The data folder, or a visible skip naming what is missing."""
    d = data_dir()
    if d is None:
        pytest.skip("Belle II's released likelihood (HEPData ins2947386) not found in "
                    "../shared/data/belle2_ins2947386 or $EMISS_BELLE2_DATA")
    return d
