#!/usr/bin/env python
"""Every new-particle scenario on Belle II alone and in the global likelihood, side by side.

For every two-body and pair scenario of the standard grid of Belle II's released likelihood
(``belle2_patchsets`` of src/emiss/data/standard_grid.yaml) this builds the scenario's mass scan
on four likelihoods, with emiss's command line and public API only:

* ``belle2``: Belle II's released likelihood alone (HEPData ins2947386);
* ``belle2 + bs-invisible``: ``emiss workspace combine belle2 bs-invisible``;
* ``belle2 + babar2013 + bs-invisible``: the data set of the seed's global fit (Belle II, BaBar
  and the ALEPH B_s bound, arXiv:2503.19025);
* ``belle2 + babar2013 + belle2017 + bs-invisible``: with Belle's 2017 limits as well.

On the last two, the B -> K* channels end the masses at the K* endpoint (m_B0 - m_K*0 for one
X, half of it for a pair; ``Process.mass_limit``), so grid masses above it are left out there.

scans each (``emiss.scan``, observed only, asymptotic CLs) and compares (``emiss.compare``).
Each row gives the best fit m_X, B̂ = B(B+ -> K+ X X̄) at the best fit, Z(LR) (the likelihood
ratio against the SM with mass and B free, two degrees of freedom), the ratio
R = B(B_s -> X X̄) / B(B+ -> K+ X X̄) at the best mass (independent of the coupling) and the
K* predictions at the best fit: B(B0 -> K*0 X X̄) and F_L (``emiss.rate``).

Usage:
    python scripts/global_table.py -o DIR [--scenarios NAME,...] [--table FILE]

DIR keeps the workspaces, PatchSets and results (a second run reuses them); the Markdown table
goes to stdout (and to --table FILE), the numbers to DIR/global_table.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import emiss
from emiss.io import atomic_write_text, dumps_json
from emiss.patches.grid import load_grid
from emiss.physics.processes import get_process

#: likelihood label -> the parts ``emiss workspace combine`` joins (one part: the bundle itself)
LIKELIHOODS: dict[str, tuple[str, ...]] = {
    "Belle II": ("belle2",),
    "Belle II + B_s": ("belle2", "bs-invisible"),
    "Belle II + BaBar + B_s": ("belle2", "babar2013", "bs-invisible"),
    "Belle II + BaBar + Belle + B_s": ("belle2", "babar2013", "belle2017", "bs-invisible"),
}
#: form-factor draws of the K* predictions (only their central values are tabulated)
RATE_SAMPLES = 20


def workspace(outdir: Path, parts: tuple[str, ...]) -> str:
    """The workspace of a likelihood: a bundled name, or the combination written into outdir."""
    if len(parts) == 1:
        return parts[0]
    stem = "combined_" + "_".join(p.replace("-", "_") for p in parts) + "_bkgonly"
    path = outdir / f"{stem}.json"
    if not path.is_file():
        subprocess.run([sys.executable, "-m", "emiss", "workspace", "combine", *parts,
                        "-o", str(outdir)], check=True)
    return str(path)


def scenario_entries() -> list[Any]:
    """The grid entries of Belle II's standard grid whose scenario has a new particle."""
    return [e for e in load_grid("standard", key="belle2_patchsets")
            if emiss.scenario(e.scenario).multiplicity in (2, 3)]


def kstar_endpoint(scenario: str) -> float:
    """Largest m_X that B0 -> K*0 allows for the scenario: one X or a pair (GeV)."""
    n_particles = emiss.scenario(scenario).multiplicity - 1
    return get_process("B0->K*0").mass_limit(n_particles)


def scan_one(outdir: Path, label: str, ws: str, entry: Any) -> tuple[dict, dict]:
    """PatchSet and scan results of one scenario on one likelihood (reused when present)."""
    tag = label.replace(" + ", "_").replace(" ", "").lower()
    ps_path = outdir / tag / f"{entry.name}.json"
    res_path = outdir / tag / f"{entry.name}_results.json"
    masses = list(entry.masses)
    if "BaBar" in label:
        masses = [m for m in masses if m < kstar_endpoint(entry.scenario)]
    if not ps_path.is_file():
        ps = emiss.patchset(ws, entry.scenario, masses=masses)
        ps_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(ps_path, dumps_json(ps))
    if not res_path.is_file():
        emiss.scan(ws, [str(ps_path)], str(res_path), jobs=1, observed_only=True,
                   progress=False)
    return json.loads(ps_path.read_text()), json.loads(res_path.read_text())


def row(scenario: str, label: str, ps: dict, results: dict) -> dict:
    """The table row of one scenario on one likelihood."""
    cmp = emiss.compare(results)
    (sc,) = cmp["workspaces"][0]["scenarios"]
    best = sc["best"]
    m, mu = float(best["m_X"]), float(best["mu_hat"])
    patch = next(p for p in ps["patches"] if p["metadata"]["name"] == best["name"])
    block = patch["metadata"]["emiss"]
    # R does not depend on the coupling (both rates go as g^2): at the patch's reference
    # coupling, where B(B+ -> K+ X X̄) is the reference branching ratio
    coupling = block["coupling"]
    assert block["process"] == "B+->K+", block["process"]
    b_s = emiss.scenario(scenario).spectrum(
        "Bs->invisible", m, {coupling["name"]: coupling["reference_value"]}
    ).meta["branching_ratio"]
    b_k = float(block["reference_branching_ratio"])
    out = {"scenario": scenario, "likelihood": label, "m_X": m, "mu_hat": mu,
           "best_at_edge": bool(sc.get("best_at_edge")), "B_hat": float(best["br_hat"]),
           "Z_LR": sc["global"].get("Z_lr_2dof"), "R": b_s / b_k,
           "B_Kstar0": None, "FL": None}
    if mu > 0:
        g = float(coupling["reference_value"]) * math.sqrt(mu)
        ks = emiss.rate(scenario, "B0->K*0", mass=m, params={coupling["name"]: g},
                        n_samples=RATE_SAMPLES)
        out["B_Kstar0"], out["FL"] = ks["branching_ratio"], ks["FL"]
    return out


def _g(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def markdown(rows: list[dict]) -> str:
    """The Markdown table."""
    lines = ["| scenario | likelihood | m̂_X (GeV) | B̂(B+ → K+ X (X̄)) | Z(LR) | "
             "R = B(B_s → X X̄)/B(B+ → K+ X X̄) | B(B0 → K*0 X (X̄)) | F_L |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = f"{r['m_X']:g}" + (" (edge)" if r["best_at_edge"] else "")
        lines.append(f"| {r['scenario']} | {r['likelihood']} | {m} | {_g(r['B_hat'], '.3g')} | "
                     f"{_g(r['Z_LR'], '.2f')} | {_g(r['R'], '.3g')} | "
                     f"{_g(r['B_Kstar0'], '.3g')} | {_g(r['FL'], '.3f')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--outdir", type=Path, required=True, help="working folder")
    ap.add_argument("--scenarios", default=None, help="only these scenarios (comma-separated)")
    ap.add_argument("--table", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the scans hold no SM patch: compare's "vs SM" columns stay empty, Z(LR) is the scan's own
    logging.getLogger("emiss.inference.compare").setLevel(logging.ERROR)
    args.outdir.mkdir(parents=True, exist_ok=True)
    entries = scenario_entries()
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        entries = [e for e in entries if e.scenario in wanted]
    spaces = {label: workspace(args.outdir, parts) for label, parts in LIKELIHOODS.items()}
    rows = []
    for e in entries:
        for label, ws in spaces.items():
            ps, res = scan_one(args.outdir, label, ws, e)
            rows.append(row(e.scenario, label, ps, res))
            print(f"{e.scenario} on {label}: m_X = {rows[-1]['m_X']:g}, "
                  f"B_hat = {rows[-1]['B_hat']:.3g}", file=sys.stderr)
    table = markdown(rows)
    atomic_write_text(args.outdir / "global_table.json", dumps_json({"rows": rows}))
    if args.table is not None:
        atomic_write_text(args.table, table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
