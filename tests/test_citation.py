"""Licence, citation and typing markers: present, consistent and shipped."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_citation_cff_has_the_required_fields_and_cites_the_data():
    """CFF 1.2.0 requires cff-version, message, title and authors (citation-file-format schema);
    the citation names the licence of pyproject.toml and the papers of the shipped data."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key]
    assert cff["license"] == "BSD-3-Clause"
    assert 'license = { text = "BSD-3-Clause" }' in (ROOT / "pyproject.toml").read_text()
    text = (ROOT / "CITATION.cff").read_text()
    for ref in ("2507.12393", "2311.14647", "10.17182/hepdata.166082"):
        assert ref in text


def test_licence_states_bsd3_and_the_data_terms():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "CC0" in text and "ins2947386" in text


def test_package_is_typed():
    import emiss

    assert (Path(emiss.__file__).parent / "py.typed").is_file()
