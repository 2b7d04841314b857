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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyhf

from emiss import contracts
from emiss.bundles.checks import (
    check_provenance,
    check_response_covers_signal,
    check_sidecar,
    check_workspace_numbers,
)
from emiss.bundles.locations import bundled_dir
from emiss.contracts import Sidecar
from emiss.errors import EmissError, EmulatedDataWarning
from emiss.io import read_json
from emiss.physics.constants import SM_REFERENCE_BR_BPLUS_KPLUS
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


#: Order of processes (the first present in a workspace sets mu's reference).
PROCESS_ORDER = ("B+->K+", "B0->K0", "B0->K*0", "B+->K*+")
#: process -> what mu = 1 stands for in the SM patch when the sidecar is silent: Belle II's
#: short-distance SM B(B+ -> K+ nu nubar) (``emiss.physics.constants``, arXiv:2311.14647).
SM_REFERENCE_BR = {"B+->K+": SM_REFERENCE_BR_BPLUS_KPLUS}


@dataclass
class Bundle:
    """A workspace with its sidecar and response: what every stage after ``bundles`` needs of it.

    The fields after ``path`` default to what the sidecar says (``None`` = from the sidecar);
    a caller may override them (e.g. ``--hepdata``).

    Attributes:
        spec: the pyhf workspace dict.
        meta: the sidecar dict ({} for a user's workspace without one).
        response: the Response, or None when neither a sidecar nor the caller provided one.
        path: the workspace file.
        hepdata: INSPIRE reference for the PatchSet metadata (sidecar ``references.hepdata``).
        channel_modifiers: channel -> modifiers every signal sample must carry (sidecar
            ``channels[c].signal_modifiers``).
        name: short name for descriptions (the file stem).
        sm_reference: process -> B that mu = 1 stands for in the SM patch (the sidecar's
            ``signal.reference_branching_ratio`` when given, else ``SM_REFERENCE_BR``).
        sm_samples: channel -> the workspace's own published SM signal sample (sidecar
            ``channels[c].sm_sample``; Belle II's released likelihood): SM-shaped templates
            are this sample scaled, so the SM patch restores the published likelihood.
        sm_positions: channel -> index of that sample in the published channel.
    """

    spec: dict
    meta: dict = field(default_factory=dict)
    response: Response | None = None
    path: Path | None = None
    hepdata: str | None = None
    channel_modifiers: dict[str, list[dict]] | None = None
    name: str | None = None
    sm_reference: dict[str, float] | None = None
    sm_samples: dict[str, dict] | None = None
    sm_positions: dict[str, int] | None = None

    def __post_init__(self) -> None:
        side = self.sidecar
        if self.hepdata is None:
            self.hepdata = side.hepdata
        if self.channel_modifiers is None:
            self.channel_modifiers = side.signal_modifiers()
        if self.name is None:
            self.name = self.stem
        if self.sm_reference is None:
            self.sm_reference = dict(SM_REFERENCE_BR)
            sig = side.signal
            if sig.get("reference_branching_ratio") is not None:
                self.sm_reference[str(sig.get("process", "B+->K+"))] = float(
                    sig["reference_branching_ratio"])
        if self.sm_samples is None:
            self.sm_samples = side.sm_samples()
        if self.sm_positions is None:
            self.sm_positions = side.sm_positions()

    @property
    def sidecar(self) -> Sidecar:
        """The sidecar, typed (``emiss.contracts.Sidecar``; checked when the file was read)."""
        return Sidecar.from_dict(self.meta or {}, check=False)

    @property
    def stem(self) -> str:
        """Workspace file name without .json."""
        return self.path.name.removesuffix(".json") if self.path else "workspace"

    def require_response(self) -> Response:
        """The response, or a clear EmissError when there is none."""
        if self.response is None:
            raise EmissError(
                f"workspace {str(self.path or self.name)!r} has no detector response: pass one "
                "explicitly (e.g. --response FILE) or keep <stem>.meta.json and its response "
                "file next to it"
            )
        return self.response

    def channels(self) -> list[str]:
        """Workspace channels with a response, in workspace order."""
        resp = self.require_response()
        return [n for n in channel_names(self.spec) if n in resp.channels]

    def processes(self) -> list[str]:
        """Processes the response's channels measure, first one first (``PROCESS_ORDER``)."""
        resp = self.require_response()
        procs = {resp.channels[c].process for c in self.channels()}
        known = [p for p in PROCESS_ORDER if p in procs]
        return known + sorted(procs - set(known))

    def channel_process(self) -> dict[str, str | None]:
        """channel -> process it measures (None: no signal, e.g. off-resonance)."""
        chans = self.sidecar.channels
        if chans:
            return {n: c.process for n, c in chans.items()}
        if self.response is not None:
            return {n: c.process for n, c in self.response.channels.items()}
        return {}

    def signal_modifiers(self, channel: str) -> list[dict]:
        """Modifiers (besides normfactor mu) a signal sample in channel must carry."""
        return [dict(m) for m in (self.channel_modifiers or {}).get(channel, [])]

    def reference_branching_ratio(self) -> float | None:
        """Branching ratio that mu = 1 stands for (sidecar; Belle II's 4.97e-6 by default).

        Returns:
            The sidecar's value, ``SM_REFERENCE_BR`` of B+ -> K+ when the sidecar is silent, or
            None when the sidecar states that there is no single reference (each patch states
            its own).
        """
        side = self.sidecar
        if not side.states_reference():
            return SM_REFERENCE_BR["B+->K+"]
        ref = side.signal["reference_branching_ratio"]
        return None if ref is None else float(ref)


def sidecar_path(path: str | os.PathLike) -> Path:
    """Sidecar path for a workspace path: <stem>.meta.json."""
    path = Path(path)
    name = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(f"{name}.meta.json")


#: What to do about a bad sidecar (the end of its error message).
SIDECAR_HINT = "rebuild it or pass --no-sidecar"


def read_sidecar(path: str | os.PathLike, hint: str = SIDECAR_HINT) -> dict[str, Any]:
    """Read a sidecar file and check it against its contract (``emiss.contracts``).

    Args:
        path: the ``<stem>.meta.json`` file.
        hint: what to do about a bad sidecar (the end of the message).

    Returns:
        The sidecar dict.

    Raises:
        EmissError: a folder, unreadable, not JSON or breaking the sidecar contract (one line
            naming the file, the bad field and what is valid).
    """
    try:
        meta = read_json(path, "sidecar")
    except EmissError as exc:
        raise EmissError(f"{exc}; {hint}") from None
    contracts.validate(meta, "sidecar", repr(str(path)), hint)
    return meta


def resolve_workspace(path: str | os.PathLike, *, missing_ok: bool = False,
                      announce: Callable[[str], None] | None = None) -> Path | None:
    """The workspace file a name stands for: the one workspace resolver of emiss.

    A file path is itself; a bundled stem (``BUNDLED_STEMS``) is found in ``bundled_dir()``;
    ``belle2`` (and the real bundle's stem ``belle2_ins2947386_bkgonly``) is Belle II's released
    likelihood, shipped with emiss (``emiss.bundles.belle2_hepdata.find_bundle``: a fetched or
    $EMISS_BELLE2_DATA copy when there is one); the README's spelling
    ``workspaces/<stem>.json`` of a bundled stem, when no such file exists here (e.g. after
    ``pip install .``, run from another folder), is the installed file. The emulations keep
    their explicit names.

    Args:
        path: path or name.
        missing_ok: return None instead of raising when nothing of that name exists.
        announce: called with a note when the installed file replaces a missing
            ``workspaces/<stem>.json``.

    Returns:
        The workspace file (None: nothing of that name, with ``missing_ok``).

    Raises:
        EmissError: nothing of that name exists (unless ``missing_ok``).
    """
    from emiss.bundles import belle2_hepdata as real

    p = Path(path)
    if p.is_file():
        return p
    try:
        if p.is_dir():
            raise EmissError(f"workspace {str(path)!r} is a folder; expected a pyhf workspace "
                             f"JSON file or a name ({real.ALIAS!r}, {', '.join(BUNDLED_STEMS)})")
        if p.name in (real.ALIAS, real.STEM):
            found = real.find_bundle()
            log.info("%s: Belle II's released likelihood %s", p.name, found)
            return found
        if p.name in BUNDLED_STEMS:
            return bundled_dir() / f"{p.name}.json"
        stem = p.name.removesuffix(".json")
        installed = bundled_dir() / p.name
        if stem in BUNDLED_STEMS and p.name.endswith(".json") \
                and p.parent.name == "workspaces" and installed.is_file():
            msg = f"{str(path)!r} is not here; using the bundled {stem} ({installed})"
            log.info(msg)
            if announce is not None:
                announce(msg)
            return installed
        raise EmissError(
            f"workspace {str(path)!r} does not exist; names: {real.ALIAS!r} (Belle II's "
            f"released likelihood, HEPData {real.RECORD}) or an emulation: "
            f"{', '.join(BUNDLED_STEMS)}")
    except EmissError:
        if missing_ok:
            return None
        raise


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
    assert p is not None
    spec = read_json(p, "workspace")
    try:
        pyhf.schema.validate(spec, "workspace.json")
    except pyhf.exceptions.InvalidSpecification as exc:
        msg = str(exc).splitlines()[0]
        raise EmissError(f"workspace {str(p)!r} is not a valid pyhf workspace: {msg}") from None
    check_workspace_numbers(spec, p.name)
    side = sidecar_path(p)
    meta: dict = {}
    if side.is_file():
        meta = read_sidecar(side)
        check_sidecar(spec, meta, side)
        check_provenance(spec, meta, p)
    resp: Response | None = None
    if isinstance(response, Response):
        resp = response
    elif response is not None:
        resp = Response.load(response)
    elif Sidecar.from_dict(meta, check=False).response:
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
