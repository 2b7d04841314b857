"""Benchmark: toy-based CLs with emiss's fast engine versus pyhf's ToyCalculator, side by side.

Both compute the same hypothesis test (q~_mu, CLs at one mu, observed and expected band) on the
same small workspace: the synthetic Belle II-like layout of ``tests/toy_model.py`` reduced to
``--bins`` bins per channel and two backgrounds, plus one bump signal. pyhf uses the numpy
backend and scipy's optimiser (its defaults). Prints both times, the per-toy ratio and the CLs
values with their binomial errors (they must agree within them).

pyhf 0.7.6 calls ``np.percentile(..., interpolation=...)``, a keyword numpy >= 2.4 removed; this
script supplies numpy's ``method=`` under the old name so that pyhf's ToyCalculator runs.

With ``--belle2`` it times toys on Belle II's released likelihood (232 + 3 parameters; the
two-body scalar hypothesis at m_X = 2.1 GeV, mu = its median expected limit):

1. ``--ntoys`` (default 10 000) background-only toys refitted three ways (mu = 0, mu free,
   mu fixed) for q0 and q~_mu (``emiss.inference.toys.background_teststats``, the toy fitter
   ``ToyFitter``), CPU and wall time on one core (target: under 10 s; ``--repeat`` runs it
   several times and reports the median and the minimum);
2. the same toys with the previous path (``background_teststats_reference``: the general
   batched fitter ``BatchFitter``), side by side, and the largest difference of the two
   paths' test statistics;
3. ``--ntoys-old`` toys fitted to 1e-8 by the dense batched fitter (``ReferenceBatchFitter``,
   every toy fitted three times): the largest deviation of each path's test statistics;
4. ``emiss compare --global-toys N`` (default 2000) over the 46-mass two-body scalar grid, run
   as the command line does (target: under 2 minutes).

Usage:
    python scripts/bench_toys.py [--ntoys-pyhf 100] [--ntoys-fast 2000] [--mu 0.5]
    python scripts/bench_toys.py --belle2 [--ntoys 10000] [--ntoys-old 500] [--global-toys 2000]
        [--repeat 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]


def belle2(ntoys: int, ntoys_old: int, global_toys: int, repeat: int = 1) -> None:
    """The toy benchmarks on Belle II's released likelihood (module docstring)."""
    import json
    import os
    import resource
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from emiss.bundles.bundle import resolve_workspace
    from emiss.inference.batch import BatchModel, ReferenceBatchFitter
    from emiss.inference.fastlimits import Fitter, ProfileLimits
    from emiss.inference.fastmodel import FastBackground
    from emiss.inference.scan import scan
    from emiss.inference.toys import (
        REFERENCE_TOY_FIT_TOL,
        TOY_FIT_TOL,
        background_teststats,
        background_teststats_reference,
    )
    from emiss.patches import build_patchset, load_target, make_entry

    if hasattr(os, "sched_setaffinity"):  # one core, as the target says
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    path = resolve_workspace("belle2")
    spec = json.loads(Path(path).read_text())
    target = load_target(path)
    one = build_patchset(target, make_entry("twobody-scalar", masses=[2.1]))
    fm = FastBackground(spec).with_patch(one["patches"][0]["patch"])
    mu = ProfileLimits(fm).limits(0.05)[1][2]
    print(f"Belle II ins2947386, two-body scalar m_X = 2.1 GeV ({fm.npars} parameters), "
          f"q~_mu at mu = {mu:.4f} (median expected limit)")
    def timed(fn: Any) -> tuple[dict, float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(fm, mu, ntoys=ntoys, seed=1)
        return out, time.process_time() - c0, time.perf_counter() - t0

    runs = [timed(background_teststats) for _ in range(max(repeat, 1))]
    res = runs[0][0]
    cpus = sorted(r[1] for r in runs)
    cpu, wall = float(np.median(cpus)), runs[0][2]
    per_10k = cpu / ntoys * 1e4
    spread = (f" (min {cpus[0]:.2f} s, median of {len(cpus)} runs)" if len(cpus) > 1 else "")
    print(f"new: {ntoys} background-only toys, q0 and q~_mu refitted (ToyFitter): {cpu:.2f} s "
          f"CPU{spread}, {wall:.2f} s wall on one core ({1e3 * cpu / ntoys:.3f} ms per toy; "
          f"{ntoys} mu = 0 fits, {res['n_free_fits']} free fits, {res['n_mu_fits']} mu fits, "
          f"{res['n_fallback']} scalar fallbacks, {res['n_failed']} failed); target 10 000 "
          f"toys < 10 s: {per_10k:.1f} s, {'met' if per_10k < 10 else 'NOT met'}", flush=True)
    print(f"     P(q0 > 0) = {np.mean(res['q0'] > 0):.3f}, median q~_mu = "
          f"{np.median(res['qmu']):.3f} (asymptotic: {float(norm.isf(0.025)) ** 2:.3f})")
    prev, cpu_prev, wall_prev = timed(background_teststats_reference)
    d_prev = max(float(np.nanmax(np.abs(prev["q0"] - res["q0"]))),
                 float(np.nanmax(np.abs(prev["qmu"] - res["qmu"]))))
    print(f"previous: the same {ntoys} toys with the general batched fitter (BatchFitter, "
          f"background_teststats_reference): {cpu_prev:.2f} s CPU, {wall_prev:.2f} s wall "
          f"({prev['n_fallback']} scalar fallbacks); new / previous = {cpu / cpu_prev:.2f}; "
          f"largest |q_new - q_previous| {d_prev:.1e}", flush=True)
    # fits converged to 1e-8 (the dense Woodbury fitter, every toy fitted three times) on the
    # first ntoys_old toys: the accuracy of both paths
    gen, _ = Fitter(fm).fit(fm.observed_data(), 0.0)
    toys = BatchModel(fm).sample_data(np.tile(gen, (ntoys_old, 1)), np.random.default_rng(1))
    old = ReferenceBatchFitter(fm)
    c0 = time.process_time()
    x0 = np.tile(gen, (ntoys_old, 1))
    xc, tc = old.fit(toys, x0, poi_value=0.0)
    xf, tf = old.fit(toys, xc)
    _, tm = old.fit(toys, x0, poi_value=mu)
    cpu_old = time.process_time() - c0
    mh = xf[:, fm.poi_index]
    q0 = np.where(mh > 0, np.maximum(tc - tf, 0.0), 0.0)
    qm = np.where(mh <= mu, np.maximum(tm - tf, 0.0), 0.0)

    def dev(r: dict) -> float:
        return max(float(np.max(np.abs(r["q0"] - q0))), float(np.max(np.abs(r["qmu"] - qm))))

    d_new = dev(background_teststats(fm, mu, ntoys=ntoys_old, seed=1))
    d_ref = dev(background_teststats_reference(fm, mu, ntoys=ntoys_old, seed=1))
    print(f"converged: {ntoys_old} toys fitted to 1e-8 by the dense batched fitter "
          f"(ReferenceBatchFitter, {cpu_old:.2f} s CPU -> {cpu_old / ntoys_old * ntoys:.0f} s "
          f"for {ntoys}); largest |q - q_converged| on these toys: new {d_new:.1e} (toy fit "
          f"tolerance {TOY_FIT_TOL:g}), previous {d_ref:.1e} ({REFERENCE_TOY_FIT_TOL:g})",
          flush=True)
    if not global_toys:
        return
    grid = build_patchset(target, make_entry("twobody-scalar", masses="0.1:4.6:0.1"))
    with tempfile.TemporaryDirectory() as tmp:
        ps_path = Path(tmp) / "twobody_scalar.json"
        ps_path.write_text(json.dumps(grid))
        res_path = Path(tmp) / "results.json"
        scan(spec, [grid], res_path, jobs=1, progress=False)
        cmd = [sys.executable, "-m", "emiss", "compare", str(res_path), "--global-toys",
               str(global_toys), "--workspace", "belle2", "--patchset", str(ps_path)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ),
                             check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lines = [ln for ln in out.stdout.splitlines() if "background-only toys" in ln]
    print(f"emiss compare --global-toys {global_toys} over {len(grid['patches'])} masses: "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU (exit {out.returncode}); target < 120 s: "
          f"{'met' if wall < 120 else 'NOT met'}")
    for ln in lines:
        print("  " + ln.strip())


def main() -> None:
    """Run the benchmark and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntoys-pyhf", type=int, default=100)
    ap.add_argument("--ntoys-fast", type=int, default=2000)
    ap.add_argument("--mu", type=float, default=0.5)
    ap.add_argument("--bins", type=int, default=4)
    ap.add_argument("--belle2", action="store_true",
                    help="toys on Belle II's released likelihood (see the module docstring)")
    ap.add_argument("--ntoys", type=int, default=10000, help="with --belle2")
    ap.add_argument("--ntoys-old", type=int, default=500, help="with --belle2")
    ap.add_argument("--global-toys", type=int, default=2000, help="with --belle2 (0: skip)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="with --belle2: runs of the new toy path (median and min reported)")
    args = ap.parse_args()
    if args.belle2:
        belle2(args.ntoys, args.ntoys_old, args.global_toys, args.repeat)
        return

    import pyhf
    from pyhf.tensor.numpy_backend import numpy_backend

    from emiss.inference.fastmodel import model_from_workspace
    from emiss.inference.toys import FastToyCalculator

    sys.path.insert(0, str(ROOT / "tests"))  # the synthetic workspaces of the tests
    from toy_model import toy_signal_patch, toy_workspace

    numpy_backend.percentile = (lambda self, t, q, axis=None, interpolation="linear":
                                np.percentile(t, q, axis=axis, method=interpolation))
    pyhf.set_backend("numpy")
    ws = toy_workspace({"ita_onres": args.bins, "hta": args.bins}, ("bkg_bplus", "bkg_uds"),
                       seed=2, scale=60.0)
    patch = toy_signal_patch(ws, 0.5, total_yield=25.0)
    model = pyhf.Workspace(ws).model(patches=[patch])
    data = pyhf.Workspace(ws).data(model)
    fm = model_from_workspace(ws, patch)
    print(f"model: {len(model.config.par_names)} parameter sets, {fm.npars} parameters, "
          f"{fm.nbins_total} bins; mu = {args.mu}")

    t0 = time.perf_counter()
    fast = FastToyCalculator(fm, ntoys=args.ntoys_fast, seed=1).hypotest(args.mu)
    t_fast = time.perf_counter() - t0

    np.random.seed(1)  # noqa: NPY002 - pyhf draws its toys from numpy's global state
    t0 = time.perf_counter()
    cls, (clsb, clb), exp = pyhf.infer.hypotest(
        args.mu, data, model, calctype="toybased", ntoys=args.ntoys_pyhf,
        return_tail_probs=True, return_expected_set=True, track_progress=False)
    t_pyhf = time.perf_counter() - t0

    def err(p: float, n: int) -> float:
        return math.sqrt(max(p * (1 - p), 1e-12) / n)

    per_fast = t_fast / args.ntoys_fast
    per_pyhf = t_pyhf / args.ntoys_pyhf
    print(f"emiss fast toys: {args.ntoys_fast:6d} toys x 2 distributions  {t_fast:8.2f} s  "
          f"({1e3 * per_fast:.3f} ms per toy pair)")
    print(f"pyhf ToyCalculator: {args.ntoys_pyhf:3d} toys x 2 distributions  {t_pyhf:8.2f} s  "
          f"({1e3 * per_pyhf:.3f} ms per toy pair)")
    print(f"speed-up per toy: {per_pyhf / per_fast:.0f}x")
    print(f"CLs+b: fast {fast['CLsb']:.4f} +- {err(fast['CLsb'], args.ntoys_fast):.4f}   "
          f"pyhf {float(clsb):.4f} +- {err(float(clsb), args.ntoys_pyhf):.4f}")
    print(f"CLb:   fast {fast['CLb']:.4f} +- {err(fast['CLb'], args.ntoys_fast):.4f}   "
          f"pyhf {float(clb):.4f} +- {err(float(clb), args.ntoys_pyhf):.4f}")
    print(f"CLs:   fast {fast['CLs_obs']:.4f} +- {fast['CLs_obs_error']:.4f}   "
          f"pyhf {float(cls):.4f}")
    print("CLs expected (-2..+2 sigma): fast " + " ".join(f"{v:.4f}" for v in fast["CLs_exp"])
          + " | pyhf " + " ".join(f"{float(v):.4f}" for v in exp))


if __name__ == "__main__":
    main()
