"""Where tests find Belle II's released likelihood (HEPData ins2947386).

The four files ship with emiss (package data ``emiss/data/belle2_ins2947386``, verbatim, CC0);
tests read that copy. ``reference_dir`` is the project's reference copy next to the repository
(``../shared/data/belle2_ins2947386``), used to check that what ships is verbatim.
"""

from __future__ import annotations

from pathlib import Path

from emiss.bundles.belle2_hepdata import shipped_inputs, verify_shipped

ROOT = Path(__file__).resolve().parents[1]
FILES = ("combined_likelihood.json", "number_density_ita_regA.csv",
         "number_density_ita_regB.csv", "number_density_hta.csv")


def data_dir() -> Path:
    """The folder with the four files as shipped (their sha256 checked)."""
    verify_shipped()
    return shipped_inputs()


def require_data() -> Path:
    """The shipped data folder (kept for the tests' call sites: it never skips)."""
    return data_dir()


def reference_dir() -> Path | None:
    """The reference copy ../shared/data/belle2_ins2947386, or None where it is absent."""
    d = ROOT.parent / "shared" / "data" / "belle2_ins2947386"
    return d if all((d / f).is_file() for f in FILES) else None
