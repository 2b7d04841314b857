"""Checks a workspace, its sidecar and its response pass before any work (no silent wrong number).

* Numbers: every yield, observation and modifier datum of a workspace (or of the samples a patch
  adds) is finite, and yields and observations are non-negative (a Poisson mean or count).
* Consistency: the sidecar describes the workspace's own channels; every channel the sidecar says
  carries signal has a response (otherwise a patch would silently leave it without signal).
* Provenance: a sidecar that records the workspace's pyhf digest (``workspace_digest``, written
  by the Belle II import) must match the workspace on disk (an edited bundle is refused).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emiss.errors import EmissError

if TYPE_CHECKING:
    from emiss.response import Response


def _numbers(values: Any) -> Iterable[Any]:
    if isinstance(values, (list, tuple)):
        for v in values:
            yield from _numbers(v)
    else:
        yield values


def _bad(values: Any, nonneg: bool) -> Any:
    """The first entry that is not a finite (non-negative) number, or None."""
    for v in _numbers(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or (nonneg and v < 0):
            return v
    return None


def check_sample(sample: Mapping[str, Any], where: str) -> None:
    """Raise EmissError unless a pyhf sample's yields and modifier data are sane.

    Yields (``data``, histosys ``hi_data``/``lo_data``, staterror and shapesys uncertainties) must
    be finite and non-negative; normsys factors finite and positive.

    Args:
        sample: pyhf sample dict.
        where: what to call it in the message (e.g. "workspace w.json, channel c").
    """
    name = sample.get("name", "?")
    bad = _bad(sample.get("data", []), nonneg=True)
    if bad is not None:
        raise EmissError(f"{where}, sample {name!r}: yield {bad!r} is not a finite number >= 0")
    for m in sample.get("modifiers", []):
        data, kind = m.get("data"), m.get("type")
        if kind == "histosys":
            for key in ("hi_data", "lo_data"):
                bad = _bad(data.get(key, []), nonneg=True)
                if bad is not None:
                    raise EmissError(f"{where}, sample {name!r}: histosys {m['name']!r} {key} "
                                     f"{bad!r} is not a finite number >= 0")
        elif kind in ("staterror", "shapesys"):
            bad = _bad(data, nonneg=True)
            if bad is not None:
                raise EmissError(f"{where}, sample {name!r}: {kind} {m['name']!r} uncertainty "
                                 f"{bad!r} is not a finite number >= 0")
        elif kind == "normsys":
            for key in ("hi", "lo"):
                v = data.get(key)
                if _bad(v, nonneg=True) is not None or v == 0:
                    raise EmissError(f"{where}, sample {name!r}: normsys {m['name']!r} {key} "
                                     f"{v!r} is not a finite number > 0")


def check_workspace_numbers(spec: Mapping[str, Any], name: str) -> None:
    """Raise EmissError unless every yield and observation of a workspace is sane.

    Args:
        spec: pyhf workspace dict.
        name: the workspace's name for messages.
    """
    for ch in spec.get("channels", []):
        for s in ch.get("samples", []):
            check_sample(s, f"workspace {name}, channel {ch['name']!r}")
    for obs in spec.get("observations", []):
        bad = _bad(obs.get("data", []), nonneg=True)
        if bad is not None:
            raise EmissError(f"workspace {name}, observations of {obs.get('name')!r}: {bad!r} "
                             "is not a finite count >= 0")


def check_sidecar(spec: Mapping[str, Any], meta: Any, side: Path) -> None:
    """Raise EmissError unless the sidecar is a JSON object describing this workspace's channels.

    Args:
        spec: pyhf workspace dict.
        meta: the parsed sidecar.
        side: its path (for messages).
    """
    if not isinstance(meta, Mapping):
        raise EmissError(f"sidecar {str(side)!r} is not a JSON object (it holds a "
                         f"{type(meta).__name__}); rebuild it or pass --no-sidecar")
    chans = meta.get("channels")
    if not isinstance(chans, Mapping):
        return
    have = [c["name"] for c in spec.get("channels", [])]
    if set(chans) != set(have):
        raise EmissError(
            f"sidecar {side.name} describes channels {sorted(chans)} but the workspace has "
            f"{sorted(have)}: it belongs to another workspace (keep each workspace with its "
            "own <stem>.meta.json)")


def check_response_covers_signal(meta: Mapping[str, Any], response: Response,
                                 side: str) -> None:
    """Raise EmissError when a channel the sidecar says carries signal has no response.

    Args:
        meta: the sidecar dict.
        response: the Response used.
        side: the sidecar's name (for messages).
    """
    chans = meta.get("channels")
    if not isinstance(chans, Mapping) or response is None:
        return
    signal = sorted(c for c, info in chans.items()
                    if isinstance(info, Mapping) and info.get("process"))
    missing = [c for c in signal if c not in response.channels]
    if missing:
        raise EmissError(
            f"the response has no channel {', '.join(repr(c) for c in missing)}, which "
            f"{side} says carry signal: a patch would leave them without signal; use the "
            "workspace's own response (the one its sidecar names)")


def check_provenance(spec: Mapping[str, Any], meta: Mapping[str, Any], path: Path) -> None:
    """Raise EmissError when a bundle was edited after its import (pyhf digest differs).

    Args:
        spec: pyhf workspace dict.
        meta: the sidecar dict (``workspace_digest``: pyhf sha256 digest written at import).
        path: the workspace file.
    """
    recorded = meta.get("workspace_digest")
    if not recorded:
        return
    import pyhf

    got = pyhf.utils.digest(spec, algorithm="sha256")
    if got != recorded:
        raise EmissError(
            f"workspace {str(path)!r} was modified after it was imported (pyhf sha256 "
            f"{got[:12]}… is not the {str(recorded)[:12]}… its sidecar recorded): import it "
            "again (`emiss workspace import-belle2` or `emiss data fetch belle2-knunu`)")
