"""Bundled background-only workspaces, sidecars and responses (package ``emiss.data.workspaces``).

This folder is package data: setup.py maps it onto ``emiss.data.workspaces`` so that it ships
inside the wheel; code finds it with ``importlib.resources`` (``emiss.bundles.bundled_dir``).
Rebuild: ``scripts/build_workspaces.py`` (B -> K) and ``scripts/build_kstar_workspaces.py``
(B -> K*, K + K*).
"""
