"""Hypotheses -> folded signal templates (with form-factor systematics) -> pyhf PatchSets.

Normalisation (what mu means), the same for every scenario:
    mu = B(hypothesis, first process of the workspace) / ``reference_branching_ratio``; the
    other processes of a workspace follow with the rate ratios the physics predicts. The
    reference is
    * light invisible X (two-body lines, three-body pairs): ``LIGHT_X_REFERENCE_BR`` = 1e-5, and
      the coupling at mu is ``coupling.reference_value * sqrt(mu)`` (rate ~ coupling^2);
    * heavy new physics (C_L, C_R): the hypothesis' own branching ratio (mu = 1 is the
      hypothesis; limits mu < 1 exclude it);
    * the SM: 4.97e-6 for B+ -> K+ nu nubar, the short-distance SM value Belle II normalises
      mu = 1 to (arXiv:2311.14647; shared/reference/belle2.md 1.2), so that the SM patch
      reproduces ``emiss measure``; other processes: the computed SM value.

Form-factor uncertainty: ``n_samples`` correlated form-factor draws per form-factor family
(fixed seed, ``emiss.physics.formfactors.sample``) give template variations; their principal
components (at most ``FF_COMPONENTS`` per family) become histosys modifiers ``ff_<tag>_pc<i>``
(``ff_BK_pc<i>``, ``ff_BKstar_pc<i>``) shared by every channel and every sample of the patch (the
``signal`` and ``sm_nunu`` samples see the same form factors). When a workspace measures both
B -> K and B -> K* (the K + K* combination) the families are varied one at a time (draws
0..n-1: B -> K varied, B -> K* central; draws n..2n-1: the reverse), so that B -> K and B -> K*
form factors are separate nuisance parameters with the same names as on the single-channel
workspaces, each shared by every channel it enters.

Because mu is a branching ratio, the signal variations are shape
only (each draw keeps B of the first process fixed); the fixed ``sm_nunu`` sample of light-X
hypotheses keeps its full (rate and shape) form-factor uncertainty.

Polarised channels (``emiss.response.KstarChannelResponse``: B -> K* binned in the K* helicity
angle) fold the longitudinal and transverse parts of a spectrum with their own matrices
(``continuum_long`` / ``lines_long``), so that the templates follow the hypothesis' F_L.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.io import dumps_json, write_json
from emiss.patches.assemble import (
    POI,
    PatchTemplate,
    SampleTemplate,
    make_patchset,
    sample_ops,
    validate_patchset,
)
from emiss.patches.grid import GridEntry, Hypothesis, make_entry, sanitize
from emiss.response import KstarChannelResponse

log = logging.getLogger(__name__)

#: mu = 1 <-> B(B -> K X) (or B(B -> K X X̄)) = 1e-5 for light invisible particles: a round
#: number of the size of the Belle II excess (B ~ 0.9e-5, arXiv:2311.14629).
LIGHT_X_REFERENCE_BR = 1e-5
#: Belle II's mu = 1 for B+ -> K+ nu nubar: short-distance SM B = 4.97e-6 (arXiv:2311.14647,
#: shared/reference/belle2.md section 1.2).
SM_REFERENCE_BR = {"B+->K+": 4.97e-6}
#: Default number of form-factor draws per hypothesis and their seed.
DEFAULT_FF_SAMPLES = 100
DEFAULT_FF_SEED = 0
#: Principal components kept per form-factor family (Belle II uses three, corr_ff_c1..3).
FF_COMPONENTS = 3
#: Components below this fraction of the leading singular value are dropped.
FF_MIN_RELATIVE = 1e-6
#: Sample names.
SIGNAL = "signal"
SM_SAMPLE = "sm_nunu"
#: Order of processes (the first present in a workspace sets mu's reference).
PROCESS_ORDER = ("B+->K+", "B0->K0", "B0->K*0", "B+->K*+")
_KIND_TAG = {"B->K": "BK", "B->K*": "BKstar"}


# ------------------------------------------------------------------------------- workspace
@dataclass
class Target:
    """What the generator needs of a workspace.

    Attributes:
        spec: background-only pyhf workspace.
        response: ``emiss.response.Response`` (channels the signal enters).
        hepdata: INSPIRE reference for the PatchSet metadata, or None.
        channel_modifiers: channel -> modifiers every signal sample must carry.
        name: short name (file stem) for descriptions.
        sm_reference: process -> B that mu = 1 stands for in the SM patch (sidecar's
            ``signal.reference_branching_ratio`` when given, else ``SM_REFERENCE_BR``).
    """

    spec: dict
    response: Any
    hepdata: str | None = None
    channel_modifiers: dict[str, list[dict]] = field(default_factory=dict)
    name: str = "workspace"
    sm_reference: dict[str, float] = field(default_factory=lambda: dict(SM_REFERENCE_BR))

    def channels(self) -> list[str]:
        """Workspace channels with a response, in workspace order."""
        names = [ch["name"] for ch in self.spec["channels"]]
        return [n for n in names if n in self.response.channels]

    def processes(self) -> list[str]:
        """Processes the response's channels measure, first one first (see PROCESS_ORDER)."""
        procs = {self.response.channels[c].process for c in self.channels()}
        known = [p for p in PROCESS_ORDER if p in procs]
        return known + sorted(procs - set(known))


def _meta_hepdata(meta: Mapping) -> str | None:
    for key in ("hepdata", "hepdata_id", "inspire"):
        val = meta.get(key)
        if isinstance(val, str):
            return val if val.startswith("ins") else f"ins{val}"
        if isinstance(val, int):
            return f"ins{val}"
    refs = meta.get("references")
    if isinstance(refs, Mapping) and isinstance(refs.get("hepdata"), str):
        return refs["hepdata"]
    return None


def _meta_modifiers(meta: Mapping) -> dict[str, list[dict]]:
    for key in ("signal_modifiers", "signal_sample_modifiers"):
        val = meta.get(key)
        if isinstance(val, Mapping):
            return {str(k): [dict(m) for m in v] for k, v in val.items()}
    chans = meta.get("channels")
    out: dict[str, list[dict]] = {}
    if isinstance(chans, Mapping):
        for name, info in chans.items():
            if isinstance(info, Mapping) and isinstance(info.get("signal_modifiers"), list):
                out[str(name)] = [dict(m) for m in info["signal_modifiers"]]
    return out


def target_from_bundle(bundle: Any, response: Any = None, hepdata: str | None = None) -> Target:
    """Target from an ``emiss.bundles`` bundle (spec + sidecar meta + response).

    Args:
        bundle: object with ``spec``, ``meta``, ``response`` and ``path``.
        response: a Response (or path to one) overriding the bundle's.
        hepdata: INSPIRE reference overriding the sidecar's.

    Returns:
        The Target.
    """
    if response is not None and not hasattr(response, "channels"):
        from emiss.response import Response

        response = Response.load(response)
    resp = response if response is not None else getattr(bundle, "response", None)
    path = getattr(bundle, "path", None)
    name = Path(path).name.removesuffix(".json") if path else "workspace"
    if resp is None:
        raise EmissError(
            f"workspace {name!r} has no detector response (no sidecar .meta.json naming one); "
            "pass --response FILE"
        )
    meta = getattr(bundle, "meta", None) or {}
    spec = bundle.spec if hasattr(bundle, "spec") else bundle
    resp.check_workspace(spec)
    sm_ref = dict(SM_REFERENCE_BR)
    sig = meta.get("signal") if isinstance(meta.get("signal"), Mapping) else {}
    if sig.get("reference_branching_ratio") is not None:
        sm_ref[str(sig.get("process", "B+->K+"))] = float(sig["reference_branching_ratio"])
    return Target(
        spec=spec,
        response=resp,
        hepdata=hepdata or _meta_hepdata(meta),
        channel_modifiers=_meta_modifiers(meta),
        name=name,
        sm_reference=sm_ref,
    )


def load_target(path: str | os.PathLike, response: str | os.PathLike | None = None,
                hepdata: str | None = None) -> Target:
    """Load a workspace (and its sidecar/response) as a Target.

    Args:
        path: workspace JSON.
        response: response file overriding the sidecar's.
        hepdata: INSPIRE reference overriding the sidecar's.

    Returns:
        The Target.
    """
    from emiss.bundles.bundle import load_bundle

    bundle = load_bundle(path, response=response)  # an explicit response replaces the sidecar's
    return target_from_bundle(bundle, hepdata=hepdata)


# ------------------------------------------------------------------------------- folding
def fold_many(response: Any, channels: Sequence[str], spectra: Sequence[Any]) -> np.ndarray:
    """Fold several spectra of one process into the given channels at once.

    Same arithmetic as ``ChannelResponse.fold`` (n_b (R @ continuum bin integrals + lines via
    the exact column)) and, for polarised K* channels, ``KstarChannelResponse.fold`` (R_L on
    the longitudinal, R_T on the transverse part), but the bin integrals of each spectrum are
    computed once for all channels sharing true-q^2 edges.

    Args:
        response: Response.
        channels: channel names (all measuring the spectra's process).
        spectra: Spectrum objects.

    Returns:
        Array (n_spectra, sum of channel bins): yields, channels concatenated in order.
    """
    blocks = []
    cache: dict[tuple[bytes, bool], np.ndarray] = {}
    for ch in channels:
        cr = response.channels[ch]
        pol = isinstance(cr, KstarChannelResponse)
        if pol:
            for s in spectra:
                _check_polarised(s, ch)
        key = (cr.true_edges.tobytes(), False)
        if key not in cache:
            cache[key] = np.array([np.asarray(_continuum_only(s).bin_integrals(cr.true_edges),
                                              dtype=float) for s in spectra])
        if not pol:
            y = cache[key] @ cr.matrix.T
        else:
            key_l = (cr.true_edges.tobytes(), True)
            if key_l not in cache:
                cache[key_l] = np.array([np.asarray(
                    _continuum_only(s).bin_integrals_long(cr.true_edges), dtype=float)
                    for s in spectra])
            b_l = cache[key_l]
            y = b_l @ cr.matrix_long.T + (cache[key] - b_l) @ cr.matrix_trans.T
        cols: dict[float, Any] = {}
        for k, s in enumerate(spectra):
            for i, (q2, br) in enumerate(s.lines):
                if q2 not in cols:
                    cols[q2] = cr.columns_at(q2) if pol else cr.column_at(q2)
                if pol:
                    br_l = s.lines_long[i]
                    y[k] += br_l * cols[q2][0] + (br - br_l) * cols[q2][1]
                else:
                    y[k] += br * cols[q2]
        blocks.append(cr.n_b * y)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(spectra), 0))


def total_br(spectrum: Any, n_panels: int = 48) -> float:
    """Total branching ratio (continuum by Gauss-Legendre panels + lines), vectorised.

    Args:
        spectrum: Spectrum.
        n_panels: panels over [q2_min, q2_max].

    Returns:
        B.
    """
    total = float(sum(br for _, br in spectrum.lines))
    if spectrum.continuum is not None and spectrum.q2_max > spectrum.q2_min:
        cont = dataclasses.replace(spectrum, lines=(), lines_long=()) if spectrum.lines \
            else spectrum
        edges = np.array([spectrum.q2_min, spectrum.q2_max])
        total += float(np.sum(cont.bin_integrals(edges, n_sub=n_panels)))
    return total


def _check_polarised(spectrum: Any, channel: str) -> None:
    """Raise EmissError unless the spectrum has the longitudinal parts a K* channel needs."""
    name = spectrum.label or spectrum.process
    if spectrum.continuum is not None and spectrum.continuum_long is None:
        raise EmissError(f"spectrum {name!r} has no longitudinal part (continuum_long); "
                         f"K* channel {channel!r} needs it")
    if spectrum.lines and len(spectrum.lines_long) != len(spectrum.lines):
        raise EmissError(f"spectrum {name!r} has lines without their longitudinal parts "
                         f"(lines_long); K* channel {channel!r} needs them")


def _continuum_only(spectrum: Any) -> Any:
    """The spectrum without its lines (they are folded through exact response columns)."""
    return dataclasses.replace(spectrum, lines=(), lines_long=()) if spectrum.lines else spectrum


# ------------------------------------------------------------------------------- physics glue
def _scenario(name: str):
    from emiss.physics.scenarios import get_scenario

    return get_scenario(name)


def _central_ff(kind: str):
    from emiss.physics import formfactors

    return formfactors.central(kind)


def _process(name: str):
    from emiss.physics.processes import get_process

    return get_process(name)


def _sm_c_l() -> float:
    from emiss.physics.constants import C_L_SM

    return float(C_L_SM)


def check_masses(scenario: Any, masses: Sequence[float], processes: Sequence[str]) -> None:
    """Reject masses at or above the kinematic endpoint before any work is done.

    Two-body: m_X < m_B - m_M; pairs: m_X < (m_B - m_M) / 2 (each of the pair).

    Args:
        scenario: Scenario (``multiplicity`` 2 or 3 is checked).
        masses: m_X values in GeV.
        processes: processes of the workspace.
    """
    n = {2: 1, 3: 2}.get(int(getattr(scenario, "multiplicity", 1)))
    if n is None:
        return
    for proc in processes:
        p = _process(proc)
        limit = (p.m_B - p.m_M) / n
        for m in masses:
            if not (0 <= m < limit):
                what = "m_X" if n == 1 else "m_X (each of the pair)"
                raise EmissError(
                    f"mass {m:g} GeV of scenario {scenario.name!r} is at or above the kinematic "
                    f"endpoint of {proc}; valid: 0 <= {what} < {limit:.4f} GeV"
                )


@dataclass
class ResolvedEntry:
    """A grid entry checked against its scenario: labels and hypotheses."""

    entry: GridEntry
    scenario: Any
    labels: list[str]
    hypotheses: list[Hypothesis]


def resolve_entry(entry: GridEntry) -> ResolvedEntry:
    """Check an entry against its scenario (mass needed? parameters known?) and fix labels.

    Scenarios without coordinates get labels from their parameters (defaults), and the SM gets
    labels (C_L, C_R) = (C_L^SM, 0) (arXiv:1409.4557 eq. (6)), so that every PatchSet has labels.

    Args:
        entry: the grid entry.

    Returns:
        ResolvedEntry.
    """
    scen = _scenario(entry.scenario)
    needs_mass = bool(getattr(scen, "needs_mass", False))
    if needs_mass and entry.masses is None:
        raise EmissError(f"scenario {scen.name!r} needs masses (--masses, e.g. 0:4.7:0.1)")
    if not needs_mass and entry.masses is not None:
        raise EmissError(f"scenario {scen.name!r} has no mass; drop --masses")
    known = dict(getattr(scen, "parameters", {}) or {})
    for p in list(entry.params) + list(entry.fixed):
        if p not in known:
            raise EmissError(
                f"unknown parameter {p!r} for scenario {scen.name!r}; valid: "
                f"{', '.join(known) or '(none)'}"
            )
    hyps = entry.hypotheses()
    labels = entry.labels
    if not labels:
        if known:
            params = tuple((p, float(_default(known[p]))) for p in known)
        else:
            params = (("C_L", _sm_c_l()), ("C_R", 0.0))
        labels = [sanitize(p) for p, _ in params]
        hyps = [Hypothesis(scenario=entry.scenario, mass=None, params=params,
                           labels=tuple(labels), name=sanitize(entry.scenario))]
    return ResolvedEntry(entry=entry, scenario=scen, labels=labels, hypotheses=hyps)


def _default(pinfo: Any) -> float:
    if isinstance(pinfo, Mapping):
        return float(pinfo.get("default"))
    if isinstance(pinfo, (tuple, list)):
        return float(pinfo[0])
    for attr in ("default", "value"):
        if hasattr(pinfo, attr):
            return float(getattr(pinfo, attr))
    return float(pinfo)


# ------------------------------------------------------------------------------- templates
#: Gauss-Legendre order per true-q^2 sub-interval for the form-factor draws (the nominal uses
#: exactly the arithmetic of ``Response.fold``).
_DRAW_GL_ORDER = 8
_DRAW_X, _DRAW_W = np.polynomial.legendre.leggauss(_DRAW_GL_ORDER)


class _DrawQuadrature:
    """Fast continuum integrals over the true-q^2 bins of several channels at once.

    The union of all channels' true edges and the spectrum's support [q2_min, q2_max] is
    integrated once per spectrum with ``_DRAW_GL_ORDER``-point Gauss-Legendre rules; channel-bin
    integrals are sums of those pieces and the total branching ratio is their sum.
    """

    def __init__(self, edge_sets: Sequence[np.ndarray]) -> None:
        self.edge_sets = [np.asarray(e, dtype=float) for e in edge_sets]
        self.union = np.unique(np.concatenate(self.edge_sets))

    def pieces(self, spectrum: Any, long: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Midpoints and continuum integrals of the sub-intervals of the union grid.

        Args:
            spectrum: Spectrum.
            long: integrate the longitudinal part (``continuum_long``) instead of the total.
        """
        fn = spectrum.continuum_long if long else spectrum.continuum
        if fn is None or spectrum.q2_max <= spectrum.q2_min:
            return np.zeros(0), np.zeros(0)
        lo_s, hi_s = spectrum.q2_min, spectrum.q2_max
        inner = self.union[(self.union > lo_s) & (self.union < hi_s)]
        cuts = np.concatenate([[lo_s], inner, [hi_s]])
        a, b = cuts[:-1], cuts[1:]
        half, mid = 0.5 * (b - a), 0.5 * (b + a)
        x = mid[:, None] + half[:, None] * _DRAW_X[None, :]
        vals = np.asarray(fn(x.ravel()), dtype=float).reshape(x.shape)
        return mid, np.sum(vals * _DRAW_W[None, :], axis=1) * half

    def split(self, mid: np.ndarray, pieces: np.ndarray) -> list[np.ndarray]:
        """Bin integrals per edge set from the sub-interval pieces."""
        out = []
        for e in self.edge_sets:
            idx = np.searchsorted(e, mid, side="right") - 1
            ok = (idx >= 0) & (idx < len(e) - 1)
            out.append(np.bincount(idx[ok], weights=pieces[ok], minlength=len(e) - 1))
        return out


@dataclass
class _Integrals:
    """Folding inputs of one spectrum over the channels of its process.

    Attributes:
        ints: continuum integrals per channel true bin.
        ints_long: their longitudinal parts (None per channel: process not polarised).
        total: total branching ratio (lines included).
        lines: (q2, B) of the lines.
        lines_long: longitudinal B of each line (K* only).
    """

    ints: list[np.ndarray]
    ints_long: list[np.ndarray | None]
    total: float
    lines: tuple
    lines_long: tuple


@dataclass
class _Raw:
    """Unnormalised folded yields of one hypothesis (all processes, channels concatenated).

    Attributes:
        nominal: yields with central form factors, (D,).
        br: process -> branching ratio (central form factors).
        draws: yields per form-factor draw, (N, D), or None (no shape dependence).
        draw_br: branching ratio of the first process per draw, (N,), or None.
    """

    nominal: np.ndarray
    br: dict[str, float]
    draws: np.ndarray | None = None
    draw_br: np.ndarray | None = None

    def combine(self, others: Sequence[tuple[float, _Raw]], c0: float) -> _Raw:
        """c0 * self + sum c_i * raw_i (the fold is linear in the spectrum)."""
        nom = c0 * self.nominal + sum(c * r.nominal for c, r in others)
        br = {p: c0 * v + sum(c * r.br[p] for c, r in others) for p, v in self.br.items()}
        draws = draw_br = None
        if self.draws is not None:
            draws = c0 * self.draws + sum(c * r.draws for c, r in others)
            draw_br = c0 * self.draw_br + sum(c * r.draw_br for c, r in others)
        return _Raw(nom, br, draws, draw_br)


class TemplateBuilder:
    """Folded templates with form-factor systematics for one workspace (caches per instance).

    Args:
        target: the workspace.
        n_samples: form-factor draws per hypothesis and form-factor family (0: no form-factor
            systematics); a workspace with B -> K and B -> K* channels folds 2 n_samples draws.
        seed: seed of the draws (the same draws serve every hypothesis).
        cache: dict shared with other builders (same n_samples and seed) to reuse spectrum
            integrals across workspaces.
    """

    def __init__(self, target: Target, n_samples: int = DEFAULT_FF_SAMPLES,
                 seed: int = DEFAULT_FF_SEED, cache: dict | None = None) -> None:
        if int(n_samples) < 0 or (0 < int(n_samples) < 2):
            raise EmissError(f"n_samples must be 0 or >= 2, got {n_samples}")
        self.target = target
        self.n_samples = int(n_samples)
        self.seed = int(seed)
        # spectrum integrals, shareable between builders of workspaces with the same true bins
        self.cache = cache if cache is not None else {}
        self._columns: dict[tuple[str, float], np.ndarray] = {}
        self.channels = target.channels()
        self.processes = target.processes()
        if not self.channels:
            raise EmissError(f"workspace {target.name!r}: no channel has a response")
        resp = target.response.channels
        self.by_process = {p: [c for c in self.channels if resp[c].process == p]
                           for p in self.processes}
        self.kinds = {p: _process(p).ff_kind for p in self.processes}
        self._quad = {p: _DrawQuadrature([resp[c].true_edges for c in self.by_process[p]])
                      for p in self.processes}
        #: processes with polarised (K* helicity) channels fold longitudinal parts too
        self.polarised = {p: any(isinstance(resp[c], KstarChannelResponse)
                                 for c in self.by_process[p]) for p in self.processes}
        #: form-factor families, varied one at a time (draw k varies families[k // n_samples])
        self.families = sorted(set(self.kinds.values()))
        self.n_draws = self.n_samples * len(self.families)
        self._ff: dict[str, list] = {}
        self._raw_cache: dict[tuple, _Raw] = {}

    # -- form factors
    def ff_samples(self, kind: str) -> list:
        """The fixed form-factor draws of one family (cached)."""
        if kind not in self._ff:
            from emiss.physics import formfactors

            self._ff[kind] = formfactors.sample(kind, self.n_samples, seed=self.seed)
        return self._ff[kind]

    def _draw_index(self, proc: str, k: int | None) -> int | None:
        """Index of the form-factor draw process proc uses in draw k (-1: central; None: k None).

        Draws 0..n-1 vary the first family, n..2n-1 the second, ...; the other families stay
        central.
        """
        if k is None:
            return None
        fam, i = divmod(int(k), self.n_samples)
        return i if self.families[fam] == self.kinds[proc] else -1

    def _spectrum(self, scen: Any, proc: str, mass: float | None, params: dict,
                  k: int | None) -> Any:
        kind = self.kinds[proc]
        i = self._draw_index(proc, k)
        ff = _central_ff(kind) if i is None or i < 0 else self.ff_samples(kind)[i]
        return scen.spectrum(proc, mass=mass, params=params, ff=ff)

    def _integrals(self, scen: Any, proc: str, mass: float | None, params: Mapping,
                   k: int | None) -> _Integrals:
        """Continuum integrals per channel true bin, total B and lines of one spectrum (cached).

        k None: central form factors, the exact arithmetic of ``Response.fold``
        (``Spectrum.bin_integrals``); k = draw index: fast quadrature (``_DrawQuadrature``).
        Processes with polarised channels also get the longitudinal integrals and lines.
        """
        resp = self.target.response.channels
        edges = [resp[c].true_edges for c in self.by_process[proc]]
        quad = self._quad[proc]
        pol = self.polarised[proc]
        i = self._draw_index(proc, k)
        base = (scen.name, proc, mass, tuple(sorted(params.items())), i, self.n_samples,
                self.seed, pol)
        spec = None
        if k is None:  # exact integrals, cached per true-edge array
            ints, ints_long = [], []
            for e in edges:
                key = (*base, e.tobytes())
                hit = self.cache.get(key)
                if hit is None:
                    spec = spec or self._spectrum(scen, proc, mass, dict(params), k)
                    if pol:
                        _check_polarised(spec, proc)
                    cont = _continuum_only(spec)
                    hit = self.cache[key] = (
                        np.asarray(cont.bin_integrals(e), dtype=float), total_br(cont),
                        tuple(spec.lines),
                        np.asarray(cont.bin_integrals_long(e), dtype=float) if pol else None,
                        tuple(spec.lines_long))
                ints.append(hit[0])
                ints_long.append(hit[3])
            total, lines, lines_long = hit[1], hit[2], hit[4]
        else:  # fast quadrature pieces on the union grid
            key = (*base, quad.union.tobytes())
            hit = self.cache.get(key)
            if hit is None:
                spec = self._spectrum(scen, proc, mass, dict(params), k)
                if pol:
                    _check_polarised(spec, proc)
                cont = _continuum_only(spec)
                hit = self.cache[key] = (quad.pieces(cont), tuple(spec.lines),
                                         quad.pieces(cont, long=True) if pol else None,
                                         tuple(spec.lines_long))
            (mid, pieces), lines, long_pieces, lines_long = hit
            ints, total = quad.split(mid, pieces), float(pieces.sum())
            ints_long = quad.split(*long_pieces) if pol else [None] * len(ints)
        return _Integrals(ints, ints_long, total + float(sum(br for _, br in lines)), lines,
                          lines_long)

    def _fold_cached(self, scen: Any, proc: str, mass: float | None, params: Mapping,
                     k: int | None) -> tuple[np.ndarray, float, bool]:
        """Yields over the process' channels (concatenated), B, and whether there is a continuum."""
        resp = self.target.response.channels
        it = self._integrals(scen, proc, mass, params, k)
        blocks = []
        for c, integ, integ_l in zip(self.by_process[proc], it.ints, it.ints_long, strict=True):
            cr = resp[c]
            pol = isinstance(cr, KstarChannelResponse)
            if pol:  # longitudinal and transverse parts with their own matrices
                y = cr.matrix_long @ integ_l + cr.matrix_trans @ (integ - integ_l)
            else:
                y = cr.matrix @ integ
            for j, (q2, br) in enumerate(it.lines):
                col = self._columns.get((c, q2))
                if col is None:
                    col = self._columns[(c, q2)] = cr.columns_at(q2) if pol else \
                        cr.column_at(q2)
                if pol:
                    br_l = it.lines_long[j]
                    y = y + br_l * col[0] + (br - br_l) * col[1]
                else:
                    y = y + br * col
            blocks.append(cr.n_b * y)
        return np.concatenate(blocks), it.total, any(np.any(i) for i in it.ints)

    def _split(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for p in self.processes:
            for c in self.by_process[p]:
                n = self.target.response.channels[c].n_reco
                out[c] = flat[..., i:i + n]
                i += n
        return out

    def raw(self, scen: Any, mass: float | None, params: Mapping[str, float]) -> _Raw:
        """Unnormalised yields (nominal and per form-factor draw) of one hypothesis (cached).

        Heavy-NP spectra are bilinear in (C_L, C_R) (the amplitude is linear,
        arXiv:1409.4557 eq. (1)), so they are combined from three cached basis points.
        """
        params = dict(params)
        if scen.name == "heavy-np" and set(params) >= {"C_L", "C_R"}:
            cl, cr = float(params["C_L"]), float(params["C_R"])
            rest = {k: v for k, v in params.items() if k not in ("C_L", "C_R")}
            b10 = self._raw_direct(scen, mass, {**rest, "C_L": 1.0, "C_R": 0.0})
            b01 = self._raw_direct(scen, mass, {**rest, "C_L": 0.0, "C_R": 1.0})
            b11 = self._raw_direct(scen, mass, {**rest, "C_L": 1.0, "C_R": 1.0})
            # S(cl, cr) = cl^2 S10 + cr^2 S01 + cl cr (S11 - S10 - S01)
            return b10.combine([(cr * cr - cl * cr, b01), (cl * cr, b11)], cl * cl - cl * cr)
        return self._raw_direct(scen, mass, params)

    def _raw_direct(self, scen: Any, mass: float | None, params: Mapping[str, float]) -> _Raw:
        key = (scen.name, mass, tuple(sorted(params.items())))
        if key in self._raw_cache:
            return self._raw_cache[key]
        noms, br = [], {}
        has_continuum = False
        for p in self.processes:
            y, b, cont = self._fold_cached(scen, p, mass, params, None)
            noms.append(y)
            br[p] = b
            has_continuum |= cont
        nominal = np.concatenate(noms)
        draws = draw_br = None
        if self.n_samples and (len(self.processes) > 1 or has_continuum):
            rows, brs = [], []
            for k in range(self.n_draws):
                parts = []
                for i, p in enumerate(self.processes):
                    y, b, _ = self._fold_cached(scen, p, mass, params, k)
                    parts.append(y)
                    if i == 0:
                        brs.append(b)
                rows.append(np.concatenate(parts))
            draws, draw_br = np.array(rows), np.array(brs)
        out = _Raw(nominal, br, draws, draw_br)
        self._raw_cache[key] = out
        return out

    # -- one hypothesis
    def template(self, res: ResolvedEntry, hyp: Hypothesis) -> PatchTemplate:
        """Templates and metadata of one hypothesis.

        Args:
            res: the resolved grid entry the hypothesis belongs to.
            hyp: the hypothesis.

        Returns:
            PatchTemplate (samples ``signal`` and, for light X, ``sm_nunu``).
        """
        scen = res.scenario
        mult = int(getattr(scen, "multiplicity", 1))
        is_sm = scen.name == "sm"
        params = {} if is_sm else {**res.entry.fixed, **hyp.param_dict}
        first = self.processes[0]
        raw = self.raw(scen, hyp.mass, params)
        br0 = raw.br[first]
        if not (math.isfinite(br0) and br0 > 0):
            raise EmissError(
                f"hypothesis {hyp.name!r} predicts B({first}) = {br0:g}; it has no signal "
                "(zero coupling or at the kinematic endpoint); remove it from the grid"
            )
        if mult in (2, 3):
            ref = LIGHT_X_REFERENCE_BR
        elif is_sm:
            ref = self.target.sm_reference.get(first, br0)
        else:
            ref = br0
        scale = ref / br0
        noms = [raw.nominal * scale]
        draws = [None]
        if raw.draws is not None:
            if not np.all(raw.draw_br > 0):
                raise EmissError(f"hypothesis {hyp.name!r}: a form-factor draw gives B <= 0")
            # shape only: every draw keeps B(first process) = ref
            draws = [raw.draws * (ref / raw.draw_br)[:, None]]
        names = [SIGNAL]
        if mult in (2, 3):
            sm = self.raw(_scenario("sm"), None, {})
            noms.append(sm.nominal)
            draws.append(sm.draws)
            names.append(SM_SAMPLE)
        histosys = self._ff_histosys(noms, draws)
        samples = []
        for i, name in enumerate(names):
            hs = {}
            for m, per in histosys.items():
                lo, hi = self._split(per[i][0]), self._split(per[i][1])
                hs[m] = {c: (lo[c], hi[c]) for c in lo}
            samples.append(SampleTemplate(
                name=name,
                nominal=self._split(noms[i]),
                histosys=hs,
                normfactor=POI if name == SIGNAL else None,
            ))
        emiss = self._emiss_block(scen, hyp, params, first, ref, br0, scale, raw.br)
        return PatchTemplate(name=hyp.name, values=hyp.values, samples=samples, emiss=emiss)

    def _ff_histosys(self, noms: list[np.ndarray], draws: list[np.ndarray | None])\
            -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        """Principal components of the form-factor variations, per family, of all samples.

        The draws of every sample use the same form factors (same index k), so one set of
        components per family describes them jointly: the modifiers ``ff_<tag>_pc<i>`` are
        shared across samples and channels. Each family's components come from its own block
        of draws (the other families central).

        Returns:
            modifier name -> per sample (lo, hi) flat arrays.
        """
        if not self.n_samples or all(d is None for d in draws):
            return {}
        n = self.n_samples
        mats = [d if d is not None else np.repeat(v[None, :], self.n_draws, axis=0)
                for v, d in zip(noms, draws, strict=True)]
        x_all = np.concatenate(mats, axis=1)
        sizes = np.cumsum([0] + [len(v) for v in noms])
        out: dict[str, list] = {}
        for f, fam in enumerate(self.families):
            x = x_all[f * n:(f + 1) * n]
            xc = (x - x.mean(axis=0)) / math.sqrt(n - 1)
            _, s, vt = np.linalg.svd(xc, full_matrices=False)
            tag = _KIND_TAG.get(fam, sanitize(fam))
            for i in range(min(FF_COMPONENTS, len(s))):
                if s[0] <= 0 or s[i] < FF_MIN_RELATIVE * s[0]:
                    break
                v = s[i] * vt[i]
                j = int(np.argmax(np.abs(v)))
                if v[j] < 0:
                    v = -v  # fixed sign convention: largest entry positive
                out[f"ff_{tag}_pc{i + 1}"] = [
                    (nv - v[sizes[k]:sizes[k + 1]], nv + v[sizes[k]:sizes[k + 1]])
                    for k, nv in enumerate(noms)]
        return out

    def _emiss_block(self, scen, hyp, params, first, ref, br0, scale, br_central) -> dict:
        coupling = getattr(scen, "coupling", None)
        block: dict[str, Any] = {
            "scenario": scen.name,
            "process": first,
            "reference_branching_ratio": _sig(ref),
            "coupling": None,
        }
        if coupling:
            known = dict(getattr(scen, "parameters", {}) or {})
            g = float(params.get(coupling, _default(known[coupling]) if coupling in known
                                 else float("nan")))
            block["coupling"] = {"name": coupling, "reference_value": _sig(g * math.sqrt(scale))}
        if len(self.processes) > 1:
            block["reference_branching_ratios"] = {
                p: _sig(br_central[p] * scale) for p in self.processes}
        if scen.name == "sm":
            block["predicted_branching_ratio"] = _sig(br0)
        if hyp.mass is not None:
            block["m_X"] = hyp.mass
        if params:
            block["parameters"] = {k: float(v) for k, v in sorted(params.items())}
        return block


def _sig(x: float, digits: int = 8) -> float:
    return float(f"{float(x):.{digits}g}")


# ------------------------------------------------------------------------------- public API
def describe(scen: Any, target: Target, labels: Sequence[str]) -> str:
    """PatchSet description saying what mu means."""
    mult = int(getattr(scen, "multiplicity", 1))
    first = target.processes()[0]
    if mult in (2, 3):
        mu = (f"mu = B({first.replace('->', ' -> ')} + invisible) / reference_branching_ratio "
              f"(patch metadata emiss block; {LIGHT_X_REFERENCE_BR:g}); the coupling at mu is "
              "coupling.reference_value * sqrt(mu). Sample 'sm_nunu' is the SM nu nubar "
              "prediction, fixed (no mu), with its form-factor uncertainty")
    elif scen.name == "sm":
        mu = (f"mu = B({first.replace('->', ' -> ')} nu nubar) / reference_branching_ratio "
              "(4.97e-6 for B+ -> K+, Belle II's short-distance SM normalisation)")
    else:
        mu = ("mu = B / reference_branching_ratio, the branching ratio the hypothesis predicts: "
              "mu = 1 is the hypothesis itself (mu < 1 at 95% CL excludes it)")
    return (f"emiss {scen.name} hypotheses ({', '.join(labels)}) for workspace {target.name}: "
            f"sample 'signal' with normfactor 'mu' in every channel measuring {first}; {mu}. "
            "Form-factor uncertainties: histosys ff_*_pc* (principal components of sampled "
            "form factors, shape only for 'signal'); efficiency systematics share the "
            "background modifiers' names. Yields from emiss (emulated Belle II-style response "
            "where the workspace says so).")


def build_patchset(
    target: Target,
    entry: GridEntry,
    n_samples: int = DEFAULT_FF_SAMPLES,
    seed: int = DEFAULT_FF_SEED,
    builder: TemplateBuilder | None = None,
    hepdata: str | None = None,
) -> dict:
    """One PatchSet for one grid entry on one workspace.

    Args:
        target: the workspace (``load_target``).
        entry: scenario, masses and parameters (``make_entry`` / ``load_grid``).
        n_samples: form-factor draws (0 switches form-factor systematics off).
        seed: seed of the draws.
        builder: reuse a TemplateBuilder (its caches) across entries.
        hepdata: INSPIRE reference (default: the workspace sidecar's).

    Returns:
        A schema-valid, digest-stamped PatchSet dict.
    """
    res = resolve_entry(entry)
    builder = builder or TemplateBuilder(target, n_samples=n_samples, seed=seed)
    if res.entry.masses is not None:
        check_masses(res.scenario, res.entry.masses, builder.processes)
    ref = hepdata or target.hepdata
    if not ref:
        raise EmissError(f"workspace {target.name!r} names no HEPData record; pass --hepdata "
                         "insNNNNNNN")
    templates = [builder.template(res, h) for h in res.hypotheses]
    meta = {
        "scenario": res.scenario.name,
        "workspace": target.name,
        "ff_samples": builder.n_samples,
        "ff_seed": builder.seed,
        "signal_sample": SIGNAL,
        "poi": POI,
    }
    return make_patchset(
        target.spec, templates, res.labels, describe(res.scenario, target, res.labels),
        ref, channel_modifiers=target.channel_modifiers, emiss_meta=meta,
    )


def sm_patch(bundle: Any, n_samples: int = DEFAULT_FF_SAMPLES, seed: int = DEFAULT_FF_SEED)\
        -> list[dict]:
    """JSON Patch operations adding the SM nu nubar signal (mu = 1 <-> B = 4.97e-6 for B+ -> K+).

    Used by ``emiss measure`` so that it and the committed SM patch agree.

    Args:
        bundle: ``emiss.bundles.Bundle`` (or a Target).
        n_samples: form-factor draws.
        seed: their seed.

    Returns:
        List of JSON Patch operations.
    """
    target = bundle if isinstance(bundle, Target) else target_from_bundle(bundle)
    res = resolve_entry(make_entry("sm"))
    builder = TemplateBuilder(target, n_samples=n_samples, seed=seed)
    t = builder.template(res, res.hypotheses[0])
    return sample_ops(target.spec, t.samples, target.channel_modifiers)


def write_patchset(path: str | os.PathLike, patchset: Mapping) -> Path:
    """Write a PatchSet as deterministic JSON, atomically."""
    return write_json(path, patchset)


def generate(
    workspace: str | os.PathLike | Target,
    entries: Sequence[GridEntry],
    n_samples: int = DEFAULT_FF_SAMPLES,
    seed: int = DEFAULT_FF_SEED,
    response: str | os.PathLike | None = None,
    hepdata: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict]:
    """PatchSets for several grid entries on one workspace (shared caches).

    Args:
        workspace: workspace path or Target.
        entries: grid entries.
        n_samples: form-factor draws.
        seed: their seed.
        response: response file overriding the sidecar's.
        hepdata: INSPIRE reference overriding the sidecar's.
        progress: called with each entry name when it is done.

    Returns:
        entry name -> PatchSet.
    """
    target = workspace if isinstance(workspace, Target) else load_target(
        workspace, response=response, hepdata=hepdata)
    builder = TemplateBuilder(target, n_samples=n_samples, seed=seed)
    resolved = [resolve_entry(e) for e in entries]  # fail early, before any work
    for r in resolved:
        if r.entry.masses is not None:
            check_masses(r.scenario, r.entry.masses, builder.processes)
    out = {}
    for e in entries:
        out[e.name] = build_patchset(target, e, builder=builder, hepdata=hepdata)
        if progress:
            progress(e.name)
    return out


__all__ = [
    "LIGHT_X_REFERENCE_BR",
    "SM_REFERENCE_BR",
    "Target",
    "TemplateBuilder",
    "build_patchset",
    "check_masses",
    "dumps_json",
    "fold_many",
    "generate",
    "load_target",
    "resolve_entry",
    "sm_patch",
    "target_from_bundle",
    "total_br",
    "validate_patchset",
    "write_patchset",
]
