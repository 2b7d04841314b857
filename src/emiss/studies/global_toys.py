"""Global significance of a mass scan by background-only toys (``emiss compare --global-toys``).

Reads the scan's workspace and mass-grid PatchSets again, checks that they are the inputs of
the results, and refits every toy over the whole mass grid on the fast engine
(``emiss.inference.lee``: the observed curve, then the toys' summary). The Gross-Vitells
estimate from the scan's own q0 curve needs no toys and is part of ``emiss.inference.compare``.

Toys merge across jobs: ``save_toys`` writes each toy's max q0, upcrossings and excursion
components with what identifies the likelihood (contract ``toys``), and ``toy_files`` reads
such files of jobs with different seeds; the global p-value is then that of all their toys
(plus the new ones, with their own seed). Files of another workspace, PatchSet, mass grid,
mass label or reference level, or a seed given twice, are refused before any fit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any

import numpy as np

from emiss import contracts
from emiss.errors import EmissError
from emiss.inference.fastmodel import FastBackground, UnsupportedSpec
from emiss.inference.lee import (
    MassScan,
    ToyJob,
    background_toys,
    merge_toys,
    observed_significance,
    toy_significance,
)
from emiss.inference.results import patch_emiss_meta
from emiss.inference.scan import check_patchsets, load_json_file
from emiss.io import same_file
from emiss.names import POI

log = logging.getLogger(__name__)


def _emiss_version() -> str:
    """emiss's installed version (package metadata), written into toy files."""
    try:
        return _dist_version("emiss")
    except PackageNotFoundError:
        return "0+unknown"


def _name(path: str | os.PathLike) -> str:
    return repr(str(path))


def read_toy_files(paths: Sequence[str | os.PathLike]) -> list[tuple[str, contracts.ToysFile]]:
    """Read toy files and check that they can be merged: one workspace, mass label, PatchSet,
    mass grid and reference level per scenario, and no seed twice.

    Args:
        paths: the files (``emiss compare --save-toys``).

    Returns:
        (name for messages, ToysFile) per file, in the given order.

    Raises:
        EmissError: an unreadable file, one that breaks the contract, or files that cannot be
            merged (one line naming both files and what differs).
    """
    for i, p in enumerate(paths):
        if any(same_file(p, q) for q in paths[:i]):
            raise EmissError(f"toy file {_name(p)} is given twice (--toys); its toys would "
                             "count twice")
    files = [(_name(p), contracts.ToysFile.from_dict(contracts.read(p, "toys"), _name(p),
                                                     check=False)) for p in paths]
    if not files:
        return files
    first, ref = files[0]
    seen: dict[tuple[str, int], int] = {}
    for i, (name, tf) in enumerate(files):
        if tf.workspace_digest != ref.workspace_digest:
            raise EmissError(f"toy files {first} and {name} hold toys of different workspaces "
                             f"(sha256 {ref.workspace_digest[:12]} and "
                             f"{tf.workspace_digest[:12]}); only toys of one likelihood merge")
        if tf.label != ref.label:
            raise EmissError(f"toy files {first} and {name} scan different mass labels "
                             f"({ref.label!r} and {tf.label!r})")
        if sorted(tf.scenarios) != sorted(ref.scenarios):
            raise EmissError(f"toy files {first} and {name} hold toys of different scenarios "
                             f"({', '.join(sorted(ref.scenarios))} and "
                             f"{', '.join(sorted(tf.scenarios))})")
        if tf.emiss_version != ref.emiss_version:
            log.warning("toy files %s and %s were made by emiss %s and %s", first, name,
                        ref.emiss_version, tf.emiss_version)
        for scen, sc in tf.scenarios.items():
            r = ref.scenarios[scen]
            if sc.patchset_digest != r.patchset_digest:
                raise EmissError(f"toy files {first} and {name}: the toys of {scen} were drawn "
                                 f"for different PatchSets (sha256 {r.patchset_digest[:12]} "
                                 f"and {sc.patchset_digest[:12]}); only toys of one likelihood "
                                 "merge")
            if sc.masses != r.masses:
                raise EmissError(f"toy files {first} and {name}: the toys of {scen} were "
                                 f"refitted over different mass grids ({_grid(r.masses)} and "
                                 f"{_grid(sc.masses)})")
            if sc.ref_level != r.ref_level:
                raise EmissError(f"toy files {first} and {name}: the toys of {scen} count "
                                 f"upcrossings at different reference levels (c0 = "
                                 f"{r.ref_level:g} and {sc.ref_level:g})")
            for s in sc.seeds:
                if (scen, s) in seen:
                    raise EmissError(f"seed {s} is in toy files {files[seen[scen, s]][0]} and "
                                     f"{name} (scenario {scen}): toys of one seed are the same "
                                     "draws; run every job with its own --toy-seed")
                seen[scen, s] = i
    return files


def _grid(masses: Sequence[float]) -> str:
    """A mass grid in a message: its size and range."""
    return f"{len(masses)} masses {masses[0]:g}...{masses[-1]:g}"


def _jobs(sc: contracts.ToyScenario) -> list[ToyJob]:
    """The jobs of one scenario of a toy file, each with its own toys."""
    q = np.array(sc.q0_max, dtype=float)
    up = np.array(sc.upcrossings, dtype=np.int64)
    phi = np.array(sc.excursion_components, dtype=np.int64)
    out, start = [], 0
    for run in sc.jobs:
        part = slice(start, start + run.n_toys)
        out.append(ToyJob(run.seed, q[part], up[part], phi[part], run.n_failed))
        start += run.n_toys
    return out


def toy_scenario(patchset_digest: str, masses: Sequence[float], ref_level: float,
                 jobs: Sequence[ToyJob]) -> contracts.ToyScenario:
    """The toy-file entry of one scenario (jobs in seed order, as :func:`merge_toys` orders
    the toys).

    Args:
        patchset_digest: pyhf digest of the scenario's mass-grid PatchSet.
        masses: the mass grid.
        ref_level: reference level c0 of the counts.
        jobs: the toys.

    Returns:
        The ToyScenario.
    """
    merged = merge_toys(jobs)
    return contracts.ToyScenario(
        patchset_digest=patchset_digest, masses=[float(m) for m in masses],
        ref_level=float(ref_level),
        jobs=[contracts.ToyRun(j.seed, j.n_toys, j.n_failed)
              for j in sorted(jobs, key=lambda j: j.seed)],
        q0_max=[float(x) for x in merged.q0_max],
        upcrossings=[int(x) for x in merged.upcrossings],
        excursion_components=[int(x) for x in merged.components])


def global_toys(docs: Sequence[Mapping[str, Any]], workspace: str | os.PathLike | None,
                patchsets: Sequence[str | os.PathLike], n_toys: int, seed: int = 0,
                gv_level: float = 1.0, label: str = "m_X",
                toy_files: Sequence[str | os.PathLike] = (),
                save_toys: str | os.PathLike | None = None) -> dict[str, dict]:
    """Global significance of each scenario's best mass from background-only toys.

    Args:
        docs: the scan results documents (one workspace).
        workspace: the scan's background-only workspace (file or name).
        patchsets: the scan's mass-grid PatchSet files.
        n_toys: new background-only (mu = 0) toys (0 with toy_files: only theirs).
        seed: seed of the new toys.
        gv_level: Gross-Vitells reference level c0 of q0.
        label: the mass label of the grid.
        toy_files: toy files of earlier jobs to merge (other seeds).
        save_toys: write every toy (loaded and new) to this toy file.

    Returns:
        scenario -> ``emiss.inference.lee.global_significance``'s summary; when toy files
        were read, with ``seeds`` (of every job, increasing) and ``toys.n_jobs``.

    Raises:
        EmissError: missing inputs, inputs that are not the scan's, fewer than 2 patches of a
            PatchSet in the results, a workspace the fast engine cannot handle, or toy files
            that are not toys of this scan (before any fit).
    """
    ws, pss, ws_digest, ps_digests, files = _read_inputs(docs, workspace, patchsets, n_toys,
                                                         seed, label, toy_files)
    done = {r["name"] for d in docs for r in d["results"] if r.get(label) is not None}
    try:
        bkg = FastBackground(ws, poi=docs[0].get("options", {}).get("poi", POI))
    except UnsupportedSpec as exc:
        raise EmissError(f"the fast engine cannot handle this workspace: {exc}") from None
    grids = _mass_grids(patchsets, pss, ps_digests, done, label, files, gv_level)
    out: dict[str, dict] = {}
    saved: dict[str, contracts.ToyScenario] = {}
    for scen, ps_digest, pts, loaded in grids:
        scan = MassScan(bkg, pts)
        observed, x_gen = observed_significance(scan, gv_level)
        jobs = list(loaded)
        if n_toys:
            observed["seed"] = seed
            jobs.append(background_toys(scan, x_gen, n_toys, seed, gv_level))
        out[scen] = toy_significance(observed, jobs)
        if files:  # merged: the seeds of every toy, and the number of jobs in the summary
            out[scen]["seeds"] = sorted(j.seed for j in jobs)
            out[scen]["toys"]["n_jobs"] = len(jobs)
        if save_toys is not None:
            saved[scen] = toy_scenario(ps_digest, scan.masses.tolist(), gv_level, jobs)
    if save_toys is not None:
        doc = contracts.ToysFile(workspace_digest=ws_digest, label=label,
                                 emiss_version=_emiss_version(), scenarios=saved).to_dict()
        contracts.write(Path(save_toys), doc, "toys")
    return out


def _read_inputs(docs: Sequence[Mapping[str, Any]], workspace: str | os.PathLike | None,
                 patchsets: Sequence[str | os.PathLike], n_toys: int, seed: int, label: str,
                 toy_files: Sequence[str | os.PathLike]
                 ) -> tuple[dict, list[dict], str, list[str],
                            list[tuple[str, contracts.ToysFile]]]:
    """The scan's workspace, PatchSets and toy files, checked against the results and each
    other (arguments as :func:`global_toys`).

    Returns:
        (workspace, PatchSets, workspace digest, PatchSet digests, toy files as (name, file)).
    """
    from emiss.bundles.bundle import resolve_workspace

    if n_toys < 0:
        raise EmissError(f"--global-toys {n_toys}: must be >= 0")
    if not n_toys and not toy_files:
        raise EmissError("--save-toys needs toys: --global-toys N or --toys FILE")
    what = "--global-toys" if n_toys else "--toys"
    if workspace is None or not patchsets:
        raise EmissError(f"{what} needs --workspace WS and --patchset PS (the scan's inputs)")
    files = read_toy_files(toy_files)
    if n_toys:
        for name, tf in files:
            if any(seed in sc.seeds for sc in tf.scenarios.values()):
                raise EmissError(f"--toy-seed {seed} is a seed of toy file {name}: toys of one "
                                 "seed are the same draws; give the new toys another --toy-seed")
    ws = load_json_file(resolve_workspace(workspace, missing_ok=True) or workspace, "workspace")
    pss = [load_json_file(p, "patchset") for p in patchsets]
    ws_digest, ps_digests = check_patchsets(ws, pss)
    if all(d["workspace_digest"] != ws_digest for d in docs):
        raise EmissError(f"--workspace {str(workspace)!r} is not the workspace of the results")
    for name, tf in files:
        if tf.workspace_digest != ws_digest:
            raise EmissError(f"toy file {name} holds toys of workspace sha256 "
                             f"{tf.workspace_digest[:12]}, not of --workspace "
                             f"{str(workspace)!r} (sha256 {ws_digest[:12]})")
        if tf.label != label:
            raise EmissError(f"toy file {name} scans the mass label {tf.label!r}; run with "
                             f"--label {tf.label} (now {label!r})")
    return ws, pss, ws_digest, ps_digests, files


def _mass_grids(patchsets: Sequence[str | os.PathLike], pss: Sequence[dict],
                ps_digests: Sequence[str], done: set[str], label: str,
                files: Sequence[tuple[str, contracts.ToysFile]], gv_level: float
                ) -> list[tuple[str, str, list[tuple[float, Any]], list[ToyJob]]]:
    """Each PatchSet's mass grid: the (mass, patch) pairs of the results and the toys of the
    toy files for its scenario.

    Returns:
        (scenario, PatchSet digest, [(mass, patch)], loaded toy jobs) per PatchSet.
    """
    grids = []
    for path, ps, ps_digest in zip(patchsets, pss, ps_digests, strict=True):
        if ps["metadata"].get("labels") != [label]:
            raise EmissError(f"--patchset {str(path)!r} has labels "
                             f"{ps['metadata'].get('labels')}; the look-elsewhere scan needs "
                             f"the single label {label!r}")
        pts = [(float(p["metadata"]["values"][0]), p["patch"]) for p in ps["patches"]
               if p["metadata"]["name"] in done]
        if len(pts) < 2:
            raise EmissError(f"--patchset {str(path)!r}: fewer than 2 of its patches are in "
                             "the results")
        scen = patch_emiss_meta(ps["patches"][0]["metadata"]).scenario
        loaded = [j for name, tf in files
                  for j in _jobs(_matching(name, tf, scen, path, ps_digest, pts, gv_level))]
        grids.append((scen, ps_digest, pts, loaded))
    return grids


def _matching(name: str, tf: contracts.ToysFile, scen: str, path: str | os.PathLike,
              ps_digest: str, pts: Sequence[tuple[float, Any]], gv_level: float
              ) -> contracts.ToyScenario:
    """The entry of a toy file for one scenario of the scan, checked against it."""
    sc = tf.scenarios.get(scen)
    if sc is None:
        raise EmissError(f"toy file {name} has no toys of {scen} (--patchset {str(path)!r}); "
                         f"it has {', '.join(sorted(tf.scenarios))}")
    if sc.patchset_digest != ps_digest:
        raise EmissError(f"toy file {name}: the toys of {scen} were drawn for the PatchSet "
                         f"sha256 {sc.patchset_digest[:12]}, not for --patchset "
                         f"{str(path)!r} (sha256 {ps_digest[:12]})")
    masses = sorted(m for m, _ in pts)
    if sc.masses != masses:
        raise EmissError(f"toy file {name}: the toys of {scen} were refitted over "
                         f"{_grid(sc.masses)}, the scan of --patchset {str(path)!r} has "
                         f"{_grid(masses)}")
    if sc.ref_level != gv_level:
        raise EmissError(f"toy file {name} counts upcrossings at c0 = {sc.ref_level:g}; run "
                         f"with --gv-level {sc.ref_level:g} (now {gv_level:g})")
    return sc
