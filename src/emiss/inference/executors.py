"""Where the chunks of a scan run: in this process, in local worker processes, or on Dask.

A *chunk* is a contiguous slice of one patchset's hypotheses, ordered by their label values, so
consecutive fits warm-start from their neighbour. Every worker builds its ``GridAnalyzer`` (the
shared background model) once and reuses it for all chunks it receives; a chunk always starts
cold, so its numbers do not depend on which worker ran it or in which order (that is what makes a
resumed scan byte-identical to an uninterrupted one).

Each hypothesis is retried with other strategies when its fit fails: a cold start (no warm
start), the previous fast engine (``reference``: dense Newton steps, secant root finding), then
the plain pyhf engine; if all fail, the failure is reported, never dropped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from emiss.errors import EmissError

log = logging.getLogger(__name__)

#: Executor names accepted by :func:`make_executor`.
EXECUTORS = ("local", "dask")


#: A hypothesis' key: (position of its patchset in the scan's input list, patch name).
Key = tuple[int, str]


@dataclass(frozen=True)
class Chunk:
    """A unit of work: hypotheses (key, JSON Patch ops) run in this order by one worker."""

    chunk_id: str
    items: tuple[tuple[Key, list], ...] = field(repr=False)

    @property
    def keys(self) -> list[Key]:
        """Keys (patchset index, patch name) of the chunk's hypotheses."""
        return [k for k, _ in self.items]


#: outcome of one hypothesis: (key, analysis dict or None, status)
Outcome = tuple[Key, "dict[str, Any] | None", str]


class Executor(Protocol):
    """Where a scan's chunks run (``SerialExecutor``, ``LocalExecutor``, ``DaskExecutor``)."""

    def run(self, chunks: Sequence[Chunk]) -> Iterator[tuple[str, list[Outcome]]]:
        """Yield (chunk id, outcomes) as the chunks finish."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


# ---------------------------------------------------------------------------- worker-side code
_LOCAL = threading.local()
_WORKER_CTX: dict[str, Any] = {}


def _analyser(workspace_spec: Mapping[str, Any], options: Mapping[str, Any], engine: str) -> Any:
    """The worker's (thread's) cached GridAnalyzer for this workspace and options."""
    from emiss.inference.limits import GridAnalyzer

    cache = getattr(_LOCAL, "analysers", None)
    if cache is None:
        cache = _LOCAL.analysers = {}
    toys = {k: options[k] for k in ("ntoys", "toy_seed") if k in options}
    only, points = bool(options.get("observed_only")), int(options.get("cls_curve", 0))
    key = (options["workspace_digest"], options["poi"], options["cl"], options["calctype"], engine,
           tuple(sorted(toys.items())), only, points)
    if key not in cache:
        log.debug("building GridAnalyzer %s", key)
        cache[key] = GridAnalyzer(dict(workspace_spec), poi=options["poi"], cl=options["cl"],
                                  calctype=options["calctype"], engine=engine,
                                  observed_only=only, cls_points=points, **toys)
    return cache[key]


def _warm_state(result: Mapping[str, Any]) -> Any:
    """The warm-start state in an analyser result (key ``warm_start`` per the limits contract)."""
    for key in ("warm_start", "state"):
        if key in result:
            return result[key]
    return None


def _is_ok(result: Mapping[str, Any] | None) -> bool:
    """An attempt succeeded: status starts with "ok" and the observed limit is a number."""
    if result is None:
        return False
    if not str(result.get("status", "ok")).startswith("ok"):
        return False
    lim = result.get("mu_limit_obs")
    return lim is not None and not (isinstance(lim, float) and math.isnan(lim))


def _clean(result: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the (possibly unpicklable, bulky) warm-start state before sending results back."""
    return {k: v for k, v in result.items() if k not in ("warm_start", "state")}


def _pyhf_workspace(workspace_spec: Mapping[str, Any], options: Mapping[str, Any]) -> Any:
    """The thread's cached pyhf.Workspace of the background-only spec."""
    import pyhf

    cache = getattr(_LOCAL, "workspaces", None)
    if cache is None:
        cache = _LOCAL.workspaces = {}
    key = options["workspace_digest"]
    if key not in cache:
        cache[key] = pyhf.Workspace(dict(workspace_spec))
    return cache[key]


def pyhf_positive_bracket(workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                          patch_ops: list) -> dict[str, Any]:
    """Last-resort strategy: plain pyhf with the limit bracket starting above μ = 0.

    ``pyhf.infer.intervals.upper_limits.upper_limit`` starts its toms748 bracket at the POI's
    lower bound, μ = 0, where the qtilde asymptotic test statistic is 0/0 when the best fit is
    also at 0 (CLs = nan, "function value at x=0 is NaN"). Here the bracket starts at 1e-4 of the
    POI's upper bound (pyhf's ``toms748_scan`` halves it further if it does not bracket).

    Args:
        workspace_spec: background-only workspace.
        options: poi, cl, calctype, workspace_digest.
        patch_ops: the hypothesis' JSON Patch ops.

    Returns:
        Analysis dict with the keys of ``emiss.inference.limits.ROW_KEYS``.
    """
    import pyhf
    from scipy.stats import norm

    from emiss.inference.limits import (  # pyhf's scan, bounded work
        bounded_toms748_scan,
        pyhf_cls_curve,
    )

    ws = _pyhf_workspace(workspace_spec, options)
    model = ws.model(patches=[patch_ops], poi_name=options["poi"])
    data = ws.data(model)
    pars, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    lo, hi = model.config.suggested_bounds()[model.config.poi_index]
    low = lo if lo > 0 else 1e-4 * hi
    level = 1.0 - options["cl"]
    toys = ({"ntoys": int(options.get("ntoys", 2000))}
            if options["calctype"] == "toybased" else {})
    obs, exp, _ = bounded_toms748_scan(data, model, low, hi, level=level,
                                       expected=not options.get("observed_only"),
                                       calctype=options["calctype"], **toys)
    p0 = float(pyhf.infer.hypotest(0.0, data, model, test_stat="q0",
                                   calctype=options["calctype"], **toys))
    mu_obs, mu_exp = float(obs), [float(e) for e in exp]
    out: dict[str, Any] = {
        "mu_hat": float(pars[model.config.poi_index]), "mu_upper_bound": float(hi),
        "twice_nll": float(twice_nll), "mu_limit_obs": mu_obs, "mu_limit_exp": mu_exp, "p0": p0,
        "Z": float(max(norm.isf(p0), 0.0)), "status": "ok"}
    if options.get("cls_curve"):
        out["cls_curve"] = pyhf_cls_curve(data, model, mu_obs, mu_exp, int(options["cls_curve"]),
                                          calctype=options["calctype"], **toys)
    return out


def _attempts(options: Mapping[str, Any]) -> list[tuple[str, str | None, bool]]:
    """Strategies in order: (label, engine or None for the positive-bracket pyhf, warm start)."""
    engine = options["engine"]
    out: list[tuple[str, str | None, bool]] = [("primary", engine, True),
                                               ("cold start", engine, False)]
    if engine == "fast" and options.get("calctype") != "toybased":
        out.append(("reference engine", "reference", False))
    if engine != "pyhf":
        out.append(("pyhf engine", "pyhf", False))
    out.append(("pyhf bracket from mu>0", None, False))
    return out


def analyse_chunk(workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                  items: Sequence[tuple[Key, list]]) -> list[Outcome]:
    """Analyse a chunk's hypotheses in order, warm-starting each from the previous one.

    A failed attempt (exception, status not "ok", or no observed limit) is retried with the next
    strategy of :func:`_attempts`; the row's status says which one succeeded, or lists every
    failure.

    Args:
        workspace_spec: background-only workspace.
        options: poi, cl, calctype, engine, workspace_digest.
        items: (key, patch ops) pairs.

    Returns:
        One (key, analysis, status) per item, in order.
    """
    out: list[Outcome] = []
    warm = None
    for key, ops in items:
        result = None
        errors: list[str] = []
        used = None
        for label, eng, use_warm in _attempts(options):
            if label == "cold start" and warm is None:
                continue  # the primary attempt already was a cold start
            try:
                if eng is None:
                    res = pyhf_positive_bracket(workspace_spec, options, ops)
                else:
                    res = _analyser(workspace_spec, options, eng).analyse(
                        ops, warm_start=warm if use_warm else None)
            except Exception as exc:  # noqa: BLE001 - any fit failure triggers the next strategy
                errors.append(f"{label}: {type(exc).__name__}: {exc}".splitlines()[0])
                log.info("hypothesis %s, %s failed: %s", key, label, exc)
                continue
            if _is_ok(res) or result is None:
                result, used = res, label
            if _is_ok(res):
                break
            errors.append(f"{label}: status {res.get('status')!r}")
        if result is not None and _is_ok(result):
            status = "ok" if used == "primary" else f"ok ({used}; after {errors[0]})"
            warm = _warm_state(result)
            out.append((key, _clean(result), status))
        else:
            status = "failed: " + "; ".join(errors)
            out.append((key, _clean(result) if result is not None else None, status))
            warm = None
    return out


#: Seconds between two checks of a worker that its parent is still alive.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent(parent_pid: int) -> None:
    """Make this worker process exit when the process parent_pid dies (SIGKILL included).

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``);
    everywhere a daemon thread also polls ``os.getppid()`` and exits when the worker has been
    re-parented. Without either a worker of a killed scan waits forever for its next chunk.

    Args:
        parent_pid: pid of the process that started the worker.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="emiss-parent-watch", daemon=True).start()


def _init_local_worker(workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                       parent_pid: int | None = None) -> None:
    """Process-pool initializer: keep the workspace and options in the worker.

    The worker leaves Ctrl-C to its parent (which stops the pool), takes the default action on
    SIGTERM (a forked worker inherits the CLI's handler) and exits when its parent dies.

    Args:
        workspace_spec: background-only workspace.
        options: analyser options.
        parent_pid: pid of the scan process (None: no parent-death check).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    _WORKER_CTX["workspace"] = workspace_spec
    _WORKER_CTX["options"] = options


def _local_chunk(chunk: Chunk) -> tuple[str, list[Outcome]]:
    return chunk.chunk_id, analyse_chunk(_WORKER_CTX["workspace"], _WORKER_CTX["options"],
                                         chunk.items)


def _dask_chunk(workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                chunk: Chunk) -> tuple[str, list[Outcome]]:
    return chunk.chunk_id, analyse_chunk(workspace_spec, options, chunk.items)


# ---------------------------------------------------------------------------- executors
class SerialExecutor:
    """Run chunks one after another in this process (``jobs=1``)."""

    def __init__(self, workspace_spec: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self.workspace_spec = workspace_spec
        self.options = options

    def run(self, chunks: Sequence[Chunk]) -> Iterator[tuple[str, list[Outcome]]]:
        """Yield (chunk id, outcomes) as chunks finish."""
        for chunk in chunks:
            yield chunk.chunk_id, analyse_chunk(self.workspace_spec, self.options, chunk.items)

    def close(self) -> None:
        """Nothing to release."""


class LocalExecutor:
    """Run chunks on a pool of local worker processes (each builds its analyser once).

    Workers exit when this process dies (``_exit_with_parent``); ``close`` with chunks still
    running (an interrupt, an error) terminates them instead of waiting for their chunks.
    """

    def __init__(self, workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                 jobs: int) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.jobs = jobs
        self._futures: list[Any] = []
        self.pool = ProcessPoolExecutor(max_workers=jobs,
                                        mp_context=multiprocessing.get_context(method),
                                        initializer=_init_local_worker,
                                        initargs=(workspace_spec, options, os.getpid()))

    def run(self, chunks: Sequence[Chunk]) -> Iterator[tuple[str, list[Outcome]]]:
        """Yield (chunk id, outcomes) in completion order (``close`` stops what is left)."""
        self._futures = [self.pool.submit(_local_chunk, c) for c in chunks]
        pending = set(self._futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()

    def _terminate_workers(self) -> None:
        """Stop the worker processes now (SIGTERM, then SIGKILL after 5 s)."""
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join(1)

    def close(self) -> None:
        """Shut the pool down: at once when chunks are still to do, else after the last."""
        if all(f.done() for f in self._futures):
            self.pool.shutdown(wait=True, cancel_futures=True)
            return
        # Stop the workers first: the pool then fails every unfinished future itself (a future
        # cancelled before that would make its manager thread raise InvalidStateError, 3.11).
        self._terminate_workers()
        manager = getattr(self.pool, "_executor_manager_thread", None)
        if manager is not None:
            manager.join(10)
        self.pool.shutdown(wait=True)


class DaskExecutor:
    """Run chunks on a dask.distributed cluster.

    ``scheduler`` is the address of a running scheduler (``tcp://host:8786``), e.g. from
    ``dask scheduler`` or a dask-jobqueue cluster (``SLURMCluster(...).scheduler_address``), or an
    existing ``distributed.Client``.
    """

    def __init__(self, workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                 scheduler: Any) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - dependency
            raise EmissError("--executor dask needs the 'distributed' package "
                             "(pip install 'dask[distributed]')") from exc
        if scheduler is None:
            raise EmissError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        self._own_client = not isinstance(scheduler, Client)
        if self._own_client:
            try:
                self.client = Client(scheduler, timeout=30)
            except Exception as exc:
                raise EmissError(f"cannot connect to dask scheduler {scheduler!r} ({exc}); give "
                                 "a running scheduler's address like tcp://host:8786") from None
        else:
            self.client = scheduler
        self.options = dict(options)
        self.workspace_future = self.client.scatter(dict(workspace_spec), broadcast=True)

    def run(self, chunks: Sequence[Chunk]) -> Iterator[tuple[str, list[Outcome]]]:
        """Yield (chunk id, outcomes) in completion order."""
        from distributed import as_completed

        futures = [self.client.submit(_dask_chunk, self.workspace_future, self.options, c,
                                      pure=False) for c in chunks]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()

    def close(self) -> None:
        """Release the scattered workspace; close the client if this executor made it."""
        try:
            self.client.cancel(self.workspace_future)
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass
        if self._own_client:
            self.client.close()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def make_executor(name: str, workspace_spec: Mapping[str, Any], options: Mapping[str, Any],
                  jobs: int | None = None, scheduler: Any = None) -> Executor:
    """Build an executor.

    Args:
        name: "local" (processes; serial when jobs == 1) or "dask".
        workspace_spec: background-only workspace.
        options: analyser options (poi, cl, calctype, engine, workspace_digest).
        jobs: local worker processes (default: all cores; more than ``available_cores()`` are
            capped there, with a warning).
        scheduler: dask scheduler address or Client (dask only).

    Returns:
        An ``Executor``: ``run(chunks)`` and ``close()``.
    """
    if name == "local":
        cores = available_cores()
        n = jobs if jobs is not None else cores
        if n < 1:
            raise EmissError(f"--jobs {n}: must be at least 1")
        if n > cores:
            log.warning("--jobs %d capped at %d, the number of cores this process may use "
                        "(more workers than cores only add memory)", n, cores)
            n = cores
        return SerialExecutor(workspace_spec, options) if n == 1 else \
            LocalExecutor(workspace_spec, options, n)
    if name == "dask":
        return DaskExecutor(workspace_spec, options, scheduler)
    raise EmissError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
