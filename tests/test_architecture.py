"""Import rules of docs/architecture.md: each stage imports only the stages before it, no cycles.

Every ``import`` of every module under src/emiss is read with ``ast`` (module level and inside
functions alike: a lazy import is still a dependency), mapped to its stage, and checked:

1. a module imports only modules of its own stage or of earlier stages;
2. no import cycle between modules (package ``__init__`` re-exports included);
3. every module belongs to a stage (a new package must be placed in the flow first);
4. the inference engine imports neither physics nor models (``ENGINE_FORBIDDEN``).

Failures name the file, line and import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Stages in flow order: (rank, name, module prefixes). Equal ranks may import each other.
STAGES: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (0, "base", ("emiss.errors", "emiss.io", "emiss.names", "emiss.validate", "emiss.data",
                  "emiss.contracts")),
    (1, "physics", ("emiss.physics",)),
    (2, "models", ("emiss.models",)),
    (3, "response", ("emiss.response",)),
    (4, "bundles", ("emiss.bundles",)),
    (5, "patches", ("emiss.patches",)),
    (6, "inference", ("emiss.inference",)),
    (7, "studies", ("emiss.studies",)),
    (8, "plotting", ("emiss.plotting",)),
    (8, "publish", ("emiss.publish",)),
    # the public API at the top of the package (emiss/__init__.py, emiss/api.py) calls every stage
    (9, "api", ("emiss", "emiss.api")),
    (10, "cli", ("emiss.cli", "emiss.__main__")),
)

#: Stages the inference engine must not import although they come earlier in the flow: the
#: engine fits the patches it is given and recomputes no physics (that travels in the patch).
ENGINE_FORBIDDEN = ("emiss.physics", "emiss.models")


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, where."""

    importer: str
    imported: str
    path: Path
    line: int

    def where(self) -> str:
        """file:line: importer -> imported."""
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}"


def module_names(root: Path, package: str = "emiss") -> dict[str, Path]:
    """Dotted module name -> file, for every .py under root/package."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The known module a dotted name refers to (itself or its longest known parent)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """The imports of one module that refer to modules of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module if is_pkg else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            # `from pkg import sub` imports the submodule when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        for t in targets:
            hit = _resolve(t, known)
            if hit is not None and hit != module:
                imp = Import(module, hit, path, node.lineno)
                if imp not in out:
                    out.append(imp)
    return out


def stage_of(module: str) -> tuple[int, str] | None:
    """(rank, stage name) of a module: the stage with the longest matching prefix."""
    best = None
    for rank, name, prefixes in STAGES:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (
                    best is None or len(p) > best[0]):
                best = (len(p), rank, name)
    # the bare package prefix "emiss" only claims emiss/__init__.py itself
    if best is not None and best[0] == len("emiss") and module != "emiss":
        return None
    return None if best is None else (best[1], best[2])


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def violations(root: Path) -> list[str]:
    """Every broken rule under root/emiss, one line each (empty: the layout is sound)."""
    known = module_names(root)
    problems = []
    edges: dict[str, set[str]] = {m: set() for m in known}
    found: dict[tuple[str, str], Import] = {}
    for mod, path in known.items():
        if stage_of(mod) is None:
            problems.append(f"{path}: module {mod} belongs to no stage; place it in the flow "
                            "(tests/test_architecture.py STAGES and docs/architecture.md)")
        for imp in imports_of(mod, path, known):
            edges[mod].add(imp.imported)
            found.setdefault((mod, imp.imported), imp)
            a, b = stage_of(mod), stage_of(imp.imported)
            if a is not None and b is not None and b[0] > a[0]:
                problems.append(f"{imp.where()}: stage {a[1]!r} must not import the later "
                                f"stage {b[1]!r}")
    for comp in find_cycles(edges):
        members = set(comp)
        links = [found[(a, b)].where() for a in comp for b in sorted(edges[a]) if b in members]
        problems.append("import cycle between " + ", ".join(comp) + ":\n    "
                        + "\n    ".join(links))
    return problems


def test_each_stage_imports_only_earlier_stages_and_there_is_no_cycle():
    problems = violations(SRC)
    assert not problems, "\n".join(problems)


def engine_violations(root: Path) -> list[str]:
    """Every import of an ``ENGINE_FORBIDDEN`` stage by the inference engine, one line each."""
    known = module_names(root)
    return [f"{imp.where()}: the inference engine must not import {imp.imported}"
            for mod, path in known.items() if (stage_of(mod) or (None, ""))[1] == "inference"
            for imp in imports_of(mod, path, known)
            if any(imp.imported == p or imp.imported.startswith(p + ".")
                   for p in ENGINE_FORBIDDEN)]


def test_the_inference_engine_imports_no_physics():
    problems = engine_violations(SRC)
    assert not problems, "\n".join(problems)


def test_every_stage_of_the_flow_exists():
    known = module_names(SRC)
    missing = [name for _, name, prefixes in STAGES if name != "models"
               and not any(_resolve(p, known) == p for p in prefixes)]
    assert not missing, f"stages without a module: {missing}"


def test_kstar_is_a_channel_kind_not_a_folder():
    assert not (SRC / "emiss" / "kstar").exists()
    from emiss.response import CHANNEL_KINDS, KstarChannelResponse

    assert KstarChannelResponse in CHANNEL_KINDS.values()


# ----------------------------------------------------------------------------- the checker
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_checker_reports_a_later_stage_import_with_its_line(tmp_path):
    _write(tmp_path, {
        "emiss/__init__.py": "",
        "emiss/physics/__init__.py": "",
        "emiss/physics/sm.py": "import math\n\n\ndef f():\n    from emiss.patches import build\n",
        "emiss/patches/__init__.py": "",
        "emiss/patches/build.py": "from emiss.physics import sm\n",
    })
    problems = violations(tmp_path)
    later = [p for p in problems if "later stage" in p]
    assert len(later) == 1
    assert "sm.py:5: emiss.physics.sm imports emiss.patches.build" in later[0]
    assert "'physics' must not import the later stage 'patches'" in later[0]


def test_checker_reports_cycles_and_modules_outside_the_flow(tmp_path):
    _write(tmp_path, {
        "emiss/__init__.py": "",
        "emiss/inference/__init__.py": "",
        "emiss/inference/limits.py": "from emiss.inference.fastlimits import fast\n",
        "emiss/inference/fastlimits.py": "from . import limits\n",
        "emiss/gadgets/__init__.py": "",
    })
    problems = violations(tmp_path)
    cycles = [p for p in problems if p.startswith("import cycle")]
    assert len(cycles) == 1
    assert "emiss.inference.fastlimits, emiss.inference.limits" in cycles[0]
    assert "fastlimits.py:1: emiss.inference.fastlimits imports emiss.inference.limits" \
        in cycles[0]
    assert any("emiss.gadgets belongs to no stage" in p for p in problems)


def test_checker_reports_physics_in_the_engine_but_not_in_studies(tmp_path):
    _write(tmp_path, {
        "emiss/__init__.py": "",
        "emiss/physics/__init__.py": "",
        "emiss/physics/sm.py": "",
        "emiss/inference/__init__.py": "",
        "emiss/inference/fit.py": "def f():\n    from emiss.physics import sm\n",
        "emiss/studies/__init__.py": "",
        "emiss/studies/forecast.py": ("from emiss.physics import sm\n"
                                      "from emiss.inference import fit\n"),
    })
    assert violations(tmp_path) == []
    problems = engine_violations(tmp_path)
    assert len(problems) == 1
    assert "fit.py:2: emiss.inference.fit imports emiss.physics.sm" in problems[0]


@pytest.mark.parametrize("module, stage", [
    ("emiss", "api"), ("emiss.api", "api"), ("emiss.io", "base"),
    ("emiss.physics.observables", "physics"),
    ("emiss.response.formats", "response"), ("emiss.bundles.kstar_emulation", "bundles"),
    ("emiss.inference.asimov", "inference"), ("emiss.studies.projection", "studies"),
    ("emiss.cli.workspace_cmds", "cli"),
    ("emiss.gadgets", None),
])
def test_stage_of(module, stage):
    got = stage_of(module)
    assert (got[1] if got else None) == stage


#: Longest function (lines from ``def`` to its end, docstring included) without a reason.
MAX_FUNCTION_LINES = 80


def long_functions(root: Path) -> list[str]:
    """Functions over MAX_FUNCTION_LINES lines whose ``def`` (or first decorator) has no
    comment on the line above it saying why they are one function."""
    found = []
    for path in sorted((root / "emiss").rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            n = node.end_lineno - node.lineno + 1
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            above = lines[first - 2].strip() if first > 1 else ""
            if n > MAX_FUNCTION_LINES and not above.startswith("#"):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.name} ({n} lines)")
    return found


def test_no_long_function_without_a_reason():
    assert long_functions(SRC) == []


def test_long_function_checker(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    _write(tmp_path, {"emiss/__init__.py": "",
                      "emiss/a.py": f"def long():\n{body}\n\n# one piece: why\ndef ok():\n{body}"})
    assert long_functions(tmp_path) == ["emiss/a.py:1: long (81 lines)"]
