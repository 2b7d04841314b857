"""Physics commands: ``emiss scenarios``, ``rate``, ``spectrum`` and ``emiss plot spectra``.

A thin shell over ``emiss.api`` (``rate``, ``spectrum_table``) and ``emiss.physics.scenarios``;
user errors are raised as ``EmissError`` and printed by ``emiss.cli.main`` as one line with
exit code 2. The physics stage is imported inside the commands (and the --process help, which
lists the processes, only when it is shown): ``emiss --help`` stays fast.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from emiss import api
from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR, note, output_dir
from emiss.errors import EmissError
from emiss.io import dumps_json
from emiss.validate import MAX_RATE_SAMPLES, parse_params

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def parse_q2_list(text: str) -> list[float]:
    """Parse ``Q1,Q2,...`` (GeV^2) into floats; EmissError on empty, non-numeric or NaN entries."""
    vals = []
    for tok in text.split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            x = float(tok)
        except ValueError:
            raise EmissError(f"bad --q2 entry {tok!r}; expected comma-separated numbers "
                             "(GeV^2), e.g. --q2 0.5,4,12") from None
        if not math.isfinite(x):
            raise EmissError(f"bad --q2 entry {tok!r}: must be finite")
        vals.append(x)
    if not vals:
        raise EmissError("--q2 is empty; give comma-separated q^2 values in GeV^2")
    return vals


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def _default_mass_note(scenario: str, given: float | None, used: float | None) -> bool:
    """True (and a note on stderr) when the scenario's default mass was used for a missing --mass.

    The mass changes the physics (line position, endpoint), so a silent default would mislead.
    """
    if given is not None or used is None:
        return False
    note(f"no --mass given: {scenario} uses its default m_X = {used:g} GeV")
    return True


class _ProcessOption(click.Option):
    """``--process``: its help lists the processes of ``emiss.physics.processes``, imported
    only when the help is shown."""

    def __init__(self, *args: Any, extra: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = extra

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        if self.help is None:
            from emiss.physics.processes import ALL_PROCESSES

            self.help = (f"Process, one of: {', '.join(ALL_PROCESSES)} (related modes: "
                         "vector-current light-X scenarios, g = coupling of that transition)"
                         f"{self.extra}.")
        return super().get_help_record(ctx)


def _process_option(required: bool = True, extra: str = "") -> Callable[[F], F]:
    return click.option("--process", "process", required=required, cls=_ProcessOption,
                        extra=extra)


@click.command("scenarios")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def scenarios_cmd(as_json: bool) -> None:
    """List the new-physics scenarios (spin, multiplicity, operator, parameters)."""
    from emiss.physics.scenarios import list_scenarios

    items = [s.to_dict() for s in list_scenarios()]
    if as_json:
        click.echo(dumps_json(items), nl=False)
        return
    w = max(len(s["name"]) for s in items) + 1  # the longest name sets the column
    click.echo(f"{'name':{w}s} {'spin':>4s} {'mult':>4s}  parameters (default)  operator")
    for s in items:
        pars = ", ".join(f"{k}={v['default']:g}" for k, v in s["parameters"].items())
        if s["needs_mass"]:
            pars = f"mass={s['default_mass']:g} GeV" + (", " + pars if pars else "")
        click.echo(f"{s['name']:{w}s} {s['spin']:>4g} {s['multiplicity']:>4d}  "
                   f"[{pars}]  {s['operator']}")


def _rate_lines(res: dict) -> list[str]:
    """What ``emiss rate`` prints for the dict of ``emiss.api.rate``."""
    lines = [f"scenario          {res['scenario']}", f"process           {res['process']}"]
    if res["mass"] is not None:
        lines.append(f"mass              {res['mass']:g} GeV"
                     + ("  (scenario default; --mass to change)" if res["mass_is_default"]
                        else ""))
    lines += [f"param {k:11s} {v:g}" for k, v in res["params"].items()]
    lines.append(f"branching ratio   {res['branching_ratio']:.4e} +- {res['uncertainty']:.2e}")
    if res["FL"] is not None:
        lines.append(f"F_L               {res['FL']:.4f} +- {res['FL_uncertainty']:.4f}")
    lines += [f"line at q2 = {line['q2']:.4g} GeV^2 (delta function)" for line in res["lines"]]
    if res.get("time_integrated_range") and res["branching_ratio"] > 0:
        lo, hi = res["time_integrated_range"]
        lines.append(f"time-integrated   {lo:.4e} .. {hi:.4e}  (B_s mixing, A_DeltaGamma from "
                     "-1 to +1; arXiv:1204.1737)")
    if res.get("reason"):  # a rate that vanishes says why (e.g. B_s -> invisible of a tensor pair)
        lines.append(f"why zero          {res['reason']}")
    if "inputs" in res:
        lines.append("inputs:")
        lines += [f"  {item['name']} = {item['value']}  [{item['source']}]"
                  for item in res["inputs"]]
        lines.append(f"note: {res['note']}")
    return lines


@click.command("rate")
@click.argument("scenario")
@_process_option(extra="; for sm also B0->KS (K_S, half of K0) and Bs->4nu "
                       "(B_s -> nu nubar nu nubar, quoted)")
@click.option("--mass", type=A.MASS, default=None, help="Invisible-particle mass in GeV.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Scenario parameter (repeatable), e.g. --param g=0.5 --param Lambda=1e4.")
@click.option("--samples", type=A.RATE_SAMPLES, default=200, show_default=True,
              help="Form-factor draws for the 1 sigma uncertainty (2 to "
                   f"{MAX_RATE_SAMPLES}; streamed, memory stays flat).")
@click.option("--seed", type=A.SEED, default=0, show_default=True,
              help="Seed of the form-factor draws (0 to 2**32 - 1).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rate_cmd(scenario: str, process: str, mass: float | None, params: tuple[str, ...],
             samples: int, seed: int, as_json: bool) -> None:
    """Branching ratio, its form-factor uncertainty and F_L (K*) of SCENARIO."""
    res = api.rate(scenario, process, mass=mass, params=params, n_samples=samples, seed=seed)
    _default_mass_note(res["scenario"], mass, res["mass"])
    if as_json:
        click.echo(dumps_json(res), nl=False)
        return
    click.echo("\n".join(_rate_lines(res)))


def _spectrum_lines(res: dict) -> list[str]:
    """What ``emiss spectrum`` prints for the dict of ``emiss.api.spectrum_table``."""
    is_vec = res["FL"] is not None
    lines = [f"{res['scenario']}  {res['process']}"
             + (f"  m = {res['mass']:g} GeV" if res["mass"] is not None else "")
             + (" (scenario default; --mass to change)" if res["mass_is_default"] else ""),
             f"{'q2 [GeV^2]':>12s} {'dB/dq2 [GeV^-2]':>16s}" + ("  F_L" if is_vec else "")]
    for i, x in enumerate(res["q2"]):
        lines.append(f"{x:12.4g} {res['dBdq2'][i]:16.4e}"
                     + (f"  {_fmt(res['FL'][i])}" if is_vec else ""))
    for line in res["lines"]:
        extra = f", F_L = {line['FL']:.4f}" if line.get("FL") is not None else ""
        lines.append(f"line: q2 = {line['q2']:.4g} GeV^2, B = {line['branching_ratio']:.4e}"
                     f"{extra} (delta function, not in dB/dq2)")
    return lines


@click.command("spectrum")
@click.argument("scenario")
@_process_option()
@click.option("--mass", type=A.MASS, default=None, help="Invisible-particle mass in GeV.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Scenario parameter (repeatable).")
@click.option("--q2", "q2", required=True, help="Comma-separated q^2 values in GeV^2.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def spectrum_cmd(scenario: str, process: str, mass: float | None, params: tuple[str, ...],
                 q2: str, as_json: bool) -> None:
    """dB/dq^2 (GeV^-2) of SCENARIO at the given q^2; two-body lines are listed apart."""
    from emiss.physics.scenarios import get_scenario

    sc = get_scenario(scenario)
    pts = parse_q2_list(q2)
    spec = sc.spectrum(process, mass=mass, params=parse_params(params))
    default_mass = _default_mass_note(sc.name, mass, spec.meta.get("mass"))
    res = api.spectrum_table(spec, pts)
    res["mass_is_default"] = default_mass
    if as_json:
        click.echo(dumps_json(res), nl=False)
        return
    click.echo("\n".join(_spectrum_lines(res)))


@click.command("spectra")
@click.option("-o", "--outdir", "--output", "outdir", default="plots", show_default=True,
              type=OUT_DIR, help="Output folder (created if missing).")
@click.option("--process", "processes", multiple=True,
              help="Process (repeatable); default B+->K+ and B0->K*0.")
def plot_spectra_cmd(outdir: str, processes: tuple[str, ...]) -> None:
    """Normalised q^2 spectra of the scenarios side by side (and F_L(q^2) for K*)."""
    from emiss.physics.processes import get_process
    from emiss.plotting.spectra import plot_spectra

    procs = processes or ("B+->K+", "B0->K*0")
    for proc in procs:  # every name before the first figure
        get_process(proc)
    output_dir(outdir)
    for proc in procs:
        for path in plot_spectra(proc, outdir):
            click.echo(str(path))
