"""Folded signal templates: hypothesis -> spectra -> yields per fit bin, with form-factor draws.

``TemplateBuilder.template`` turns one hypothesis into the ``signal`` sample (normfactor ``mu``)
and, for light X, the fixed ``sm_nunu`` SM sample, over every channel of the workspace that has
a response, normalised as ``emiss.patches.metadata`` states and with the form-factor
variations of ``emiss.patches.systematics``. Folding is the response stage's: each spectrum is
integrated over the true bins of its process' channels (``emiss.response.binned``: exact for the
nominal, one fast quadrature for the form-factor draws), cached per hypothesis, and every
channel folds it by its own kind (``ChannelResponse.fold_binned``, all draws at once), so the
same code serves K, K* and K + K* workspaces and any new channel kind.

A process without form factors (B_s -> invisible, one line at q^2 = m_Bs^2) is folded like any
other with the hypothesis' own spectrum of it; it belongs to no form-factor family, so its
draws are the central spectrum (its yields still follow the draws of the first process through
mu's normalisation). A hypothesis may predict 0 there (a scenario that cannot annihilate a
B_s): that channel then gets no signal, and the reason is logged once per scenario.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from emiss.bundles.bundle import Bundle
from emiss.errors import EmissError
from emiss.io import round_sig
from emiss.names import POI, SIGNAL_SAMPLE, SM_SAMPLE
from emiss.patches import hypotheses
from emiss.patches.assemble import PatchTemplate, SampleTemplate, round_yields
from emiss.patches.grid import Hypothesis, sanitize
from emiss.patches.hypotheses import ResolvedEntry
from emiss.patches.metadata import LIGHT_X_REFERENCE_BR, emiss_block
from emiss.patches.systematics import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    FF_COMPONENTS,
    FF_TAGS,
    SM_NORM,
    ff_histosys,
    sm_norm_relative,
)
from emiss.response import Response
from emiss.response.binned import Binned, DrawQuadrature, integrate, parts_of, total_br

if TYPE_CHECKING:  # types only: the physics calls go through emiss.patches.hypotheses
    from emiss.physics.formfactors import FormFactors
    from emiss.physics.scenarios import Scenario
    from emiss.physics.spectrum import Spectrum

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- templates
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

    def drawn(self) -> tuple[np.ndarray, np.ndarray]:
        """(draws, draw_br) of yields that have form-factor draws (both are set together)."""
        assert self.draws is not None and self.draw_br is not None
        return self.draws, self.draw_br

    def combine(self, others: Sequence[tuple[float, _Raw]], c0: float) -> _Raw:
        """c0 * self + sum c_i * raw_i (the fold is linear in the spectrum)."""
        nom = c0 * self.nominal + sum(c * r.nominal for c, r in others)
        br = {p: c0 * v + sum(c * r.br[p] for c, r in others) for p, v in self.br.items()}
        draws: np.ndarray | None = None
        draw_br: np.ndarray | None = None
        if self.draws is not None:
            d0, b0 = self.drawn()
            rest = [(c, r.drawn()) for c, r in others]
            draws = c0 * d0 + sum(c * d for c, (d, _) in rest)
            draw_br = c0 * b0 + sum(c * b for c, (_, b) in rest)
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

    def __init__(self, target: Bundle, n_samples: int = DEFAULT_FF_SAMPLES,
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
        self.channels = target.channels()
        self.processes = target.processes()
        if not self.channels:
            raise EmissError(f"workspace {target.name!r}: no channel has a response")
        self.response: Response = target.require_response()
        # the sidecar's data (a Bundle fills each in when it is made)
        self.sm_reference: dict[str, float] = target.sm_reference or {}
        self.sm_samples: dict[str, dict] = target.sm_samples or {}
        self.sm_positions: dict[str, int] = target.sm_positions or {}
        resp = self.response.channels
        self.by_process = {p: [c for c in self.channels if resp[c].process == p]
                           for p in self.processes}
        # form-factor family of each process ("" for a process without form factors)
        self.kinds = {p: hypotheses.process(p).ff_kind for p in self.processes}
        self._quad = {p: DrawQuadrature([resp[c].true_edges for c in self.by_process[p]])
                      for p in self.processes}
        #: spectrum parts each process' channels fold (K* helicity channels: the
        #: longitudinal part too; ``emiss.response.binned.PARTS``)
        self.parts = {p: parts_of([resp[c].parts for c in self.by_process[p]])
                      for p in self.processes}
        #: form-factor families, varied one at a time (draw k varies families[k // n_samples])
        self.families = sorted(set(self.kinds.values()) - {""})
        self.n_draws = self.n_samples * len(self.families)
        self._ff: dict[str, list[FormFactors]] = {}
        self._raw_cache: dict[tuple, _Raw] = {}
        #: (scenario, process) pairs whose zero rate has been logged
        self._zero_logged: set[tuple[str, str]] = set()

    @property
    def folds_sm(self) -> bool:
        """Whether light-X patches carry an SM nu nubar sample emiss folds itself (no published
        SM samples, and a first process with an SM rate), with its normalisation ``SM_NORM``."""
        return not self.sm_samples and hypotheses.process(self.processes[0]).has_form_factors

    @property
    def family(self) -> list[str]:
        """Hypothesis nuisances every patch of this workspace declares (one likelihood family).

        The form-factor components ``ff_<tag>_pc1..FF_COMPONENTS`` of every form-factor family
        of the workspace (when form-factor systematics are on), the normalisation ``SM_NORM``
        of an SM sample emiss folds (``folds_sm``) and the form-factor modifiers of the
        workspace's published SM samples (Belle II's ``corr_ff_c1..3``): a patch that lacks
        some declares them without effect (``emiss.patches.assemble.one_family``).
        """
        names = [f"ff_{FF_TAGS.get(fam, sanitize(fam))}_pc{i}"
                 for fam in self.families for i in range(1, FF_COMPONENTS + 1)
                 if self.n_samples]
        if self.folds_sm:
            names.append(SM_NORM)
        for c, sample in sorted(self.sm_samples.items()):
            carried = {m["name"] for m in self.target.signal_modifiers(c)}
            names += [m["name"] for m in sample["modifiers"] if m["type"] == "histosys"
                      and m["name"] not in carried and m["name"] not in names]
        return names

    # -- form factors
    def ff_samples(self, kind: str) -> list[FormFactors]:
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

    def _spectrum(self, scen: Scenario, proc: str, mass: float | None, params: dict,
                  k: int | None) -> Spectrum:
        kind = self.kinds[proc]
        if not kind:  # no form factors (B_s -> invisible): the scenario's own spectrum
            return scen.spectrum(proc, mass=mass, params=params)
        i = self._draw_index(proc, k)
        ff = hypotheses.central_ff(kind) if i is None or i < 0 else self.ff_samples(kind)[i]
        return scen.spectrum(proc, mass=mass, params=params, ff=ff)

    def _integrals(self, scen: Scenario, proc: str, mass: float | None, params: Mapping,
                   k: int | None) -> tuple[list[Binned], float]:
        """The fold's input per channel of the process and the total B of one spectrum (cached).

        k None: central form factors, the exact arithmetic of ``Response.fold``
        (``emiss.response.binned.integrate``); k = draw index: the fast quadrature
        (``emiss.response.binned.DrawQuadrature``). Each channel's kind says which spectrum
        parts it needs (``ChannelResponse.parts``).

        Returns:
            (one Binned per channel of ``by_process[proc]``, total branching ratio).
        """
        chans = [self.response.channels[c] for c in self.by_process[proc]]
        parts = self.parts[proc]
        i = self._draw_index(proc, k)
        base = (scen.name, proc, mass, tuple(sorted(params.items())), i, self.n_samples,
                self.seed, parts)
        spec = None
        if k is None:  # exact integrals, cached per true-edge array
            binned, total = [], 0.0
            for cr in chans:
                key = (*base, cr.true_edges.tobytes())
                hit = self.cache.get(key)
                if hit is None:
                    spec = spec or self._spectrum(scen, proc, mass, dict(params), k)
                    for c in chans:
                        c.check_spectrum(spec)
                    hit = self.cache[key] = (integrate(spec, cr.true_edges, parts),
                                             total_br(spec))
                binned.append(hit[0])
                total = hit[1]
            return binned, total
        quad = self._quad[proc]  # fast quadrature pieces on the union grid
        key = (*base, quad.union.tobytes())
        hit = self.cache.get(key)
        if hit is None:
            spec = self._spectrum(scen, proc, mass, dict(params), k)
            for c in chans:
                c.check_spectrum(spec)
            hit = self.cache[key] = quad.pieces(spec, parts)
        return quad.binned(hit), hit.total

    def _fold_nominal(self, scen: Scenario, proc: str, mass: float | None, params: Mapping
                      ) -> tuple[np.ndarray, float, bool]:
        """Yields over the process' channels (concatenated), B, and whether there is a continuum
        (central form factors)."""
        binned, total = self._integrals(scen, proc, mass, params, None)
        resp = self.response.channels
        blocks = [resp[c].fold_binned(b) for c, b in zip(self.by_process[proc], binned,
                                                         strict=True)]
        return np.concatenate(blocks), total, any(np.any(b.continuum["total"]) for b in binned)

    def _fold_draws(self, scen: Scenario, proc: str, mass: float | None, params: Mapping
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Yields of every form-factor draw over the process' channels, all draws folded at once.

        Returns:
            (yields (n_draws, channel bins concatenated), branching ratio per draw (n_draws,)).
        """
        per_draw = [self._integrals(scen, proc, mass, params, k) for k in range(self.n_draws)]
        resp = self.response.channels
        blocks = [resp[c].fold_binned(Binned.stack([b[j] for b, _ in per_draw]))
                  for j, c in enumerate(self.by_process[proc])]
        return np.concatenate(blocks, axis=1), np.array([t for _, t in per_draw])

    def _split(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for p in self.processes:
            for c in self.by_process[p]:
                n = self.response.channels[c].n_reco
                out[c] = flat[..., i:i + n]
                i += n
        return out

    def raw(self, scen: Scenario, mass: float | None, params: Mapping[str, float]) -> _Raw:
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

    def _raw_direct(self, scen: Scenario, mass: float | None, params: Mapping[str, float]) -> _Raw:
        key = (scen.name, mass, tuple(sorted(params.items())))
        if key in self._raw_cache:
            return self._raw_cache[key]
        noms, br = [], {}
        has_continuum = False
        for p in self.processes:
            y, b, cont = self._fold_nominal(scen, p, mass, params)
            noms.append(y)
            br[p] = b
            has_continuum |= cont
        nominal = np.concatenate(noms)
        draws = draw_br = None
        if self.n_samples and (len(self.processes) > 1 or has_continuum):
            folded = [self._fold_draws(scen, p, mass, params) for p in self.processes]
            draws = np.concatenate([y for y, _ in folded], axis=1)
            draw_br = folded[0][1]
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
            ref = self.sm_reference.get(first, br0)
        else:
            ref = br0
        scale = ref / br0
        published = self.sm_samples
        if published and mult == 1 and (is_sm or self._sm_shaped(raw)):
            # the workspace's own SM signal sample (Belle II's), scaled to the hypothesis
            # (the SM patch keeps the published sample names: it restores the likelihood exactly)
            factor = 1.0 if is_sm else ref / self.sm_reference.get(first, ref)
            samples = [self._published(None if is_sm else SIGNAL_SAMPLE, factor, POI)]
        else:
            samples = self._folded(raw, scale, ref, mult, hyp, published)
        # processes the hypothesis predicts nothing in (B_s -> invisible of a tensor current,
        # of a single X, ...) get no signal and no reference branching ratio
        predicted = [p for p in self.processes if p == first or raw.br[p] > 0]
        self._log_zero_rates(scen, hyp, params, [p for p in self.processes
                                                 if p not in predicted])
        emiss = emiss_block(scen, hyp, params, predicted, ref, br0, scale, raw.br)
        if self.ctau_m is not None and mult == 2 and hyp.mass is not None:
            self._make_partly_invisible(samples, emiss, float(hyp.mass), self.ctau_m)
        return PatchTemplate(name=hyp.name, values=hyp.values, samples=samples, emiss=emiss)

    def _log_zero_rates(self, scen: Scenario, hyp: Hypothesis, params: Mapping[str, float],
                        procs: Sequence[str]) -> None:
        """Log once per scenario and process why a hypothesis puts no signal there."""
        for p in procs:
            if (scen.name, p) in self._zero_logged:
                continue
            self._zero_logged.add((scen.name, p))
            reason = self._spectrum(scen, p, hyp.mass, dict(params), None).meta.get("reason")
            log.info("scenario %r predicts B(%s) = 0, no signal in its channels%s", scen.name,
                     p, f": {reason}" if reason else "")

    def _make_partly_invisible(self, samples: list[SampleTemplate], emiss: dict,
                               mass: float, ctau_m: float) -> None:
        """Scale the signal by P_inv, the probability that X escapes Belle II undecayed.

        mu = 1 still stands for B(B -> K X) = the reference; the yields are those of
        B * P_inv (``emiss.models.escape``: lifetime, boost at the Upsilon(4S), detector radius).
        """
        from emiss.models.escape import BELLE2_RADIUS_M, escape_probability

        resp = self.response.channels
        p_inv = {}
        for p in self.processes:
            proc = hypotheses.process(p)
            if not proc.has_form_factors:  # B_s -> invisible: no single X there, no signal
                continue
            p_inv[p] = float(escape_probability(proc.m_B, proc.m_M, max(mass, 1e-9), ctau_m))
        for s in samples:
            if s.name != SIGNAL_SAMPLE:
                continue
            for c in list(s.nominal):
                f = p_inv.get(resp[c].process, 1.0)
                s.nominal[c] = s.nominal[c] * f
                for per in s.histosys.values():
                    if c in per:
                        per[c] = (per[c][0] * f, per[c][1] * f)
        emiss["P_inv"] = {p: round_sig(v, 8, flush=False) for p, v in p_inv.items()}
        emiss["ctau_m"] = ctau_m
        emiss["detector_radius_m"] = BELLE2_RADIUS_M

    def _folded(self, raw: _Raw, scale: float, ref: float, mult: int, hyp: Hypothesis,
                published: Mapping[str, dict]) -> list[SampleTemplate]:
        """``signal`` from the folded spectrum (with form-factor components) and, for light X,
        the fixed SM sample: the workspace's published one when it has one, else folded.

        A folded fixed SM sample (``sm_nunu`` of light X) carries the SM prediction's
        normalisation ``SM_NORM``; the SM patch does not (its mu measures the SM-shaped rate,
        as Belle II's signal strength does) and declares it without effect."""
        noms = [raw.nominal * scale]
        draws: list[np.ndarray | None] = [None]
        if raw.draws is not None:
            d, d_br = raw.drawn()
            if not np.all(d_br > 0):
                raise EmissError(f"hypothesis {hyp.name!r}: a form-factor draw gives B <= 0")
            # shape only: every draw keeps B(first process) = ref
            draws = [d * (ref / d_br)[:, None]]
        names = [SIGNAL_SAMPLE]
        if mult in (2, 3) and not published:
            # the SM nu nubar at the SM patch's mu = 1 (one likelihood family: the SM-only point
            # of a light-X patch is the SM patch at mu = 1), with its full form-factor spread
            sm = self.raw(hypotheses.scenario("sm"), None, {})
            first = self.processes[0]
            if sm.br[first] > 0:  # (a B_s -> invisible workspace alone has no SM rate)
                k = self.sm_reference.get(first, sm.br[first]) / sm.br[first]
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
            nominal = self._split(noms[i])
            if name == SM_SAMPLE:  # the SM prediction's CKM x X_t normalisation
                r = sm_norm_relative()
                hs[SM_NORM] = {c: (v * (1.0 - r), v * (1.0 + r)) for c, v in nominal.items()}
            samples.append(SampleTemplate(
                name=name,
                nominal=nominal,
                histosys=hs,
                normfactor=POI if name == SIGNAL_SAMPLE else None,
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
        from emiss.patches.systematics import scaled_sample

        pub = {c: scaled_sample(self.sm_samples[c], factor,
                                name or self.sm_samples[c]["name"], normfactor,
                                round_yields)
               for c in self.channels if c in self.sm_samples}
        return SampleTemplate(
            name=name or SIGNAL_SAMPLE, normfactor=normfactor, published=pub,
            nominal={c: np.asarray(v["data"], dtype=float) for c, v in pub.items()},
            positions={c: self.sm_positions[c] for c in pub
                       if c in self.sm_positions})

    def _sm_shaped(self, raw: _Raw) -> bool:
        """Whether a hypothesis' folded yields are proportional to the SM ones (to 1e-9)."""
        sm = self.raw(hypotheses.scenario("sm"), None, {}).nominal
        a = np.asarray(raw.nominal, dtype=float)
        on = sm > 0
        if not np.any(on) or np.any(a[~on] != 0):
            return False
        ratio = a[on] / sm[on]
        return bool(np.max(np.abs(ratio / ratio.mean() - 1.0)) < 1e-9)
