"""PatchSet files as a user meets them: read one, list its patches, merge several.

``inspect_patchsets`` lists what each patch of one or more PatchSets stands for (name, the
values of the labels, and from the patch's ``emiss`` block the scenario, its parameters, the
processes and the reference branching ratio that mu = 1 means); ``format_inspect`` prints it
as a table. ``merge_patchsets`` joins the patches of several PatchSets of one workspace into
one PatchSet (pyhf's ``metadata.digests``, labels, references and the PatchSet-level ``emiss``
block must agree; patch names and values must not collide). Both take any pyhf PatchSet: a
patch without an ``emiss`` block is listed with the pyhf fields only.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from emiss.contracts import PatchBlock
from emiss.errors import EmissError
from emiss.io import read_json
from emiss.patches.assemble import check_patch_numbers, validate_patchset

log = logging.getLogger(__name__)

#: A PatchSet as these functions take it: a file path or a parsed PatchSet dict.
PatchSetInput = str | os.PathLike | Mapping[str, Any]

#: Top-level keys of a pyhf workspace (a workspace given where a PatchSet belongs).
_WORKSPACE_KEYS = ("channels", "observations", "measurements")


def read_patchset(path: str | os.PathLike) -> dict[str, Any]:
    """Read a PatchSet file and check it: pyhf's schema, finite non-negative yields.

    Args:
        path: the PatchSet JSON file.

    Returns:
        The parsed PatchSet.

    Raises:
        EmissError: one line naming the file: missing, a folder, not JSON, not a PatchSet
            (a workspace, a results file, ...), or NaN/negative yields in a patch.
    """
    doc = read_json(path, "PatchSet")
    return _checked(doc, f"PatchSet file {str(path)!r}")


def _checked(doc: Any, where: str) -> dict[str, Any]:
    """doc after the checks of ``read_patchset`` (where: how messages name it)."""
    import pyhf

    if not isinstance(doc, Mapping):
        raise EmissError(f"{where} does not hold a JSON object; give a pyhf PatchSet")
    if all(isinstance(doc.get(k), list) for k in _WORKSPACE_KEYS):
        raise EmissError(f"{where} is a pyhf workspace, not a PatchSet; give a PatchSet "
                         "(e.g. one written by `emiss patchset`)")
    try:
        pyhf.PatchSet(dict(doc))
    except Exception as exc:  # pyhf raises several exception types for a bad PatchSet
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmissError(f"{where} is not a valid pyhf PatchSet ({first}); give a PatchSet "
                         "JSON (pyhf schema 1.0.0)") from None
    check_patch_numbers(doc, where)
    return dict(doc)


def _load(inputs: Sequence[PatchSetInput]) -> list[tuple[str, dict[str, Any]]]:
    """(name for messages, checked PatchSet) of each input."""
    out = []
    for i, item in enumerate(inputs):
        if isinstance(item, Mapping):
            where = f"PatchSet #{i + 1}"
            out.append((where, _checked(item, where)))
        else:
            out.append((str(item), read_patchset(item)))
    return out


# ------------------------------------------------------------------------------ inspect
def _patch_row(patch: Mapping[str, Any], labels: Sequence[str], where: str) -> dict[str, Any]:
    """One patch as ``inspect_patchsets`` lists it."""
    meta = patch["metadata"]
    row: dict[str, Any] = {"name": meta["name"],
                           "values": dict(zip(labels, meta["values"], strict=True))}
    block = PatchBlock.from_patch(patch, f"of patch {meta['name']!r} of {where}")
    row["emiss"] = None if block is None else block.to_dict()
    row["processes"] = None if block is None else block.processes
    return row


def inspect_patchsets(patchsets: Sequence[PatchSetInput]) -> dict[str, Any]:
    """What each patch of one or more PatchSets stands for (``emiss patchset inspect``).

    Args:
        patchsets: PatchSet files or dicts.

    Returns:
        ``{"patchsets": [...]}``, one entry per input in order: ``file``, ``description``,
        ``labels``, ``digests`` (of the workspace it was built for), ``references``,
        ``version`` (pyhf's PatchSet schema), ``written_by_emiss``, ``emiss`` (the
        PatchSet-level block, or None) and ``patches``: per patch ``name``, ``values``
        (label -> value), ``emiss`` (the checked patch block, contract ``patch``, or None for
        a patch emiss did not write) and ``processes`` (those the block gives a reference
        branching ratio for).

    Raises:
        EmissError: a bad file, or a patch whose ``emiss`` block breaks its contract.
    """
    if not patchsets:
        raise EmissError("no PatchSet given; give one or more PatchSet JSON files")
    out = []
    for where, ps in _load(patchsets):
        md = ps["metadata"]
        labels = list(md["labels"])
        rows = [_patch_row(p, labels, where) for p in ps["patches"]]
        set_block = md.get("emiss") if isinstance(md.get("emiss"), Mapping) else None
        out.append({
            "file": where, "description": md.get("description"), "labels": labels,
            "digests": dict(md.get("digests", {})), "references": dict(md.get("references", {})),
            "version": ps.get("version"),
            "written_by_emiss": set_block is not None or any(r["emiss"] for r in rows),
            "emiss": None if set_block is None else {
                k: set_block[k] for k in ("scenario", "workspace", "ff_samples", "ff_seed")
                if k in set_block},
            "patches": rows,
        })
    return {"patchsets": out}


def _num(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _reference(block: Mapping[str, Any]) -> str:
    """'B+->K+ 1e-05' or, for several processes, each with its B (the block's first first)."""
    refs = block.get("reference_branching_ratios") or {}
    procs = [block["process"], *(p for p in refs if p != block["process"])]
    values = {**refs, block["process"]: block["reference_branching_ratio"]}
    return ", ".join(f"{p} {values[p]:.4g}" for p in procs)


def _others(block: Mapping[str, Any], labels: Sequence[str]) -> str:
    """Parameters of the block that are no label (fixed values), and the escape settings."""
    params = dict(block.get("parameters") or {})
    if block.get("m_X") is not None:
        params = {"m_X": block["m_X"], **params}
    parts = [f"{k}={_num(v)}" for k, v in params.items() if k not in labels]
    if block.get("ctau_m") is not None:
        parts.append(f"ctau={_num(block['ctau_m'])} m")
    if block.get("user_spectrum"):
        parts.append(f"spectrum {block['user_spectrum'].get('label', '?')}")
    return " ".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    keep = [j for j in range(len(header)) if j < 1 or any(r[j] for r in rows)]
    widths = [max(len(header[j]), *(len(r[j]) for r in rows)) for j in keep]
    lines = [[header[j] for j in keep], *([r[j] for j in keep] for r in rows)]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in lines]


def format_inspect(doc: Mapping[str, Any]) -> str:
    """``inspect_patchsets``' document as text: a header and a table per PatchSet.

    Args:
        doc: the document.

    Returns:
        The text (no trailing newline).
    """
    lines: list[str] = []
    for ps in doc["patchsets"]:
        digests = ", ".join(f"{a} {d[:12]}..." for a, d in sorted(ps["digests"].items()))
        refs = ", ".join(f"{k} {v}" for k, v in sorted(ps["references"].items()))
        lines.append(f"{ps['file']}: {len(ps['patches'])} patches, labels "
                     f"{', '.join(ps['labels'])}; built for the workspace with {digests}"
                     + (f"; {refs}" if refs else ""))
        blocks = [p["emiss"] for p in ps["patches"] if p["emiss"]]
        formats = sorted({b.get("format") or "emiss-patch/1 (untagged)" for b in blocks})
        if ps["written_by_emiss"]:
            top = ps["emiss"] or {}
            said = [f"{k} {top[k]}" for k in ("scenario", "workspace") if k in top]
            if "ff_samples" in top:
                said.append(f"form-factor draws {top['ff_samples']} (seed "
                            f"{top.get('ff_seed', '?')})")
            lines.append("  written by emiss (patch contract "
                         f"{', '.join(formats) or 'none'}; the emiss version is not recorded)"
                         + (": " + ", ".join(said) if said else ""))
        n_plain = sum(1 for p in ps["patches"] if not p["emiss"])
        if n_plain:
            lines.append(f"  {n_plain} patch(es) without an emiss block: pyhf fields only "
                         "(name, values)")
        header = ["name", *ps["labels"], "scenario", "mu = 1 <-> B", "coupling at mu = 1",
                  "other"]
        rows = []
        for p in ps["patches"]:
            b = p["emiss"] or {}
            c = b.get("coupling")
            rows.append([p["name"], *(_num(v) for v in p["values"].values()),
                         b.get("scenario", ""), _reference(b) if b else "",
                         f"{c['name']} = {_num(c['reference_value'])}" if c else "",
                         _others(b, ps["labels"]) if b else ""])
        lines.extend(_table(header, rows))
    return "\n".join(lines)


# -------------------------------------------------------------------------------- merge
def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """The JSON path of the first difference of two documents ('' when equal)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}"
            d = _first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return ""
    return "" if a == b else (path or ".")


def _same(key: str, first: tuple[str, dict], other: tuple[str, dict], what: str,
          hint: str) -> None:
    """EmissError unless the two PatchSets agree on metadata[key]."""
    (wa, a), (wb, b) = first, other
    va, vb = a["metadata"].get(key), b["metadata"].get(key)
    if va != vb:
        raise EmissError(f"cannot merge {wb} into {wa}: {what} differ ({_short(va)} vs "
                         f"{_short(vb)}); {hint}")


def _short(v: Any) -> str:
    if isinstance(v, Mapping) and all(isinstance(x, str) for x in v.values()):
        return ", ".join(f"{k} {x[:12]}..." if len(x) > 16 else f"{k} {x}"
                         for k, x in sorted(v.items()))
    return repr(v)


def merge_patchsets(patchsets: Sequence[PatchSetInput]) -> dict[str, Any]:
    """One PatchSet with the patches of several PatchSets of one workspace, in input order.

    The PatchSets must agree on ``metadata.digests`` (the workspace), ``labels``,
    ``references``, ``version`` and the PatchSet-level ``emiss`` block (scenario, workspace,
    form-factor draws and seed, the likelihood family: patches of different draws are not
    one family); patch names and values must be unique across them. The description is the
    first's (a warning when they differ). The patches are copied as they are, so the merge
    of two grids equals the PatchSet of their union built at once when the inputs come in
    the order of that grid.

    Args:
        patchsets: two or more PatchSet files or dicts.

    Returns:
        The merged PatchSet (pyhf schema-valid).

    Raises:
        EmissError: one line naming the inputs and what differs or collides.
    """
    if len(patchsets) < 2:
        raise EmissError(f"merge needs at least two PatchSets, got {len(patchsets)}")
    loaded = _load(patchsets)
    first = loaded[0]
    for other in loaded[1:]:
        _same("digests", first, other, "the workspace digests (metadata.digests)",
              "merge only PatchSets built for the same workspace")
        _same("labels", first, other, "the labels",
              "merge only PatchSets of the same hypothesis coordinates")
        _same("references", first, other, "the references",
              "merge only PatchSets of the same analysis")
        if first[1].get("version") != other[1].get("version"):
            raise EmissError(f"cannot merge {other[0]} into {first[0]}: PatchSet versions "
                             f"{first[1].get('version')!r} and {other[1].get('version')!r}")
        ea, eb = first[1]["metadata"].get("emiss"), other[1]["metadata"].get("emiss")
        if ea != eb:
            if isinstance(ea, Mapping) and isinstance(eb, Mapping):
                at = _first_difference(ea, eb)
                key = at.split(".")[1]
                what = (f"metadata.emiss{at} ({_short(ea.get(key))} vs {_short(eb.get(key))})"
                        if at.count(".") == 1 else f"metadata.emiss{at}")
            else:
                what = "metadata.emiss (only one of them has it)"
            raise EmissError(
                f"cannot merge {other[0]} into {first[0]}: they differ at {what}; merge only "
                "PatchSets built with the same scenario, workspace and form-factor draws "
                "(--ff-samples, --seed), whose patches form one likelihood family")
        if other[1]["metadata"].get("description") != first[1]["metadata"].get("description"):
            log.warning("the descriptions of %s and %s differ; the merged PatchSet keeps the "
                        "first's", first[0], other[0])
    names: dict[str, str] = {}
    values: dict[tuple, tuple[str, str]] = {}
    patches = []
    for where, ps in loaded:
        for p in ps["patches"]:
            name, vals = p["metadata"]["name"], tuple(p["metadata"]["values"])
            if name in names:
                raise EmissError(f"cannot merge: patch name {name!r} is in {names[name]} and "
                                 f"in {where}; patch names must be unique (give grids that do "
                                 "not overlap)")
            if vals in values:
                other_name, other_where = values[vals]
                raise EmissError(f"cannot merge: patch {name!r} of {where} has the values "
                                 f"{list(vals)} of patch {other_name!r} of {other_where}; "
                                 "patch values must be unique (give grids that do not overlap)")
            names[name] = where
            values[vals] = (name, where)
            patches.append(copy.deepcopy(p))
    md = copy.deepcopy(first[1]["metadata"])
    out = {"metadata": md, "patches": patches, "version": first[1]["version"]}
    validate_patchset(out)
    return out


__all__ = ["format_inspect", "inspect_patchsets", "merge_patchsets", "read_patchset"]
