#!/usr/bin/env python
"""Rebuild the bundled Belle II-style background-only workspaces (byte-for-byte reproducible).

Usage:
    python scripts/build_workspaces.py [--out OUT_DIR]   (default: workspaces/ of the repository)

Equivalent to ``emiss workspace build``. Inputs: src/emiss/data/belle2_emulation.yaml and the SM
spectrum of emiss.physics.sm. Writes, per workspace, <stem>.json (pyhf), <stem>.meta.json
(sidecar) and the response file the sidecar names.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from emiss.workspace_build import build_all

if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "workspaces"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default, help=f"output folder ({default})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path in build_all(args.out):
        print(path)
