#!/usr/bin/env python
"""Benchmark: patches per second for the whole standard grid (src/emiss/data/standard_grid.yaml).

Builds every PatchSet of the standard grid for the bundled workspaces in memory (nothing is
written), cold (fresh caches), and prints the time per stage and the rate.

Usage:
    python scripts/bench_patches.py [--ff-samples N] [--workspaces DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from emiss.io import dumps_json
from emiss.patches import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    TemplateBuilder,
    build_patchset,
    load_target,
)
from emiss.patches.grid import load_grid

ROOT = Path(__file__).resolve().parents[1]
WORKSPACES = ("belle2_ita_bkgonly", "belle2_hta_bkgonly", "belle2_combined_bkgonly")


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ff-samples", type=int, default=DEFAULT_FF_SAMPLES)
    ap.add_argument("--workspaces", type=Path, default=ROOT / "workspaces")
    ap.add_argument("--grid", type=Path,
                    default=ROOT / "src" / "emiss" / "data" / "standard_grid.yaml")
    args = ap.parse_args(argv)
    entries = load_grid(args.grid)
    cache: dict = {}
    n_patches, n_bytes = 0, 0
    t_start = time.perf_counter()
    print(f"{'workspace':28s} {'patchset':20s} {'patches':>7s} {'seconds':>8s} {'per s':>8s}")
    for stem in WORKSPACES:
        target = load_target(args.workspaces / f"{stem}.json")
        builder = TemplateBuilder(target, args.ff_samples, DEFAULT_FF_SEED, cache=cache)
        for e in entries:
            t0 = time.perf_counter()
            ps = build_patchset(target, e, builder=builder)
            n_bytes += len(dumps_json(ps))
            dt = time.perf_counter() - t0
            n = len(ps["patches"])
            n_patches += n
            print(f"{stem:28s} {e.name:20s} {n:7d} {dt:8.2f} {n / dt:8.1f}")
    total = time.perf_counter() - t_start
    print(f"total: {n_patches} patches in {total:.1f} s = {n_patches / total:.1f} patches/s "
          f"({args.ff_samples} form-factor draws per hypothesis, {n_bytes / 1e6:.1f} MB JSON)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
