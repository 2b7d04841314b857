"""CLI: ``emiss patchset`` (hypothesis grid -> pyhf PatchSet) and ``emiss plot templates``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from emiss.cli import _args as A
from emiss.cli._common import NO_SIDECAR_HELP, OUT_DIR, OUT_FILE
from emiss.errors import EmissError

log = logging.getLogger(__name__)

_PATCHSET_HELP = """Write pyhf PatchSet(s) of signal hypotheses on the background-only WORKSPACE.

For each hypothesis dB/dq^2 is folded through the workspace's detector response (from its
sidecar <stem>.meta.json, or --response) into every channel; each becomes one patch adding the
sample 'signal' (normfactor mu; mu = 1 <-> the reference branching ratio in the patch
metadata) and, for light invisible X, the fixed SM sample 'sm_nunu'. The output passes
`pyhf patchset verify WORKSPACE FILE` and works with `pyhf cls WORKSPACE --patch ...`.

\b
Grid syntax: --masses 0:4.6:0.05 (start:stop:step, stop included), 0.5,1,2.1 (list);
--param NAME=SPEC takes the same syntax and spans a grid (e.g. heavy-np C_L and C_R).
--grid FILE.yaml|toml holds several scenarios ({patchsets: [{name, scenario, masses,
params}, ...]}); then -o is a folder (one NAME.json per entry) unless the grid has one entry.

\b
Examples:
  emiss patchset workspaces/belle2_combined_bkgonly.json --scenario twobody-scalar \\
      --masses 0:4.7:0.1 -o twobody_scalar.json
  emiss patchset workspaces/belle2_ita_bkgonly.json --scenario heavy-np \\
      --param C_L=-16:4:2 --param C_R=-7:7:2 -o heavy_np.json
  emiss patchset workspaces/belle2_hta_bkgonly.json --grid standard -o out/
"""


def register(cli: click.Group, plot: click.Group) -> None:
    """Add ``patchset`` and ``plot templates``.

    Args:
        cli: the main click group.
        plot: the ``plot`` subgroup.
    """

    @cli.command("patchset", help=_PATCHSET_HELP)
    @click.argument("workspace")
    @click.option("--scenario", default=None, help="Scenario name (see `emiss scenarios`).")
    @click.option("--spectrum", "spectrum_file", default=None, type=click.Path(),
                  help="Your own hypothesis: a text table of q^2 [GeV^2] and dB/dq^2 [GeV^-2] "
                       "(comma- or space-separated, # comments; a third column dB_L/dq^2 for "
                       "B -> K*), added to the SM nu nubar like a light X; instead of "
                       "--scenario.")
    @click.option("--process", "spectrum_process", default="B+->K+", show_default=True,
                  help="Process the --spectrum table describes.")
    @click.option("--masses", default=None, help="m_X grid in GeV, e.g. 0:4.6:0.05 or 0.5,2.1.")
    @click.option("--ctau", "ctau_m", type=A.CTAU, default=None,
                  help="Proper decay length c tau of a two-body X in metres: the signal is "
                       "B * P_inv, P_inv the probability that X leaves Belle II (3 m) "
                       "undecayed; mu still refers to B (default: X invisible).")
    @click.option("--param", "params", multiple=True, metavar="NAME=SPEC",
                  help="Parameter value or grid (repeatable).")
    @click.option("--grid", "grid_file", default=None, type=click.Path(dir_okay=False),
                  help="Grid file (YAML or TOML) with several scenarios, or `standard` for the "
                       "packaged standard grid.")
    @click.option("--grid-key", default=None,
                  help="Entry list of the grid file (default: `patchsets`; for the standard "
                       "grid the workspace's own: belle2_patchsets on Belle II's likelihood, "
                       "kstar_patchsets on B -> K* workspaces).")
    @click.option("--response", default=None, type=click.Path(dir_okay=False),
                  help="Response file (default: the one the workspace sidecar names).")
    @click.option("--hepdata", default=None, help="INSPIRE reference insNNNNNNN "
                  "(default: the sidecar's).")
    @click.option("--ff-samples", "n_samples", type=A.FF_SAMPLES, default=None,
                  help="Form-factor draws per hypothesis (default 100; 0 = no FF systematics; "
                       "at most 10000).")
    @click.option("--seed", type=A.SEED, default=None, help="Seed of the form-factor draws.")
    @click.option("--no-sidecar", "no_sidecar", is_flag=True, help=NO_SIDECAR_HELP)
    @click.option("-o", "--output", "--outdir", "output", required=True, type=OUT_FILE,
                  help="Output file (PatchSet JSON, name ending in .json); with a multi-entry "
                       "--grid an output folder (one NAME.json per entry; created if missing).")
    def patchset_cmd(workspace, scenario, spectrum_file, spectrum_process, masses, ctau_m, params,
                     grid_file, grid_key, response, hepdata, n_samples, seed, no_sidecar, output):
        from emiss.cli._common import (
            check_sidecar,
            note,
            output_dir,
            output_file,
            workspace_arg,
            workspace_inputs,
        )
        from emiss.patches.build import generate, write_patchset
        from emiss.patches.grid import STANDARD_GRID, load_grid, make_entry
        from emiss.patches.target import load_target, standard_grid_key

        if spectrum_file is not None:
            if scenario is not None or grid_file is not None or masses is not None:
                raise EmissError("--spectrum is the hypothesis: drop --scenario, --grid and "
                                 "--masses")
            from emiss.physics.user import read_table, user_scenario

            scenario = user_scenario(read_table(spectrum_file, spectrum_process)).name
        if (scenario is None) == (grid_file is None):
            raise EmissError("give either --scenario (with --masses/--param) or --grid FILE")
        if grid_file is not None and (masses is not None or params):
            raise EmissError("--masses/--param belong to --scenario; put them in the grid file")
        if grid_file is None:  # the grid's syntax, size and names, before the workspace is read
            from emiss.patches.hypotheses import resolve_entry

            entries = [make_entry(scenario, masses, params)]
            resolve_entry(entries[0])
        workspace = workspace_arg(workspace)
        check_sidecar(workspace, no_sidecar)
        target = load_target(workspace, response=response, hepdata=hepdata)
        grid_notes: list[str] = []
        if grid_file:
            key = grid_key or (standard_grid_key(target) if grid_file == STANDARD_GRID
                               else "patchsets")
            entries = load_grid(grid_file, key=key)
            if grid_file == STANDARD_GRID and key != "patchsets":
                grid_notes = standard_grid_differences(key, entries)
                for line in grid_notes:
                    note(line)
        out = Path(output)
        single = out.suffix.lower() == ".json"
        if len(entries) > 1 and single:
            raise EmissError(f"the grid has {len(entries)} entries; give a folder for -o, "
                             f"not {output!r}")
        inputs = [*workspace_inputs(workspace), response, spectrum_file,
                  grid_file if grid_file != STANDARD_GRID else None]
        if single:
            output_file(out, "PatchSet file", inputs)
        else:
            output_dir(out, "PatchSet folder", inputs, [f"{e.name}.json" for e in entries])
        kw = {}
        if n_samples is not None:
            kw["n_samples"] = n_samples
        if seed is not None:
            kw["seed"] = seed
        results = generate(target, entries, hepdata=hepdata, ctau_m=ctau_m,
                           **kw)  # all before any write
        from emiss.cli._common import data_line

        click.echo(data_line(workspace))
        for name, ps in results.items():
            path = out if single else out / f"{name}.json"
            if grid_notes:  # why this standard grid is not the B -> K emulation's
                ps["metadata"].setdefault("emiss", {})["grid"] = {
                    "file": STANDARD_GRID, "key": key, "differs_from": "patchsets",
                    "differences": grid_notes}
            write_patchset(path, ps)
            click.echo(f"wrote {len(ps['patches'])} patches ({ps['metadata']['labels']}) "
                       f"to {path}")

    @cli.command("verify-patchset")
    @click.argument("workspace", type=click.Path(dir_okay=False))
    @click.argument("patchset", type=click.Path(dir_okay=False))
    @click.option("--all", "check_all", is_flag=True,
                  help="Build the pyhf model of every patch (default: the first).")
    def verify_cmd(workspace, patchset, check_all):
        """Check PATCHSET against WORKSPACE: schema, digest, patched pyhf models."""
        from emiss.cli._common import workspace_arg
        from emiss.patches.assemble import validate_patchset

        workspace = workspace_arg(workspace)
        spec, ps = _read(workspace, "workspace"), _read(patchset, "PatchSet")
        validate_patchset(ps, spec, n_full=-1 if check_all else 1, workspace_name=workspace)
        from emiss.bundles.bundle import sidecar_path
        from emiss.io import read_json
        from emiss.patches.assemble import check_signal_channels

        side = sidecar_path(workspace)
        meta = read_json(side) if side.is_file() else {}
        chans = meta.get("channels") if isinstance(meta, dict) else None
        if isinstance(chans, dict):
            check_signal_channels(ps, spec, [c for c, i in chans.items()
                                             if isinstance(i, dict) and i.get("process")],
                                  where=str(patchset))
        from emiss.cli._common import data_line

        click.echo(f"ok: {len(ps['patches'])} patches of {patchset} match {workspace}")
        click.echo(data_line(workspace))

    @plot.command("templates")
    @click.argument("workspace", type=click.Path(dir_okay=False))
    @click.option("--scenario", "scenarios", multiple=True,
                  help="Scenario(s) to show (repeatable; default: a representative set).")
    @click.option("--masses", default=None, help="m_X values for the given scenarios.")
    @click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                  help="Parameter values for the given scenarios.")
    @click.option("--response", default=None, type=click.Path(dir_okay=False),
                  help="Response file (default: the sidecar's).")
    @click.option("-o", "--outdir", "--output", "output", required=True, type=OUT_DIR,
                  help="Output folder (created if missing): templates_<workspace>.png/.pdf.")
    def plot_templates_cmd(workspace, scenarios, masses, params, response, output):
        """Folded signal templates of several hypotheses per channel next to the backgrounds."""
        from emiss.cli._common import output_dir, workspace_arg, workspace_inputs
        from emiss.patches.grid import make_entry
        from emiss.patches.target import load_target
        from emiss.plotting.templates import default_entries, plot_templates

        output_dir(output, inputs=[*workspace_inputs(workspace), response])
        workspace = workspace_arg(workspace)
        target = load_target(workspace, response=response, hepdata="ins0000000")
        if scenarios:
            entries = [make_entry(s, masses, params) if _needs_mass(s) else
                       make_entry(s, None, params) for s in scenarios]
        else:
            if masses or params:
                raise EmissError("--masses/--param need --scenario")
            entries = default_entries()
        from emiss.cli._common import workspace_data

        paths = plot_templates(target, entries, Path(output) / f"templates_{target.name}",
                               data=workspace_data(workspace))
        for p in paths:
            click.echo(f"wrote {p}")


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


def _read(path: str, what: str) -> dict:
    from emiss.io import read_json

    if not Path(path).is_file():
        raise EmissError(f"{what} file {path!r} does not exist")
    try:
        return read_json(path)
    except ValueError as exc:
        raise EmissError(f"{what} file {path!r} is not valid JSON ({exc})") from None


def _needs_mass(name: str) -> bool:
    from emiss.physics.scenarios import get_scenario

    return bool(getattr(get_scenario(name), "needs_mass", False))
