"""Sphinx configuration of emiss's documentation site (MyST markdown, executed tutorials).

Build: ``pip install -e ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import emiss  # noqa: E402  (the installed package, after the local extension path)

project = "emiss"
author = "the emiss authors"
copyright = "the emiss authors, BSD-3-Clause"  # noqa: A001  (Sphinx's name for it)
release = emiss.__version__
version = release

extensions = [
    "myst_nb",  # MyST markdown pages and MyST text notebooks, executed at build time
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # the Google-style docstrings (Args:, Returns:, Raises:)
    "sphinx.ext.mathjax",
    "sphinx_click",
    "emiss_docs",  # docs/_ext/emiss_docs.py: the scenario table and the API list, generated
]

source_suffix = {".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**/.ipynb_checkpoints"]

# MyST: $...$ math, ::: fences, anchors for "page.md#section" links up to ###.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4

# Tutorials run on every build (never a stale output), each in a fresh temporary folder, and a
# failing cell fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_in_temp = True
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" as fields of the class, not as entries that autodoc would list a second time
napoleon_use_ivar = True

# quotes and ellipses only: "--option" in the command-line help stays two hyphens
smartquotes_action = "qe"

html_theme = "furo"
html_title = f"emiss {release}"
html_static_path: list[str] = []
