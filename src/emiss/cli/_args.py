"""Click parameter types for numbers with a declared valid range (``emiss.validate``).

``Number(RANGE)`` converts an option's text and checks it against the range while click parses
the command line, i.e. before the command runs: a bad value is one line ``emiss: error: --cl
1.5: out of range; valid: ...`` (exit 2) and nothing is computed or written.
"""

from __future__ import annotations

from typing import Any

import click

from emiss import validate
from emiss.validate import Range


def option_name(param: click.Parameter | None) -> str:
    """How messages name a parameter: its longest ``--option`` (or the argument's name)."""
    if param is None:
        return "value"
    longs = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    if longs:
        return max(longs, key=len)
    if param.opts:
        return param.opts[0]
    return (param.name or "value").upper()


class Number(click.ParamType):
    """A number checked against a ``validate.Range`` while the command line is parsed."""

    def __init__(self, rng: Range) -> None:
        self.rng = rng
        self.name = "integer" if rng.integer else "float"

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:  # click 8.1 / 8.2 signatures
        return "INTEGER" if self.rng.integer else "FLOAT"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | float:
        """The checked number; ``EmissError`` (one line, exit 2) when it is invalid."""
        return self.rng.check(value, option_name(param))


CL = Number(validate.CL)
JOBS = Number(validate.JOBS)
SEED = Number(validate.SEED)
CHUNK_SIZE = Number(validate.CHUNK_SIZE)
NTOYS = Number(validate.NTOYS)
GLOBAL_TOYS = Number(validate.GLOBAL_TOYS)
DRAWS = Number(validate.DRAWS)
WET_DRAWS = Number(validate.WET_DRAWS)
TUNE = Number(validate.TUNE)
CHAINS = Number(validate.CHAINS)
BR_MAX = Number(validate.BR_MAX)
MIN_WEIGHT = Number(validate.MIN_WEIGHT)
GV_LEVEL = Number(validate.GV_LEVEL)
TABLE_HYPOTHESES = Number(validate.TABLE_HYPOTHESES)
RATE_SAMPLES = Number(validate.RATE_SAMPLES)
FF_SAMPLES = Number(validate.FF_SAMPLES)
MASS = Number(validate.MASS)
CTAU = Number(validate.CTAU)
BRANCHING_RATIO = Number(validate.BRANCHING_RATIO)
POSITIVE = Number(validate.POSITIVE)
PERTURBATIVE = Number(validate.PERTURBATIVE)
UV_SCALE = Number(validate.UV_SCALE)
