"""docs/interfaces.md describes the contracts as their schemas define them.

The tables between the contract markers are generated from the schemas
(``scripts/build_contracts_doc.py``); every field of every schema has its row, and every row
names a field of a schema.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from emiss.contracts import CONTRACTS
from emiss.contracts._doc import BEGIN, END, fields, markdown

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "interfaces.md"


def _generated() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    return BEGIN + text.split(BEGIN)[1].split(END)[0] + END


def test_tables_are_current():
    assert _generated() + "\n" == markdown(), "run python scripts/build_contracts_doc.py"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_contracts_doc.py"),
                           "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_field_has_a_row_and_every_row_a_field():
    text = _generated()
    documented: set[str] = set()
    for name in CONTRACTS:
        section = text.split(f"(`{name}`, ")[1].split("####")[0]
        rows = set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))
        assert rows == set(fields(name)), name
        documented |= rows
    # the top-level properties of every schema, read from the files themselves
    import json

    for path in sorted((ROOT / "src" / "emiss" / "contracts" / "schemas").glob("*.json")):
        props = json.loads(path.read_text())["properties"]
        assert set(props) <= documented, path.name
