"""hepdata-lib, imported without its process-wide YAML side effect.

Importing ``hepdata_lib`` (0.21) re-registers the mapping constructor of PyYAML's full loader
(``yaml.CLoader``, or ``yaml.Loader`` without libyaml) with a function that fails on every
mapping, so any later ``yaml.load(..., Loader=yaml.CLoader)`` anywhere in the process raises
``TypeError``. emiss only writes YAML through hepdata-lib, so the loader's standard constructor
is put back right after the import.
"""

from __future__ import annotations

import logging

import yaml
import yaml.constructor
from hepdata_lib import Submission, Table, Uncertainty, Variable

log = logging.getLogger(__name__)

_MAPPING_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG


def _restore_yaml_loaders() -> None:
    """Give PyYAML's full loaders their standard mapping constructor back."""
    good = yaml.constructor.Constructor.yaml_constructors[_MAPPING_TAG]
    for name in ("CLoader", "Loader"):
        cls = getattr(yaml, name, None)
        if cls is not None and "yaml_constructors" in cls.__dict__:
            if cls.yaml_constructors.get(_MAPPING_TAG) is not good:
                cls.yaml_constructors[_MAPPING_TAG] = good


_restore_yaml_loaders()

__all__ = ["Submission", "Table", "Uncertainty", "Variable"]
