"""Patches on K* (and K + K*) workspaces through the generator of ``emiss.patches.build``.

``emiss.patches.build.fold_many`` folds with ``ChannelResponse.matrix`` only, which for a K*
helicity channel is the isotropic (F_L = 1/3) matrix. ``KstarTemplateBuilder`` overrides the
folding step so that K* channels fold their longitudinal and transverse parts apart (and plain
channels still go through ``fold_many``); everything else (normalisation of mu, form-factor
principal components ``ff_<BK|BKstar|BK_BKstar>_pc<i>``, metadata) is H4's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emiss.errors import EmissError
from emiss.kstar.response import KstarChannelResponse, KstarResponse
from emiss.patches.build import (
    DEFAULT_FF_SAMPLES,
    DEFAULT_FF_SEED,
    Target,
    TemplateBuilder,
    build_patchset,
    fold_many,
    target_from_bundle,
)
from emiss.patches.grid import make_entry

log = logging.getLogger(__name__)


def fold_many_polarised(response: Any, channels: Sequence[str], spectra: Sequence[Any])\
        -> np.ndarray:
    """Like ``emiss.patches.build.fold_many``, but K* helicity channels fold L and T apart.

    Args:
        response: Response (channels may be ``KstarChannelResponse``).
        channels: channel names measuring the spectra's process.
        spectra: Spectrum objects.

    Returns:
        (n_spectra, total bins of channels), channels concatenated in order.
    """
    kst = [c for c in channels if isinstance(response.channels[c], KstarChannelResponse)]
    if not kst:
        return fold_many(response, channels, spectra)
    blocks = []
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for ch in channels:
        cr = response.channels[ch]
        if not isinstance(cr, KstarChannelResponse):
            blocks.append(fold_many(response, [ch], spectra))
            continue
        key = cr.true_edges.tobytes()
        if key not in cache:
            b_all, b_l = [], []
            for s in spectra:
                if s.continuum is not None and s.continuum_long is None:
                    raise EmissError(f"spectrum {s.label or s.process!r} has no longitudinal "
                                     f"part; K* channel {ch!r} needs it")
                cont = dataclasses.replace(s, lines=(), lines_long=())
                b_all.append(np.asarray(cont.bin_integrals(cr.true_edges), dtype=float))
                b_l.append(np.asarray(cont.bin_integrals_long(cr.true_edges), dtype=float))
            cache[key] = (np.array(b_all), np.array(b_l))
        b_all, b_l = cache[key]
        y = b_l @ cr.matrix_long.T + (b_all - b_l) @ cr.matrix_trans.T
        for k, s in enumerate(spectra):
            if s.lines and len(s.lines_long) != len(s.lines):
                raise EmissError(f"spectrum {s.label or s.process!r} has lines without "
                                 "lines_long; K* channels need them")
            for (q2, br), br_l in zip(s.lines, s.lines_long, strict=True):
                cl, ct = cr.columns_at(q2)
                y[k] += br_l * cl + (br - br_l) * ct
        blocks.append(cr.n_b * y)
    return np.concatenate(blocks, axis=1)


class KstarTemplateBuilder(TemplateBuilder):
    """H4's TemplateBuilder with polarised folding for K* helicity channels.

    Overrides the folding of one hypothesis (``_raw_direct``) so that K* channels fold their
    longitudinal and transverse parts apart (plain channels: ``fold_many`` as before).

    When a workspace holds both B -> K and B -> K* channels, the form-factor families are
    varied one at a time (draws 0..n-1: B -> K varied, B -> K* central; draws n..2n-1: the
    reverse) and each family gets its own principal components, ``ff_BK_pc<i>`` and
    ``ff_BKstar_pc<i>``: the same names as on the K-only and K*-only workspaces, so B -> K and
    B -> K* form factors are different nuisance parameters, each shared by all channels it
    enters (the K* yields depend on ff_BK too when mu is defined by B(B -> K X)).
    """

    def __init__(self, target: Target, n_samples: int = DEFAULT_FF_SAMPLES,
                 seed: int = DEFAULT_FF_SEED) -> None:
        super().__init__(target, n_samples=n_samples, seed=seed)
        self._families = sorted(set(self.kinds.values()))
        self._n_per_family = self.n_samples
        self._split_families = len(self._families) > 1 and self.n_samples > 0
        if self._split_families:
            self.n_samples = 2 * self._n_per_family  # the draw loops run over both halves

    def ff_samples(self, kind: str) -> list:
        """The fixed form-factor draws of one family (n per family, cached)."""
        if kind not in self._ff:
            from emiss.physics import formfactors

            self._ff[kind] = formfactors.sample(kind, self._n_per_family, seed=self.seed)
        return self._ff[kind]

    def _spectrum(self, scen: Any, proc: str, mass: float | None, params: dict,
                  k: int | None) -> Any:
        from emiss.patches.build import _central_ff

        kind = self.kinds[proc]
        if k is None:
            ff = _central_ff(kind)
        elif self._split_families:
            fam = self._families[k // self._n_per_family]
            ff = (self.ff_samples(kind)[k % self._n_per_family] if kind == fam
                  else _central_ff(kind))
        else:
            ff = self.ff_samples(kind)[k]
        return scen.spectrum(proc, mass=mass, params=params, ff=ff)

    def _fold_one(self, spectra: Mapping[str, Any]) -> np.ndarray:
        resp = self.target.response
        return np.concatenate([fold_many_polarised(resp, self.by_process[p], [spectra[p]])[0]
                               for p in self.processes])

    def _raw_direct(self, scen: Any, mass: float | None, params: Mapping[str, float]) -> Any:
        from emiss.patches.build import _Raw, total_br

        key = (scen.name, mass, tuple(sorted(params.items())))
        if key in self._raw_cache:
            return self._raw_cache[key]
        central = {p: self._spectrum(scen, p, mass, dict(params), None) for p in self.processes}
        nominal = self._fold_one(central)
        br = {p: total_br(s) for p, s in central.items()}
        draws = draw_br = None
        shape_varies = len(self.processes) > 1 or any(
            s.continuum is not None for s in central.values())
        if self.n_samples and shape_varies:
            rows, brs = [], []
            first = self.processes[0]
            for k in range(self.n_samples):
                spectra = {p: self._spectrum(scen, p, mass, dict(params), k)
                           for p in self.processes}
                rows.append(self._fold_one(spectra))
                brs.append(total_br(spectra[first]))
            draws, draw_br = np.array(rows), np.array(brs)
        out = _Raw(nominal, br, draws, draw_br)
        self._raw_cache[key] = out
        return out

    def _ff_histosys(self, noms: list[np.ndarray], draws: list[np.ndarray | None])\
            -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        if not self._split_families:
            return super()._ff_histosys(noms, draws)
        from emiss.patches.build import _KIND_TAG, FF_COMPONENTS, FF_MIN_RELATIVE

        n = self._n_per_family
        mats = [d if d is not None else np.repeat(v[None, :], 2 * n, axis=0)
                for v, d in zip(noms, draws, strict=True)]
        x_all = np.concatenate(mats, axis=1)
        sizes = np.cumsum([0] + [len(v) for v in noms])
        out: dict[str, list] = {}
        for f, fam in enumerate(self._families):
            x = x_all[f * n:(f + 1) * n]
            xc = (x - x.mean(axis=0)) / np.sqrt(n - 1)
            _, s, vt = np.linalg.svd(xc, full_matrices=False)
            for i in range(min(FF_COMPONENTS, len(s))):
                if s[0] <= 0 or s[i] < FF_MIN_RELATIVE * s[0]:
                    break
                v = s[i] * vt[i]
                j = int(np.argmax(np.abs(v)))
                if v[j] < 0:
                    v = -v
                out[f"ff_{_KIND_TAG.get(fam, fam)}_pc{i + 1}"] = [
                    (nv - v[sizes[k]:sizes[k + 1]], nv + v[sizes[k]:sizes[k + 1]])
                    for k, nv in enumerate(noms)]
        return out


def load_kstar_bundle(path: str | os.PathLike) -> Any:
    """Load a K* (or K + K*) bundle: workspace, sidecar and its (K*) response.

    Args:
        path: workspace JSON (sidecar ``<stem>.meta.json`` next to it).

    Returns:
        ``emiss.workspace.Bundle`` whose response is a KstarResponse.
    """
    from emiss.io import read_json
    from emiss.workspace import Bundle, sidecar_path

    p = Path(path)
    if not p.is_file():
        raise EmissError(f"workspace {str(path)!r} does not exist")
    spec = read_json(p)
    side = sidecar_path(p)
    if not side.is_file():
        raise EmissError(f"workspace {str(p)!r} has no sidecar {side.name!r}")
    meta = read_json(side)
    if not meta.get("response"):
        raise EmissError(f"sidecar {str(side)!r} names no response file")
    resp = KstarResponse.load(p.parent / meta["response"])
    resp.check_workspace(spec)
    return Bundle(spec=spec, meta=meta, response=resp, path=p)


def kstar_target(bundle_or_path: Any) -> Target:
    """H4 Target of a K* bundle (or its workspace path)."""
    bundle = bundle_or_path if hasattr(bundle_or_path, "spec") else load_kstar_bundle(
        bundle_or_path)
    return target_from_bundle(bundle)


def scenario_patchset(target: Target, scenario: str,
                      masses: Sequence[float] | str | None = None,
                      params: Mapping[str, Sequence[float]] | None = None,
                      n_samples: int = DEFAULT_FF_SAMPLES, seed: int = DEFAULT_FF_SEED,
                      builder: KstarTemplateBuilder | None = None) -> dict:
    """A PatchSet for one scenario on a K* or K + K* workspace (H4's generator, polarised fold).

    Args:
        target: the workspace (``kstar_target``).
        scenario: scenario name (``emiss.physics.scenarios``).
        masses: m_X grid: values or a grid string such as "0.1:4.3:0.2" (None: no mass).
        params: parameter grids.
        n_samples: form-factor draws.
        seed: their seed.
        builder: reuse a builder (caches) across scenarios.

    Returns:
        The PatchSet dict.
    """
    if masses is not None and not isinstance(masses, str):
        masses = list(masses)
    entry = make_entry(scenario, masses=masses,
                       params=dict(params or {}))
    builder = builder or KstarTemplateBuilder(target, n_samples=n_samples, seed=seed)
    return build_patchset(target, entry, builder=builder)
