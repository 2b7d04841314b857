"""Sphinx directives that generate parts of emiss's site from the package itself.

* ``emiss-scenarios`` (option ``:part: operators`` or ``:part: parameters``): the scenario
  registry (``emiss.scenarios()``) as a table: operator, rate formula and source, or parameters,
  default mass and the branching ratio at the defaults, computed when the site is built.
* ``emiss-schemas``: the JSON Schemas of the contracts between stages, as the package ships them.
* ``emiss-api``: the public API (``emiss.__all__``) as an autosummary table followed by the
  autodoc entry of every name, so the reference follows ``__all__`` with no list kept by hand.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from scenario_formulas import formula_of
from sphinx import addnodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

_KIND = {1: "ν ν̄ (rescaled or WET)", 2: "two-body line", 3: "pair (three-body)"}
_SPIN = {0: "0", 0.5: "1/2", 1: "1", 1.5: "3/2"}


def _table(header: list[str], rows: list[list[nodes.Node]], widths: list[int]) -> nodes.table:
    """A docutils table with one header row."""
    table = nodes.table(classes=["emiss-generated"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row([nodes.Text(h) for h in header])
    body = nodes.tbody()
    group += body
    for cells in rows:
        body += _row(cells)
    return table


def _row(cells: list[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        para = nodes.paragraph()
        para += cell
        entry += para
        row += entry
    return row


def _ref(label: str, text: str) -> nodes.Node:
    """A link to a labelled section (``(label)=`` in MyST)."""
    xref = addnodes.pending_xref("", refdomain="std", reftype="ref", reftarget=label,
                                 refexplicit=True, refwarn=True)
    xref += nodes.inline(text=text)
    return xref


def _params(scen: Any) -> str:
    parts = []
    for key, (default, unit, _what) in scen.parameters.items():
        parts.append(f"{key} = {default:g}" + (f" {unit}" if unit else ""))
    return ", ".join(parts) or "—"


class ScenarioTable(SphinxDirective):
    """The scenario registry as a table (``:part: operators`` or ``parameters``)."""

    option_spec = {"part": lambda arg: directives.choice(arg, ("operators", "parameters"))}

    def run(self) -> list[nodes.Node]:
        import emiss

        part = self.options.get("part", "operators")
        rows = []
        for scen in emiss.scenarios():
            if scen.name.startswith("user-"):  # a user's spectrum registered at run time
                continue
            try:
                label, text = formula_of(scen.name)
            except KeyError as exc:
                raise ExtensionError(str(exc)) from None
            name = nodes.literal(text=scen.name)
            if part == "operators":
                rows.append([name, nodes.Text(_SPIN.get(scen.spin, f"{scen.spin:g}")),
                             nodes.Text(_KIND[scen.multiplicity]), nodes.Text(scen.operator),
                             _ref(label, text), nodes.Text(scen.reference)])
            else:
                br = scen.spectrum("B+->K+").branching_ratio()
                mass = "—" if scen.default_mass is None else f"{scen.default_mass:g}"
                rows.append([name, nodes.Text(_params(scen)), nodes.Text(mass),
                             nodes.Text(scen.coupling or "—"), nodes.Text(f"{br:.3g}"),
                             nodes.Text(", ".join(scen.processes))])
        if part == "operators":
            header = ["scenario", "spin", "kind", "operator (+ h.c.)", "rate formula", "source"]
            widths = [14, 4, 8, 30, 16, 28]
        else:
            header = ["scenario", "parameters (defaults)", "default m_X [GeV]", "coupling",
                      "B(B⁺ → K⁺ …) at the defaults", "processes"]
            widths = [14, 34, 6, 6, 8, 32]
        return [_table(header, rows, widths)]


class PublicApi(SphinxDirective):
    """Autosummary and autodoc entries of every name in ``emiss.__all__``."""

    def run(self) -> list[nodes.Node]:
        import emiss

        names = [n for n in emiss.__all__ if not n.startswith("_")]
        lines = [".. autosummary::", ""]
        lines += [f"   emiss.{n}" for n in names]
        lines.append("")
        for name in names:
            obj = getattr(emiss, name)
            kind = ("autoexception" if inspect.isclass(obj) and issubclass(obj, BaseException)
                    else "autoclass" if inspect.isclass(obj) else "autofunction")
            lines += [f".. {kind}:: emiss.{name}", ""]
        node = nodes.Element()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source="emiss.__all__"), self.content_offset,
                                node)
        return node.children


class ContractSchemas(SphinxDirective):
    """The JSON Schema of every contract (``emiss.contracts.CONTRACTS``), as shipped."""

    def run(self) -> list[nodes.Node]:
        from importlib import resources

        from emiss.contracts import CONTRACTS, TITLES

        out: list[nodes.Node] = []
        for name in CONTRACTS:
            path = resources.files("emiss.contracts") / "schemas" / f"{name}.schema.json"
            text = path.read_text(encoding="utf-8")
            self.env.note_dependency(str(path))
            title = nodes.rubric(text=f"{TITLES[name]}: {name}.schema.json")
            block = nodes.literal_block(text, text, language="json")
            out += [title, block]
        return out


_LITERAL = re.compile(r"(``.+?``|`[^`]+`)")


def _plain_bars(lines: list[str]) -> None:
    """Escape ``|`` (|C|, a | b) in plain-text help and docstrings, which reST would read as a
    substitution. Left as they are: literal blocks (after ``::`` or a code directive), inline
    literals and roles, directive lines, and the ``| `` that opens a line of a line block."""
    block = None  # indent of the paragraph that opened a literal block
    for i, line in enumerate(lines):
        body = line.lstrip()
        indent = len(line) - len(body)
        if block is not None:
            if not body or indent > block:
                continue
            block = None
        if body.endswith("::") or body.startswith((".. code", ">>>")):
            block = indent
        if "|" not in body or body.startswith(".. ") or body.startswith(">>>"):
            continue
        head = "| " if body.startswith("| ") else ""
        parts = _LITERAL.split(body[len(head):])
        parts = [p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(parts)]
        lines[i] = line[:indent] + head + "".join(parts)


def _docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    _plain_bars(lines)


def _skip_fields(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """Data members of classes are described by the class docstring's Attributes section:
    keep autodoc from listing them a second time, without a description."""
    if what == "class" and not (inspect.isroutine(obj) or isinstance(obj, property)
                                or inspect.isclass(obj)):
        return True
    return None


def _click_text(app: Any, ctx: Any, lines: list[str]) -> None:
    _plain_bars(lines)
    for i, line in enumerate(lines):  # keep the shell's line continuations in the examples
        if line.lstrip().startswith("| ") and line.rstrip().endswith("\\"):
            lines[i] = line.rstrip()[:-1] + "\\\\"


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("emiss-scenarios", ScenarioTable)
    app.add_directive("emiss-api", PublicApi)
    app.add_directive("emiss-schemas", ContractSchemas)
    app.connect("autodoc-process-docstring", _docstring)
    app.connect("autodoc-skip-member", _skip_fields)
    for event in ("sphinx-click-process-description", "sphinx-click-process-options",
                  "sphinx-click-process-arguments", "sphinx-click-process-epilog"):
        app.connect(event, _click_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
