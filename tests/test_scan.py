"""emiss scan: digests, row contents against pyhf itself and known truths, order, retries, CLI."""

from __future__ import annotations

import json
import math

import pyhf
import pytest
import scan_toy as T

from emiss.errors import EmissError
from emiss.inference import executors
from emiss.inference.scan import scan

ENGINE = T.ENGINE


@pytest.fixture(scope="module")
def toy():
    ws = T.workspace(inject_mass=1.5, inject_mu=1.0)
    return ws, T.patchset(ws, [1.8, 1.2, 1.5]), T.sm_patchset(ws)


@pytest.fixture(scope="module")
def doc(toy):
    ws, ps, sm = toy
    return scan(ws, [ps, sm], None, jobs=1, engine=ENGINE, progress=False)


def test_digest_mismatch_names_both(toy):
    ws, ps, _ = toy
    other = T.workspace(inject_mass=None)
    with pytest.raises(EmissError) as err:
        scan(other, [ps], None, jobs=1)
    msg = str(err.value)
    assert pyhf.utils.digest(other) in msg and ps["metadata"]["digests"]["sha256"] in msg


def test_rows_in_patchset_order_with_digests(doc, toy):
    ws, ps, sm = toy
    assert [r["name"] for r in doc["results"]] == ["mX_1p800", "mX_1p200", "mX_1p500", "sm"]
    assert doc["workspace_digest"] == pyhf.utils.digest(ws)
    assert doc["patchset_digests"] == [pyhf.utils.digest(ps), pyhf.utils.digest(sm)]
    assert doc["labels"] == ["m_X", "C"]
    assert all(r["status"] == "ok" for r in doc["results"])


def test_injected_signal_is_recovered(doc):
    """Data = bkg + 1 x signal(m=1.5) exactly, so mu_hat = 1 and B_hat = B_ref there."""
    row = next(r for r in doc["results"] if r["name"] == "mX_1p500")
    assert row["m_X"] == 1.5
    assert row["mu_hat"] == pytest.approx(1.0, abs=2e-3)
    assert row["br_hat"] == pytest.approx(1e-5, rel=2e-3)
    # the true hypothesis fits best among the bumps
    others = [r["twice_nll"] for r in doc["results"] if r["name"] in ("mX_1p800", "mX_1p200")]
    assert row["twice_nll"] < min(others)


def test_unit_conversions(doc):
    """B = mu * B_ref (mu = 1 <-> B_ref) and g = g_ref sqrt(mu) (rate ~ g^2)."""
    for row in doc["results"]:
        ref = row["reference_branching_ratio"]
        assert row["br_limit_obs"] == pytest.approx(row["mu_limit_obs"] * ref, rel=1e-9)
        for b, m in zip(row["br_limit_exp"], row["mu_limit_exp"], strict=True):
            assert b == pytest.approx(m * ref, rel=1e-9)
        if row["scenario"] == "sm":
            assert "coupling_limit_obs" not in row
            continue
        assert row["coupling_name"] == "g"
        assert row["coupling_limit_obs"] == pytest.approx(1e-8 * math.sqrt(row["mu_limit_obs"]),
                                                          rel=1e-9)
        assert row["coupling_limit_exp"][2] == pytest.approx(
            1e-8 * math.sqrt(row["mu_limit_exp"][2]), rel=1e-9)


def test_limits_match_pyhf_upper_limit_and_cls(doc, toy):
    """The issue's check: emiss limits equal pyhf's upper_limit; CLs there is 0.05."""
    ws, ps, _ = toy
    row = next(r for r in doc["results"] if r["name"] == "mX_1p200")
    w = pyhf.Workspace(ws)
    model = w.model(patches=[ps["patches"][1]["patch"]])
    data = w.data(model)
    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model, level=0.05)
    assert row["mu_limit_obs"] == pytest.approx(float(obs), rel=1e-2)
    assert row["mu_limit_exp"] == pytest.approx([float(e) for e in exp], rel=1e-2)
    cls_obs = float(pyhf.infer.hypotest(row["mu_limit_obs"], data, model, test_stat="qtilde"))
    assert cls_obs == pytest.approx(0.05, abs=1e-3)
    _, cls_exp = pyhf.infer.hypotest(row["mu_limit_exp"][2], data, model, test_stat="qtilde",
                                     return_expected_set=True)
    assert float(cls_exp[2]) == pytest.approx(0.05, abs=1e-3)
    # expected band ordered -2 sigma < ... < +2 sigma
    assert row["mu_limit_exp"] == sorted(row["mu_limit_exp"])


def test_failed_fit_is_retried_then_reported(toy, monkeypatch):
    ws, ps, _ = toy

    class Broken:
        def analyse(self, ops, warm_start=None):
            raise RuntimeError("boom")

    monkeypatch.setattr(executors, "_analyser", lambda *a, **k: Broken())
    real = executors.pyhf_positive_bracket
    calls = []

    def bracket(spec, options, ops):
        calls.append(1)
        if len(calls) == 1:
            return real(spec, options, ops)
        raise RuntimeError("still broken")

    monkeypatch.setattr(executors, "pyhf_positive_bracket", bracket)
    doc = scan(ws, [ps], None, jobs=1, engine="fast", progress=False)
    rows = doc["results"]
    assert len(rows) == 3  # never dropped
    # scan order is by mass: 1.2 first -> rescued by the last strategy; the others fail
    first = next(r for r in rows if r["name"] == "mX_1p200")
    assert first["status"].startswith("ok (pyhf bracket from mu>0")
    assert first["mu_limit_obs"] > 0
    for r in rows:
        if r["name"] != "mX_1p200":
            assert r["status"].startswith("failed:")
            assert "boom" in r["status"] and "still broken" in r["status"]
            assert r["mu_limit_obs"] is None and r["br_limit_obs"] is None


def test_names_filter_and_unknown_name(toy):
    ws, ps, sm = toy
    with pytest.raises(EmissError, match="nope"):
        scan(ws, [ps, sm], None, names=["nope"], jobs=1)


def test_cli_scan_csv_and_error_exit(tmp_path):
    from emiss.cli import main

    wsf, psf, smf = T.write_inputs(tmp_path, [1.4, 1.6])
    out = tmp_path / "res.json"
    main(["scan", wsf, psf, smf, "-o", str(out), "--csv", "--names", "mX_1p400,sm",
          "--jobs", "1", "--engine", ENGINE, "-q"])
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["results"]] == ["mX_1p400", "sm"]
    header = (tmp_path / "res.csv").read_text().splitlines()[0].split(",")
    assert {"name", "m_X", "mu_limit_exp_median", "br_limit_exp_+2sigma", "Z"} <= set(header)
    assert not (tmp_path / "res.json.journal.jsonl").exists()
    # a patchset made for another workspace: one-line error, exit 2
    other = tmp_path / "other.json"
    other.write_text(json.dumps(T.workspace(inject_mass=None)))
    with pytest.raises(SystemExit) as ex:
        main(["scan", str(other), psf, "-o", str(tmp_path / "x.json"), "-q"])
    assert ex.value.code == 2
    assert not (tmp_path / "x.json").exists()


def test_csv_says_which_data_it_came_from():
    import csv
    import io

    from emiss.inference.results import csv_text

    rows = [{"name": "a", "m_X": 1.0, "mu_limit_exp": [1, 2, 3, 4, 5]}, {"name": "b", "m_X": 2.0}]
    label = "emulated data (not recorded data)"
    got = list(csv.DictReader(io.StringIO(csv_text({"results": rows,
                                                    "workspace": {"label": label}}))))
    assert [r["data"] for r in got] == [label, label]
    assert list(got[0])[-1] == "data" and got[0]["mu_limit_exp_median"] == "3"
    plain = csv_text({"results": rows})
    assert "data" not in plain.splitlines()[0].split(",")


# ----------------------------------------------------------------------------- K* F_L (issue 7.4)
def test_k_only_rows_carry_no_fl(doc):
    assert not any(k.startswith("FL") for r in doc["results"] for k in r)


def test_kstar_rows_report_binned_fl():
    """Scan rows of B -> K* patches carry <F_L>: a scalar X line is purely longitudinal
    (B (J=0) -> K* (helicity 0) + scalar (J=0)), so F_L = 1 in the bin holding q^2 = m_X^2 and
    no rate elsewhere; the SM F_L = 0.47 +- 0.03 (arXiv:1409.4557)."""
    from pathlib import Path

    from emiss.io import read_json

    root = Path(__file__).resolve().parents[1]
    ps = [read_json(root / "patches" / "belle2_kstar" / f"{n}.json")
          for n in ("twobody_scalar", "sm")]
    doc = scan(root / "workspaces" / "belle2_kstar_bkgonly.json", ps, None,
               names=["twobody_scalar_mX_2p10", "sm"], jobs=1, engine=ENGINE, progress=False)
    line, sm = doc["results"]
    assert line["FL_process"] == "B0->K*0" and line["FL"] == pytest.approx(1.0, abs=1e-12)
    edges = line["FL_q2_edges"]
    held = [lo <= 2.1**2 < hi for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    assert [v == pytest.approx(1.0) if h else v is None
            for v, h in zip(line["FL_binned"], held, strict=True)] == [True] * len(held)
    assert sm["FL"] == pytest.approx(0.47, abs=0.03)
    assert all(0 < v < 1 for v in sm["FL_binned"])


def test_polarisation_follows_the_chirality_of_heavy_np():
    """B -> K* nu nubar with (C_L, C_R) (arXiv:1409.4557, eta parametrisation:
    F_L = F_L^SM (1 + 2 eta) / (1 + kappa_eta eta), eta = -Re(C_L C_R*) / (|C_L|^2 + |C_R|^2)):
    C_L = C_R (eta = -1/2, A_0 ~ C_L - C_R = 0) leaves no longitudinal rate, F_L = 0; C_R = 0
    (eta = 0) gives the SM F_L in every bin; eta < 0 lowers F_L. The K + K* combination's
    patches carry the polarisation of its K* process, which the rows copy."""
    from emiss.inference.scan import fl_fields, kstar_process
    from emiss.patches.metadata import polarisation

    kk = ("B+->K+", "B0->K*0", "B+->K*+")

    def fl(**params):
        return polarisation("heavy-np", kk, None, params).row_fields()

    block = {"scenario": "heavy-np", "process": "B+->K+", "reference_branching_ratio": 1e-5,
             "coupling": None, "reference_branching_ratios": {"B+->K+": 1e-5, "B0->K*0": 2e-5}}
    assert kstar_process(block) == "B0->K*0" and fl_fields(block) == {}  # built without it
    assert polarisation("heavy-np", ("B+->K+",), None, {"C_L": -6.0, "C_R": 0.0}) is None
    same = fl(C_L=-4.0, C_R=-4.0)
    assert same["FL_process"] == "B0->K*0" and same["FL"] == pytest.approx(0.0, abs=1e-9)
    sm = polarisation("sm", ("B0->K*0",), None, {}).row_fields()
    only_l = fl(C_L=-13.0, C_R=0.0)
    assert only_l["FL_binned"] == pytest.approx(sm["FL_binned"], rel=1e-8)
    # eta = -0.3: F_L = F_L^SM 0.4 / (1 - 0.3 kappa_eta) < F_L^SM for any kappa_eta < 2
    assert fl(C_L=-6.0, C_R=-2.0)["FL"] < sm["FL"] - 0.05
    # the rows copy the block's polarisation unchanged
    pol = polarisation("heavy-np", kk, None, {"C_L": -6.0, "C_R": -2.0})
    assert fl_fields({**block, "polarisation": pol.to_dict()}) == pol.row_fields()


# ------------------------------------------------------------- interrupts and progress (pyhf #2013)
def test_interrupt_leaves_no_results_file_or_the_old_one_whole(toy, tmp_path, monkeypatch):
    """Ctrl-C after the first chunk: no results file (the journal keeps the chunk); Ctrl-C
    while the file is written: no file, no temporary left, an older file unchanged."""
    from emiss.errors import Interrupted

    ws, ps, _ = toy
    out = tmp_path / "r.json"
    real = executors.analyse_chunk
    calls = []

    def interrupted(spec, options, items):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(spec, options, items)

    monkeypatch.setattr(executors, "analyse_chunk", interrupted)
    with pytest.raises(Interrupted, match="--resume"):
        scan(ws, [ps], out, jobs=1, chunk_size=1, progress=False)
    assert not out.exists()
    assert (tmp_path / "r.json.journal.jsonl").read_text().count('"kind": "chunk"') == 1
    monkeypatch.setattr(executors, "analyse_chunk", real)

    out.write_text("an older results file\n")
    import emiss.io as io_mod

    real_all = io_mod._write_all

    def half(fd, blob):  # the atomic write of the results file, cut by Ctrl-C halfway
        real_all(fd, blob[: len(blob) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(io_mod, "_write_all", half)
    with pytest.raises(Interrupted):
        scan(ws, [ps], out, jobs=1, chunk_size=1, progress=False, resume=True)
    assert out.read_text() == "an older results file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.json.journal.jsonl"]


def test_progress_on_stderr_only_when_asked_or_a_terminal(tmp_path, capsys):
    from cli_run import run

    wsf, psf, _ = T.write_inputs(tmp_path, [1.4])
    base = ["scan", wsf, psf, "--jobs", "1", "--engine", ENGINE]
    code, out, err = run(capsys, *base, "-o", str(tmp_path / "a.json"))
    assert code == 0 and err == ""  # stderr is not a terminal here
    code, out2, err = run(capsys, *base, "-o", str(tmp_path / "b.json"), "--progress")
    assert code == 0 and "emiss scan" in err and "1/1" in err
    assert "emiss scan" not in out2 and out2.splitlines()[1:] == out.splitlines()[1:]
