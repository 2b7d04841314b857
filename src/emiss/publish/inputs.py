"""Read and cross-check what ``emiss publish`` is given: a BkgOnly workspace, PatchSets, results.

Every check that can fail does so with an :class:`~emiss.errors.EmissError` naming the bad file and
what would be valid, before anything is written. Digests follow pyhf: ``pyhf.utils.digest(obj)``
(sha256 of the sorted-key JSON), the value ``pyhf digest`` prints and PatchSets carry in
``metadata.digests.sha256`` (shared/reference/pyhf-conventions.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyhf

from emiss.contracts import PatchBlock, ResultsDocument
from emiss.errors import EmissError
from emiss.io import read_json

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class WorkspaceInput:
    """The background-only workspace and, for a bundled one, its sidecar and response.

    Attributes:
        path: the JSON file given.
        spec: the pyhf workspace dict.
        digest: ``pyhf.utils.digest(spec)``.
        meta: the sidecar ``<stem>.meta.json`` (None for a bare user workspace).
        response: the bundle's response object (None when there is none).
    """

    path: Path
    spec: dict
    digest: str
    meta: dict | None = None
    response: Any = None


@dataclass(frozen=True)
class PatchSetInput:
    """One PatchSet to publish.

    Attributes:
        name: short name; the file is published as ``patchset_<name>.json``.
        path: the file given.
        spec: the PatchSet dict.
        digest: ``pyhf.utils.digest(spec)`` (what a results file's ``patchset_digest`` holds).
        file_sha256: sha256 of the file's bytes (accepted as ``patchset_digest`` too).
    """

    name: str
    path: Path
    spec: dict
    digest: str
    file_sha256: str

    @property
    def filename(self) -> str:
        """Published file name."""
        return f"patchset_{self.name}.json"

    @property
    def labels(self) -> list[str]:
        """The hypothesis coordinates' names."""
        return list(self.spec["metadata"]["labels"])

    @property
    def patches(self) -> list[dict]:
        """The patches, in file order."""
        return list(self.spec["patches"])


@dataclass(frozen=True)
class ResultsInput:
    """A scan results file matched to the PatchSet it was computed from.

    Attributes:
        path: the file given.
        data: its JSON content (the whole document).
        patchset: name of the matching :class:`PatchSetInput`.
        rows: the document's rows that belong to that PatchSet.
    """

    path: Path
    data: dict
    patchset: str
    rows: list[dict] = field(default_factory=list)

    @property
    def cl(self) -> float:
        """Confidence level of the limits (the scan's ``options.cl``, 0.95 if not stated)."""
        return ResultsDocument.from_dict(self.data, check=False).cl

    @property
    def calctype(self) -> str:
        """How CLs was computed (the scan's ``options.calctype``; asymptotics if not stated)."""
        return ResultsDocument.from_dict(self.data, check=False).calctype


@dataclass(frozen=True)
class PublishInputs:
    """Everything publish needs, checked for consistency."""

    workspace: WorkspaceInput
    patchsets: list[PatchSetInput]
    results: list[ResultsInput] = field(default_factory=list)

    def results_for(self, patchset: str) -> list[ResultsInput]:
        """The results files that belong to one PatchSet."""
        return [r for r in self.results if r.patchset == patchset]


def patch_info(patch: dict) -> dict[str, Any]:
    """The emiss block of one patch's metadata, with defaults for foreign PatchSets.

    Args:
        patch: one entry of ``patchset["patches"]``.

    Returns:
        dict with ``scenario`` (None if unknown), ``processes`` (the process mu refers to, or
        []), ``reference_branching_ratio`` (float or None), ``coupling`` (dict or None).

    Raises:
        EmissError: an ``emiss`` block that breaks its contract (``emiss.contracts``).
    """
    block = PatchBlock.from_patch(patch)
    if block is None:  # a PatchSet made elsewhere
        return {"scenario": None, "processes": [], "reference_branching_ratio": None,
                "coupling": None}
    c = block.coupling
    return {
        "scenario": block.scenario,
        "processes": [block.process],
        "reference_branching_ratio": block.reference_branching_ratio,
        "coupling": None if c is None else {"name": c.name, "reference_value": c.reference_value},
    }


def load_workspace(path: str | Path) -> WorkspaceInput:
    """Load a BkgOnly workspace; a bundled one (with a sidecar) also brings its response.

    Args:
        path: the workspace JSON. When ``<stem>.meta.json`` sits beside it, the bundle is loaded
            with ``emiss.bundles.load_bundle`` for its response.

    Returns:
        The checked :class:`WorkspaceInput`.

    Raises:
        EmissError: missing file, invalid JSON or an invalid pyhf workspace.
    """
    from emiss.bundles.bundle import read_sidecar, resolve_workspace, sidecar_path

    path = resolve_workspace(path, missing_ok=True) or Path(path)
    spec = read_json(path, "workspace")
    try:
        pyhf.Workspace(spec)
    except Exception as exc:  # pyhf raises several schema/validation types
        raise EmissError(
            f"workspace {str(path)!r} is not a valid pyhf workspace ({str(exc).splitlines()[0]}); "
            "give a workspace JSON (pyhf schema 1.0.0)"
        ) from exc
    meta = None
    response = None
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        meta = read_sidecar(sidecar, hint="fix it, or publish a copy of the workspace without it")
        response = _bundle_response(path)
    return WorkspaceInput(
        path=path, spec=spec, digest=pyhf.utils.digest(spec), meta=meta, response=response
    )


def _bundle_response(path: Path) -> Any:
    """The response of a bundled workspace via ``emiss.bundles.load_bundle``, or None."""
    from emiss.bundles.bundle import load_bundle

    try:
        bundle = load_bundle(path)
    except EmissError as exc:  # the response is optional for a publication: go on without it
        log.warning("cannot load the response of %s (%s); no response tables", path, exc)
        return None
    return bundle.response


def _patchset_name(path: Path) -> str:
    stem = path.name[:-5] if path.name.endswith(".json") else path.name
    if stem.startswith("patchset_"):
        stem = stem[len("patchset_") :]
    name = _NAME_RE.sub("_", stem).strip("_")
    return name or "patchset"


def load_patchset(path: str | Path, workspace: WorkspaceInput) -> PatchSetInput:
    """Load one PatchSet and check that it was made for this workspace.

    Args:
        path: the PatchSet JSON.
        workspace: the loaded workspace.

    Returns:
        The checked :class:`PatchSetInput`.

    Raises:
        EmissError: invalid PatchSet, or its ``metadata.digests`` do not match the workspace.
    """
    path = Path(path)
    spec = read_json(path, "patchset")
    try:
        ps = pyhf.PatchSet(spec)
    except Exception as exc:
        raise EmissError(
            f"patchset {str(path)!r} is not a valid pyhf PatchSet ({str(exc).splitlines()[0]}); "
            "give a PatchSet JSON (pyhf schema 1.0.0)"
        ) from exc
    want = ps.digests.get("sha256")
    if want != workspace.digest:
        raise EmissError(
            f"patchset {str(path)!r} was made for the workspace with sha256 digest {want}, "
            f"not for {str(workspace.path)!r} (digest {workspace.digest}); "
            "give the workspace the patchset was built on"
        )
    try:
        ps.verify(pyhf.Workspace(workspace.spec))
    except Exception as exc:
        raise EmissError(f"patchset {str(path)!r} fails pyhf verification: {exc}") from exc
    from emiss.patches.assemble import check_patch_numbers

    check_patch_numbers(spec, f"patchset {path.name}")  # no NaN or negative yield published
    return PatchSetInput(
        name=_patchset_name(path),
        path=path,
        spec=spec,
        digest=pyhf.utils.digest(spec),
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def load_results(
    path: str | Path, workspace: WorkspaceInput, patchsets: list[PatchSetInput]
) -> list[ResultsInput]:
    """Load a scan results file and match its rows to the PatchSets they were computed from.

    A results document (contract ``results`` of ``emiss.contracts``, read by
    ``emiss.inference.results.load_results``) names the workspace digest and the pyhf digests of
    its PatchSets (``patchset_digests``, each row's ``patchset`` indexing into it; the file's
    sha256 is accepted too). Rows of PatchSets that are not being published are skipped with a
    warning; if none is left, it is an error.

    Args:
        path: results JSON.
        workspace: the loaded workspace.
        patchsets: the loaded PatchSets.

    Returns:
        One :class:`ResultsInput` per PatchSet the file has rows for.

    Raises:
        EmissError: wrong shape, or digests / patch names / labels of another workspace or PatchSet.
    """
    from emiss.inference.results import load_results as read_results

    path = Path(path)
    data = read_results(path)
    doc = ResultsDocument.from_dict(data, check=False)
    if doc.workspace_digest != workspace.digest:
        raise EmissError(
            f"results {str(path)!r} were computed on the workspace with digest "
            f"{doc.workspace_digest}, not on {str(workspace.path)!r} (digest {workspace.digest})"
        )
    digests = doc.patchset_digests
    groups: dict[str, list[dict]] = {}
    by_digest: dict[str, PatchSetInput] = {}
    for p in patchsets:
        by_digest.setdefault(p.digest, p)
        by_digest.setdefault(p.file_sha256, p)
    missing = sorted({d for d in digests if d not in by_digest})
    if len(missing) == len(set(digests)):
        valid = ", ".join(f"{p.digest} ({p.path.name})" for p in patchsets)
        raise EmissError(
            f"results {str(path)!r} belong to the patchset with digest {missing[0]}, "
            f"which is not among those given; valid: {valid}"
        )
    skipped = 0
    for row in doc.results:
        if not row.patchset < len(digests):
            raise EmissError(
                f"results {str(path)!r}: row {row.name!r} has patchset index {row.patchset}; "
                f"valid: 0..{len(digests) - 1}"
            )
        ps = by_digest.get(digests[row.patchset])
        if ps is None:
            skipped += 1
            continue
        groups.setdefault(ps.name, []).append(row.to_dict())
    if skipped:
        log.warning("%s: %d rows of patchsets not given are not published", path, skipped)
    labels = doc.labels
    out = []
    for p in patchsets:
        if p.name not in groups:
            continue
        known = {q["metadata"]["name"] for q in p.patches}
        unknown = [r["name"] for r in groups[p.name] if r["name"] not in known]
        if unknown:
            raise EmissError(
                f"results {str(path)!r} name patch {unknown[0]!r}, which is not in {p.path.name} "
                f"(e.g. {sorted(known)[0]!r}); the results are from another patchset"
            )
        if not set(p.labels) <= set(labels):
            raise EmissError(
                f"results {str(path)!r} have labels {list(labels)}, "
                f"but {p.path.name} has {p.labels}"
            )
        out.append(ResultsInput(path=path, data=data, patchset=p.name, rows=groups[p.name]))
    return out


def load_inputs(
    workspace: str | Path,
    patchsets: list[str | Path],
    results: list[str | Path] | None = None,
) -> PublishInputs:
    """Load and cross-check all inputs of a publication.

    Args:
        workspace: BkgOnly workspace JSON.
        patchsets: one or more PatchSet JSON files built on it.
        results: optional scan results files, each computed from one of the PatchSets.

    Returns:
        :class:`PublishInputs`.

    Raises:
        EmissError: any inconsistency (see the loaders).
    """
    if not patchsets:
        raise EmissError(
            "no patchset given; give at least one PatchSet JSON built on the workspace"
        )
    ws = load_workspace(workspace)
    loaded = [load_patchset(p, ws) for p in patchsets]
    seen: dict[str, Path] = {}
    for p in loaded:
        if p.name in seen:
            raise EmissError(
                f"patchsets {str(seen[p.name])!r} and {str(p.path)!r} would both be published as "
                f"{p.filename}; give files with different names"
            )
        seen[p.name] = p.path
    res = [item for r in (results or []) for item in load_results(r, ws, loaded)]
    seen_res: dict[str, Path] = {}
    for item in res:
        if item.patchset in seen_res:
            raise EmissError(
                f"results {str(seen_res[item.patchset])!r} and {str(item.path)!r} both hold rows "
                f"of patchset_{item.patchset}.json; give one results file per patchset"
            )
        seen_res[item.patchset] = item.path
    return PublishInputs(workspace=ws, patchsets=loaded, results=res)
