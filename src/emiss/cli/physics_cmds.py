"""Physics commands: ``emiss scenarios``, ``rate``, ``spectrum`` and ``emiss plot spectra``.

A thin shell over ``emiss.physics.scenarios`` / ``emiss.physics.predict``; user errors are raised as
``EmissError`` and printed by ``emiss.cli.main`` as one line with exit code 2.
"""

from __future__ import annotations

import logging
import math

import click
import numpy as np

from emiss.cli import _args as A
from emiss.cli._common import OUT_DIR
from emiss.errors import EmissError
from emiss.io import dumps_json
from emiss.validate import MAX_RATE_SAMPLES, PARAM

log = logging.getLogger(__name__)


def parse_params(items: tuple[str, ...]) -> dict[str, float]:
    """Parse repeated ``NAME=VALUE`` options.

    Args:
        items: the raw strings.

    Returns:
        name -> float.

    Raises:
        EmissError: missing '=', empty name, duplicate name, non-numeric or non-finite value.
    """
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise EmissError(f"bad --param {item!r}; expected NAME=VALUE, e.g. --param g=0.5")
        if name in out:
            raise EmissError(f"--param {name!r} given twice")
        out[name] = PARAM.check(value, f"--param {name}")
    return out


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


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def _default_mass_note(scenario: str, given: float | None, used: float | None) -> bool:
    """True (and a note on stderr) when the scenario's default mass was used for a missing --mass.

    The mass changes the physics (line position, endpoint), so a silent default would mislead.
    """
    if given is not None or used is None:
        return False
    from emiss.cli._common import note

    note(f"no --mass given: {scenario} uses its default m_X = {used:g} GeV")
    return True


def _process_option(required: bool = True):
    from emiss.physics.processes import ALL_PROCESSES

    return click.option("--process", "process", required=required,
                        help=f"Process, one of: {', '.join(ALL_PROCESSES)} (related modes: "
                             "vector-current light-X scenarios, g = coupling of that transition).")


def register(cli: click.Group, plot: click.Group) -> None:
    """Add the physics commands to the main group and ``spectra`` to the plot group."""

    @cli.command("scenarios")
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

    @cli.command("rate")
    @click.argument("scenario")
    @_process_option()
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
        from emiss.physics.predict import predict

        res = predict(scenario, process, mass=mass, params=parse_params(params),
                      n_samples=samples, seed=seed)
        default_mass = _default_mass_note(res["scenario"], mass, res["mass"])
        res["mass_is_default"] = default_mass
        if as_json:
            click.echo(dumps_json(res), nl=False)
            return
        click.echo(f"scenario          {res['scenario']}")
        click.echo(f"process           {res['process']}")
        if res["mass"] is not None:
            click.echo(f"mass              {res['mass']:g} GeV"
                       + ("  (scenario default; --mass to change)" if default_mass else ""))
        for k, v in res["params"].items():
            click.echo(f"param {k:11s} {v:g}")
        click.echo(f"branching ratio   {res['branching_ratio']:.4e} +- {res['uncertainty']:.2e}")
        if res["FL"] is not None:
            click.echo(f"F_L               {res['FL']:.4f} +- {res['FL_uncertainty']:.4f}")
        for line in res["lines"]:
            click.echo(f"line at q2 = {line['q2']:.4g} GeV^2 (delta function)")

    @cli.command("spectrum")
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
        bad = [x for x in pts if x < 0 or x > spec.q2_max]
        if bad:
            raise EmissError(f"q2 {bad[0]:g} GeV^2 is outside the kinematic range of {process}; "
                             f"valid: 0 <= q2 <= {spec.q2_max:.4f}")
        arr = np.array(pts)
        dB = spec.dBdq2(arr)
        is_vec = spec.continuum_long is not None or bool(spec.lines_long)
        fl = None
        if is_vec:
            dBL = spec.dBLdq2(arr)
            fl = [float(b / t) if t > 0 else None for b, t in zip(dBL, dB, strict=True)]
        lines = [{"q2": q, "branching_ratio": b} for q, b in spec.lines]
        for line, bl in zip(lines, spec.lines_long, strict=False):
            line["FL"] = bl / line["branching_ratio"] if line["branching_ratio"] > 0 else None
        res = {
            "scenario": sc.name,
            "process": process,
            "mass": spec.meta.get("mass"),
            "mass_is_default": default_mass,
            "params": spec.meta.get("params", {}),
            "q2": pts,
            "dBdq2": [float(x) for x in dB],
            "FL": fl,
            "lines": lines,
            "q2_min": spec.q2_min,
            "q2_max": spec.q2_max,
            "units": {"q2": "GeV^2", "dBdq2": "GeV^-2"},
        }
        if as_json:
            click.echo(dumps_json(res), nl=False)
            return
        click.echo(f"{sc.name}  {process}" + (f"  m = {res['mass']:g} GeV" if res["mass"]
                                               is not None else "")
                   + (" (scenario default; --mass to change)" if default_mass else ""))
        click.echo(f"{'q2 [GeV^2]':>12s} {'dB/dq2 [GeV^-2]':>16s}" + ("  F_L" if is_vec else ""))
        for i, x in enumerate(pts):
            row = f"{x:12.4g} {res['dBdq2'][i]:16.4e}"
            if is_vec:
                row += f"  {_fmt(fl[i])}"
            click.echo(row)
        for line in lines:
            extra = f", F_L = {line['FL']:.4f}" if "FL" in line and line["FL"] is not None else ""
            click.echo(f"line: q2 = {line['q2']:.4g} GeV^2, B = {line['branching_ratio']:.4e}"
                       f"{extra} (delta function, not in dB/dq2)")

    @plot.command("spectra")
    @click.option("-o", "--outdir", "--output", "outdir", default="plots", show_default=True,
                  type=OUT_DIR, help="Output folder (created if missing).")
    @click.option("--process", "processes", multiple=True,
                  help="Process (repeatable); default B+->K+ and B0->K*0.")
    def plot_spectra_cmd(outdir: str, processes: tuple[str, ...]) -> None:
        """Normalised q^2 spectra of the scenarios side by side (and F_L(q^2) for K*)."""
        from emiss.cli._common import output_dir
        from emiss.physics.processes import get_process
        from emiss.plotting.spectra import plot_spectra

        procs = processes or ("B+->K+", "B0->K*0")
        for proc in procs:  # every name before the first figure
            get_process(proc)
        output_dir(outdir)
        for proc in procs:
            for path in plot_spectra(proc, outdir):
                click.echo(str(path))
