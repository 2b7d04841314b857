"""Honest summaries (issue 10.5): compare marks intervals the grid does not resolve and names
its significances consistently, defaults that change physics are printed, one mass-range text,
emiss project prints no unexplained nan or empty header, emiss scan ends with a summary table
and records which workspace (and data) it read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scan_toy as T
from cli_run import run as _run

from emiss.inference.compare import compare, format_table, interval_from_profile
from emiss.inference.results import summary_rows, summary_table

ROOT = Path(__file__).resolve().parents[1]




# ----------------------------------------------------------------------------- compare
def _rows(x, t, scenario="twobody-scalar"):
    return [{"name": f"p{i}", "m_X": float(m), "twice_nll": float(v), "status": "ok",
             "scenario": scenario, "Z": 3.9, "br_hat": 1e-5, "mu_hat": 1.0}
            for i, (m, v) in enumerate(zip(x, t, strict=True))]


def test_interval_inside_one_grid_step_is_unresolved():
    """-2 ln L = ((m - 2)/0.05)^2 on a 0.25 GeV grid: the true interval [1.95, 2.05] is far
    narrower than the grid; the neighbours sit at Delta = 25, so neither side is resolved."""
    x = np.array([1.5, 1.75, 2.0, 2.25, 2.5])
    iv = interval_from_profile(x, ((x - 2.0) / 0.05) ** 2)
    assert not iv["lower_resolved"] and not iv["upper_resolved"]
    assert iv["step_lower"] == pytest.approx(0.25) and iv["step_upper"] == pytest.approx(0.25)
    assert iv["upper"] - iv["lower"] < 0.25  # what the table must not present as measured
    doc = {"workspace_digest": "w" * 64, "results": _rows(x, ((x - 2.0) / 0.05) ** 2)}
    cmp = compare([doc])
    e = cmp["workspaces"][0]["scenarios"][0]
    assert e["interval_resolved"] == [False, False] and e["grid_step"] == [0.25, 0.25]
    table = format_table(cmp)
    assert re.search(r"\[\S+\*, \S+\*\]", table), table
    assert "within one grid step" in table


def test_finely_sampled_interval_is_resolved():
    x = np.round(np.arange(1.5, 2.51, 0.02), 10)
    iv = interval_from_profile(x, ((x - 2.0) / 0.1) ** 2)
    assert iv["lower_resolved"] and iv["upper_resolved"]
    assert iv["lower"] == pytest.approx(1.9, abs=1e-9)
    assert iv["upper"] == pytest.approx(2.1, abs=1e-9)
    doc = {"workspace_digest": "w" * 64, "results": _rows(x, ((x - 2.0) / 0.1) ** 2)}
    table = format_table(compare([doc]))
    assert "*" not in table.splitlines()[3] and "grid step" not in table


def test_significance_columns_are_named_and_documented_alike():
    """Both significances are local; the table and docs/interfaces.md name what each tests."""
    x = np.array([1.0, 2.0, 3.0])
    doc = {"workspace_digest": "w" * 64,
           "results": _rows(x, [10.0, 0.0, 10.0]) + [
               {"name": "sm", "scenario": "sm", "twice_nll": 9.0, "status": "ok",
                "mu_hat": 4.5, "br_hat": 2.2e-5}]}
    table = format_table(compare([doc]))
    header = next(line for line in table.splitlines() if "Z_loc vs SMxmu" in line)
    for col in ("Z_loc vs SM", "Z_loc vs SMxmu", "D(-2lnL) vs SMxmu"):
        assert col in header
    assert "Z(vs SM mu=1)" not in table and "Z_local " not in header
    # columns are right-aligned: the value ends where its header ends
    end = header.index("Z_loc vs SMxmu") + len("Z_loc vs SMxmu")
    lines = table.splitlines()
    row = lines[lines.index(header) + 1][:end].split()
    assert float(row[-1]) == pytest.approx(3.0)  # sqrt(9 - 0)
    docs = (ROOT / "docs" / "interfaces.md").read_text() + (ROOT / "docs" / "workspaces.md")\
        .read_text()
    for col in ("Z_loc vs SM", "Z_loc vs SMxmu"):
        assert col in docs, f"docs do not explain the column {col!r}"


# ----------------------------------------------------------------------------- defaults, masses
def test_rate_says_when_the_default_mass_is_used(capsys):
    code, out, err = _run(capsys, "rate", "twobody-scalar", "--process", "B+->K+",
                          "--samples", "4")
    assert code == 0 and "scenario default" in out
    assert err.startswith("emiss: note:") and "2.1 GeV" in err
    code, out, err = _run(capsys, "rate", "twobody-scalar", "--process", "B+->K+",
                          "--samples", "4", "--json")
    assert json.loads(out)["mass_is_default"] is True and "note" in err
    code, out, err = _run(capsys, "rate", "twobody-scalar", "--process", "B+->K+",
                          "--mass", "2.1", "--samples", "4", "--json")
    assert json.loads(out)["mass_is_default"] is False and err == ""
    code, out, err = _run(capsys, "rate", "sm", "--process", "B+->K+", "--samples", "4")
    assert code == 0 and err == ""  # no mass, nothing to say


@pytest.mark.parametrize("scenario, mass, low", [
    ("twobody-vector", "0", "0 < m_X"), ("twobody-vector", "5", "0 < m_X"),
    ("twobody-scalar", "5", "0 <= m_X"), ("threebody-vector", "0", "0 < m_X (each of the pair)"),
    ("threebody-scalar", "3", "0 <= m_X (each of the pair)")])
def test_one_mass_range_text_everywhere(capsys, tmp_path, scenario, mass, low):
    """rate, spectrum and patchset state the same allowed range for the same scenario."""
    texts = []
    for args in (("rate", scenario, "--process", "B+->K+", "--mass", mass),
                 ("spectrum", scenario, "--process", "B+->K+", "--mass", mass, "--q2", "1"),
                 ("patchset", "belle2_hta_bkgonly", "--scenario", scenario, "--masses", mass,
                  "-o", str(tmp_path / "x.json"))):
        code, _, err = _run(capsys, *args)
        assert code == 2, err
        texts.append(err.split("valid: ")[1].strip())
    assert len(set(texts)) == 1 and texts[0].startswith(low), texts


# ----------------------------------------------------------------------------- project table
def test_project_table_has_no_unexplained_nan_or_empty_header():
    from emiss.cli.project_cmds import _table

    doc = {"settings": {"limit_variants": ["Kstar"]},
           "sm": [{"lumi_ab": 1.0, "workspace": "K", "Z": 4.0, "precision": 0.3,
                   "br_limit": {"0.9": None, "0.95": None}},
                  {"lumi_ab": 1.0, "workspace": "Kstar", "Z": 1.0, "precision": None,
                   "br_limit": {"0.9": 2e-5, "0.95": 2.5e-5}}],
           "limits": [{"lumi_ab": 1.0, "scenario": "twobody-scalar", "m_X": 2.1,
                       "workspace": "Kstar", "br_limit": {"0.9": 1e-5, "0.95": None},
                       "Z_benchmark": None}],
           "separation": []}
    text = _table(doc)
    assert "nan" not in text.lower()
    assert "limits not computed on K; add them to --limits-on" in text
    sep = text.split("Separation")[1].splitlines()
    assert len(sep) == 2 and "give --scenario twice" in sep[1]


# ----------------------------------------------------------------------------- scan summary
def test_summary_rows_pick_best_max_z_and_strongest_limit():
    rows = [{"name": n, "scenario": "twobody-scalar", "m_X": m, "twice_nll": t, "Z": z,
             "br_limit_obs": lim, "br_hat": 1e-5, "status": "ok"}
            for n, m, t, z, lim in (("a", 0.5, 10.0, 1.0, 3e-6), ("b", 2.1, 2.0, 3.9, 9e-6),
                                    ("c", 3.0, 4.0, 4.2, 5e-6))]
    rows.append({"name": "d", "scenario": "twobody-scalar", "m_X": 4.0, "twice_nll": None,
                 "Z": None, "br_limit_obs": None, "status": "failed: x"})
    rows.append({"name": "sm", "scenario": "sm", "twice_nll": 5.0, "Z": 2.0,
                 "br_limit_obs": 4e-5, "br_hat": 2e-5, "status": "ok"})
    doc = {"labels": ["m_X"], "options": {"cl": 0.95}, "results": rows}
    s = {r["scenario"]: r for r in summary_rows(doc)}
    two = s["twobody-scalar"]
    assert (two["n"], two["n_ok"]) == (4, 3)
    assert two["best"]["name"] == "b" and two["max_Z"]["name"] == "c"
    assert two["strongest"]["name"] == "a"
    text = summary_table(doc)
    line = next(x for x in text.splitlines() if x.startswith("twobody-scalar"))
    assert "3/4" in line and "m_X=2.1" in line and "4.20 (m_X=3)" in line
    assert "3e-06 (m_X=0.5)" in line
    assert "UL95(B)" in text.splitlines()[0] and "look-elsewhere" in text


def test_cli_scan_prints_summary_and_records_its_workspace(tmp_path, capsys):
    wsf, psf, smf = T.write_inputs(tmp_path, [1.4, 1.5, 1.6])
    side = tmp_path / "ws.meta.json"  # a real-data sidecar with its source
    side.write_text(json.dumps({"emulated_data": False, "data_statement": "recorded data",
                                "source": {"hepdata": "ins2947386", "doi": "10.17182/x",
                                           "arxiv": "2311.14647"}}))
    out = tmp_path / "r.json"
    code, stdout, err = _run(capsys, "scan", wsf, psf, smf, "-o", str(out), "--jobs", "1",
                             "--engine", T.ENGINE, "-q")
    assert code == 0, err
    doc = json.loads(out.read_text())
    w = doc["workspace"]
    assert w["name"] == "ws" and w["file"] == "ws.json" and w["sidecar"] == "ws.meta.json"
    assert w["emulated_data"] is False and w["source"]["hepdata"] == "ins2947386"
    assert w["data_statement"] == "recorded data"
    assert "HEPData ins2947386" in w["label"] and "arXiv:2311.14647" in w["label"]
    lines = stdout.splitlines()
    assert lines[0].startswith(f"wrote {out}: 4 hypotheses") and "HEPData ins2947386" in lines[0]
    assert any(x.startswith("twobody-scalar") and "m_X=1.5" in x for x in lines)  # injected
    # without a sidecar the data source is recorded as unknown, never guessed
    side.unlink()
    code, _, err = _run(capsys, "scan", wsf, smf, "-o", str(out), "--jobs", "1", "--engine",
                        T.ENGINE, "-q")
    w = json.loads(out.read_text())["workspace"]
    assert w["emulated_data"] is None and w["sidecar"] is None and "unknown" in w["label"]


def test_best_fit_at_a_grid_edge_is_flagged():
    """A profile still falling at the last mass: the best point is the edge, and compare says
    so; one with its minimum inside the grid is not flagged."""
    x = np.array([0.5, 1.0, 1.5, 2.0])
    falling = {"workspace_digest": "e" * 64, "results": _rows(x, 10.0 - 3.0 * x)}
    inside = {"workspace_digest": "f" * 64, "results": _rows(x, (x - 1.2) ** 2 * 40)}
    cmp = compare([falling, inside])
    by = {w["workspace_digest"][0]: w["scenarios"][0] for w in cmp["workspaces"]}
    assert by["e"]["best_at_edge"] is True and by["e"]["best"]["m_X"] == 2.0
    assert by["f"]["best_at_edge"] is False
    table = format_table(cmp)
    assert "2 |" in table and "|: the best point is the first or last mass" in table
