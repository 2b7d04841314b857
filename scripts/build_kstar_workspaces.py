#!/usr/bin/env python
"""Build the Belle II-style B -> K* workspaces and the K + K* combination.

Writes (deterministically) into workspaces/:
  belle2_kstar_bkgonly.json, .meta.json, belle2_kstar_response.json
  belle2_k_kstar_combined_bkgonly.json, .meta.json, belle2_k_kstar_combined_response.json

Their standard PatchSets live in patches/belle2_kstar/ and patches/belle2_k_kstar_combined/
and are built, like the B -> K ones, by scripts/build_patches.py (grid ``kstar_patchsets`` of
src/emiss/data/standard_grid.yaml); ``--patches`` runs that step for the two K* workspaces.

Usage:
  python scripts/build_kstar_workspaces.py                 # workspaces
  python scripts/build_kstar_workspaces.py --patches       # + their standard PatchSets
  python scripts/build_kstar_workspaces.py --check         # exit 1 if committed files are stale
  python scripts/build_kstar_workspaces.py --calibrate     # print calibrated background scales
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "workspaces"
log = logging.getLogger("build_kstar_workspaces")

#: The K* workspaces (their patches: scripts/build_patches.py).
STEMS = ("belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly")


def build(outdir: Path) -> list[Path]:
    """Write the K* bundle and the K + K* combination into outdir."""
    from emiss.bundles.combine import write_combined
    from emiss.bundles.kstar_emulation import write_bundle

    paths = write_bundle(outdir)
    paths += write_combined(outdir, kstar_dir=outdir)
    return paths


def patches(workspace_dir: Path, stems: tuple[str, ...] = STEMS) -> list[Path]:
    """Standard PatchSets of the K* workspaces into patches/ (scripts/build_patches.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_patches import build_all

    from emiss.io import atomic_write_text

    written = []
    for rel, text in build_all(workspace_dir, stems=stems).items():
        atomic_write_text(ROOT / "patches" / rel, text)
        written.append(ROOT / "patches" / rel)
    return written


def check() -> int:
    """0 if the committed workspaces equal a fresh build (numbers to STALE_RTOL), else 1."""
    from emiss.io import STALE_RTOL, read_json, stale_json_files

    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: read_json(p) for p in build(Path(tmp))}
    stale = stale_json_files(fresh, OUT)
    # (the PatchSets under patches/ are checked by scripts/build_patches.py --check)
    if stale:
        print("stale:", ", ".join(stale))
        return 1
    print(f"up to date ({len(fresh)} files; numbers compared to rtol {STALE_RTOL:g})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", action="store_true",
                    help="also rebuild their standard PatchSets under patches/")
    ap.add_argument("--check", action="store_true", help="only check for staleness")
    ap.add_argument("--calibrate", action="store_true",
                    help="solve the background scales against Belle's limits and print them")
    ap.add_argument("-o", "--output", type=Path, default=OUT, help="output folder")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("pyhf", "emiss.inference"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.check:
        return check()
    if args.calibrate:
        from emiss.studies.calibrate import calibrate, expected_ul_at_belle

        scales = calibrate()
        print("background_scale per channel (put into src/emiss/data/belle2_kstar_emulation.yaml):")
        for k, v in scales.items():
            print(f"  {k}: {v}")
        print("expected UL90 with the current config:", expected_ul_at_belle())
        return 0
    for p in build(args.output):
        print(p)
    if args.patches:
        for p in patches(args.output):
            print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
