"""The documentation site's sources hang together (no Sphinx build: `.ci/run` builds the site).

Every page is reachable from a toctree, every tutorial is listed and is an executable MyST
notebook that uses only the public API, the configuration executes the tutorials and fails on
warnings, and every registered scenario has its rate formula on the physics page.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

import emiss

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = DOCS / "tutorials"
SKIP = {"_build", "jupyter_execute", "_ext"}


def _pages() -> set[str]:
    """Every page of the site, as a docname (path below docs/ without .md)."""
    return {p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md")
            if not SKIP & set(p.relative_to(DOCS).parts)}


def _toctree_entries(page: str) -> list[str]:
    """The docnames a page's toctrees list (relative entries resolved against the page)."""
    text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
    folder = Path(page).parent
    out = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                out.append((folder / line).as_posix())
    return out


def _code_cells(path: Path) -> list[str]:
    return re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", path.read_text(encoding="utf-8"),
                      flags=re.S)


def _tutorials() -> list[Path]:
    return sorted(p for p in TUTORIALS.glob("*.md") if p.name != "index.md")


def test_every_page_is_in_a_toctree():
    pages = _pages()
    listed: set[str] = set()
    for page in pages:
        entries = _toctree_entries(page)
        assert set(entries) <= pages, f"{page}: toctree entries without a page: " \
                                      f"{sorted(set(entries) - pages)}"
        listed |= set(entries)
    assert pages - listed == {"index"}, f"pages in no toctree: {sorted(pages - listed - {'index'})}"


def test_the_site_has_its_pages():
    for page in ("getting_started", "physics", "limits", "statistics", "contracts", "api", "cli",
                 "tutorials/index"):
        assert page in _pages(), page


def test_every_tutorial_is_listed_and_executable():
    tutorials = _tutorials()
    assert [p.stem for p in tutorials] == sorted(["belle2_excess", "own_model", "uv_model",
                                                  "hepdata"])
    assert set(_toctree_entries("tutorials/index")) == {f"tutorials/{p.stem}" for p in tutorials}
    for path in tutorials:
        head = path.read_text(encoding="utf-8").split("---")[1]
        assert "file_format: mystnb" in head and "kernelspec:" in head, path.name
        cells = _code_cells(path)
        assert len(cells) >= 3, f"{path.name}: a tutorial runs code"


def test_tutorials_use_only_the_public_api():
    public = set(emiss.__all__)
    for path in _tutorials():
        used = set(re.findall(r"\bemiss\.([A-Za-z_]\w*)", "\n".join(_code_cells(path))))
        assert used <= public, f"{path.name}: not in emiss.__all__: {sorted(used - public)}"


def test_conf_executes_tutorials_and_documents_the_api():
    before = list(sys.path)
    try:
        conf = runpy.run_path(str(DOCS / "conf.py"))
    finally:
        sys.path[:] = before
    assert conf["nb_execution_mode"] in ("force", "cache")
    assert conf["nb_execution_raise_on_error"] is True
    assert conf["nb_execution_timeout"] > 0
    for ext in ("myst_nb", "sphinx.ext.autodoc", "sphinx_click", "emiss_docs"):
        assert ext in conf["extensions"], ext
    assert conf["release"] == emiss.__version__
    assert "emiss-api" in (DOCS / "api.md").read_text(encoding="utf-8")
    cli = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert ".. click:: emiss.cli:cli" in cli and ":nested: full" in cli


def test_every_scenario_has_its_rate_formula():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from scenario_formulas import formula_of
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    physics = (DOCS / "physics.md").read_text(encoding="utf-8")
    for scen in emiss.scenarios():
        if scen.name.startswith("user-"):  # registered at run time by another test
            continue
        label, _text = formula_of(scen.name)
        assert f"({label})=" in physics, f"{scen.name}: section {label} missing"
    with pytest.raises(KeyError, match="no rate formula"):
        formula_of("threebody-unheard-of")


def test_ci_builds_the_site_with_warnings_as_errors():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_line = 'pip install -e ".[test]" && python -m pytest -n 2'
    build = re.search(r"sphinx-build .*-W .*docs docs/_build/html", run)
    assert build and run.index(test_line) < build.start()
    assert 'pip install -e ".[docs]"' in run
    assert 'pip install -e ".[docs]" && sphinx-build' in (ROOT / "README.md").read_text(
        encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    docs_extra = re.search(r"^docs = \[(.*)\]$", pyproject, flags=re.M)
    assert docs_extra, "pyproject.toml: no docs extra"
    for package in ("sphinx", "myst-nb", "sphinx-click", "furo", "ipykernel"):
        assert f'"{package}' in docs_extra.group(1), package
