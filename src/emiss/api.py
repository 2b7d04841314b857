"""The public API: what ``import emiss`` offers and what the command line calls.

Each function takes what the matching command takes (a workspace name, file or Bundle; PatchSet
dicts or files; results documents or files) and returns plain values: dicts ready for JSON,
the library's result objects, the paths of the files it wrote. ``emiss/__init__.py`` re-exports
the curated names (``emiss.patchset``, ``emiss.measure``, ``emiss.compare``, ...); the CLI
(``emiss.cli``) checks its outputs, calls one of these functions and prints the answer.

Imports are inside the functions: ``import emiss``, ``emiss --help`` and the light commands
(``emiss rate``) then load only the stages they use, not pyhf, scipy or matplotlib up front.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emiss.errors import EmissError

if TYPE_CHECKING:
    from emiss.bundles.bundle import Bundle
    from emiss.inference.measure import MeasureResult
    from emiss.patches.grid import GridEntry
    from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)

#: A workspace as the API takes it: a name (``belle2``, a bundled stem), a file or a Bundle.
Workspace = Any
#: Scenario parameters: ``{name: value}`` or ``"NAME=VALUE"`` strings (as ``--param`` gives).
Params = Mapping[str, float] | Sequence[str] | None


@dataclass(frozen=True)
class Written:
    """A document an API call computed and the files it wrote (none without an output folder).

    Attributes:
        doc: the JSON-ready document.
        files: the files written, in the order they were written.
    """

    doc: dict
    files: list[Path] = field(default_factory=list)


def _bundle(workspace: Workspace, response: Any = None) -> Bundle:
    """The Bundle a workspace argument names (a Bundle is itself)."""
    from emiss.bundles import load_bundle
    from emiss.bundles.bundle import Bundle

    return workspace if isinstance(workspace, Bundle) else load_bundle(workspace,
                                                                       response=response)


def _params(params: Params) -> dict[str, float]:
    """Scenario parameters as a dict (``NAME=VALUE`` strings parsed by ``emiss.validate``)."""
    from emiss.validate import parse_params

    if params is None:
        return {}
    if isinstance(params, Mapping):
        return dict(params)
    return parse_params(params)


def results_stem(paths: Sequence[str | os.PathLike]) -> str:
    """The stem of figures and files made from results files: their stems joined by ``+``.

    Args:
        paths: results files.

    Returns:
        e.g. ``twobody+sm`` (each stem once, in the given order).
    """
    return "+".join(dict.fromkeys(Path(p).name.removesuffix(".json") for p in paths))


# ------------------------------------------------------------------------------ physics
def _sm_only_mode(mode: str, mass: float | None, params: dict[str, float], samples: int,
                  seed: int) -> dict:
    """``rate`` of the SM for a mode that is not a B -> M process (B0 -> K_S, B_s -> 4 nu).

    Args:
        mode: one of ``emiss.physics.sm.SM_ONLY_MODES``.
        mass, params: must be absent (the SM has neither).
        samples, seed: form-factor draws.

    Returns:
        The dict of ``emiss.physics.predict.predict`` for that mode.
    """
    from emiss.physics import sm
    from emiss.physics.scenarios import get_scenario

    get_scenario("sm").resolve_params(params)  # the SM has no parameters: names the bad one
    if mass is not None:
        raise EmissError(f"scenario 'sm' takes no mass (got --mass {mass:g}); valid: omit --mass")
    r = sm.sm_prediction(mode, n_samples=samples, seed=seed)
    q2_max = None
    if mode == sm.B0_KS:
        from emiss.physics.processes import get_process

        q2_max = get_process("B0->K0").q2_max
    out = {"scenario": "sm", "process": mode, "mass": None, "params": {}, "coupling": None,
           "q2_min": 0.0 if q2_max is not None else None, "q2_max": q2_max, "lines": [],
           "n_samples": r["n_samples"], "seed": r["seed"]}
    out.update({k: r[k] for k in ("branching_ratio", "uncertainty", "uncertainty_ff", "FL",
                                  "FL_uncertainty")})
    return out


def rate(scenario: str, process: str, mass: float | None = None, params: Params = None,
         n_samples: int = 200, seed: int = 0) -> dict:
    """Branching ratio, its form-factor uncertainty and F_L (K*) of a scenario (``emiss rate``).

    Args:
        scenario: scenario name (``emiss.scenarios()``).
        process: process name; for ``sm`` also the modes of ``emiss.physics.sm.SM_MODES``.
        mass: invisible-particle mass in GeV (None: the scenario's default, if it needs one).
        params: scenario parameters.
        n_samples: form-factor draws of the 1 sigma uncertainty.
        seed: seed of the draws.

    Returns:
        ``emiss.physics.predict.predict``'s dict; for ``sm`` also its inputs with sources;
        ``mass_is_default`` says whether the scenario's default mass was used.
    """
    from emiss.physics import sm
    from emiss.physics.predict import predict

    if scenario == "sm" and process not in sm.SM_MODES:
        from emiss.physics.processes import ALL_PROCESSES

        what = (f"scenario 'sm' does not predict {process!r}" if process in ALL_PROCESSES
                else f"unknown process {process!r} for scenario 'sm'")
        raise EmissError(f"{what}; valid: {', '.join(sm.SM_MODES)}")
    if scenario == "sm" and process in sm.SM_ONLY_MODES:
        res = _sm_only_mode(process, mass, _params(params), n_samples, seed)
    else:
        res = predict(scenario, process, mass=mass, params=_params(params),
                      n_samples=n_samples, seed=seed)
    if res["scenario"] == "sm":
        res.update(sm.sm_inputs(res["process"]))
    res["mass_is_default"] = mass is None and res["mass"] is not None
    return res


def spectrum_table(spec: Spectrum, q2: Sequence[float]) -> dict:
    """dB/dq^2 of a spectrum at given q^2, F_L there (K*) and its lines (``emiss spectrum``).

    Args:
        spec: the spectrum (``emiss.scenario(name).spectrum(process, mass, params)``).
        q2: points in GeV^2, inside the kinematic range.

    Returns:
        JSON-ready dict: scenario, process, mass, params, q2, dBdq2, FL (None for B -> K),
        lines (q2, branching_ratio and, for K*, FL), q2_min, q2_max, units.

    Raises:
        EmissError: a point outside 0 <= q2 <= q2_max.
    """
    import numpy as np

    pts = [float(x) for x in q2]
    bad = [x for x in pts if x < 0 or x > spec.q2_max]
    if bad:
        raise EmissError(f"q2 {bad[0]:g} GeV^2 is outside the kinematic range of "
                         f"{spec.process}; valid: 0 <= q2 <= {spec.q2_max:.4f}")
    arr = np.array(pts)
    dB = spec.dBdq2(arr)
    fl = None
    if spec.continuum_long is not None or bool(spec.lines_long):  # a K* spectrum
        dBL = spec.dBLdq2(arr)
        fl = [float(b / t) if t > 0 else None for b, t in zip(dBL, dB, strict=True)]
    lines: list[dict[str, Any]] = [{"q2": q, "branching_ratio": b} for q, b in spec.lines]
    for line, bl in zip(lines, spec.lines_long, strict=False):
        line["FL"] = bl / line["branching_ratio"] if line["branching_ratio"] > 0 else None
    return {"scenario": spec.meta.get("scenario"), "process": spec.process,
            "mass": spec.meta.get("mass"), "params": spec.meta.get("params", {}), "q2": pts,
            "dBdq2": [float(x) for x in dB], "FL": fl, "lines": lines, "q2_min": spec.q2_min,
            "q2_max": spec.q2_max, "units": {"q2": "GeV^2", "dBdq2": "GeV^-2"}}


# ------------------------------------------------------------------------------ patches
@dataclass(frozen=True)
class Grid:
    """The entries of a grid file for one workspace.

    Attributes:
        file: the grid file (``standard``: the packaged standard grid).
        key: the entry list used.
        entries: its grid entries.
        notes: how a standard grid differs from the B -> K emulation's, with the reasons.
    """

    file: str
    key: str
    entries: list
    notes: list[str] = field(default_factory=list)


def _span(values: list[float] | None, unit: str = "") -> str:
    """A value list in words: '0.1-4.6 GeV (46 values)'."""
    if values is None:
        return "none"
    return (f"{min(values):g}{unit}" if len(values) == 1
            else f"{min(values):g}-{max(values):g}{unit} ({len(values)} values)")


def standard_grid_differences(key: str, entries: list) -> list[str]:
    """One line per difference between a standard grid and the B -> K emulation's, with its reason.

    The reasons are the ``grid_differences`` block of src/emiss/data/standard_grid.yaml (by entry
    name, else ``masses``/``params``).

    Args:
        key: the grid key used (e.g. ``belle2_patchsets``).
        entries: its grid entries.

    Returns:
        Lines (empty when the grids are the same).
    """
    import yaml

    from emiss.patches.grid import STANDARD_GRID, load_grid, standard_grid_path

    base = {e.name: e for e in load_grid(STANDARD_GRID, key="patchsets")}
    reasons = (yaml.safe_load(standard_grid_path().read_text(encoding="utf-8"))
               .get("grid_differences", {}).get(key, {}))
    fallback = "see the comments of src/emiss/data/standard_grid.yaml"
    head = f"standard grid {key!r} (this workspace's) differs from the B -> K emulation's: "
    lines = []
    mine = {e.name: e for e in entries}
    for name, b in base.items():
        e = mine.get(name)
        if e is None:
            lines.append(head + f"{name} ({b.scenario}) not written: "
                         f"{reasons.get(name, fallback)}")
            continue
        if e.masses != b.masses:
            lines.append(head + f"{name} m_X {_span(e.masses, ' GeV')} instead of "
                         f"{_span(b.masses, ' GeV')}: "
                         f"{reasons.get(name, reasons.get('masses', fallback))}")
        if e.params != b.params:
            diff = "; ".join(f"{k} {_span(e.params.get(k))} instead of {_span(b.params.get(k))}"
                             for k in dict.fromkeys([*b.params, *e.params])
                             if e.params.get(k) != b.params.get(k))
            lines.append(head + f"{name} {diff}: "
                         f"{reasons.get(name, reasons.get('params', fallback))}")
    added = [name for name in mine if name not in base]
    if added:  # one line for all of them
        lines.append(head + f"{len(added)} entries added ({', '.join(added[:3])}"
                     + (", ..." if len(added) > 3 else "") + "): "
                     + str(reasons.get("added", fallback)))
    return lines


def hypothesis(scenario: str, masses: Any = None, params: Any = None) -> GridEntry:
    """One grid entry, checked against its scenario (names, masses, size) before any workspace
    is read.

    Args:
        scenario: scenario name.
        masses: m_X values or grid syntax (``"0.1:4.6:0.1"``).
        params: ``{name: spec}`` or ``"NAME=SPEC"`` strings.

    Returns:
        The grid entry.
    """
    from emiss.patches.grid import make_entry
    from emiss.patches.hypotheses import resolve_entry

    entry = make_entry(scenario, masses, params)
    resolve_entry(entry)
    return entry


def grid(target: Bundle, file: str | os.PathLike, key: str | None = None) -> Grid:
    """The entries of a grid file for a workspace.

    Args:
        target: the workspace (``emiss.load_target``).
        file: YAML or TOML grid file, or ``standard`` for the packaged standard grid.
        key: its entry list (default ``patchsets``; for the standard grid the workspace's own).

    Returns:
        The Grid; for a standard grid other than the B -> K emulation's, with the differences.
    """
    from emiss.patches.grid import STANDARD_GRID, load_grid
    from emiss.patches.target import standard_grid_key

    file = str(file)
    key = key or (standard_grid_key(target) if file == STANDARD_GRID else "patchsets")
    entries = load_grid(file, key=key)
    notes = (standard_grid_differences(key, entries)
             if file == STANDARD_GRID and key != "patchsets" else [])
    return Grid(file, key, entries, notes)


def build_patchsets(target: Bundle, entries: Sequence[GridEntry], grid: Grid | None = None, *,
                    hepdata: str | None = None, ctau_m: float | None = None,
                    n_samples: int | None = None, seed: int | None = None) -> dict[str, dict]:
    """PatchSets of grid entries on a workspace (``emiss patchset``), all built before any is
    written.

    Args:
        target: the workspace (``emiss.load_target``).
        entries: grid entries (``hypothesis``, ``grid``).
        grid: the grid file they come from; a standard grid's differences are recorded in the
            PatchSet metadata.
        hepdata: INSPIRE reference (default: the sidecar's).
        ctau_m: proper decay length of a two-body X in m (None: invisible).
        n_samples: form-factor draws per hypothesis (None: ``emiss.generate``'s default).
        seed: seed of the draws (None: the default).

    Returns:
        name -> PatchSet dict.
    """
    from emiss.patches.build import generate

    kw: dict[str, Any] = {}
    if n_samples is not None:
        kw["n_samples"] = n_samples
    if seed is not None:
        kw["seed"] = seed
    results = generate(target, list(entries), hepdata=hepdata, ctau_m=ctau_m, **kw)
    if grid is not None and grid.notes:  # why this standard grid is not the B -> K emulation's
        for ps in results.values():
            ps["metadata"].setdefault("emiss", {})["grid"] = {
                "file": grid.file, "key": grid.key, "differs_from": "patchsets",
                "differences": grid.notes}
    return results


def patchset(workspace: Workspace, scenario: str, masses: Any = None, params: Any = None,
             **kwargs: Any) -> dict:
    """One PatchSet of one scenario on a workspace.

    Args:
        workspace: a name (``belle2``, a bundled stem), a workspace file or a Bundle.
        scenario: scenario name (``emiss.scenarios()``), or a user scenario's name.
        masses: m_X values (list, or grid syntax such as ``"0.1:4.6:0.1"``).
        params: parameter values or grids (name -> value or syntax).
        **kwargs: passed to ``emiss.generate`` (``n_samples``, ``seed``, ``ctau_m``).

    Returns:
        The PatchSet dict (schema-valid, digest-stamped).
    """
    from emiss.patches.build import generate
    from emiss.patches.grid import make_entry
    from emiss.patches.target import load_target

    if masses is not None and not isinstance(masses, str):
        masses = list(masses)
    entry = make_entry(scenario, masses=masses, params=dict(params or {}))
    (ps,) = generate(load_target(_bundle(workspace)), [entry], **kwargs).values()
    return ps


def _read_json_input(path: str | os.PathLike, what: str) -> dict:
    """A JSON input file, or one EmissError line naming it."""
    from emiss.io import read_json

    if not Path(path).is_file():
        raise EmissError(f"{what} file {str(path)!r} does not exist")
    try:
        return read_json(path)
    except ValueError as exc:
        raise EmissError(f"{what} file {str(path)!r} is not valid JSON ({exc})") from None


def verify_patchset(workspace: str | os.PathLike, patchset: str | os.PathLike,
                    check_all: bool = False) -> dict:
    """Check a PatchSet file against its workspace file (``emiss verify-patchset``).

    Schema, digest and the patched pyhf models (the first patch's, or every one); with a
    sidecar, that the patches put signal into the channels that carry it.

    Args:
        workspace: the workspace file.
        patchset: the PatchSet file.
        check_all: build the model of every patch.

    Returns:
        The PatchSet.

    Raises:
        EmissError: the first problem found.
    """
    from emiss.bundles.bundle import sidecar_path
    from emiss.io import read_json
    from emiss.patches.assemble import check_signal_channels, validate_patchset

    spec, ps = _read_json_input(workspace, "workspace"), _read_json_input(patchset, "PatchSet")
    validate_patchset(ps, spec, n_full=-1 if check_all else 1, workspace_name=str(workspace))
    side = sidecar_path(workspace)
    meta = read_json(side) if side.is_file() else {}
    chans = meta.get("channels") if isinstance(meta, dict) else None
    if isinstance(chans, dict):
        check_signal_channels(ps, spec, [c for c, i in chans.items()
                                         if isinstance(i, dict) and i.get("process")],
                              where=str(patchset))
    return ps


def plot_templates(workspace: str | os.PathLike, outdir: str | os.PathLike,
                   scenarios: Sequence[str] = (), masses: Any = None, params: Any = (),
                   response: str | os.PathLike | None = None) -> list[Path]:
    """Folded signal templates of several hypotheses next to the backgrounds, per channel.

    Args:
        workspace: the workspace file or name.
        outdir: output folder (``templates_<workspace>.png/.pdf``).
        scenarios: scenarios to show (default: a representative set).
        masses: m_X values for the given scenarios.
        params: parameter values for the given scenarios.
        response: response file (default: the sidecar's).

    Returns:
        The figure files.
    """
    from emiss.bundles.bundle import resolve_workspace
    from emiss.inference.results import workspace_record
    from emiss.patches.grid import make_entry
    from emiss.patches.target import load_target
    from emiss.physics.scenarios import get_scenario
    from emiss.plotting.templates import default_entries
    from emiss.plotting.templates import plot_templates as plot

    target = load_target(workspace, response=response, hepdata="ins0000000")
    if scenarios:
        entries = [make_entry(s, masses if getattr(get_scenario(s), "needs_mass", False)
                              else None, params) for s in scenarios]
    else:
        if masses or params:
            raise EmissError("--masses/--param need --scenario")
        entries = default_entries()
    path = resolve_workspace(workspace, missing_ok=True)
    return plot(target, entries, Path(outdir) / f"templates_{target.name}",
                data=workspace_record(path) if path is not None else None)


# ------------------------------------------------------------------------------ inference
def measure(workspace: Workspace, patch: list | None = None, *,
            response: str | os.PathLike | None = None,
            progress: Callable[[str], None] | None = None) -> MeasureResult:
    """Fit the SM-shaped signal strength mu (``emiss measure``).

    Args:
        workspace: a name, a workspace file or a Bundle.
        patch: JSON Patch adding the signal (default: the workspace's SM patch).
        response: response file (default: the one the sidecar names).
        progress: called with a short message before each long step.

    Returns:
        ``emiss.inference.measure.MeasureResult`` (mu_hat, errors, Z_bkg_only, Z_sm, ...).
    """
    from emiss.studies.measure import measure as _measure

    return _measure(_bundle(workspace, response), patch=patch, progress=progress)


def measure_document(workspace: Workspace, *, response: str | os.PathLike | None = None,
                     plot_dir: str | os.PathLike | None = None,
                     progress: Callable[[str], None] | None = None) -> dict:
    """``emiss measure``: the fit of the SM-shaped signal as a document, and post-fit figures.

    Args:
        workspace: a name, a workspace file or a Bundle.
        response: response file (default: the one the sidecar names).
        plot_dir: folder for the post-fit figures (None: no figures).
        progress: called with a short message before each long step.

    Returns:
        ``MeasureResult.to_dict()`` with ``data`` (what the workspace's data are) and, with
        plot_dir, ``plots`` (the figure files).
    """
    from emiss.inference.results import data_info
    from emiss.studies.measure import measure as _measure
    from emiss.studies.measure import postfit, sm_signal_patch

    bundle = _bundle(workspace, response)
    bins = None
    if plot_dir:
        from emiss.plotting.labels import channel_bins

        bins = channel_bins(bundle)  # a bad sidecar bin_labels fails before the fit
    if progress:
        progress(f"{bundle.stem}: building the SM-shaped signal patch")
    patch, source = sm_signal_patch(bundle)
    res = _measure(bundle, patch=patch, progress=progress)
    res.signal_patch_source = source
    out = res.to_dict()
    out["data"] = data_info(bundle.meta)
    if plot_dir:
        from emiss.plotting.measure import plot_postfit

        if progress:
            progress("post-fit yields and their uncertainty band")
        paths = plot_postfit(postfit(bundle, patch), plot_dir, bundle.stem, mu_hat=res.mu_hat,
                             bins=bins, data=out["data"])
        out["plots"] = [str(p) for p in paths]
    return out


def compare(*results: Any, label: str = "m_X", gv_level: float = 1.0, global_toys: int = 0,
            workspace: Workspace = None, patchsets: Sequence[str | os.PathLike] = (),
            seed: int = 0, toy_files: Sequence[str | os.PathLike] = (),
            save_toys: str | os.PathLike | None = None) -> dict:
    """Best-fit mass per scenario and likelihood ratios (``emiss compare``).

    Args:
        *results: scan results documents or their files (one workspace).
        label: the mass label profiled for the best-fit mass.
        gv_level: Gross-Vitells reference level c0 of q0.
        global_toys: background-only toys for the global significance (0: Gross-Vitells only,
            or the toys of toy_files).
        workspace: the scan's workspace (file or name), needed by global_toys and toy_files.
        patchsets: the scan's mass-grid PatchSet files, needed by global_toys and toy_files.
        seed: seed of the new toys.
        toy_files: toy files of earlier jobs (other seeds; ``save_toys``) whose toys are
            merged with the new ones.
        save_toys: write every toy (read and new) to this toy file (contract ``toys``).

    Returns:
        The comparison dict (``emiss.format_compare`` prints it as the CLI does).
    """
    from emiss.inference.compare import compare as _compare
    from emiss.inference.results import load_results

    docs = [r if isinstance(r, dict) else load_results(r) for r in results]
    toys = None
    if global_toys or toy_files or save_toys is not None:
        from emiss.studies.global_toys import global_toys as run_toys

        toys = run_toys(docs, workspace, patchsets, global_toys, seed, gv_level, label,
                        toy_files=toy_files, save_toys=save_toys)
    return _compare(docs, label=label, global_toys=toys, gv_level=gv_level)


def posterior(workspace: Workspace, patchsets: Sequence[Any],
              outdir: str | os.PathLike | None = None, *, names: Sequence[str] | None = None,
              br_max: float = 1e-4, mass_prior: str = "flat", sampler: str = "nuts",
              draws: int = 1000, tune: int = 500, chains: int = 4, seed: int = 0,
              label: str = "m_X", min_weight: float = 1e-4, plots: bool = True) -> Written:
    """Posterior of B (and of m_X across a mass grid), evidences, Bayes factors
    (``emiss posterior``).

    Args:
        workspace: the background-only workspace (file, or its JSON dict).
        patchsets: PatchSet files or dicts made for it.
        outdir: folder for posterior.json and the figures (None: write nothing).
        names: only these patches.
        br_max, mass_prior, sampler, draws, tune, chains, seed, label, min_weight: as for
            ``emiss.inference.posterior_grid.PosteriorGrid``.
        plots: write the figures too.

    Returns:
        The posterior document and the files written.
    """
    from emiss.inference.posterior_grid import PosteriorGrid, posterior_document
    from emiss.inference.scan import _select, check_patchsets, load_json_file
    from emiss.io import write_json

    ws = workspace if isinstance(workspace, dict) else load_json_file(workspace, "workspace")
    pss = [p if isinstance(p, dict) else load_json_file(p, "patchset") for p in patchsets]
    ws_digest, ps_digests = check_patchsets(ws, pss)
    selected = _select(pss, names)
    grid_ = PosteriorGrid(ws, br_max=br_max, mass_prior=mass_prior, sampler=sampler,
                          draws=draws, tune=tune, chains=chains, seed=seed, label=label,
                          min_weight=min_weight)
    doc = posterior_document(ws_digest, ps_digests, grid_.run(pss, selected))
    if not outdir:
        return Written(doc)
    out = Path(outdir)
    files = [write_json(out / "posterior.json", doc)]
    if plots:
        from emiss.plotting.posterior import plot_scenario, plot_single

        for s in doc["scenarios"]:
            d = grid_.draws.get(s["scenario"])
            if d is None:
                continue
            if "single" in d:
                files += plot_single(s, d["single"], out, s["scenario"])
            elif s.get("mass", {}).get("single_point") and len(d["draws"][0]):
                # one mass: no mass marginal or (m_X, B) contours, the B marginal only
                files += plot_single(s, d["draws"][0], out, s["scenario"])
            else:
                files += plot_scenario(s, d, out, label)
    return Written(doc, files)


def bayes_factors(posterior_file: str | os.PathLike, reference: str = "sm-only") -> list[dict]:
    """Bayes factors of a posterior.json against a reference scenario (``emiss bayes``).

    Args:
        posterior_file: a posterior.json written by ``posterior``.
        reference: denominator scenario (``sm-only``: the SM-only hypothesis).

    Returns:
        Rows of ``emiss.inference.bayes.bayes_factor_table``.
    """
    from emiss.inference.bayes import bayes_factor_table
    from emiss.io import read_json

    try:
        doc = read_json(posterior_file)
    except (FileNotFoundError, ValueError) as exc:
        raise EmissError(f"cannot read posterior file {str(posterior_file)!r}: {exc}") from None
    if doc.get("format") != "emiss-posterior/1":
        raise EmissError(f"{str(posterior_file)!r} is not an emiss posterior file (format "
                         f"{doc.get('format')!r}, need 'emiss-posterior/1')")
    evid = {"sm-only": doc["reference"]}
    for s in doc["scenarios"]:
        evid[s["scenario"]] = s
    return bayes_factor_table(evid, reference)


# ------------------------------------------------------------------------------ studies
def wet(workspace: Workspace, ff_samples: int = 100, posterior: bool = False,
        draws: int = 1000, seed: int = 0, plot_dir: str | os.PathLike | None = None) -> dict:
    """Fit of the WET Wilson coefficients to a B -> K workspace (``emiss wet``).

    Args:
        workspace: a name (``belle2``), a workspace file or a Bundle.
        ff_samples: form-factor draws for the template components (0: none).
        posterior: also sample the Bayesian posterior (flat in each |C| on [0, 20]).
        draws: posterior draws per chain (4 chains).
        seed: seed of the posterior sampler.
        plot_dir: folder for the profile-likelihood figure (None: none).

    Returns:
        ``emiss.studies.wet.fit_wet``'s dict with ``posterior``, ``workspace``, ``data`` and
        ``plots`` when made.
    """
    from emiss.inference.results import data_info
    from emiss.studies.wet import fit_wet, posterior_wet

    bundle = _bundle(workspace)
    res = fit_wet(bundle, n_samples=ff_samples, curve_points=41 if plot_dir else 0)
    if posterior:
        res["posterior"] = posterior_wet(bundle, n_samples=ff_samples, seed=seed,
                                         draws=draws, tune=max(draws // 2, 100))
    res["workspace"] = str(bundle.path)
    res["data"] = data_info(bundle.meta)
    if plot_dir:
        from emiss.plotting.wet import plot_wet_profiles

        res["plots"] = [str(p) for p in plot_wet_profiles(res, plot_dir, bundle.stem,
                                                            res["data"]["label"])]
    return res


#: What the data of a projection are (the ``data`` block of projection.json).
PROJECTION_DATA = {"emulated_data": True, "label": (
    "expected (Asimov) data of the EMULATED Belle II-style workspaces (B -> K and "
    "B -> K*, scaled to each luminosity); no recorded data enter a projection")}


def project(lumis: Sequence[float], scenarios: Sequence[str] = (),
            masses: Sequence[float] | None = None, *, policy: str = "data-driven",
            workspaces: str | os.PathLike | None = None,
            limits_on: Sequence[str] = ("Kstar", "K+Kstar"), ff_samples: int = 20,
            outdir: str | os.PathLike | None = None,
            progress: Callable[[str], None] | None = None) -> Written:
    """Expected Belle II sensitivity at other luminosities (``emiss project``).

    Args:
        lumis: luminosities in ab^-1.
        scenarios: light-X scenarios (default ``emiss.studies.projection.DEFAULT_SCENARIOS``).
        masses: m_X values in GeV (default ``DEFAULT_MASSES``).
        policy: systematics scaling policy (``data-driven`` or ``fixed``).
        workspaces: folder with the bundled workspaces (default: the installed ones).
        limits_on: workspaces whose expected limits are computed (K, Kstar, K+Kstar).
        ff_samples: form-factor draws per hypothesis.
        outdir: folder for projection.json and its figures (None: write nothing).
        progress: called with a short message before each long step.

    Returns:
        The projection document and the files written.
    """
    from emiss.io import write_json
    from emiss.physics.scenarios import get_scenario
    from emiss.studies import projection

    ms = list(masses) if masses is not None else list(projection.DEFAULT_MASSES)
    scen = list(scenarios) or list(projection.DEFAULT_SCENARIOS)
    projection.check_request(list(lumis), scen, ms)  # names, endpoints, size: before any work
    if workspaces is None:
        from emiss.bundles.bundle import bundled_dir

        workspaces = str(bundled_dir())
    for s in scen:
        get_scenario(s)  # unknown name -> EmissError before any work
    doc = projection.run(list(lumis), scen, ms, workspaces_dir=str(workspaces), policy=policy,
                         n_samples=ff_samples, limit_variants=list(limits_on),
                         progress=progress)
    doc["data"] = dict(PROJECTION_DATA)
    if not outdir:
        return Written(doc)
    from emiss.plotting.projection import plot_all

    out = Path(outdir)
    files = [write_json(out / "projection.json", doc)]
    files += plot_all(doc, out, prefix="projection")
    return Written(doc, files)


def plot_projection(results: str | os.PathLike, outdir: str | os.PathLike) -> list[Path]:
    """Figures of a projection.json written by ``project`` (``emiss plot projection``).

    Args:
        results: the projection.json.
        outdir: output folder (``<results stem>_*.png/.pdf``).

    Returns:
        The figure files.
    """
    from emiss.io import read_json
    from emiss.plotting.projection import plot_all

    p = Path(results)
    if not p.is_file():
        raise EmissError(f"results file {str(results)!r} does not exist")
    try:
        doc = read_json(p)
    except (OSError, ValueError) as exc:  # empty, not JSON, unreadable
        raise EmissError(f"results file {str(results)!r} is not a projection.json: "
                         f"{' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict) or not all(k in doc for k in ("sm", "limits", "separation")):
        raise EmissError(f"{str(results)!r} is not a projection.json (needs sm, limits, "
                         "separation)")
    return plot_all(doc, outdir, prefix=p.name.removesuffix(".json"))


# ------------------------------------------------------------------------------ models
def _jsonable(obj: Any) -> Any:
    """numpy- and tuple-free copy for JSON (inf -> None)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def u1prime(**params: Any) -> dict:
    """Every derived quantity of the U(1)' + T' model at one point (``emiss model u1prime``).

    Args:
        **params: ``emiss.models.u1prime.PARAMETERS`` (m_T and g_qprime required).

    Returns:
        ``emiss.models.u1prime.derive``'s dict, JSON-ready.
    """
    from emiss.models.u1prime import derive

    return _jsonable(derive(**params))


def u1prime_coupling(br_hat: float, interval: tuple[float, float] | None = None,
                     m_Zp: float = 2.1, process: str = "B+->K+") -> dict:
    """The g̃ q'(m_T) that a measured B * P_inv requires when all Z' escape.

    Args:
        br_hat: best-fit B * P_inv.
        interval: its interval (LOW, HIGH), or None.
        m_Zp: Z' mass in GeV.
        process: the process measured.

    Returns:
        ``emiss.plotting.model.coupling_summary``'s dict, JSON-ready.
    """
    from emiss.plotting.model import coupling_summary

    res = coupling_summary(br_hat, interval, m_Zp, process)
    if res is None:
        raise EmissError(f"--br-hat {br_hat:g} must be > 0")
    return _jsonable(res)


def u1prime_plane(results: Sequence[str | os.PathLike], outdir: str | os.PathLike, *,
                  m_Zp: float | None = None, Y_Tt: Sequence[float] = (),
                  br_interval: tuple[float, float] | None = None,
                  charge_ratio: float | None = None,
                  m_T_range: tuple[float, float] = (1e3, 1e5),
                  g_range: tuple[float, float] = (1e-8, 1e-4), g_qX: float = 0.0,
                  m_X: float | None = None, delta: float = 1.0, Lambda_UV: float = 1e16,
                  radius_m: float = 3.0) -> list[Path]:
    """The model plane g̃ q' vs m_T at fixed M_Z' from scan results of twobody-vector patches.

    Args:
        results: scan results files.
        outdir: output folder (``<results stem>_u1prime_plane.png/.pdf/.json``).
        m_Zp: Z' mass in GeV (default: the scan's best-fit mass).
        Y_Tt: Y_T^t values of the EWPO curves (default 1e-3).
        br_interval: interval of B * P_inv (default B_hat +- B_hat/Z).
        charge_ratio: q'_X/q' for the relic and CMB lines.
        m_T_range, g_range: the plane's ranges.
        g_qX, m_X, delta, Lambda_UV, radius_m: the model's other parameters.

    Returns:
        The files written (figures, then the summary JSON).
    """
    from emiss.inference.results import load_results
    from emiss.io import write_json
    from emiss.models.plane import PlaneInputs
    from emiss.models.plane import _check as check_plane
    from emiss.plotting.model import coupling_summary, plot_plane, scan_numbers

    stem = results_stem(results)
    docs = [load_results(p) for p in results]
    nums = scan_numbers(docs, m_Zp)
    iv = br_interval or nums["br_interval"]
    inp = PlaneInputs(m_Zp=nums["m_Zp"], br_hat=nums["br_hat"], br_interval=iv,
                      br_limit=nums["br_limit"], process=nums["process"],
                      Y_Tt=tuple(Y_Tt) or (1e-3,), g_qX=g_qX, m_X=m_X, delta=delta,
                      Lambda_UV=Lambda_UV, radius_m=radius_m, charge_ratio=charge_ratio,
                      m_T_range=m_T_range, g_range=g_range)
    check_plane(inp)
    out = Path(outdir)
    data = next((d["workspace"] for d in docs if d.get("workspace")), None)
    paths, _ = plot_plane(inp, out / f"{stem}_u1prime_plane", data=data)
    summary = {"scan": nums, "br_interval_used": iv,
               "coupling_all_escape": coupling_summary(nums["br_hat"], iv, nums["m_Zp"],
                                                       nums["process"]),
               "options": {"Y_Tt": list(inp.Y_Tt), "g_qX": g_qX, "m_X": m_X, "delta": delta,
                           "Lambda_UV": Lambda_UV, "radius_m": radius_m,
                           "charge_ratio": charge_ratio}}
    paths.append(write_json(out / f"{stem}_u1prime_plane.json", _jsonable(summary)))
    return paths


# ------------------------------------------------------------------------------ workspaces
def build_workspaces(outdir: str | os.PathLike) -> list[Path]:
    """Rebuild the B -> K workspaces, sidecars and responses (``emiss workspace build``).

    Belle II's released likelihood (the shipped HEPData ins2947386 files, imported as the
    bundle ``belle2`` names) and the B -> K emulations; deterministic.

    Args:
        outdir: output folder.

    Returns:
        The files written.
    """
    from emiss.bundles.belle2_hepdata import build_shipped
    from emiss.bundles.k_emulation import build_all

    return [*build_shipped(outdir), *build_all(outdir)]
