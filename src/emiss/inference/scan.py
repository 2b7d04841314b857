"""Scan hypothesis grids: every patch of one or more PatchSets on one background-only workspace.

Structure (issue 5): the grid shares one background model, so each worker builds one
``GridAnalyzer`` (``emiss.inference.limits``) and reuses it; patches are grouped by patchset,
ordered by their label values (neighbours warm-start each other) and cut into contiguous chunks
of fixed size; chunks run serially, on local processes or on Dask (``executors``). Finished
chunks are appended to a journal next to the output (``results``), so ``resume=True`` continues
after a kill; the final JSON is written atomically, with rows in patchset order, and equals the
file an uninterrupted run writes.

Rows of patches whose metadata ``emiss`` block names a B -> K* process (``process`` or a key of
``reference_branching_ratios``) also carry the K* polarisation of the hypothesis (issue 7.4):
``FL_process``, ``FL``, ``FL_binned``, ``FL_q2_edges`` (``emiss.physics.observables.fl_row`` of
the physics spectrum with central form factors). Other rows are unchanged and cost nothing extra.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emiss.errors import EmissError, Interrupted
from emiss.inference.executors import EXECUTORS, Chunk, make_executor
from emiss.inference.results import (
    Journal,
    _round,
    iter_journal_rows,
    journal_path,
    make_row,
    patch_emiss_meta,
    results_document,
    workspace_record,
    write_results,
)
from emiss.io import OutputLock, check_output_file, write_error
from emiss.patches.assemble import check_patch_numbers

log = logging.getLogger(__name__)

#: Hypotheses per chunk. Fixed (not derived from the number of workers) so that the warm-start
#: sequence, and hence every number, is the same for any --jobs / executor / resume.
DEFAULT_CHUNK_SIZE = 8


#: B -> K* processes whose polarisation a row reports (the first one a patch names).
KSTAR_PROCESSES = ("B0->K*0", "B+->K*+")


def kstar_process(block: Mapping[str, Any]) -> str | None:
    """The B -> K* process a patch's ``emiss`` block names, or None.

    Args:
        block: the ``emiss`` block of a patch's metadata.

    Returns:
        The first of KSTAR_PROCESSES named as ``process`` or in ``reference_branching_ratios``.
    """
    named = {block.get("process"), *(block.get("reference_branching_ratios") or {})}
    return next((p for p in KSTAR_PROCESSES if p in named), None)


def fl_fields(block: Mapping[str, Any]) -> dict[str, Any]:
    """Binned <F_L> row fields of a K* hypothesis ({} when the patch names no K* process).

    The spectrum is ``get_scenario(scenario).spectrum(process, m_X, parameters)`` with central
    form factors; F_L does not depend on the overall coupling, so the defaults of parameters the
    block does not list are right. An unknown scenario (a patch from elsewhere) gives {} and a
    warning.

    Args:
        block: the ``emiss`` block of a patch's metadata.

    Returns:
        {"FL_process", "FL", "FL_binned", "FL_q2_edges"} or {}.
    """
    proc = kstar_process(block)
    if proc is None:
        return {}
    from emiss.physics.observables import fl_row
    from emiss.physics.scenarios import get_scenario

    try:
        spec = get_scenario(str(block.get("scenario"))).spectrum(
            proc, mass=block.get("m_X"), params=dict(block.get("parameters") or {}))
        fl = fl_row(spec)
    except EmissError as exc:
        log.warning("no F_L for scenario %r (%s): %s", block.get("scenario"), proc, exc)
        return {}
    return {"FL_process": proc, "FL": _round(fl["FL"]),
            "FL_binned": [_round(v) for v in fl["FL_binned"]],
            "FL_q2_edges": fl["FL_q2_edges"]}


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
        order = sorted(idx, key=lambda j, ps=ps: (_sort_key(ps["patches"][j]["metadata"]
                                                            .get("values", [])), j))
        for c, start in enumerate(range(0, len(order), chunk_size)):
            items = tuple(((i, ps["patches"][j]["metadata"]["name"]), ps["patches"][j]["patch"])
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
                        calctype: str, engine: str, executor: str) -> None:
    """The scan's numbers and names against their declared ranges, before any work.

    Raises:
        EmissError: one line naming the bad value and what is valid.
    """
    from emiss import validate as V
    from emiss.inference.limits import CALCTYPES, ENGINES

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


def scan(
    workspace_spec: Mapping[str, Any] | str | os.PathLike,
    patchsets: Sequence[Mapping[str, Any] | str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    names: Sequence[str] | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: Any = None,
    resume: bool = False,
    calctype: str = "asymptotics",
    engine: str = "fast",
    cl: float = 0.95,
    poi: str = "mu",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    write_csv: bool = False,
    progress: bool | None = None,
    ntoys: int = 2000,
    toy_seed: int = 0,
    workspace_path: str | os.PathLike | None = None,
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

    Returns:
        The results document (also written to ``output``).

    Raises:
        EmissError: bad inputs; ``output`` locked by another running scan (``<output>.lock``);
            a write that failed (the journal keeps the finished hypotheses).
        emiss.errors.Interrupted: SIGINT (or SIGTERM in the CLI) stopped the scan; its message
            names the journal that ``resume=True`` continues from.
    """
    _check_scan_options(cl=cl, jobs=jobs, chunk_size=chunk_size, ntoys=ntoys,
                        toy_seed=toy_seed, calctype=calctype, engine=engine, executor=executor)
    cl, chunk_size = float(cl), int(chunk_size)
    if engine == "pyhf" and calctype == "toybased":
        from emiss.inference.limits import check_pyhf_toys

        check_pyhf_toys()  # before any work: pyhf's toys may not run with this numpy
    if isinstance(workspace_spec, (str, os.PathLike)):
        from emiss.bundles.bundle import resolve_workspace

        resolved = resolve_workspace(workspace_spec)  # a file, `belle2` or a bundled stem
        workspace_path = resolved if workspace_path is None else workspace_path
        workspace_spec = load_json_file(resolved, "workspace")
    elif hasattr(workspace_spec, "spec") and hasattr(workspace_spec, "path"):  # a Bundle
        workspace_path = workspace_spec.path if workspace_path is None else workspace_path
        workspace_spec = workspace_spec.spec
    patchsets = [load_json_file(ps, "patchset") if isinstance(ps, (str, os.PathLike)) else dict(ps)
                 for ps in patchsets]
    ws_digest, ps_digests = check_patchsets(workspace_spec, patchsets)
    selected = _select(patchsets, list(names) if names is not None else None)
    meta = {}
    for i, (ps, idx) in enumerate(zip(patchsets, selected, strict=True)):
        for j in idx:
            pm = ps["patches"][j]["metadata"]
            patch_emiss_meta(pm)  # fail early on a patch without the emiss block
            key = (i, pm["name"])
            if key in meta:
                raise EmissError(f"patch name {pm['name']!r} appears twice in patchset #{i + 1}")
            meta[key] = pm
    labels = _labels(patchsets)
    options = {"cl": cl, "calctype": calctype, "engine": engine, "poi": poi,
               "chunk_size": chunk_size}
    if calctype == "toybased":
        options.update({"ntoys": int(ntoys), "toy_seed": int(toy_seed)})
    header = {"workspace_digest": ws_digest, "patchset_digests": ps_digests,
              "names": sorted(names) if names is not None else None, "options": options}

    ws_record = workspace_record(workspace_path)  # a bad sidecar fails before any work
    done: dict[tuple, dict] = {}
    journal = None
    jpath = journal_path(output) if output is not None else None
    lock = None
    if jpath is not None:
        if jpath.is_dir():
            raise EmissError(f"the scan journal {str(jpath)!r} of {str(output)!r} is a folder; "
                             "move it away or give another -o")
        check_output_file(jpath, "scan journal")  # a link or device there: one line
        lock = OutputLock(output, "results file").acquire()  # a second scan on it refuses
    try:
        prefix = None
        if resume:
            if jpath is None:
                raise EmissError("--resume needs an output file (its journal holds the progress)")
            old, chunk_recs, prefix = Journal.read(jpath)
            if old is None:
                log.warning("no journal %s to resume from; starting from scratch", jpath)
                prefix = None
            else:
                for key in ("workspace_digest", "patchset_digests", "names"):
                    if old.get(key) != header[key]:
                        raise EmissError(f"cannot resume: journal {jpath} has "
                                         f"{key}={old.get(key)!r} but this scan has "
                                         f"{header[key]!r}; rerun without --resume")
                old_opts = old.get("options", {})
                for key in ("cl", "calctype", "engine", "poi", "ntoys", "toy_seed"):
                    if old_opts.get(key) != options.get(key):
                        raise EmissError(f"cannot resume: journal {jpath} used {key}="
                                         f"{old_opts.get(key)!r}, this scan {key}="
                                         f"{options.get(key)!r}")
                chunk_size = int(old_opts.get("chunk_size", chunk_size))
                options["chunk_size"] = chunk_size
                done = dict(iter_journal_rows(chunk_recs))
                log.info("resuming: %d of %d hypotheses already done", len(done), len(meta))
        elif jpath is not None and jpath.exists():
            log.warning("overwriting the old journal %s (use --resume to continue it)", jpath)

        chunks = [c for c in plan_chunks(patchsets, selected, chunk_size)
                  if not all(k in done for k in c.keys)]
        ex = None
        if chunks:  # before the journal: a bad --jobs or an unreachable scheduler leaves nothing
            ex_options = {"workspace_digest": ws_digest, "poi": poi, "cl": cl,
                          "calctype": calctype, "engine": engine}
            ex_options.update({k: options[k] for k in ("ntoys", "toy_seed") if k in options})
            ex = make_executor(executor, workspace_spec, ex_options, jobs=jobs,
                               scheduler=scheduler)
        if jpath is not None:
            journal = Journal(jpath)
            try:
                journal.start(header, resume_prefix=prefix if resume else None)
            except OSError as exc:
                journal.close(remove=not resume or prefix is None)  # a fresh one goes
                if ex is not None:
                    ex.close()
                raise write_error(jpath, exc, "scan journal") from None

        if ex is not None:
            n_todo = sum(len(c.items) for c in chunks)
            bar = _progress(total=len(meta), initial=len(meta) - n_todo, enabled=progress)
            n_failed = 0
            try:
                for chunk_id, outcomes in ex.run(chunks):
                    keyed = []
                    for key, analysis, status in outcomes:
                        key = tuple(key)
                        row = make_row(meta[key],
                                       patchsets[key[0]]["metadata"].get("labels", []),
                                       analysis, status, key[0])
                        row.update(fl_fields(meta[key]["emiss"]))
                        if not status.startswith("ok"):
                            n_failed += 1
                            log.warning("hypothesis %s failed: %s", key[1], status)
                        done[key] = row
                        keyed.append((list(key), row))
                    if journal is not None:
                        try:
                            journal.append_chunk(chunk_id, keyed)
                        except OSError as exc:  # e.g. disk full; the chunks before it are kept
                            raise EmissError(
                                f"cannot append to the scan journal {str(jpath)!r}: "
                                f"{exc.strerror or exc}; the {len(done) - len(keyed)} "
                                "hypotheses recorded before are kept: make room, then rerun "
                                "the same command with --resume") from None
                    bar.update(len(outcomes))
            finally:
                ex.close()
                bar.close()
                if journal is not None:
                    journal.close()
            if n_failed:
                log.warning("%d hypotheses failed (reported in their status)", n_failed)

        rows = [done[(i, ps["patches"][j]["metadata"]["name"])]
                for i, (ps, idx) in enumerate(zip(patchsets, selected, strict=True))
                for j in idx]
        doc = results_document(ws_digest, ps_digests, labels, options, rows,
                               workspace=ws_record)
        if output is not None:
            try:
                write_results(output, doc, with_csv=write_csv)
            except EmissError as exc:  # e.g. disk full: the journal still holds every row
                if journal is None:
                    raise
                raise EmissError(f"{exc}; the journal {str(jpath)!r} keeps all {len(rows)} "
                                 "hypotheses: rerun the same command with --resume once it can "
                                 "be written") from None
            if journal is not None:
                journal.close(remove=True)
            log.info("wrote %s (%d hypotheses)", output, len(rows))
        return doc

    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM in the CLI: say what is kept
        if journal is None:
            raise
        raise Interrupted(
            f"{len(done)} of {len(meta)} hypotheses are in the journal {str(jpath)!r}: rerun "
            "the same command with --resume to continue",
            signum=getattr(exc, "signum", None)) from None
    finally:
        if lock is not None:
            lock.release()

def load_json_file(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a JSON input file with a clear error.

    Args:
        path: file path.
        what: "workspace" or "patchset" (for the message).

    Returns:
        The parsed JSON object (a "workspace" is also checked to be a pyhf workspace).

    Raises:
        EmissError: one line naming the file: missing, a folder, unreadable, not JSON, not an
            object, or (for a workspace) not a pyhf workspace.
    """
    import json

    p = Path(path)
    if p.is_dir():
        raise EmissError(f"{what} file {str(p)!r} is a folder; give the {what} JSON file")
    try:
        with open(p, encoding="utf-8") as fh:
            obj = json.load(fh)
    except FileNotFoundError:
        raise EmissError(f"{what} file {str(p)!r} does not exist") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise EmissError(f"{what} file {str(p)!r} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise EmissError(f"{what} file {str(p)!r} cannot be read ({exc.strerror or exc})") \
            from None
    if not isinstance(obj, dict):
        raise EmissError(f"{what} file {str(p)!r} does not hold a JSON object")
    if what == "workspace":
        check_workspace_shape(obj, repr(str(p)))
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
