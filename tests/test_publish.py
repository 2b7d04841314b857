"""Tests of emiss publish: pallets, HEPData submissions, determinism and bad input.

The toy inputs (a 2-channel BkgOnly workspace, a PatchSet of three two-body-like hypotheses and a
results file naming them) are built here; the checks are external tools' verdicts (pyhf CLI,
hepdata-validator), pyhf's own CLs on the original files, and round-trips of the input numbers.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shlex
import tarfile
from pathlib import Path

import pyhf
import pytest
import yaml
from click.testing import CliRunner

from emiss.errors import EmissError
from emiss.publish import publish, tar_gz_bytes

ROOT = Path(__file__).resolve().parents[1]
MASSES = (0.5, 1.5, 2.5)
REF_BR = 1.0e-5


def _bkgonly() -> dict:
    def bkg(name, data, unc):
        return {
            "name": name,
            "data": data,
            "modifiers": [
                {"name": f"norm_{name}", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": f"stat_{name}", "type": "staterror", "data": unc},
            ],
        }

    return {
        "channels": [
            {"name": "ch_a", "samples": [bkg("bkg_a", [50.0, 40.0, 30.0, 20.0], [3.0, 3, 2, 2])]},
            {"name": "ch_b", "samples": [bkg("bkg_b", [12.0, 8.0, 5.0], [1.0, 1.0, 1.0])]},
        ],
        "observations": [
            {"name": "ch_a", "data": [52.0, 45.0, 29.0, 21.0]},
            {"name": "ch_b", "data": [13.0, 9.0, 4.0]},
        ],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _signal_ops(k: int) -> list[dict]:
    a = [0.0] * 4
    b = [0.0] * 3
    a[k] = 6.0 + k
    b[min(k, 2)] = 2.0
    ops = []
    for ch, data in ((0, a), (1, b)):
        ops.append(
            {
                "op": "add",
                "path": f"/channels/{ch}/samples/-",
                "value": {
                    "name": "signal",
                    "data": data,
                    "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                },
            }
        )
    return ops


def _patchset(ws: dict, scenario: str = "twobody-scalar") -> dict:
    patches = []
    for k, m in enumerate(MASSES):
        name = f"{scenario.replace('-', '_')}_mX_{str(m).replace('.', 'p')}"
        patches.append(
            {
                "metadata": {
                    "name": name,
                    "values": [m],
                    "emiss": {
                        "scenario": scenario,
                        "process": "B+->K+",
                        "reference_branching_ratio": REF_BR,
                        "coupling": {"name": "g", "reference_value": 1.0e-8},
                    },
                },
                "patch": _signal_ops(k),
            }
        )
    return {
        "metadata": {
            "description": "toy two-body hypotheses; mu = 1 is B = 1e-5",
            "digests": {"sha256": pyhf.utils.digest(ws)},
            "labels": ["m_X"],
            "references": {"hepdata": "ins2725943"},
        },
        "patches": patches,
        "version": "1.0.0",
    }


def _results(ws: dict, ps: dict) -> dict:
    rows = []
    for k, p in enumerate(ps["patches"]):
        mu_exp = [0.5 + k, 0.7 + k, 1.0 + k, 1.4 + k, 1.9 + k]
        rows.append(
            {
                "name": p["metadata"]["name"],
                "m_X": p["metadata"]["values"][0],
                "mu_limit_obs": 1.2 + k,
                "mu_limit_exp": mu_exp,
                "br_limit_obs": (1.2 + k) * REF_BR,
                "br_limit_exp": [x * REF_BR for x in mu_exp],
                "mu_hat": 0.1,
                "br_hat": 0.1 * REF_BR,
                "p0": 0.4,
                "Z": 0.25,
                "twice_nll": 10.0,
                "status": "ok",
            }
        )
    return {
        "format": "emiss-scan-results/1",
        "workspace_digest": pyhf.utils.digest(ws),
        "patchset_digests": [pyhf.utils.digest(ps)],
        "labels": ["m_X"],
        "options": {"cl": 0.95, "calctype": "asymptotics"},
        "results": rows,
    }


def _write(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path


@pytest.fixture()
def toy(tmp_path: Path) -> dict[str, Path]:
    ws = _bkgonly()
    ps = _patchset(ws)
    d = tmp_path / "in"
    d.mkdir()
    return {
        "ws": _write(d / "toy_bkgonly.json", ws),
        "ps": _write(d / "twobody.json", ps),
        "res": _write(d / "results.json", _results(ws, ps)),
    }


@pytest.fixture()
def published(toy, tmp_path: Path):
    out = tmp_path / "pub"
    res = publish(toy["ws"], [toy["ps"]], out, results=[toy["res"]], spectra=False)
    return out, res


@contextlib.contextmanager
def _chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _all_bytes(d: Path) -> dict[str, bytes]:
    return {
        p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
    }


def _pyhf(*args: str, cwd: Path) -> str:
    """Run the pyhf command line (its click group, in-process) in cwd; return its stdout."""
    from pyhf.cli import cli as pyhf_cli

    with _chdir(cwd):
        r = CliRunner().invoke(pyhf_cli, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


# ------------------------------------------------------------------------------------ outputs
def test_layout_and_readme(published, toy):
    out, res = published
    for name in (
        "BkgOnly.json",
        "patchset_twobody.json",
        "README.md",
        "pallet.tar.gz",
        "hepdata/submission.yaml",
        "hepdata/pallet.tar.gz",
        "hepdata_submission.tar.gz",
    ):
        assert (out / name).is_file(), name
    # the published JSON is the same content as the inputs (same pyhf digests)
    assert pyhf.utils.digest(json.loads((out / "BkgOnly.json").read_text())) == pyhf.utils.digest(
        json.loads(toy["ws"].read_text())
    )
    readme = (out / "README.md").read_text()
    assert "pyhf patchset extract patchset_twobody.json --name twobody_scalar_mX_1p5" in readme
    assert "--output-file patch.json" in readme
    assert "pyhf cls BkgOnly.json --patch patch.json" in readme
    assert "pyhf patchset verify BkgOnly.json patchset_twobody.json" in readme
    assert "patches: 3" in readme and "`twobody-scalar`" in readme and "μ = 1" in readme
    assert not list(out.parent.glob(".pub.*")), "temporary build directory left behind"


def test_pallet_verifies_and_gives_same_cls(published, toy, tmp_path):
    out, _ = published
    unpack = tmp_path / "unpacked"
    with tarfile.open(out / "pallet.tar.gz") as tar:
        names = sorted(tar.getnames())
        tar.extractall(unpack, filter="data")
    assert names == [
        "pallet",
        "pallet/BkgOnly.json",
        "pallet/README.md",
        "pallet/patchset_twobody.json",
    ]
    pal = unpack / "pallet"
    # run the README's "Reproduce a limit" commands literally, in the unpacked pallet
    readme = (pal / "README.md").read_text()
    block = readme.split("Reproduce a limit:", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert [c[:3] for c in commands] == [
        ["pyhf", "patchset", "verify"],
        ["pyhf", "patchset", "inspect"],
        ["pyhf", "patchset", "extract"],
        ["pyhf", "cls", "BkgOnly.json"],
    ]
    for cmd in commands:
        output = _pyhf(*cmd[1:], cwd=pal)
    cls_cli = json.loads(output)
    name = commands[2][commands[2].index("--name") + 1]
    assert name == "twobody_scalar_mX_1p5"
    # the same hypothesis on the original input files, with the pyhf Python API
    ws = pyhf.Workspace(json.loads(toy["ws"].read_text()))
    ps = pyhf.PatchSet(json.loads(toy["ps"].read_text()))
    model = ws.model(patches=[ps[name]])
    obs, exp = pyhf.infer.hypotest(
        1.0, ws.data(model), model, test_stat="qtilde", return_expected_set=True
    )
    assert cls_cli["CLs_obs"] == pytest.approx(float(obs), rel=1e-6)
    assert cls_cli["CLs_exp"] == pytest.approx([float(x) for x in exp], rel=1e-6)


def test_hepdata_submission_is_valid(published):
    from hepdata_validator.data_file_validator import DataFileValidator
    from hepdata_validator.full_submission_validator import FullSubmissionValidator
    from hepdata_validator.submission_file_validator import SubmissionFileValidator

    out, _ = published
    hep = out / "hepdata"
    full = FullSubmissionValidator(autoload_remote_schemas=False)
    assert full.validate(directory=str(hep)), full.get_messages()
    full = FullSubmissionValidator(autoload_remote_schemas=False)
    assert full.validate(archive=str(out / "hepdata_submission.tar.gz")), full.get_messages()
    sub_val = SubmissionFileValidator()
    assert sub_val.validate(file_path=str(hep / "submission.yaml")), sub_val.get_messages()
    docs = list(yaml.safe_load_all((hep / "submission.yaml").read_text()))
    resources = [r for d in docs for r in d.get("additional_resources", [])]
    pallet = [r for r in resources if r["location"] == "pallet.tar.gz"]
    assert len(pallet) == 1 and pallet[0]["type"] == "HistFactory"
    data_val = DataFileValidator()
    tables = {d["name"]: d for d in docs if "data_file" in d}
    for d in tables.values():
        assert data_val.validate(file_path=str(hep / d["data_file"])), data_val.get_messages()
    assert any(n.startswith("Upper limits twobody-scalar") for n in tables)
    assert {n for n in tables if n.startswith("Signal templates")} == {
        "Signal templates twobody ch_a",
        "Signal templates twobody ch_b",
    }


def test_limit_table_round_trips_results(published, toy):
    out, _ = published
    hep = out / "hepdata"
    docs = list(yaml.safe_load_all((hep / "submission.yaml").read_text()))
    doc = next(d for d in docs if d.get("name", "").startswith("Upper limits"))
    table = yaml.safe_load((hep / doc["data_file"]).read_text())
    assert [v["value"] for v in table["independent_variables"][0]["values"]] == list(MASSES)
    deps = {d["header"]["name"]: d for d in table["dependent_variables"]}
    rows = json.loads(toy["res"].read_text())["results"]
    obs = [v["value"] for v in deps["Observed upper limit on B"]["values"]]
    assert obs == pytest.approx([r["br_limit_obs"] for r in rows], rel=1e-5)
    exp = deps["Expected upper limit on B"]["values"]
    for v, r in zip(exp, rows, strict=True):
        e = r["br_limit_exp"]
        assert v["value"] == pytest.approx(e[2], rel=1e-5)
        errs = {x["label"]: x["asymerror"] for x in v["errors"]}
        assert errs["1 sigma"]["minus"] == pytest.approx(e[1] - e[2], rel=1e-4)
        assert errs["1 sigma"]["plus"] == pytest.approx(e[3] - e[2], rel=1e-4)
        assert errs["2 sigma"]["minus"] == pytest.approx(e[0] - e[2], rel=1e-4)
        assert errs["2 sigma"]["plus"] == pytest.approx(e[4] - e[2], rel=1e-4)


def test_signal_templates_hold_the_patch_yields(published, toy):
    out, _ = published
    hep = out / "hepdata"
    docs = list(yaml.safe_load_all((hep / "submission.yaml").read_text()))
    doc = next(d for d in docs if d.get("name") == "Signal templates twobody ch_a")
    table = yaml.safe_load((hep / doc["data_file"]).read_text())
    deps = {
        d["header"]["name"]: [v["value"] for v in d["values"]] for d in table["dependent_variables"]
    }
    for k, m in enumerate(MASSES):
        name = f"twobody_scalar_mX_{str(m).replace('.', 'p')}"
        assert deps[f"Signal {name}"] == _signal_ops(k)[0]["value"]["data"]
    assert deps["Data"] == [52.0, 45.0, 29.0, 21.0]
    assert deps["Background (pre-fit)"] == [50.0, 40.0, 30.0, 20.0]


def test_rerun_gives_identical_bytes(published, toy, tmp_path):
    out, _ = published
    again = tmp_path / "again"
    publish(toy["ws"], [toy["ps"]], again, results=[toy["res"]], spectra=False)
    a, b = _all_bytes(out), _all_bytes(again)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    # and the archives carry no time stamps or owners
    with tarfile.open(out / "hepdata_submission.tar.gz") as tar:
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()} == {
            (0, 0, 0, "", "")
        }
    assert (out / "pallet.tar.gz").read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime


def test_tarball_is_independent_of_insertion_order():
    files = {"b.json": b"{}", "a/README.md": b"x"}
    rev = dict(reversed(list(files.items())))
    assert tar_gz_bytes(files, top="t") == tar_gz_bytes(rev, top="t")
    assert (
        hashlib.sha256(tar_gz_bytes(files)).hexdigest()
        != hashlib.sha256(tar_gz_bytes({"b.json": b"{ }", "a/README.md": b"x"})).hexdigest()
    )


def _multi_results(ws: dict, pss: list[dict]) -> dict:
    """One results document for several PatchSets, as emiss scan writes it (row 'patchset')."""
    rows = []
    for i, ps in enumerate(pss):
        for row in _results(ws, ps)["results"]:
            rows.append({**row, "patchset": i})
    digests = [pyhf.utils.digest(ps) for ps in pss]
    return {
        "format": "emiss-scan-results/1",
        "workspace_digest": pyhf.utils.digest(ws),
        "patchset_digests": digests,
        "labels": ["m_X"],
        "options": {"cl": 0.9},
        "results": rows,
    }


def _table(hep: Path, name: str) -> dict:
    docs = list(yaml.safe_load_all((hep / "submission.yaml").read_text()))
    doc = next(d for d in docs if d.get("name") == name)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((hep / doc["data_file"]).read_text(), Loader=loader)


def _table_at(hep: Path, location: str) -> dict:
    """The table whose location is ``location`` (long channel names truncate table names)."""
    docs = list(yaml.safe_load_all((hep / "submission.yaml").read_text()))
    doc = next(d for d in docs if d.get("location") == location)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((hep / doc["data_file"]).read_text(), Loader=loader)


def test_spectra_and_multi_patchset_results(toy, tmp_path):
    pytest.importorskip("emiss.physics.scenarios")
    ws = json.loads(toy["ws"].read_text())
    ps2 = json.loads(toy["ps"].read_text())
    ps3 = _patchset(ws, scenario="threebody-scalar")
    p3 = _write(tmp_path / "in" / "threebody.json", ps3)
    res = _write(tmp_path / "in" / "both.json", _multi_results(ws, [ps2, ps3]))
    out = tmp_path / "pub"
    publish(toy["ws"], [toy["ps"], p3], out, results=[res], spectra=True, max_hypotheses=3)
    hep = out / "hepdata"
    # one limit table per scenario, at the scan's confidence level
    for scen in ("twobody-scalar", "threebody-scalar"):
        t = _table(hep, f"Upper limits {scen}")
        obs = t["dependent_variables"][0]
        assert [q["value"] for q in obs["qualifiers"] if q["name"] == "CL"] == ["90%"]
        assert len(obs["values"]) == len(MASSES)
    # two-body: an exact line at q^2 = m_X^2 carrying the whole reference B (mu = 1)
    lines = _table(hep, "Lines twobody-scalar B+ to K+")
    deps = {
        d["header"]["name"]: [v["value"] for v in d["values"]] for d in lines["dependent_variables"]
    }
    assert deps["Line $q^2$"] == pytest.approx([m**2 for m in MASSES], rel=1e-9)
    assert deps["Line B"] == pytest.approx([REF_BR] * len(MASSES), rel=1e-5)
    # three-body: a continuum, zero below the pair threshold 4 m_X^2, integrating to B_ref
    spec = _table(hep, "Spectrum threebody-scalar B+ to K+")
    bins = spec["independent_variables"][0]["values"]
    for dep in spec["dependent_variables"]:
        m = float(dep["header"]["name"].rsplit("_mX_", 1)[1].replace("p", "."))
        vals = [v["value"] for v in dep["values"]]
        assert all(v == 0 for b, v in zip(bins, vals, strict=True) if b["high"] <= 4 * m * m)
        assert any(v > 0 for b, v in zip(bins, vals, strict=True) if b["low"] >= 4 * m * m)
        total = sum(v * (b["high"] - b["low"]) for b, v in zip(bins, vals, strict=True))
        assert total == pytest.approx(REF_BR, rel=1e-3)
    assert not any(
        n.startswith("Spectrum twobody")
        for n in (
            d.get("name", "") for d in yaml.safe_load_all((hep / "submission.yaml").read_text())
        )
    )
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    full = FullSubmissionValidator(autoload_remote_schemas=False)
    assert full.validate(archive=str(out / "hepdata_submission.tar.gz")), full.get_messages()
    # physics tables included, the output is still byte-reproducible
    again = tmp_path / "again"
    publish(toy["ws"], [toy["ps"], p3], again, results=[res], spectra=True, max_hypotheses=3)
    assert _all_bytes(out) == _all_bytes(again)


# ---------------------------------------------------------------------------------- bad input
def test_results_rows_of_unpublished_patchsets_are_left_out(toy, tmp_path):
    ws = json.loads(toy["ws"].read_text())
    ps2 = json.loads(toy["ps"].read_text())
    ps3 = _patchset(ws, scenario="threebody-scalar")
    res = _write(tmp_path / "in" / "both.json", _multi_results(ws, [ps2, ps3]))
    out = tmp_path / "pub"
    publish(toy["ws"], [toy["ps"]], out, results=[res], spectra=False)
    names = [
        d.get("name") for d in yaml.safe_load_all((out / "hepdata" / "submission.yaml").read_text())
    ]
    assert "Upper limits twobody-scalar" in names
    assert not any(str(n).startswith("Upper limits threebody") for n in names)


def test_failure_midway_leaves_nothing_half_written(toy, tmp_path, monkeypatch):
    import emiss.publish.core as core

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(core, "write_submission", boom)
    out = tmp_path / "pub"
    with pytest.raises(RuntimeError, match="disk full"):
        publish(toy["ws"], [toy["ps"]], out, spectra=False)
    assert not out.exists()
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="disk full"):
        publish(toy["ws"], [toy["ps"]], old, spectra=False, force=True)
    assert sorted(p.name for p in old.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "old"]


def test_force_never_replaces_a_directory_holding_the_inputs(toy):
    indir = toy["ws"].parent
    with pytest.raises(EmissError, match="--force would delete"):
        publish(toy["ws"], [toy["ps"]], indir, spectra=False, force=True)
    assert toy["ws"].is_file() and toy["ps"].is_file()


def test_output_path_that_is_a_file_is_refused(toy, tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("x")
    with pytest.raises(EmissError, match="existing file, not a folder"):
        publish(toy["ws"], [toy["ps"]], f, spectra=False, force=True)


def test_digest_mismatch_is_refused(toy, tmp_path):
    other = _bkgonly()
    other["observations"][0]["data"][0] = 60.0
    ps = _write(tmp_path / "other.json", _patchset(other))
    out = tmp_path / "pub"
    with pytest.raises(EmissError, match="digest"):
        publish(toy["ws"], [ps], out)
    assert not out.exists()
    assert not list(tmp_path.glob(".pub.*"))


def test_occupied_output_is_refused_unless_force(toy, tmp_path):
    out = tmp_path / "pub"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(EmissError, match="not empty"):
        publish(toy["ws"], [toy["ps"]], out, spectra=False)
    assert (out / "keep.txt").read_text() == "mine"
    publish(toy["ws"], [toy["ps"]], out, spectra=False, force=True)
    assert not (out / "keep.txt").exists() and (out / "BkgOnly.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    publish(toy["ws"], [toy["ps"]], empty, spectra=False)  # an empty directory is fine
    assert (empty / "pallet.tar.gz").is_file()


def test_results_of_another_patchset_are_refused(toy, tmp_path):
    ws = json.loads(toy["ws"].read_text())
    ps = json.loads(toy["ps"].read_text())
    other_ps = _patchset(ws, scenario="threebody-scalar")
    res = _results(ws, other_ps)
    bad = _write(tmp_path / "r1.json", res)
    with pytest.raises(EmissError, match="patchset"):
        publish(toy["ws"], [toy["ps"]], tmp_path / "o1", results=[bad])
    # right digest claimed but names from another grid
    res2 = copy.deepcopy(res)
    res2["patchset_digests"] = [pyhf.utils.digest(ps)]
    with pytest.raises(EmissError, match="threebody_scalar_mX_0p5"):
        publish(
            toy["ws"], [toy["ps"]], tmp_path / "o2", results=[_write(tmp_path / "r2.json", res2)]
        )
    # results computed on another workspace
    res3 = _results(ws, ps)
    res3["workspace_digest"] = "0" * 64
    with pytest.raises(EmissError, match="workspace"):
        publish(
            toy["ws"], [toy["ps"]], tmp_path / "o3", results=[_write(tmp_path / "r3.json", res3)]
        )
    assert not any((tmp_path / f"o{k}").exists() for k in (1, 2, 3))


def test_cli_publish_and_error_exit(toy, tmp_path):
    from emiss.cli import cli, main

    out = tmp_path / "cli_out"
    r = CliRunner().invoke(
        cli,
        [
            "publish",
            str(toy["ws"]),
            str(toy["ps"]),
            "--results",
            str(toy["res"]),
            "--no-spectra",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "hepdata_submission.tar.gz").is_file()
    with pytest.raises(SystemExit) as exc:
        main(["publish", str(toy["ws"]), str(toy["ps"]), "-o", str(out)])
    assert exc.value.code == 2


def test_results_written_by_emiss_scan(toy, tmp_path):
    """The consumer reads the producer's real format (emiss.inference.scan on the toy)."""
    scan_mod = pytest.importorskip("emiss.inference.scan")
    ws = json.loads(toy["ws"].read_text())
    ps = json.loads(toy["ps"].read_text())
    res = tmp_path / "scan.json"
    doc = scan_mod.scan(ws, [ps], output=res, jobs=1, progress=False)
    out = tmp_path / "pub"
    publish(toy["ws"], [toy["ps"]], out, results=[res], spectra=False)
    t = _table(out / "hepdata", "Upper limits twobody-scalar")
    deps = {d["header"]["name"]: d["values"] for d in t["dependent_variables"]}
    ok = [r for r in doc["results"] if r["status"] == "ok"]
    assert len(ok) == len(MASSES)
    got = [v["value"] for v in deps["Observed upper limit on $\\mu$"]]
    assert got == pytest.approx([r["mu_limit_obs"] for r in ok], rel=1e-5)
    got = [v["value"] for v in deps["Observed upper limit on g"]]
    assert got == pytest.approx([r["coupling_limit_obs"] for r in ok], rel=1e-5)


# ---------------------------------------------------------------------------------- bundled
BUNDLED = ROOT / "workspaces" / "belle2_combined_bkgonly.json"


def test_bundled_workspace(tmp_path):
    _check_bundle(BUNDLED, tmp_path)


def test_publish_on_belle2s_released_likelihood(tmp_path):
    """The same checks on the shipped real likelihood (`belle2`)."""
    from emiss.bundles.bundle import resolve_workspace

    _check_bundle(resolve_workspace("belle2"), tmp_path)


def _check_bundle(workspace: Path, tmp_path: Path) -> None:
    """Publish a small grid on the bundled combined workspace: response tables, validity, pyhf."""
    from emiss.bundles import load_bundle
    from emiss.patches import generate, make_entry, write_patchset

    entry = make_entry("twobody-scalar", masses=[1.0, 2.0], name="tb")
    ps_path = write_patchset(tmp_path / "tb.json", generate(workspace, [entry], n_samples=0)["tb"])
    extra = []
    committed = ROOT / "patches" / workspace.stem.removesuffix("_bkgonly")
    if workspace == BUNDLED:  # the committed standard-grid patchsets, where present
        extra = [
            p for p in (committed / "sm.json", committed / "twobody_scalar.json") if p.is_file()
        ]
    out = tmp_path / "bundled"
    res = publish(workspace, [ps_path, *extra], out, spectra=True, max_hypotheses=2)
    assert "hepdata_submission.tar.gz" in res.files
    _pyhf("patchset", "verify", "BkgOnly.json", "patchset_tb.json", cwd=out)
    for p in extra:
        _pyhf("patchset", "verify", "BkgOnly.json", f"patchset_{p.stem}.json", cwd=out)
    name = json.loads(ps_path.read_text())["patches"][0]["metadata"]["name"]
    _pyhf(
        "patchset",
        "extract",
        "patchset_tb.json",
        "--name",
        name,
        "--output-file",
        "p.json",
        cwd=out,
    )
    # the extracted patch is the original one, so pyhf cls gives the same CLs (checked on the toy;
    # a hypotest on the 30-bin model is too slow for the test budget)
    original = json.loads(ps_path.read_text())["patches"][0]["patch"]
    assert json.loads((out / "p.json").read_text()) == original
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    full = FullSubmissionValidator(autoload_remote_schemas=False)
    assert full.validate(archive=str(out / "hepdata_submission.tar.gz")), full.get_messages()
    bundle = load_bundle(workspace)
    meta_text = bundle.meta.get("data_statement")
    if meta_text:
        assert meta_text.strip() in (out / "README.md").read_text()
    # the response tables hold the bundle's matrices: probabilities, one row per (true, reco) bin
    for ch, cr in bundle.response.channels.items():
        t = _table_at(out / "hepdata", f"Response of channel {ch}")  # names are truncated
        vals = [v["value"] for v in t["dependent_variables"][0]["values"]]
        n_reco, n_true = cr.matrix.shape
        assert len(vals) == n_reco * n_true
        assert all(0.0 <= v <= 1.0 for v in vals)
        assert vals == pytest.approx(cr.matrix.ravel().tolist(), rel=1e-5, abs=1e-12)
        # column sums = selection efficiency per true-q^2 bin, never above 1
        sums = [sum(vals[i * n_true + j] for i in range(n_reco)) for j in range(n_true)]
        assert max(sums) <= 1.0 + 1e-6


def test_importing_publish_leaves_pyyaml_loaders_working(published):
    """hepdata-lib breaks yaml.CLoader on import; emiss.publish repairs it."""
    full = getattr(yaml, "CLoader", yaml.Loader)
    assert yaml.load("a: {b: [1, 2]}", Loader=full) == {"a": {"b": [1, 2]}}


def test_kstar_bundle_publishes_valid_plain_file_names(tmp_path):
    """The B -> K* bundle (helicity-binned response) publishes a valid submission whose file
    names carry no shell wildcard ('K*0' becomes 'Kst0')."""
    from emiss.publish.hepdata import validation_messages

    ws = ROOT / "workspaces" / "belle2_kstar_bkgonly.json"
    ps = ROOT / "patches" / "belle2_kstar" / "sm.json"
    out = tmp_path / "pub"
    publish(ws, [ps], out, spectra=True)
    names = [p.name for p in (out / "hepdata").iterdir()]
    assert not [n for n in names if "*" in n], names
    assert any(n.startswith("response_") for n in names)
    assert any("kst0" in n for n in names), names
    assert validation_messages(directory=out / "hepdata") == []
