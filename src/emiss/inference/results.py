"""Scan result rows, the results file (JSON + CSV) and the append-only journal used for resuming.

A row turns one analysis of one patch (signal strength μ) into physics units:

* branching ratio: μ = 1 corresponds to the patch's ``emiss.reference_branching_ratio``
  (docs/interfaces.md), so B = μ · B_ref;
* coupling: the amplitude is linear in the scenario's coupling, so the rate is proportional to
  its square (docs/interfaces.md, ``Scenario.coupling``; two-body rate ∝ |g|² as in Kamenik &
  Smith arXiv:1111.6402), hence g = g_ref · sqrt(μ).

Rows carry no timing or host fields, so a resumed scan writes the same bytes as an uninterrupted
one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from emiss import contracts
from emiss.contracts import Coupling, PatchBlock
from emiss.errors import EmissError
from emiss.io import atomic_write_text, round_sig

log = logging.getLogger(__name__)

#: Number of significant digits kept in result floats (far below fit precision, so harmless,
#: and it makes the file independent of last-bit noise).
SIG_DIGITS = 10

#: Order of the expected-limit band entries.
EXP_BAND = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")

JOURNAL_SUFFIX = ".journal.jsonl"
RESULTS_FORMAT = contracts.RESULTS_FORMAT


def _round(x: Any) -> float | None:
    """Round a number to SIG_DIGITS significant digits; None/NaN/inf become None (plain JSON)."""
    return round_sig(x, SIG_DIGITS, flush=False, nonfinite="none")


def _sqrt_or_none(x: float | None) -> float | None:
    """sqrt(x) for x >= 0 (inf stays inf); None for None or negative x."""
    if x is None or x < 0:
        return None
    return math.sqrt(x)


def patch_emiss_meta(patch_meta: Mapping[str, Any], where: str | None = None) -> PatchBlock:
    """The ``emiss`` block of one patch's metadata, checked against its contract.

    Args:
        patch_meta: ``patch["metadata"]`` of a PatchSet patch.
        where: what messages call the patch (default: its name).

    Returns:
        The typed block (``emiss.contracts.PatchBlock``).

    Raises:
        EmissError: no block, or a block that breaks the contract ``patch``.
    """
    name = patch_meta.get("name", "?")
    block = PatchBlock.from_patch(patch_meta, where)
    if block is None:
        raise EmissError(f"patch {name!r} has no metadata.emiss block; expected "
                         "{scenario, process, reference_branching_ratio, coupling} (build the "
                         "PatchSet with emiss patchset)")
    return block


#: A best-fit mu within this fraction of its upper bound is "at the bound" (flagged in the row).
AT_BOUND_RTOL = 1e-4


def make_row(patch_meta: Mapping[str, Any], labels: Sequence[str],
             analysis: Mapping[str, Any] | None, status: str, patchset_index: int)\
        -> dict[str, Any]:
    """Build one result row from a patch's metadata and the analyser's output.

    Args:
        patch_meta: the patch's metadata (``name``, ``values``, ``emiss``).
        labels: the patchset's labels (one per entry of ``values``).
        analysis: the dict from ``GridAnalyzer.analyse`` (None when every attempt failed).
        status: "ok" or a description of the failure / the fallback used.
        patchset_index: position of the patch's patchset in the scan's input list.

    Returns:
        The row (keys documented in docs/interfaces.md).
    """
    block = patch_emiss_meta(patch_meta)
    row: dict[str, Any] = {
        "name": patch_meta["name"],
        "patchset": patchset_index,
        "scenario": block.scenario,
        "process": block.process,
        "reference_branching_ratio": _round(block.reference_branching_ratio),
        "status": status,
    }
    for label, value in zip(labels, list(patch_meta.get("values", [])), strict=False):
        row[label] = _round(value)
    a = analysis or {}
    # may replace "status" (same place in the row) and add "at_bound" before the fit fields
    row.update(_fit_fields(a, block.reference_branching_ratio, status))
    p_inv = (block.P_inv or {}).get(block.process)
    if p_inv is not None:  # a partly invisible X: the limits on B * P_inv too
        row.update(_pinv_fields(row, float(p_inv)))
    if a.get("toy_errors"):  # toy-based rows: the Monte-Carlo errors of p0 and CLs
        row["toy_errors"] = {k: _round(v) if isinstance(v, float) else v
                             for k, v in a["toy_errors"].items()}
    if block.coupling is not None:
        row.update(_coupling_fields(block.coupling, row))
    curve = a.get("cls_curve")
    if curve:
        row["cls_curve"] = cls_curve_field(curve)
    return row


def _fit_fields(a: Mapping[str, Any], ref_br: float, status: str) -> dict[str, Any]:
    """The row's best fit, limits and significance in mu and in B = mu * ref_br.

    Args:
        a: the analyser's output ({} when every attempt failed).
        ref_br: the branching ratio at mu = 1.
        status: the hypothesis' status.

    Returns:
        ``mu_hat`` ... ``Z`` in row order, led by ``at_bound`` and an extended ``status`` when
        the best fit is capped at the upper bound of mu.
    """
    mu_hat = _round(a.get("mu_hat"))
    mu_obs = _round(a.get("mu_limit_obs"))
    mu_exp_raw = a.get("mu_limit_exp")
    mu_exp = [_round(v) for v in mu_exp_raw] if mu_exp_raw is not None else [None] * 5
    if len(mu_exp) != 5:
        raise EmissError(f"analyser returned {len(mu_exp)} expected limits; need 5 (-2s..+2s)")

    def br(mu: float | None) -> float | None:
        return None if mu is None else _round(mu * ref_br)

    fields: dict[str, Any] = {}
    upper = a.get("mu_upper_bound")
    if mu_hat is not None and upper is not None and math.isfinite(upper) \
            and mu_hat >= upper * (1.0 - AT_BOUND_RTOL):
        # the best fit is capped: it may lie beyond the bound, and B_hat, Z and -2 ln L are
        # those of the capped fit
        fields["at_bound"] = "mu"
        fields["status"] = (f"{status} (mu_hat at its upper bound {upper:g}: the best fit lies "
                            "at or beyond it; B_hat, Z and -2 ln L are those of the capped fit)")
    fields.update({
        "mu_hat": mu_hat,
        "br_hat": br(mu_hat),
        "twice_nll": _round(a.get("twice_nll")),
        "mu_limit_obs": mu_obs,
        "mu_limit_exp": mu_exp,
        "br_limit_obs": br(mu_obs),
        "br_limit_exp": [br(v) for v in mu_exp],
        "p0": _round(a.get("p0")),
        "Z": _round(a.get("Z")),
    })
    return fields


def _pinv_fields(row: Mapping[str, Any], p_inv: float) -> dict[str, Any]:
    """The limits on B * P_inv of a partly invisible X, from the row's B fields."""
    return {
        "P_inv": _round(p_inv),
        "br_pinv_hat": None if row["br_hat"] is None else _round(row["br_hat"] * p_inv),
        "br_pinv_limit_obs": None if row["br_limit_obs"] is None
        else _round(row["br_limit_obs"] * p_inv),
        "br_pinv_limit_exp": [None if v is None else _round(v * p_inv)
                              for v in row["br_limit_exp"]],
    }


def _coupling_fields(coupling: Coupling, row: Mapping[str, Any]) -> dict[str, Any]:
    """The coupling at the row's best fit and limits: g = g_ref * sqrt(mu)."""
    g_ref = coupling.reference_value

    def g(mu: float | None) -> float | None:
        s = _sqrt_or_none(mu)
        return None if s is None else _round(g_ref * s)

    return {
        "coupling_name": coupling.name,
        "coupling_reference": _round(g_ref),
        "coupling_hat": g(row["mu_hat"]),
        "coupling_limit_obs": g(row["mu_limit_obs"]),
        "coupling_limit_exp": [g(v) for v in row["mu_limit_exp"]],
    }


def cls_curve_field(curve: Mapping[str, Any]) -> dict[str, Any]:
    """The row's ``cls_curve``: the analyser's curve with its numbers rounded like the row's.

    Args:
        curve: {"mu": [...], "cls_obs": [...], "cls_exp": [[5 values] per mu]}.

    Returns:
        The same keys, numbers rounded to SIG_DIGITS (NaN becomes None).

    Raises:
        EmissError: lists of different lengths, or an expected entry that is not 5 values.
    """
    mus, obs, exp = list(curve["mu"]), list(curve["cls_obs"]), list(curve["cls_exp"])
    if not (len(mus) == len(obs) == len(exp)) or any(len(e) != 5 for e in exp):
        raise EmissError(f"analyser returned a CLs curve of {len(mus)} mu, {len(obs)} observed "
                         f"and {len(exp)} expected values; need one each per mu, 5 expected")
    return {"mu": [_round(m) for m in mus], "cls_obs": [_round(c) for c in obs],
            "cls_exp": [[_round(c) for c in e] for e in exp]}


def data_info(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a workspace's observed data are, from its sidecar (for results, tables and plots).

    Args:
        meta: the sidecar dict (``{}`` or None when the workspace has none). Keys read:
            ``emulated_data`` (bool), ``source`` ({hepdata, doi, arxiv}; for the emulation the
            ``references`` block stands in), ``data_statement``.

    Returns:
        ``{"emulated_data": bool | None, "source": dict | None, "data_statement": str | None,
        "label": short text for figures ("emulated data (not recorded data)", "Belle II
        data (HEPData ..., doi:..., arXiv:...)", or "data of unknown origin (no sidecar)")}``;
        None values when the sidecar does not say.
    """
    meta = meta or {}
    emulated = meta.get("emulated_data")
    emulated = None if emulated is None else bool(emulated)
    source = meta.get("source")
    if not isinstance(source, Mapping):
        refs = meta.get("references")
        source = ({k: refs[k] for k in ("hepdata", "doi", "arxiv") if refs.get(k)}
                  if isinstance(refs, Mapping) else None) or None
    else:
        source = {str(k): v for k, v in source.items() if v}
    statement = meta.get("data_statement")
    parts = []
    if source:
        for key, tag in (("hepdata", "HEPData "), ("doi", "doi:"), ("arxiv", "arXiv:")):
            value = source.get(key)
            if isinstance(value, (list, tuple)):  # several papers: arXiv:2507.12393, 2311.14647
                value = ", ".join(str(v) for v in value)
            if value:
                parts.append(f"{tag}{value}")
    if emulated:  # the references of an emulation say what it imitates, not where data are from
        label = "emulated data (not recorded data)"
    elif emulated is False:
        who = source.get("experiment") if source else None
        label = (f"{who} data" if who else "recorded data") + (
            f" ({', '.join(parts)})" if parts else " (source not stated)")
        raw = meta.get("source")
        if isinstance(raw, Mapping) and raw.get("verified") is False:  # --allow-unverified
            label += " UNVERIFIED: its files differ from the record's sha256"
    else:
        label = "data of unknown origin (no sidecar)"
    return {"emulated_data": emulated, "source": source,
            "data_statement": statement if isinstance(statement, str) else None,
            "label": label}


def workspace_record(path: str | os.PathLike | None) -> dict[str, Any] | None:
    """The results file's ``workspace`` block: which workspace the scan read, and its data.

    Only the file name (not the folder) is recorded, so the file does not depend on where the
    scan ran.

    Args:
        path: the workspace file (None: unknown).

    Returns:
        ``{"name", "file", "sidecar", **data_info(sidecar)}`` or None.
    """
    if path is None:
        return None
    from emiss.bundles.bundle import read_sidecar, sidecar_path

    p = Path(path)
    side = sidecar_path(p)
    meta: dict[str, Any] = {}
    if side.exists():  # a folder is an EmissError too
        meta = read_sidecar(side, hint="fix it, or move it away to go on without the data "
                            "source it names")
    return {"name": p.name.removesuffix(".json"), "file": p.name,
            "sidecar": side.name if side.is_file() else None, **data_info(meta)}


def results_document(workspace_digest: str, patchset_digests: Sequence[str],
                     labels: Sequence[str], options: Mapping[str, Any],
                     rows: Sequence[Mapping[str, Any]],
                     workspace: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the top-level results object.

    Args:
        workspace_digest: pyhf.utils.digest of the background-only workspace.
        patchset_digests: pyhf.utils.digest of each input patchset, in input order.
        labels: union of the patchsets' labels (order of first appearance).
        options: analysis options that change numbers (cl, calctype, engine, chunk_size).
        rows: result rows, in patchset order then patch order.
        workspace: the ``workspace`` block (``workspace_record``); omitted when None.

    Returns:
        The document written to RESULTS.json.
    """
    return contracts.ResultsDocument(
        workspace_digest=workspace_digest, patchset_digests=list(patchset_digests),
        labels=list(labels), options=dict(options),
        results=[contracts.ResultRow.from_dict(r, check=False) for r in rows],
        workspace=None if workspace is None else dict(workspace)).to_dict()


def csv_text(doc: Mapping[str, Any]) -> str:
    """Flatten the results rows to CSV text (lists become one column per entry).

    Args:
        doc: a results document.

    Returns:
        CSV text with a header line; when the document records its workspace's data
        (``workspace.label``, see ``data_info``) a last column ``data`` repeats it on every row,
        so a CSV read alone still says whether the data were emulated. The rows' CLs curves
        (``cls_curve``) are left out: they are in the JSON.
    """
    rows = doc["results"]
    label = (doc.get("workspace") or {}).get("label")
    cols: list[str] = []
    flat_rows = []
    for row in rows:
        flat: dict[str, Any] = {}
        for key, val in row.items():
            if key == "cls_curve":
                continue
            if isinstance(val, list):
                for tag, v in zip(EXP_BAND, val, strict=False):
                    flat[f"{key}_{tag}"] = v
            else:
                flat[key] = val
        for key in flat:
            if key not in cols:
                cols.append(key)
        flat_rows.append(flat)
    if label:
        cols = [c for c in cols if c != "data"] + ["data"]
        for flat in flat_rows:
            flat["data"] = label
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for flat in flat_rows:
        writer.writerow({k: ("" if v is None else v) for k, v in flat.items()})
    return buf.getvalue()


def write_results(path: str | os.PathLike, doc: Mapping[str, Any], with_csv: bool = False)\
        -> list[Path]:
    """Atomically write the results JSON (and CSV next to it with suffix .csv).

    Args:
        path: JSON destination.
        doc: results document (checked against the contract ``results`` first).
        with_csv: also write ``<path without suffix>.csv``.

    Returns:
        Written paths.
    """
    out = [contracts.write(path, doc, "results")]
    if with_csv:
        out.append(atomic_write_text(Path(path).with_suffix(".csv"), csv_text(doc)))
    return out


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a results file written by :func:`write_results`: the one results reader.

    Args:
        path: RESULTS.json.

    Returns:
        The document (``emiss.contracts.ResultsDocument.from_dict(doc, check=False)`` types it).

    Raises:
        EmissError: missing, not JSON, breaking the contract ``results`` (one line naming the
            file, the JSON path of the bad field and what is valid) or holding NaN.
    """
    doc = contracts.read(path, "results", hint="rerun the scan (emiss scan writes the file)")
    for row in doc["results"]:
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise EmissError(f"results file {str(path)!r}, row {row.get('name')!r}: {bad[0]} is "
                             f"{row[bad[0]]!r}; emiss writes strict JSON (a failed number is "
                             "null), so the file is damaged or not emiss's: rerun the scan")
    return doc


# --------------------------------------------------------------------------------------- journal
def journal_path(output: str | os.PathLike) -> Path:
    """Journal file that belongs to an output path (``RESULTS.json.journal.jsonl``)."""
    output = Path(output)
    return output.with_name(output.name + JOURNAL_SUFFIX)


class Journal:
    """Append-only JSON-lines log of finished chunks; every append is flushed and fsync'd.

    Line 1 is a header (digests and options); each further line is one finished chunk
    ``{"kind": "chunk", "chunk": id, "rows": [[key, row], ...]}``. A line cut short by a kill is
    ignored on reading and cut off before appending.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fh: io.TextIOWrapper | None = None

    @staticmethod
    def read(path: str | os.PathLike) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
        """Read a journal.

        Args:
            path: journal file.

        Returns:
            (header or None, list of chunk records, byte length of the valid prefix).
        """
        path = Path(path)
        if not path.exists():
            return None, [], 0
        if not path.is_file():
            raise EmissError(f"journal {str(path)!r} is not a file; move it away (or give "
                             "another -o) and rerun without --resume")
        data = path.read_bytes()
        header = None
        chunks = []
        valid = 0
        pos = 0
        for n, line in enumerate(data.splitlines(keepends=True), start=1):
            pos_next = pos + len(line)
            if not line.endswith(b"\n"):
                log.warning("journal %s: ignoring an incomplete last line", path)
                break
            try:
                rec = json.loads(line)
            except ValueError:  # JSONDecodeError, UnicodeDecodeError
                # a kill can only cut the last line short (no newline, above); a complete line
                # that is not JSON means the journal was damaged: never resume from it
                raise EmissError(f"journal {str(path)!r} line {n} is not JSON (byte {pos}): the "
                                 "journal is damaged; rerun without --resume to start the scan "
                                 "afresh") from None
            _check_journal_record(rec, path, n)
            if rec.get("kind") == "header" and header is None:
                header = rec
            elif rec.get("kind") == "chunk":
                chunks.append(rec)
            pos = valid = pos_next
        return header, chunks, valid

    def start(self, header: Mapping[str, Any], resume_prefix: int | None = None) -> None:
        """Open for appending: a fresh journal with the header, or keep a valid prefix.

        Args:
            header: header record (written only for a fresh journal).
            resume_prefix: byte length of the valid prefix to keep (None = start fresh).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_prefix is None:
            self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            self._append({"kind": "header", **header})
        else:
            with open(self.path, "r+b") as fh:
                fh.truncate(resume_prefix)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def _append(self, rec: Mapping[str, Any]) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(rec, sort_keys=True, allow_nan=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append_chunk(self, chunk_id: str, keyed_rows: Iterable[tuple[list, dict]]) -> None:
        """Record one finished chunk.

        Args:
            chunk_id: the chunk's identifier.
            keyed_rows: (key, row) pairs, key = [patchset index, patch name].
        """
        self._append({"kind": "chunk", "chunk": chunk_id,
                      "rows": [[list(k), r] for k, r in keyed_rows]})

    def close(self, remove: bool = False) -> None:
        """Close the file; optionally delete it (after the final results are written)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if remove and self.path.exists():
            self.path.unlink()


def _check_journal_record(rec: Any, path: Path, line: int) -> None:
    """EmissError unless rec is a journal record: an object; a chunk's rows [[index, name], row].

    Args:
        rec: one parsed line.
        path: the journal (for the message).
        line: its line number.
    """
    def bad(what: str) -> EmissError:
        return EmissError(f"journal {str(path)!r} line {line}: {what}, not a record of an emiss "
                          "scan journal; rerun without --resume to start the scan afresh (the "
                          "journal is then replaced)")

    if not isinstance(rec, dict):
        raise bad(f"a JSON {type(rec).__name__}")
    if rec.get("kind") != "chunk":
        return
    rows = rec.get("rows")
    if not isinstance(rows, list):
        raise bad("a chunk without a list of rows")
    for item in rows:
        ok = (isinstance(item, list) and len(item) == 2 and isinstance(item[0], list)
              and len(item[0]) == 2 and isinstance(item[0][0], int)
              and not isinstance(item[0][0], bool) and isinstance(item[0][1], str)
              and isinstance(item[1], dict))
        if not ok:
            raise bad(f"a chunk row {json.dumps(item)[:60]} that is not [[index, name], row]")


def iter_journal_rows(chunks: Iterable[Mapping[str, Any]]) -> Iterator[tuple[tuple, dict]]:
    """(key, row) pairs from journal chunk records (key as a hashable tuple)."""
    for rec in chunks:
        for key, row in rec["rows"]:
            yield tuple(key), row


# --------------------------------------------------------------------------------------- summary
def _point(row: Mapping[str, Any], labels: Sequence[str]) -> str:
    vals = [f"{lab}={row[lab]:.4g}" for lab in labels if isinstance(row.get(lab), (int, float))]
    return ",".join(vals) or str(row.get("name"))


def summary_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per scenario (patchset order): best fit, largest Z and the strongest observed limit.

    Args:
        doc: a results document.

    Returns:
        One dict per scenario: ``scenario``, ``n``, ``n_ok``, ``best`` (the row with the lowest
        −2 ln L), ``max_Z`` (the row with the largest Z), ``strongest`` (the row with the
        lowest observed limit on B); rows are None when no hypothesis succeeded.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in doc["results"]:
        groups.setdefault(str(r.get("scenario")), []).append(r)
    out = []
    for scen, rows in groups.items():
        ok = [r for r in rows if str(r.get("status", "")).startswith("ok")]

        def pick(key: str, rows: list = ok, sign: float = 1.0) -> Mapping[str, Any] | None:
            cand = [r for r in rows if isinstance(r.get(key), (int, float))]
            return min(cand, key=lambda r: sign * r[key]) if cand else None

        out.append({"scenario": scen, "n": len(rows), "n_ok": len(ok),
                    "best": pick("twice_nll"), "max_Z": pick("Z", sign=-1.0),
                    "strongest": pick("br_limit_obs")})
    return out


def summary_table(doc: Mapping[str, Any]) -> str:
    """Short text table of ``summary_rows`` (what ``emiss scan`` prints at the end).

    Z is the local discovery significance of each hypothesis against its null (no signal;
    for light X the SM nu nubar sample stays at its prediction), from the profile likelihood
    at fixed mass; no look-elsewhere correction.

    Args:
        doc: a results document.

    Returns:
        Text (one line per scenario, with a header and a footnote).
    """
    labels = list(doc.get("labels", []))
    cl = doc.get("options", {}).get("cl", 0.95)
    hdr = (f"{'scenario':<24} {'ok/n':>7}  {'best fit':<16} {'B_hat':>9} {'Z_local':>7}  "
           f"{'max Z_local (at)':<22} {f'strongest UL{100 * cl:g}(B) (at)':<26}")
    lines = [hdr]

    def num(x: Any, fmt: str) -> str:
        return format(x, fmt) if isinstance(x, (int, float)) else "-"

    def at(row: Mapping[str, Any] | None, key: str, fmt: str) -> str:
        return f"{num(row[key], fmt)} ({_point(row, labels)})" if row else "-"

    capped = 0
    for s in summary_rows(doc):
        b = s["best"]
        n_bound = sum(1 for r in doc["results"]
                      if r.get("scenario") == s["scenario"] and r.get("at_bound"))
        capped += n_bound
        point = (_point(b, labels) if b else "-") + ("^" if b and b.get("at_bound") else "")
        lines.append(
            f"{s['scenario']:<24} {s['n_ok']:>3}/{s['n']:<3}  "
            f"{point:<16} {num(b and b.get('br_hat'), '9.3g'):>9} "
            f"{num(b and b.get('Z'), '7.2f'):>7}  "
            f"{at(s['max_Z'], 'Z', '.2f'):<22} {at(s['strongest'], 'br_limit_obs', '.3g'):<26}")
    lines.append("Z_local: discovery significance vs no signal at that point (light X: SM nu "
                 "nubar fixed at its prediction); no look-elsewhere correction")
    if capped:
        lines.append(f"^ / {capped} hypotheses: mu_hat at the upper bound of mu (status of their "
                     "rows): the best fit lies at or beyond it, and B_hat, Z and -2 ln L are "
                     "those of the capped fit; widen the bound of mu in the workspace's "
                     "measurement to fit them")
    return "\n".join(lines) + "\n"
