"""Import of Belle II's released likelihood (HEPData ins2947386) into an emiss bundle.

Independent facts: the published file itself (its samples, and fits of it), the numbers of the
record's README and papers (mu_hat = 4.60 with 68 % interval [3.28, 5.95], sqrt(q0) = 3.46,
2.72 sigma against mu = 1; arXiv:2311.14647: B = (2.3 +- 0.7)e-5, 3.5 sigma, 2.7 sigma above
the SM).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import jsonpatch
import numpy as np
import pytest
from belle2_data import FILES, require_data

from emiss.bundles import belle2_hepdata as B2
from emiss.bundles import load_bundle
from emiss.errors import EmissError
from emiss.io import read_json

SIGNAL = {"signal", "sgn_1_had"}


@pytest.fixture(scope="module")
def data():
    return require_data()


@pytest.fixture(scope="module")
def bundle_dir(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("b2")
    B2.import_belle2(data, out)
    return out


@pytest.fixture(scope="module")
def published(data):
    return json.loads((data / "combined_likelihood.json").read_text())


def test_workspace_is_the_published_one_without_signal(bundle_dir, published):
    spec = json.loads((bundle_dir / f"{B2.STEM}.json").read_text())
    for key in ("observations", "measurements", "version"):
        assert spec[key] == published[key]
    for mine, theirs in zip(spec["channels"], published["channels"], strict=True):
        assert mine["name"] == theirs["name"]
        assert mine["samples"] == [s for s in theirs["samples"] if s["name"] not in SIGNAL]
    assert sum(len(c["samples"]) for c in published["channels"]) - \
        sum(len(c["samples"]) for c in spec["channels"]) == 3  # ITA A, ITA B, HTA


def test_sidecar_records_source_channels_and_mu(bundle_dir, data):
    meta = json.loads((bundle_dir / f"{B2.STEM}.meta.json").read_text())
    assert meta["emulated_data"] is False
    assert meta["source"]["doi"] == "10.17182/hepdata.166082"
    assert meta["source"]["verified"] is True
    for name in FILES:  # sha256 recomputed here from the shared files
        assert meta["source"]["files"][name] == hashlib.sha256(
            (data / name).read_bytes()).hexdigest()
    chans = meta["channels"]
    free = sorted(c for c, v in chans.items() if v["signal_free"])
    assert len(free) == 2 and all(c.endswith("_offres") for c in free)
    assert all(v["process"] == "B+->K+" for v in chans.values() if not v["signal_free"])
    # mu = 1 <-> 4.97e-6, Belle II's SM short-distance normalisation (arXiv:2311.14647)
    assert meta["signal"]["reference_branching_ratio"] == pytest.approx(4.97e-6, rel=1e-3)
    for v in chans.values():
        if not v["signal_free"]:
            names = {m["name"] for m in v["signal_modifiers"]}
            assert "mu" not in names and not names & set(B2.PUBLISHED_FF_MODIFIERS)
            assert names  # detector systematics and MC statistics are carried


def test_same_inputs_same_bytes(bundle_dir, data, tmp_path):
    B2.import_belle2(data, tmp_path)
    for p in bundle_dir.iterdir():
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name


def test_response_folds_the_null_into_the_published_signal(bundle_dir, published):
    from emiss.physics.null import null_spectrum

    b = load_bundle(bundle_dir / f"{B2.STEM}.json")
    sig = {c["name"]: s["data"] for c in published["channels"] for s in c["samples"]
           if s["name"] in SIGNAL}
    folded = b.response.fold(null_spectrum())
    assert set(folded) == set(sig)
    for ch, nu in sig.items():  # rows of the number densities sum to the yields (2e-5 in HTA)
        np.testing.assert_allclose(folded[ch], nu, rtol=5e-4)
        eff = b.response.channels[ch].efficiency()
        assert np.all(eff <= 1.0) and eff.max() > 0


#: The SM patch declares the three hypothesis form-factor nuisances every patch of the
#: workspace carries (ff_BK_pc1..3, one likelihood family), without effect on the SM sample: each
#: adds a unit Gaussian constraint at its minimum, -2 ln N(0 | 0, 1) = ln(2 pi).
FAMILY_CONSTANT = 3 * math.log(2 * math.pi)


def _without_noops(spec: dict) -> dict:
    """The workspace with the histosys modifiers that change nothing removed."""
    out = json.loads(json.dumps(spec))
    for ch in out["channels"]:
        for s in ch["samples"]:
            s["modifiers"] = [m for m in s["modifiers"] if not (
                m["type"] == "histosys" and m["data"]["hi_data"] == s["data"]
                and m["data"]["lo_data"] == s["data"] and m["name"].startswith("ff_"))]
    return out


def test_sm_patch_restores_the_published_likelihood(bundle_dir, published):
    from emiss.inference.fastlimits import Fitter
    from emiss.inference.fastmodel import model_from_workspace
    from emiss.patches import sm_patch

    b = load_bundle(bundle_dir / f"{B2.STEM}.json")
    ops = sm_patch(b)
    patched = jsonpatch.apply_patch(b.spec, ops)
    assert patched != published  # it declares the family's form-factor nuisances ...
    assert _without_noops(patched) == published  # ... and is otherwise the published file
    fits = []
    for spec, patch in ((published, None), (b.spec, ops)):
        fm = model_from_workspace(spec, patch)
        pars, tnll = Fitter(fm).fit(fm.observed_data())
        fits.append((pars[fm.poi_index], tnll))
    assert fits[1][0] == pytest.approx(fits[0][0], rel=1e-6)
    assert fits[1][1] - fits[0][1] == pytest.approx(FAMILY_CONSTANT, abs=1e-6)


def test_measure_gives_the_published_numbers(bundle_dir, published):
    from emiss.bundles.bundle import Bundle
    from emiss.studies.measure import measure

    r = measure(load_bundle(bundle_dir / f"{B2.STEM}.json"))
    # the same numbers as a measurement on the published file itself (signal already in it)
    ref = measure(Bundle(spec=published, meta={}, response=None, path=None), patch=[])
    for key in ("mu_hat", "mu_err_up", "mu_err_down", "Z_bkg_only", "Z_sm"):
        assert getattr(r, key) == pytest.approx(getattr(ref, key), rel=1e-6), key
    assert r.twice_nll - ref.twice_nll == pytest.approx(FAMILY_CONSTANT, abs=1e-5)
    # the record's README (pyhf fit of the published file): 4.60 [3.28, 5.95], 3.46, 2.72
    assert r.mu_hat == pytest.approx(4.60, abs=0.01)
    assert r.mu_hat - r.mu_err_down == pytest.approx(3.28, abs=0.01)
    assert r.mu_hat + r.mu_err_up == pytest.approx(5.95, abs=0.01)
    assert r.Z_bkg_only == pytest.approx(3.46, abs=0.01)
    assert r.Z_sm == pytest.approx(2.72, abs=0.01)
    # arXiv:2311.14647: B = (2.3 +- 0.7)e-5, 3.5 sigma evidence, 2.7 sigma above the SM
    assert r.br_hat == pytest.approx(2.3e-5, abs=0.05e-5)
    assert round(r.Z_bkg_only, 1) == 3.5 and round(r.Z_sm, 1) == 2.7


def _copy(data, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for f in FILES:
        shutil.copyfile(data / f, src / f)
    return src


def test_altered_missing_or_misshapen_inputs_fail_cleanly(data, tmp_path):
    src = _copy(data, tmp_path)
    out = tmp_path / "out"
    csv = src / "number_density_hta.csv"
    csv.write_text(csv.read_text().replace("0", "1", 1))
    with pytest.raises(EmissError, match="number_density_hta.csv.*sha256"):
        B2.import_belle2(src, out)
    assert not out.exists()
    # a number density that does not fit its channel (8 rows for the 9 bins of region A)
    rega = src / "number_density_ita_regA.csv"
    rega.write_text("\n".join(rega.read_text().splitlines()[:8]) + "\n")
    shutil.copyfile(data / "number_density_hta.csv", csv)
    with pytest.raises(EmissError, match="number_density_ita_regA.csv.*shape"):
        B2.import_belle2(src, out, allow_unverified=True)
    assert not out.exists()
    (src / "number_density_ita_regB.csv").unlink()
    with pytest.raises(EmissError, match="number_density_ita_regB.csv"):
        B2.import_belle2(src, out)
    assert not out.exists()


def test_inputs_recognised_by_content(data, tmp_path):
    src = tmp_path / "renamed"
    src.mkdir()
    for i, f in enumerate(FILES):
        shutil.copyfile(data / f, src / f"resource_{i}{(data / f).suffix}")
    found = B2.locate_inputs(src)
    assert {k: v.name for k, v in found.items()} == {
        f: f"resource_{i}{(data / f).suffix}" for i, f in enumerate(FILES)}


def test_alias_resolves_to_the_real_bundle(data, monkeypatch, tmp_path):
    """`belle2` is the shipped real likelihood with no environment and no fetched copy; a copy
    of the same record ($EMISS_BELLE2_DATA) is served by the same bundle; the emulation is
    never chosen for it."""
    from emiss.bundles.bundle import bundled_dir, resolve_workspace

    monkeypatch.setenv("EMISS_DATA_DIR", str(tmp_path / "nodata"))
    monkeypatch.delenv(B2.DATA_ENV, raising=False)
    shipped = bundled_dir() / f"{B2.STEM}.json"
    assert resolve_workspace("belle2") == shipped
    assert resolve_workspace(B2.STEM) == shipped
    meta = read_json(shipped.with_name(f"{B2.STEM}.meta.json"))
    assert meta["emulated_data"] is False and meta["source"]["files"] == B2.SHA256
    monkeypatch.setenv(B2.DATA_ENV, str(data))
    assert resolve_workspace("belle2") == shipped
    altered = tmp_path / "altered"
    shutil.copytree(data, altered)
    with open(altered / "number_density_hta.csv", "a") as fh:
        fh.write("\n")
    monkeypatch.setenv(B2.DATA_ENV, str(altered))
    with pytest.raises(EmissError, match="number_density_hta.csv.*sha256"):
        resolve_workspace("belle2")


def test_shipped_files_are_the_record_verbatim():
    """The package's copy has the record's sha256 and equals the reference copy byte for byte."""
    from belle2_data import reference_dir

    shipped = B2.shipped_inputs()
    assert B2.verify_shipped() == B2.SHA256
    for name, digest in B2.SHA256.items():
        assert B2.sha256_file(shipped / name) == digest
    readme = (shipped / "README.md").read_text()
    for fact in ("CC0", "2507.12393", "2311.14647", "10.17182/hepdata.166082",
                 *B2.SHA256.values()):
        assert fact in readme
    ref = reference_dir()
    if ref is not None:  # the project's reference copy, where it is at hand
        for name in B2.SHA256:
            assert (shipped / name).read_bytes() == (ref / name).read_bytes(), name


def test_an_altered_shipped_file_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "pkg"
    shutil.copytree(B2.shipped_inputs(), fake)
    (fake / "combined_likelihood.json").write_bytes(
        (fake / "combined_likelihood.json").read_bytes().replace(b"1", b"2", 1))
    monkeypatch.setattr(B2, "shipped_inputs", lambda: fake)
    monkeypatch.setattr(B2, "_VERIFIED", {})
    with pytest.raises(EmissError, match="combined_likelihood.json.*altered"):
        B2.shipped_bundle()
