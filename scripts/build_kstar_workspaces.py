#!/usr/bin/env python
"""Build the Belle II-style B -> K* workspaces, the K + K* combination and their patchsets.

Writes (deterministically) into workspaces/:
  belle2_kstar_bkgonly.json, .meta.json, belle2_kstar_response.json
  belle2_k_kstar_combined_bkgonly.json, .meta.json, belle2_k_kstar_combined_response.json
  belle2_kstar_patchsets/<scenario>.json, belle2_k_kstar_combined_patchsets/<scenario>.json
    (with --patches)

Usage:
  python scripts/build_kstar_workspaces.py                 # workspaces
  python scripts/build_kstar_workspaces.py --patches       # + patchsets of every scenario
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

#: Patch grids per scenario kind (m_X in GeV): two-body up to m_B - m_K* = 4.38 GeV, pairs up
#: to (m_B - m_K*)/2 = 2.19 GeV (the K* endpoint is the tighter one).
TWO_BODY_MASSES = "0.1:4.31:0.2"
PAIR_MASSES = "0.05:2.16:0.15"
HEAVY_NP = {"C_L": "-12,-9,-6,-3", "C_R": "-2,0,2"}


def build(outdir: Path) -> list[Path]:
    """Write the K* bundle and the K + K* combination into outdir."""
    from emiss.kstar.combine import write_combined
    from emiss.kstar.workspace import write_bundle

    paths = write_bundle(outdir)
    paths += write_combined(outdir, kstar_dir=outdir)
    return paths


def patches(outdir: Path, n_samples: int = 50,
            stems: tuple[str, ...] = ("belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly"))\
        -> list[Path]:
    """Patchsets of every scenario on the K* and the K + K* workspaces."""
    from emiss.io import write_json
    from emiss.kstar.patches import KstarTemplateBuilder, kstar_target, scenario_patchset
    from emiss.physics.scenarios import list_scenarios

    written = []
    for stem in stems:
        target = kstar_target(outdir / f"{stem}.json")
        builder = KstarTemplateBuilder(target, n_samples=n_samples)
        folder = outdir / f"{stem.replace('_bkgonly', '')}_patchsets"
        for scen in list_scenarios():
            if scen.name == "heavy-np":
                ps = scenario_patchset(target, scen.name, params=HEAVY_NP, builder=builder)
            elif scen.needs_mass:
                grid = TWO_BODY_MASSES if scen.multiplicity == 2 else PAIR_MASSES
                ps = scenario_patchset(target, scen.name, masses=grid, builder=builder)
            else:
                ps = scenario_patchset(target, scen.name, builder=builder)
            written.append(write_json(folder / f"{scen.name}.json", ps))
            log.info("%s: %s (%d patches)", stem, scen.name, len(ps["patches"]))
    return written


def check() -> int:
    """0 if the committed workspaces equal a fresh build, else 1."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(Path(tmp))
        stale = [p.name for p in fresh
                 if not (OUT / p.name).is_file() or (OUT / p.name).read_bytes() != p.read_bytes()]
    # committed patchsets must carry the digest of the committed workspaces
    import pyhf

    from emiss.io import read_json

    for stem in ("belle2_kstar", "belle2_k_kstar_combined"):
        ws_path = OUT / f"{stem}_bkgonly.json"
        if not ws_path.is_file():
            continue
        digest = pyhf.utils.digest(read_json(ws_path), algorithm="sha256")
        for f in sorted((OUT / f"{stem}_patchsets").glob("*.json")):
            if read_json(f)["metadata"]["digests"].get("sha256") != digest:
                stale.append(f"{stem}_patchsets/{f.name} (rerun with --patches)")
    if stale:
        print("stale:", ", ".join(stale))
        return 1
    print("up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", action="store_true", help="also write the patchsets")
    ap.add_argument("--ff-samples", type=int, default=50, help="form-factor draws per patch")
    ap.add_argument("--only", choices=("kstar", "combined"), default=None,
                    help="patchsets of one workspace only")
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
        from emiss.kstar.calibrate import calibrate, expected_ul_at_belle

        scales = calibrate()
        print("background_scale per channel (put into src/emiss/data/belle2_kstar_emulation.yaml):")
        for k, v in scales.items():
            print(f"  {k}: {v}")
        print("expected UL90 with the current config:", expected_ul_at_belle())
        return 0
    for p in build(args.output):
        print(p)
    if args.patches:
        stems = {"kstar": ("belle2_kstar_bkgonly",),
                 "combined": ("belle2_k_kstar_combined_bkgonly",)}.get(
            args.only, ("belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly"))
        for p in patches(args.output, args.ff_samples, stems):
            print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
