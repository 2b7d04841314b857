"""Deprecated alias of ``emiss.inference.measure`` (``emiss measure``).

Kept so that ``from emiss.measure import measure`` keeps working; importing it warns.
"""

import warnings

from emiss.inference.measure import (
    FitModel,
    MeasureResult,
    _sm_signal_patch,
    measure,
    patched_model,
    postfit_yields,
    sm_signal_patch,
)

warnings.warn("emiss.measure is deprecated; import from emiss.inference.measure instead",
              DeprecationWarning, stacklevel=2)

__all__ = ["FitModel", "MeasureResult", "_sm_signal_patch", "measure", "patched_model",
           "postfit_yields", "sm_signal_patch"]
