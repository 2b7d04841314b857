"""CLI: ``emiss patchset`` (hypothesis grid -> pyhf PatchSet; ``inspect``, ``merge``),
``emiss verify-patchset`` and ``emiss plot templates``.

A thin shell over ``emiss.api`` (``hypothesis``, ``grid``, ``build_patchsets``,
``verify_patchset``, ``plot_templates``) and ``emiss.patches.patchsets`` (``inspect_patchsets``,
``merge_patchsets``). Imports of the stages are inside the commands: ``emiss --help`` stays
fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from emiss import api
from emiss.cli import _args as A
from emiss.cli._common import (
    NO_SIDECAR_HELP,
    OUT_DIR,
    OUT_FILE,
    check_sidecar,
    data_line,
    note,
    output_dir,
    output_file,
    workspace_arg,
    workspace_inputs,
)
from emiss.errors import EmissError
from emiss.io import dumps_json

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


def _scenario(scenario: str | None, spectrum_file: str | None, process: str,
              grid_file: str | None, masses: str | None, params: tuple[str, ...]) -> str | None:
    """The scenario of the command (a --spectrum table is registered as a user scenario),
    after the checks of which options go together."""
    if spectrum_file is not None:
        if scenario is not None or grid_file is not None or masses is not None:
            raise EmissError("--spectrum is the hypothesis: drop --scenario, --grid and "
                             "--masses")
        from emiss.physics.user import read_table, user_scenario

        user: Any = user_scenario(read_table(spectrum_file, process))
        scenario = user.name
    if (scenario is None) == (grid_file is None):
        raise EmissError("give either --scenario (with --masses/--param) or --grid FILE")
    if grid_file is not None and (masses is not None or params):
        raise EmissError("--masses/--param belong to --scenario; put them in the grid file")
    return scenario


def _check_output(output: str, entries: list, inputs: list) -> tuple[Path, bool]:
    """(the -o path, whether it is one file) after the output checks."""
    out = Path(output)
    single = out.suffix.lower() == ".json"
    if len(entries) > 1 and single:
        raise EmissError(f"the grid has {len(entries)} entries; give a folder for -o, "
                         f"not {output!r}")
    if single:
        output_file(out, "PatchSet file", inputs)
    else:
        output_dir(out, "PatchSet folder", inputs, [f"{e.name}.json" for e in entries])
    return out, single


class DefaultGroup(click.Group):
    """A group whose first argument, when it names none of its commands, goes to a default
    command: ``emiss patchset WS ...`` is ``emiss patchset build WS ...``."""

    def __init__(self, *args: Any, default: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


@click.group("patchset", cls=DefaultGroup, default="build")
def patchset() -> None:
    """Build pyhf PatchSets of signal hypotheses, list their patches, merge them.

    `emiss patchset WORKSPACE [OPTIONS]` is short for `emiss patchset build WORKSPACE
    [OPTIONS]` (see `emiss patchset build --help`); a workspace file called build, inspect
    or merge is then given as ./build.
    """


@click.command("build", help=_PATCHSET_HELP)
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
    from emiss.patches.build import write_patchset
    from emiss.patches.grid import STANDARD_GRID
    from emiss.patches.target import load_target

    scenario = _scenario(scenario, spectrum_file, spectrum_process, grid_file, masses, params)
    # the grid's syntax, size and names, before the workspace is read
    entries = [] if grid_file is not None else [api.hypothesis(scenario, masses, params)]
    workspace = workspace_arg(workspace)
    check_sidecar(workspace, no_sidecar)
    target = load_target(workspace, response=response, hepdata=hepdata)
    grid = api.grid(target, grid_file, grid_key) if grid_file is not None else None
    if grid is not None:
        entries = grid.entries
        for line in grid.notes:
            note(line)
    out, single = _check_output(output, entries, [
        *workspace_inputs(workspace), response, spectrum_file,
        grid_file if grid_file != STANDARD_GRID else None])
    results = api.build_patchsets(target, entries, grid, hepdata=hepdata, ctau_m=ctau_m,
                                  n_samples=n_samples, seed=seed)  # all before any write
    click.echo(data_line(workspace))
    for name, ps in results.items():
        path = out if single else out / f"{name}.json"
        write_patchset(path, ps)
        click.echo(f"wrote {len(ps['patches'])} patches ({ps['metadata']['labels']}) "
                   f"to {path}")


@click.command("inspect")
@click.argument("patchsets", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True,
              help="Print the listing as JSON (per patch: name, values, the emiss block).")
def inspect_cmd(patchsets: tuple[str, ...], as_json: bool) -> None:
    """List the patches of PATCHSET file(s): name, label values, scenario, the reference
    branching ratio mu = 1 stands for (per process), the coupling at mu = 1 and the workspace
    digest the set was built for. Patches emiss did not write show pyhf's fields only.
    """
    from emiss.patches.patchsets import format_inspect, inspect_patchsets

    doc = inspect_patchsets(patchsets)
    click.echo(dumps_json(doc) if as_json else format_inspect(doc), nl=not as_json)


@click.command("merge")
@click.argument("patchsets", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "output", required=True, type=OUT_FILE,
              help="Output PatchSet file (JSON).")
def merge_cmd(patchsets: tuple[str, ...], output: str) -> None:
    """Merge the patches of several PATCHSET files of one workspace into one PatchSet, in the
    order given.

    Refused (one line, nothing written) when the sets were built for different workspaces
    (metadata.digests), have different labels, references or emiss metadata (scenario,
    form-factor draws), or share a patch name or values.
    """
    from emiss.patches.build import write_patchset
    from emiss.patches.patchsets import merge_patchsets

    out = output_file(output, "PatchSet file", patchsets)
    assert out is not None  # -o is required
    ps = merge_patchsets(patchsets)
    write_patchset(out, ps)
    click.echo(f"wrote {len(ps['patches'])} patches ({ps['metadata']['labels']}) of "
               f"{len(patchsets)} PatchSets to {out}")


@click.command("verify-patchset")
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("patchset", type=click.Path(dir_okay=False))
@click.option("--all", "check_all", is_flag=True,
              help="Build the pyhf model of every patch (default: the first).")
def verify_cmd(workspace, patchset, check_all):
    """Check PATCHSET against WORKSPACE: schema, digest, patched pyhf models."""
    workspace = workspace_arg(workspace)
    ps = api.verify_patchset(workspace, patchset, check_all)
    click.echo(f"ok: {len(ps['patches'])} patches of {patchset} match {workspace}")
    click.echo(data_line(workspace))


@click.command("templates")
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
    output_dir(output, inputs=[*workspace_inputs(workspace), response])
    paths = api.plot_templates(workspace_arg(workspace), output, scenarios, masses, params,
                               response)
    for p in paths:
        click.echo(f"wrote {p}")
