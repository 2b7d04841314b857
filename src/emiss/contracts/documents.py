"""Typed views of the contract documents (one dataclass per contract).

Each ``from_dict`` checks the document against its schema (``validate``) unless ``check=False``
and gives typed fields; ``to_dict`` gives the JSON form back. Writers keep building plain dicts
and validate them; readers use these classes instead of string keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emiss.contracts._schema import validate

#: Version tags of the documents with room for one (``format``).
SIDECAR_FORMAT = "emiss-sidecar/1"
PATCH_FORMAT = "emiss-patch/1"
RESULTS_FORMAT = "emiss-scan-results/1"
GRID_FORMAT = "emiss-grid/1"
RESPONSE_FORMAT = "emiss-response-1"
KSTAR_RESPONSE_FORMAT = "emiss-kstar-response-1"
TOYS_FORMAT = "emiss-toys/1"


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


# ------------------------------------------------------------------------------- sidecar
@dataclass(frozen=True)
class SidecarChannel:
    """What the sidecar says of one channel.

    Attributes:
        process: the process it measures (None: no signal).
        n_b: produced parent B mesons (None without signal).
        signal_modifiers: pyhf modifiers every signal sample there carries (besides mu);
            None when the entry lists none.
        sm_sample: the workspace's own published SM signal sample, or None.
        sample_index: position of that sample in the published channel, or None.
    """

    process: str | None = None
    n_b: float | None = None
    signal_modifiers: list[dict] | None = None
    sm_sample: dict | None = None
    sample_index: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SidecarChannel:
        """The typed channel of a (validated) sidecar channel entry."""
        idx = d.get("sample_index")
        return cls(process=d.get("process"), n_b=_opt_float(d.get("n_b")),
                   signal_modifiers=None if d.get("signal_modifiers") is None else
                   [dict(m) for m in d["signal_modifiers"]],
                   sm_sample=dict(d["sm_sample"]) if d.get("sm_sample") is not None else None,
                   sample_index=None if idx is None else int(idx))


@dataclass(frozen=True)
class Sidecar:
    """A workspace sidecar (``<stem>.meta.json``; schema ``sidecar``).

    Attributes:
        raw: the document as written (every key, provenance keys of a source included).
        channels: channel -> SidecarChannel.
    """

    raw: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, SidecarChannel] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True,
                  hint: str | None = None) -> Sidecar:
        """The typed sidecar of a parsed document.

        Args:
            d: the parsed sidecar.
            where: what messages call it (its file).
            check: validate against the schema first.
            hint: what to do about a bad sidecar.

        Returns:
            The Sidecar.
        """
        if check:
            validate(d, "sidecar", where, hint)
        d = dict(d or {})
        chans = d.get("channels") if isinstance(d.get("channels"), Mapping) else {}
        return cls(raw=d, channels={str(n): SidecarChannel.from_dict(c)
                                    for n, c in chans.items() if isinstance(c, Mapping)})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as read)."""
        return dict(self.raw)

    @property
    def response(self) -> str | None:
        """File name of the response file, or None."""
        return self.raw.get("response") or None

    @property
    def emulated_data(self) -> bool | None:
        """True for emulated observations, False for recorded data, None when not stated."""
        val = self.raw.get("emulated_data")
        return None if val is None else bool(val)

    @property
    def workspace_digest(self) -> str | None:
        """pyhf sha256 digest recorded at import, or None."""
        return self.raw.get("workspace_digest") or None

    @property
    def hepdata(self) -> str | None:
        """INSPIRE reference (``references.hepdata``), or None."""
        refs = self.raw.get("references")
        ref = refs.get("hepdata") if isinstance(refs, Mapping) else None
        return ref if isinstance(ref, str) else None

    @property
    def signal(self) -> dict[str, Any]:
        """The ``signal`` block ({} when absent)."""
        sig = self.raw.get("signal")
        return dict(sig) if isinstance(sig, Mapping) else {}

    def states_reference(self) -> bool:
        """Whether ``signal.reference_branching_ratio`` is written (a number or null)."""
        return "reference_branching_ratio" in self.signal

    def signal_modifiers(self) -> dict[str, list[dict]]:
        """channel -> modifiers every signal sample there must carry (channels that list them)."""
        return {n: [dict(m) for m in c.signal_modifiers] for n, c in self.channels.items()
                if c.signal_modifiers is not None}

    def sm_samples(self) -> dict[str, dict]:
        """channel -> the workspace's own published SM signal sample."""
        return {n: dict(c.sm_sample) for n, c in self.channels.items()
                if c.sm_sample is not None}

    def sm_positions(self) -> dict[str, int]:
        """channel -> index of the published SM signal sample in the channel."""
        return {n: c.sample_index for n, c in self.channels.items()
                if c.sample_index is not None}


# ------------------------------------------------------------------------- patch emiss block
@dataclass(frozen=True)
class Coupling:
    """The coupling whose square the rate follows: at mu it is reference_value * sqrt(mu)."""

    name: str
    reference_value: float


@dataclass(frozen=True)
class Polarisation:
    """The K* longitudinal polarisation of a B -> K* hypothesis (central form factors).

    Attributes:
        process: the B -> K* process.
        FL: F_L of the whole spectrum (None: undefined).
        FL_binned: <F_L> per q^2 bin (None: no rate in the bin).
        FL_q2_edges: the q^2 edges of those bins (GeV^2).
    """

    process: str
    FL: float | None
    FL_binned: list[float | None]
    FL_q2_edges: list[float]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the block's ``polarisation``)."""
        return {"process": self.process, "FL": self.FL, "FL_binned": list(self.FL_binned),
                "FL_q2_edges": list(self.FL_q2_edges)}

    def row_fields(self) -> dict[str, Any]:
        """The results row's fields ``FL_process``, ``FL``, ``FL_binned``, ``FL_q2_edges``."""
        return {"FL_process": self.process, "FL": self.FL, "FL_binned": list(self.FL_binned),
                "FL_q2_edges": list(self.FL_q2_edges)}


_BLOCK_OPTIONAL = ("reference_branching_ratios", "predicted_branching_ratio", "user_spectrum",
                   "m_X", "parameters", "P_inv", "ctau_m", "detector_radius_m")


@dataclass(frozen=True)
class PatchBlock:
    """The ``emiss`` block of one patch's metadata (schema ``patch``).

    Attributes:
        scenario: scenario name.
        process: the process mu refers to.
        reference_branching_ratio: B(process) at mu = 1.
        coupling: the coupling at mu = 1, or None (sm, heavy-np).
        format: the version tag (None in blocks written before it existed).
        reference_branching_ratios: process -> B at mu = 1 (workspaces with several).
        predicted_branching_ratio: the SM patch's computed B.
        user_spectrum: what a user spectrum was.
        m_X: mass in GeV.
        parameters: the hypothesis' parameters.
        P_inv: process -> escape probability (partly invisible X).
        ctau_m: proper decay length (m) with P_inv.
        detector_radius_m: detector radius (m) with P_inv.
        polarisation: the K* polarisation of B -> K* hypotheses.
    """

    scenario: str
    process: str
    reference_branching_ratio: float
    coupling: Coupling | None = None
    format: str | None = PATCH_FORMAT
    reference_branching_ratios: dict[str, float] | None = None
    predicted_branching_ratio: float | None = None
    user_spectrum: dict[str, Any] | None = None
    m_X: float | None = None
    parameters: dict[str, float] | None = None
    P_inv: dict[str, float] | None = None
    ctau_m: float | None = None
    detector_radius_m: float | None = None
    polarisation: Polarisation | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True) -> PatchBlock:
        """The typed block of a parsed ``emiss`` block.

        Args:
            d: the block.
            where: what messages call it (e.g. "patch 'sm' of patchset #1").
            check: validate against the schema first.

        Returns:
            The PatchBlock.
        """
        if check:
            validate(d, "patch", where, "rebuild the PatchSet with emiss patchset")
        c = d.get("coupling")
        pol = d.get("polarisation")
        return cls(
            scenario=str(d["scenario"]), process=str(d["process"]),
            reference_branching_ratio=float(d["reference_branching_ratio"]),
            coupling=None if c is None else Coupling(str(c["name"]),
                                                     float(c["reference_value"])),
            format=d.get("format"),
            polarisation=None if pol is None else Polarisation(
                str(pol["process"]), pol["FL"], list(pol["FL_binned"]),
                list(pol["FL_q2_edges"])),
            **{k: d[k] for k in _BLOCK_OPTIONAL if k in d})

    @classmethod
    def from_patch(cls, patch: Mapping[str, Any], where: str | None = None)\
            -> PatchBlock | None:
        """The block of one patch (or of its metadata), or None when it has none.

        Args:
            patch: a PatchSet entry (``{"metadata", "patch"}``) or its ``metadata``.
            where: what messages call it (default: the patch's name).

        Returns:
            The checked PatchBlock, or None for a patch without an ``emiss`` block.
        """
        meta = patch.get("metadata", patch) if isinstance(patch, Mapping) else {}
        block = meta.get("emiss") if isinstance(meta, Mapping) else None
        if block is None:
            return None
        return cls.from_dict(block, where or f"of patch {meta.get('name', '?')!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``coupling`` always, optional keys only when set."""
        out: dict[str, Any] = {}
        if self.format is not None:
            out["format"] = self.format
        out.update({"scenario": self.scenario, "process": self.process,
                    "reference_branching_ratio": self.reference_branching_ratio,
                    "coupling": None if self.coupling is None else {
                        "name": self.coupling.name,
                        "reference_value": self.coupling.reference_value}})
        for k in _BLOCK_OPTIONAL:
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.polarisation is not None:
            out["polarisation"] = self.polarisation.to_dict()
        return out

    @property
    def processes(self) -> list[str]:
        """Every process the block gives a reference for (``process`` first)."""
        rest = [p for p in (self.reference_branching_ratios or {}) if p != self.process]
        return [self.process, *rest]


# ------------------------------------------------------------------------------- results
def _row_keys() -> frozenset[str]:
    """Row keys that are not label coordinates (the properties of schema ``result_row``)."""
    from emiss.contracts._schema import schema

    return frozenset(schema("result_row")["properties"])


@dataclass(frozen=True)
class ClsCurve:
    """The CLs curve of one hypothesis (a row's ``cls_curve``), for a Brazil plot.

    Attributes:
        mu: the increasing grid of mu.
        cls_obs: observed CLs per mu (None: failed).
        cls_exp: expected CLs per mu, 5 each: the CLs of the expected limits -2 sigma ...
            +2 sigma (pyhf's expected set, n_sigma = 2 ... -2).
    """

    mu: list[float]
    cls_obs: list[float | None]
    cls_exp: list[list[float | None]]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClsCurve:
        """The typed curve of a (validated) row's ``cls_curve``."""
        return cls(mu=[float(m) for m in d["mu"]], cls_obs=[_opt_float(c) for c in d["cls_obs"]],
                   cls_exp=[[_opt_float(c) for c in e] for e in d["cls_exp"]])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"mu": list(self.mu), "cls_obs": list(self.cls_obs),
                "cls_exp": [list(e) for e in self.cls_exp]}


@dataclass(frozen=True)
class ResultRow:
    """One row of a results document (schema ``result_row``).

    Attributes:
        raw: the row as written (key order kept: the CSV columns follow it).
        name: patch name.
        patchset: index into the document's ``patchset_digests``.
        status: "ok", "ok (...)" or "failed: ...".
        values: label -> the hypothesis' coordinate.
    """

    raw: dict[str, Any]
    name: str
    patchset: int
    status: str
    values: dict[str, Any]

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True) -> ResultRow:
        """The typed row of a parsed row."""
        if check:
            validate(d, "result_row", where)
        keys = _row_keys()
        return cls(raw=dict(d), name=str(d["name"]), patchset=int(d.get("patchset", 0)),
                   status=str(d["status"]),
                   values={k: v for k, v in d.items() if k not in keys})

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the row (``None``-safe, as ``dict.get``)."""
        return self.raw.get(key, default)

    @property
    def ok(self) -> bool:
        """Whether the analysis succeeded."""
        return self.status.startswith("ok")

    @property
    def cls_curve(self) -> ClsCurve | None:
        """The hypothesis' CLs curve, or None when the scan did not keep it."""
        curve = self.raw.get("cls_curve")
        return None if curve is None else ClsCurve.from_dict(curve)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as read)."""
        return dict(self.raw)


@dataclass(frozen=True)
class ResultsDocument:
    """A results document (``emiss scan``'s RESULTS.json; schema ``results``).

    Attributes:
        workspace_digest: pyhf digest of the background-only workspace.
        patchset_digests: pyhf digest of each input PatchSet, in input order.
        labels: the PatchSets' labels.
        options: the analysis options that change numbers.
        results: the rows.
        workspace: the ``workspace`` block (which workspace, what data), or None.
        format: the version tag.
    """

    workspace_digest: str
    patchset_digests: list[str]
    labels: list[str]
    options: dict[str, Any]
    results: list[ResultRow]
    workspace: dict[str, Any] | None = None
    format: str = RESULTS_FORMAT

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True,
                  hint: str | None = None) -> ResultsDocument:
        """The typed document of a parsed results document."""
        if check:
            validate(d, "results", where, hint)
        return cls(workspace_digest=str(d["workspace_digest"]),
                   patchset_digests=[str(x) for x in d["patchset_digests"]],
                   labels=list(d["labels"]), options=dict(d["options"]),
                   results=[ResultRow.from_dict(r, check=False) for r in d["results"]],
                   workspace=None if d.get("workspace") is None else dict(d["workspace"]),
                   format=str(d["format"]))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the ``workspace`` block only when there is one)."""
        extra = {} if self.workspace is None else {"workspace": dict(self.workspace)}
        return {**extra, "format": self.format, "workspace_digest": self.workspace_digest,
                "patchset_digests": list(self.patchset_digests), "labels": list(self.labels),
                "options": dict(self.options), "results": [r.to_dict() for r in self.results]}

    @property
    def cl(self) -> float:
        """Confidence level of the limits (``options.cl``; 0.95 when not stated)."""
        return float(self.options.get("cl", 0.95))

    @property
    def calctype(self) -> str:
        """How CLs was computed (``options.calctype``; asymptotics when not stated)."""
        return str(self.options.get("calctype", "asymptotics"))

    @property
    def observed_only(self) -> bool:
        """Whether the scan skipped the expected band (``options.observed_only``)."""
        return bool(self.options.get("observed_only", False))


# ---------------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class GridEntrySpec:
    """One entry of a grid file, as written (values not yet expanded).

    Attributes:
        scenario: scenario name.
        name: PatchSet file stem ("" for the default).
        masses: the mass specification, or None.
        params: parameter -> value specification.
        fixed: parameters set but not scanned.
    """

    scenario: str
    name: str = ""
    masses: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GridEntrySpec:
        """The entry of a (validated) grid-file entry."""
        return cls(scenario=str(d["scenario"]), name=str(d.get("name", "")),
                   masses=d.get("masses"), params=dict(d.get("params") or {}),
                   fixed=dict(d.get("fixed") or {}))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (keys only when set)."""
        out: dict[str, Any] = {"scenario": self.scenario}
        if self.name:
            out["name"] = self.name
        if self.masses is not None:
            out["masses"] = self.masses
        if self.params:
            out["params"] = dict(self.params)
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        return out


@dataclass(frozen=True)
class GridFile:
    """A grid file (schema ``grid``): named lists of grid entries.

    Attributes:
        lists: list key (``patchsets``, ``kstar_patchsets``, ...) -> its entries.
        grid_differences: list key -> why that list differs from ``patchsets``.
        format: the version tag, or None when the file names none.
    """

    lists: dict[str, list[GridEntrySpec]]
    grid_differences: dict[str, dict[str, str]] = field(default_factory=dict)
    format: str | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True) -> GridFile:
        """The typed grid file of a parsed YAML/TOML document."""
        if check:
            validate(d, "grid", where)
        lists = {k: [GridEntrySpec.from_dict(e) for e in v] for k, v in d.items()
                 if k not in ("format", "grid_differences")}
        return cls(lists=lists, grid_differences=dict(d.get("grid_differences") or {}),
                   format=d.get("format"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        out: dict[str, Any] = {} if self.format is None else {"format": self.format}
        out.update({k: [e.to_dict() for e in v] for k, v in self.lists.items()})
        if self.grid_differences:
            out["grid_differences"] = dict(self.grid_differences)
        return out


# ------------------------------------------------------------------------------ response
@dataclass(frozen=True)
class ResponseFile:
    """A response file (schema ``response``); the channels stay JSON dicts (the response
    stage's channel classes read them, dispatched on ``kind``).

    Attributes:
        format: ``emiss-response-1``, or ``emiss-kstar-response-1`` with a typed channel.
        meta: provenance.
        channels: channel name -> channel entry.
    """

    format: str
    channels: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True,
                  hint: str | None = None) -> ResponseFile:
        """The typed response file of a parsed document."""
        if check:
            validate(d, "response", where, hint)
        return cls(format=str(d["format"]), meta=dict(d.get("meta") or {}),
                   channels={str(n): dict(c) for n, c in d["channels"].items()})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"format": self.format, "meta": dict(self.meta), "channels": {
            n: dict(c) for n, c in self.channels.items()}}


# ---------------------------------------------------------------------------------- toys
@dataclass(frozen=True)
class ToyRun:
    """One job's share of the toys of a scenario (an entry of ``jobs``).

    Attributes:
        seed: the seed the job drew its toys with.
        n_toys: its toys.
        n_failed: its toys with a failed fit.
    """

    seed: int
    n_toys: int
    n_failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"seed": self.seed, "n_toys": self.n_toys, "n_failed": self.n_failed}


@dataclass(frozen=True)
class ToyScenario:
    """The toys of one scenario's mass grid (an entry of ``scenarios``).

    Attributes:
        patchset_digest: pyhf digest of the scenario's mass-grid PatchSet.
        masses: the mass grid, increasing.
        ref_level: reference level c0 of the counts.
        jobs: the jobs, in the order of the toys.
        q0_max: max over the grid of q0, per toy.
        upcrossings: interior upcrossings of c0, per toy.
        excursion_components: pieces of {q0 >= c0}, per toy.
    """

    patchset_digest: str
    masses: list[float]
    ref_level: float
    jobs: list[ToyRun]
    q0_max: list[float]
    upcrossings: list[int]
    excursion_components: list[int]

    @property
    def n_toys(self) -> int:
        """Number of toys."""
        return len(self.q0_max)

    @property
    def n_failed(self) -> int:
        """Toys with a failed fit."""
        return sum(j.n_failed for j in self.jobs)

    @property
    def seeds(self) -> list[int]:
        """The jobs' seeds."""
        return [j.seed for j in self.jobs]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToyScenario:
        """The typed entry of a (validated) ``scenarios`` entry."""
        return cls(patchset_digest=str(d["patchset_digest"]),
                   masses=[float(m) for m in d["masses"]], ref_level=float(d["ref_level"]),
                   jobs=[ToyRun(int(j["seed"]), int(j["n_toys"]), int(j["n_failed"]))
                         for j in d["jobs"]],
                   q0_max=[float(q) for q in d["q0_max"]],
                   upcrossings=[int(u) for u in d["upcrossings"]],
                   excursion_components=[int(c) for c in d["excursion_components"]])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``n_toys`` and ``n_failed`` included)."""
        return {"patchset_digest": self.patchset_digest, "masses": list(self.masses),
                "ref_level": self.ref_level, "n_toys": self.n_toys, "n_failed": self.n_failed,
                "jobs": [j.to_dict() for j in self.jobs], "q0_max": list(self.q0_max),
                "upcrossings": list(self.upcrossings),
                "excursion_components": list(self.excursion_components)}


@dataclass(frozen=True)
class ToysFile:
    """A toy file (schema ``toys``): background-only toys of the mass scans of one workspace.

    Attributes:
        workspace_digest: pyhf digest of the background-only workspace.
        label: the mass label.
        emiss_version: the version of emiss that made the toys.
        scenarios: scenario -> its toys.
        format: the version tag.
    """

    workspace_digest: str
    label: str
    emiss_version: str
    scenarios: dict[str, ToyScenario]
    format: str = TOYS_FORMAT

    @classmethod
    def from_dict(cls, d: Any, where: str | None = None, check: bool = True) -> ToysFile:
        """The typed toy file of a parsed document.

        Args:
            d: the parsed document.
            where: what messages call it (its file).
            check: validate first (the schema and the counts).

        Returns:
            The ToysFile.

        Raises:
            ContractError: the document breaks the contract (one line).
        """
        if check:
            validate(d, "toys", where)
        return cls(workspace_digest=str(d["workspace_digest"]), label=str(d["label"]),
                   emiss_version=str(d["emiss_version"]),
                   scenarios={str(n): ToyScenario.from_dict(sc)
                              for n, sc in d["scenarios"].items()},
                   format=str(d["format"]))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"format": self.format, "emiss_version": self.emiss_version,
                "workspace_digest": self.workspace_digest, "label": self.label,
                "scenarios": {n: sc.to_dict() for n, sc in self.scenarios.items()}}
