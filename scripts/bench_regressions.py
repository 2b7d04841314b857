#!/usr/bin/env python
"""Benchmark: what the engine work must not slow, before and after, on Belle II's likelihood.

Times three commands, each as its own ``python -m emiss`` process (wall time, and the CPU time of
the process from ``resource.getrusage``; the smallest of ``--reps`` runs):

* ``emiss patchset WS --grid standard`` (patch generation of the standard grid);
* ``emiss measure WS`` (the SM-shaped signal-strength fit, its profile interval and Z);
* ``emiss posterior WS twobody_scalar.json --names twobody_scalar_mX_2p10`` with NUTS
  (``--draws``/``--tune``, two chains; the sampler calls the fast model's gradient).

``--before SRC`` runs the same commands with another emiss source tree first on the Python path
(e.g. ``git archive <commit> src | tar -x -C /tmp/old`` then ``--before /tmp/old/src``), side by
side. WS is the shipped Belle II workspace file (a path, so that an older tree reads the same
file).

Usage:
    python scripts/bench_regressions.py [--before /tmp/old/src] [--reps 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WS = ROOT / "workspaces" / "belle2_ins2947386_bkgonly.json"


def run(args: list[str], src: str | None) -> tuple[float, float, int]:
    """One ``python -m emiss`` run: (wall s, CPU s, exit code)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "emiss", *args], env=env, capture_output=True,
                         text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode:
        print(out.stderr[-2000:], file=sys.stderr)
    return wall, cpu, out.returncode


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, metavar="SRC",
                    help="an older emiss source tree (the folder holding the emiss package)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    args = ap.parse_args()
    trees = [("after", None)] + ([("before", args.before)] if args.before else [])
    print(f"workspace {WS.name}; smallest of {args.reps} runs; wall s / CPU s")
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        patches = Path(tmp) / "patches"
        subprocess.run([sys.executable, "-m", "emiss", "patchset", str(WS), "--grid",
                        "standard", "-o", str(patches)], capture_output=True, check=True)
        jobs = {
            "patchset --grid standard": lambda out: ["patchset", str(WS), "--grid", "standard",
                                                     "-o", str(out)],
            "measure": lambda out: ["measure", str(WS), "-q", "--json"],
            "posterior (NUTS, 1 patch)": lambda out: [
                "posterior", str(WS), str(patches / "twobody_scalar.json"), "--names",
                "twobody_scalar_mX_2p10", "--draws", str(args.draws), "--tune",
                str(args.tune), "--chains", "2", "--seed", "0", "-o", str(out)],
        }
        for label, src in trees:
            results[label] = {}
            for name, make in jobs.items():
                best = (float("inf"), float("inf"))
                for rep in range(args.reps):
                    out = Path(tmp) / f"{label}_{rep}_{name.split()[0]}"
                    wall, cpu, code = run(make(out), src)
                    if code:
                        best = (float("nan"), float("nan"))
                        break
                    best = min(best, (wall, cpu))
                results[label][name] = best
                print(f"{label:<7s} {name:<28s} {best[0]:7.2f} s wall {best[1]:7.2f} s CPU",
                      flush=True)
    if args.before:
        for name in jobs:
            a, b = results["after"][name], results["before"][name]
            print(f"{name:<28s} after/before CPU: {a[1] / b[1]:.2f}")


if __name__ == "__main__":
    main()
