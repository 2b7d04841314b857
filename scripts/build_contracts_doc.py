#!/usr/bin/env python
"""Write (or check) the contract tables of docs/interfaces.md, generated from the JSON Schemas.

The tables sit between the markers of ``emiss.contracts._doc`` (``BEGIN``, ``END``); everything
else in the file is prose and stays as it is.

Usage:
    python scripts/build_contracts_doc.py           # rewrite the tables
    python scripts/build_contracts_doc.py --check   # exit 1 when docs/interfaces.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emiss.contracts._doc import BEGIN, END, markdown
from emiss.io import atomic_write_text

DOC = Path(__file__).resolve().parents[1] / "docs" / "interfaces.md"


def current(text: str) -> str:
    """The document with its generated part replaced by the current tables."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(f"{DOC}: needs exactly one {BEGIN!r} and one {END!r}")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return head + markdown().rstrip("\n") + tail


def main() -> int:
    """Rewrite or check docs/interfaces.md; 1 when --check finds it stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    fresh = current(text)
    if args.check:
        if fresh != text:
            print(f"{DOC} is stale: run python scripts/build_contracts_doc.py", file=sys.stderr)
            return 1
        return 0
    if fresh != text:
        atomic_write_text(DOC, fresh)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
