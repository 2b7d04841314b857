"""B -> K and B -> K* form factors with correlated uncertainties.

* B -> K (f+, f0, fT): HPQCD, Parrott, Bouchard, Davies, arXiv:2207.12468, z expansion with
  t0 = 0, N = 3 and pole factors (B_s0^* for f0, B_s^* for f+ and fT), eqs. (24)-(26) there.
  Data: ``data/ff_BK_HPQCD2022.json`` holds the HPQCD results in the reduced form EOS publishes
  (8 correlated form-factor values); they fix the 8 independent coefficients exactly, and this
  module maps values and covariance to coefficients linearly (no approximation).
* B -> K* (V, A0, A1, A12, T1, T2, T23; A2, A3 derived): BSZ parameterisation of Bharucha, Straub,
  Zwicky, arXiv:1503.05534. Default set "GKvD2018": combined LCSR + lattice fit of Gubernari,
  Kokulu, van Dyk, arXiv:1811.00983 (the set EOS uses), ``data/ff_BKstar_GKvD2018.json``;
  alternative "BSZ2015": the combined fit of 1503.05534 itself, ``data/ff_BKstar_BSZ2015.json``
  (select with kind "B->K*@BSZ2015"). Both ancillary files as shipped by flavio.
  a0 of A12 and T2 follow from eq. (16) of 1503.05534.

Related modes (``emiss.physics.formfactors_light`` and the BSZ class below): "B->pi" (default
GKvD2018, LCSR + lattice of arXiv:1811.00983, ``data/ff_Bpi_GKvD2018.json``; alternative
"B->pi@FLAG2019", the lattice-only FLAG BCL average, ``data/ff_Bpi_FLAG2019.json``, whose
extrapolation to low q^2 gives f+(0) = 0.13 +- 0.09), "K->pi" (dispersive, FLAG 2021 f+(0),
``data/ff_Kpi_FLAG2021.json``), "B->rho" (BSZ 2015 LCSR, ``data/ff_Brho_BSZ2015.json``) and
"Bs->phi" (BSZ 2015 LCSR + lattice, ``data/ff_Bsphi_BSZ2015.json``), both from the ancillary files
of arXiv:1503.05534 as shipped by flavio.

API: ``central(kind)``, ``sample(kind, n, seed)``, ``parameters(kind)``, ``from_values(kind, x)``;
``kind`` is "B->K" or "B->K*" (default sets) or "<kind>@<set>" (see FF_SETS).
Objects are vectorised in q^2 (GeV^2).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from emiss.errors import EmissError
from emiss.io import read_json
from emiss.physics import constants as C
from emiss.physics import formfactors_light as FL
from emiss.physics.kinematics import kallen

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("B->K", "B->K*", "B->pi", "B->rho", "Bs->phi", "K->pi")

#: folder with the form-factor data files
DATA_DIR = Path(__file__).resolve().parents[1] / "data"

#: available parameter sets per transition; the first one is the default for the bare kind
FF_SETS: dict[str, tuple[str, ...]] = {
    "B->K": ("HPQCD2022",),
    "B->K*": ("GKvD2018", "BSZ2015"),
    "B->pi": ("GKvD2018", "FLAG2019"),
    "B->rho": ("BSZ2015",),
    "Bs->phi": ("BSZ2015",),
    "K->pi": ("FLAG2021",),
}
_FILES = {
    "B->K@HPQCD2022": "ff_BK_HPQCD2022.json",
    "B->K*@GKvD2018": "ff_BKstar_GKvD2018.json",
    "B->K*@BSZ2015": "ff_BKstar_BSZ2015.json",
    "B->pi@FLAG2019": "ff_Bpi_FLAG2019.json",
    "B->pi@GKvD2018": "ff_Bpi_GKvD2018.json",
    "B->rho@BSZ2015": "ff_Brho_BSZ2015.json",
    "Bs->phi@BSZ2015": "ff_Bsphi_BSZ2015.json",
    "K->pi@FLAG2021": "ff_Kpi_FLAG2021.json",
}
#: parent and vector-meson masses used in z and in eq. (16) of 1503.05534, per BSZ transition
_VECTOR_MASSES = {"B->K*": ("B0", "K*0"), "B->rho": ("B0", "rho0"), "Bs->phi": ("Bs", "phi")}

#: number of z-expansion coefficients per form factor in both parameterisations
_N = 3


def resolve_kind(kind: str) -> str:
    """Normalise a kind to "<transition>@<set>" ("B->K*" -> "B->K*@GKvD2018").

    Args:
        kind: "B->K", "B->K*", or an explicit "B->K*@BSZ2015"-style name.

    Returns:
        The explicit kind.
    """
    if not isinstance(kind, str):
        raise EmissError(f"form-factor kind must be a string, got {kind!r}")
    if kind in FF_SETS:
        return f"{kind}@{FF_SETS[kind][0]}"
    if kind in _FILES:
        return kind
    valid = list(FF_SETS) + list(_FILES)
    raise EmissError(f"unknown form-factor kind {kind!r}; valid: {', '.join(valid)}")


def _check_kind(kind: str) -> None:
    resolve_kind(kind)


@cache
def _raw(kind: str) -> dict:
    return read_json(DATA_DIR / _FILES[resolve_kind(kind)])


@dataclass(frozen=True)
class ParameterSet:
    """A multivariate Gaussian over form-factor coefficients.

    Attributes:
        kind: "B->K" or "B->K*".
        names: coefficient names.
        means: central values, shape (P,).
        covariance: covariance matrix, shape (P, P).
        source: citation string.
    """

    kind: str
    names: tuple[str, ...]
    means: np.ndarray
    covariance: np.ndarray
    source: str

    @property
    def uncertainties(self) -> np.ndarray:
        """1-sigma uncertainties (square roots of the diagonal)."""
        return np.sqrt(np.diag(self.covariance))


# ====================================================================== B -> K (HPQCD 2022)
class BKFormFactors:
    """B -> K form factors f+, f0, fT of HPQCD arXiv:2207.12468 (eqs. (24)-(26)).

    f0(q2) = 1/(1 - q2/M_Bs0^2) sum_n a0_n z^n,
    f+(q2) = 1/(1 - q2/M_Bs*^2) sum_n a+_n [z^n - (n/N)(-1)^(n-N) z^N], fT likewise with aT_n,
    z(q2) = (sqrt(t+ - q2) - sqrt(t+))/(sqrt(t+ - q2) + sqrt(t+)), t+ = (M_B + M_K)^2, t0 = 0.
    The chiral-log factor L of the paper is absorbed into the coefficients.
    """

    def __init__(self, a0: np.ndarray, ap: np.ndarray, aT: np.ndarray, masses: dict) -> None:
        """Args:
        a0, ap, aT: the N = 3 coefficients of f0, f+, fT.
        masses: dict with M_B, M_K, M_Bs_star, M_Bs0 (GeV).
        """
        self.a0 = np.asarray(a0, dtype=float)
        self.ap = np.asarray(ap, dtype=float)
        self.aT = np.asarray(aT, dtype=float)
        self.m_B = float(masses["M_B"])
        self.m_K = float(masses["M_K"])
        self.m_pole_plus = float(masses["M_Bs_star"])
        self.m_pole_0 = float(masses["M_Bs0"])
        self.t_plus = (self.m_B + self.m_K) ** 2

    def z(self, q2):
        """Conformal variable with t0 = 0."""
        return FL.conformal_z(q2, self.t_plus, 0.0)

    @staticmethod
    def _basis_0(z):
        return np.stack([z**n for n in range(_N)], axis=-1)

    @staticmethod
    def _basis_pT(z):
        return np.stack([z**n - (n / _N) * (-1.0) ** (n - _N) * z**_N for n in range(_N)], axis=-1)

    def f0(self, q2):
        """Scalar form factor f0(q2)."""
        q2 = np.asarray(q2, dtype=float)
        return self._basis_0(self.z(q2)) @ self.a0 / (1.0 - q2 / self.m_pole_0**2)

    def fplus(self, q2):
        """Vector form factor f+(q2)."""
        q2 = np.asarray(q2, dtype=float)
        return self._basis_pT(self.z(q2)) @ self.ap / (1.0 - q2 / self.m_pole_plus**2)

    def fT(self, q2):
        """Tensor form factor fT(q2) (HPQCD normalisation, scale 4.8 GeV per 2207.12468)."""
        q2 = np.asarray(q2, dtype=float)
        return self._basis_pT(self.z(q2)) @ self.aT / (1.0 - q2 / self.m_pole_plus**2)


_BK_NAMES: tuple[str, ...] = ("a0_0", "a0_1", "a0_2", "ap_1", "ap_2", "aT_0", "aT_1", "aT_2")


def _bk_design(raw: dict) -> np.ndarray:
    """Linear map coefficients -> the published form-factor values (rows follow raw['names'])."""
    proto = BKFormFactors(np.zeros(3), np.zeros(3), np.zeros(3), raw["masses_GeV"])
    rows = []
    for name in raw["names"]:
        ff, q2s = name.split("@")
        q2 = float(q2s)
        z = proto.z(q2)
        row = np.zeros(len(_BK_NAMES))
        if ff == "f0":
            b = proto._basis_0(z) / (1.0 - q2 / proto.m_pole_0**2)
            row[0:3] = b
        elif ff == "fplus":
            b = proto._basis_pT(z) / (1.0 - q2 / proto.m_pole_plus**2)
            row[0] = b[0]  # a+_0 = a0_0 (f+(0) = f0(0) with t0 = 0)
            row[3:5] = b[1:]
        elif ff == "fT":
            b = proto._basis_pT(z) / (1.0 - q2 / proto.m_pole_plus**2)
            row[5:8] = b
        else:  # pragma: no cover - data file is fixed
            raise EmissError(f"unexpected entry {name!r} in B->K form-factor data")
        rows.append(row)
    return np.array(rows)


def _bk_from_values(x: np.ndarray, raw: dict) -> BKFormFactors:
    x = np.asarray(x, dtype=float)
    return BKFormFactors(
        a0=x[0:3], ap=np.array([x[0], x[3], x[4]]), aT=x[5:8], masses=raw["masses_GeV"]
    )


# ====================================================================== B -> K* (BSZ 2015)
_KSTAR_FFS = ("A0", "A1", "A12", "V", "T1", "T2", "T23")
_KSTAR_DEPENDENT = ("A12_a0", "T2_a0")


class BKstarFormFactors:
    """B -> K* form factors in the BSZ parameterisation (arXiv:1503.05534 eqs. (10)-(12)).

    F_i(q2) = 1/(1 - q2/m_R,i^2) sum_k a_k^i [z(q2) - z(0)]^k, t+ = (m_B + m_V)^2,
    t0 = t+ (1 - sqrt(1 - t-/t+)). A2 follows from A12 (eq. (4) there):
    16 m_B m_V^2 (m_B + m_V) A12 = (m_B + m_V)^2 (m_B^2 - m_V^2 - q2) A1 - lambda A2.
    (shared/reference/physics.md drops the factor (m_B + m_V) on the left; it is needed for the
    dimensions to match and for eq. (16), A12(0) = (m_B^2 - m_V^2)/(8 m_B m_V) A0(0), to follow
    from A0(0) = A3(0).)
    """

    def __init__(self, coeffs: dict, m_B: float, m_V: float, m_res: dict) -> None:
        """Args:
        coeffs: form-factor name -> array of 3 coefficients (a0 of A12 and T2 included).
        m_B, m_V: B and K* masses (GeV) used in z and in the A2 relation.
        m_res: form-factor name -> resonance (pole) mass in GeV.
        """
        self.coeffs = {k: np.asarray(v, dtype=float) for k, v in coeffs.items()}
        self.m_B = float(m_B)
        self.m_V = float(m_V)
        self.m_res = {k: float(v) for k, v in m_res.items() if not k.startswith("_")}
        self.t_plus = (self.m_B + self.m_V) ** 2
        t_minus = (self.m_B - self.m_V) ** 2
        self.t0 = self.t_plus * (1.0 - np.sqrt(1.0 - t_minus / self.t_plus))
        self._z0 = float(self.z(0.0))

    def z(self, q2):
        """Conformal variable z(q2) with the BSZ t0."""
        return FL.conformal_z(q2, self.t_plus, self.t0)

    def _ff(self, name: str, q2: ArrayLike) -> np.ndarray:
        q2 = np.asarray(q2, dtype=float)
        dz = self.z(q2) - self._z0
        a = self.coeffs[name]
        series = a[0] + a[1] * dz + a[2] * dz**2
        return series / (1.0 - q2 / self.m_res[name] ** 2)

    def V(self, q2):
        """Vector form factor V."""
        return self._ff("V", q2)

    def A0(self, q2):
        """Axial form factor A0 (timelike)."""
        return self._ff("A0", q2)

    def A1(self, q2):
        """Axial form factor A1."""
        return self._ff("A1", q2)

    def A12(self, q2):
        """Axial combination A12 (longitudinal helicity)."""
        return self._ff("A12", q2)

    def A2(self, q2):
        """A2 from A1 and A12 (arXiv:1503.05534 eq. (4)); ill-conditioned as lambda -> 0."""
        q2 = np.asarray(q2, dtype=float)
        mB, mV = self.m_B, self.m_V
        lam = kallen(mB**2, mV**2, q2)
        num = (mB + mV) ** 2 * (mB**2 - mV**2 - q2) * self.A1(q2) - 16.0 * mB * mV**2 * (
            mB + mV
        ) * self.A12(q2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / lam

    def A3(self, q2):
        """A3 = [(m_B + m_V) A1 - (m_B - m_V) A2] / (2 m_V) (arXiv:1503.05534 eq. (5))."""
        mB, mV = self.m_B, self.m_V
        return ((mB + mV) * self.A1(q2) - (mB - mV) * self.A2(q2)) / (2.0 * mV)

    def T1(self, q2):
        """Tensor form factor T1."""
        return self._ff("T1", q2)

    def T2(self, q2):
        """Tensor form factor T2."""
        return self._ff("T2", q2)

    def T23(self, q2):
        """Tensor combination T23."""
        return self._ff("T23", q2)


class PseudoscalarFormFactors(Protocol):
    """Form factors of a pseudoscalar final state (B -> K, B -> pi, K -> pi): f_+ and f_0.

    B -> K adds f_T (``BKFormFactors.fT``), which the tensor current checks for.
    """

    def fplus(self, q2: ArrayLike) -> np.ndarray:
        """Vector form factor f_+(q^2)."""
        ...

    def f0(self, q2: ArrayLike) -> np.ndarray:
        """Scalar form factor f_0(q^2)."""
        ...


#: A form-factor object of any kind (``central``, ``from_values``, ``sample``): pseudoscalar
#: final states carry f_+ and f_0, vector ones (K*, rho, phi) are ``BKstarFormFactors``. Which
#: one a process takes follows from ``Process.is_vector``.
FormFactors = PseudoscalarFormFactors | BKstarFormFactors


def _kstar_masses(kind: str = "B->K*") -> tuple[float, float]:
    # Form factors are isospin-symmetric; z and the eq. (16) relation use m_B0 and m_K*0 (PDG)
    # for B -> K*, m_B0 and m_rho0 for B -> rho, m_Bs and m_phi for Bs -> phi (as flavio).
    parent, meson = _VECTOR_MASSES[kind.split("@")[0]]
    return C.mass(parent), C.mass(meson)


def _kstar_full_vector(x: np.ndarray, names: tuple[str, ...], kind: str = "B->K*") -> dict:
    """Independent coefficient vector -> all 21 coefficients (eq. (16) of 1503.05534)."""
    m_B, m_V = _kstar_masses(kind)
    vals = dict(zip(names, np.asarray(x, dtype=float), strict=True))
    vals["A12_a0"] = vals["A0_a0"] * (m_B**2 - m_V**2) / (8.0 * m_B * m_V)
    vals["T2_a0"] = vals["T1_a0"]
    return {ff: np.array([vals[f"{ff}_a{k}"] for k in range(_N)]) for ff in _KSTAR_FFS}


def _kstar_from_values(x: np.ndarray, raw: dict, names: tuple[str, ...],
                       kind: str = "B->K*") -> BKstarFormFactors:
    m_B, m_V = _kstar_masses(kind)
    return BKstarFormFactors(_kstar_full_vector(x, names, kind), m_B, m_V,
                             raw["resonance_masses_GeV"])


# ====================================================================== public API
@cache
def _parameters(kind: str) -> ParameterSet:
    raw = _raw(kind)
    if kind.startswith("B->K@"):
        M = _bk_design(raw)
        Minv = np.linalg.inv(M)
        v = np.asarray(raw["means"], dtype=float)
        cov_v = np.asarray(raw["covariance"], dtype=float)
        means = Minv @ v
        cov = Minv @ cov_v @ Minv.T
        names = _BK_NAMES
    elif kind.startswith("B->pi@"):
        names, means, cov = FL.bpi_parameters(raw)
    elif kind.startswith("K->pi@"):
        names, means, cov = FL.kpi_parameters(raw)
    else:
        all_names = list(raw["names"])
        keep = [i for i, n in enumerate(all_names) if n not in _KSTAR_DEPENDENT]
        means = np.asarray(raw["means"], dtype=float)[keep]
        cov = np.asarray(raw["covariance"], dtype=float)[np.ix_(keep, keep)]
        names = tuple(all_names[i] for i in keep)
    cov = 0.5 * (cov + cov.T)
    means.setflags(write=False)
    cov.setflags(write=False)
    return ParameterSet(
        kind=kind, names=tuple(names), means=means, covariance=cov, source=raw["source"]
    )


def parameters(kind: str) -> ParameterSet:
    """The independent coefficients of a form-factor set, their means and covariance.

    Args:
        kind: "B->K" (8 HPQCD coefficients) or "B->K*" (19 BSZ coefficients).

    Returns:
        ParameterSet (read-only arrays).
    """
    return _parameters(resolve_kind(kind))


def from_values(kind: str, values: ArrayLike) -> FormFactors:
    """Form-factor object for a given vector of independent coefficients (order of parameters()).

    Args:
        kind: "B->K" or "B->K*".
        values: coefficient vector.

    Returns:
        BKFormFactors, BKstarFormFactors or a form-factor class of formfactors_light.
    """
    ps = parameters(kind)
    values = np.asarray(values, dtype=float)
    if values.shape != ps.means.shape:
        raise EmissError(
            f"{kind} needs {len(ps.means)} coefficients ({', '.join(ps.names)}), got {values.shape}"
        )
    raw = _raw(kind)
    full = resolve_kind(kind)
    if full.startswith("B->K@"):
        return _bk_from_values(values, raw)
    if full.startswith("B->pi@"):
        return FL.bpi_from_values(values, raw)
    if full.startswith("K->pi@"):
        return FL.kpi_from_values(raw, values)
    return _kstar_from_values(values, raw, ps.names, full)


@cache
def central(kind: str) -> FormFactors:
    """Form factors at the central values of the fit (cached).

    Args:
        kind: "B->K" or "B->K*".

    Returns:
        Object with vectorised methods (fplus, f0, fT) or (V, A0, A1, A2, A12, T1, T2, T23).
    """
    return from_values(kind, parameters(kind).means)


def draw(kind: str, n: int, seed: int = 0) -> np.ndarray:
    """Coefficient vectors drawn from the multivariate Gaussian, shape (n, P).

    The covariance is factorised by its eigen-decomposition (tiny negative round-off eigenvalues
    of the published matrices are set to zero), so draws are deterministic for a given seed.
    """
    if int(n) < 0:
        raise EmissError(f"number of samples must be >= 0, got {n}")
    ps = parameters(kind)
    w, U = np.linalg.eigh(ps.covariance)
    L = U * np.sqrt(np.clip(w, 0.0, None))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n), len(ps.means)))
    return ps.means + z @ L.T


#: Form-factor draws held in memory at once (``emiss.physics.predict`` / ``sm`` stream the rest).
SAMPLE_CHUNK = 10_000


class RunningSpread:
    """Mean and standard deviation (ddof = 1) of a stream of chunks (NaN entries skipped).

    Chunks are merged with the pairwise update of Chan, Golub & LeVeque (1979), so memory holds
    one chunk; a single chunk gives exactly ``np.std(x, ddof=1)``.
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, values: ArrayLike) -> None:
        """Fold one chunk of values in."""
        x = np.asarray(values, dtype=float)
        x = x[~np.isnan(x)]
        if not x.size:
            return
        mean_b = float(x.mean())
        m2_b = float(((x - mean_b) ** 2).sum())
        if self.count == 0:
            self.count, self.mean, self.m2 = x.size, mean_b, m2_b
            return
        tot = self.count + x.size
        delta = mean_b - self.mean
        self.mean += delta * x.size / tot
        self.m2 += m2_b + delta * delta * self.count * x.size / tot
        self.count = tot

    def std(self) -> float:
        """Standard deviation with ddof = 1 (NaN with fewer than two values)."""
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else float("nan")


def sample_chunks(kind: str, n: int, seed: int = 0,
                  chunk: int = 10_000) -> Iterator[list[FormFactors]]:
    """The draws of ``sample(kind, n, seed)`` in consecutive lists of at most ``chunk``.

    The same generator fills the chunks one after another, so their concatenation is exactly
    ``sample(kind, n, seed)``, while memory holds one chunk at a time (``emiss rate
    --samples`` streams its draws this way).

    Args:
        kind: "B->K" or "B->K*".
        n: number of samples.
        seed: random seed.
        chunk: draws per yielded list (>= 1).

    Yields:
        Lists of form-factor objects.
    """
    if int(n) < 0 or int(chunk) < 1:
        raise EmissError(f"sample_chunks needs n >= 0 and chunk >= 1, got n={n}, chunk={chunk}")
    ps = parameters(kind)
    w, U = np.linalg.eigh(ps.covariance)
    L = U * np.sqrt(np.clip(w, 0.0, None))
    rng = np.random.default_rng(seed)
    left = int(n)
    while left > 0:
        m = min(int(chunk), left)
        z = rng.standard_normal((m, len(ps.means)))
        yield [from_values(kind, x) for x in ps.means + z @ L.T]
        left -= m


def sample(kind: str, n: int, seed: int = 0) -> list[FormFactors]:
    """n form-factor objects drawn from the correlated Gaussian of the fit.

    Args:
        kind: "B->K" or "B->K*".
        n: number of samples.
        seed: random seed (same seed, same samples).

    Returns:
        List of n form-factor objects (same type as central(kind)).
    """
    return [from_values(kind, x) for x in draw(kind, n, seed)]
