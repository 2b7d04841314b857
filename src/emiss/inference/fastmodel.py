"""A compiled numpy HistFactory likelihood with analytic gradient, equal to pyhf 0.7.6's.

The background-only workspace is parsed once (:class:`FastBackground`); each hypothesis patch
only adds/changes samples, whose arrays are compiled on the fly (:meth:`FastBackground.with_patch`),
giving a :class:`FastModel`. Semantics follow the HistFactory model (Cranmer et al.,
CERN-OPEN-2012-016) exactly as implemented in pyhf 0.7.6 (pyhf/pdf.py, pyhf/modifiers/*.py,
pyhf/interpolators/code4.py and code4p.py, pyhf/constraints.py):

* rate of sample s in bin b: (nominal + sum of histosys deltas) x product of factors;
* normsys: interpolation code 4 (polynomial for |alpha| < 1, exponential outside);
  histosys: code 4p (6th order polynomial for |alpha| <= 1, linear outside);
* staterror: one factor per bin shared by the samples carrying it, Gaussian constraint with
  relative width sqrt(sum_s delta_s^2) / sum_s nominal_s; bins with zero width are fixed;
* shapesys: Poisson constraint with tau = (nominal / delta)^2, auxdata tau; invalid bins fixed;
* lumi: Gaussian constraint from the measurement config; normfactor/shapefactor unconstrained;
* main term: Poisson with lgamma (non-integer counts allowed); -2 ln L is pyhf's ``twice_nll``.

The interpolations and the terms of -ln L are those of :mod:`emiss.inference.histfactory`,
shared with the batched engine (:mod:`emiss.inference.batch`).
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from emiss.inference.histfactory import (
    code4_coefficients,
    code4_d2coefficients,
    code4_dcoefficients,
    code4_dpoly,
    code4_poly,
    code4p,
    code4p_blocks,
    code4p_dh,
    code4p_h,
    gaussian_const,
    gaussian_curvature,
    gaussian_grad,
    gaussian_nll,
    lgamma_const,
    poisson_constraint_curvature,
    poisson_constraint_grad,
    poisson_nll,
)
from emiss.names import POI

log = logging.getLogger(__name__)

#: (nll, gradient, J, c, d) of :meth:`FastModel.nll_grad_jac`: the arrays are all None where
#: the nll is +inf (a rate is not positive).
NllJac = tuple[float, np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]

SUPPORTED_MODIFIERS = (
    "normfactor", "normsys", "histosys", "staterror", "shapesys", "lumi", "shapefactor",
)
_ADD_SAMPLE_PATH = re.compile(r"^/channels/(\d+)/samples/(-|\d+)$")


class UnsupportedSpec(Exception):
    """The fast engine does not handle this spec feature (callers fall back to pyhf)."""


# ---------------------------------------------------------------- parameter sets
@dataclass
class _ParSet:
    name: str
    kind: str  # modifier type
    n: int
    inits: list[float]
    bounds: list[tuple[float, float]]
    fixed: list[bool]
    constraint: str | None  # "normal", "poisson" or None
    auxdata: list[float] = field(default_factory=list)
    sigmas: list[float] = field(default_factory=list)
    factors: list[float] = field(default_factory=list)
    offset: int = 0


def _apply_user_config(ps: _ParSet, cfg: dict | None) -> None:
    """Overrides from the measurement config (pyhf/parameters/utils.py semantics)."""
    if not cfg:
        return
    for key in ("inits", "auxdata", "sigmas", "factors"):
        if key in cfg:
            vals = [float(v) for v in cfg[key]]
            if len(vals) != ps.n:
                raise UnsupportedSpec(f"{ps.name}: {key} has {len(vals)} values, need {ps.n}")
            setattr(ps, key, vals)
    if "bounds" in cfg:
        b = [(float(x[0]), float(x[1])) for x in cfg["bounds"]]
        if len(b) != ps.n:
            raise UnsupportedSpec(f"{ps.name}: bounds has {len(b)} values, need {ps.n}")
        ps.bounds = b
    if "fixed" in cfg:
        fx = cfg["fixed"]
        ps.fixed = [bool(fx)] * ps.n if isinstance(fx, bool) else [bool(x) for x in fx]


# ---------------------------------------------------------------- compiling a spec
#: (channel, sample spec, first element) of one sample of the compiled model.
_Sample = tuple[str, dict, int]
#: per histosys modifier: first element, bins, parameter, hi data, lo data (five lists).
_HistosysSpecs = tuple[list[int], list[int], list[int], list[list[float]], list[list[float]]]


def _cat(xs: list, dt: type = float) -> np.ndarray:
    """Concatenate arrays-like of dtype dt; an empty array for an empty list."""
    return np.concatenate([np.asarray(x, dt) for x in xs]) if xs else np.zeros(0, dt)


def _check_modifier_types(samples: list[_Sample]) -> None:
    """Every modifier of a supported type; one type per modifier name.

    Args:
        samples: the model's samples.
    """
    mods_seen: dict[str, str] = {}
    for _c, s, _ in samples:
        for m in s.get("modifiers", []):
            t = m["type"]
            if t not in SUPPORTED_MODIFIERS:
                raise UnsupportedSpec(f"modifier type {t!r}")
            if mods_seen.setdefault(m["name"], t) != t:
                raise UnsupportedSpec(f"name {m['name']} used by two modifier types")


def _staterror_widths(samples: list[_Sample], nbins: dict[str, int], choff: dict[str, int],
                      B: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """staterror per global bin; relative width from all samples carrying it (pyhf staterror.py).

    Args:
        samples: the model's samples.
        nbins: bins per channel.
        choff: first global bin per channel.
        B: number of global bins.

    Returns:
        (bins each staterror acts on (bool, B), relative width sqrt(sum_s delta_s^2) /
        sum_s nominal_s per global bin), both by modifier name.
    """
    stat_mask: dict[str, np.ndarray] = {}
    stat_samples: dict[str, set] = {}
    stat_mods: dict[str, list] = {}
    for c, s, _ in samples:
        for m in s.get("modifiers", []):
            if m["type"] == "staterror":
                mk = stat_mask.setdefault(m["name"], np.zeros(B, bool))
                mk[choff[c]:choff[c] + nbins[c]] = True
                stat_samples.setdefault(m["name"], set()).add(s["name"])
                stat_mods.setdefault(m["name"], []).append((c, m))
    stat_sigma: dict[str, np.ndarray] = {}
    for name in stat_mask:
        nomsall = np.zeros(B)
        err2 = np.zeros(B)
        for c, s, _ in samples:
            if s["name"] in stat_samples[name]:
                nomsall[choff[c]:choff[c] + nbins[c]] += np.asarray(s["data"], float)
        for c, m in stat_mods[name]:
            u = np.asarray(m["data"], float)
            if u.size != nbins[c]:
                raise UnsupportedSpec(f"staterror {name}: wrong length")
            sl = slice(choff[c], choff[c] + nbins[c])
            with np.errstate(divide="ignore", invalid="ignore"):
                err2[sl] += np.where(nomsall[sl] > 0, (u / nomsall[sl]) ** 2, 0.0)
        stat_sigma[name] = np.sqrt(err2)
    return stat_mask, stat_sigma


def _parameter_sets(samples: list[_Sample], nbins: dict[str, int], user_cfg: dict[str, dict],
                    stat_mask: dict[str, np.ndarray], stat_sigma: dict[str, np.ndarray]
                    ) -> dict[str, _ParSet]:
    """The parameter sets of the modifiers, in order of first appearance.

    Args:
        samples: the model's samples.
        nbins: bins per channel.
        user_cfg: measurement-config parameter entries by name.
        stat_mask: bins of each staterror (:func:`_staterror_widths`).
        stat_sigma: relative widths of each staterror per global bin.

    Returns:
        modifier name -> _ParSet.
    """
    psets: dict[str, _ParSet] = {}
    for c, s, _ in samples:
        for m in s.get("modifiers", []):
            name, t = m["name"], m["type"]
            if name in psets:
                if t == "shapesys":
                    raise UnsupportedSpec(f"shapesys {name} on several samples")
                if t == "shapefactor" and psets[name].n != nbins[c]:
                    raise UnsupportedSpec(f"shapefactor {name} across channels")
                continue
            ps = _new_parset(name, t, nbins[c], s, m, user_cfg, stat_mask, stat_sigma)
            _apply_user_config(ps, user_cfg.get(name))
            psets[name] = ps
    return psets


def _new_parset(name: str, t: str, nb: int, s: dict, m: dict, user_cfg: dict[str, dict],
                stat_mask: dict[str, np.ndarray], stat_sigma: dict[str, np.ndarray]) -> _ParSet:
    """The parameter set of one modifier with pyhf 0.7.6's defaults (pyhf/modifiers/*.py).

    Args:
        name: modifier name.
        t: modifier type.
        nb: bins of the channel it first appears in.
        s: the sample spec carrying it.
        m: the modifier spec.
        user_cfg: measurement-config parameter entries by name.
        stat_mask: bins of each staterror.
        stat_sigma: relative widths of each staterror per global bin.

    Returns:
        _ParSet (before the measurement-config overrides).
    """
    if t == "normfactor":
        return _ParSet(name, t, 1, [1.0], [(0.0, 10.0)], [False], None)
    if t in ("normsys", "histosys"):
        return _ParSet(name, t, 1, [0.0], [(-5.0, 5.0)], [False], "normal",
                       auxdata=[0.0], sigmas=[1.0])
    if t == "lumi":
        cfg = user_cfg.get(name, {})
        if not all(k in cfg for k in ("auxdata", "sigmas", "inits", "bounds")):
            raise UnsupportedSpec(f"lumi {name} without full measurement config")
        return _ParSet(name, t, 1, [1.0], [(0.0, 10.0)], [False], "normal",
                       auxdata=[1.0], sigmas=[1.0])
    if t == "staterror":
        sig = stat_sigma[name][stat_mask[name]]
        fx = (sig == 0).tolist()
        sig = np.where(sig == 0, 1.0, sig)
        n = int(sig.size)
        return _ParSet(name, t, n, [1.0] * n, [(1e-10, 10.0)] * n, fx, "normal",
                       auxdata=[1.0] * n, sigmas=sig.tolist())
    if t == "shapesys":
        nomd = np.asarray(s["data"], float)
        unc = np.asarray(m["data"], float)
        if unc.size != nomd.size:
            raise UnsupportedSpec(f"shapesys {name}: wrong length")
        valid = (nomd > 0) & (unc > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.where(valid, nomd**2 / unc**2, 1.0)
        n = int(nomd.size)
        return _ParSet(name, t, n, [1.0] * n, [(1e-10, 10.0)] * n, (~valid).tolist(),
                       "poisson", auxdata=fac.tolist(), factors=fac.tolist())
    if t == "shapefactor":
        return _ParSet(name, t, nb, [1.0] * nb, [(0.0, 10.0)] * nb, [False] * nb, None)
    raise UnsupportedSpec(t)  # pragma: no cover - types checked by _check_modifier_types


def _modifier_entries(samples: list[_Sample], nbins: dict[str, int], choff: dict[str, int],
                      psets: dict[str, _ParSet], stat_mask: dict[str, np.ndarray], E: int
                      ) -> tuple[list[list[tuple]], _HistosysSpecs]:
    """What each modifier does to the elements of its sample.

    Args:
        samples: the model's samples.
        nbins: bins per channel.
        choff: first global bin per channel.
        psets: parameter sets with their offsets.
        stat_mask: bins of each staterror.
        E: number of elements.

    Returns:
        (per element its multiplicative factors (kind "lin" or "c4", parameter, (hi, lo) or
        None), the histosys modifiers (:data:`_HistosysSpecs`)).
    """
    mult: list[list[tuple]] = [[] for _ in range(E)]
    add_start: list[int] = []
    add_n: list[int] = []
    add_off: list[int] = []
    add_hi: list[list[float]] = []
    add_lo: list[list[float]] = []
    for c, s, e_start in samples:
        nb = nbins[c]
        els = range(e_start, e_start + nb)
        for m in s.get("modifiers", []):
            t, ps = m["type"], psets[m["name"]]
            if t in ("normfactor", "lumi"):
                for e in els:
                    mult[e].append(("lin", ps.offset, None))
            elif t == "normsys":
                hi, lo = float(m["data"]["hi"]), float(m["data"]["lo"])
                if hi <= 0 or lo <= 0:
                    raise UnsupportedSpec(f"normsys {m['name']} with non-positive factor")
                for e in els:
                    mult[e].append(("c4", ps.offset, (hi, lo)))
            elif t == "histosys":
                hi_data, lo_data = m["data"]["hi_data"], m["data"]["lo_data"]
                if len(hi_data) != nb or len(lo_data) != nb:
                    raise UnsupportedSpec(f"histosys {m['name']}: wrong length")
                add_start.append(e_start)
                add_n.append(nb)
                add_off.append(ps.offset)
                add_hi.append(hi_data)
                add_lo.append(lo_data)
            elif t == "staterror":
                # parameter index: position of the global bin inside the modifier mask
                pos = np.cumsum(stat_mask[m["name"]]) - 1
                for j, e in enumerate(els):
                    mult[e].append(("lin", ps.offset + int(pos[choff[c] + j]), None))
            elif t in ("shapesys", "shapefactor"):
                for j, e in enumerate(els):
                    mult[e].append(("lin", ps.offset + j, None))
    return mult, (add_start, add_n, add_off, add_hi, add_lo)


# ---------------------------------------------------------------- the compiled model
class FastModel:
    """Compiled likelihood of one hypothesis (background + signal).

    Attributes:
        par_names: parameter names in pyhf style (``name`` or ``name[i]``).
        poi_index: index of the POI.
        init, bounds (n, 2), fixed (bool), width (constraint widths used for scaling).
        channels: channel names in pyhf's (sorted) order; ``main_data``: observed counts.
    """

    def __init__(self, channels: list[dict], obs: dict[str, list[float]], config: dict,
                 poi: str) -> None:
        #: Hessian structures shared by the hypotheses of one background (``FastBackground``;
        #: ``emiss.inference.structured.structure_of``), None for a model of its own
        self.structure_cache: dict[Any, Any] | None = None
        self._build(channels, obs, config, poi)

    # -- construction
    def _build(self, channels: list[dict], obs: dict[str, list[float]], config: dict,
               poi: str) -> None:
        """Compile the spec: bins and elements, parameter sets, constraints, modifier entries.

        Args:
            channels: channel specs of the (patched) workspace.
            obs: observed counts per channel name.
            config: measurement config (parameter overrides).
            poi: name of the parameter of interest.
        """
        chan_by_name, nbins, choff = self._set_bins(channels, obs)
        samples = self._set_elements(chan_by_name, nbins, choff)
        _check_modifier_types(samples)
        stat_mask, stat_sigma = _staterror_widths(samples, nbins, choff, self.nbins_total)
        user_cfg = {p["name"]: p for p in config.get("parameters", [])}
        psets = _parameter_sets(samples, nbins, user_cfg, stat_mask, stat_sigma)
        self._set_parameters(psets, poi)
        self._set_constraints()
        mult, hist = _modifier_entries(samples, nbins, choff, psets, stat_mask, self.E)
        self._set_factor_slots(mult)
        self._set_histosys(hist)
        self._grad_p = np.concatenate([self._mult_p, self._add_p])
        ent_e = np.concatenate([self._mult_pos % self.E, self._add_e]).astype(int)
        self._jac_idx = self.el_bin[ent_e] * self.npars + self._grad_p
        self._main_const = float(lgamma_const(self.main_data))
        self._prepare_evaluation()

    def _set_bins(self, channels: list[dict], obs: dict[str, list[float]]
                  ) -> tuple[dict[str, dict], dict[str, int], dict[str, int]]:
        """Channels in pyhf's (sorted) order, their bins and the observed counts.

        Args:
            channels: channel specs.
            obs: observed counts per channel name.

        Returns:
            (channel spec by name, bins per channel, first global bin per channel).
        """
        chan_by_name = {}
        for ch in channels:
            if ch["name"] in chan_by_name:
                raise UnsupportedSpec(f"duplicate channel {ch['name']}")
            chan_by_name[ch["name"]] = ch
        self.channels = sorted(chan_by_name)
        nbins = {}
        for c in self.channels:
            samples = chan_by_name[c]["samples"]
            if not samples:
                raise UnsupportedSpec(f"channel {c} has no samples")
            nbins[c] = len(samples[0]["data"])
        offs = np.cumsum([0] + [nbins[c] for c in self.channels])
        choff = {c: int(offs[i]) for i, c in enumerate(self.channels)}
        self.nbins_total = int(offs[-1])
        try:
            self.main_data = np.concatenate([np.asarray(obs[c], float) for c in self.channels])
        except KeyError as exc:
            raise UnsupportedSpec(f"no observation for channel {exc}") from exc
        if self.main_data.size != self.nbins_total:
            raise UnsupportedSpec("observations do not match channel bins")
        return chan_by_name, nbins, choff

    def _set_elements(self, chan_by_name: dict[str, dict], nbins: dict[str, int],
                      choff: dict[str, int]) -> list[_Sample]:
        """One element per (sample, bin): nominal rates ``nom`` and global bins ``el_bin``.

        Args:
            chan_by_name: channel spec by name.
            nbins: bins per channel.
            choff: first global bin per channel.

        Returns:
            (channel, sample spec, first element) per sample, channels in order.
        """
        el_nom, el_bin = [], []
        samples = []
        e0 = 0
        for c in self.channels:
            for s in chan_by_name[c]["samples"]:
                d = np.asarray(s["data"], float)
                if d.size != nbins[c]:
                    raise UnsupportedSpec(f"sample {s['name']} in {c}: wrong number of bins")
                samples.append((c, s, e0))
                el_nom.append(d)
                el_bin.append(choff[c] + np.arange(nbins[c]))
                e0 += nbins[c]
        self.nom = np.concatenate(el_nom)
        self.el_bin = np.concatenate(el_bin)
        self.E = e0
        return samples

    def _set_parameters(self, psets: dict[str, _ParSet], poi: str) -> None:
        """Lay the parameter sets out in one vector: offsets, names, inits, bounds, fixed.

        Args:
            psets: parameter sets in order of first appearance.
            poi: name of the parameter of interest.
        """
        if poi not in psets:
            raise UnsupportedSpec(f"POI {poi!r} not in the model")
        if psets[poi].n != 1:
            raise UnsupportedSpec(f"POI {poi!r} is not scalar")
        off = 0
        names = []
        for ps in psets.values():
            ps.offset = off
            off += ps.n
            names += [ps.name] if ps.n == 1 and ps.kind not in (
                "staterror", "shapesys", "shapefactor") else [
                f"{ps.name}[{i}]" for i in range(ps.n)]
        self.npars = off
        self.par_names = names
        self.psets = psets
        self.poi_index = psets[poi].offset
        self.init = np.concatenate([np.asarray(p.inits, float) for p in psets.values()])
        self.bounds = np.concatenate([np.asarray(p.bounds, float).reshape(-1, 2)
                                      for p in psets.values()])
        self.fixed = np.concatenate([np.asarray(p.fixed, bool) for p in psets.values()])

    def _set_constraints(self) -> None:
        """Gaussian (normal) and Poisson constraint arrays and the constraint widths."""
        nidx, naux, nsig, pidx, paux, pfac = [], [], [], [], [], []
        for ps in self.psets.values():
            idx = np.arange(ps.offset, ps.offset + ps.n)
            if ps.constraint == "normal":
                nidx.append(idx)
                naux.append(ps.auxdata)
                nsig.append(ps.sigmas)
            elif ps.constraint == "poisson":
                pidx.append(idx)
                paux.append(ps.auxdata)
                pfac.append(ps.factors)
        self.n_idx, self.n_aux, self.n_sig = _cat(nidx, int), _cat(naux), _cat(nsig)
        self.p_idx, self.p_aux, self.p_fac = _cat(pidx, int), _cat(paux), _cat(pfac)
        self.n_const = gaussian_const(self.n_sig)
        width = np.ones(self.npars)
        width[self.n_idx] = self.n_sig
        with np.errstate(divide="ignore"):
            width[self.p_idx] = 1.0 / np.sqrt(self.p_fac)
        self.width = width

    def _set_factor_slots(self, mult: list[list[tuple]]) -> None:
        """The multiplicative factors as K slots per element: linear or code 4 (normsys).

        Args:
            mult: per element, its factors (kind "lin" or "c4", parameter, (hi, lo) or None).
        """
        E = self.E
        K = max(1, max(len(x) for x in mult))
        self.K = K
        kind = np.zeros((K, E), int)  # 0 none, 1 linear, 2 code4
        pmat = np.zeros((K, E), int)
        c4hi = np.ones((K, E))
        c4lo = np.ones((K, E))
        for e, lst in enumerate(mult):
            for k, (kd, p, extra) in enumerate(lst):
                pmat[k, e] = p
                if kd == "lin":
                    kind[k, e] = 1
                else:
                    kind[k, e] = 2
                    c4hi[k, e], c4lo[k, e] = extra
        self._slot_kind, self._slot_p = kind, pmat
        self._lin_pos = np.flatnonzero(kind.ravel() == 1)
        self._lin_p = pmat.ravel()[self._lin_pos]
        self._c4_pos = np.flatnonzero(kind.ravel() == 2)
        self._c4_p = pmat.ravel()[self._c4_pos]
        self._c4_hi = c4hi.ravel()[self._c4_pos]
        self._c4_lo = c4lo.ravel()[self._c4_pos]
        self._c4_coef = code4_coefficients(self._c4_hi, self._c4_lo)
        self._mult_pos = np.concatenate([self._lin_pos, self._c4_pos])
        self._mult_p = np.concatenate([self._lin_p, self._c4_p])

    def _set_histosys(self, hist: _HistosysSpecs) -> None:
        """histosys entries, one per modifier and bin: element, parameter, hi - nom, nom - lo.

        Args:
            hist: per histosys modifier its first element, bins, parameter, hi and lo data.
        """
        add_start, add_n, add_off, add_hi, add_lo = hist
        n_add = np.asarray(add_n, int)
        first = np.repeat(np.cumsum(n_add) - n_add, n_add)
        self._add_e = (np.repeat(np.asarray(add_start, int), n_add)
                       + np.arange(int(n_add.sum())) - first)
        self._add_p = np.repeat(np.asarray(add_off, int), n_add)
        nom_e = self.nom[self._add_e]
        self._add_up = np.fromiter(itertools.chain.from_iterable(add_hi), float,
                                   self._add_e.size) - nom_e
        self._add_dn = nom_e - np.fromiter(itertools.chain.from_iterable(add_lo), float,
                                           self._add_e.size)

    def _prepare_evaluation(self) -> None:
        """Arrays of the evaluation: histosys per parameter, code-4 powers, bin folding.

        histosys (code 4p) is evaluated per parameter alpha_p on (n_histosys x E) matrices
        (inside |alpha| <= 1 the delta of element e is alpha S_pe + A_pe h(alpha) with
        h = alpha^2 (15 - 10 alpha^2 + 3 alpha^4); outside alpha dup_pe or alpha ddn_pe; pyhf
        /interpolators/code4p.py) when these matrices are small (at most 500 000 numbers or 8
        times the number of histosys entries); otherwise entry by entry (:func:`code4p`).
        """
        E, B, P = self.E, self.nbins_total, self.npars
        self._hp = np.unique(self._add_p)
        nh = self._hp.size
        self._hdense = bool(nh) and nh * E <= max(8 * self._add_e.size, 500_000)
        if self._hdense:
            col = np.searchsorted(self._hp, self._add_p)
            up, dn = self._add_up, self._add_dn
            m = np.zeros((4, nh, E))
            for k, w in enumerate(code4p_blocks(up, dn)):
                np.add.at(m[k], (col, self._add_e), w)
            self._hmat = m
            self._hstack = m.reshape(4 * nh, E)  # rows: S, A, U, D blocks
            if E * B <= 2_000_000:
                fold = np.zeros((E, B))
                fold[np.arange(E), self.el_bin] = 1.0
            else:
                from scipy import sparse

                fold = sparse.csr_matrix((np.ones(E), (np.arange(E), self.el_bin)), shape=(E, B))
            self._fold = fold
        n_mult = self._mult_pos.size
        self._jac_idx_mult = self._jac_idx[:n_mult]
        self._c4_dcoef = code4_dcoefficients(self._c4_coef)
        # second derivative of the code-4 polynomial: sum_k k (k - 1) c_k alpha^(k - 2)
        self._c4_d2coef = code4_d2coefficients(self._c4_coef)
        self._c4_lhi = np.log(self._c4_hi)
        self._c4_llo = np.log(self._c4_lo)
        self._unit = np.ones(self.K * E)
        self._lin_ones = np.ones(self._lin_pos.size)
        self._P = P

    def layout_key(self) -> str:
        """Digest of which parameter acts on which element how (not of the numbers): models
        with equal keys share a :class:`emiss.inference.structured.HessianStructure`."""
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        h.update(np.array([self.npars, self.E, self.K, self.nbins_total, int(self._hdense)],
                          np.int64).tobytes())
        for a in (self._jac_idx, self._slot_kind, self._slot_p, self.n_idx, self.p_idx,
                  self._add_e, self._add_p, self.el_bin):
            h.update(np.ascontiguousarray(a, np.int64).tobytes())
        return h.hexdigest()

    def _code4(self, a: np.ndarray, need_d: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """:func:`code4` on the model's normsys entries (the exponential branch only where
        |alpha| >= 1)."""
        f = code4_poly(a, self._c4_coef)
        df = code4_dpoly(a, self._c4_dcoef) if need_d else None
        up, dn = a >= 1.0, a <= -1.0
        if up.any() or dn.any():
            for mask, lg, sign in ((up, self._c4_lhi, 1.0), (dn, self._c4_llo, -1.0)):
                i = np.flatnonzero(mask)
                f[i] = np.exp(sign * a[i] * lg[i])
                if df is not None:
                    df[i] = sign * lg[i] * f[i]
        return f, df

    def _pieces(self, pars: np.ndarray, need_d: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Any]:
        """A (nominal + histosys deltas, per element), the slot factors (K, E), their
        derivatives (K * E) and the histosys state for derivatives (:meth:`_hist_dA`)."""
        K, E = self.K, self.E
        vals = self._unit.copy()
        vals[self._lin_pos] = pars[self._lin_p]
        d1 = None
        if need_d:
            d1 = np.zeros(K * E)
            d1[self._lin_pos] = self._lin_ones
        if self._c4_pos.size:
            f, df = self._code4(pars[self._c4_p], need_d)
            vals[self._c4_pos] = f
            if d1 is not None and df is not None:
                d1[self._c4_pos] = df
        vals = vals.reshape(K, E)
        hist: Any = None
        if self._hdense:
            a = pars[self._hp]
            S, Aq, U, D = self._hmat
            inside = np.abs(a) <= 1.0
            if inside.all():
                a2 = a * a
                A = self.nom + a @ S + code4p_h(a2) @ Aq
                hist = (a, None)
            else:
                ai = np.where(inside, a, 0.0)
                a2 = ai * ai
                coef = np.concatenate([ai, code4p_h(a2),
                                       np.where(a > 1.0, a, 0.0), np.where(a < -1.0, a, 0.0)])
                A = self.nom + coef @ self._hstack
                hist = (a, inside)
        elif self._add_e.size:
            d, hist = code4p(pars[self._add_p], self._add_up, self._add_dn)
            A = self.nom + np.bincount(self._add_e, weights=d, minlength=E)
        else:
            A = self.nom
        return A, vals, d1, hist

    def _hist_dA(self, hist: tuple) -> np.ndarray:
        """d A_e / d alpha_p (n_histosys x E) of the dense histosys path."""
        a, inside = hist
        S, Aq, U, D = self._hmat
        if inside is None:
            a2 = a * a
            return S + code4p_dh(a, a2)[:, None] * Aq
        ai = np.where(inside, a, 0.0)
        a2 = ai * ai
        return (inside[:, None] * S + code4p_dh(ai, a2)[:, None] * Aq
                + (a > 1.0)[:, None] * U + (a < -1.0)[:, None] * D)

    # -- evaluation
    def _rates(self, pars: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Per-element pieces: A (nominal + deltas), slot values (K, E), their derivatives and
        the entry-wise histosys derivatives (None without histosys)."""
        A, vals, d1, hist = self._pieces(pars, True)
        assert d1 is not None  # need_d
        dd = None
        if self._add_e.size:
            dd = code4p(pars[self._add_p], self._add_up, self._add_dn)[1]
        return A, vals, d1, dd

    def expected_main(self, pars: np.ndarray) -> np.ndarray:
        """Expected counts per bin (pyhf ``expected_actualdata``)."""
        A, vals, _, _ = self._pieces(np.asarray(pars, float), False)
        return np.bincount(self.el_bin, weights=A * np.prod(vals, axis=0),
                           minlength=self.nbins_total)

    def expected_aux(self, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected auxiliary data (normal, poisson) at pars (pyhf ``expected_auxdata``)."""
        pars = np.asarray(pars, float)
        return pars[self.n_idx].copy(), pars[self.p_idx] * self.p_fac

    def observed_data(self) -> FitData:
        """The observed dataset (main counts + nominal auxiliary data)."""
        return FitData(self.main_data, self.n_aux, self.p_aux)

    def asimov_data(self, pars: np.ndarray) -> FitData:
        """Asimov dataset at pars (main expectation + expected auxdata)."""
        na, pa = self.expected_aux(pars)
        return FitData(self.expected_main(pars), na, pa)

    def twice_nll(self, pars: np.ndarray, data: FitData) -> float:
        """-2 ln L (pyhf ``twice_nll``); +inf where a rate is negative."""
        return 2.0 * self.nll_grad(np.asarray(pars, float), data, need_grad=False)[0]

    def nll_grad_jac(self, pars: np.ndarray, data: FitData) -> NllJac:
        """NLL, gradient and the pieces of the Gauss-Newton Hessian, without forming it.

        The Gauss-Newton (expected-information) Hessian is H = J^T diag(c) J + diag(d), with
        J = d lambda / d theta (bins x parameters), c = n / lambda^2 and d the exact constraint
        curvatures; :meth:`nll_grad_hess` forms it densely, the structured solver of
        :mod:`emiss.inference.structured` never does.

        Args:
            pars: full parameter vector.
            data: FitData.

        Returns:
            (nll, grad, J, c, d); nll = +inf (the others None) where a rate is not positive.
        """
        return self.evaluate_jac(pars, data)[:5]

    def evaluate_jac(self, pars: np.ndarray, data: FitData
                     ) -> tuple[float, np.ndarray | None, np.ndarray | None, np.ndarray | None,
                                np.ndarray | None, tuple | None]:
        """:meth:`nll_grad_jac` plus the pieces the exact Hessian needs.

        Returns:
            (nll, grad, J, c, d, pieces); pieces = (pars, A, slot factors (K, E), their
            derivatives (K * E), products of the other slots (K, E), F, w = 1 - n / lambda,
            d A / d alpha (n_histosys x E) or None), or None with nll = +inf.
        """
        A, vals, d1, hist = self._pieces(pars, True)
        assert d1 is not None  # need_d
        F = np.prod(vals, axis=0)
        lam = np.bincount(self.el_bin, weights=A * F, minlength=self.nbins_total)
        n = data.main
        if np.any((lam <= 0) & (n > 0)) or np.any(lam < 0) or not np.all(np.isfinite(lam)):
            return math.inf, None, None, None, None, None
        nll = self._nll_value(pars, data, lam)
        Fk = _others_product(vals, F)
        P, B = self.npars, self.nbins_total
        mult = (A * Fk).ravel()[self._mult_pos] * d1[self._mult_pos]
        dA = None
        if self._hdense:
            dA = self._hist_dA(hist)
            J = np.bincount(self._jac_idx_mult, weights=mult, minlength=B * P).reshape(B, P)
            J[:, self._hp] += (self._fold.T @ (dA * F).T)
        elif hist is not None:
            J = np.bincount(self._jac_idx, weights=np.concatenate([mult, F[self._add_e] * hist]),
                            minlength=B * P).reshape(B, P)
        else:
            J = np.bincount(self._jac_idx_mult, weights=mult, minlength=B * P).reshape(B, P)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 0, 1.0 - n / lam, 1.0)
            curv = np.where(n > 0, n / lam**2, 0.0)
        g = w @ J
        dcon = np.zeros(P)
        g[self.n_idx] += gaussian_grad(pars[self.n_idx], data.n_aux, self.n_sig)
        dcon[self.n_idx] = gaussian_curvature(self.n_sig)
        if self.p_idx.size:
            gp = pars[self.p_idx]
            g[self.p_idx] += poisson_constraint_grad(gp, self.p_fac, data.p_aux)
            dcon[self.p_idx] = poisson_constraint_curvature(gp, data.p_aux)
        return nll, g, J, curv, dcon, (pars, A, vals, d1, Fk, F, w, dA, hist)

    def nll_grad_hess(self, pars: np.ndarray, data: FitData
                      ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """NLL, gradient and the Gauss-Newton (expected-information) Hessian.

        The Hessian is J^T diag(n / lambda^2) J plus the exact constraint curvatures
        (J = d lambda / d theta); it omits the sum_b (1 - n_b/lambda_b) d2 lambda_b term.

        Args:
            pars: full parameter vector.
            data: FitData.

        Returns:
            (nll, grad, hess); nll = +inf (grad, hess None) where a rate is not positive.
        """
        nll, g, J, curv, dcon = self.nll_grad_jac(pars, data)
        if g is None or J is None or curv is None or dcon is None:  # all None together
            return math.inf, None, None
        H = (J.T * curv) @ J
        H[np.diag_indices_from(H)] += dcon
        return nll, g, H

    def _nll_value(self, pars: np.ndarray, data: FitData, lam: np.ndarray) -> float:
        """-ln L from the expected main rates lam: Poisson main term plus Gaussian (normal
        constraints) and Poisson (shapesys) auxiliary terms, pyhf's constants included."""
        nll = float(poisson_nll(data.main, lam) + data.main_const)
        nll += float(gaussian_nll(data.n_aux, pars[self.n_idx], self.n_sig) + self.n_const)
        if self.p_idx.size:
            nll += float(poisson_nll(data.p_aux, pars[self.p_idx] * self.p_fac) + data.p_const)
        return nll

    @overload
    def nll_grad(self, pars: np.ndarray, data: FitData,
                 need_grad: Literal[True] = ...) -> tuple[float, np.ndarray]: ...

    @overload
    def nll_grad(self, pars: np.ndarray, data: FitData,
                 need_grad: bool) -> tuple[float, np.ndarray | None]: ...

    def nll_grad(self, pars: np.ndarray, data: FitData, need_grad: bool = True
                 ) -> tuple[float, np.ndarray | None]:
        """Negative log-likelihood and its gradient in the parameters.

        Args:
            pars: full parameter vector.
            data: FitData.
            need_grad: compute the gradient too.

        Returns:
            (nll, grad or None); nll = +inf if a rate is not positive where data are.
        """
        A, vals, d1, hist = self._pieces(pars, need_grad)
        F = np.prod(vals, axis=0)
        r = A * F
        lam = np.bincount(self.el_bin, weights=r, minlength=self.nbins_total)
        n = data.main
        if np.any(lam <= 0) and np.any((lam <= 0) & (n > 0)) or not np.all(np.isfinite(lam)):
            return math.inf, (np.zeros_like(pars) if need_grad else None)
        nll = self._nll_value(pars, data, lam)
        if not need_grad or d1 is None:  # d1 is set when need_grad
            return nll, None
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 0, 1.0 - n / lam, 1.0)
        we = w[self.el_bin]
        Fk = _others_product(vals, F)
        gm = (we * A * Fk).ravel()[self._mult_pos] * d1[self._mult_pos]
        if self._hdense:
            g = np.bincount(self._mult_p, weights=gm, minlength=self.npars)
            # sum_e dA_he w_e F_e from the four blocks (S, A, U, D) contracted with w F first
            t = (self._hstack @ (we * F)).reshape(4, -1)
            a, inside = hist
            if inside is None:
                a2 = a * a
                g[self._hp] += t[0] + code4p_dh(a, a2) * t[1]
            else:
                ai = np.where(inside, a, 0.0)
                a2 = ai * ai
                g[self._hp] += np.where(inside, t[0] + code4p_dh(ai, a2) * t[1],
                                        np.where(a > 1.0, t[2], t[3]))
        else:
            parts = [gm]
            if hist is not None:
                parts.append((we * F)[self._add_e] * hist)
            g = np.bincount(self._grad_p, weights=np.concatenate(parts), minlength=self.npars)
        g[self.n_idx] += gaussian_grad(pars[self.n_idx], data.n_aux, self.n_sig)
        if self.p_idx.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                g[self.p_idx] += poisson_constraint_grad(pars[self.p_idx], self.p_fac, data.p_aux)
        return nll, g


def _others_product(vals: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Product of all slots but k, per slot k (shape of vals); exact where a factor is 0."""
    zero = vals == 0.0
    if not zero.any():
        return F / vals
    safe = np.where(zero, 1.0, vals)
    Fk = np.prod(safe, axis=0) / safe
    nz = zero.sum(axis=0)
    # columns with a zero factor: only the zero slot itself has a non-zero "others" product
    Fk = np.where((nz[None, :] == 1) & zero, Fk, np.where(nz[None, :] >= 1, 0.0, Fk))
    return Fk


@dataclass
class FitData:
    """A dataset: main counts and auxiliary data (normal and Poisson constraints)."""

    main: np.ndarray
    n_aux: np.ndarray
    p_aux: np.ndarray

    def __post_init__(self) -> None:
        self.main_const = float(lgamma_const(self.main))
        self.p_const = float(lgamma_const(self.p_aux))


class FastBackground:
    """The background-only workspace, parsed once; hypotheses are compiled per patch.

    Args:
        spec: background-only workspace JSON.
        poi: parameter of interest (introduced by the patches).
        measurement: measurement name (default: the first, as pyhf).
    """

    def __init__(self, spec: dict, *, poi: str = POI, measurement: str | None = None) -> None:
        meas = spec.get("measurements") or []
        if not meas:
            raise UnsupportedSpec("no measurement")
        if measurement is None:
            m = meas[0]
        else:
            found = [x for x in meas if x["name"] == measurement]
            if not found:
                raise UnsupportedSpec(f"measurement {measurement!r} not found")
            m = found[0]
        self.config = m["config"]
        self.poi = poi
        self.spec = spec
        self.obs = {o["name"]: o["data"] for o in spec["observations"]}
        self._structures: dict[str, Any] = {}
        for ch in spec["channels"]:
            for s in ch["samples"]:
                for mod in s.get("modifiers", []):
                    if mod["type"] not in SUPPORTED_MODIFIERS:
                        raise UnsupportedSpec(f"modifier type {mod['type']!r}")

    def patched_channels(self, patch_ops: list | None) -> tuple[list[dict], dict]:
        """Channels and observations of the patched workspace (background arrays shared)."""
        if not patch_ops:
            return self.spec["channels"], self.obs
        if all(op.get("op") == "add" and _ADD_SAMPLE_PATH.match(op.get("path", ""))
               for op in patch_ops):
            chans = [dict(ch, samples=list(ch["samples"])) for ch in self.spec["channels"]]
            for op in patch_ops:
                match = _ADD_SAMPLE_PATH.match(op["path"])
                assert match is not None  # every path matched above
                i_s, j = match.groups()
                i = int(i_s)
                if i >= len(chans):
                    raise UnsupportedSpec(f"patch path {op['path']} out of range")
                if j == "-":
                    chans[i]["samples"].append(op["value"])
                else:
                    chans[i]["samples"].insert(int(j), op["value"])
            return chans, self.obs
        import jsonpatch

        try:
            doc = jsonpatch.apply_patch(copy.deepcopy(self.spec), patch_ops)
        except Exception as exc:
            raise UnsupportedSpec(f"patch cannot be applied: {exc}") from exc
        if doc.get("measurements") != self.spec.get("measurements"):
            raise UnsupportedSpec("patch changes the measurements")
        return doc["channels"], {o["name"]: o["data"] for o in doc["observations"]}

    def with_patch(self, patch_ops: list | None) -> FastModel:
        """Compile the model of one hypothesis.

        Args:
            patch_ops: JSON Patch operations (adding signal samples).

        Returns:
            FastModel.
        """
        chans, obs = self.patched_channels(patch_ops)
        fm = FastModel(chans, obs, self.config, self.poi)
        fm.structure_cache = self._structures  # shared by the hypotheses of this background
        return fm


def model_from_workspace(spec: dict, patch_ops: list | None = None, poi: str = POI) -> FastModel:
    """Convenience: compile the model of ``spec`` + ``patch_ops``.

    Args:
        spec: workspace JSON.
        patch_ops: optional JSON Patch operations.
        poi: parameter of interest.

    Returns:
        FastModel.
    """
    return FastBackground(spec, poi=poi).with_patch(patch_ops)


def to_pyhf_order(fm: FastModel, pyhf_model: Any, pars: np.ndarray) -> np.ndarray:
    """Reorder a FastModel parameter vector into a pyhf model's order (by parameter name)."""
    index = {n: i for i, n in enumerate(fm.par_names)}
    out = np.empty(len(pyhf_model.config.par_names))
    for j, n in enumerate(pyhf_model.config.par_names):
        key = n if n in index else f"{n}[0]" if f"{n}[0]" in index else n
        out[j] = pars[index[key]]
    return out
