"""Posteriors over patch grids: per-patch posteriors of B, evidences, the joint (m_X, B) posterior.

The mass dimension is discrete (the patches of a patchset, label ``m_X``). For each grid point the
posterior of B and the nuisances is sampled (:mod:`emiss.inference.posterior`) and its evidence
Z_i computed by bridge sampling (:mod:`emiss.inference.bayes`); the joint posterior is the
mixture p(m_i, B) = w_i Z_i p(B | m_i) / sum_j w_j Z_j with the prior weights w_i of
:func:`emiss.inference.bayes.mass_weights` (flat or log in m). Its B marginal is the mixture of
the per-point draws (resampled in proportion to the posterior weights), its m_X marginal the
piecewise-constant density p_i / (cell width) on the grid cells.

Grid points whose Laplace-approximated weight w_i Z_i is below ``min_weight`` (default 1e-4) of
the best point's are not sampled: their evidence is the Laplace approximation shifted by the mean
(bridge - Laplace) difference of the sampled points (flagged; they change the mass posterior by
about that fraction each).

Scenarios: every patchset gives one scenario (its patches' ``emiss.scenario``); a patchset
without a mass label and with one patch (the SM-shaped ``sm`` patch) gives "rescaled SM" (B free).
The reference "sm-only" is the SM prediction with nothing free but the nuisances: the ``sm``
patch at mu = 1 when one is given, else a light-X patch at mu = 0 (its SM nu nu-bar sample is
fixed at the prediction, docs/interfaces.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from emiss import validate
from emiss.errors import EmissError
from emiss.inference.bayes import (
    bayes_factor_table,
    combine_grid,
    evidence,
    mass_weights,
)
from emiss.inference.fastmodel import FastBackground, UnsupportedSpec
from emiss.inference.posterior import (
    SAMPLERS,
    PosteriorRun,
    PosteriorSetup,
    central_interval,
    hpd_interval,
    kde_mode,
    laplace,
    laplace_ln_evidence,
    sample_posterior,
    summarise,
)
from emiss.io import round_sig
from emiss.names import POI

log = logging.getLogger(__name__)


class SamplerSettings(TypedDict):
    """The sampler settings of a grid (``sample_posterior``) and the seed of its draws."""

    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int

FORMAT = "emiss-posterior/1"
SIG = 6  # significant digits written
SM_SCENARIOS = ("sm",)
DEFAULT_BR_MAX = 1e-4
#: Points below this Laplace weight relative to the best one are not sampled.
DEFAULT_MIN_WEIGHT = 1e-4
#: ln Z error assigned to a Laplace evidence (a factor e; such points carry < 1e-4 weight).
LAPLACE_LN_Z_ERROR = 1.0


def _r(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [_r(v) for v in x]
    if isinstance(x, Mapping):
        return {k: _r(v) for k, v in x.items()}
    if isinstance(x, (bool, str, int)) and not isinstance(x, float):
        return x
    return round_sig(float(x), SIG, nonfinite="none")


def mass_summary(masses: np.ndarray, probs: np.ndarray, weights_prior: np.ndarray,
                 prior: str) -> dict[str, Any]:
    """Mode, median, central and HPD intervals of the m marginal on grid cells.

    The density is piecewise constant: p_i / (hi_i - lo_i) on cell i (cells end half-way
    between neighbours; the outer cells are symmetric about their point, the lowest one
    cut at m = 0). Quantiles are
    interpolated linearly inside a cell; the HPD region is the union of the highest-density
    cells reaching the credibility (reported by its extent and whether it is one interval).

    Args:
        masses: grid (increasing).
        probs: posterior probabilities of the points.
        weights_prior: prior weights (for the record).
        prior: "flat" or "log".

    Returns:
        Summary dict; with a single grid point no intervals, ``single_point`` true and a
        ``note`` saying why.
    """
    m = np.asarray(masses, float)
    p = np.asarray(probs, float)
    if m.size == 1:  # one hypothesis: the mass is fixed, there is no interval over it
        return {"mode": float(m[0]), "median": float(m[0]), "mean": float(m[0]),
                "single_point": True,
                "note": f"one grid point (m = {float(m[0]):g}): the mass is fixed by the "
                        "hypothesis, so there is no credible interval over the mass; give "
                        "several patches of the patchset for a mass posterior",
                "probabilities": p.tolist(),
                "prior_weights": np.asarray(weights_prior, float).tolist(), "prior": prior}
    mid = 0.5 * (m[1:] + m[:-1])
    # a mass is never negative: the lowest cell stops at m = 0
    lo = np.concatenate([[max(0.0, m[0] - (mid[0] - m[0]))], mid])
    hi = np.concatenate([mid, [m[-1] + (m[-1] - mid[-1])]])
    dens = p / (hi - lo)
    cdf = np.concatenate([[0.0], np.cumsum(p)])
    edges = np.concatenate([lo[:1], hi])

    def quantile(q: float) -> float:
        return float(np.interp(q, cdf, edges))

    out: dict[str, Any] = {"mode": float(m[int(np.argmax(dens))]), "median": quantile(0.5),
                           "mean": float(np.sum(p * m))}
    for cl, tag in ((0.6827, "68"), (0.95, "95")):
        out[f"central_{tag}"] = [quantile((1 - cl) / 2), quantile((1 + cl) / 2)]
        order = np.argsort(-dens, kind="stable")
        k = int(np.searchsorted(np.cumsum(p[order]), cl)) + 1
        sel = np.sort(order[:k])
        out[f"hpd_{tag}"] = [float(lo[sel[0]]), float(hi[sel[-1]])]
        out[f"hpd_{tag}_points"] = [float(m[sel[0]]), float(m[sel[-1]])]
        out[f"hpd_{tag}_contiguous"] = bool(np.all(np.diff(sel) == 1))
    out["probabilities"] = p.tolist()
    out["prior_weights"] = np.asarray(weights_prior, float).tolist()
    out["prior"] = prior
    return out


def _draws_br(run: PosteriorRun, ref_br: float) -> np.ndarray:
    return run.poi() * ref_br


def _shift_laplace_evidences(points: list[dict[str, Any]],
                             runs: Sequence[tuple[PosteriorRun | None, float]]) -> None:
    """Add the mean (bridge - Laplace) ln Z difference of the sampled points to the others.

    The Laplace approximation misses the truncation of wide nuisance priors (a common offset,
    ~0.2 per N(1, 1) factor cut at 0).

    Args:
        points: the grid points (``ln_z``, ``ln_z_laplace``), updated in place.
        runs: (run or None when not sampled, B at mu = 1) per point.
    """
    diffs = [p["ln_z"] - p["ln_z_laplace"] for p, (r, _) in zip(points, runs, strict=True)
             if r is not None]
    if diffs:
        off = float(np.mean(diffs))
        for p, (r, _) in zip(points, runs, strict=True):
            if r is None:
                p["ln_z"] = p["ln_z_laplace"] + off
                p["laplace_offset"] = off


def _count_parameters(spec: Mapping[str, Any]) -> int:
    """Parameters of a workspace's model (per-bin modifiers count once per bin)."""
    per_bin = ("staterror", "shapesys", "shapefactor")
    pars: dict[tuple, int] = {}
    for ch in spec.get("channels", []):
        n_bins = len(ch["samples"][0]["data"]) if ch.get("samples") else 0
        for sample in ch.get("samples", []):
            for mod in sample.get("modifiers", []):
                if mod.get("type") in per_bin:
                    pars[(mod.get("name"), ch.get("name"))] = n_bins
                else:
                    pars[(mod.get("name"),)] = 1
    return sum(pars.values())


class PosteriorGrid:
    """Posteriors and evidences of the patches of one or more patchsets on one workspace.

    Args:
        workspace_spec: background-only workspace.
        br_max: upper end of the flat prior in B.
        mass_prior: "flat" or "log" (in m_X).
        sampler, draws, tune, chains, seed: sampler settings (see ``sample_posterior``).
        label: the mass label.
        min_weight: grid points whose Laplace-approximated posterior weight is below this
            fraction of the best point's are not sampled (their evidence is the Laplace one,
            flagged); 0 samples every point.
    """

    def __init__(self, workspace_spec: Mapping[str, Any], *, br_max: float = DEFAULT_BR_MAX,
                 mass_prior: str = "flat", sampler: str = "nuts", draws: int = 1000,
                 tune: int = 500, chains: int = 4, seed: int = 0, label: str = "m_X",
                 poi: str = POI, min_weight: float = DEFAULT_MIN_WEIGHT) -> None:
        br_max = validate.BR_MAX.check(br_max, "br_max")  # every number before any work
        draws = validate.DRAWS.check(draws, "draws")
        tune = validate.TUNE.check(tune, "tune")
        chains = validate.CHAINS.check(chains, "chains")
        seed = validate.SEED.check(seed, "seed")
        min_weight = validate.MIN_WEIGHT.check(min_weight, "min_weight")
        if sampler not in SAMPLERS:
            raise EmissError(f"sampler {sampler!r} is unknown; valid: {', '.join(SAMPLERS)}")
        if mass_prior not in ("flat", "log"):
            raise EmissError(f"mass prior {mass_prior!r} is unknown; valid: flat, log")
        try:
            self.bkg = FastBackground(dict(workspace_spec), poi=poi)
        except UnsupportedSpec as exc:
            raise EmissError(f"the fast engine cannot handle this workspace: {exc}") from None
        n_pars = _count_parameters(workspace_spec) + 1  # the nuisances and mu
        size = 8 * chains * (draws + tune) * n_pars  # the chains of one hypothesis, float64
        if size > validate.MAX_CHAIN_BYTES:
            raise EmissError(
                f"--chains {chains} x (--draws {draws} + --tune {tune}) x {n_pars} parameters "
                f"would hold about {size / 1e9:.1f} GB of draws per hypothesis; at most "
                f"{validate.MAX_CHAIN_BYTES / 1e9:.1f} GB: use fewer draws or chains (1000 "
                "draws x 4 chains already give R-hat and ESS), or run seeds separately")
        self.br_max = float(br_max)
        self.mass_prior = mass_prior
        self.settings: SamplerSettings = {"sampler": sampler, "draws": int(draws),
                                          "tune": int(tune), "chains": int(chains),
                                          "seed": int(seed)}
        self.label = label
        if not 0.0 <= min_weight < 1.0:
            raise EmissError(f"--min-weight {min_weight!r}: must be in [0, 1)")
        self.min_weight = float(min_weight) if min_weight > 0 else 1e-300
        self._k = 0

    def _next_seed(self) -> int:
        self._k += 1
        return self.settings["seed"] * 1000003 + self._k

    def setup_patch(self, patch_ops: list, ref_br: float, poi_fixed: float | None = None
                    ) -> PosteriorSetup:
        """The posterior setup of one hypothesis."""
        try:
            fm = self.bkg.with_patch(patch_ops)
        except UnsupportedSpec as exc:
            raise EmissError(f"the fast engine cannot handle a patch: {exc}") from None
        return PosteriorSetup(fm, ref_br, None if poi_fixed is not None else self.br_max,
                              poi_fixed)

    def run_patch(self, patch_ops: list, ref_br: float, poi_fixed: float | None = None,
                  lap: tuple | None = None) -> tuple[PosteriorRun, dict[str, Any]]:
        """Sample one hypothesis and compute its evidence.

        Args:
            patch_ops: JSON Patch ops.
            ref_br: B at mu = 1.
            poi_fixed: fix mu (no B prior) or None.

        Returns:
            (run, {"ln_z", "ln_z_error", ..., "diagnostics", "B" summary when mu is free}).
        """
        setup = self.setup_patch(patch_ops, ref_br, poi_fixed)
        fm = setup.fm
        s = self._next_seed()
        st = self.settings
        run = sample_posterior(setup, sampler=st["sampler"], draws=st["draws"], tune=st["tune"],
                               chains=st["chains"], seed=s, laplace_result=lap)
        ev = evidence(run, seed=s)
        out: dict[str, Any] = {"ln_z": ev["ln_z"], "ln_z_error": ev["ln_z_error"],
                               "bridge": {k: ev[k] for k in ("n_posterior", "n_proposal",
                                                               "iterations")},
                               "diagnostics": run.diagnostics,
                               "mode_laplace_B": float(run.mode[np.searchsorted(
                                   setup.index, fm.poi_index)] * ref_br)
                               if poi_fixed is None else None}
        if poi_fixed is None:
            out["B"] = summarise(_draws_br(run, ref_br), lower=0.0)
        return run, out

    def run(self, patchsets: Sequence[Mapping[str, Any]], selected: Sequence[Sequence[int]]
            ) -> dict[str, Any]:
        """Posteriors of every selected patch, grouped into scenarios, and Bayes factors.

        Args:
            patchsets: PatchSet dicts (checked against the workspace by the caller).
            selected: patch indices per patchset.

        Returns:
            The posterior document (without digests; see :func:`posterior_document`).
        """
        from emiss.inference.results import patch_emiss_meta

        scenarios = []
        draws_by_scen: dict[str, Any] = {}
        sm_patch = None
        lightx_patch = None
        for i, (ps, idx) in enumerate(zip(patchsets, selected, strict=True)):
            if not idx:
                continue
            labels = list(ps["metadata"].get("labels", []))
            metas = [(j, ps["patches"][j]["metadata"]) for j in idx]
            blocks = {j: patch_emiss_meta(m) for j, m in metas}
            names = {b.scenario for b in blocks.values()}
            if len(names) != 1:
                raise EmissError(f"patchset #{i + 1} mixes scenarios {sorted(names)}; one "
                                 "scenario per patchset is needed")
            scen = names.pop()
            if scen in SM_SCENARIOS:
                if len(idx) != 1:
                    raise EmissError(f"patchset #{i + 1} ({scen}) has {len(idx)} patches; "
                                     "select one with --names")
                j = idx[0]
                sm_patch = (ps["patches"][j]["patch"], blocks[j])
                entry, draws_by_scen["rescaled-sm"] = self._run_rescaled_sm(
                    i, ps["patches"][j]["patch"], metas[0][1]["name"],
                    blocks[j].reference_branching_ratio)
                scenarios.append(entry)
                continue
            if labels != [self.label]:
                raise EmissError(f"patchset #{i + 1} ({scen}) has labels {labels}; the posterior "
                                 f"needs a mass grid with the single label {self.label!r} "
                                 "(or the one-patch 'sm' patchset)")
            entry, draws_by_scen[scen], first = self._run_mass_grid(i, ps, scen, metas, blocks)
            if lightx_patch is None:
                lightx_patch = first
            scenarios.append(entry)
        if not scenarios:
            raise EmissError("no patches selected")
        # reference: SM only
        if sm_patch is not None:
            _, ref_res = self.run_patch(sm_patch[0], 1.0, poi_fixed=1.0)
            ref_desc = "sm patch at mu = 1 (nuisances marginalised)"
        elif lightx_patch is not None:
            _, ref_res = self.run_patch(lightx_patch[0], 1.0, poi_fixed=0.0)
            ref_desc = "light-X patch at mu = 0: the SM nu nu-bar sample at its prediction"
        else:  # pragma: no cover - scenarios is non-empty
            raise EmissError("no reference")
        doc = self._document(scenarios, ref_desc, ref_res)
        self.draws = draws_by_scen
        return doc

    def _run_rescaled_sm(self, i: int, patch_ops: list, name: str, ref: float
                         ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The "rescaled SM" scenario: the one-patch SM patchset with B free.

        Args:
            i: index of the patchset.
            patch_ops: the SM patch.
            name: its name.
            ref: B at mu = 1.

        Returns:
            (scenario entry, its draws of B).
        """
        log.info("posterior: rescaled SM (%s)", name)
        run, res = self.run_patch(patch_ops, ref)
        res.update({"name": name})
        entry = {"scenario": "rescaled-sm", "patchset": i, "points": [res],
                 "ln_z": res["ln_z"], "ln_z_error": res["ln_z_error"], "B": res["B"]}
        return entry, {"single": _draws_br(run, ref)}

    def _run_mass_grid(self, i: int, ps: Mapping[str, Any], scen: str,
                       metas: list[tuple[int, Any]], blocks: Mapping[int, Any]
                       ) -> tuple[dict[str, Any], dict[str, Any], tuple[list, Any]]:
        """One scenario on a mass grid: Laplace evidences, sampled points, the mixture.

        Args:
            i: index of the patchset.
            ps: the PatchSet.
            scen: its scenario.
            metas: (patch index, patch metadata) of the selected patches.
            blocks: patch index -> its ``emiss`` block.

        Returns:
            (scenario entry, its masses, probabilities and draws, (patch, block) of the lightest
            point).
        """
        masses = np.array([float(m["values"][0]) for _, m in metas])
        order = np.argsort(masses, kind="stable")
        masses = masses[order]
        w = mass_weights(masses, self.mass_prior)
        # pass 1: Laplace evidences; points far below the best are not sampled
        laps, lz_lap = [], []
        for k in order:
            j, meta = metas[k]
            ref = blocks[j].reference_branching_ratio
            setup = self.setup_patch(ps["patches"][j]["patch"], ref)
            lap = laplace(setup)
            laps.append(lap)
            lz_lap.append(laplace_ln_evidence(setup, lap[1], lap[2], lap[0]))
        rel = np.log(w) + np.array(lz_lap)
        rel -= rel.max()
        points: list[dict[str, Any]] = []
        runs: list[tuple[PosteriorRun | None, float]] = []
        for kk, k in enumerate(order):
            j, meta = metas[k]
            ref = blocks[j].reference_branching_ratio
            base = {"name": meta["name"], self.label: float(meta["values"][0]),
                    "reference_branching_ratio": ref,
                    "ln_z_laplace": float(lz_lap[kk])}
            if rel[kk] < math.log(self.min_weight):
                log.info("posterior: %s %s = %g not sampled (Laplace weight %.2g)", scen,
                         self.label, float(meta["values"][0]), math.exp(rel[kk]))
                base.update({"ln_z": float(lz_lap[kk]), "ln_z_error": LAPLACE_LN_Z_ERROR,
                             "evidence_method": "laplace (not sampled: weight below "
                             f"{self.min_weight:g} of the best point)"})
                points.append(base)
                runs.append((None, ref))
                continue
            log.info("posterior: %s %s = %g", scen, self.label, float(meta["values"][0]))
            run, res = self.run_patch(ps["patches"][j]["patch"], ref, lap=laps[kk])
            res.update(base)
            res["evidence_method"] = "bridge sampling"
            points.append(res)
            runs.append((run, ref))
        _shift_laplace_evidences(points, runs)
        comb = combine_grid([p["ln_z"] for p in points], [p["ln_z_error"] for p in points], w)
        probs = np.asarray(comb["posterior_weights"])
        for p, pr, wi in zip(points, probs, w, strict=True):
            p["posterior_probability"] = float(pr)
            p["prior_weight"] = float(wi)
        draws = [_draws_br(r, ref) if r is not None else np.zeros(0) for r, ref in runs]
        mix = self._mixture(draws, probs)
        entry = {"scenario": scen, "patchset": i, "label": self.label, "points": points,
                 "ln_z": comb["ln_z"], "ln_z_error": comb["ln_z_error"],
                 "mass": mass_summary(masses, probs, w, self.mass_prior),
                 "B": summarise(mix, lower=0.0),
                 "joint_mode": self._joint_mode(masses, probs, runs),
                 "n_sampled": sum(r is not None for r, _ in runs)}
        j0 = metas[order[0]][0]
        return (entry, {"masses": masses, "probs": probs, "draws": draws},
                (ps["patches"][j0]["patch"], blocks[j0]))

    def _document(self, scenarios: list[dict[str, Any]], ref_desc: str,
                  ref_res: dict[str, Any]) -> dict[str, Any]:
        """The posterior document: priors, sampler, reference, scenarios, Bayes factors.

        Args:
            scenarios: the scenario entries.
            ref_desc: what the sm-only reference is.
            ref_res: its evidence (``run_patch``).

        Returns:
            The document (without digests).
        """
        evid = {"sm-only": {"ln_z": ref_res["ln_z"], "ln_z_error": ref_res["ln_z_error"]}}
        for s in scenarios:
            evid[s["scenario"]] = {"ln_z": s["ln_z"], "ln_z_error": s["ln_z_error"]}
        table = bayes_factor_table(evid, "sm-only")
        return {
            "priors": {
                "B": {"kind": "flat", "min": 0.0, "max": self.br_max},
                self.label: {"kind": self.mass_prior, "support": "the grid points of each "
                             "patchset (cells half-way between neighbours)"},
                "nuisances": "constraint terms of the workspace (Gaussian; shapesys Gamma), "
                             "truncated to (and normalised on) the parameter bounds; "
                             "unconstrained factors flat within their bounds",
            },
            "sampler": dict(self.settings),
            "evidence_method": "bridge sampling (Meng & Wong 1996), error of Fruehwirth-Schnatter "
                               "2004",
            "intervals": {"central": "equal-tailed quantiles", "hpd": "shortest interval "
                          "(B); union of highest-density grid cells (mass)"},
            "reference": {"scenario": "sm-only", "definition": ref_desc, **ref_res},
            "scenarios": scenarios,
            "bayes_factors": table,
        }

    def _mixture(self, draws: Sequence[np.ndarray], probs: np.ndarray) -> np.ndarray:
        """Draws of the B marginal: each point's draws resampled in proportion to its weight."""
        rng = np.random.default_rng(self.settings["seed"])
        n = max(len(d) for d in draws)
        counts = np.floor(probs * n + 0.5).astype(int)
        parts = [rng.choice(d, size=c, replace=True) for d, c in zip(draws, counts, strict=True)
                 if c > 0 and len(d)]
        if sum(c for d, c in zip(draws, counts, strict=True) if c > 0 and not len(d)):
            log.warning("B marginal: a grid point without draws carries posterior weight")
        return np.concatenate(parts) if parts else np.zeros(1)

    def _joint_mode(self, masses: np.ndarray, probs: np.ndarray,
                    runs: Sequence[tuple[PosteriorRun | None, float]]) -> dict[str, float]:
        """Maximum of the joint density p_i / width_i x p(B | m_i) over the grid."""
        from scipy.stats import gaussian_kde

        if masses.size > 1:
            mid = 0.5 * (masses[1:] + masses[:-1])
            lo = np.concatenate([[masses[0] - (mid[0] - masses[0])], mid])
            hi = np.concatenate([mid, [masses[-1] + (masses[-1] - mid[-1])]])
            width = hi - lo
        else:
            width = np.ones(1)
        best = (-math.inf, math.nan, math.nan)
        for k, (run, ref) in enumerate(runs):
            if run is None:
                continue
            b = _draws_br(run, ref)
            if b.size < 2 or np.ptp(b) == 0:
                continue
            bm = kde_mode(b, 0.0)
            dens = float(gaussian_kde(np.concatenate([b, -b]))(np.array([bm]))[0]) * 2.0
            val = math.log(max(probs[k], 1e-300)) - math.log(width[k]) + math.log(
                max(dens, 1e-300))
            if val > best[0]:
                best = (val, float(masses[k]), bm)
        return {self.label: best[1], "B": best[2]}


def posterior_document(ws_digest: str, ps_digests: Sequence[str], body: Mapping[str, Any]
                       ) -> dict[str, Any]:
    """The posterior JSON (numbers rounded to SIG significant digits)."""
    return {"format": FORMAT, "workspace_digest": ws_digest,
            "patchset_digests": list(ps_digests), **_r(dict(body))}


__all__ = ["PosteriorGrid", "posterior_document", "mass_summary", "central_interval",
           "hpd_interval"]
