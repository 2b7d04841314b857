"""CLI: ``emiss scan``, ``emiss compare``, ``emiss plot limits|significance|likelihood|cls``.

A thin shell over ``emiss.scan`` (``emiss.inference.scan.scan``), ``emiss.compare`` and
``emiss.plotting.scan``. Imports of the stages are inside the commands: ``emiss --help`` stays
fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from emiss import api
from emiss.cli import _args as A
from emiss.cli._common import (
    OUT_DIR,
    OUT_FILE,
    output_dir,
    output_file,
    workspace_arg,
    workspace_inputs,
)
from emiss.errors import EmissError
from emiss.io import dumps_json, same_file, write_json

log = logging.getLogger(__name__)

_SCAN_HELP = """Limits, significance and best fits for every patch of PATCHSET(s) on WORKSPACE.

WORKSPACE is a file or a bundled stem (e.g. belle2_combined_bkgonly). Writes RESULTS.json
(rows in patchset order, with the inputs' sha256 digests, the workspace's name and data
source) and prints a summary per scenario. Finished chunks
are appended to RESULTS.json.journal.jsonl, so after an interruption `--resume` continues where
the scan stopped and writes the same file an uninterrupted run would. Ctrl-C or SIGTERM stop the
scan and its workers within seconds and keep the journal; workers also exit when the scan is
killed. While it runs, RESULTS.json.lock keeps a second scan off the same RESULTS (a lock left
by a killed scan does not block). RESULTS may not be one of the inputs, a link or a device.

`--observed-only` skips the expected band (rows keep the observed limits, p0 and best fits;
the expected limits are null, and the file's options say so); it saves the expected limits'
fits. `--cls-curve` keeps each hypothesis' CLs curve (observed and expected CLs on 12 values
of mu up to beyond its limits; about three times the scan's time) for `emiss plot cls`.
A progress bar goes to stderr when it is a terminal (`--progress`: always, `-q`: never).

Executors: `local` (default) uses --jobs worker processes (default, and at most: the cores this
process may use). `dask` sends the
same chunks to a dask.distributed scheduler given by --scheduler ADDRESS, e.g. one started with
`dask scheduler` + `dask worker tcp://host:8786`, or a dask-jobqueue cluster on a batch system
(`SLURMCluster(...)`/`HTCondorCluster(...)`; pass its `cluster.scheduler_address`). The
workers need emiss installed; each builds the background model once and reuses it.

\b
Example:
  emiss scan workspaces/BkgOnly.json patches/twobody.json patches/sm.json \\
      -o results/twobody.json --csv --jobs 2
"""


def names_option(value: str | None) -> list[str] | None:
    """The patch names of a ``--names A,B`` option (None: all patches)."""
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise EmissError(f"--names {value!r} holds no patch names; give e.g. --names A,B")
    return names


def _scan_line(output: str, doc: dict) -> str:
    """The first line ``emiss scan`` prints: the file, its hypotheses, failures, the data."""
    n_bad = sum(1 for r in doc["results"] if not str(r["status"]).startswith("ok"))
    data = doc.get("workspace", {}).get("label")
    return (f"wrote {output}: {len(doc['results'])} hypotheses"
            + (f", {n_bad} failed (see their status)" if n_bad else "")
            + (f"; {data}" if data else ""))


@click.command("scan", help=_SCAN_HELP)
@click.argument("workspace")
@click.argument("patchsets", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=OUT_FILE,
              help="Results JSON file to write (its folder is created if missing).")
@click.option("--csv", "write_csv", is_flag=True, help="Also write RESULTS.csv next to it.")
@click.option("--names", default=None, help="Only these patches (comma-separated names).")
@click.option("--jobs", "-j", type=A.JOBS, default=None,
              help="Local worker processes (default: all cores; 1 = no subprocesses).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where the chunks run.")
@click.option("--scheduler", default=None,
              help="Dask scheduler address (tcp://host:8786), e.g. a dask-jobqueue "
                   "cluster's scheduler_address; needs --executor dask.")
@click.option("--resume", is_flag=True, help="Continue from the journal next to RESULTS.")
@click.option("--calctype", type=click.Choice(["asymptotics", "toybased"]),
              default="asymptotics", show_default=True)
@click.option("--engine", type=click.Choice(["fast", "reference", "pyhf"]), default="fast",
              show_default=True,
              help="fast: one compiled background model; reference: the previous fast "
                   "engine (dense Newton steps); pyhf: plain pyhf.")
@click.option("--cl", type=A.CL, default=0.95, show_default=True,
              help="Confidence level of the upper limits (0 < CL < 1).")
@click.option("--ntoys", type=A.NTOYS, default=2000, show_default=True,
              help="Toys per distribution with --calctype toybased (fast engine: vectorised "
                   "toys, pyhf's ToyCalculator procedure).")
@click.option("--toy-seed", type=A.SEED, default=0, show_default=True,
              help="Seed of the toys (--calctype toybased).")
@click.option("--chunk-size", type=A.CHUNK_SIZE, default=None,
              help="Hypotheses per chunk (neighbours warm-start each other; default 8).")
@click.option("--observed-only", is_flag=True,
              help="Observed limits, p0 and best fits only: no expected band (null in the rows).")
@click.option("--cls-curve", is_flag=True,
              help="Keep each hypothesis' CLs curve (observed and expected CLs versus mu) in "
                   "its row, for `emiss plot cls`; asymptotics only.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--progress", is_flag=True,
              help="Progress bar on stderr even when it is not a terminal.")
def scan_cmd(workspace: str, patchsets: tuple[str, ...], output: str, write_csv: bool,
             names: str | None, jobs: int | None, executor: str, scheduler: str | None,
             resume: bool, calctype: str, engine: str, cl: float, ntoys: int,
             toy_seed: int, chunk_size: int | None, observed_only: bool, cls_curve: bool,
             quiet: bool, progress: bool) -> None:
    from emiss.inference.results import summary_table
    from emiss.inference.scan import DEFAULT_CHUNK_SIZE, load_json_file, scan

    if scheduler is not None and executor != "dask":
        raise EmissError(f"--scheduler {scheduler!r} needs --executor dask")
    if quiet and progress:
        raise EmissError("-q/--quiet and --progress contradict each other; give one")
    if cls_curve and calctype != "asymptotics":
        raise EmissError(f"--cls-curve needs --calctype asymptotics, not {calctype!r}: each "
                         "point of the curve would need its own toys")
    inputs: list[str | Path] = [*workspace_inputs(workspace), *patchsets]
    output_file(output, "results file", inputs)
    if write_csv:
        output_file(Path(output).with_suffix(".csv"), "CSV file", inputs)
    workspace = workspace_arg(workspace)  # bundled stems too
    ws = load_json_file(workspace, "workspace")
    pss = [load_json_file(p, "patchset") for p in patchsets]
    doc = scan(ws, pss, output, names=names_option(names), jobs=jobs, executor=executor,
               scheduler=scheduler, resume=resume, calctype=calctype, engine=engine, cl=cl,
               chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
               write_csv=write_csv, progress=False if quiet else (True if progress else None),
               ntoys=ntoys, toy_seed=toy_seed, workspace_path=workspace,
               observed_only=observed_only, cls_curve=cls_curve)
    click.echo(_scan_line(output, doc))
    click.echo(summary_table(doc), nl=False)


@click.command("compare")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option("-o", "--output", default=None, type=OUT_FILE,
              help="Also write the comparison JSON to this file.")
@click.option("--label", default="m_X", show_default=True,
              help="Mass label profiled for the best-fit mass.")
@click.option("--global-toys", type=A.GLOBAL_TOYS, default=0, show_default=True,
              help="Background-only (mu = 0) toys, each refitted over the whole mass grid, "
                   "for the global significance; needs --workspace and --patchset.")
@click.option("--workspace", "ws_path", default=None,
              help="Background-only workspace of the scan (file or name; for --global-toys "
                   "and --toys).")
@click.option("--patchset", "ps_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Mass-grid patchset(s) of the scan (for --global-toys and --toys; "
                   "repeatable).")
@click.option("--toy-seed", type=A.SEED, default=0, show_default=True)
@click.option("--gv-level", type=A.GV_LEVEL, default=1.0, show_default=True,
              help="Gross-Vitells reference level c0 of q0.")
@click.option("--save-toys", default=None, type=OUT_FILE,
              help="Write every toy (max q0, upcrossings, excursion components) with the "
                   "digests of the likelihood to this toy file, to merge with other jobs.")
@click.option("--toys", "toy_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Toy file of another job (--save-toys; its own --toy-seed) to merge; "
                   "repeatable; with --global-toys N the new toys are added.")
def compare_cmd(results: tuple[str, ...], as_json: bool, output: str | None,
                label: str, global_toys: int, ws_path: str | None,
                ps_paths: tuple[str, ...], toy_seed: int, gv_level: float,
                save_toys: str | None, toy_paths: tuple[str, ...]) -> None:
    """Best-fit mass (68 % interval) per scenario and likelihood ratios against rescaled SM.

    RESULTS are scan outputs on one workspace; include the `sm` (or `heavy-np`) patchset's
    results for the comparison with the SM-shaped rescaling. The global significance of
    the best mass (look-elsewhere effect) is estimated with Gross-Vitells from the scan's
    q0 curve, and with --global-toys N by background-only toys on the fast engine. Toys of
    several jobs merge: run each with its own --toy-seed and --save-toys FILE, then
    `emiss compare ... --toys FILE1 --toys FILE2`.
    """
    from emiss.inference.compare import format_table

    inputs: list[str | Path] = [*results, *ps_paths, *toy_paths,
                                *(workspace_inputs(ws_path) if ws_path else [])]
    output_file(output, "comparison file", inputs)
    if output and save_toys and same_file(output, save_toys):
        raise EmissError(f"--save-toys {save_toys!r} is also the comparison file (-o); give "
                         "each its own file")
    output_file(save_toys, "toy file", inputs)
    out = api.compare(*results, label=label, gv_level=gv_level, global_toys=global_toys,
                      workspace=ws_path, patchsets=ps_paths, seed=toy_seed,
                      toy_files=toy_paths, save_toys=save_toys)
    if output:
        write_json(output, out)
    click.echo(dumps_json(out) if as_json else format_table(out), nl=False)


def _plot_results(kind: str, results: tuple[str, ...], outdir: str, label: str) -> None:
    """Figures of scan results (``emiss.plotting.scan.plot_<kind>``); prints their paths."""
    from emiss.inference.results import load_results
    from emiss.plotting import scan as scan_plots

    output_dir(outdir, inputs=results)
    docs = [load_results(p) for p in results]
    paths = getattr(scan_plots, f"plot_{kind}")(docs, Path(outdir), label=label,
                                                 prefix=api.results_stem(results))
    click.echo(json.dumps([str(p) for p in paths]))


def _plot_help(kind: str, text: str) -> str:
    return (text + "\n\nFiles: <results stem>_" + kind
            + "[_<scenario>].png/.pdf in the -o/--outdir folder.")


#: The options of the three scan figures.
_RESULTS = click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
_OUTDIR = click.option("-o", "--outdir", default="plots", show_default=True, type=OUT_DIR,
                       help="Output folder (created if missing).")
_LABEL = click.option("--label", default="m_X", show_default=True, help="x-axis label key.")


@click.command("limits", help=_plot_help(
    "limits", "Brazil band: 95 % CL upper limit on B versus the mass, per scenario (PNG+PDF)."))
@_RESULTS
@_OUTDIR
@_LABEL
def plot_limits_cmd(results: tuple[str, ...], outdir: str, label: str) -> None:
    _plot_results("limits", results, outdir, label)


@click.command("significance", help=_plot_help(
    "significance", "Local discovery significance Z versus the mass, per scenario (PNG+PDF)."))
@_RESULTS
@_OUTDIR
@_LABEL
def plot_significance_cmd(results: tuple[str, ...], outdir: str, label: str) -> None:
    _plot_results("significance", results, outdir, label)


@click.command("likelihood", help=_plot_help(
    "likelihood", "Profile -2 Delta ln L versus the mass, per scenario (PNG+PDF)."))
@_RESULTS
@_OUTDIR
@_LABEL
def plot_likelihood_cmd(results: tuple[str, ...], outdir: str, label: str) -> None:
    _plot_results("likelihood", results, outdir, label)


@click.command("cls")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="Patch name of the hypothesis (its results row).")
@_OUTDIR
def plot_cls_cmd(results: tuple[str, ...], name: str, outdir: str) -> None:
    """Brazil band of one hypothesis' CLs curve: CLs versus mu (PNG+PDF).

    RESULTS come from `emiss scan --cls-curve`. Files: <results stem>_cls_<name>.png/.pdf in
    the -o/--outdir folder.
    """
    from emiss.inference.results import load_results
    from emiss.plotting import scan as scan_plots

    output_dir(outdir, inputs=results)
    docs = [load_results(p) for p in results]
    paths = scan_plots.plot_cls(docs, Path(outdir), name, prefix=api.results_stem(results))
    click.echo(json.dumps([str(p) for p in paths]))
