"""Toys of the look-elsewhere study merge across jobs (``emiss compare --save-toys/--toys``).

The scan: five independent Poisson bins with known background b = 20 and no nuisances;
hypothesis i puts its signal only into bin i, and bin 3 holds an excess (n = 32). The observed
q0 of hypothesis i is the Poisson likelihood ratio of bin i alone,
q0 = 2 (n ln(n / b) - (n - b)) for n > b (arXiv:1007.1727, Eq. 12), largest at bin 3.

* two jobs of 30 toys (seeds 1 and 2) merged are 60 toys, and p_global = (k1 + k2) / 60 with
  k_i the toys of job i at or above the observed max q0, counted in each job's file;
* the merge does not depend on the order of the files, equals the summary of the concatenated
  toys, and equals one job's file plus the other job's toys drawn again (--global-toys);
* files of another likelihood, mass grid or reference level, a file or seed given twice, and
  a missing workspace are refused with one line and exit 2, before any fit and writing nothing;
* a toy file survives a round trip through its contract.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from _counting import counting_workspace, patchset
from cli_run import run

from emiss import contracts as C
from emiss.io import dumps_json, round_sig

NB, B, N_EXCESS, K_EXCESS, N_TOYS = 5, 20.0, 32, 2, 30
OBS = [21, 17, N_EXCESS, 24, 18]
SCEN = "twobody-scalar"


def _q0(n: float, b: float) -> float:
    """Poisson q0 of one bin with known background (0 for a deficit)."""
    return 2 * (n * math.log(n / b) - (n - b)) if n > b else 0.0


Q0_MAX = _q0(N_EXCESS, B)


def _patches(scale: float = 10.0) -> list[dict]:
    out = []
    for i in range(NB):
        sig = [0.0] * NB
        sig[i] = scale
        out.append({"metadata": {"name": f"m{i + 1}", "values": [float(i + 1)],
                                 "emiss": {"scenario": SCEN, "process": "B+->K+",
                                           "reference_branching_ratio": 1e-5}},
                    "patch": [{"op": "add", "path": "/channels/0/samples/0",
                               "value": {"name": "sig", "data": sig, "modifiers": [
                                   {"name": "mu", "type": "normfactor", "data": None}]}}]})
    return out


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """The scan's inputs and results, and the toy files of two jobs (seeds 1 and 2)."""
    from emiss.inference.scan import scan

    d = tmp_path_factory.mktemp("toys_merge")
    ws = counting_workspace(OBS, [B] * NB)
    ps = patchset(ws, _patches())
    (d / "ws.json").write_text(json.dumps(ws))
    (d / "ps.json").write_text(json.dumps(ps))
    scan(ws, [ps], d / "res.json", jobs=1)
    for seed in (1, 2):
        code = _main("compare", str(d / "res.json"), *_inputs(d), "--global-toys", str(N_TOYS),
                     "--toy-seed", str(seed), "--save-toys", str(d / f"t{seed}.json"))
        assert code == 0
    return d


def _main(*args: str) -> int:
    from emiss.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _inputs(d: Path) -> list[str]:
    return ["--workspace", str(d / "ws.json"), "--patchset", str(d / "ps.json")]


def _compare(capsys, d: Path, *args: str) -> dict:
    code, out, err = run(capsys, "compare", str(d / "res.json"), *_inputs(d), "--json", *args)
    assert code == 0, err
    return json.loads(out)


def _global(cmp: dict) -> dict:
    (entry,) = cmp["workspaces"][0]["scenarios"]
    return entry["global"]


def _file(d: Path, name: str) -> dict:
    return json.loads((d / name).read_text())["scenarios"][SCEN]


# ----------------------------------------------------------------------------- merging
def test_two_jobs_merge_into_one_p_value(jobs, capsys):
    g = _global(_compare(capsys, jobs, "--toys", str(jobs / "t1.json"),
                         "--toys", str(jobs / "t2.json")))
    t = g["toys"]
    assert g["q0_max"] == pytest.approx(Q0_MAX, rel=1e-5)
    assert t["q0_max_engine"] == pytest.approx(Q0_MAX, rel=1e-5)
    assert t["best_mass_engine"] == K_EXCESS + 1
    # the observed max q0 unrounded (the comparison rounds to 6 digits; a toy with the
    # observed count ties with it up to the fit's precision)
    from emiss.inference.results import load_results
    from emiss.studies.global_toys import global_toys

    merged = global_toys([load_results(jobs / "res.json")], jobs / "ws.json",
                         [jobs / "ps.json"], 0,
                         toy_files=[jobs / "t1.json", jobs / "t2.json"])[SCEN]
    q_obs = merged["q0_max"]
    k = []
    for name, seed in (("t1.json", 1), ("t2.json", 2)):
        sc = _file(jobs, name)
        assert sc["n_toys"] == N_TOYS and [j["seed"] for j in sc["jobs"]] == [seed]
        k.append(sum(q >= q_obs for q in sc["q0_max"]))
    assert t["n_toys"] == 2 * N_TOYS and t["n_jobs"] == 2
    assert t["n_exceeding"] == sum(k)
    assert merged["toys"]["p_global"] == sum(k) / (2 * N_TOYS)
    assert t["p_global"] == round_sig(sum(k) / (2 * N_TOYS), 6, flush=False)  # as printed
    # five independent bins: P(max q0 >= q_obs) = 1 - (1 - P(n >= 32 | 20))^5 ~ 0.03; the
    # 60 toys see it within their binomial error (4 sigma)
    from scipy.stats import poisson

    exact = 1 - (1 - poisson.sf(N_EXCESS - 1, B)) ** NB
    assert abs(t["p_global"] - exact) < 4 * math.sqrt(exact * (1 - exact) / 60) + 1 / 60
    # each job alone: its own count over its own toys
    one = _global(_compare(capsys, jobs, "--toys", str(jobs / "t1.json")))["toys"]
    assert one["n_toys"] == N_TOYS and one["n_exceeding"] == k[0]


def test_merge_does_not_depend_on_the_order(jobs, capsys, tmp_path):
    a = run(capsys, "compare", str(jobs / "res.json"), *_inputs(jobs), "--json",
            "--toys", str(jobs / "t1.json"), "--toys", str(jobs / "t2.json"),
            "--save-toys", str(tmp_path / "a.json"))
    b = run(capsys, "compare", str(jobs / "res.json"), *_inputs(jobs), "--json",
            "--toys", str(jobs / "t2.json"), "--toys", str(jobs / "t1.json"),
            "--save-toys", str(tmp_path / "b.json"))
    assert a[0] == b[0] == 0 and a[1] == b[1]
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    merged = _file(tmp_path, "a.json")
    assert [j["seed"] for j in merged["jobs"]] == [1, 2]
    assert merged["q0_max"] == _file(jobs, "t1.json")["q0_max"] + _file(jobs, "t2.json")[
        "q0_max"]
    # one job's file plus the other job's toys drawn again: the same toys, the same numbers
    c = run(capsys, "compare", str(jobs / "res.json"), *_inputs(jobs), "--json",
            "--toys", str(jobs / "t2.json"), "--global-toys", str(N_TOYS), "--toy-seed", "1",
            "--save-toys", str(tmp_path / "c.json"))
    assert c[0] == 0 and c[1] == a[1]
    assert (tmp_path / "c.json").read_bytes() == (tmp_path / "a.json").read_bytes()
    # a merged file merges further (seeds 1, 2 + 3)
    code, out, err = run(capsys, "compare", str(jobs / "res.json"), *_inputs(jobs), "--json",
                         "--toys", str(tmp_path / "a.json"), "--global-toys", "10",
                         "--toy-seed", "3")
    assert code == 0, err
    assert _global(json.loads(out))["toys"]["n_toys"] == 2 * N_TOYS + 10


def test_merged_summary_is_the_summary_of_the_concatenated_toys(jobs):
    """The merged summary equals the summary of one set holding every toy (read from the
    files, concatenated) and the p-value and means computed here from those lists."""
    from emiss.inference.lee import ToyJob, toy_significance
    from emiss.inference.results import load_results
    from emiss.studies.global_toys import global_toys

    docs = [load_results(jobs / "res.json")]
    merged = global_toys(docs, jobs / "ws.json", [jobs / "ps.json"], 0,
                         toy_files=[jobs / "t2.json", jobs / "t1.json"])[SCEN]
    f1, f2 = _file(jobs, "t1.json"), _file(jobs, "t2.json")
    q = np.array(f1["q0_max"] + f2["q0_max"])
    up = np.array(f1["upcrossings"] + f2["upcrossings"])
    phi = np.array(f1["excursion_components"] + f2["excursion_components"])
    observed = {k: v for k, v in merged.items()
                if k not in ("toys", "gross_vitells_toys", "seeds")}
    one = toy_significance(observed, [ToyJob(0, q, up, phi, 0)])
    toys = dict(merged["toys"])
    assert toys.pop("n_jobs") == 2 and merged["seeds"] == [1, 2]
    assert toys == one["toys"]
    assert merged["gross_vitells_toys"] == one["gross_vitells_toys"]
    # and from the lists themselves
    assert toys["p_global"] == np.mean(q >= merged["q0_max"])
    assert toys["mean_upcrossings"] == pytest.approx(up.sum() / up.size, rel=1e-15)
    assert toys["mean_euler_characteristic"] == pytest.approx(phi.sum() / phi.size, rel=1e-15)
    assert toys["n_failed"] == f1["n_failed"] + f2["n_failed"] == 0


def test_single_job_keeps_its_numbers(jobs, capsys):
    """A job's toys read back from its file give the numbers of the run that wrote it."""
    run_ = _global(_compare(capsys, jobs, "--global-toys", str(N_TOYS), "--toy-seed", "1"))
    read = _global(_compare(capsys, jobs, "--toys", str(jobs / "t1.json")))
    assert read["toys"].pop("n_jobs") == 1
    assert read == run_


# ----------------------------------------------------------------------------- refusals
def _variant(jobs: Path, tmp: Path, name: str, edit) -> Path:
    doc = json.loads((jobs / "t2.json").read_text())
    edit(doc)
    out = tmp / name
    out.write_text(json.dumps(doc))
    return out


def _refused(capsys, jobs: Path, tmp: Path, *args: str, match: str) -> str:
    code, out, err = run(capsys, "compare", str(jobs / "res.json"), *args,
                         "--save-toys", str(tmp / "never.json"))
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("emiss: error: "), err
    assert match in lines[0], lines[0]
    assert not (tmp / "never.json").exists()
    return lines[0]


def _set(path: str, value):
    def edit(doc):
        node = doc["scenarios"][SCEN] if path != "workspace_digest" else doc
        node[path] = value
    return edit


def test_refusals_are_one_line_exit_2(jobs, capsys, tmp_path):
    t1 = str(jobs / "t1.json")
    ins = _inputs(jobs)
    other_ws = _variant(jobs, tmp_path, "ws.json", _set("workspace_digest", "0" * 64))
    other_ps = _variant(jobs, tmp_path, "ps.json", _set("patchset_digest", "0" * 64))
    other_grid = _variant(jobs, tmp_path, "grid.json", _set("masses", [1.0, 2.0, 3.0, 4.0, 6.0]))
    other_level = _variant(jobs, tmp_path, "level.json", _set("ref_level", 2.0))
    same_seed = tmp_path / "t1_copy.json"
    shutil.copy(t1, same_seed)
    # between files
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--toys", str(other_ws),
             match="different workspaces")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--toys", str(other_ps),
             match="different PatchSets")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--toys", str(other_grid),
             match="different mass grids")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--toys", str(other_level),
             match="different reference levels")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--toys", str(same_seed),
             match="seed 1 is in toy files")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--toys", t1, match="given twice")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--global-toys", "5",
             "--toy-seed", "1", match="--toy-seed 1 is a seed of toy file")
    # against this scan
    _refused(capsys, jobs, tmp_path, *ins, "--toys", str(other_ws),
             match="not of --workspace")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", str(other_ps), match="not for --patchset")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", str(other_grid),
             match="refitted over 5 masses 1...6")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", t1, "--gv-level", "2",
             match="--gv-level 1 (now 2)")
    _refused(capsys, jobs, tmp_path, "--toys", t1, match="--toys needs --workspace")
    # broken files
    short = _variant(jobs, tmp_path, "short.json", _set("n_toys", N_TOYS + 1))
    _refused(capsys, jobs, tmp_path, *ins, "--toys", str(short),
             match="q0_max has 30 entries; valid: n_toys = 31")
    _refused(capsys, jobs, tmp_path, *ins, "--toys", str(jobs / "res.json"),
             match="toy file")
    code, _, err = run(capsys, "compare", str(jobs / "res.json"), "--save-toys",
                       str(tmp_path / "never.json"))
    assert code == 2 and "--save-toys needs toys" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- contract
def test_a_toy_file_survives_a_round_trip(jobs, tmp_path):
    raw = C.read(jobs / "t1.json", "toys")
    typed = C.ToysFile.from_dict(raw)
    assert typed.format == C.TOYS_FORMAT and typed.label == "m_X"
    sc = typed.scenarios[SCEN]
    assert sc.n_toys == N_TOYS and sc.seeds == [1] and sc.ref_level == 1.0
    assert sc.masses == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert len(sc.upcrossings) == len(sc.excursion_components) == N_TOYS
    assert all(p >= u for p, u in zip(sc.excursion_components, sc.upcrossings, strict=True))
    assert typed.to_dict() == raw
    # the written form is the deterministic JSON of the document, and reads back the same
    C.write(tmp_path / "again.json", typed.to_dict(), "toys")
    assert (tmp_path / "again.json").read_text() == dumps_json(raw)
    assert (tmp_path / "again.json").read_bytes() == (jobs / "t1.json").read_bytes()
    # a broken document is refused on writing: nothing is written
    bad = typed.to_dict()
    bad["scenarios"][SCEN]["upcrossings"][0] = -1
    with pytest.raises(C.ContractError, match=r"upcrossings.*valid: a number >= 0"):
        C.write(tmp_path / "bad.json", bad, "toys")
    assert not (tmp_path / "bad.json").exists()
