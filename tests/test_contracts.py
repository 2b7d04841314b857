"""The contracts between stages (``emiss.contracts``): schemas, dataclasses, checks on read/write.

* every schema is a valid JSON Schema, ships with the package and names its version;
* the committed documents (sidecars, responses, patches, the standard grid) keep their contract
  and survive a round trip through their dataclass;
* a document of each kind with one bad field is refused on reading and on writing with one line
  naming the file, the JSON path of the field and what is valid; nothing is written;
* the K* polarisation travels in the patch ``emiss`` block: the scan rows copy it, with the
  values the scan computed from the physics before (fl_row of the scenario's spectrum, 10
  significant digits);
* one Bundle, one workspace resolver, one JSON reader, one results reader.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from emiss import contracts as C
from emiss.bundles import bundled_dir, load_bundle
from emiss.errors import EmissError
from emiss.io import read_json

ROOT = Path(__file__).resolve().parents[1]
KSTAR_DIRS = ("belle2_kstar", "belle2_k_kstar_combined")


def _one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    for w in words:
        assert w in text, (w, text)
    return text


# ----------------------------------------------------------------------------- schemas
@pytest.mark.parametrize("name", C.CONTRACTS)
def test_schemas_are_valid_versioned_and_shipped(name):
    sch = C.schema(name)
    jsonschema.validators.validator_for(sch).check_schema(sch)
    assert sch["$id"] == f"urn:emiss:contract:{name}/v1"
    assert (ROOT / "src" / "emiss" / "contracts" / "schemas" / f"{name}.schema.json").is_file()
    fmt = sch.get("properties", {}).get("format", {})
    want = {"sidecar": [C.SIDECAR_FORMAT], "patch": [C.PATCH_FORMAT],
            "results": [C.RESULTS_FORMAT], "grid": [C.GRID_FORMAT],
            "response": [C.RESPONSE_FORMAT, C.KSTAR_RESPONSE_FORMAT], "result_row": [None],
            "toys": [C.TOYS_FORMAT]}
    assert [fmt.get("const")] == want[name] or fmt.get("enum") == want[name]


def test_package_data_ships_the_schemas():
    setup = (ROOT / "setup.py").read_text()
    assert '"contracts/schemas/*.json"' in setup
    assert any(d.startswith("jsonschema") for d in _dependencies())


def _dependencies() -> list[str]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


# ----------------------------------------------------------------------------- committed files
def _committed_patchsets() -> list[Path]:
    return sorted((ROOT / "patches").glob("*/*.json"))


def test_committed_documents_keep_their_contracts():
    for side in sorted(bundled_dir().glob("*.meta.json")):
        C.read(side, "sidecar")
    responses = sorted(bundled_dir().glob("*_response.json"))
    assert len(responses) >= 5
    for resp in responses:
        doc = C.read(resp, "response")
        assert C.ResponseFile.from_dict(doc).to_dict() == doc
    grid = yaml.safe_load((ROOT / "src" / "emiss" / "data" / "standard_grid.yaml").read_text())
    g = C.GridFile.from_dict(grid, "standard")
    assert g.format == C.GRID_FORMAT and set(g.lists) == {"patchsets", "kstar_patchsets",
                                                          "belle2_patchsets"}
    assert C.GridFile.from_dict(g.to_dict()).to_dict() == g.to_dict()


def test_committed_patch_blocks_round_trip():
    n = 0
    for path in _committed_patchsets():
        for patch in read_json(path)["patches"]:
            raw = patch["metadata"]["emiss"]
            block = C.PatchBlock.from_patch(patch)
            assert block.to_dict() == raw and block.format == C.PATCH_FORMAT
            assert (block.polarisation is not None) == (path.parent.name in KSTAR_DIRS)
            n += 1
    assert n > 500


def test_old_documents_still_read():
    """A block written before the contract (no format, no polarisation) and a results file of
    the previous writer (with its duplicate digest field) read as version 1."""
    from emiss.inference.scan import fl_fields

    old = {"coupling": None, "process": "B0->K*0", "reference_branching_ratio": 9.2e-06,
           "scenario": "sm"}
    block = C.PatchBlock.from_dict(old)
    assert block.format is None and block.to_dict() == old
    assert fl_fields(block) == {}  # no polarisation: rebuild the PatchSet to get it (warned)
    doc = {"format": C.RESULTS_FORMAT, "workspace_digest": "w", "patchset_digest": "p",
           "patchset_digests": ["p"], "labels": ["m_X"], "options": {"cl": 0.95},
           "results": [{"name": "a", "patchset": 0, "status": "ok", "m_X": 1.0}]}
    typed = C.ResultsDocument.from_dict(doc)
    assert typed.patchset_digests == ["p"] and typed.results[0].values == {"m_X": 1.0}
    assert typed.cl == 0.95 and typed.calctype == "asymptotics"


# ----------------------------------------------------------------------------- bad documents
@pytest.fixture()
def hta(tmp_path):
    """A copy of the bundled HTA emulation with its sidecar and response."""
    for name in ("belle2_hta_bkgonly.json", "belle2_hta_bkgonly.meta.json",
                 "belle2_hta_response.json"):
        shutil.copy(bundled_dir() / name, tmp_path / name)
    return tmp_path / "belle2_hta_bkgonly.json"


def test_bad_sidecar_on_read_and_write(hta, tmp_path):
    side = hta.with_name("belle2_hta_bkgonly.meta.json")
    meta = read_json(side)
    meta["channels"]["hta"]["n_b"] = "many"
    side.write_text(json.dumps(meta))
    with pytest.raises(EmissError) as exc:
        load_bundle(hta)
    _one_line(exc, "belle2_hta_bkgonly.meta.json", "$.channels.hta.n_b", '"many"',
              "valid: a number or null", "--no-sidecar")
    out = tmp_path / "new.meta.json"
    with pytest.raises(C.ContractError) as exc:
        C.write(out, meta, "sidecar")
    _one_line(exc, "new.meta.json", "$.channels.hta.n_b")
    assert not out.exists()
    meta["channels"]["hta"]["n_b"] = 4.0e8
    meta["references"]["hepdata"] = "2725943"  # not an INSPIRE id
    with pytest.raises(C.ContractError) as exc:
        C.write(out, meta, "sidecar")
    _one_line(exc, "$.references.hepdata", "^ins[0-9]+$")


def test_bad_response_on_read_and_write(hta):
    from emiss.response import Response
    from emiss.response.formats import response_dict

    path = hta.with_name("belle2_hta_response.json")
    doc = read_json(path)
    doc["channels"]["hta"]["n_b"] = -1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(EmissError) as exc:
        Response.load(path)
    _one_line(exc, "belle2_hta_response.json", "$.channels.hta.n_b", "valid: a number >= 0")

    class Bad:
        def to_dict(self):
            return {"name": "c", "process": "B+->K+", "n_b": 1.0, "true_edges": [0.0, 1.0]}

    with pytest.raises(C.ContractError) as exc:
        response_dict({"c": Bad()}, {})
    _one_line(exc, "$.channels.c", "lacks the key 'matrix'")


def test_bad_grid_file(tmp_path):
    from emiss.patches.grid import load_grid

    path = tmp_path / "g.yaml"
    path.write_text("patchsets:\n  - scenario: twobody-scalar\n    masses: {a: 1}\n")
    with pytest.raises(EmissError) as exc:
        load_grid(path)
    _one_line(exc, "g.yaml", "$.patchsets[0].masses", "valid: a number or a string or a list")
    path.write_text("patchsets:\n  - scenario: sm\n    name: bad-name\n")
    with pytest.raises(EmissError) as exc:
        load_grid(path)
    _one_line(exc, "$.patchsets[0].name", "^[a-zA-Z0-9_]+$")


def _toy_patchset(tmp_path) -> tuple[dict, dict]:
    from test_patches import make_spec, make_target

    from emiss.patches import build_patchset
    from emiss.patches.grid import make_entry

    return make_spec(), build_patchset(make_target(), make_entry("twobody-scalar", masses="1,2"),
                                       n_samples=0)


def test_bad_patch_block_on_read_and_write(tmp_path):
    from test_patches import make_target

    from emiss.inference.scan import scan
    from emiss.patches.assemble import make_patchset
    from emiss.patches.grid import make_entry
    from emiss.patches.hypotheses import resolve_entry
    from emiss.patches.templates import TemplateBuilder

    spec, ps = _toy_patchset(tmp_path)
    ps["patches"][1]["metadata"]["emiss"]["reference_branching_ratio"] = -1e-5
    with pytest.raises(EmissError) as exc:
        scan(spec, [ps], None, jobs=1, progress=False)
    _one_line(exc, "patch 'twobody_scalar_mX_2p00'", "$.reference_branching_ratio",
              "valid: a number > 0", "rebuild the PatchSet")
    builder = TemplateBuilder(make_target(), n_samples=0)
    res = resolve_entry(make_entry("twobody-scalar", masses="1"))
    t = builder.template(res, res.hypotheses[0])
    assert C.PatchBlock.from_dict(t.emiss).m_X == 1.0
    del t.emiss["process"]
    with pytest.raises(C.ContractError) as exc:
        make_patchset(spec, [t], ["m_X"], "d", "ins2725943")
    _one_line(exc, "patch 'twobody_scalar_mX_1p00'", "lacks the key 'process'")


def test_bad_results_on_read_and_write(tmp_path):
    from emiss.inference.results import load_results, write_results

    doc = {"format": C.RESULTS_FORMAT, "workspace_digest": "w", "patchset_digests": ["p"],
           "labels": ["m_X"], "options": {"cl": 0.95},
           "results": [{"name": "a", "patchset": 0, "status": "ok", "m_X": 1.0,
                        "mu_limit_exp": [1, 2, 3, 4]}]}
    out = tmp_path / "r.json"
    with pytest.raises(C.ContractError) as exc:
        write_results(out, doc)
    _one_line(exc, "results row 'a'", "r.json", "$.results[0].mu_limit_exp",
              "valid: a list of 5 numbers or nulls")
    assert not out.exists()
    doc["results"][0]["mu_limit_exp"] = [1, 2, 3, 4, 5]
    write_results(out, doc)
    assert load_results(out) == doc
    out.write_text(json.dumps({**doc, "patchset_digests": "p"}))
    with pytest.raises(EmissError) as exc:
        load_results(out)
    _one_line(exc, "results file", "r.json", "$.patchset_digests", "rerun the scan")


# ----------------------------------------------------------------------------- F_L in the block
def _fl_as_the_scan_computed_it(block: dict) -> dict:
    """What the scan computed at scan time before the polarisation travelled in the block."""
    from emiss.physics.observables import fl_row
    from emiss.physics.scenarios import get_scenario

    proc = next(p for p in ("B0->K*0", "B+->K*+")
                if p in {block["process"], *(block.get("reference_branching_ratios") or {})})
    spec = get_scenario(block["scenario"]).spectrum(
        proc, mass=block.get("m_X"), params=dict(block.get("parameters") or {}))
    fl = fl_row(spec)

    def r(x):
        return None if x is None else float(f"{x:.10g}")

    return {"FL_process": proc, "FL": r(fl["FL"]), "FL_binned": [r(v) for v in fl["FL_binned"]],
            "FL_q2_edges": fl["FL_q2_edges"]}


@pytest.mark.parametrize("folder", KSTAR_DIRS)
def test_kstar_rows_copy_the_polarisation_the_scan_computed(folder):
    from emiss.inference.scan import fl_fields

    for path in sorted((ROOT / "patches" / folder).glob("*.json")):
        patches = read_json(path)["patches"]
        for patch in patches[:: max(1, len(patches) // 3)]:
            block = patch["metadata"]["emiss"]
            got = fl_fields(C.PatchBlock.from_patch(patch))
            assert list(got) == ["FL_process", "FL", "FL_binned", "FL_q2_edges"]
            assert got == _fl_as_the_scan_computed_it(block), (path.name, patch["metadata"]["name"])


def test_scan_does_no_physics():
    """The scan copies F_L; it imports nothing of emiss.physics."""
    import ast

    tree = ast.parse((ROOT / "src" / "emiss" / "inference" / "scan.py").read_text())
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [n for n in names if n and n.startswith("emiss.physics")]


# ----------------------------------------------------------------------------- one home each
def test_one_bundle_class_with_the_sidecar_data():
    import emiss.patches
    import emiss.patches.target
    from emiss.bundles.bundle import Bundle
    from emiss.patches import load_target

    assert not hasattr(emiss.patches, "Target") and not hasattr(emiss.patches.target, "Target")
    t = load_target("belle2_combined_bkgonly")
    assert isinstance(t, Bundle) and t.name == "belle2_combined_bkgonly"
    assert t.hepdata == "ins2725943" and t.processes() == ["B+->K+"]
    assert set(t.channel_modifiers) == {"ita_onres", "ita_offres", "hta"}
    assert t.sm_reference == {"B+->K+": 4.97e-6} and t.sm_samples == {}
    assert t.reference_branching_ratio() == 4.97e-6
    ks = load_target("belle2_kstar_bkgonly", hepdata="ins0000001")
    assert ks.hepdata == "ins0000001" and ks.reference_branching_ratio() is None
    assert ks.processes() == ["B0->K*0", "B+->K*+"]


def test_one_workspace_resolver(tmp_path, monkeypatch):
    from emiss.bundles.bundle import resolve_workspace
    from emiss.cli._common import resolve_workspace as cli_resolve
    from emiss.publish.inputs import load_workspace

    monkeypatch.chdir(tmp_path)
    stem = "belle2_hta_bkgonly"
    installed = bundled_dir() / f"{stem}.json"
    for name in (stem, f"workspaces/{stem}.json"):
        assert resolve_workspace(name) == installed == cli_resolve(name)
    assert load_workspace(stem).path == installed
    assert cli_resolve("nope.json") is None
    assert resolve_workspace("nope.json", missing_ok=True) is None
    with pytest.raises(EmissError, match="'nope.json' does not exist"):
        resolve_workspace("nope.json")


def test_one_json_reader(tmp_path):
    from emiss.inference.scan import load_json_file

    bad = tmp_path / "b.json"
    bad.write_text("{nope")
    for call in (lambda p: read_json(p, "patchset"), lambda p: load_json_file(p, "patchset")):
        with pytest.raises(EmissError, match=r"patchset file '.*b.json' is not valid JSON"):
            call(bad)
        with pytest.raises(EmissError, match=r"patchset file '.*x.json' does not exist"):
            call(tmp_path / "x.json")
        with pytest.raises(EmissError, match="is a folder"):
            call(tmp_path)
