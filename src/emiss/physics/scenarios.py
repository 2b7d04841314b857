"""Scenario registry: every new-physics hypothesis by name, spin, multiplicity and operator.

Conventions (see docs/interfaces.md):

* ``multiplicity``: 1 = SM / heavy-NP rescaling of the nu nubar spectrum, 2 = two-body B -> K(*) X
  (exact line at q^2 = m_X^2), 3 = three-body B -> K(*) X X̄ (continuum from 4 m_X^2).
* ``spin`` of the invisible particle(s) (0, 0.5, 1, 1.5; 0.5 for SM neutrinos).
* ``parameters``: name -> (default, unit, description). The mass is not a parameter: it is the
  separate ``mass`` argument (``needs_mass``), defaulting to ``default_mass``.
* ``coupling``: the parameter whose square the rate is proportional to (None for sm / heavy-np).

Operators follow the chiral low-energy EFT of Bolton, Fajfer, Kamenik, Novoa-Brunet
arXiv:2503.19025 eq. (2.1) (dimensionless coupling g over powers of a scale Lambda; v/sqrt(2)
for scalar quark currents with bosons) and Kamenik & Smith arXiv:1111.6402; formulas in
``twobody`` and ``threebody``. Default masses: two-body 2.1 GeV (best fit of 2503.19025 and
2311.14629), pairs 0.6 GeV (2312.12507). Default couplings are chosen to give B(B+ -> K+ X(X̄))
of order 1e-5 at the default mass (the size of the Belle II excess, 2311.14647); they are
conveniences, not fits. SM and heavy NP: ``emiss.physics.sm`` (arXiv:1409.4557).

Chirality: c_L, c_R weight s̄ Γ P_{L,R} b. 2503.19025 writes b̄ Γ P_X s; for vector currents the
hermitian conjugate keeps the label, for scalar densities it swaps L <-> R. Rates depend only on
|c_L + c_R| (parity-even part) and |c_R - c_L| (parity-odd part), so they are unchanged.
Mass validation and "vanishing by parity" checks raise EmissError (never a silent zero).

Pairs come in every field type: complex scalars and vectors, Dirac spin-1/2 and spin-3/2
(Rarita-Schwinger) fermions, and their self-conjugate versions, named with the suffix
``-majorana`` (Majorana psi, Psi) or ``-real`` (real phi, V). Self-conjugate operators are
normalised as L = (K/2) J X X (the Feynman vertex of the Dirac/complex operator), so that
B(self-conjugate) = B(Dirac/complex)/2 (two identical particles; ``threebody``). Operators that
vanish identically for self-conjugate fields (psī gamma^mu psi, psī sigma^{mu nu} psi, Psī_nu
gamma^mu Psi^nu, phi d<->phi, V_nu d<->V^nu, sigma^{mu nu} V_mu V_nu) are not registered: their
names (``VANISHING``) give an EmissError that says why and which scenario to use instead.
Derivations and checks of the pair rates: docs/spin32.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from emiss.errors import EmissError
from emiss.physics import bs_pairs, sm, threebody, twobody, wet
from emiss.physics import constants as C
from emiss.physics import formfactors as F
from emiss.physics.processes import ALL_PROCESSES, INVISIBLE_PROCESSES, PROCESSES, get_process
from emiss.physics.spectrum import Spectrum

if TYPE_CHECKING:
    from emiss.physics.processes import Process

log = logging.getLogger(__name__)

ParamSpec = tuple[float, str, str]

_CHIRAL_Q = {
    "c_L": (1.0, "", "weight of the left-handed quark current s̄ ... P_L b"),
    "c_R": (0.0, "", "weight of the right-handed quark current s̄ ... P_R b"),
}


def _g(default: float) -> dict[str, ParamSpec]:
    return {"g": (default, "", "dimensionless coupling (rate ∝ g^2)")}


def _lam(default: float) -> dict[str, ParamSpec]:
    return {"Lambda": (default, "GeV", "new-physics scale of the operator")}


@dataclass(frozen=True)
class Scenario:
    """One new-physics hypothesis.

    Attributes:
        name: registry name.
        spin: spin of each invisible particle.
        multiplicity: 1 (SM/heavy-NP rescaling), 2 (two-body), 3 (three-body).
        operator: the operator in words/symbols.
        parameters: name -> (default, unit, description).
        needs_mass: whether the invisible mass is an input.
        coupling: parameter whose square the rate is proportional to (None for sm/heavy-np).
        processes: processes it predicts.
        default_mass: mass used when none is given (GeV), None if needs_mass is False.
        reference: source of the operator/formula.
    """

    name: str
    spin: float
    multiplicity: int
    operator: str
    parameters: dict[str, ParamSpec]
    needs_mass: bool
    coupling: str | None
    processes: tuple[str, ...] = PROCESSES
    default_mass: float | None = None
    reference: str = ""
    _build: Builder | None = field(default=None, repr=False, compare=False)

    def resolve_params(self, params: Mapping[str, float] | None = None) -> dict[str, float]:
        """Defaults overridden by params, validated.

        Args:
            params: name -> value (numbers).

        Returns:
            Full parameter dict.

        Raises:
            EmissError: unknown names, non-numeric or non-finite values, Lambda <= 0.
        """
        out = {k: float(v[0]) for k, v in self.parameters.items()}
        for key, val in (params or {}).items():
            if key not in self.parameters:
                valid = ", ".join(self.parameters) or "(none)"
                raise EmissError(f"unknown parameter {key!r} for scenario {self.name!r}; "
                                 f"valid: {valid}")
            try:
                x = float(val)
            except (TypeError, ValueError):
                raise EmissError(f"parameter {key}={val!r} is not a number") from None
            if not math.isfinite(x):
                raise EmissError(f"parameter {key}={val!r} must be finite")
            if key == "Lambda" and x <= 0:
                raise EmissError(f"parameter Lambda={x:g} must be > 0 (GeV)")
            out[key] = x
        return out

    @property
    def massless_allowed(self) -> bool:
        """Whether m_X = 0 is physical: not for spin >= 1 (rates grow as 1/m^2 or 1/m^4)."""
        return self.spin < 1

    def resolve_mass(self, mass: float | None) -> float | None:
        """The mass to use (default_mass when None); error if given to a massless scenario."""
        if not self.needs_mass:
            if mass is not None:
                raise EmissError(f"scenario {self.name!r} takes no mass (got {mass!r}); "
                                 "scenarios with a mass: "
                                 + ", ".join(s.name for s in list_scenarios() if s.needs_mass))
            return None
        return self.default_mass if mass is None else mass

    def spectrum(self, process: str, mass: float | None = None,
                 params: Mapping[str, float] | None = None,
                 ff: F.FormFactors | None = None) -> Spectrum:
        """dB/dq^2 (continuum and/or lines) of this hypothesis for one process.

        "Bs->invisible" (``emiss.physics.processes.INVISIBLE_PROCESSES``) is one exact line at
        q^2 = m_Bs^2 for every scenario: B(B_s -> X X̄) of a pair operator
        (``emiss.physics.bs_pairs``), 0 with the reason in ``meta["reason"]`` otherwise.

        Args:
            process: one of the scenario's ``processes``, or "Bs->invisible".
            mass: invisible-particle mass in GeV (default ``default_mass``).
            params: parameter overrides.
            ff: form-factor object (default: central values of the process' kind).

        Returns:
            Spectrum.

        Raises:
            EmissError: unknown process/parameter, bad mass, or a rate that vanishes by parity for
                this process with these chirality weights.
        """
        proc = get_process(process)
        if process in INVISIBLE_PROCESSES:
            return self._invisible(proc, mass, params)
        if process not in self.processes:
            raise EmissError(f"scenario {self.name!r} does not predict {process!r}; "
                             f"valid: {', '.join(self.processes)}")
        p = self.resolve_params(params)
        m = self.resolve_mass(mass)
        if self._build is None:
            raise EmissError(f"scenario {self.name!r} has no spectrum builder")
        central = ff is None
        if ff is None:
            ff = F.central(proc.ff_kind)
        try:
            spec = self._build(proc, ff, m, p)
        except (OverflowError, ZeroDivisionError) as exc:
            raise EmissError(f"scenario {self.name!r} with {_fmt(p)} gives no finite {process} "
                             f"rate ({exc}); valid: couplings and scales for which the rate "
                             "is finite (B <= 1)") from None
        if central:  # the draws vary form factors by percents: finite where the centre is
            _check_finite(self.name, process, spec, p)
        if self.coupling is not None and p.get(self.coupling, 0.0) != 0.0 and _vanishes(spec):
            raise EmissError(
                f"scenario {self.name!r} gives no {process} rate with {_fmt(p)}: B->K needs a "
                "parity-even quark current (c_L + c_R != 0) and B->K* a parity-odd one for "
                "scalars (c_R - c_L != 0)")
        spec.meta.update({"scenario": self.name, "params": p, "mass": m})
        return spec

    def _invisible(self, proc: Process, mass: float | None,
                   params: Mapping[str, float] | None) -> Spectrum:
        """The "Bs->invisible" line: the pair operator's rate, or 0 with the reason."""
        p = self.resolve_params(params)
        m = self.resolve_mass(mass)
        if isinstance(self._build, _PairBuilder) and m is not None:
            spec = self._build(proc, None, m, p)
        else:
            spec = bs_pairs.no_pair_line(self.name, self.multiplicity)
        spec.meta.update({"scenario": self.name, "params": p, "mass": m})
        return spec

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {
            "name": self.name,
            "spin": self.spin,
            "multiplicity": self.multiplicity,
            "operator": self.operator,
            "parameters": {k: {"default": v[0], "unit": v[1], "description": v[2]}
                           for k, v in self.parameters.items()},
            "needs_mass": self.needs_mass,
            "default_mass": self.default_mass,
            "coupling": self.coupling,
            "processes": list(self.processes),
            "reference": self.reference,
        }


def _fmt(p: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in p.items())


def _check_finite(name: str, process: str, spec: Spectrum, p: Mapping[str, float]) -> None:
    """EmissError when the lines or the continuum of a spectrum are not finite."""
    vals = [b for _, b in spec.lines]
    if spec.continuum is not None and spec.q2_max > spec.q2_min:
        with np.errstate(all="ignore"):
            q2 = np.linspace(spec.q2_min, spec.q2_max, 9)[1:-1]
            vals.extend(np.asarray(spec.dBdq2(q2), dtype=float).tolist())
    if not all(math.isfinite(v) for v in vals):
        raise EmissError(f"scenario {name!r} with {_fmt(p)} gives a non-finite {process} rate; "
                         "valid: couplings and scales for which the rate is finite (B <= 1)")


def _vanishes(spec: Spectrum) -> bool:
    """True when a spectrum has no rate anywhere (all lines zero and continuum zero)."""
    if any(br != 0.0 for _, br in spec.lines):
        return False
    if spec.continuum is None:
        return True
    q2 = np.linspace(spec.q2_min, spec.q2_max, 9)[1:-1]
    return bool(np.all(spec.dBdq2(q2) == 0.0))


# ------------------------------------------------------------------ builders
# A builder: (process, form factors, mass or None for massless scenarios, parameters) ->
# Spectrum; the mass is a float whenever the scenario needs one (``Scenario.resolve_mass``).
Builder = Callable[..., Spectrum]


def _sm(proc: Process, ff: F.FormFactors, m: float | None, p: dict[str, float]) -> Spectrum:
    return sm.sm_spectrum(proc.name, ff)


def _wet(proc: Process, ff: F.FormFactors, m: float | None, p: dict[str, float]) -> Spectrum:
    return wet.wet_spectrum(proc.name, p, ff)


def _heavy(proc: Process, ff: F.FormFactors, m: float | None, p: dict[str, float]) -> Spectrum:
    return sm.heavy_np_spectrum(proc.name, p["C_L"], p["C_R"], ff)


def _ts(coupling: str) -> Builder:
    def build(proc: Process, ff: F.FormFactors, m: float, p: dict[str, float]) -> Spectrum:
        return twobody.scalar_line(proc, ff, m, p["g"], p["Lambda"], p["c_L"], p["c_R"], coupling)
    return build


def _tv(proc: Process, ff: F.FormFactors, m: float, p: dict[str, float]) -> Spectrum:
    return twobody.vector_line(proc, ff, m, p["g"], p["c_L"], p["c_R"])


@dataclass(frozen=True)
class _PairBuilder:
    """Builder of a pair operator: B -> M X X̄ (``threebody``) and B_s -> X X̄ (``bs_pairs``)."""

    kind: str
    d_L: float | None = None
    d_R: float | None = None
    self_conjugate: bool = False

    def __call__(self, proc: Process, ff: F.FormFactors | None, m: float,
                 p: dict[str, float]) -> Spectrum:
        dl = p.get("d_L", self.d_L if self.d_L is not None else 1.0)
        dr = p.get("d_R", self.d_R if self.d_R is not None else 1.0)
        if proc.name in INVISIBLE_PROCESSES:
            return bs_pairs.pair_line(self.kind, m, p["g"], p["Lambda"], p["c_L"], p["c_R"],
                                      dl, dr, self_conjugate=self.self_conjugate)
        if ff is None:
            raise EmissError(f"{proc.name} needs form factors of {proc.ff_kind}")
        return threebody.pair_spectrum(proc, ff, self.kind, m, p["g"], p["Lambda"], p["c_L"],
                                       p["c_R"], dl, dr, self_conjugate=self.self_conjugate)


def _pair(kind: str, d_L: float | None = None, d_R: float | None = None,
          self_conjugate: bool = False) -> Builder:
    return _PairBuilder(kind, d_L, d_R, self_conjugate)


_J = "s̄ γ^μ (c_L P_L + c_R P_R) b"
_S = "s̄ (c_L P_L + c_R P_R) b"
_REF2 = "arXiv:2503.19025 eq. (2.1); arXiv:1111.6402 eqs. (5), (7); emiss.physics.twobody"
_T = "s̄ σ^μν (c_L P_L + c_R P_R) b"
_REF3 = "arXiv:2503.19025 eq. (2.1); arXiv:1111.6402; emiss.physics.threebody (derived, tested)"
_REF32 = ("arXiv:1111.6402 (spin-3/2 pairs); arXiv:2403.13887 (spin 0 up to 3/2); "
          "emiss.physics.threebody, docs/spin32.md (derived, tested)")
_REFT = ("arXiv:2312.12507 (tensor-current pairs); emiss.physics.threebody, docs/spin32.md "
         "(derived, tested)")
_REFSC = "emiss.physics.threebody (self-conjugate pairs: B = B(Dirac/complex)/2), docs/spin32.md"
_DLR = {"d_L": (1.0, "", "weight of the left-handed invisible current X̄ γ P_L X"),
        "d_R": (0.0, "", "weight of the right-handed invisible current X̄ γ P_R X")}
M2, M3 = 2.1, 0.6


def _sc(name: str, spin: float, operator: str, lam: float, reference: str, build: Builder,
        extra: dict[str, ParamSpec] | None = None) -> Scenario:
    """A pair scenario with parameters g, Lambda, c_L, c_R (+ extra) at the pair default mass."""
    return Scenario(name, spin, 3, operator, {**_g(1.0), **_lam(lam), **_CHIRAL_Q, **(extra or {})},
                    True, "g", default_mass=M3, reference=reference, _build=build)


def _more_pairs() -> list[Scenario]:
    """Spin-3/2 pairs, tensor-current pairs and the self-conjugate versions of every pair."""
    rs, maj, mrs = "(Dirac Rarita-Schwinger Ψ)", "(Majorana χ)", "(Majorana Rarita-Schwinger Ψ)"
    k2 = "(g/(2Λ²))"
    kv2 = "(g v/(2√2 Λ²))"
    return [
        # spin 3/2 (Dirac)
        _sc("threebody-spin32", 1.5, f"(g/Λ²) {_J} Ψ̄_ν γ_μ (d_L P_L + d_R P_R) Ψ^ν {rs}", 2e4,
            _REF32, _pair("rs-vector"), _DLR),
        _sc("threebody-spin32-vector", 1.5, f"(g/Λ²) {_J} Ψ̄_ν γ_μ Ψ^ν {rs}", 2e4, _REF32,
            _pair("rs-vector", 1.0, 1.0)),
        _sc("threebody-spin32-axial", 1.5, f"(g/Λ²) {_J} Ψ̄_ν γ_μ γ5 Ψ^ν {rs}", 2e4, _REF32,
            _pair("rs-vector", -1.0, 1.0)),
        _sc("threebody-spin32-scalar", 1.5, f"(g/Λ²) {_S} Ψ̄_ν Ψ^ν {rs}", 3e4, _REF32,
            _pair("rs-scalar")),
        _sc("threebody-spin32-pseudoscalar", 1.5, f"(g/Λ²) {_S} Ψ̄_ν iγ5 Ψ^ν {rs}", 3e4, _REF32,
            _pair("rs-pseudoscalar")),
        # tensor quark current
        _sc("threebody-fermion-tensor", 0.5, f"(g/Λ²) {_T} ψ̄ σ_μν ψ (Dirac ψ)", 7e3, _REFT,
            _pair("fermion-tensor")),
        _sc("threebody-vector-t", 1, f"(g v/(√2 Λ²)) {_T} V_μ† V_ν (complex V)", 1e5, _REFT,
            _pair("vector-tensor")),
        # self-conjugate versions (B = B(Dirac/complex)/2; the vanishing ones: VANISHING)
        _sc("threebody-scalar-s-real", 0, f"{kv2} {_S} φ² (real φ)", 5e4, _REFSC,
            _pair("scalar-scalar", self_conjugate=True)),
        _sc("threebody-fermion-majorana", 0.5,
            f"{k2} {_J} χ̄ γ_μ (d_L P_L + d_R P_R) χ {maj}: only (d_R - d_L)/2 χ̄ γ_μ γ5 χ survives",
            7e3, _REFSC, _pair("fermion-vector", self_conjugate=True), _DLR),
        _sc("threebody-fermion-axial-majorana", 0.5, f"{k2} {_J} χ̄ γ_μ γ5 χ {maj}", 7e3, _REFSC,
            _pair("fermion-vector", -1.0, 1.0, self_conjugate=True)),
        _sc("threebody-fermion-scalar-majorana", 0.5, f"{k2} {_S} χ̄ χ {maj}", 7e3, _REFSC,
            _pair("fermion-scalar", self_conjugate=True)),
        _sc("threebody-fermion-pseudoscalar-majorana", 0.5, f"{k2} {_S} χ̄ iγ5 χ {maj}", 7e3,
            _REFSC, _pair("fermion-pseudoscalar", self_conjugate=True)),
        _sc("threebody-vector-s-real", 1, f"{kv2} {_S} V_μ V^μ (real V)", 2e5, _REFSC,
            _pair("vector-scalar", self_conjugate=True)),
        _sc("threebody-spin32-majorana", 1.5,
            f"{k2} {_J} Ψ̄_ν γ_μ (d_L P_L + d_R P_R) Ψ^ν {mrs}: only the axial part survives",
            2e4, _REFSC, _pair("rs-vector", self_conjugate=True), _DLR),
        _sc("threebody-spin32-axial-majorana", 1.5, f"{k2} {_J} Ψ̄_ν γ_μ γ5 Ψ^ν {mrs}", 2e4,
            _REFSC, _pair("rs-vector", -1.0, 1.0, self_conjugate=True)),
        _sc("threebody-spin32-scalar-majorana", 1.5, f"{k2} {_S} Ψ̄_ν Ψ^ν {mrs}", 3e4, _REFSC,
            _pair("rs-scalar", self_conjugate=True)),
        _sc("threebody-spin32-pseudoscalar-majorana", 1.5, f"{k2} {_S} Ψ̄_ν iγ5 Ψ^ν {mrs}", 3e4,
            _REFSC, _pair("rs-pseudoscalar", self_conjugate=True)),
    ]


#: Self-conjugate versions that vanish identically: name -> (why, what to use instead). Asking
#: for one is an EmissError (``get_scenario``), never a silent zero rate.
VANISHING: dict[str, tuple[str, str]] = {
    "threebody-scalar-real": (threebody.VANISHING_SELF_CONJUGATE["scalar-vector"],
                              "threebody-scalar-s-real"),
    "threebody-vector-real": (threebody.VANISHING_SELF_CONJUGATE["vector-vector"],
                              "threebody-vector-s-real"),
    "threebody-vector-t-real": (threebody.VANISHING_SELF_CONJUGATE["vector-tensor"],
                                "threebody-vector-s-real"),
    "threebody-fermion-vector-majorana": (threebody.MAJORANA_VECTOR_ZERO,
                                          "threebody-fermion-axial-majorana"),
    "threebody-fermion-tensor-majorana": (threebody.VANISHING_SELF_CONJUGATE["fermion-tensor"],
                                          "threebody-fermion-axial-majorana"),
    "threebody-spin32-vector-majorana": ("a Majorana vector current vanishes: C gamma^{mu T} "
                                         "C^-1 = -gamma^mu, so Ψ̄_ν gamma^mu Ψ^ν = 0 and only the "
                                         "axial part survives", "threebody-spin32-axial-majorana"),
}


def _registry() -> dict[str, Scenario]:
    q = _CHIRAL_Q
    items = [
        Scenario("sm", 0.5, 1, "SM: C_L^SM (s̄ γ_μ P_L b)(ν̄ γ^μ (1-γ5) ν), 3 flavours", {},
                 False, None, processes=sm.SM_PROCESSES,
                 reference="arXiv:1409.4557; emiss.physics.sm", _build=_sm),
        Scenario("heavy-np", 0.5, 1,
                 "C_L (s̄ γ_μ P_L b)(ν̄ γ^μ(1-γ5) ν) + C_R (s̄ γ_μ P_R b)(ν̄ γ^μ(1-γ5) ν)",
                 {"C_L": (C.C_L_SM, "", "left-handed Wilson coefficient (SM included)"),
                  "C_R": (0.0, "", "right-handed Wilson coefficient")},
                 False, None, reference="arXiv:1409.4557 eqs. (1)-(2), (19)", _build=_heavy),
        Scenario("wet", 0.5, 1,
                 "sum_i C_i O_i, O_VL(VR) = (s̄ γ^μ P_L(R) b)(ν̄ γ_μ P_L ν), O_SL(SR) = (s̄ P_L(R) b)"
                 "(ν̄^c P_L ν), O_TL = (s̄ σ^μν P_L b)(ν̄^c σ_μν P_L ν) (EOS sbnunu basis)",
                 {"C_VL": (wet.C_VL_SM, "", "vector left (SM included: 6.60)"),
                  "C_VR": (0.0, "", "vector right"),
                  "C_SL": (0.0, "", "scalar left (ΔL = 2)"),
                  "C_SR": (0.0, "", "scalar right (ΔL = 2)"),
                  "C_TL": (0.0, "", "tensor (ΔL = 2)")},
                 False, None, processes=PROCESSES,
                 reference="arXiv:2507.12393 sec. VI; arXiv:2111.04327 eqs. (8), (13); EOS "
                           "sbnunu; emiss.physics.wet", _build=_wet),
        Scenario("twobody-scalar", 0, 2, f"(g/Λ) ∂_μφ {_J}", {**_g(1.0), **_lam(1e8), **q},
                 True, "g", default_mass=M2, reference=_REF2, _build=_ts("derivative")),
        Scenario("twobody-scalar-s", 0, 2, f"(g v/(√2 Λ)) φ {_S}", {**_g(1.0), **_lam(5e9), **q},
                 True, "g", default_mass=M2, reference=_REF2, _build=_ts("density")),
        Scenario("twobody-vector", 1, 2, f"g V_μ {_J}", {**_g(1.5e-8), **q},
                 True, "g", default_mass=M2, reference=_REF2, _build=_tv),
        Scenario("threebody-scalar", 0, 3, f"(g/Λ²) {_J} i φ* ∂↔_μ φ (complex φ)",
                 {**_g(1.0), **_lam(5e3), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("scalar-vector")),
        Scenario("threebody-scalar-s", 0, 3, f"(g v/(√2 Λ²)) {_S} |φ|² (complex φ)",
                 {**_g(1.0), **_lam(5e4), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("scalar-scalar")),
        Scenario("threebody-fermion", 0.5, 3,
                 f"(g/Λ²) {_J} ψ̄ γ_μ (d_L P_L + d_R P_R) ψ (Dirac ψ)",
                 {**_g(1.0), **_lam(7e3), **q,
                  "d_L": (1.0, "", "weight of the left-handed invisible current ψ̄ γ P_L ψ"),
                  "d_R": (0.0, "", "weight of the right-handed invisible current ψ̄ γ P_R ψ")},
                 True, "g", default_mass=M3, reference=_REF3, _build=_pair("fermion-vector")),
        Scenario("threebody-fermion-vector", 0.5, 3, f"(g/Λ²) {_J} ψ̄ γ_μ ψ (Dirac ψ)",
                 {**_g(1.0), **_lam(7e3), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("fermion-vector", 1.0, 1.0)),
        Scenario("threebody-fermion-axial", 0.5, 3, f"(g/Λ²) {_J} ψ̄ γ_μ γ5 ψ (Dirac ψ)",
                 {**_g(1.0), **_lam(7e3), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("fermion-vector", -1.0, 1.0)),
        Scenario("threebody-fermion-scalar", 0.5, 3, f"(g/Λ²) {_S} ψ̄ ψ (Dirac ψ)",
                 {**_g(1.0), **_lam(7e3), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("fermion-scalar")),
        Scenario("threebody-fermion-pseudoscalar", 0.5, 3, f"(g/Λ²) {_S} ψ̄ iγ5 ψ (Dirac ψ)",
                 {**_g(1.0), **_lam(7e3), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("fermion-pseudoscalar")),
        Scenario("threebody-vector", 1, 3, f"(g/Λ²) {_J} i V_ν† ∂↔_μ V^ν (complex V)",
                 {**_g(1.0), **_lam(2e4), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("vector-vector")),
        Scenario("threebody-vector-s", 1, 3, f"(g v/(√2 Λ²)) {_S} V_μ† V^μ (complex V)",
                 {**_g(1.0), **_lam(2e5), **q}, True, "g", default_mass=M3, reference=_REF3,
                 _build=_pair("vector-scalar")),
        *_more_pairs(),
    ]
    # Light-X operators with a vector-type quark current also predict the related modes
    # (B -> pi, rho; B_s -> phi; K -> pi; emiss.physics.processes.RELATED_PROCESSES) with g the
    # coupling of that transition's current (d̄ ... b, s̄ ... b, d̄ ... s). Scalar densities
    # stay b -> s (their quark masses are m_b -/+ m_s).
    items = [dataclasses.replace(s, processes=ALL_PROCESSES)
             if s.multiplicity > 1 and _J in s.operator else s for s in items]
    # every two-body X may have a total width (a Breit-Wigner in q^2, emiss.physics.twobody)
    items = [_with_width(s) if s.multiplicity == 2 else s for s in items]
    return {s.name: s for s in items}


#: The width parameter of two-body scenarios.
_WIDTH: dict[str, ParamSpec] = {"width": (0.0, "GeV", "total width of X: a relativistic "
                                          "Breit-Wigner in q^2 (0: an exact line)")}


def _with_width(scen: Scenario) -> Scenario:
    """The two-body scenario with a ``width`` parameter (``twobody.broadened`` when > 0)."""
    narrow = scen._build
    if narrow is None:
        raise EmissError(f"scenario {scen.name!r} has no spectrum builder")
    allow_zero = scen.spin != 1

    def build(proc: Process, ff: F.FormFactors, m: float, p: dict[str, float]) -> Spectrum:
        rest = {k: v for k, v in p.items() if k != "width"}
        width = float(p.get("width", 0.0))
        if width < 0:
            raise EmissError(f"width {width:g} GeV of X: valid: >= 0 (0 = an exact line)")
        if width == 0.0:
            return narrow(proc, ff, m, rest)
        return twobody.broadened(proc, lambda mu: narrow(proc, ff, mu, rest), m, width,
                                 allow_zero=allow_zero)

    return dataclasses.replace(scen, parameters={**scen.parameters, **_WIDTH}, _build=build)


_REGISTRY: dict[str, Scenario] | None = None


def _reg() -> dict[str, Scenario]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    return _REGISTRY


def list_scenarios() -> list[Scenario]:
    """All registered scenarios, in registry order."""
    return list(_reg().values())


def scenario_names() -> list[str]:
    """Registered scenario names."""
    return list(_reg())


def register_scenario(scen: Scenario) -> None:
    """Add a scenario made at run time (a user's spectrum, ``emiss.physics.user``).

    Args:
        scen: the scenario; a built-in name cannot be replaced.

    Raises:
        EmissError: the name is a built-in scenario's.
    """
    reg = _reg()
    old = reg.get(scen.name)
    if old is not None and old._build is not None and not old.name.startswith("user-"):
        raise EmissError(f"scenario {scen.name!r} is built in; a user scenario needs another name")
    reg[scen.name] = scen


def get_scenario(name: str | Scenario) -> Scenario:
    """Look up a scenario by name (a Scenario is returned unchanged).

    Raises:
        EmissError: unknown name (the message lists the valid ones).
    """
    if isinstance(name, Scenario):
        return name
    reg = _reg()
    if name in VANISHING:
        why, instead = VANISHING[name]
        raise EmissError(f"scenario {name!r} vanishes identically and is not registered: {why}; "
                         f"use {instead!r} (or the Dirac/complex version without the suffix)")
    if name not in reg:
        raise EmissError(f"unknown scenario {name!r}; valid: {', '.join(reg)}")
    return reg[name]
