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

On Belle II's released likelihood (``--belle2 DIR``: imported from DIR into a temporary folder,
two-body scalar patches built there; 232 parameters) it also times a 100-patch emiss scan and,
where jax installs, tries pyhf's jax backend (pyhf 0.7.6's ``upper_limit`` fails on jax
arrays: the attempt and its error are reported) and then times pyhf's own ``toms748_scan``
algorithm on jax hypotests with float results (``jax_limits``), side by side with emiss.

Usage:
    python scripts/bench_scan.py [--workspace WS.json] [--patchset PS.json] [--n N] [--jobs J]
    python scripts/bench_scan.py --toy          # synthetic 30-bin workspace and bump patches
    python scripts/bench_scan.py --belle2 ../shared/data/belle2_ins2947386 --n 3
    python scripts/bench_scan.py --belle2 DIR --n 1 --naive-budget 3600   # bounded naive loop
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


def belle2(data: Path, n: int, jobs: int, budget: float | None = None) -> int:
    """The benchmark on Belle II's released likelihood (see the module docstring).

    budget: seconds the naive pyhf loop may take in all (None: no limit); when it runs out the
    unfinished patch is stopped and the speed ratio is reported as a lower bound.
    """
    import tempfile

    from emiss.bundles.belle2_hepdata import STEM, import_belle2
    from emiss.inference.scan import scan
    from emiss.patches import build_patchset, load_target, make_entry

    with tempfile.TemporaryDirectory() as tmp:
        import_belle2(data, tmp)
        ws_path = Path(tmp) / f"{STEM}.json"
        spec = json.loads(ws_path.read_text())
        target = load_target(ws_path)
        big = build_patchset(target, make_entry("twobody-scalar", masses="0.1:4.6:0.1"))
        hundred = build_patchset(target, make_entry("twobody-scalar", masses="0.1:4.6:0.045"))
        print(f"workspace: Belle II ins2947386 (232 parameters), {len(hundred['patches'])}- and "
              f"{len(big['patches'])}-patch two-body scalar grids")
        scan(spec, [hundred], None, jobs=1, progress=False, names=[
            hundred["patches"][0]["metadata"]["name"]])  # warm-up
        for j in sorted({1, max(1, jobs)}):
            t0 = time.perf_counter()
            doc = scan(spec, [hundred], None, jobs=j, progress=False)
            dt = time.perf_counter() - t0
            bad = sum(1 for r in doc["results"] if r["status"] != "ok")
            print(f"emiss scan of {len(doc['results'])} patches (limits, p0, best fit), "
                  f"jobs={j}: {dt:.1f} s ({dt / len(doc['results']):.3f} s per patch), "
                  f"{bad} failed")
        picks = _select([p for p in big["patches"]
                         if p["metadata"]["values"][0] in (1.0, 2.1, 3.5)] or big["patches"], n)
        print(_jax_attempt(spec, picks[0]["patch"]), flush=True)
        _compare_jax(spec, big, picks)
        return _compare(spec, big, picks, jobs, budget)


def _compare_jax(spec: dict, patchset: dict, patches: list[dict]) -> None:
    """emiss vs pyhf's toms748_scan on the jax backend (``jax_limits``), side by side."""
    try:
        import jax  # noqa: F401
    except ImportError:
        print("jax not installed: no jax comparison")
        return
    rows, how = emiss_rows(spec, patchset, patches, 1)
    t0 = time.perf_counter()
    rows, how = emiss_rows(spec, patchset, patches, 1)
    t_emiss = time.perf_counter() - t0
    t_jax, max_rel = 0.0, 0.0
    for p, row in zip(patches, rows, strict=True):
        t1 = time.perf_counter()
        obs, exp = jax_limits(spec, p["patch"])
        dt = time.perf_counter() - t1
        t_jax += dt
        ref = np.array([obs, *exp])
        got = np.array([row["mu_limit_obs"], *row["mu_limit_exp"]], float)
        rel = float(np.max(np.abs(got - ref) / np.abs(ref)))
        max_rel = max(max_rel, rel)
        print(f"pyhf jax toms748 {p['metadata']['name']}: {dt:.1f} s, obs {obs:.6g} "
              f"(emiss {got[0]:.6g}), median exp {exp[2]:.6g} (emiss {got[3]:.6g}), "
              f"max rel {rel:.2e}", flush=True)
    print(f"jax_speedup={t_jax / t_emiss:.1f} max_rel_diff={max_rel:.2e} "
          f"(pyhf jax {t_jax:.1f} s vs {how} {t_emiss:.2f} s on {len(patches)} patches)",
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
    budget: seconds for the naive loop (None: no limit); see ``belle2``.
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
    ap.add_argument("--belle2", type=Path, default=None, metavar="DIR",
                    help="Belle II's released likelihood (HEPData ins2947386 files in DIR)")
    ap.add_argument("--naive-budget", type=float, default=None, metavar="SECONDS",
                    help="with --belle2: stop the naive pyhf loop after this many seconds "
                         "and report the speed ratio as a lower bound (default: no limit)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from emiss.inference.toy import toy_patchset, toy_workspace

    if args.belle2 is not None:
        return belle2(args.belle2, args.n, args.jobs, args.naive_budget)
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

    return _compare(spec, patchset, patches, args.jobs)

if __name__ == "__main__":
    sys.exit(main())
