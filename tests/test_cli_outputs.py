"""Outputs are checked before any work (issue 10.3), one output convention (10.6), and a
workspace without its sidecar is an error unless --no-sidecar (10.4).

Every command is run with an output that cannot be written (a folder under /proc, a path
through an existing file, a folder where a file is expected) while the function that does its
work is replaced by one that fails the test: so the check provably comes first. Each must exit
with code 2 and one line ``emiss: error: cannot write ...`` naming the path, and leave nothing
behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from cli_run import run

from emiss.bundles import bundled_dir
from emiss.cli import cli
from emiss.cli._common import OutputPath
from emiss.errors import EmissError
from emiss.io import check_output_dir, check_output_file

ROOT = Path(__file__).resolve().parents[1]
WS = str(bundled_dir() / "belle2_hta_bkgonly.json")
PS = str(ROOT / "patches" / "belle2_hta" / "sm.json")

#: command -> (argument list with {OUT} for the output, "file" or "dir", the module attribute
#: doing the work, which must not be reached)
COMMANDS = {
    # -o of patchset is a file (NAME.json) or a folder: an existing folder is a valid output
    "patchset": (["patchset", WS, "--scenario", "twobody-scalar", "--masses", "2.1", "-o",
                  "{OUT}"], "file or folder", "emiss.patches.build.generate"),
    "scan": (["scan", WS, PS, "-o", "{OUT}"], "file", "emiss.inference.scan.scan"),
    "compare": (["compare", "{RES}", "-o", "{OUT}"], "file", "emiss.inference.compare.compare"),
    "plot limits": (["plot", "limits", "{RES}", "-o", "{OUT}"], "dir",
                    "emiss.plotting.scan.plot_limits"),
    "plot significance": (["plot", "significance", "{RES}", "-o", "{OUT}"], "dir",
                          "emiss.plotting.scan.plot_significance"),
    "plot likelihood": (["plot", "likelihood", "{RES}", "-o", "{OUT}"], "dir",
                        "emiss.plotting.scan.plot_likelihood"),
    "measure --plot": (["measure", "belle2_hta_bkgonly", "--plot", "{OUT}"], "dir",
                       "emiss.studies.measure.measure"),
    "plot postfit": (["plot", "postfit", "belle2_hta_bkgonly", "-o", "{OUT}"], "dir",
                     "emiss.studies.measure.measure"),
    "publish": (["publish", WS, PS, "-o", "{OUT}"], "dir", "emiss.publish.core.load_inputs"),
    "project": (["project", "--lumi", "1", "-o", "{OUT}"], "dir",
                "emiss.studies.projection.run"),
    "plot projection": (["plot", "projection", "{RES}", "-o", "{OUT}"], "dir",
                        "emiss.plotting.projection.plot_all"),
    "plot spectra": (["plot", "spectra", "-o", "{OUT}"], "dir",
                     "emiss.plotting.spectra.plot_spectra"),
    "plot templates": (["plot", "templates", WS, "-o", "{OUT}"], "dir",
                       "emiss.patches.target.load_target"),
    "workspace build": (["workspace", "build", "-o", "{OUT}"], "dir",
                        "emiss.bundles.k_emulation.build_all"),
    "model u1prime-scan": (["model", "u1prime-scan", "{RES}", "-o", "{OUT}"], "dir",
                           "emiss.plotting.model.scan_numbers"),
    "wet -o": (["wet", WS, "-o", "{OUT}"], "file", "emiss.bundles.load_bundle"),
    "wet --plot": (["wet", WS, "--plot", "{OUT}"], "dir", "emiss.bundles.load_bundle"),
    "workspace import-belle2": (["workspace", "import-belle2", str(ROOT), "-o", "{OUT}"], "dir",
                                "emiss.bundles.belle2_hepdata.import_belle2"),
    "data fetch": (["data", "fetch", "belle2-knunu", "-o", "{OUT}"], "dir",
                   "emiss.bundles.belle2_fetch.fetch"),
    "posterior": (["posterior", WS, PS, "-o", "{OUT}"], "dir",
                  "emiss.inference.posterior_grid.PosteriorGrid"),
}


def _bad_outputs(tmp: Path, kind: str) -> dict[str, tuple[str, str]]:
    """case -> (output path, text the reason must contain)."""
    blocker = tmp / "afile"
    blocker.write_text("x")
    (tmp / "adir").mkdir()
    if kind.startswith("file"):
        cases = {"proc": ("/proc/nope/x.json", "'/proc'"),
                 "through a file": (str(blocker / "x.json"), "is a file, not a folder"),
                 "existing folder": (str(tmp / "adir"), "existing folder")}
        if kind == "file or folder":
            del cases["existing folder"]
        return cases
    return {"proc": ("/proc/nope", "'/proc'"),
            "through a file": (str(blocker / "sub"), "is a file, not a folder"),
            "a file": (str(blocker), "existing file")}


def _run(capsys, args: list[str]) -> tuple[int, str, str]:
    return run(capsys, *args)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unwritable_output_fails_before_work(command, tmp_path, monkeypatch, capsys):
    import importlib

    args, kind, work = COMMANDS[command]
    mod, _, attr = work.rpartition(".")

    def _must_not_run(*a, **k):
        raise AssertionError(f"{command}: work started before the output was checked")

    monkeypatch.setattr(importlib.import_module(mod), attr, _must_not_run)
    res = tmp_path / "res.json"  # an input that exists (its content is never read)
    res.write_text(json.dumps({"workspace_digest": "w", "results": []}))
    for case, (out, reason) in _bad_outputs(tmp_path, kind).items():
        before = sorted(p.name for p in tmp_path.rglob("*"))
        argv = [a.replace("{OUT}", out).replace("{RES}", str(res)) for a in args]
        code, stdout, err = _run(capsys, argv)
        assert code == 2, (command, case, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("emiss: error: cannot write"), \
            (command, case, err)
        assert out in lines[0] and reason in lines[0], (command, case, lines[0])
        assert "Traceback" not in err and stdout == ""
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, (command, case)


def test_check_helpers_accept_good_paths_and_create_nothing(tmp_path):
    assert check_output_file(tmp_path / "new" / "deeper" / "x.json") == \
        tmp_path / "new" / "deeper" / "x.json"
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    check_output_file(existing)  # overwriting a file is fine (atomic rename)
    check_output_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]  # no probe left behind
    with pytest.raises(EmissError, match="not a file name"):
        check_output_file("")


def test_atomic_write_into_unwritable_folder_is_one_line_error():
    from emiss.io import write_json

    with pytest.raises(EmissError, match="cannot write output file '/proc/nope/x.json'"):
        write_json("/proc/nope/x.json", {})


# ----------------------------------------------------------------------------- convention
def _commands(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_one_output_convention():
    """-o is --output for a file and --outdir for a folder; the help says which."""
    seen = 0
    for name, cmd in _commands(cli):
        for p in cmd.params:
            if not isinstance(p, click.Option) or "-o" not in p.opts:
                continue
            seen += 1
            longs = [o for o in p.opts + p.secondary_opts if o.startswith("--")]
            help_text = (p.help or "").lower()
            assert isinstance(p.type, OutputPath), (name, p.opts)  # checked by emiss, not click
            if p.type.kind == "folder":
                assert longs[0] == "--outdir", (name, p.opts)
                assert "folder" in help_text, (name, p.help)
            else:
                assert longs[0] == "--output", (name, p.opts)
                assert "file" in help_text, (name, p.help)
    assert seen >= 14


@pytest.mark.parametrize("old", ["--output", "--out"])
def test_old_spellings_of_folder_options_still_work(old):
    spelled = {name: [o for p in cmd.params for o in p.opts] for name, cmd in _commands(cli)}
    assert old in spelled["plot postfit"] or old == "--output"
    for name in ("plot spectra", "plot templates", "project", "plot projection", "publish",
                 "model u1prime-scan"):
        assert "--output" in spelled[name] and "--outdir" in spelled[name], name
    assert "--out" in spelled["workspace build"] and "--out" in spelled["plot postfit"]


# ----------------------------------------------------------------------------- sidecar
@pytest.fixture()
def lonely(tmp_path):
    """The bundled HTA workspace copied alone (no sidecar, no response next to it)."""
    ws = tmp_path / "hta.json"
    shutil.copy(bundled_dir() / "belle2_hta_bkgonly.json", ws)
    return ws


def test_workspace_without_sidecar_is_an_error(lonely, capsys):
    resp = str(bundled_dir() / "belle2_hta_response.json")
    for args in (["measure", str(lonely), "--response", resp],
                 ["patchset", str(lonely), "--response", resp, "--scenario", "sm", "-o",
                  str(lonely.parent / "ps.json")]):
        code, out, err = _run(capsys, args)
        assert code == 2 and out == ""
        line = err.strip()
        assert line.startswith("emiss: error:") and "\n" not in line
        # names the missing modifiers (the bundled twin's sidecar) and the way out
        for word in ("no sidecar", "belle2_hta_bkgonly", "n_bb", "sig_eff_hta", "--no-sidecar"):
            assert word in line, (word, line)
    assert sorted(p.name for p in lonely.parent.iterdir()) == ["hta.json"]


def test_unknown_workspace_without_sidecar_says_modifiers_are_unknown(lonely, capsys):
    spec = json.loads(lonely.read_text())
    spec["observations"][0]["data"][0] += 1  # no longer the bundled workspace
    lonely.write_text(json.dumps(spec))
    code, _, err = _run(capsys, ["measure", str(lonely), "--response",
                                 str(bundled_dir() / "belle2_hta_response.json")])
    assert code == 2 and "unknown" in err and "--no-sidecar" in err


def test_no_sidecar_warns_and_names_what_is_missing(lonely, capsys, measured):
    """With --no-sidecar the fit runs, the warning names the dropped modifiers, and the result
    is that of a model without them: dropping the signal-efficiency and N_BB uncertainties can
    only narrow the interval on mu (Belle II's HTA: +2.4; without them ~+2.1)."""
    resp = str(bundled_dir() / "belle2_hta_response.json")
    code, out, err = _run(capsys, ["measure", str(lonely), "--response", resp, "--no-sidecar",
                                   "--json", "-q"])
    assert code == 0, err
    assert "emiss: warning:" in err and "sig_eff_hta" in err and "n_bb" in err
    got = json.loads(out)
    full = measured("belle2_hta_bkgonly")  # the bundled workspace with its sidecar
    assert got["mu_hat"] == pytest.approx(full["mu_hat"], abs=0.05)
    assert got["mu_err_up"] < full["mu_err_up"] - 0.1


def test_readme_workspace_paths_work_from_any_folder(tmp_path, monkeypatch, capsys):
    """After `pip install .`, `workspaces/<stem>.json` of the README names the installed file
    when no such file is in the current folder (a note says so); a real file always wins."""
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, ["verify-patchset", "workspaces/belle2_hta_bkgonly.json", PS])
    assert code == 0, err
    assert out.startswith("ok:") and "emiss: note:" in err and "bundled belle2_hta_bkgonly" in err
    (tmp_path / "workspaces").mkdir()
    (tmp_path / "workspaces" / "belle2_hta_bkgonly.json").write_text("{}")  # a local file wins
    code, _, err = _run(capsys, ["verify-patchset", "workspaces/belle2_hta_bkgonly.json", PS])
    assert code == 2 and "note" not in err
    code, _, err = _run(capsys, ["verify-patchset", "elsewhere/belle2_hta_bkgonly.json", PS])
    assert code == 2 and "does not exist" in err  # only the README's workspaces/ spelling
