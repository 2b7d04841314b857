"""Folded signal templates: hypothesis -> spectra -> yields per fit bin, with form-factor draws.

``TemplateBuilder.template`` turns one hypothesis into the ``signal`` sample (normfactor ``mu``)
and, for light X, the fixed ``sm_nunu`` SM sample, over every channel of the workspace that has
a response, normalised as ``emiss.patches.metadata`` states and with the form-factor
variations of ``emiss.patches.systematics``. Folding follows the channel kind
(``emiss.response.channels``): isotropic channels fold n_b (R @ bin integrals + lines via the
exact column); polarised channels (``KstarChannelResponse``: B -> K* binned in the K* helicity
angle) fold the longitudinal and transverse parts of a spectrum with their own matrices
(``continuum_long`` / ``lines_long``), so that the templates follow the hypothesis' F_L. The
same code serves K, K* and K + K* workspaces.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.patches import hypotheses
from emiss.patches.assemble import POI, PatchTemplate, SampleTemplate
from emiss.patches.grid import Hypothesis, sanitize
from emiss.patches.hypotheses import ResolvedEntry
from emiss.patches.metadata import LIGHT_X_REFERENCE_BR, emiss_block
from emiss.patches.systematics import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    FF_COMPONENTS,
    FF_TAGS,
    ff_histosys,
)
from emiss.patches.target import Target
from emiss.response import KstarChannelResponse

log = logging.getLogger(__name__)

#: Sample names.
SIGNAL = "signal"
SM_SAMPLE = "sm_nunu"


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
                 seed: int = DEFAULT_FF_SEED, cache: dict | None = None,
                 ctau_m: float | None = None) -> None:
        from emiss import validate

        if ctau_m is not None and not (ctau_m > 0):  # nan and <= 0 refused; inf = stable
            raise EmissError(f"--ctau {ctau_m!r} m: valid: a proper decay length > 0 (inf: "
                             "X never decays)")
        #: proper decay length c tau of a two-body X in m (None: X is invisible, P_inv = 1)
        self.ctau_m = ctau_m
        self.target = target
        self.n_samples = validate.FF_SAMPLES.check(n_samples, "n_samples")
        self.seed = validate.SEED.check(seed, "seed")
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
        self.kinds = {p: hypotheses.process(p).ff_kind for p in self.processes}
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

    @property
    def family(self) -> list[str]:
        """Hypothesis nuisances every patch of this workspace declares (one likelihood family).

        The form-factor components ``ff_<tag>_pc1..FF_COMPONENTS`` of every form-factor family
        of the workspace (when form-factor systematics are on) and the form-factor modifiers
        of the workspace's published SM samples (Belle II's ``corr_ff_c1..3``): a patch that
        lacks some declares them without effect (``emiss.patches.assemble.one_family``).
        """
        names = [f"ff_{FF_TAGS.get(fam, sanitize(fam))}_pc{i}"
                 for fam in self.families for i in range(1, FF_COMPONENTS + 1)
                 if self.n_samples]
        for c, sample in sorted(self.target.sm_samples.items()):
            carried = {m["name"] for m in self.target.channel_modifiers.get(c, ())}
            names += [m["name"] for m in sample["modifiers"] if m["type"] == "histosys"
                      and m["name"] not in carried and m["name"] not in names]
        return names

    # -- form factors
    def ff_samples(self, kind: str) -> list:
        """The fixed form-factor draws of one family (cached)."""
        if kind not in self._ff:
            self._ff[kind] = hypotheses.ff_samples(kind, self.n_samples, self.seed)
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
        ff = hypotheses.central_ff(kind) if i is None or i < 0 else self.ff_samples(kind)[i]
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
        published = self.target.sm_samples
        if published and mult == 1 and (is_sm or self._sm_shaped(raw)):
            # the workspace's own SM signal sample (Belle II's), scaled to the hypothesis
            # (the SM patch keeps the published sample names: it restores the likelihood exactly)
            factor = 1.0 if is_sm else ref / self.target.sm_reference.get(first, ref)
            samples = [self._published(None if is_sm else SIGNAL, factor, POI)]
        else:
            samples = self._folded(raw, scale, ref, mult, hyp, published)
        emiss = emiss_block(scen, hyp, params, self.processes, ref, br0, scale, raw.br)
        if self.ctau_m is not None and mult == 2:
            self._make_partly_invisible(samples, emiss, float(hyp.mass))
        return PatchTemplate(name=hyp.name, values=hyp.values, samples=samples, emiss=emiss)

    def _make_partly_invisible(self, samples: list[SampleTemplate], emiss: dict,
                               mass: float) -> None:
        """Scale the signal by P_inv, the probability that X escapes Belle II undecayed.

        mu = 1 still stands for B(B -> K X) = the reference; the yields are those of
        B * P_inv (``emiss.models.escape``: lifetime, boost at the Upsilon(4S), detector radius).
        """
        from emiss.models.escape import BELLE2_RADIUS_M, escape_probability

        resp = self.target.response.channels
        p_inv = {}
        for p in self.processes:
            proc = hypotheses.process(p)
            p_inv[p] = float(escape_probability(proc.m_B, proc.m_M, max(mass, 1e-9),
                                                self.ctau_m))
        for s in samples:
            if s.name != SIGNAL:
                continue
            for c in list(s.nominal):
                f = p_inv[resp[c].process]
                s.nominal[c] = s.nominal[c] * f
                for per in s.histosys.values():
                    if c in per:
                        per[c] = (per[c][0] * f, per[c][1] * f)
        emiss["P_inv"] = {p: float(f"{v:.8g}") for p, v in p_inv.items()}
        emiss["ctau_m"] = self.ctau_m
        emiss["detector_radius_m"] = BELLE2_RADIUS_M

    def _folded(self, raw: _Raw, scale: float, ref: float, mult: int, hyp: Hypothesis,
                published: Mapping[str, dict]) -> list[SampleTemplate]:
        """``signal`` from the folded spectrum (with form-factor components) and, for light X,
        the fixed SM sample: the workspace's published one when it has one, else folded."""
        noms = [raw.nominal * scale]
        draws = [None]
        if raw.draws is not None:
            if not np.all(raw.draw_br > 0):
                raise EmissError(f"hypothesis {hyp.name!r}: a form-factor draw gives B <= 0")
            # shape only: every draw keeps B(first process) = ref
            draws = [raw.draws * (ref / raw.draw_br)[:, None]]
        names = [SIGNAL]
        if mult in (2, 3) and not published:
            # the SM nu nubar at the SM patch's mu = 1 (one likelihood family: the SM-only point
            # of a light-X patch is the SM patch at mu = 1), with its full form-factor spread
            sm = self.raw(hypotheses.scenario("sm"), None, {})
            first = self.processes[0]
            k = self.target.sm_reference.get(first, sm.br[first]) / sm.br[first]
            noms.append(sm.nominal * k)
            draws.append(None if sm.draws is None else sm.draws * k)
            names.append(SM_SAMPLE)
        histosys = ff_histosys(noms, draws, self.families, self.n_samples)
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
        if mult in (2, 3) and published:
            samples.append(self._published(SM_SAMPLE, 1.0, None))
        return samples

    def _published(self, name: str | None, factor: float, normfactor: str | None
                   ) -> SampleTemplate:
        """The workspace's published SM signal samples (all their modifiers) times factor.

        Args:
            name: sample name (None: keep the published names, e.g. ``sgn_1_had``).
            factor: scale of all yields.
            normfactor: normfactor of the sample (None: fixed).
        """
        from emiss.patches.assemble import round_sig
        from emiss.patches.systematics import scaled_sample

        pub = {c: scaled_sample(self.target.sm_samples[c], factor,
                                name or self.target.sm_samples[c]["name"], normfactor, round_sig)
               for c in self.channels if c in self.target.sm_samples}
        return SampleTemplate(
            name=name or SIGNAL, normfactor=normfactor, published=pub,
            nominal={c: np.asarray(v["data"], dtype=float) for c, v in pub.items()},
            positions={c: self.target.sm_positions[c] for c in pub
                       if c in self.target.sm_positions})

    def _sm_shaped(self, raw: _Raw) -> bool:
        """Whether a hypothesis' folded yields are proportional to the SM ones (to 1e-9)."""
        sm = self.raw(hypotheses.scenario("sm"), None, {}).nominal
        a = np.asarray(raw.nominal, dtype=float)
        on = sm > 0
        if not np.any(on) or np.any(a[~on] != 0):
            return False
        ratio = a[on] / sm[on]
        return bool(np.max(np.abs(ratio / ratio.mean() - 1.0)) < 1e-9)
