"""Bad input never gets past the door (issue "Bad input and faults", items 3, 4, 7).

A table of bad (and a few legitimately accepted) inputs for every command of the click group:
every numeric option x every argument class (negative, zero, NaN, inf, huge, non-numeric,
empty; the expected outcome follows from the option's declared range in ``emiss.validate``),
the names and lists each command takes (unknown names, empty and malformed lists), and every
input file kind (missing, empty, not JSON, wrong kind, NaN or negative numbers inside, a
folder, the same path as the output). Each bad case must exit 2 with exactly one line on
stderr, starting ``emiss: error:``, no traceback, and leave the folder it ran in (inputs
included) byte for byte as it was. The commands are enumerated from the click group itself,
so a new command without cases, or a numeric option without a declared range, fails
``test_every_command_has_cases``.

Everything runs in-process; bad values fail while click parses the command line (or at the
latest when an input file is read), so the whole table takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from emiss.bundles import bundled_dir
from emiss.cli import cli, main
from emiss.cli._args import Number
from emiss.cli.patch_cmds import DefaultGroup
from emiss.errors import EmissError

ROOT = Path(__file__).resolve().parents[1]
ERR, OK, ACCEPT = "error", "ok", "accepted"  # accepted: parsed and checked, not run


def _walk(group: click.Group, path: tuple[str, ...] = ()):
    # the default command of a group is fuzzed the way it is typed: `emiss patchset WS ...`
    default = group.default if isinstance(group, DefaultGroup) else None
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, (*path, name))
        else:
            yield " ".join(path if name == default else (*path, name)), cmd


#: every leaf command of `emiss`, by its path ("plot limits")
COMMANDS = dict(_walk(cli))

#: a minimal invocation of each command; {name} are files of the input folder (``inputs``)
BASE: dict[str, list[str]] = {
    "scenarios": [],
    "rate": ["sm", "--process", "B+->K+"],
    "spectrum": ["twobody-scalar", "--process", "B+->K+", "--mass", "1", "--q2", "1"],
    "plot spectra": ["-o", "{outdir}"],
    "workspace build": ["-o", "{outdir}"],
    "workspace combine": ["babar2013", "bs-invisible", "-o", "{outdir}"],
    "workspace import-belle2": ["{srcdir}", "-o", "{outdir}"],
    "data fetch": ["belle2-knunu", "-o", "{outdir}", "--mirror", "file:///nonexistent"],
    "measure": ["{ws}"],
    "plot postfit": ["{ws}", "-o", "{outdir}"],
    "patchset": ["{ws}", "--scenario", "twobody-scalar", "--masses", "1", "-o", "{out}"],
    "patchset inspect": ["{ps}"],
    "patchset merge": ["{ps_lo}", "{ps_hi}", "-o", "{out}"],
    "verify-patchset": ["{ws}", "{ps}"],
    "plot templates": ["{ws}", "-o", "{outdir}"],
    "scan": ["{ws}", "{ps}", "-o", "{out}"],
    "compare": ["{res}"],
    "plot limits": ["{res}", "-o", "{outdir}"],
    "plot significance": ["{res}", "-o", "{outdir}"],
    "plot likelihood": ["{res}", "-o", "{outdir}"],
    "plot cls": ["{res_curve}", "--name", "sm", "-o", "{outdir}"],
    "publish": ["{ws}", "{ps}", "-o", "{outdir}"],
    "project": [],
    "plot projection": ["{proj}", "-o", "{outdir}"],
    "model u1prime": ["--mT", "1e4", "--g-qprime", "1e-6"],
    "model u1prime-coupling": ["--br-hat", "9e-6"],
    "model u1prime-scan": ["{res}", "-o", "{outdir}"],
    "wet": ["{ws}"],
    "posterior": ["{ws}", "{ps}", "-o", "{outdir}"],
    "bayes": ["{post}"],
}

#: the argument classes every numeric option is fuzzed with
NUMBER_CLASSES = {"negative": "-1", "zero": "0", "fraction": "2.5", "nan": "nan", "inf": "inf",
                  "minus-inf": "-inf", "huge": "1e300", "non-numeric": "abc", "empty": ""}

#: which input-file placeholders each command reads, and their kind
FILE_ARGS: dict[str, list[tuple[str, str]]] = {
    "measure": [("{ws}", "workspace")],
    "plot postfit": [("{ws}", "workspace")],
    "patchset": [("{ws}", "workspace")],
    "patchset inspect": [("{ps}", "patchset")],
    "patchset merge": [("{ps_lo}", "patchset"), ("{ps_hi}", "patchset")],
    "verify-patchset": [("{ws}", "workspace"), ("{ps}", "patchset")],
    "plot templates": [("{ws}", "workspace")],
    "scan": [("{ws}", "workspace"), ("{ps}", "patchset")],
    "compare": [("{res}", "results")],
    "plot limits": [("{res}", "results")],
    "plot significance": [("{res}", "results")],
    "plot likelihood": [("{res}", "results")],
    "plot cls": [("{res_curve}", "results")],
    "publish": [("{ws}", "workspace"), ("{ps}", "patchset")],
    "plot projection": [("{proj}", "projection")],
    "model u1prime-scan": [("{res}", "results")],
    "wet": [("{ws}", "workspace")],
    "posterior": [("{ws}", "workspace"), ("{ps}", "patchset")],
    "bayes": [("{post}", "posterior")],
}
#: bad files of every kind (placeholders of files in the input folder)
COMMON_BAD = {"missing": "{missing}", "empty": "{empty}", "not-json": "{notjson}",
              "folder": "{afolder}"}
KIND_BAD = {
    "workspace": {"wrong-kind": "{ps}", "nan-inside": "{ws_nan}",
                  "negative-inside": "{ws_negative}"},
    "patchset": {"wrong-kind": "{ws}", "nan-inside": "{ps_nan}",
                 "negative-inside": "{ps_negative}"},
    "results": {"wrong-kind": "{ps}", "nan-inside": "{res_nan}"},
    "projection": {"wrong-kind": "{ps}"},
    "posterior": {"wrong-kind": "{res}"},
}


@dataclass(frozen=True)
class Case:
    """One row of the table: command, arguments (BASE is prepended), expected outcome."""

    command: str
    label: str
    args: tuple[str, ...]
    expect: str = ERR
    base: bool = True
    match: str = ""  # a fragment the error line must contain


def C(command: str, label: str, *args: str, expect: str = ERR, base: bool = True,
      match: str = "") -> Case:
    return Case(command, label, tuple(args), expect, base, match)


#: hand-written cases: names, lists, files as outputs, the measured cases of the issue
TABLE: list[Case] = [
    C("scenarios", "unknown option", "--bogus"),
    C("scenarios", "extra argument", "extra"),
    C("rate", "unknown scenario", "bogus", "--process", "B+->K+", base=False,
      match="unknown scenario"),
    C("rate", "unknown process", "sm", "--process", "B+->bogus", base=False),
    C("rate", "empty scenario", "", "--process", "B+->K+", base=False),
    C("rate", "missing process", "sm", base=False),
    C("rate", "param without =", "twobody-scalar", "--process", "B+->K+", "--param", "g",
      base=False),
    C("rate", "param without name", "twobody-scalar", "--process", "B+->K+", "--param", "=1",
      base=False),
    C("rate", "param non-numeric", "twobody-scalar", "--process", "B+->K+", "--param", "g=abc",
      base=False),
    C("rate", "param nan", "twobody-scalar", "--process", "B+->K+", "--param", "g=nan",
      base=False),
    C("rate", "param unknown name", "twobody-scalar", "--process", "B+->K+", "--param",
      "bogus=1", base=False),
    C("rate", "param twice", "twobody-scalar", "--process", "B+->K+", "--param", "g=1",
      "--param", "g=2", base=False),
    C("rate", "coupling overflows", "twobody-scalar", "--process", "B+->K+", "--mass", "1",
      "--param", "g=1e300", base=False, match="no finite"),
    C("rate", "scale underflows", "twobody-scalar", "--process", "B+->K+", "--mass", "1",
      "--param", "Lambda=1e-300", base=False, match="no finite"),
    C("rate", "wet coefficient overflows", "wet", "--process", "B+->K+", "--param",
      "C_VL=1e200", base=False),
    C("rate", "B above 1", "wet", "--process", "B+->K+", "--param", "C_VL=1e100", base=False,
      match="not a probability"),
    C("rate", "mass above the endpoint", "twobody-scalar", "--process", "B+->K+", "--mass",
      "9", base=False),
    C("rate", "too many samples", "--samples", "100000000", match="above the maximum"),
    C("rate", "seed below 0", "--seed", "-1", match="--seed -1"),
    C("rate", "seed 0 and 2 samples run", "--seed", "0", "--samples", "2", expect=OK),
    C("spectrum", "q2 empty", "--q2", ""),
    C("spectrum", "q2 non-numeric", "--q2", "abc"),
    C("spectrum", "q2 nan", "--q2", "nan"),
    C("spectrum", "q2 negative", "--q2", "-1"),
    C("spectrum", "q2 huge", "--q2", "1e300"),
    C("spectrum", "q2 0 runs", "--q2", "0", expect=OK),
    C("spectrum", "coupling overflows", "--param", "g=1e200", match="no finite"),
    C("spectrum", "unknown scenario", "bogus", "--process", "B+->K+", "--q2", "1", base=False),
    C("spectrum", "mass on a massless scenario", "sm", "--process", "B+->K+", "--mass", "1",
      "--q2", "1", base=False),
    C("plot spectra", "unknown process", "--process", "B+->bogus"),
    C("plot spectra", "second process unknown", "--process", "B+->K+", "--process", "bogus"),
    C("plot spectra", "output is a file", "-o", "{ws}"),
    C("workspace combine", "unknown option", "--bogus"),
    C("workspace combine", "output is a file", "-o", "{ws}"),
    C("workspace combine", "one name, not a simplified likelihood", "belle2", "-o",
      "{outdir}", base=False, match="at least two"),
    C("workspace combine", "unknown name", "babar2013", "bogus", "-o", "{outdir}", base=False,
      match="does not exist"),
    C("workspace combine", "a name twice", "babar2013", "babar2013", "-o", "{outdir}",
      base=False, match="same nuisance prefix"),
    C("workspace combine", "bad stem", "--stem", "a/b", match="--stem"),
    C("workspace combine", "two sources run", expect=OK),
    C("workspace build", "unknown option", "--bogus"),
    C("workspace build", "output is a file", "-o", "{ws}"),
    C("workspace import-belle2", "source missing", "{missing}", "-o", "{outdir}", base=False),
    C("workspace import-belle2", "source empty folder", "{afolder}", "-o", "{outdir}",
      base=False),
    C("workspace import-belle2", "source is a file", "{ws}", "-o", "{outdir}", base=False),
    C("data fetch", "unknown dataset", "bogus", base=False),
    C("data fetch", "no dataset", base=False),
    C("measure", "unknown bundled name", "belle2_bogus", base=False),
    C("measure", "response missing", "--response", "{missing}"),
    C("measure", "response not JSON", "--response", "{notjson}"),
    C("measure", "response wrong kind", "--response", "{ps}"),
    C("measure", "plot folder is a file", "--plot", "{ps}"),
    C("plot postfit", "response folder", "--response", "{afolder}"),
    C("patchset", "unknown scenario", "{ws}", "--scenario", "bogus", "--masses", "1", "-o",
      "{out}", base=False),
    C("patchset", "neither scenario nor grid", "{ws}", "-o", "{out}", base=False),
    *[C("patchset", f"masses {label}", "--masses", value) for label, value in (
        ("empty", ""), ("non-numeric", "abc"), ("negative", "-1"), ("nan", "nan"),
        ("inf", "inf"), ("huge", "1e300"), ("above the endpoint", "9"), ("zero step", "0:1:0"),
        ("reversed", "1:0:0.1"), ("empty item", "1,,2"), ("47001 points", "0:4.7:0.0001"))],
    *[C("patchset", f"param {label}", "{ws}", "--scenario", "heavy-np", "--param", value,
        "-o", "{out}", base=False) for label, value in (
        ("without =", "C_L"), ("without name", "=1"), ("non-numeric", "C_L=abc"),
        ("nan", "C_L=nan"), ("unknown name", "bogus=1"),
        ("grid of 2.8e8 points", "C_L=-16:4:0.001"))],
    C("patchset", "param grid product too large", "{ws}", "--scenario", "heavy-np", "--param",
      "C_L=-16:4:0.001", "--param", "C_R=-7:7:0.001", "-o", "{out}", base=False,
      match="280034001 hypotheses"),
    C("patchset", "grid file missing", "{ws}", "--grid", "{missing}", "-o", "{outdir}",
      base=False),
    C("patchset", "grid file empty", "{ws}", "--grid", "{empty_yaml}", "-o", "{outdir}",
      base=False),
    C("patchset", "grid file not YAML", "{ws}", "--grid", "{bad_yaml}", "-o", "{outdir}",
      base=False),
    C("patchset", "grid file wrong kind", "{ws}", "--grid", "{list_yaml}", "-o", "{outdir}",
      base=False),
    C("patchset", "grid file NaN mass", "{ws}", "--grid", "{nan_yaml}", "-o", "{outdir}",
      base=False),
    C("patchset", "grid file negative mass", "{ws}", "--grid", "{neg_yaml}", "-o", "{outdir}",
      base=False),
    C("patchset", "grid file is a folder", "{ws}", "--grid", "{afolder}", "-o", "{outdir}",
      base=False),
    C("patchset", "unknown grid key", "{ws}", "--grid", "standard", "--grid-key", "bogus",
      "-o", "{outdir}", base=False),
    *[C("patchset", f"spectrum table {label}", "{ws}", "--spectrum", value, "-o", "{out}",
        base=False) for label, value in (("missing", "{missing}"), ("empty", "{empty}"),
                                         ("not a table", "{notjson}"), ("folder", "{afolder}"),
                                         ("NaN inside", "{nan_table}"),
                                         ("negative inside", "{neg_table}"))],
    C("patchset", "spectrum with an unknown process", "{ws}", "--spectrum", "{good_table}",
      "--process", "bogus", "-o", "{out}", base=False),
    C("patchset", "response missing", "--response", "{missing}"),
    C("patchset", "response wrong kind", "--response", "{ps}"),
    C("patchset", "output is the workspace", "{ws}", "--scenario", "twobody-scalar",
      "--masses", "1", "-o", "{ws}", base=False),
    C("patchset inspect", "no file", base=False),
    C("patchset inspect", "unknown option", "--bogus"),
    C("patchset inspect", "results file", "{res}", base=False, match="not a valid pyhf PatchSet"),
    C("patchset inspect", "json runs", "--json", expect=OK),
    C("patchset merge", "one file", "{ps_lo}", "-o", "{out}", base=False, match="at least two"),
    C("patchset merge", "no output", "{ps_lo}", "{ps_hi}", base=False),
    C("patchset merge", "workspace digests differ", "{ps}", "{ps_other}", "-o", "{out}",
      base=False, match="digests"),
    C("patchset merge", "patch names collide", "{ps_lo}", "{ps_lo}", "-o", "{out}", base=False,
      match="patch name"),
    C("patchset merge", "labels differ", "{ps_lo}", "{ps}", "-o", "{out}", base=False,
      match="labels differ"),
    C("patchset merge", "output is an input", "{ps_lo}", "{ps_hi}", "-o", "{ps_hi}",
      base=False),
    C("patchset merge", "output is a folder", "{ps_lo}", "{ps_hi}", "-o", "{afolder}",
      base=False),
    C("patchset merge", "two ranges run", expect=OK),
    C("plot templates", "unknown scenario", "--scenario", "bogus", "--masses", "1"),
    C("plot templates", "masses without scenario", "--masses", "1"),
    C("plot templates", "bad masses", "--scenario", "twobody-scalar", "--masses", "abc"),
    C("scan", "names empty", "--names", ","),
    C("scan", "names unknown", "--names", "bogus"),
    C("scan", "unknown executor", "--executor", "bogus"),
    C("scan", "scheduler without dask", "--scheduler", "tcp://127.0.0.1:1"),
    C("scan", "unknown calctype", "--calctype", "bogus"),
    C("scan", "unknown engine", "--engine", "bogus"),
    C("scan", "output is the patchset", "{ws}", "{ps}", "-o", "{ps}", base=False),
    C("scan", "output is the workspace", "{ws}", "{ps}", "-o", "{ws}", base=False),
    C("scan", "output is a folder", "{ws}", "{ps}", "-o", "{afolder}", base=False),
    C("measure", "sidecar not JSON", "{badside_ws}", base=False),
    C("measure", "sidecar of another kind", "{wrongside_ws}", base=False),
    C("scan", "cl 0", "--cl", "0", match="--cl 0"),
    C("scan", "cl 1", "--cl", "1"),
    C("scan", "cl 1.5", "--cl", "1.5"),
    C("scan", "cl -0.5 (ran 990 s)", "--cl", "-0.5"),
    C("scan", "chunk size 0", "--chunk-size", "0"),
    C("scan", "cls curve with toys", "--cls-curve", "--calctype", "toybased",
      match="--cls-curve needs --calctype asymptotics"),
    C("scan", "quiet and progress", "-q", "--progress", match="contradict"),
    C("scan", "observed-only value", "--observed-only", "yes", match="yes"),
    C("scan", "observed-only and cls curve run", "--observed-only", "--cls-curve", "-q",
      "--jobs", "1", expect=OK),
    C("plot cls", "no name", "{res_curve}", "-o", "{outdir}", base=False),
    C("plot cls", "unknown name", "{res_curve}", "--name", "bogus", "-o", "{outdir}",
      base=False, match="no results row named 'bogus'"),
    C("plot cls", "scan without curves", "{res}", "--name", "sm", "-o", "{outdir}", base=False,
      match="rerun the scan with --cls-curve"),
    C("plot cls", "output is a file", "-o", "{ps}"),
    C("plot cls", "curve runs", expect=OK),
    C("compare", "global toys without workspace", "--global-toys", "5"),
    C("compare", "output is the results", "{res}", "-o", "{res}", base=False),
    C("compare", "output is a folder", "-o", "{afolder}"),
    C("compare", "workspace of another scan", "--global-toys", "5", "--workspace", "{ws}",
      "--patchset", "{ps}", "--label", "bogus"),
    C("compare", "save toys without toys", "--save-toys", "{out}",
      match="--save-toys needs toys"),
    C("compare", "save toys is the results", "--save-toys", "{res}"),
    C("compare", "save toys is a folder", "--save-toys", "{afolder}"),
    C("compare", "save toys is the comparison file", "-o", "{out}", "--save-toys", "{out}",
      match="also the comparison file"),
    C("compare", "toys without workspace", "--toys", "{ps}", match="--toys needs --workspace"),
    *[C("compare", f"toys {label}", "--toys", repl, "--workspace", "{ws}", "--patchset",
        "{ps}", match=match)
      for label, repl, match in (("missing", "{missing}", "does not exist"),
                                 ("not JSON", "{notjson}", "not valid JSON"),
                                 ("empty", "{empty}", "toy file"),
                                 ("of another kind", "{ps}", "toy file"),
                                 ("a folder", "{afolder}", ""))],
    C("compare", "toys given twice", "--toys", "{res}", "--toys", "{res}", "--workspace",
      "{ws}", "--patchset", "{ps}", match="given twice"),
    C("plot limits", "output is a file", "-o", "{ps}"),
    C("publish", "results missing", "--results", "{missing}"),
    C("publish", "results wrong kind", "--results", "{ps}"),
    C("publish", "output is a file", "{ws}", "{ps}", "-o", "{ps}", base=False),
    C("project", "unknown scenario", "--scenario", "bogus"),
    C("project", "massless scenario", "--scenario", "sm"),
    C("project", "mass above every endpoint", "--masses", "9", match="mass 9 GeV"),
    C("project", "unknown workspace variant", "--limits-on", "bogus"),
    C("project", "unknown policy", "--policy", "bogus"),
    C("project", "workspaces folder missing", "--workspaces", "{missing}"),
    C("project", "too many points", "--lumi", ",".join(str(i) for i in range(1, 1001)),
      match="at most"),
    *[C("project", f"{opt} {label}", opt, value) for opt in ("--lumi", "--masses")
      for label, value in (("empty", ""), ("empty item", "1,,5"), ("non-numeric", "abc"),
                           ("nan", "nan"), ("inf", "inf"), ("negative", "-1"),
                           ("huge", "1e300"))],
    C("project", "lumi 0", "--lumi", "0"),
    C("project", "output is a file", "-o", "{ws}"),
    C("plot projection", "output is a file", "-o", "{ws}"),
    C("model u1prime", "m_T below the top mass", "--mT", "100"),
    C("model u1prime", "inconsistent vtilde and mZp", "--vtilde", "1e6", "--mZp", "2.1"),
    C("model u1prime", "dark coupling without mass", "--gX", "0.1"),
    C("model u1prime", "Lambda 0 (was the default)", "--Lambda", "0", match="--Lambda 0"),
    C("model u1prime", "radius 0 (was the default)", "--radius", "0", match="--radius 0"),
    C("model u1prime", "coupling 1e300", "--g-qprime", "1e300"),
    C("model u1prime", "delta 1e-300 overflows", "--delta", "1e-300", match="no finite"),
    C("model u1prime", "missing coupling", "--mT", "1e4", base=False),
    C("model u1prime", "gX 0 runs", "--gX", "0", "--json", expect=OK),
    *[C("model u1prime-coupling", f"interval {label}", "--br-interval", value)
      for label, value in (("one number", "1e-6"), ("non-numeric", "a,b"),
                           ("reversed", "2e-6,1e-6"), ("nan", "nan,1e-6"),
                           ("negative", "-1e-6,1e-6"), ("empty", ""))],
    C("model u1prime-coupling", "unknown process", "--process", "B+->bogus"),
    *[C("model u1prime-scan", f"{opt} {label}", opt, value)
      for opt in ("--mT-range", "--g-range", "--br-interval")
      for label, value in (("one number", "1"), ("non-numeric", "a,b"), ("reversed", "2,1"),
                           ("nan", "nan,1"), ("huge", "1,1e300"))],
    C("model u1prime-scan", "YTt 0", "--YTt", "0"),
    C("model u1prime-scan", "output is a file", "-o", "{res}"),
    C("wet", "unknown bundled name", "belle2_bogus", base=False),
    C("wet", "output is the workspace", "-o", "{ws}"),
    C("wet", "plot folder is a file", "--plot", "{ws}"),
    C("posterior", "names unknown", "--names", "bogus"),
    C("posterior", "unknown mass prior", "--mass-prior", "bogus"),
    C("posterior", "unknown sampler", "--sampler", "bogus"),
    C("posterior", "output is a file", "{ws}", "{ps}", "-o", "{ps}", base=False),
    C("posterior", "draws 9", "--draws", "9"),
    C("bayes", "unknown option", "--bogus"),
    C("verify-patchset", "patchset of another workspace", "{ws}", "{ps_other}", base=False),
    C("publish", "max hypotheses 51", "--max-hypotheses", "51"),
]


def _number_cases() -> list[Case]:
    """Every numeric option of every command x every argument class; the declared range says
    whether the value is accepted (checked by parsing only) or an error."""
    out = []
    for path, cmd in COMMANDS.items():
        for p in cmd.params:
            if not isinstance(p.type, Number):
                continue
            opt = max((o for o in p.opts if o.startswith("--")), key=len)
            for label, value in NUMBER_CLASSES.items():
                try:
                    x = float(value)
                except ValueError:
                    ok = False
                else:
                    ok = p.type.rng.accepts(x)
                out.append(C(path, f"{opt} {label}", opt, value, expect=ACCEPT if ok else ERR,
                             match="" if ok else f"{opt} "))
    return out


def _file_cases() -> list[Case]:
    """Every input-file argument x every bad file kind."""
    out = []
    for path, args in FILE_ARGS.items():
        for placeholder, kind in args:
            bad = {**COMMON_BAD, **KIND_BAD.get(kind, {})}
            for label, repl in bad.items():
                argv = [repl if a == placeholder else a for a in BASE[path]]
                out.append(C(path, f"{kind} {label}", *argv, base=False))
    return out


CASES = TABLE + _number_cases() + _file_cases()

#: cases that fail today in code another change owns (reported; strict: fixing them flips the
#: test, then delete the entry)
KNOWN: dict[tuple[str, str], str] = {}


def _params() -> list:
    out = []
    for c in CASES:
        reason = KNOWN.get((c.command, c.label))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(c, marks=marks, id=f"{c.command}: {c.label}"))
    return out


# ----------------------------------------------------------------------------- inputs
def _write_inputs(d: Path) -> dict[str, str]:
    """The input folder: good files, bad files of every kind; placeholder name -> path."""
    wsdir = bundled_dir()
    for f in ("belle2_hta_bkgonly.json", "belle2_hta_bkgonly.meta.json",
              "belle2_hta_response.json"):
        shutil.copy(wsdir / f, d / f)
    shutil.copy(ROOT / "patches" / "belle2_hta" / "sm.json", d / "ps.json")
    shutil.copy(ROOT / "patches" / "belle2_ita" / "sm.json", d / "ps_other.json")
    ranges = json.loads((ROOT / "patches" / "belle2_hta" / "twobody_scalar.json").read_text())
    for name, part in (("ps_lo", slice(0, 2)), ("ps_hi", slice(2, 4))):  # two mass ranges
        (d / f"{name}.json").write_text(json.dumps({**ranges,
                                                    "patches": ranges["patches"][part]}))
    ws = json.loads((d / "belle2_hta_bkgonly.json").read_text())
    ps = json.loads((d / "ps.json").read_text())
    (d / "empty.json").write_text("")
    (d / "notjson.json").write_text("{not json")
    (d / "afolder").mkdir()
    (d / "srcdir").mkdir()
    bad = json.loads(json.dumps(ws))
    bad["observations"][0]["data"][0] = float("nan")
    (d / "ws_nan.json").write_text(json.dumps(bad))
    bad["observations"][0]["data"][0] = -5.0
    (d / "ws_negative.json").write_text(json.dumps(bad))
    bad = json.loads(json.dumps(ps))
    op = next(o for o in bad["patches"][0]["patch"] if isinstance(o.get("value"), dict)
              and "data" in o["value"])
    op["value"]["data"][0] = float("nan")
    (d / "ps_nan.json").write_text(json.dumps(bad))
    op["value"]["data"][0] = -5.0
    (d / "ps_negative.json").write_text(json.dumps(bad))
    for sub, text in (("badside", "{not json"), ("wrongside", "[1, 2]")):
        (d / sub).mkdir()
        shutil.copy(d / "belle2_hta_bkgonly.json", d / sub / "belle2_hta_bkgonly.json")
        shutil.copy(d / "belle2_hta_response.json", d / sub / "belle2_hta_response.json")
        (d / sub / "belle2_hta_bkgonly.meta.json").write_text(text)
    (d / "good_table.txt").write_text("0 1e-7\n10 1e-7\n20 0\n")
    (d / "nan_table.txt").write_text("0 1e-7\n10 nan\n20 0\n")
    (d / "neg_table.txt").write_text("0 1e-7\n10 -1e-7\n20 0\n")
    (d / "empty_yaml.yaml").write_text("")
    (d / "bad_yaml.yaml").write_text("patchsets: [: : :\n")
    (d / "list_yaml.yaml").write_text("- 1\n- 2\n")
    (d / "nan_yaml.yaml").write_text(
        "patchsets:\n  - scenario: twobody-scalar\n    masses: .nan\n")
    (d / "neg_yaml.yaml").write_text(
        "patchsets:\n  - scenario: twobody-scalar\n    masses: -1\n")
    return _names(d)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder with the inputs, including a real scan result (one SM hypothesis)."""
    d = tmp_path_factory.mktemp("fuzz_inputs")
    names = _write_inputs(d)
    code = 0
    try:
        main(["scan", names["ws"], names["ps"], "-o", names["res"], "--jobs", "1", "-q"])
        main(["scan", names["ws"], names["ps"], "-o", str(d / "res_curve.json"), "--jobs", "1",
              "-q", "--cls-curve"])
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None)
    doc = json.loads(Path(names["res"]).read_text())
    doc["results"][0]["mu_hat"] = float("nan")
    (d / "res_nan.json").write_text(json.dumps(doc))
    return d


def _snapshot(d: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(d.rglob("*")):
        rel = str(p.relative_to(d))
        if p.is_dir():
            out[rel] = ("dir",)
        else:
            out[rel] = (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
    return out


def _argv(case: Case, names: dict[str, str]) -> list[str]:
    args = (BASE[case.command] if case.base else []) + list(case.args)
    return [*case.command.split(), *(a.format(**names) if "{" in a else a for a in args)]


def _names(d: Path) -> dict[str, str]:
    names = {p.stem: str(p) for p in d.iterdir()}
    names.update({"ws": str(d / "belle2_hta_bkgonly.json"), "ps": str(d / "ps.json"),
                  "res": str(d / "res.json"), "post": str(d / "res.json"),
                  "proj": str(d / "res.json"), "out": str(d / "out.json"),
                  "outdir": str(d / "outdir"), "missing": str(d / "missing.json"),
                  "badside_ws": str(d / "badside" / "belle2_hta_bkgonly.json"),
                  "wrongside_ws": str(d / "wrongside" / "belle2_hta_bkgonly.json")})
    return names


# ----------------------------------------------------------------------------- tests
def test_every_command_has_cases():
    """A command without cases, or a numeric option without a declared range, fails here."""
    have = {c.command for c in CASES}
    missing = sorted(set(COMMANDS) - have)
    assert not missing, f"commands without fuzz cases (add them to TABLE/BASE): {missing}"
    assert set(BASE) == set(COMMANDS), sorted(set(BASE) ^ set(COMMANDS))
    plain = [f"{path} {p.name}" for path, cmd in COMMANDS.items() for p in cmd.params
             if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType))]
    assert not plain, ("numeric options without a range of emiss.validate (use the types of "
                       f"emiss.cli._args): {plain}")
    for path, cmd in COMMANDS.items():
        for p in cmd.params:
            if isinstance(p.type, Number):
                opt = max((o for o in p.opts if o.startswith("--")), key=len)
                assert any(c.command == path and c.args[:1] == (opt,) for c in CASES), (path, opt)


@pytest.mark.parametrize("case", _params())
def test_fuzz(case: Case, inputs: Path, tmp_path: Path, capsys, monkeypatch):
    """Bad input: exit 2, one line ``emiss: error: ...``, no traceback, nothing written."""
    work = tmp_path / "w"
    shutil.copytree(inputs, work)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # `data fetch` default folder
    monkeypatch.setenv("EMISS_DATA_DIR", str(tmp_path / "home" / "data"))
    names = _names(work)
    argv = _argv(case, names)
    if case.expect == ACCEPT:  # parsed and checked by the option types, not run
        cmd = COMMANDS[case.command]
        ctx = cmd.make_context("emiss " + case.command, argv[len(case.command.split()):])
        assert ctx.params is not None
        return
    before = _snapshot(work)
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    if case.expect == OK:
        assert code == 0, err
        return
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, f"exit {code} for {argv}; stderr: {err[-2000:]}"
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("emiss: error: "), err
    assert case.match in lines[0], lines[0]
    assert _snapshot(work) == before, f"{argv} wrote or changed files"
    assert not (tmp_path / "home" / "data").exists(), f"{argv} wrote into the data folder"


def test_table_size():
    """The table stays a table: hundreds of cases, each command with several."""
    assert len(CASES) > 400
    per = {c: sum(1 for x in CASES if x.command == c) for c in COMMANDS}
    assert min(per.values()) >= 2, per


def test_number_type_message_names_value_and_range():
    """The click type and the API share one message: the option, the value, the valid range."""
    from emiss import validate

    with pytest.raises(EmissError, match=r"^--cl 1.5: above the maximum; valid: a finite "
                                         r"number 0 < x < 1 \(confidence level"):
        validate.CL.check("1.5", "--cl")
    with pytest.raises(EmissError, match="not an integer"):
        validate.SEED.check("2.5", "--seed")
    assert validate.SEED.check("1e3", "--seed") == 1000
    assert validate.FF_SAMPLES.check(0, "n") == 0
    with pytest.raises(EmissError, match="0 or an integer 2 <= n <= 10000"):
        validate.FF_SAMPLES.check(1, "n")
    with pytest.raises(EmissError, match="not a number"):
        validate.CL.check(True, "cl")
    with pytest.raises(EmissError, match="above the maximum"):
        validate.SEED.check(10**400, "seed")
