"""Valid ranges of the numeric inputs, declared once and checked at the door of every entry.

Each named :class:`Range` states what a number means, its bounds (open or closed), whether it
is an integer and, for a maximum that guards memory or time, why that maximum. The command
line uses them as click parameter types (``emiss.cli._args``), the Python API calls
``RANGE.check(value, name)`` at the top of its entry points, so a bad value is one
``EmissError`` line naming the value and what is valid, raised before any work is done and
before any output (or journal) exists.

The work budgets (``MAX_*``) bound what one call may ask for: above them the answer is a refusal
with the size and how to split the work, never minutes of computing or an out-of-memory kill.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from emiss.errors import EmissError

#: Largest form-factor draws of ``emiss rate`` (``--samples``). The draws are streamed in
#: chunks (memory stays flat, about 135 MB measured for 2e4 to 1e6 draws); each costs 50 to
#: 300 us (three-body K* the most), so 1e5 take at most about 30 s, and the 1 sigma they
#: estimate is then known to 0.2 % (relative error 1/sqrt(2 n)).
MAX_RATE_SAMPLES = 100_000
#: Largest form-factor draws per hypothesis of a patchset (``--ff-samples``): every draw is a
#: folded template per hypothesis; 1e4 draws fix the principal components far below the
#: statistical precision of any workspace, more only cost memory and time.
MAX_FF_SAMPLES = 10_000
#: Largest number of hypotheses (patches) one patchset command or grid entry may build.
MAX_HYPOTHESES = 10_000
#: Largest estimated size of the PatchSet JSON one command writes (bytes).
MAX_PATCHSET_BYTES = 2 * 1024**3
#: Largest toys per distribution (``--ntoys``, ``--global-toys``).
MAX_TOYS = 1_000_000
#: Largest number of local worker processes (each holds the workspace and its model).
MAX_JOBS = 1024
#: Largest scan chunk (hypotheses that warm-start each other).
MAX_CHUNK_SIZE = 100_000
#: Largest posterior draws / tuning draws per chain, and chains.
MAX_DRAWS = 100_000
MAX_CHAINS = 64
#: Largest memory the chains of one posterior may hold (chains x draws x parameters x 8 B).
MAX_CHAIN_BYTES = 2 * 1024**3
#: Largest luminosity of a projection (ab^-1): Belle II's goal is 50 ab^-1; far above it the
#: scaled yields leave the range in which the fits converge.
MAX_LUMI_AB = 10_000.0
#: Largest number of (luminosity, scenario, mass) points of one projection (each is several
#: fits of the K, K* and K + K* models).
MAX_PROJECTION_POINTS = 2_000
#: Perturbative bound on the U(1)' couplings g̃q', g̃q'_X and on Y_T^t (4 pi): beyond it the
#: model's tree-level and one-loop formulas do not apply (and overflow for absurd values).
PERTURBATIVE_MAX = 4.0 * math.pi
#: Seeds are 32-bit unsigned integers (numpy's legacy and SeedSequence share this range).
SEED_MAX = 2**32 - 1


def _fmt(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class Range:
    """A named valid range of one numeric input.

    Attributes:
        what: what the number is, in words (``"confidence level"``).
        low: lower bound (None: none).
        high: upper bound (None: none).
        low_open: the lower bound itself is invalid.
        high_open: the upper bound itself is invalid.
        integer: only integers are valid.
        also: single values valid outside [low, high] (e.g. 0 draws: no systematics).
        example: a typical valid value, quoted in the message.
        reason: why the bounds are what they are (quoted when a value is rejected).
    """

    what: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    also: tuple[float, ...] = ()
    example: str = ""
    reason: str = ""

    def describe(self) -> str:
        """The valid values in words, e.g. ``0 < x < 1`` or ``an integer 1 <= n <= 1024``."""
        var = "n" if self.integer else "x"
        if self.low is not None and self.high is not None:
            text = (f"{_fmt(self.low)} {'<' if self.low_open else '<='} {var} "
                    f"{'<' if self.high_open else '<='} {_fmt(self.high)}")
        elif self.low is not None:
            text = f"{var} {'>' if self.low_open else '>='} {_fmt(self.low)}"
        elif self.high is not None:
            text = f"{var} {'<' if self.high_open else '<='} {_fmt(self.high)}"
        else:
            text = f"any finite {var}"
        kind = "an integer" if self.integer else "a finite number"
        alt = "".join(f"{_fmt(a)} or " for a in self.also)
        out = f"{alt}{kind} {text} ({self.what}"
        out += f", e.g. {self.example})" if self.example else ")"
        return out

    def accepts(self, x: float) -> bool:
        """Whether the number x lies in the range (no conversion)."""
        if x in self.also:
            return True
        if not math.isfinite(x):
            return False
        if self.integer and not float(x).is_integer():
            return False
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        return not (self.high is not None
                    and (x > self.high or (self.high_open and x == self.high)))

    def _fail(self, name: str, shown: str, problem: str) -> EmissError:
        why = f"; {self.reason}" if self.reason and problem.startswith("above") else ""
        return EmissError(f"{name} {shown}: {problem}; valid: {self.describe()}{why}")

    def check(self, value: Any, name: str) -> Any:
        """The value as a number (int for integer ranges) if it is valid.

        Args:
            value: a number or its text (``"0.95"``, ``"1e5"``).
            name: how the message names it (``"--cl"``, ``"cl"``).

        Returns:
            The value as int (integer ranges) or float.

        Raises:
            EmissError: one line naming the value, what is wrong and what is valid.
        """
        shown = repr(value) if isinstance(value, str) and not value.strip() else str(value)
        if isinstance(value, bool) or value is None:
            raise self._fail(name, shown, "not a number")
        if isinstance(value, str):
            try:
                x = float(value.strip().replace("_", ""))
            except ValueError:
                raise self._fail(name, repr(value), "not a number") from None
        elif isinstance(value, numbers.Real):
            try:
                x = float(value)
            except OverflowError:  # a Python int beyond float range
                raise self._fail(name, shown, "above the maximum") from None
        else:
            raise self._fail(name, repr(value), "not a number")
        if math.isnan(x):
            raise self._fail(name, shown, "not a number (NaN)")
        if x in self.also:  # e.g. 0 draws, an infinite decay length
            return int(x) if self.integer else x
        if math.isinf(x):
            problem = ("above the maximum" if x > 0 and self.high is not None
                       else "not finite")
            raise self._fail(name, shown, problem)
        if self.integer and not x.is_integer():
            raise self._fail(name, shown, "not an integer")
        if not self.accepts(x):
            above = self.high is not None and (x > self.high
                                               or (self.high_open and x == self.high))
            raise self._fail(name, shown, "above the maximum" if above else "out of range")
        if self.integer:
            return int(value) if isinstance(value, numbers.Integral) else int(x)
        return x

    def check_all(self, values: Iterable[Any], name: str) -> list:
        """``check`` of every value (the first bad one is reported)."""
        return [self.check(v, name) for v in values]


# ------------------------------------------------------------------------ statistics
#: Confidence level of upper limits: open interval (0, 1).
CL = Range("confidence level", 0.0, 1.0, low_open=True, high_open=True, example="0.95")
#: Local worker processes.
JOBS = Range("worker processes", 1, MAX_JOBS, integer=True, example="2",
             reason="more workers than cores only add memory")
#: Seeds of random draws (form factors, toys, samplers).
SEED = Range("seed of the random draws", 0, SEED_MAX, integer=True, example="0")
#: Hypotheses per scan chunk.
CHUNK_SIZE = Range("hypotheses per chunk", 1, MAX_CHUNK_SIZE, integer=True, example="8")
#: Toys per distribution of a toy-based scan.
NTOYS = Range("toys per distribution", 1, MAX_TOYS, integer=True, example="2000",
              reason="1e6 toys already resolve p-values of 1e-6 and take hours")
#: Background-only toys of the global significance (0: Gross-Vitells only).
GLOBAL_TOYS = Range("background-only toys", 0, MAX_TOYS, integer=True, example="2000",
                    reason="each toy is refitted over the whole mass grid")
#: Draws per chain of a posterior sampler (NUTS draws, emcee steps).
DRAWS = Range("draws per chain", 10, MAX_DRAWS, integer=True, example="1000",
              reason="the chains are held in memory; thin or run several seeds instead")
#: Draws per chain of the WET posterior (4 chains).
WET_DRAWS = Range("draws per chain", 50, MAX_DRAWS, integer=True, example="1000",
                  reason="the chains are held in memory")
#: Tuning (burn-in) draws per chain.
TUNE = Range("tuning draws per chain", 0, MAX_DRAWS, integer=True, example="500",
             reason="the chains are held in memory")
#: Sampler chains.
CHAINS = Range("chains", 1, MAX_CHAINS, integer=True, example="4")
#: Upper end of the flat prior in B.
BR_MAX = Range("upper end of the flat prior in B", 0.0, 1.0, low_open=True, example="1e-4")
#: Fraction of the best point's Laplace weight below which a grid point is not sampled.
MIN_WEIGHT = Range("fraction of the best point's weight", 0.0, 1.0, high_open=True,
                   example="1e-4")
#: Gross-Vitells reference level c0 of q0.
GV_LEVEL = Range("reference level c0 of q0", 0.0, 100.0, low_open=True, example="1")

#: Hypotheses per PatchSet in the template and spectrum tables of a publication.
TABLE_HYPOTHESES = Range("hypotheses per PatchSet in the tables", 1, 50, integer=True,
                         example="5", reason="each one adds HEPData tables of every bin")

# ------------------------------------------------------------------------ physics
#: Form-factor draws of ``emiss rate`` (the 1 sigma needs two).
RATE_SAMPLES = Range("form-factor draws", 2, MAX_RATE_SAMPLES, integer=True, example="200",
                     reason=f"{MAX_RATE_SAMPLES} draws take up to 30 s and fix the 1 sigma "
                            "to 0.2 %")
#: Form-factor draws per hypothesis of patches, projections and the WET fit (0: none).
FF_SAMPLES = Range("form-factor draws per hypothesis", 2, MAX_FF_SAMPLES, integer=True,
                   also=(0.0,), example="100",
                   reason="every draw is one folded template per hypothesis; more than "
                          f"{MAX_FF_SAMPLES} only cost memory and time")
#: Masses of invisible particles and mediators (GeV).
MASS = Range("mass in GeV", 0.0, example="2.1")
#: Couplings and scenario parameters (any sign; the rate they give must be finite).
PARAM = Range("parameter value", example="0.5")
#: Proper decay length c tau of a two-body X in m (inf: stable, i.e. invisible).
CTAU = Range("proper decay length in m", 0.0, low_open=True, also=(math.inf,), example="0.1")
#: Luminosities of projections (ab^-1).
LUMI = Range("luminosity in ab^-1", 0.0, MAX_LUMI_AB, low_open=True, example="50",
             reason="Belle II's goal is 50 ab^-1; far above it the scaled yields leave the "
                    "range in which the fits converge")
#: Branching ratios (a probability).
BRANCHING_RATIO = Range("branching ratio", 0.0, 1.0, low_open=True, example="1e-5")
#: Positive scales (GeV, m, ratios): finite and > 0.
POSITIVE = Range("positive number", 0.0, low_open=True, example="1")
#: Non-negative finite numbers.
NON_NEGATIVE = Range("non-negative number", 0.0, example="0")
#: Couplings of the U(1)' model (g̃q', g̃q'_X, Y_T^t): perturbative.
PERTURBATIVE = Range("perturbative coupling", 0.0, PERTURBATIVE_MAX, example="1e-6",
                     reason="beyond 4 pi the model's perturbative formulas do not apply")
#: Masses and scales of UV models (GeV): positive and below the Planck scale.
UV_SCALE = Range("scale in GeV", 0.0, 1.3e19, low_open=True, example="1e4",
                 reason="above the Planck scale (1.2e19 GeV) the model does not apply")


def check_hypotheses(n: int, what: str, how_to_split: str,
                     limit: int = MAX_HYPOTHESES) -> None:
    """Refuse more than ``limit`` hypotheses in one call (before any is built).

    Args:
        n: the number of hypotheses asked for.
        what: what holds them (``"grid entry 'twobody_scalar'"``).
        how_to_split: how to ask for them in several calls.
        limit: the budget.

    Raises:
        EmissError: naming the size, the budget and how to split.
    """
    if n > limit:
        raise EmissError(f"{what} has {n} hypotheses; at most {limit} are built in one call "
                         f"(work and memory grow with each): {how_to_split}")


# ------------------------------------------------------------------------ NAME=VALUE options
def split_assignment(text: str, what: str = "--param", example: str = "--param g=0.5"
                     ) -> tuple[str, str]:
    """Name and value text of one ``NAME=VALUE`` option: the one parser of such options.

    Args:
        text: e.g. ``"g=0.5"`` or, for a grid, ``"C_L=-16:4:2"``.
        what: how messages name the option.
        example: a valid option, shown when text is not one.

    Returns:
        (name without surrounding blanks, value text as given).

    Raises:
        EmissError: no ``=`` or an empty name.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise EmissError(f"bad {what} {text!r}; expected NAME=VALUE, e.g. {example}")
    return name, value


def parse_params(items: Iterable[str], what: str = "--param") -> dict[str, float]:
    """Scenario parameters from repeated ``NAME=VALUE`` options, each value a ``PARAM``.

    Args:
        items: the option strings.
        what: how messages name the option.

    Returns:
        name -> value.

    Raises:
        EmissError: a malformed option, a name given twice, a value that is not a finite number.
    """
    out: dict[str, float] = {}
    for item in items:
        name, value = split_assignment(item, what)
        if name in out:
            raise EmissError(f"{what} {name!r} given twice")
        out[name] = PARAM.check(value, f"{what} {name}")
    return out
