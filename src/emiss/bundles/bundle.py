"""The bundle model: a background-only workspace with its sidecar and response.

A bundled workspace is three files in one folder (docs/interfaces.md):

* ``<stem>.json``: a pure pyhf workspace (schema-valid; no signal sample; POI ``mu`` declared),
* ``<stem>.meta.json``: the sidecar (emulated-data statement, HEPData reference, channel ->
  process, N_B per channel, the modifiers every signal sample must carry per channel, and the
  response file name),
* the response file the sidecar names (``emiss.response.Response``).

``load_bundle`` finds the sidecar and response next to the workspace; a user's own workspace can
come with an explicit response instead. The bundled workspaces (the repository's top-level
``workspaces/``) are package data of ``emiss.data.workspaces``, found with ``importlib.resources``
(``bundled_dir``), so that they are found after ``pip install .`` as after ``pip install -e .``;
every stem of ``BUNDLED_STEMS`` (B -> K and B -> K*) is resolvable by name. The sources that
build them are the other modules of ``emiss.bundles``.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyhf

from emiss.bundles.checks import (
    check_provenance,
    check_response_covers_signal,
    check_sidecar,
    check_workspace_numbers,
)
from emiss.bundles.locations import bundled_dir
from emiss.errors import EmissError, EmulatedDataWarning
from emiss.io import read_json
from emiss.response import Response

log = logging.getLogger(__name__)

#: Channel names of the bundled emulation.
CHANNELS = ("ita_onres", "ita_offres", "hta")
#: Background sample names of the bundled emulation.
BACKGROUNDS = ("bkg_bplus", "bkg_b0", "bkg_uds", "bkg_ccbar", "bkg_tautau", "bkg_btaunu")
#: Parameter of interest.
POI = "mu"
#: Name of the signal sample patches add.
SIGNAL_SAMPLE = "signal"
#: Stems of the bundled B -> K workspaces (``emiss.bundles.k_emulation``).
K_STEMS = ("belle2_ita_bkgonly", "belle2_hta_bkgonly", "belle2_combined_bkgonly")
#: Stems of the bundled B -> K* workspaces (``emiss.bundles.kstar_emulation``, ``combine``).
KSTAR_STEMS = ("belle2_kstar_bkgonly", "belle2_k_kstar_combined_bkgonly")
#: Stems of every bundled workspace, each resolvable by name (``load_bundle``).
BUNDLED_STEMS = K_STEMS + KSTAR_STEMS


def __getattr__(name: str) -> Any:
    """``BUNDLED_DIR``: the folder of the bundled workspaces, resolved on first use."""
    if name == "BUNDLED_DIR":
        return bundled_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Bundle:
    """A workspace with its sidecar and response.

    Attributes:
        spec: the pyhf workspace dict.
        meta: the sidecar dict ({} for a user's workspace without one).
        response: the Response, or None when neither a sidecar nor the caller provided one.
        path: the workspace file.
    """

    spec: dict
    meta: dict
    response: Response | None
    path: Path | None

    @property
    def stem(self) -> str:
        """Workspace file name without .json."""
        return self.path.name[: -len(".json")] if self.path else "workspace"

    def require_response(self) -> Response:
        """The response, or a clear EmissError when there is none."""
        if self.response is None:
            raise EmissError(
                f"workspace {str(self.path)!r} has no detector response: pass one explicitly "
                "(e.g. --response FILE) or keep <stem>.meta.json and its response file next to it"
            )
        return self.response

    def channel_process(self) -> dict[str, str | None]:
        """channel -> process it measures (None: no signal, e.g. off-resonance)."""
        chans = self.meta.get("channels", {})
        if chans:
            return {n: c.get("process") for n, c in chans.items()}
        if self.response is not None:
            return {n: c.process for n, c in self.response.channels.items()}
        return {}

    def signal_modifiers(self, channel: str) -> list[dict]:
        """Modifiers (besides normfactor mu) a signal sample in channel must carry."""
        return [dict(m) for m in self.meta.get("channels", {}).get(channel, {}).get(
            "signal_modifiers", [])]

    def reference_branching_ratio(self) -> float | None:
        """Branching ratio that mu = 1 stands for (sidecar; Belle II's 4.97e-6 by default).

        Returns:
            The sidecar's value, 4.97e-6 when the sidecar is silent, or None when the sidecar
            states that there is no single reference (each patch states its own).
        """
        sig = self.meta.get("signal", {})
        if "reference_branching_ratio" not in sig:
            return 4.97e-6
        ref = sig["reference_branching_ratio"]
        return None if ref is None else float(ref)


def sidecar_path(path: str | os.PathLike) -> Path:
    """Sidecar path for a workspace path: <stem>.meta.json."""
    path = Path(path)
    name = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(f"{name}.meta.json")


def resolve_workspace(path: str | os.PathLike) -> Path:
    """The workspace file a name stands for.

    A file path is itself; a bundled stem (``BUNDLED_STEMS``) is found in ``bundled_dir()``;
    ``belle2`` (and the real bundle's stem ``belle2_ins2947386_bkgonly``) is Belle II's released
    likelihood, shipped with emiss (``emiss.bundles.belle2_hepdata.find_bundle``: a fetched or
    $EMISS_BELLE2_DATA copy when there is one). The emulations keep their explicit names.

    Args:
        path: path or name.

    Returns:
        The workspace file.

    Raises:
        EmissError: nothing of that name exists.
    """
    from emiss.bundles import belle2_hepdata as real

    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise EmissError(f"workspace {str(path)!r} is a folder; expected a pyhf workspace JSON "
                         f"file or a name ({real.ALIAS!r}, {', '.join(BUNDLED_STEMS)})")
    if p.name in (real.ALIAS, real.STEM):
        found = real.find_bundle()
        log.info("%s: Belle II's released likelihood %s", p.name, found)
        return found
    if p.name in BUNDLED_STEMS:
        return bundled_dir() / f"{p.name}.json"
    raise EmissError(
        f"workspace {str(path)!r} does not exist; names: {real.ALIAS!r} (Belle II's released "
        f"likelihood, HEPData {real.RECORD}) or an emulation: {', '.join(BUNDLED_STEMS)}")


def load_bundle(path: str | os.PathLike, response: Response | str | os.PathLike | None = None)\
        -> Bundle:
    """Load a workspace with its sidecar and response.

    Args:
        path: the workspace JSON (a bundled stem such as "belle2_ita_bkgonly" also works).
        response: explicit Response or response-file path (overrides the sidecar's).

    Returns:
        The Bundle (response None when none is found; ``require_response`` then raises).

    Raises:
        EmissError: missing or invalid workspace, response channels not matching the workspace.
    """
    p = resolve_workspace(path)
    try:
        spec = read_json(p)
    except ValueError as exc:
        raise EmissError(f"workspace {str(p)!r} is not valid JSON: {exc}") from None
    try:
        pyhf.schema.validate(spec, "workspace.json")
    except pyhf.exceptions.InvalidSpecification as exc:
        msg = str(exc).splitlines()[0]
        raise EmissError(f"workspace {str(p)!r} is not a valid pyhf workspace: {msg}") from None
    check_workspace_numbers(spec, p.name)
    side = sidecar_path(p)
    meta: dict = {}
    if side.is_file():
        try:
            meta = read_json(side)
        except ValueError as exc:
            raise EmissError(f"sidecar {str(side)!r} is not valid JSON ({exc}); rebuild it or "
                             "pass --no-sidecar") from None
        check_sidecar(spec, meta, side)
        check_provenance(spec, meta, p)
    resp: Response | None = None
    if isinstance(response, Response):
        resp = response
    elif response is not None:
        resp = Response.load(response)
    elif meta.get("response"):
        resp = Response.load(p.parent / meta["response"])
    if resp is not None:
        resp.check_workspace(spec)
        check_response_covers_signal(meta, resp, side.name)
    if meta.get("emulated_data"):
        warn_emulated(p)
    return Bundle(spec=spec, meta=meta, response=resp, path=p)


_WARNED: set[str] = set()


def warn_emulated(path: Path) -> None:
    """Say once per process and workspace that its observations are emulated.

    Logs a warning and issues an ``EmulatedDataWarning`` (the CLI shows the log line only).

    Args:
        path: the workspace file.
    """
    key = str(Path(path).resolve())
    if key in _WARNED:
        return
    _WARNED.add(key)
    msg = (f"workspace {Path(path).name} holds EMULATED observations (calibrated to Belle II's "
           "public results, not recorded data); Belle II's released likelihood is 'belle2'")
    log.warning(msg)
    warnings.warn(msg, EmulatedDataWarning, stacklevel=3)


def channel_names(spec: dict[str, Any]) -> list[str]:
    """Channel names of a workspace spec, in order."""
    return [c["name"] for c in spec.get("channels", [])]
