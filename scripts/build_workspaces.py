#!/usr/bin/env python
"""Rebuild the bundled Belle II-style background-only workspaces (byte-for-byte reproducible).

Usage:
    python scripts/build_workspaces.py [--out OUT_DIR]   (default: workspaces/ of the repository)
    python scripts/build_workspaces.py --check           (exit 1 if workspaces/ is stale)

Equivalent to ``emiss workspace build``. Inputs: Belle II's released likelihood as shipped in
src/emiss/data/belle2_ins2947386 (HEPData ins2947386, imported as the bundle ``belle2`` names),
src/emiss/data/belle2_emulation.yaml and the SM spectrum of emiss.physics.sm. Writes, per
workspace, <stem>.json (pyhf), <stem>.meta.json
(sidecar) and the response file the sidecar names. ``--check`` rebuilds into a temporary folder
and compares numbers to ``emiss.io.STALE_RTOL`` (the same bytes on one machine; float noise of
other machines stays far below that tolerance).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from emiss.bundles.belle2_hepdata import build_shipped
from emiss.bundles.k_emulation import build_all
from emiss.io import STALE_RTOL, read_json, stale_json_files


def check(committed: Path) -> int:
    """0 if the committed files equal a fresh build (numbers to STALE_RTOL), else 1."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: read_json(p) for p in [*build_shipped(tmp), *build_all(tmp)]}
    stale = stale_json_files(fresh, committed)
    if stale:
        print("stale: " + ", ".join(stale) + " (run python scripts/build_workspaces.py)")
        return 1
    print(f"up to date ({len(fresh)} files; numbers compared to rtol {STALE_RTOL:g})")
    return 0


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "workspaces"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default, help=f"output folder ({default})")
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.check:
        sys.exit(check(args.out))
    for path in [*build_shipped(args.out), *build_all(args.out)]:
        print(path)
