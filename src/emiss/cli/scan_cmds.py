"""CLI: ``emiss scan``, ``emiss compare``, ``emiss plot limits|significance|likelihood``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, OUT_FILE
from emiss.errors import EmissError

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


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise EmissError(f"--names {value!r} holds no patch names; give e.g. --names A,B")
    return names


def register(cli: click.Group, plot: click.Group) -> None:
    """Add the scan, compare and plot commands.

    Args:
        cli: the main click group.
        plot: the ``plot`` subgroup.
    """

    @cli.command("scan", help=_SCAN_HELP)
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
    @click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
    def scan_cmd(workspace: str, patchsets: tuple[str, ...], output: str, write_csv: bool,
                 names: str | None, jobs: int | None, executor: str, scheduler: str | None,
                 resume: bool, calctype: str, engine: str, cl: float, ntoys: int,
                 toy_seed: int, chunk_size: int | None, quiet: bool) -> None:
        from emiss.cli._common import output_file, workspace_arg, workspace_inputs
        from emiss.inference.results import summary_table
        from emiss.inference.scan import DEFAULT_CHUNK_SIZE, load_json_file, scan

        if scheduler is not None and executor != "dask":
            raise EmissError(f"--scheduler {scheduler!r} needs --executor dask")
        inputs = [*workspace_inputs(workspace), *patchsets]
        output_file(output, "results file", inputs)
        if write_csv:
            output_file(Path(output).with_suffix(".csv"), "CSV file", inputs)
        workspace = workspace_arg(workspace)  # bundled stems too
        ws = load_json_file(workspace, "workspace")
        pss = [load_json_file(p, "patchset") for p in patchsets]
        doc = scan(ws, pss, output, names=_names(names), jobs=jobs, executor=executor,
                   scheduler=scheduler, resume=resume, calctype=calctype, engine=engine, cl=cl,
                   chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
                   write_csv=write_csv,
                   progress=False if quiet else None, ntoys=ntoys, toy_seed=toy_seed,
                   workspace_path=workspace)
        n_bad = sum(1 for r in doc["results"] if not str(r["status"]).startswith("ok"))
        data = doc.get("workspace", {}).get("label")
        click.echo(f"wrote {output}: {len(doc['results'])} hypotheses"
                   + (f", {n_bad} failed (see their status)" if n_bad else "")
                   + (f"; {data}" if data else ""))
        click.echo(summary_table(doc), nl=False)

    @cli.command("compare")
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
                  help="Background-only workspace of the scan (file or name; for --global-toys).")
    @click.option("--patchset", "ps_paths", multiple=True, type=click.Path(dir_okay=False),
                  help="Mass-grid patchset(s) of the scan (for --global-toys; repeatable).")
    @click.option("--toy-seed", type=A.SEED, default=0, show_default=True)
    @click.option("--gv-level", type=A.GV_LEVEL, default=1.0, show_default=True,
                  help="Gross-Vitells reference level c0 of q0.")
    def compare_cmd(results: tuple[str, ...], as_json: bool, output: str | None,
                    label: str, global_toys: int, ws_path: str | None,
                    ps_paths: tuple[str, ...], toy_seed: int, gv_level: float) -> None:
        """Best-fit mass (68 % interval) per scenario and likelihood ratios against rescaled SM.

        RESULTS are scan outputs on one workspace; include the `sm` (or `heavy-np`) patchset's
        results for the comparison with the SM-shaped rescaling. The global significance of
        the best mass (look-elsewhere effect) is estimated with Gross-Vitells from the scan's
        q0 curve, and with --global-toys N by background-only toys on the fast engine.
        """
        from emiss.cli._common import output_file, workspace_inputs
        from emiss.inference.compare import compare, format_table
        from emiss.inference.results import load_results
        from emiss.io import dumps_json, write_json

        output_file(output, "comparison file",
                    [*results, *ps_paths, *(workspace_inputs(ws_path) if ws_path else [])])
        docs = [load_results(p) for p in results]
        toys = None
        if global_toys:
            toys = _global_toys(docs, ws_path, ps_paths, global_toys, toy_seed, gv_level, label)
        out = compare(docs, label=label, global_toys=toys, gv_level=gv_level)
        if output:
            write_json(output, out)
        click.echo(dumps_json(out) if as_json else format_table(out), nl=False)

    def _global_toys(docs: list, ws_path: str | None, ps_paths: tuple[str, ...], n_toys: int,
                     seed: int, gv_level: float, label: str) -> dict:
        from emiss.inference.fastmodel import FastBackground, UnsupportedSpec
        from emiss.inference.lee import global_significance
        from emiss.inference.results import patch_emiss_meta
        from emiss.inference.scan import check_patchsets, load_json_file

        if n_toys < 0:
            raise EmissError(f"--global-toys {n_toys}: must be >= 0")
        if ws_path is None or not ps_paths:
            raise EmissError("--global-toys needs --workspace WS and --patchset PS (the scan's "
                             "inputs)")
        from emiss.cli._common import workspace_arg

        ws = load_json_file(workspace_arg(ws_path), "workspace")
        pss = [load_json_file(p, "patchset") for p in ps_paths]
        ws_digest, _ = check_patchsets(ws, pss)
        if all(d["workspace_digest"] != ws_digest for d in docs):
            raise EmissError(f"--workspace {ws_path!r} is not the workspace of the results")
        done = {r["name"] for d in docs for r in d["results"] if r.get(label) is not None}
        try:
            bkg = FastBackground(ws, poi=docs[0].get("options", {}).get("poi", "mu"))
        except UnsupportedSpec as exc:
            raise EmissError(f"the fast engine cannot handle this workspace: {exc}") from None
        out = {}
        for path, ps in zip(ps_paths, pss, strict=True):
            if ps["metadata"].get("labels") != [label]:
                raise EmissError(f"--patchset {path!r} has labels {ps['metadata'].get('labels')};"
                                 f" the look-elsewhere scan needs the single label {label!r}")
            pts = [(float(p["metadata"]["values"][0]), p["patch"]) for p in ps["patches"]
                   if p["metadata"]["name"] in done]
            if len(pts) < 2:
                raise EmissError(f"--patchset {path!r}: fewer than 2 of its patches are in the "
                                 "results")
            scen = str(patch_emiss_meta(ps["patches"][0]["metadata"]).get("scenario"))
            out[scen] = global_significance(bkg, pts, n_toys=n_toys, seed=seed,
                                            ref_level=gv_level)
        return out

    def _plot_cmd(name: str, fn_name: str, doc: str) -> None:
        @plot.command(name, help=doc + "\n\nFiles: <results stem>_" + name
                      + "[_<scenario>].png/.pdf in the -o/--outdir folder.")
        @click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
        @click.option("-o", "--outdir", default="plots", show_default=True, type=OUT_DIR,
                      help="Output folder (created if missing).")
        @click.option("--label", default="m_X", show_default=True, help="x-axis label key.")
        def _cmd(results: tuple[str, ...], outdir: str, label: str) -> None:
            from emiss.cli._common import output_dir
            from emiss.inference.results import load_results
            from emiss.plotting import scan as scan_plots

            output_dir(outdir, inputs=results)
            docs = [load_results(p) for p in results]
            prefix = "+".join(dict.fromkeys(Path(p).name.removesuffix(".json") for p in results))
            paths = getattr(scan_plots, fn_name)(docs, Path(outdir), label=label, prefix=prefix)
            click.echo(json.dumps([str(p) for p in paths]))

    _plot_cmd("limits", "plot_limits",
              "Brazil band: 95 % CL upper limit on B versus the mass, per scenario (PNG+PDF).")
    _plot_cmd("significance", "plot_significance",
              "Local discovery significance Z versus the mass, per scenario (PNG+PDF).")
    _plot_cmd("likelihood", "plot_likelihood",
              "Profile -2 Delta ln L versus the mass, per scenario (PNG+PDF).")
