"""The contracts between stages: a versioned JSON Schema and a dataclass per document.

The documents that cross a stage boundary (docs/interfaces.md, whose tables are generated from
the schemas):

* ``sidecar``: ``<stem>.meta.json`` next to a background-only workspace (``Sidecar``);
* ``patch``: the ``emiss`` block of each patch of a PatchSet (``PatchBlock``);
* ``results`` and ``result_row``: ``emiss scan``'s results file and its rows
  (``ResultsDocument``, ``ResultRow``; a row's CLs curve ``ClsCurve``);
* ``grid``: a grid file of hypotheses (``GridFile``);
* ``response``: a detector response file (``ResponseFile``);
* ``toys``: background-only toys of the look-elsewhere study of mass scans, mergeable across
  jobs (``ToysFile``, its scenarios ``ToyScenario`` and jobs ``ToyRun``).

The schemas ship in ``emiss/contracts/schemas/<name>.schema.json`` (draft 2020-12; the version
ends their ``$id``, ``.../v1``). Writers validate before writing and readers after reading
(``validate``, ``read``, ``write``); a bad document is one ``ContractError`` naming the file,
the JSON path of the bad field and what is valid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emiss.contracts._schema import CONTRACTS, TITLES, ContractError, schema, validate
from emiss.contracts.documents import (
    GRID_FORMAT,
    KSTAR_RESPONSE_FORMAT,
    PATCH_FORMAT,
    RESPONSE_FORMAT,
    RESULTS_FORMAT,
    SIDECAR_FORMAT,
    TOYS_FORMAT,
    ClsCurve,
    Coupling,
    GridEntrySpec,
    GridFile,
    PatchBlock,
    Polarisation,
    ResponseFile,
    ResultRow,
    ResultsDocument,
    Sidecar,
    SidecarChannel,
    ToyRun,
    ToyScenario,
    ToysFile,
)
from emiss.io import read_json, write_json


def read(path: str | os.PathLike, name: str, hint: str | None = None) -> Any:
    """Read a JSON document and check it against its contract.

    Args:
        path: the file.
        name: the contract (``CONTRACTS``).
        hint: what to do about a bad document (appended to the message).

    Returns:
        The parsed document.

    Raises:
        EmissError: missing, unreadable or not JSON; ContractError: breaks the contract.
    """
    return validate(read_json(path, TITLES[name].removesuffix(" file")), name,
                    repr(str(path)), hint)


def write(path: str | os.PathLike, doc: Any, name: str) -> Path:
    """Check a document against its contract, then write it (atomic, deterministic JSON).

    Args:
        path: the destination.
        doc: the document.
        name: the contract (``CONTRACTS``).

    Returns:
        The written path.

    Raises:
        ContractError: the document breaks its contract (nothing is written).
    """
    validate(doc, name, repr(str(path)))
    return write_json(path, doc)


__all__ = [
    "CONTRACTS",
    "GRID_FORMAT",
    "KSTAR_RESPONSE_FORMAT",
    "PATCH_FORMAT",
    "RESPONSE_FORMAT",
    "RESULTS_FORMAT",
    "SIDECAR_FORMAT",
    "TITLES",
    "TOYS_FORMAT",
    "ClsCurve",
    "ContractError",
    "Coupling",
    "GridEntrySpec",
    "GridFile",
    "PatchBlock",
    "Polarisation",
    "ResponseFile",
    "ResultRow",
    "ResultsDocument",
    "Sidecar",
    "SidecarChannel",
    "ToyRun",
    "ToyScenario",
    "ToysFile",
    "read",
    "schema",
    "validate",
    "write",
]
