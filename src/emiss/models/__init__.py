"""UV models: model parameters -> the couplings of emiss's scenarios, plus each model's own
constraints. One module per model; ``get_model(name)`` looks one up (registry like
``emiss.physics.scenarios``).

Stage: after ``physics`` (imports only physics), before response/patches/inference.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from emiss.errors import EmissError

#: model name -> module under emiss.models (each has NAME, PARAMETERS, REFERENCE, derive()).
MODELS: dict[str, str] = {"u1prime": "emiss.models.u1prime"}


def model_names() -> list[str]:
    """Registered model names."""
    return list(MODELS)


def get_model(name: str) -> ModuleType:
    """The module implementing a model.

    Raises:
        EmissError: unknown name (the message lists the valid ones).
    """
    if name not in MODELS:
        raise EmissError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    return importlib.import_module(MODELS[name])
