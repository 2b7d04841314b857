"""A hypothesis the user brings: a tabulated (or callable) dB/dq^2 of one process.

A user spectrum is a continuum dB/dq^2 in GeV^-2 over q^2 in GeV^2 (a dark photon through a
dipole coupling, an ALP spectrum from another code, a model with interference): a table of
(q^2, dB/dq^2) and, for a B -> K* process, the longitudinal part dB_L/dq^2 (for the K*
helicity response; F_L = dB_L / dB), or a Python callable. Between the tabulated points it is
interpolated with a shape-preserving piecewise-cubic Hermite interpolant (PCHIP, Fritsch &
Carlson, SIAM J. Numer. Anal. 17 (1980) 238), which keeps a non-negative table non-negative.

It becomes a scenario (``user_scenario``) that every stage takes like a built-in light-X
hypothesis (multiplicity 3: a continuum added to the SM nu nubar, which stays at its
prediction): mu = 1 stands for the light-X reference branching ratio, and the patch records
the table's own branching ratio and sha256. The rate does not depend on form factors (the
user's table is what it is), so its patches carry no form-factor variation of their own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emiss.errors import EmissError
from emiss.physics.processes import get_process
from emiss.physics.spectrum import Spectrum

#: Name prefix of user scenarios (the sha256 of the table follows).
PREFIX = "user"


@dataclass(frozen=True)
class UserSpectrum:
    """A tabulated dB/dq^2 of one process.

    Attributes:
        process: the process (e.g. "B+->K+").
        q2: tabulation points in GeV^2, strictly increasing, within [0, q2_max].
        rate: dB/dq^2 at q2, GeV^-2, finite and >= 0.
        rate_long: dB_L/dq^2 (B -> K* only), 0 <= rate_long <= rate, or None.
        label: what the spectrum is (a file name, a model name).
        sha256: sha256 of the table's bytes (files) or of its numbers (callables, arrays).
    """

    process: str
    q2: np.ndarray
    rate: np.ndarray
    rate_long: np.ndarray | None
    label: str
    sha256: str

    def __post_init__(self) -> None:
        _check(self.process, self.q2, self.rate, self.rate_long, self.label)

    @property
    def name(self) -> str:
        """Scenario name: ``user-<first 12 hex digits of sha256>``."""
        return f"{PREFIX}-{self.sha256[:12]}"

    def spectrum(self) -> Spectrum:
        """The Spectrum (PCHIP interpolation, zero outside the tabulated range).

        Returns:
            Spectrum with ``continuum`` (and ``continuum_long`` for K*).
        """
        from scipy.interpolate import PchipInterpolator

        q2, lo, hi = self.q2, float(self.q2[0]), float(self.q2[-1])

        def on(fn: PchipInterpolator) -> Callable[[np.ndarray], np.ndarray]:
            def f(x: np.ndarray) -> np.ndarray:
                x = np.asarray(x, dtype=float)
                out = np.where((x >= lo) & (x <= hi), fn(np.clip(x, lo, hi)), 0.0)
                return np.clip(out, 0.0, None)
            return f

        long_fn = on(PchipInterpolator(q2, self.rate_long)) \
            if self.rate_long is not None else None
        return Spectrum(self.process, lo, hi, continuum=on(PchipInterpolator(q2, self.rate)),
                        continuum_long=long_fn, label=self.label,
                        meta={"user_spectrum": self.record()})

    def branching_ratio(self) -> float:
        """The table's own branching ratio (integral of the interpolated dB/dq^2)."""
        return float(self.spectrum().branching_ratio())

    def record(self) -> dict:
        """What a patch records of it (the ``emiss`` block's ``user_spectrum``)."""
        return {"label": self.label, "sha256": self.sha256, "process": self.process,
                "q2_range_GeV2": [float(self.q2[0]), float(self.q2[-1])],
                "points": int(self.q2.size), "polarised": self.rate_long is not None}


def _check(process: str, q2: np.ndarray, rate: np.ndarray, rate_long: np.ndarray | None,
           label: str) -> None:
    """One clear EmissError for every malformed table (names the row and what is valid)."""
    proc = get_process(process)
    what = f"user spectrum {label!r}"
    if q2.ndim != 1 or rate.shape != q2.shape or q2.size < 2:
        raise EmissError(f"{what}: needs at least two rows of (q^2, dB/dq^2); got {q2.size}")
    for i, (x, y) in enumerate(zip(q2, rate, strict=True)):
        if not math.isfinite(x) or not math.isfinite(y):
            raise EmissError(f"{what}, row {i + 1}: q^2 = {float(x)!r}, dB/dq^2 = {float(y)!r}: "
                             "both must be "
                             "finite numbers")
        if y < 0:
            raise EmissError(f"{what}, row {i + 1}: dB/dq^2 = {y:g} < 0; a rate is >= 0")
    if np.any(np.diff(q2) <= 0):
        i = int(np.argmax(np.diff(q2) <= 0)) + 1
        raise EmissError(f"{what}, row {i + 1}: q^2 = {q2[i]:g} after {q2[i - 1]:g}; q^2 must "
                         "increase strictly")
    if q2[0] < 0 or q2[-1] > proc.q2_max * (1 + 1e-9):
        raise EmissError(f"{what}: q^2 from {q2[0]:g} to {q2[-1]:g} GeV^2 leaves the physical "
                         f"range of {process}, [0, {proc.q2_max:.4g}] GeV^2 "
                         "((m_B - m_meson)^2)")
    if not np.any(rate > 0):
        raise EmissError(f"{what}: dB/dq^2 is zero everywhere; there is no signal")
    if proc.is_vector:
        if rate_long is None:
            raise EmissError(f"{what}: {process} needs the longitudinal part dB_L/dq^2 as a "
                             "third column (F_L = dB_L/dB enters the K* helicity response)")
        bad = np.flatnonzero(~np.isfinite(rate_long) | (rate_long < 0)
                             | (rate_long > rate * (1 + 1e-12)))
        if bad.size:
            i = int(bad[0])
            raise EmissError(f"{what}, row {i + 1}: dB_L/dq^2 = {float(rate_long[i])!r} must "
                             f"lie in [0, dB/dq^2 = {rate[i]:g}]")
    elif rate_long is not None:
        raise EmissError(f"{what}: {process} is not a B -> K* process; give two columns "
                         "(q^2, dB/dq^2)")


def read_table(path: str | os.PathLike, process: str) -> UserSpectrum:
    """Read a user spectrum from a text table.

    Format: comma- or whitespace-separated numbers, one row per q^2 point, lines starting with
    ``#`` ignored; columns q^2 [GeV^2], dB/dq^2 [GeV^-2] and, for B -> K*, dB_L/dq^2 [GeV^-2].

    Args:
        path: the file.
        process: the process the table describes.

    Returns:
        The UserSpectrum (label: the file name; sha256 of the file's bytes).

    Raises:
        EmissError: a missing, unreadable or malformed file (one line naming the row).
    """
    p = Path(path)
    if p.is_dir():
        raise EmissError(f"spectrum {str(p)!r} is a folder; expected a text table of q^2 and "
                         "dB/dq^2")
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise EmissError(f"spectrum file {str(p)!r} does not exist") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EmissError(f"spectrum file {str(p)!r} is not a text table") from None
    rows = []
    for n, line in enumerate(io.StringIO(text), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = next(csv.reader([line])) if "," in line else line.split()
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise EmissError(f"spectrum file {p.name}, line {n}: {line[:40]!r} is not numbers "
                             "(columns: q^2 [GeV^2], dB/dq^2 [GeV^-2][, dB_L/dq^2])") from None
        if len(rows[-1]) not in (2, 3) or len(rows[-1]) != len(rows[0]):
            raise EmissError(f"spectrum file {p.name}, line {n}: {len(rows[-1])} columns; "
                             "every row needs 2 (q^2, dB/dq^2) or, for B -> K*, 3 (+ dB_L/dq^2)")
    if not rows:
        raise EmissError(f"spectrum file {p.name} holds no rows")
    arr = np.asarray(rows, dtype=float)
    return UserSpectrum(process, arr[:, 0], arr[:, 1], arr[:, 2] if arr.shape[1] == 3 else None,
                        p.name, hashlib.sha256(raw).hexdigest())


def from_callable(fn: Callable[[np.ndarray], np.ndarray], process: str, q2_min: float,
                  q2_max: float | None = None, *, n_points: int = 2001,
                  fn_long: Callable[[np.ndarray], np.ndarray] | None = None,
                  label: str = "python callable") -> UserSpectrum:
    """A user spectrum from a Python callable q^2 -> dB/dq^2 (tabulated on a fine grid).

    Args:
        fn: vectorised dB/dq^2 in GeV^-2 of q^2 in GeV^2.
        process: the process.
        q2_min: lower end of the support (GeV^2).
        q2_max: upper end (default: the kinematic endpoint of the process).
        n_points: tabulation points (uniform in q^2).
        fn_long: dB_L/dq^2 for a B -> K* process.
        label: what the spectrum is.

    Returns:
        The UserSpectrum (sha256 of its tabulated numbers).
    """
    hi = get_process(process).q2_max if q2_max is None else float(q2_max)
    if not (math.isfinite(q2_min) and math.isfinite(hi) and 0 <= q2_min < hi):
        raise EmissError(f"user spectrum {label!r}: q^2 range [{q2_min!r}, {hi!r}] is empty or "
                         "not finite")
    q2 = np.linspace(float(q2_min), hi, int(n_points))
    rate = np.asarray(fn(q2), dtype=float).reshape(q2.shape)
    long_ = None if fn_long is None else np.asarray(fn_long(q2), dtype=float).reshape(q2.shape)
    h = hashlib.sha256(q2.tobytes() + rate.tobytes()
                       + (long_.tobytes() if long_ is not None else b""))
    return UserSpectrum(process, q2, rate, long_, label, h.hexdigest())


_RECORDS: dict[str, dict] = {}


def record_of(name: str) -> dict | None:
    """What a patch records of the user spectrum behind scenario ``name`` (None: built in)."""
    return _RECORDS.get(name)


def user_scenario(user: UserSpectrum) -> object:
    """The scenario of a user spectrum (registered, so every stage finds it by name).

    Args:
        user: the UserSpectrum.

    Returns:
        The Scenario (``emiss.physics.scenarios.Scenario``), name ``user-<sha>``.
    """
    from emiss.physics.scenarios import Scenario, register_scenario

    def build(proc, ff, m, p):  # noqa: ARG001 (the table does not depend on form factors)
        spec = user.spectrum()
        return spec.scaled(float(p["norm"])) if p["norm"] != 1.0 else spec

    scen = Scenario(
        user.name, float("nan"), 3, f"user spectrum {user.label} (sha256 {user.sha256[:12]})",
        {"norm": (1.0, "", "multiplier of the tabulated dB/dq^2")}, False, None,
        processes=(user.process,), reference=f"user table {user.label}, sha256 {user.sha256}",
        _build=build)
    register_scenario(scen)
    _RECORDS[scen.name] = user.record()
    return scen
