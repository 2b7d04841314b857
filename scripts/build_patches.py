#!/usr/bin/env python
"""Build (or check) the standard PatchSets under patches/ for every bundled workspace.

For each bundled Belle II-style workspace and each entry of its grid in
src/emiss/data/standard_grid.yaml this writes patches/<workspace>/<entry>.json, e.g.
patches/belle2_combined/twobody_scalar.json: the B -> K workspaces (ITA, HTA, combined) take the
``patchsets`` grid, the B -> K* workspaces (K*, K + K* combination) the coarser
``kstar_patchsets`` grid. Output is deterministic (same inputs, same bytes).

Belle II's released likelihood is never committed (nor anything derived from it):
``--belle2 DIR`` imports it from DIR (HEPData ins2947386) and writes its standard grid (key
``belle2_patchsets``) into ``--out`` (default ./belle2_patches, ignored by git), with the
bundle itself in ``--out``/bundle.

Usage:
    python scripts/build_patches.py            # (re)write patches/
    python scripts/build_patches.py --belle2 ../shared/data/belle2_ins2947386 --out DIR
    python scripts/build_patches.py --check    # rebuild in memory, exit 1 if patches/ is stale
                                               # (numbers compared to emiss.io.STALE_RTOL)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from emiss.errors import EmissError
from emiss.io import STALE_RTOL, atomic_write_text, dumps_json, stale_json_files
from emiss.patches import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    TemplateBuilder,
    build_patchset,
    load_target,
)
from emiss.patches.grid import load_grid

log = logging.getLogger("build_patches")

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "src" / "emiss" / "data" / "standard_grid.yaml"
#: workspace stem -> grid key of src/emiss/data/standard_grid.yaml
GRID_KEYS = {
    "belle2_ita_bkgonly": "patchsets",
    "belle2_hta_bkgonly": "patchsets",
    "belle2_combined_bkgonly": "patchsets",
    "belle2_kstar_bkgonly": "kstar_patchsets",
    "belle2_k_kstar_combined_bkgonly": "kstar_patchsets",
}
WORKSPACES = tuple(GRID_KEYS)


def out_dir_name(stem: str) -> str:
    """patches/ sub-folder of a workspace stem (``belle2_ita_bkgonly`` -> ``belle2_ita``)."""
    return stem.removesuffix("_bkgonly")


def grid_entries(stem: str, grid: Path = GRID) -> list:
    """Grid entries of one workspace stem (its key in the grid file)."""
    return load_grid(grid, key=GRID_KEYS.get(stem, "patchsets"))


def build_all(workspace_dir: Path, grid: Path = GRID, stems=WORKSPACES) -> dict[Path, str]:
    """All standard PatchSets as JSON text, keyed by their path relative to patches/.

    Args:
        workspace_dir: folder with the bundled workspaces.
        grid: grid file.
        stems: workspace stems.

    Returns:
        {relative path: JSON text}.
    """
    cache: dict = {}  # spectrum integrals shared by the workspaces (same true-q^2 bins)
    out = {}
    for stem in stems:
        target = load_target(workspace_dir / f"{stem}.json")
        builder = TemplateBuilder(target, DEFAULT_FF_SAMPLES, DEFAULT_FF_SEED, cache=cache)
        for e in grid_entries(stem, grid):
            ps = build_patchset(target, e, builder=builder)
            out[Path(out_dir_name(stem)) / f"{e.name}.json"] = dumps_json(ps)
    return out


def belle2(data: Path, out: Path) -> int:
    """Import Belle II's likelihood from data and write its standard PatchSets into out."""
    from emiss.bundles.belle2_hepdata import STEM, import_belle2

    if (ROOT / "patches").resolve() in [out.resolve(), *out.resolve().parents]:
        print("build_patches: error: Belle II's patches must not go into the repository's "
              "patches/ (give --out outside it)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        import_belle2(data, out / "bundle")
        target = load_target(out / "bundle" / f"{STEM}.json")
        builder = TemplateBuilder(target, DEFAULT_FF_SAMPLES, DEFAULT_FF_SEED)
        files = {f"{e.name}.json": dumps_json(build_patchset(target, e, builder=builder))
                 for e in load_grid(GRID, key="belle2_patchsets")}
    except EmissError as exc:
        print(f"build_patches: error: {exc}", file=sys.stderr)
        return 2
    for name, text in files.items():
        atomic_write_text(out / name, text)
    print(f"wrote {len(files)} PatchSets of Belle II's likelihood into {out} in "
          f"{time.perf_counter() - t0:.1f} s (bundle: {out / 'bundle'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with patches/, write nothing")
    ap.add_argument("--workspaces", type=Path, default=ROOT / "workspaces",
                    help="folder of the bundled workspaces")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default patches/, with --belle2 ./belle2_patches)")
    ap.add_argument("--belle2", type=Path, default=None, metavar="DIR",
                    help="build the grid of Belle II's released likelihood in DIR instead")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.belle2 is not None:
        return belle2(args.belle2, args.out or Path("belle2_patches"))
    args.out = args.out or ROOT / "patches"
    t0 = time.perf_counter()
    try:
        files = build_all(args.workspaces)
    except EmissError as exc:
        print(f"build_patches: error: {exc}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    if args.check:
        stale = stale_json_files({str(p): json.loads(text) for p, text in files.items()},
                                 args.out)
        stale += [f"{p.relative_to(args.out)} (not in the grid; delete it)"
                  for d in {p.parts[0] for p in files}
                  for p in sorted((args.out / d).glob("*.json"))
                  if p.relative_to(args.out) not in files]
        if stale:
            print("stale: " + ", ".join(stale) + " (run python scripts/build_patches.py)",
                  file=sys.stderr)
            return 1
        print(f"patches/ up to date ({len(files)} files, rebuilt in {dt:.1f} s; numbers "
              f"compared to rtol {STALE_RTOL:g})")
        return 0
    for p, text in files.items():
        atomic_write_text(args.out / p, text)
    total = sum(len(t) for t in files.values())
    print(f"wrote {len(files)} PatchSets ({total / 1e6:.1f} MB) in {dt:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
