#!/usr/bin/env python
"""Benchmark: emiss's scan versus the naive per-patch pyhf loop, side by side in one run.

The naive loop is what a user would write: per patch a fresh
``pyhf.Workspace(spec).model(patches=[patch])`` and
``pyhf.infer.intervals.upper_limits.upper_limit`` (observed + 5 expected limits, qtilde,
asymptotics, numpy backend, scipy optimizer). emiss computes more per patch (limits, the
discovery p-value and the best fit) with its fast engine, through the scan API
(``emiss.inference.scan.scan``) when the patchset carries emiss metadata, else through
``GridAnalyzer`` directly. emiss runs twice: in this process (jobs=1) and with local worker
processes (``--jobs``, default 2 = all cores of this machine), so the ratio reflects using all
local cores. Both run on the same patches; the script prints per-patch times, the speed ratio
of the naive loop to the faster emiss run and the largest relative difference of the six limits
(over both emiss runs), and ends with one line ``speedup=<ratio> max_rel_diff=<x>``.

On Belle II's released likelihood (``--belle2``: the shipped copy, or ``--belle2 DIR``
imported from DIR; 232 + 3 parameters, 30 bins) it reports side by side, on the same patches:

1. a 101-patch two-body scalar scan (m_X = 0.1..4.6 GeV, limits + p0 + best fit per patch) with
   emiss's fast engine and with the previous engine (``--engine reference``: dense Newton
   steps, secant root finding), each with 1 and 2 processes: wall time, CPU seconds (this
   process + workers) per patch, Newton fits; and the agreement of the two engines;
2. the 1000-patch grid (m_X step 4.5 MeV) with the fast engine, 1 and 2 processes, against the
   target of 20 s wall on 2 cores;
3. pyhf's best practice: pyhf's own ``hypotest`` (jax backend where jax installs, else numpy)
   at emiss's six limits L (1 -+ 1e-3) on validation patches (1.0, 2.1, 3.5 GeV; the CLs = 0.05
   crossing interpolated in log CLs), and pyhf's own ``toms748_scan`` algorithm on jax
   hypotests (``upper_limit(..., scan=None)`` fails on jax arrays in pyhf 0.7.6: the error is
   printed) for ``--pyhf-patches`` patches, timed per patch;
4. with ``--memory``: the peak resident memory of a 10 000-patch scan (2 processes) from
   ``resource.getrusage`` in a subprocess.

Usage:
    python scripts/bench_scan.py [--workspace WS.json] [--patchset PS.json] [--n N] [--jobs J]
    python scripts/bench_scan.py --toy          # synthetic 30-bin workspace and bump patches
    python scripts/bench_scan.py --belle2 [--pyhf-patches 1] [--validate 3] [--memory]
    python scripts/bench_scan.py --belle2 DIR   # Belle II's files imported from DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WS = ROOT / "workspaces" / "belle2_combined_bkgonly.json"


def _select(patches: list[dict], n: int) -> list[dict]:
    """n patches evenly spread over the list (keeps the grid's range)."""
    if n >= len(patches):
        return list(patches)
    idx = np.unique(np.linspace(0, len(patches) - 1, n).round().astype(int))
    return [patches[i] for i in idx]


def naive(spec: dict, patch_ops: list) -> tuple[float, list[float]]:
    """The naive per-patch pyhf computation: fresh model + upper_limit."""
    import pyhf

    ws = pyhf.Workspace(spec)
    model = ws.model(patches=[patch_ops])
    data = ws.data(model)
    try:
        obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model, level=0.05)
    except ValueError as exc:
        # qtilde is 0/0 at mu = 0 when mu_hat = 0 ("function value at x=0 is NaN"): what a
        # user does next is start the bracket above 0 (the time of both tries counts)
        print(f"  naive upper_limit failed ({exc}); retrying with the bracket from mu > 0",
              file=sys.stderr)
        hi = model.config.suggested_bounds()[model.config.poi_index][1]
        obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(
            data, model, 1e-4 * hi, hi, level=0.05)
    return float(obs), [float(e) for e in exp]


def emiss_rows(spec: dict, patchset: dict | None, patches: list[dict], jobs: int
               ) -> tuple[list[dict], str]:
    """Run emiss on the patches; the scan API when possible, else GridAnalyzer."""
    if patchset is not None and all("emiss" in p["metadata"] for p in patches):
        try:
            from emiss.inference.scan import scan
        except ImportError:  # pragma: no cover - scan not available
            scan = None
        if scan is not None:
            names = [p["metadata"]["name"] for p in patches]
            doc = scan(spec, [patchset], None, names=names, jobs=jobs, progress=False)
            by_name = {r["name"]: r for r in doc["results"]}
            return [by_name[n] for n in names], f"emiss scan API (jobs={jobs})"
    from emiss.inference import GridAnalyzer

    ga = GridAnalyzer(spec)
    rows, warm = [], None
    for p in patches:
        r = ga.analyse(p["patch"], warm_start=warm)
        warm = r.pop("warm_start")
        rows.append(r)
    return rows, "emiss GridAnalyzer (1 process)"


def _jax_attempt(spec: dict, patch_ops: list) -> str:
    """pyhf's jax backend on one patch: its time, or why it does not run."""
    import pyhf

    try:
        pyhf.set_backend("jax")
    except Exception as exc:  # jax not installed
        return f"jax backend unavailable ({type(exc).__name__}: {exc})"
    try:
        t0 = time.perf_counter()
        obs, _ = naive(spec, patch_ops)
        return f"jax backend: {time.perf_counter() - t0:.1f} s, obs limit {obs:.5g}"
    except Exception as exc:
        msg = f"jax backend fails in upper_limit: {type(exc).__name__}: {exc}"
    try:  # what still works on jax: one hypothesis test (a limit needs several per band)
        ws = pyhf.Workspace(spec)
        model = ws.model(patches=[patch_ops])
        t0 = time.perf_counter()
        pyhf.infer.hypotest(1.0, ws.data(model), model, return_expected_set=True)
        msg += (f"; one jax hypotest (mu = 1, observed + expected set) takes "
                f"{time.perf_counter() - t0:.1f} s")
    except Exception as exc:
        msg += f"; jax hypotest fails too: {type(exc).__name__}: {exc}"
    finally:
        pyhf.set_backend("numpy")
    return msg


def jax_limits(spec: dict, patch_ops: list, level: float = 0.05, atol: float = 2e-12,
               rtol: float = 1e-4) -> tuple[float, list[float]]:
    """pyhf's own ``toms748_scan`` algorithm (bracket extension, shared hypotest cache, best
    bracket per band, scipy toms748 with pyhf's tolerances) on ``pyhf.infer.hypotest`` with
    the jax backend, the hypotest results cast to float: the one change a user needs where
    ``upper_limit`` fails on jax arrays (pyhf 0.7.6)."""
    import pyhf
    from scipy.optimize import toms748

    pyhf.set_backend("jax")
    try:
        ws = pyhf.Workspace(spec)
        model = ws.model(patches=[patch_ops])
        data = ws.data(model)
        cache: dict[float, list[float]] = {}

        def cls(poi: float) -> list[float]:
            poi = float(poi)
            if poi not in cache:
                obs, exp = pyhf.infer.hypotest(poi, data, model, return_expected_set=True)
                cache[poi] = [float(obs)] + [float(e) for e in exp]
            return cache[poi]

        lo, hi = model.config.suggested_bounds()[model.config.poi_index]
        if not np.all(np.isfinite(cls(lo))):  # qtilde 0/0 at mu = 0 (as in naive())
            lo = 1e-4 * hi
        while min(cls(lo)) < level:
            lo /= 2
        while max(cls(hi)) > level:
            hi *= 2

        def bracket(k: int) -> tuple[float, float]:
            ks = np.array(list(cache))
            vals = np.array([v[k] - level for v in cache.values()])
            pos, neg = vals >= 0, vals < 0
            return ks[pos][np.argmin(vals[pos])], ks[neg][np.argmax(vals[neg])]

        lims = [float(toms748(lambda m, k=k: cls(m)[k] - level, *(bracket(k) if k else (lo, hi)),
                              k=2, xtol=atol, rtol=rtol)) for k in range(6)]
        return lims[0], lims[1:]
    finally:
        pyhf.set_backend("numpy")


def _naive_child(spec: dict, patch_ops: list, queue) -> None:
    """naive() in a worker process; the result goes to queue."""
    queue.put(naive(spec, patch_ops))


def naive_within(spec: dict, patch_ops: list, budget: float
                 ) -> tuple[float, list[float]] | None:
    """naive() in a separate process, stopped after budget seconds (None: not finished)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_naive_child, args=(spec, patch_ops, queue))
    proc.start()
    proc.join(budget)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    return queue.get()


def _timed_scan(spec: dict, patchset: dict, jobs: int, engine: str) -> tuple[dict, float, float]:
    """One emiss scan: (results document, wall seconds, CPU seconds of this process and of
    its finished worker processes)."""
    import resource

    from emiss.inference.scan import scan

    def cpu() -> float:
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + ch.ru_utime + ch.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    doc = scan(spec, [patchset], None, jobs=jobs, progress=False, engine=engine)
    return doc, time.perf_counter() - t0, cpu() - c0


def _row_limits(doc: dict) -> np.ndarray:
    """(n, 6) limits of a results document (nan where a row failed)."""
    return np.array([[r["mu_limit_obs"] if r["mu_limit_obs"] is not None else np.nan,
                      *[np.nan if v is None else v for v in r["mu_limit_exp"]]]
                     for r in doc["results"]], float)


def _fits_per_patch(spec: dict, patches: list[dict], chunk: int = 8) -> str:
    """Mean fits and Newton (or minimiser) iterations per patch of both fast engines, with
    warm starts within chunks as the scan runs them."""
    from emiss.inference.limits import GridAnalyzer

    out = []
    for engine in ("fast", "reference"):
        ga = GridAnalyzer(spec, engine=engine)
        fits = iters = 0
        warm = None
        for k, p in enumerate(patches):
            if k % chunk == 0:
                warm = None
            warm = ga.analyse(p["patch"], warm_start=warm)["warm_start"]
            fits += warm["nfits"]
            iters += warm["niter"]
        out.append(f"{engine}: {fits / len(patches):.1f} fits, {iters / len(patches):.0f} "
                   "Newton steps per patch")
    return f"on the first {len(patches)} patches: " + "; ".join(out)


def _belle2_spec(data: Path | None) -> tuple[dict, object, str]:
    """Belle II's workspace (shipped, or imported from DIR into a temporary folder)."""
    from emiss.patches import load_target

    if data is None:
        from emiss.bundles.bundle import resolve_workspace

        path = resolve_workspace("belle2")
        return json.loads(Path(path).read_text()), load_target(path), "shipped"
    import tempfile

    from emiss.bundles.belle2_hepdata import STEM, import_belle2

    tmp = tempfile.mkdtemp(prefix="emiss-bench-")
    import_belle2(data, tmp)
    path = Path(tmp) / f"{STEM}.json"
    return json.loads(path.read_text()), load_target(path), f"imported from {data}"


def belle2(data: Path | None, jobs: int, pyhf_patches: int = 1, validate: int = 3,
           memory: bool = False, skip_1000: bool = False) -> int:
    """The benchmark on Belle II's released likelihood (see the module docstring)."""
    from emiss.patches import build_patchset, make_entry

    spec, target, how = _belle2_spec(data)
    grid101 = build_patchset(target, make_entry("twobody-scalar", masses="0.1:4.6:0.045"))
    print(f"workspace: Belle II ins2947386 ({how}; 232 + 3 parameters, 30 bins); "
          f"{len(grid101['patches'])}-patch two-body scalar grid, limits + p0 + best fit")
    _timed_scan(spec, {**grid101, "patches": grid101["patches"][:2]}, 1, "fast")  # warm-up
    print(f"{'engine':<10s} {'jobs':>4s} {'wall s':>7s} {'CPU s':>7s} {'CPU s/patch':>11s} "
          f"{'failed':>6s}")
    docs = {}
    for engine in ("fast", "reference"):
        for j in sorted({1, max(1, jobs)}):
            doc, wall, cpu = _timed_scan(spec, grid101, j, engine)
            n = len(doc["results"])
            bad = sum(1 for r in doc["results"] if r["status"] != "ok")
            docs[(engine, j)] = doc
            print(f"{engine:<10s} {j:4d} {wall:7.2f} {cpu:7.2f} {cpu / n:11.4f} {bad:6d}",
                  flush=True)
    print(_fits_per_patch(spec, grid101["patches"][:24]), flush=True)
    a, b = _row_limits(docs[("fast", 1)]), _row_limits(docs[("reference", 1)])
    rel = float(np.nanmax(np.abs(a / b - 1)))
    fa = docs[("fast", 1)]["results"]
    fb = docs[("reference", 1)]["results"]
    dp0 = max(abs(x["p0"] - y["p0"]) for x, y in zip(fa, fb, strict=True))
    dmu = max(abs(x["mu_hat"] - y["mu_hat"]) for x, y in zip(fa, fb, strict=True))
    print(f"fast vs reference engine on the same {len(fa)} patches: six limits max rel diff "
          f"{rel:.2e} (target 1e-4: {'met' if rel < 1e-4 else 'NOT met'}), p0 max abs diff "
          f"{dp0:.1e}, mu_hat max abs diff {dmu:.1e}", flush=True)
    if not skip_1000:
        grid1000 = build_patchset(target, make_entry("twobody-scalar",
                                                     masses="0.1:4.6:0.0045"))
        n = len(grid1000["patches"])
        for j in sorted({max(1, jobs), 1}, reverse=True):
            doc, wall, cpu = _timed_scan(spec, grid1000, j, "fast")
            bad = sum(1 for r in doc["results"] if r["status"] != "ok")
            verdict = ("met" if wall < 20.0 else "NOT met") if j == 2 else ""
            print(f"{n} patches, fast engine, jobs={j}: wall {wall:.2f} s, CPU {cpu:.2f} s "
                  f"({cpu / n * 1e3:.1f} ms per patch), {bad} failed"
                  + (f"; target < 20 s wall on 2 cores: {verdict}" if verdict else ""),
                  flush=True)
    picks = [p for p in grid101["patches"] if p["metadata"]["values"][0] in (1.0, 2.08, 3.52)]
    picks = picks or grid101["patches"][:3]
    _validate_pyhf(spec, picks[:validate], docs[("fast", 1)], grid101)
    if pyhf_patches:
        _pyhf_best_practice(spec, picks[:pyhf_patches], docs[("fast", 1)], grid101)
    if memory:
        _memory_10k(target)
    return 0


def _pyhf_backend() -> str:
    import pyhf

    try:
        pyhf.set_backend("jax")
        return "jax"
    except Exception:  # jax not installed
        pyhf.set_backend("numpy")
        return "numpy"


def _validate_pyhf(spec: dict, patches: list[dict], doc: dict, patchset: dict) -> None:
    """pyhf's hypotests at emiss's limits L (1 -+ 1e-3): the CLs = 0.05 crossing."""
    import pyhf

    if not patches:
        return
    by_name = {r["name"]: r for r in doc["results"]}
    backend = _pyhf_backend()
    step = 1e-3
    try:
        w = pyhf.Workspace(spec)
        worst = 0.0
        for p in patches:
            row = by_name[p["metadata"]["name"]]
            model = w.model(patches=[p["patch"]])
            data = w.data(model)
            mine = [row["mu_limit_obs"], *row["mu_limit_exp"]]
            t0, c0 = time.perf_counter(), time.process_time()
            theirs = []
            for k, lim in enumerate(mine):
                mus = (lim * (1 - step), lim * (1 + step))
                cls = []
                for mu in mus:
                    obs, exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde",
                                                   return_expected_set=True)
                    cls.append(float(obs) if k == 0 else float(exp[k - 1]))
                y0, y1 = np.log(cls)
                theirs.append(mus[0] + (np.log(0.05) - y0) * (mus[1] - mus[0]) / (y1 - y0))
            rel = float(np.max(np.abs(np.array(mine) / np.array(theirs) - 1)))
            worst = max(worst, rel)
            print(f"pyhf ({backend}) hypotests at emiss's limits, {p['metadata']['name']}: "
                  f"CLs = 0.05 crossings {np.round(theirs, 6).tolist()}, max rel diff to emiss "
                  f"{rel:.1e} ({time.perf_counter() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU for 12 hypotests)", flush=True)
        print(f"emiss vs pyhf's own hypotests: max rel diff {worst:.1e} (target 1e-4: "
              f"{'met' if worst < 1e-4 else 'NOT met'})", flush=True)
    finally:
        pyhf.set_backend("numpy")


def _pyhf_best_practice(spec: dict, patches: list[dict], doc: dict, patchset: dict) -> None:
    """pyhf's upper_limit(..., scan=None) on jax (its failure), then pyhf's toms748 algorithm
    on jax hypotests (``jax_limits``), timed per patch next to emiss."""
    import pyhf

    by_name = {r["name"]: r for r in doc["results"]}
    backend = _pyhf_backend()
    pyhf.set_backend("numpy")
    if backend == "jax":
        print(_jax_attempt(spec, patches[0]["patch"]), flush=True)
    for p in patches:
        row = by_name[p["metadata"]["name"]]
        t0, c0 = time.perf_counter(), time.process_time()
        if backend == "jax":
            obs, exp = jax_limits(spec, p["patch"])
        else:
            obs, exp = naive(spec, p["patch"])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        mine = np.array([row["mu_limit_obs"], *row["mu_limit_exp"]])
        rel = float(np.max(np.abs(mine / np.array([obs, *exp]) - 1)))
        print(f"pyhf best practice ({backend}, toms748 on hypotests), {p['metadata']['name']}: "
              f"{wall:.0f} s wall, {cpu:.0f} s CPU per patch (limits only), max rel diff to "
              f"emiss {rel:.1e} (pyhf's rtol 1e-4)", flush=True)


def _memory_child(n: int, queue) -> None:
    """A 10 000-patch scan in a fresh process; its peak RSS (and its workers') to queue."""
    import resource

    from emiss.bundles.bundle import resolve_workspace
    from emiss.inference.scan import scan
    from emiss.patches import build_patchset, load_target, make_entry

    path = resolve_workspace("belle2")
    spec = json.loads(Path(path).read_text())
    target = load_target(path)
    step = 4.5 / (n - 1)
    ps = build_patchset(target, make_entry("twobody-scalar", masses=f"0.1:4.6:{step:.8f}"))
    t0 = time.perf_counter()
    doc = scan(spec, [ps], None, jobs=2, progress=False)
    wall = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ch = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    queue.put((len(doc["results"]), wall, me, ch))


def _memory_10k(target: object, n: int = 10000) -> None:
    """Peak resident memory of an n-patch scan (2 processes), measured in a subprocess."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(n, queue))
    proc.start()
    got = queue.get()
    proc.join()
    rows, wall, me, ch = got
    print(f"{rows}-patch scan (2 processes): {wall:.0f} s wall; peak RSS: scan process "
          f"{me / 1024:.0f} MB (patchset in memory), largest worker {ch / 1024:.0f} MB",
          flush=True)


def _limits(row: dict) -> np.ndarray:
    """The six limits of an emiss row (inf where the row failed)."""
    got = np.array([row["mu_limit_obs"], *row["mu_limit_exp"]], float)
    return got if row.get("status", "ok") == "ok" else np.full(6, np.inf)


def _compare(spec: dict, patchset: dict | None, patches: list[dict], jobs: int,
             budget: float | None = None) -> int:
    """emiss vs the naive pyhf loop on the same patches, side by side (prints the ratio).

    emiss runs after an untimed warm-up on one patch (imports, schema caches), so the timed
    runs measure the per-patch work and the order of the jobs=1 / jobs>1 runs favours neither.
    budget: seconds for the naive loop (None: no limit); when it runs out the unfinished
    patch is stopped and the speed ratio is reported as a lower bound.
    """
    emiss_rows(spec, patchset, patches[:1], 1)
    runs = []  # (how, seconds, rows)
    for j in sorted({1, max(1, jobs)}):
        t0 = time.perf_counter()
        rows_j, how = emiss_rows(spec, patchset, patches, j)
        dt = time.perf_counter() - t0
        print(f"{how}: {dt:.2f} s total, {dt / len(patches):.3f} s per patch")
        runs.append((how, dt, rows_j))
        if "GridAnalyzer" in how:
            break  # no scan API for these patches: no parallel run
    t_emiss = min(r[1] for r in runs)
    print(f"emiss: fastest run {t_emiss:.2f} s")
    t_naive, max_rel = 0.0, 0.0
    print(f"{'patch':<32s} {'naive s':>8s} {'obs naive':>10s} {'obs emiss':>10s} "
          f"{'exp naive':>10s} {'exp emiss':>10s} {'max rel':>9s}")
    for k, p in enumerate(patches):
        t1 = time.perf_counter()
        if budget is None:
            obs, exp = naive(spec, p["patch"])
        else:
            got_naive = naive_within(spec, p["patch"], budget - t_naive)
            if got_naive is None:
                per = t_emiss / len(patches)
                print(f"naive pyhf loop stopped after the budget of {budget:.0f} s: patch "
                      f"{p['metadata']['name']} not finished ({k} finished before it)")
                print(f"speedup>{budget / (per * (k + 1)):.1f} (a lower bound: "
                      f"{budget:.0f} s for at most {k + 1} patches vs emiss "
                      f"{per:.3f} s per patch) max_rel_diff={max_rel:.2e} (over {k} patches)")
                return 0
            obs, exp = got_naive
        dt = time.perf_counter() - t1
        t_naive += dt
        ref = np.array([obs, *exp])
        rel = max(float(np.max(np.abs(_limits(r[k]) - ref) / np.abs(ref))) for _, _, r in runs)
        max_rel = max(max_rel, rel)
        got = _limits(runs[0][2][k])
        print(f"{p['metadata']['name']:<32s} {dt:8.1f} {obs:10.5g} {got[0]:10.5g} "
              f"{exp[2]:10.5g} {got[3]:10.5g} {rel:9.2e}", flush=True)
    print(f"naive pyhf loop: {t_naive:.1f} s total, {t_naive / len(patches):.1f} s per patch")
    ratio = t_naive / t_emiss if t_emiss > 0 else float("inf")
    print(f"speedup={ratio:.1f} max_rel_diff={max_rel:.2e}")
    return 0

def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=DEFAULT_WS)
    ap.add_argument("--patchset", type=Path, default=None,
                    help="PatchSet JSON (default: bump-shaped signal patches made on the fly)")
    ap.add_argument("--n", type=int, default=3, help="number of patches (default 3)")
    ap.add_argument("--jobs", type=int, default=2,
                    help="local processes for the parallel emiss run (default 2; 1: skip it)")
    ap.add_argument("--toy", action="store_true", help="synthetic Belle II-like workspace")
    ap.add_argument("--belle2", nargs="?", const="shipped", default=None, metavar="DIR",
                    help="Belle II's released likelihood: the shipped copy, or HEPData "
                         "ins2947386 files in DIR")
    ap.add_argument("--pyhf-patches", type=int, default=1,
                    help="with --belle2: patches for pyhf's own limit search (default 1)")
    ap.add_argument("--validate", type=int, default=3,
                    help="with --belle2: patches checked against pyhf's hypotests (default 3)")
    ap.add_argument("--memory", action="store_true",
                    help="with --belle2: peak RSS of a 10 000-patch scan (a few minutes)")
    ap.add_argument("--skip-1000", action="store_true",
                    help="with --belle2: skip the 1000-patch timing")
    ap.add_argument("--naive-budget", type=float, default=None, metavar="SECONDS",
                    help="stop the naive pyhf loop after this many seconds and report the "
                         "speed ratio as a lower bound (default: no limit)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.belle2 is not None:
        data = None if args.belle2 == "shipped" else Path(args.belle2)
        return belle2(data, args.jobs, args.pyhf_patches, args.validate, args.memory,
                      args.skip_1000)
    sys.path.insert(0, str(ROOT / "tests"))  # the synthetic workspaces of the tests
    from toy_model import toy_patchset, toy_workspace

    if args.toy or not args.workspace.exists():
        if not args.toy:
            print(f"{args.workspace} not found: using the synthetic workspace", file=sys.stderr)
        spec, wsname = toy_workspace(), "toy (30 bins, 6 backgrounds)"
    else:
        spec, wsname = json.loads(args.workspace.read_text()), str(args.workspace)
    if args.patchset is not None:
        patchset = json.loads(args.patchset.read_text())
        patches = _select(patchset["patches"], args.n)
        psname = str(args.patchset)
    else:
        patchset = None
        patches = toy_patchset(spec, args.n)["patches"]
        psname = "bump-shaped signal patches (generated)"
    print(f"workspace: {wsname}\npatches:   {psname}, {len(patches)} selected")

    return _compare(spec, patchset, patches, args.jobs, args.naive_budget)


if __name__ == "__main__":
    sys.exit(main())
