"""The Python API takes what the CLI takes: workspace names, bundles; it warns on emulated data."""

from __future__ import annotations

import logging
import warnings

import pytest

import emiss.patches as P
from emiss.bundles import belle2_hepdata as B2
from emiss.bundles import load_bundle
from emiss.errors import EmissError, EmulatedDataWarning
from emiss.inference.scan import scan


def test_belle2_by_name_is_the_real_likelihood_without_a_warning(monkeypatch, tmp_path):
    monkeypatch.delenv(B2.DATA_ENV, raising=False)
    monkeypatch.setenv("EMISS_DATA_DIR", str(tmp_path))  # no fetched copy
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmulatedDataWarning)
        bundle = load_bundle("belle2")
    assert bundle.meta["emulated_data"] is False
    assert bundle.meta["source"]["hepdata"] == "ins2947386"
    assert bundle.path.name == f"{B2.STEM}.json"


def test_emulated_workspace_warns_in_the_api_too(caplog):
    from emiss.bundles import bundle as bundle_mod

    bundle_mod._WARNED.clear()
    with caplog.at_level(logging.WARNING), pytest.warns(EmulatedDataWarning, match="EMULATED"):
        load_bundle("belle2_hta_bkgonly")
    assert any("EMULATED" in r.getMessage() for r in caplog.records)


def test_load_target_takes_a_bundle_and_scan_takes_a_name():
    bundle = load_bundle("belle2")
    target = P.load_target(bundle)
    assert target.spec is bundle.spec and target.name == B2.STEM
    ps = P.build_patchset(target, P.make_entry("twobody-scalar", masses=[2.1]), n_samples=0)
    doc = scan("belle2", [ps], jobs=1, progress=False)
    (row,) = doc["results"]
    assert row["status"].startswith("ok") and row["name"] == "twobody_scalar_mX_2p10"
    assert doc["workspace"]["name"] == B2.STEM
    assert doc["workspace"]["emulated_data"] is False
    # a Bundle object works as well, with the same numbers
    again = scan(bundle, [ps], jobs=1, progress=False)
    assert again["results"][0]["twice_nll"] == row["twice_nll"]


def test_unknown_name_and_folder_are_clear_errors(tmp_path):
    with pytest.raises(EmissError, match="'nope' does not exist.*belle2"):
        load_bundle("nope")
    with pytest.raises(EmissError, match="is a folder"):
        load_bundle(tmp_path)
