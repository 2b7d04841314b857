"""Scan hypothesis grids: every patch of one or more PatchSets on one background-only workspace.

Structure: the grid shares one background model, so each worker builds one
``GridAnalyzer`` (``emiss.inference.limits``) and reuses it; patches are grouped by patchset,
ordered by their label values (neighbours warm-start each other) and cut into contiguous chunks
of fixed size; chunks run serially, on local processes or on Dask (``executors``). Finished
chunks are appended to a journal next to the output (``results``), so ``resume=True`` continues
after a kill; the final JSON is written atomically, with rows in patchset order, and equals the
file an uninterrupted run writes.

The steps of ``scan``: check the options; read and check the inputs once
(``load_scan_inputs`` -> ``ScanInputs``); then ``_run_scan`` locks the output, reads the journal
on resume (``_resume_state``), plans the chunks (``plan_chunks``), runs them on an executor
(``_run_chunks``: one row per hypothesis, ``ScanInputs.row``) and writes the results
(``_write_output``).

Rows of B -> K* hypotheses also carry the K* polarisation, copied from the ``polarisation`` of
the patch's ``emiss`` block (computed when the patch was built, ``emiss.patches.metadata.
polarisation``): ``FL_process``, ``FL``, ``FL_binned``, ``FL_q2_edges``. Other rows do not have
these keys.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from emiss.contracts import PatchBlock
from emiss.errors import EmissError, Interrupted
from emiss.inference.executors import EXECUTORS, Chunk, Executor, Key, make_executor
from emiss.inference.fastlimits import CLS_CURVE_POINTS
from emiss.inference.results import (
    Journal,
    iter_journal_rows,
    journal_path,
    make_row,
    patch_emiss_meta,
    results_document,
    workspace_record,
    write_results,
)
from emiss.io import OutputLock, check_output_file, read_json, write_error
from emiss.patches.assemble import check_patch_numbers
from emiss.patches.metadata import KSTAR_PROCESSES

log = logging.getLogger(__name__)

#: Hypotheses per chunk. Fixed (not derived from the number of workers) so that the warm-start
#: sequence, and hence every number, is the same for any --jobs / executor / resume.
DEFAULT_CHUNK_SIZE = 8


_WARNED_NO_FL: set[str] = set()


def kstar_process(block: PatchBlock | Mapping[str, Any]) -> str | None:
    """The B -> K* process a patch's ``emiss`` block names, or None.

    Args:
        block: the ``emiss`` block of a patch's metadata.

    Returns:
        The first of KSTAR_PROCESSES named as ``process`` or in ``reference_branching_ratios``.
    """
    if not isinstance(block, PatchBlock):
        block = PatchBlock.from_dict(block, check=False)
    return next((p for p in KSTAR_PROCESSES if p in block.processes), None)


def fl_fields(block: PatchBlock | Mapping[str, Any]) -> dict[str, Any]:
    """The K* polarisation row fields of a hypothesis, from its patch's ``emiss`` block.

    Args:
        block: the block (typed, or as read; checked by ``patch_emiss_meta``).

    Returns:
        {"FL_process", "FL", "FL_binned", "FL_q2_edges"}, or {} for a patch without a
        ``polarisation`` (not B -> K*; a B -> K* patch built before emiss wrote it gives {} and
        a warning once per scenario: rebuild the PatchSet).
    """
    if not isinstance(block, PatchBlock):
        block = PatchBlock.from_dict(block, check=False)
    if block.polarisation is not None:
        return block.polarisation.row_fields()
    proc = kstar_process(block)
    if proc is not None and block.scenario not in _WARNED_NO_FL:
        _WARNED_NO_FL.add(block.scenario)
        log.warning("patches of scenario %r name %s but carry no polarisation (built by an "
                    "older emiss): their rows have no F_L; rebuild the PatchSet to get it",
                    block.scenario, proc)
    return {}


def _digest(obj: Any) -> str:
    import pyhf

    return pyhf.utils.digest(obj)


def check_patchsets(workspace_spec: Mapping[str, Any], patchsets: Sequence[Mapping[str, Any]])\
        -> tuple[str, list[str]]:
    """Check that every patchset was made for this workspace (metadata.digests.sha256).

    Args:
        workspace_spec: background-only workspace JSON.
        patchsets: PatchSet JSON dicts.

    Returns:
        (workspace digest, digests of the patchsets).
    """
    if not patchsets:
        raise EmissError("no patchsets given; need at least one PatchSet JSON")
    check_workspace_shape(workspace_spec)  # else a mismatch of digests would hide the cause
    ws_digest = _digest(workspace_spec)
    ps_digests = []
    for i, ps in enumerate(patchsets):
        try:
            want = ps["metadata"]["digests"]["sha256"]
        except (KeyError, TypeError):
            raise EmissError(f"patchset #{i + 1} has no metadata.digests.sha256; "
                             "is it a pyhf PatchSet?") from None
        if want != ws_digest:
            raise EmissError(f"patchset #{i + 1} was made for workspace sha256 {want}, but the "
                             f"given workspace has sha256 {ws_digest}")
        if not ps.get("patches"):
            raise EmissError(f"patchset #{i + 1} has no patches")
        check_patch_numbers(ps, f"patchset #{i + 1}")
        ps_digests.append(_digest(ps))
    return ws_digest, ps_digests


def _select(patchsets: Sequence[Mapping[str, Any]], names: Sequence[str] | None)\
        -> list[list[int]]:
    """Indices of the selected patches per patchset (all when names is None)."""
    selected = []
    found = set()
    for ps in patchsets:
        idx = []
        for j, p in enumerate(ps["patches"]):
            if names is None or p["metadata"]["name"] in names:
                idx.append(j)
                found.add(p["metadata"]["name"])
        selected.append(idx)
    if names is not None:
        missing = [n for n in names if n not in found]
        if missing:
            known = [p["metadata"]["name"] for ps in patchsets for p in ps["patches"]]
            shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise EmissError(f"patch name(s) {', '.join(missing)} not in the patchsets; "
                             f"valid names: {shown}")
    return selected


def _sort_key(values: Sequence[Any]) -> tuple:
    return tuple((0, float(v)) if isinstance(v, (int, float)) else (1, str(v)) for v in values)


def _in_label_order(patches: Sequence[Mapping[str, Any]], idx: Sequence[int]) -> list[int]:
    """The patch indices idx ordered by the patches' label values (ties: by position)."""
    return sorted(idx, key=lambda j: (_sort_key(patches[j]["metadata"].get("values", [])), j))


def plan_chunks(patchsets: Sequence[Mapping[str, Any]], selected: Sequence[Sequence[int]],
                chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[Chunk]:
    """Group by patchset, order by label values, cut into contiguous chunks.

    Args:
        patchsets: PatchSet JSON dicts.
        selected: patch indices per patchset.
        chunk_size: hypotheses per chunk.

    Returns:
        The chunks (ids ``p<patchset>c<n>``), in a deterministic order.
    """
    if chunk_size < 1:
        raise EmissError(f"chunk size {chunk_size}: must be at least 1")
    chunks = []
    for i, (ps, idx) in enumerate(zip(patchsets, selected, strict=True)):
        patches = ps["patches"]
        order = _in_label_order(patches, idx)
        for c, start in enumerate(range(0, len(order), chunk_size)):
            items = tuple(((i, patches[j]["metadata"]["name"]), patches[j]["patch"])
                          for j in order[start:start + chunk_size])
            chunks.append(Chunk(f"p{i}c{c}", items))
    return chunks


def _labels(patchsets: Sequence[Mapping[str, Any]]) -> list[str]:
    labels: list[str] = []
    for ps in patchsets:
        for lab in ps["metadata"].get("labels", []):
            if lab not in labels:
                labels.append(lab)
    return labels


def _progress(total: int, initial: int, enabled: bool | None) -> Any:
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=not enabled, file=sys.stderr,
                unit="hyp", desc="emiss scan", dynamic_ncols=True)


def _check_scan_options(*, cl: Any, jobs: Any, chunk_size: Any, ntoys: Any, toy_seed: Any,
                        calctype: str, engine: str, executor: str, observed_only: Any = False,
                        cls_curve: Any = False) -> None:
    """The scan's numbers and names against their declared ranges, before any work.

    Raises:
        EmissError: one line naming the bad value and what is valid.
    """
    from emiss import validate as V
    from emiss.inference.limits import CALCTYPES, ENGINES, check_cls_curve

    for name, flag in (("observed_only", observed_only), ("cls_curve", cls_curve)):
        if not isinstance(flag, bool):
            raise EmissError(f"{name} {flag!r} is not a switch; valid: True, False")
    if cls_curve and calctype in CALCTYPES:
        check_cls_curve(CLS_CURVE_POINTS, calctype)

    V.CL.check(cl, "cl")
    V.CHUNK_SIZE.check(chunk_size, "chunk_size")
    V.NTOYS.check(ntoys, "ntoys")
    V.SEED.check(toy_seed, "toy_seed")
    if jobs is not None:
        V.JOBS.check(jobs, "jobs")
    for name, value, valid in (("calctype", calctype, CALCTYPES), ("engine", engine, ENGINES),
                               ("executor", executor, EXECUTORS)):
        if value not in valid:
            raise EmissError(f"{name} {value!r} is unknown; valid: {', '.join(valid)}")


# ------------------------------------------------------------------------ the inputs, read once
@runtime_checkable
class WorkspaceBundle(Protocol):
    """What a scan uses of an ``emiss.bundles.Bundle``: its workspace and the workspace's file."""

    @property
    def spec(self) -> Mapping[str, Any]:
        """The background-only workspace JSON."""
        ...

    @property
    def path(self) -> str | os.PathLike | None:
        """The workspace file."""
        ...


#: A workspace as ``scan`` takes it: JSON, a file path or name, or a bundle.
WorkspaceInput = Mapping[str, Any] | str | os.PathLike | WorkspaceBundle

#: A PatchSet as ``scan`` takes it: JSON or a file path.
PatchSetInput = Mapping[str, Any] | str | os.PathLike


@dataclass(frozen=True)
class ScanInputs:
    """The inputs of a scan, read and checked once.

    Attributes:
        workspace: the background-only workspace JSON.
        workspace_path: its file, recorded in the results (None: not known).
        patchsets: the PatchSet JSON dicts, in input order.
        workspace_digest: sha256 digest of the workspace.
        patchset_digests: sha256 digest of each patchset.
        selected: indices of the selected patches, per patchset.
        hypotheses: the selected patches' metadata by key, in the order of the results rows.
        blocks: the selected patches' checked ``emiss`` blocks by key.
        labels: the patchsets' labels, each once, first seen first.
    """

    workspace: Mapping[str, Any]
    workspace_path: str | os.PathLike | None
    patchsets: list[dict[str, Any]]
    workspace_digest: str
    patchset_digests: list[str]
    selected: list[list[int]]
    hypotheses: dict[Key, Mapping[str, Any]]
    blocks: dict[Key, PatchBlock]
    labels: list[str]

    def row(self, key: Key, analysis: Mapping[str, Any] | None, status: str) -> dict[str, Any]:
        """The results row of one analysed hypothesis, with its K* polarisation fields.

        Args:
            key: the hypothesis.
            analysis: the analyser's output (None when every attempt failed).
            status: "ok" or what failed / which fallback was used.

        Returns:
            The row.
        """
        labels = self.patchsets[key[0]]["metadata"].get("labels", [])
        row = make_row(self.hypotheses[key], labels, analysis, status, key[0])
        row.update(fl_fields(self.blocks[key]))
        return row


def _load_workspace(spec: WorkspaceInput, path: str | os.PathLike | None)\
        -> tuple[Mapping[str, Any], str | os.PathLike | None]:
    """The workspace JSON and the file to record for it (path, when given, wins)."""
    if isinstance(spec, (str, os.PathLike)):
        from emiss.bundles.bundle import resolve_workspace

        resolved = resolve_workspace(spec)  # a file, `belle2` or a bundled stem
        assert resolved is not None  # without missing_ok it raises instead
        return load_json_file(resolved, "workspace"), resolved if path is None else path
    if isinstance(spec, WorkspaceBundle):
        return spec.spec, spec.path if path is None else path
    return spec, path


def _hypotheses(patchsets: Sequence[Mapping[str, Any]], selected: Sequence[Sequence[int]])\
        -> tuple[dict[Key, Mapping[str, Any]], dict[Key, PatchBlock]]:
    """The selected patches' metadata and checked ``emiss`` blocks by key, in row order."""
    meta: dict[Key, Mapping[str, Any]] = {}
    blocks: dict[Key, PatchBlock] = {}
    for i, (ps, idx) in enumerate(zip(patchsets, selected, strict=True)):
        for j in idx:
            pm = ps["patches"][j]["metadata"]
            key = (i, pm["name"])
            if key in meta:
                raise EmissError(f"patch name {pm['name']!r} appears twice in patchset #{i + 1}")
            # fail early on a patch without the emiss block or breaking its contract
            blocks[key] = patch_emiss_meta(pm, f"of patch {pm['name']!r} (patchset #{i + 1})")
            meta[key] = pm
    return meta, blocks


def load_scan_inputs(workspace_spec: WorkspaceInput, patchsets: Sequence[PatchSetInput],
                     names: Sequence[str] | None = None,
                     workspace_path: str | os.PathLike | None = None) -> ScanInputs:
    """Read a scan's workspace and patchsets once and check that they belong together.

    Args:
        workspace_spec, patchsets, names, workspace_path: as for ``scan``.

    Returns:
        The typed inputs.

    Raises:
        EmissError: an unreadable file, a patchset made for another workspace, an unknown or
            twice-used patch name, a patch without a valid ``emiss`` block.
    """
    workspace, workspace_path = _load_workspace(workspace_spec, workspace_path)
    loaded = [load_json_file(ps, "patchset") if isinstance(ps, (str, os.PathLike)) else dict(ps)
              for ps in patchsets]
    ws_digest, ps_digests = check_patchsets(workspace, loaded)
    selected = _select(loaded, list(names) if names is not None else None)
    meta, blocks = _hypotheses(loaded, selected)
    return ScanInputs(workspace, workspace_path, loaded, ws_digest, ps_digests, selected, meta,
                      blocks, _labels(loaded))


def _scan_options(*, cl: float, calctype: str, engine: str, poi: str, chunk_size: int,
                  ntoys: int, toy_seed: int, observed_only: bool, cls_curve: bool)\
        -> dict[str, Any]:
    """The ``options`` of the results document (and of the journal's header)."""
    options: dict[str, Any] = {"cl": cl, "calctype": calctype, "engine": engine, "poi": poi,
                               "chunk_size": chunk_size}
    if calctype == "toybased":
        options.update({"ntoys": int(ntoys), "toy_seed": int(toy_seed)})
    if observed_only:  # only when set: a scan without it writes the file it always wrote
        options["observed_only"] = True
    if cls_curve:
        options["cls_curve"] = CLS_CURVE_POINTS
    return options


# ------------------------------------------------------------------ output, journal and resume
def _claim_output(output: str | os.PathLike) -> tuple[Path, OutputLock]:
    """The journal of output (checked) and the lock that keeps a second scan off output."""
    jpath = journal_path(output)
    if jpath.is_dir():
        raise EmissError(f"the scan journal {str(jpath)!r} of {str(output)!r} is a folder; "
                         "move it away or give another -o")
    check_output_file(jpath, "scan journal")  # a link or device there: one line
    return jpath, OutputLock(output, "results file").acquire()  # a second scan on it refuses


def _check_resumable(old: Mapping[str, Any], header: Mapping[str, Any], jpath: Path) -> None:
    """EmissError unless the journal's header is that of this scan (chunk size aside)."""
    for name in ("workspace_digest", "patchset_digests", "names"):
        if old.get(name) != header[name]:
            raise EmissError(f"cannot resume: journal {jpath} has {name}={old.get(name)!r} but "
                             f"this scan has {header[name]!r}; rerun without --resume")
    old_opts, options = old.get("options", {}), header["options"]
    for name in ("cl", "calctype", "engine", "poi", "ntoys", "toy_seed", "observed_only",
                 "cls_curve"):
        if old_opts.get(name) != options.get(name):
            raise EmissError(f"cannot resume: journal {jpath} used {name}="
                             f"{old_opts.get(name)!r}, this scan {name}={options.get(name)!r}")


def _resume_state(jpath: Path | None, header: Mapping[str, Any], resume: bool,
                  n_hypotheses: int) -> tuple[dict[Key, dict[str, Any]], int | None, int]:
    """What an earlier run of this scan left in its journal.

    Args:
        jpath: the journal (None: no output file).
        header: this scan's journal header (digests, names, options).
        resume: continue from the journal.
        n_hypotheses: hypotheses of this scan (for the log).

    Returns:
        (rows done by key, byte length of the journal's prefix to keep or None for a fresh
        journal, chunk size: the journal's on resume, else this scan's).
    """
    chunk_size = int(header["options"]["chunk_size"])
    if not resume:
        if jpath is not None and jpath.exists():
            log.warning("overwriting the old journal %s (use --resume to continue it)", jpath)
        return {}, None, chunk_size
    if jpath is None:
        raise EmissError("--resume needs an output file (its journal holds the progress)")
    old, chunk_recs, prefix = Journal.read(jpath)
    if old is None:
        log.warning("no journal %s to resume from; starting from scratch", jpath)
        return {}, None, chunk_size
    _check_resumable(old, header, jpath)
    done = {_key(k): row for k, row in iter_journal_rows(chunk_recs)}
    log.info("resuming: %d of %d hypotheses already done", len(done), n_hypotheses)
    return done, prefix, int(old.get("options", {}).get("chunk_size", chunk_size))


def _key(raw: Sequence[Any]) -> Key:
    """A hypothesis' key as a hashable tuple (the journal and transports give lists)."""
    return raw[0], raw[1]


def _start_executor(name: str, inputs: ScanInputs, options: Mapping[str, Any],
                    jobs: int | None, scheduler: Any) -> Executor:
    """The executor ``name`` with the analyser options the workers need."""
    ex_options = {"workspace_digest": inputs.workspace_digest, "poi": options["poi"],
                  "cl": options["cl"], "calctype": options["calctype"],
                  "engine": options["engine"]}
    ex_options.update({k: options[k] for k in ("ntoys", "toy_seed", "observed_only",
                                               "cls_curve") if k in options})
    return make_executor(name, inputs.workspace, ex_options, jobs=jobs, scheduler=scheduler)


def _start_journal(journal: Journal, header: Mapping[str, Any], resume_prefix: int | None,
                   ex: Executor | None) -> None:
    """Open the journal (fresh, or keeping resume_prefix bytes); on failure stop ex too."""
    try:
        journal.start(header, resume_prefix=resume_prefix)
    except OSError as exc:
        journal.close(remove=resume_prefix is None)  # a fresh one goes
        if ex is not None:
            ex.close()
        raise write_error(journal.path, exc, "scan journal") from None


# ------------------------------------------------------------------------------------ the run
def _record_chunk(journal: Journal, chunk_id: str, keyed: list[tuple[list, dict]],
                  n_done: int) -> None:
    """Append a finished chunk to the journal, with a clear error when that fails."""
    try:
        journal.append_chunk(chunk_id, keyed)
    except OSError as exc:  # e.g. disk full; the chunks before it are kept
        raise EmissError(
            f"cannot append to the scan journal {str(journal.path)!r}: "
            f"{exc.strerror or exc}; the {n_done - len(keyed)} "
            "hypotheses recorded before are kept: make room, then rerun "
            "the same command with --resume") from None


def _run_chunks(ex: Executor, chunks: Sequence[Chunk], inputs: ScanInputs,
                done: dict[Key, dict[str, Any]], journal: Journal | None,
                progress: bool | None) -> None:
    """Run the chunks; each hypothesis' row goes into done, each finished chunk to the journal.

    Closes the executor and the journal at the end, also on an error or an interrupt.
    """
    n_all = len(inputs.hypotheses)
    bar = _progress(total=n_all, initial=n_all - sum(len(c.items) for c in chunks),
                    enabled=progress)
    n_failed = 0
    try:
        for chunk_id, outcomes in ex.run(chunks):
            keyed: list[tuple[list, dict]] = []
            for raw_key, analysis, status in outcomes:
                key = _key(raw_key)
                row = inputs.row(key, analysis, status)
                if not status.startswith("ok"):
                    n_failed += 1
                    log.warning("hypothesis %s failed: %s", key[1], status)
                done[key] = row
                keyed.append((list(key), row))
            if journal is not None:
                _record_chunk(journal, chunk_id, keyed, len(done))
            bar.update(len(outcomes))
    finally:
        ex.close()
        bar.close()
        if journal is not None:
            journal.close()
    if n_failed:
        log.warning("%d hypotheses failed (reported in their status)", n_failed)


def _write_output(output: str | os.PathLike, doc: Mapping[str, Any], n_rows: int,
                  write_csv: bool, journal: Journal | None) -> None:
    """Write the results (and CSV); then the journal goes."""
    try:
        write_results(output, doc, with_csv=write_csv)
    except EmissError as exc:  # e.g. disk full: the journal still holds every row
        if journal is None:
            raise
        raise EmissError(f"{exc}; the journal {str(journal.path)!r} keeps all {n_rows} "
                         "hypotheses: rerun the same command with --resume once it can "
                         "be written") from None
    if journal is not None:
        journal.close(remove=True)
    log.info("wrote %s (%d hypotheses)", output, n_rows)


def _run_scan(inputs: ScanInputs, header: dict[str, Any], ws_record: dict[str, Any] | None,
              output: str | os.PathLike | None, *, executor: str, jobs: int | None,
              scheduler: Any, resume: bool, write_csv: bool, progress: bool | None)\
        -> dict[str, Any]:
    """Run a scan of checked inputs: lock the output, resume, run the chunks, write the results.

    Args:
        inputs: the scan's inputs.
        header: the journal's header; its ``options`` are the results document's.
        ws_record: the results' ``workspace`` block.
        output, executor, jobs, scheduler, resume, write_csv, progress: as for ``scan``.

    Returns:
        The results document.
    """
    options = header["options"]
    jpath, lock = _claim_output(output) if output is not None else (None, None)
    done: dict[Key, dict[str, Any]] = {}
    journal = None
    try:
        done, prefix, chunk_size = _resume_state(jpath, header, resume, len(inputs.hypotheses))
        options["chunk_size"] = chunk_size  # on resume: the journal's
        chunks = [c for c in plan_chunks(inputs.patchsets, inputs.selected, chunk_size)
                  if not all(k in done for k in c.keys)]
        # the executor before the journal: a bad --jobs or an unreachable scheduler leaves nothing
        ex = _start_executor(executor, inputs, options, jobs, scheduler) if chunks else None
        if jpath is not None:
            journal = Journal(jpath)
            _start_journal(journal, header, prefix, ex)
        if ex is not None:
            _run_chunks(ex, chunks, inputs, done, journal, progress)
        rows = [done[key] for key in inputs.hypotheses]
        doc = results_document(inputs.workspace_digest, inputs.patchset_digests, inputs.labels,
                               options, rows, workspace=ws_record)
        if output is not None:
            _write_output(output, doc, len(rows), write_csv, journal)
        return doc
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM in the CLI: say what is kept
        if journal is None:
            raise
        raise Interrupted(
            f"{len(done)} of {len(inputs.hypotheses)} hypotheses are in the journal "
            f"{str(journal.path)!r}: rerun the same command with --resume to continue",
            signum=getattr(exc, "signum", None)) from None
    finally:
        if lock is not None:
            lock.release()


def scan(
    workspace_spec: WorkspaceInput, patchsets: Sequence[PatchSetInput],
    output: str | os.PathLike | None = None, *, names: Sequence[str] | None = None,
    jobs: int | None = None, executor: str = "local", scheduler: Any = None,
    resume: bool = False, calctype: str = "asymptotics", engine: str = "fast", cl: float = 0.95,
    poi: str = "mu", chunk_size: int = DEFAULT_CHUNK_SIZE, write_csv: bool = False,
    progress: bool | None = None, ntoys: int = 2000, toy_seed: int = 0,
    workspace_path: str | os.PathLike | None = None, observed_only: bool = False,
    cls_curve: bool = False,
) -> dict[str, Any]:
    """Run limits, discovery and best fits for every selected patch.

    Args:
        workspace_spec: background-only workspace: a JSON dict, a file path, a name
            (``belle2``, a bundled stem) or an ``emiss.bundles.Bundle``.
        patchsets: PatchSet JSON dicts (or file paths) made for that workspace.
        output: RESULTS.json (None: return only, no journal).
        names: restrict to these patch names.
        jobs: local worker processes (default and at most: the cores this process may use;
            1 = in this process).
        executor: "local" or "dask".
        scheduler: Dask scheduler address (or a ``distributed.Client``) for executor "dask".
        resume: continue from the journal next to ``output``.
        calctype: "asymptotics" or "toybased".
        engine: "fast", "reference" (the previous fast engine) or "pyhf".
        cl: confidence level of the upper limits.
        poi: parameter of interest.
        chunk_size: hypotheses per chunk (on resume the journal's value is used).
        write_csv: also write RESULTS.csv.
        progress: progress bar on stderr (None: only when stderr is a terminal).
        ntoys: toys per distribution (calctype "toybased").
        toy_seed: seed of the toys (calctype "toybased").
        workspace_path: the workspace file, recorded (name, data source from its sidecar) in
            the results' ``workspace`` block; defaults to ``workspace_spec`` when that is a
            path.
        observed_only: observed limits, p0 and best fits only: the expected limits (and the
            B and coupling bands) are null, and ``options.observed_only`` says so. The
            asymptotic engines skip the expected limits' fits; toy-based rows drop the band.
        cls_curve: each row also keeps its CLs curve (``cls_curve``: observed and expected
            CLs on ``CLS_CURVE_POINTS`` values of mu up to beyond its limits; about two fits a
            point), ``options.cls_curve`` the number of points; asymptotics only.

    Returns:
        The results document (also written to ``output``).

    Raises:
        EmissError: bad inputs; ``output`` locked by another running scan (``<output>.lock``);
            a write that failed (the journal keeps the finished hypotheses).
        emiss.errors.Interrupted: SIGINT (or SIGTERM in the CLI) stopped the scan; its message
            names the journal that ``resume=True`` continues from.
    """
    _check_scan_options(cl=cl, jobs=jobs, chunk_size=chunk_size, ntoys=ntoys,
                        toy_seed=toy_seed, calctype=calctype, engine=engine, executor=executor,
                        observed_only=observed_only, cls_curve=cls_curve)
    if engine == "pyhf" and calctype == "toybased":
        from emiss.inference.limits import check_pyhf_toys

        check_pyhf_toys()  # before any work: pyhf's toys may not run with this numpy
    inputs = load_scan_inputs(workspace_spec, patchsets, names, workspace_path)
    options = _scan_options(cl=float(cl), calctype=calctype, engine=engine, poi=poi,
                            chunk_size=int(chunk_size), ntoys=ntoys, toy_seed=toy_seed,
                            observed_only=observed_only, cls_curve=cls_curve)
    header = {"workspace_digest": inputs.workspace_digest,
              "patchset_digests": inputs.patchset_digests,
              "names": sorted(names) if names is not None else None, "options": options}
    ws_record = workspace_record(inputs.workspace_path)  # a bad sidecar fails before any work
    return _run_scan(inputs, header, ws_record, output, executor=executor, jobs=jobs,
                     scheduler=scheduler, resume=resume, write_csv=write_csv, progress=progress)


def load_json_file(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a JSON input file with a clear error (``emiss.io.read_json``).

    Args:
        path: file path.
        what: "workspace" or "patchset" (for the message).

    Returns:
        The parsed JSON object (a "workspace" is also checked to be a pyhf workspace).

    Raises:
        EmissError: one line naming the file: missing, a folder, unreadable, not JSON, not an
            object, or (for a workspace) not a pyhf workspace.
    """
    obj = read_json(path, what)
    if not isinstance(obj, dict):
        raise EmissError(f"{what} file {str(path)!r} does not hold a JSON object")
    if what == "workspace":
        check_workspace_shape(obj, repr(str(path)))
    return obj


#: Top-level keys every pyhf workspace has (pyhf schema workspace.json).
WORKSPACE_KEYS = ("channels", "observations", "measurements")


def check_workspace_shape(spec: Any, name: str = "the workspace") -> None:
    """EmissError unless spec looks like a pyhf workspace (a cheap check of its top level).

    Args:
        spec: parsed JSON.
        name: how the message names it.

    Raises:
        EmissError: spec is not an object with the lists ``channels``, ``observations`` and
            ``measurements`` (a PatchSet or a results file given as the workspace, e.g.).
    """
    if isinstance(spec, Mapping) and all(isinstance(spec.get(k), list) for k in WORKSPACE_KEYS):
        return
    if isinstance(spec, Mapping) and "patches" in spec:
        kind = "a pyhf PatchSet"
    elif isinstance(spec, Mapping) and "results" in spec:
        kind = "an emiss results file"
    else:
        kind = "JSON without the lists " + ", ".join(WORKSPACE_KEYS)
    raise EmissError(f"workspace {name} is not a pyhf workspace (it is {kind}); give the "
                     "background-only workspace JSON (or a bundled name such as belle2)")
