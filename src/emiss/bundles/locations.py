"""Where the bundled workspaces live once emiss is installed (package data)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from emiss.errors import EmissError

#: Package holding the bundled workspaces: the repository's top-level ``workspaces/`` folder,
#: mapped onto this package by setup.py, so that it ships inside the wheel.
BUNDLED_PACKAGE = "emiss.data.workspaces"


def bundled_dir() -> Path:
    """Folder of the bundled workspaces (package data ``emiss.data.workspaces``).

    Returns:
        The folder: site-packages/emiss/data/workspaces after ``pip install .``, the
        repository's ``workspaces/`` after ``pip install -e .``.

    Raises:
        EmissError: the package data are not installed.
    """
    try:
        root = resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        raise EmissError(f"the bundled workspaces (package {BUNDLED_PACKAGE}) are not "
                         "installed; install emiss with pip (pip install . or -e .)") from None
    return root if isinstance(root, Path) else Path(str(root))
