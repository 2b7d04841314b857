"""Package layout that pyproject.toml cannot express: the top-level workspaces/ as package data.

The bundled background-only workspaces live in the repository's ``workspaces/`` (where users and
scripts find them); setuptools maps that folder onto the package ``emiss.data.workspaces`` so that
it ships inside the wheel and is found with ``importlib.resources`` after ``pip install .`` and
``pip install -e .`` alike (``emiss.bundles.bundle.bundled_dir``). Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "emiss.data.workspaces"],
    package_dir={"": "src", "emiss.data.workspaces": "workspaces"},
    package_data={"emiss": ["py.typed", "data/*", "data/**/*", "contracts/schemas/*.json"],
                  "emiss.data.workspaces": ["*.json"]},
)
