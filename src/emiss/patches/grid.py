"""Hypothesis grids: the mass/parameter grid syntax, grid files (YAML/TOML) and patch names.

Syntax of one value specification (masses or a ``--param NAME=SPEC`` value):

* ``0:4.6:0.05`` -- start:stop:step, the stop included when it lies on the grid within a
  float tolerance (1e-9 of a step);
* ``0.5,1,2.1`` -- a list; items may themselves be ranges (``0:1:0.5,2.1``);
* a single number.

A grid file holds several grid entries (one PatchSet each)::

    # YAML                                   # TOML
    patchsets:                               [[patchsets]]
      - name: twobody_scalar                 name = "twobody_scalar"
        scenario: twobody-scalar             scenario = "twobody-scalar"
        masses: "0:4.7:0.1"                  masses = "0:4.7:0.1"
      - name: heavy_np                       [[patchsets]]
        scenario: heavy-np                   name = "heavy_np"
        params: {C_L: "-16:4:2", C_R: 1}     scenario = "heavy-np"
                                             params = {C_L = "-16:4:2", C_R = 1}
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emiss.contracts import GridFile
from emiss.errors import EmissError
from emiss.validate import check_hypotheses, split_assignment

log = logging.getLogger(__name__)

#: Relative tolerance (in units of the step) for including a range's stop value.
RANGE_TOL = 1e-9
#: Largest number of points one range may expand to (guards against typos such as a 1e-6 step).
MAX_POINTS = 100_000
#: Decimals values are rounded to after range arithmetic (kills 0.30000000000000004).
VALUE_DECIMALS = 10

_NAME_RE = re.compile(r"^[a-zA-Z0-9_]+$")


def _to_float(text: str | float, what: str) -> float:
    try:
        val = float(text)
    except (TypeError, ValueError):
        raise EmissError(
            f"bad number {text!r} in {what}; expected a number, a list 'a,b,c' or a "
            "range 'start:stop:step'"
        ) from None
    if not math.isfinite(val):
        raise EmissError(f"bad number {text!r} in {what}; values must be finite")
    return val


def _parse_range(item: str, what: str) -> list[float]:
    parts = item.split(":")
    if len(parts) != 3:
        raise EmissError(
            f"bad range {item!r} in {what}; expected start:stop:step, e.g. 0:4.6:0.05"
        )
    start, stop, step = (_to_float(p.strip(), what) for p in parts)
    if step <= 0:
        raise EmissError(f"bad range {item!r} in {what}; the step must be > 0")
    if stop < start:
        raise EmissError(f"bad range {item!r} in {what}; the stop must be >= the start")
    n = int(math.floor((stop - start) / step + RANGE_TOL)) + 1
    if n > MAX_POINTS:
        raise EmissError(
            f"range {item!r} in {what} has {n} points; at most {MAX_POINTS} are allowed"
        )
    return [round(start + i * step, VALUE_DECIMALS) + 0.0 for i in range(n)]


def parse_values(spec: Any, what: str = "grid") -> list[float]:
    """Expand a value specification into a list of floats (order kept, duplicates removed).

    Args:
        spec: a string (``"0:4.6:0.05"``, ``"0.5,1,2.1"``, ``"2.1"``), a number or a list of those.
        what: what the values are (for error messages), e.g. ``"--masses"``.

    Returns:
        The values.

    Raises:
        EmissError: on malformed specifications, non-finite values or an empty result.
    """
    out: list[float] = []
    if isinstance(spec, bool):
        raise EmissError(f"bad value {spec!r} in {what}; expected numbers")
    if isinstance(spec, (int, float)):
        out = [_to_float(spec, what)]
    elif isinstance(spec, str):
        for item in spec.split(","):
            item = item.strip()
            if not item:
                raise EmissError(f"empty item in {what} {spec!r}")
            out.extend(_parse_range(item, what) if ":" in item else [_to_float(item, what)])
    elif isinstance(spec, Sequence):
        for item in spec:
            out.extend(parse_values(item, what))
    else:
        raise EmissError(f"bad value {spec!r} in {what}; expected numbers, a list or a range")
    if not out:
        raise EmissError(f"{what} is empty")
    seen: dict[float, None] = {}
    for v in out:
        seen.setdefault(v + 0.0, None)  # + 0.0 turns -0.0 into 0.0
    return list(seen)


def parse_masses(spec: Any) -> list[float]:
    """Expand a mass specification (GeV) and reject negative masses.

    Args:
        spec: see :func:`parse_values`.

    Returns:
        Masses in GeV.
    """
    masses = parse_values(spec, "--masses")
    bad = [m for m in masses if m < 0]
    if bad:
        raise EmissError(f"negative mass {bad[0]:g} GeV in --masses; masses must be >= 0")
    return masses


def parse_param(text: str) -> tuple[str, list[float]]:
    """Parse one ``NAME=SPEC`` option into the parameter name and its values.

    Args:
        text: e.g. ``"C_L=-16:4:2"`` or ``"g=1e-8"``.

    Returns:
        (name, values).
    """
    name, spec = split_assignment(text, example="C_L=-6.3")
    return name, parse_values(spec.strip(), f"--param {name}")


# --------------------------------------------------------------------------- names
def format_number(value: float, decimals: int = 2) -> str:
    """A number as an identifier fragment: ``2.1 -> '2p10'``, ``-6.5 -> 'm6p50'``.

    At least ``decimals`` decimals are written, more (up to 10) when needed to keep the value.

    Args:
        value: the number.
        decimals: minimal number of decimals.

    Returns:
        A string matching ``[a-zA-Z0-9]+``.
    """
    value = float(value) + 0.0
    if abs(value) >= 1e6 or (value != 0 and abs(value) < 1e-4):
        text = f"{value:.6e}".replace("e-", "em").replace("e+", "e")
        mant, _, exp = text.partition("e")
        mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
        text = f"{mant}e{exp}"
    else:
        d = decimals
        while d < VALUE_DECIMALS and round(value, d) != round(value, VALUE_DECIMALS):
            d += 1
        text = f"{value:.{d}f}"
    return text.replace("-", "m").replace(".", "p").replace("+", "")


def sanitize(text: str) -> str:
    """Turn a scenario or parameter name into an identifier fragment (``twobody-scalar`` ->
    ``twobody_scalar``, ``C_L`` -> ``CL`` is *not* done: underscores are kept)."""
    out = re.sub(r"[^a-zA-Z0-9_]+", "_", text).strip("_")
    return out or "x"


def _short_param(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "", name) or "p"


def hypothesis_name(
    scenario: str, mass: float | None, params: Sequence[tuple[str, float]] = ()
) -> str:
    """Readable, valid patch name, e.g. ``twobody_scalar_mX_2p10`` or
    ``heavy_np_CL_m6p00_CR_1p00``.

    Args:
        scenario: scenario name.
        mass: m_X in GeV or None.
        params: (name, value) coordinates besides the mass.

    Returns:
        A name matching ``^[a-zA-Z0-9_]+$``.
    """
    parts = [sanitize(scenario)]
    if mass is not None:
        parts.append("mX_" + format_number(mass))
    for pname, pval in params:
        parts.append(f"{_short_param(pname)}_{format_number(pval)}")
    name = "_".join(parts)
    assert _NAME_RE.match(name), name
    return name


# --------------------------------------------------------------------------- hypotheses
@dataclass(frozen=True)
class Hypothesis:
    """One point of a grid.

    Attributes:
        scenario: scenario name (``emiss.physics.scenarios``).
        mass: m_X in GeV (None for scenarios without a mass).
        params: explicitly set parameters, in label order.
        labels: PatchSet labels (``m_X`` first when there is a mass, then the parameters).
        name: patch name.
    """

    scenario: str
    mass: float | None
    params: tuple[tuple[str, float], ...] = ()
    labels: tuple[str, ...] = ()
    name: str = ""

    @property
    def values(self) -> list[float]:
        """The hypothesis coordinates, one per label."""
        vals = [] if self.mass is None else [self.mass]
        return vals + [v for _, v in self.params]

    @property
    def param_dict(self) -> dict[str, float]:
        """Parameters as a dict."""
        return dict(self.params)


@dataclass
class GridEntry:
    """One PatchSet's worth of hypotheses: a scenario, masses and parameter values.

    Attributes:
        scenario: scenario name.
        masses: m_X values in GeV, or None when the scenario has no mass.
        params: parameter name -> list of values; the grid is their Cartesian product.
        name: file stem of the PatchSet (defaults to the sanitized scenario name).
        fixed: parameters set for every hypothesis but not used as labels.
    """

    scenario: str
    masses: list[float] | None = None
    params: dict[str, list[float]] = field(default_factory=dict)
    name: str = ""
    fixed: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = sanitize(self.scenario)
        if not _NAME_RE.match(self.name):
            raise EmissError(
                f"bad grid entry name {self.name!r}; use letters, digits and underscores"
            )

    @property
    def labels(self) -> list[str]:
        """PatchSet labels: ``m_X`` (when there are masses) then the gridded parameters."""
        labels = [] if self.masses is None else ["m_X"]
        return labels + [sanitize(p) for p in self.params]

    @property
    def n_hypotheses(self) -> int:
        """Number of grid points (masses x parameter values), without expanding the grid."""
        n = 1 if self.masses is None else len(self.masses)
        for values in self.params.values():
            n *= len(values)
        return n

    def check_size(self) -> None:
        """EmissError when the grid exceeds ``emiss.validate.MAX_HYPOTHESES`` points."""
        check_hypotheses(
            self.n_hypotheses, f"grid entry {self.name!r} ({self.scenario})",
            "split it into several patchsets (e.g. --masses 0:2.3:0.01 and --masses "
            "2.31:4.6:0.01, one command each, or one grid-file entry per range) or use a "
            "coarser step")

    def hypotheses(self) -> list[Hypothesis]:
        """Expand the grid (masses outermost, then parameters in the given order).

        Returns:
            The hypotheses; names are unique.

        Raises:
            EmissError: the grid is larger than ``emiss.validate.MAX_HYPOTHESES`` points.
        """
        self.check_size()
        labels = tuple(self.labels)
        masses: Iterable[float | None] = self.masses if self.masses is not None else [None]
        pnames = list(self.params)
        out: list[Hypothesis] = []
        for mass in masses:
            for combo in itertools.product(*(self.params[p] for p in pnames)):
                params = tuple(zip(pnames, combo, strict=True))
                out.append(
                    Hypothesis(
                        scenario=self.scenario,
                        mass=mass,
                        params=params,
                        labels=labels,
                        name=hypothesis_name(self.scenario, mass, params),
                    )
                )
        names = [h.name for h in out]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise EmissError(f"grid {self.name!r} gives the patch name {dup!r} twice")
        return out


def make_entry(
    scenario: str,
    masses: Any = None,
    params: dict[str, Any] | Sequence[str] | None = None,
    name: str = "",
    fixed: dict[str, float] | None = None,
) -> GridEntry:
    """Build a :class:`GridEntry` from user-level specifications.

    Args:
        scenario: scenario name.
        masses: mass specification (see :func:`parse_masses`) or None.
        params: ``{name: spec}`` or a list of ``"NAME=SPEC"`` strings.
        name: PatchSet file stem.
        fixed: parameters set but not scanned (no label).

    Returns:
        The grid entry.
    """
    if not isinstance(scenario, str) or not scenario:
        raise EmissError(f"bad scenario {scenario!r}; give a scenario name (emiss scenarios)")
    pdict: dict[str, list[float]] = {}
    if params:
        items = (
            [parse_param(p) for p in params]
            if not isinstance(params, dict)
            else [(str(k), parse_values(v, f"param {k}")) for k, v in params.items()]
        )
        for k, v in items:
            if k in pdict:
                raise EmissError(f"parameter {k!r} given twice")
            pdict[k] = v
    fixed_f = {str(k): _to_float(v, f"fixed {k}") for k, v in (fixed or {}).items()}
    entry = GridEntry(
        scenario=scenario,
        masses=None if masses is None else parse_masses(masses),
        params=pdict,
        name=name,
        fixed=fixed_f,
    )
    entry.check_size()  # before anything is expanded or built
    return entry


def grid_from_dict(data: Any, source: str = "grid", key: str = "patchsets") -> list[GridEntry]:
    """Read grid entries from a parsed grid file (contract ``grid`` of ``emiss.contracts``).

    Args:
        data: ``{"patchsets": [ {scenario, masses?, params?, name?, fixed?}, ... ]}``.
        source: file name for messages.
        key: top-level key of the entry list (a file may hold several grids, e.g.
            ``kstar_patchsets`` for the B -> K* workspaces in src/emiss/data/standard_grid.yaml).

    Returns:
        The entries (names unique).

    Raises:
        EmissError: a file breaking the contract (one line naming the bad field and what is
            valid), no list ``key``, an empty list, duplicate names or bad values.
    """
    grid = GridFile.from_dict(data, repr(source))
    if key not in grid.lists:
        raise EmissError(f"{source}: expected a top-level {key!r} list of grid entries; the "
                         f"file has {sorted(grid.lists) or 'none'}")
    entries = [make_entry(e.scenario, e.masses, e.params or None, name=e.name,
                          fixed=e.fixed or None) for e in grid.lists[key]]
    if not entries:
        raise EmissError(f"{source}: the {key!r} list is empty")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise EmissError(f"{source}: two grid entries are named {dup!r}; names must be unique")
    return entries


#: Name of the packaged standard grid (``emiss patchset WS --grid standard``).
STANDARD_GRID = "standard"
#: Keys of the standard grid: B -> K emulation, B -> K* workspaces, Belle II's likelihood.
STANDARD_KEYS = ("patchsets", "kstar_patchsets", "belle2_patchsets")


def standard_grid_path() -> Path:
    """The packaged standard grid (src/emiss/data/standard_grid.yaml)."""
    from importlib import resources

    return Path(str(resources.files("emiss") / "data" / "standard_grid.yaml"))


def load_grid(path: str | os.PathLike, key: str = "patchsets") -> list[GridEntry]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) grid file.

    Args:
        path: the grid file, or ``"standard"`` for the packaged standard grid.
        key: top-level key of the entry list (default ``patchsets``).

    Returns:
        Its grid entries.
    """
    if str(path) == STANDARD_GRID and not Path(path).is_file():
        path = standard_grid_path()
    path = Path(path)
    if not path.is_file():
        raise EmissError(f"grid file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EmissError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    elif suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - python < 3.11
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise EmissError(f"{path}: not valid TOML ({exc})") from None
    else:
        raise EmissError(f"grid file {str(path)!r}: unknown format; use .yaml, .yml or .toml")
    return grid_from_dict(data, str(path), key=key)
