"""Deprecated alias of ``emiss.inference.projection`` (luminosity projections).

Kept so that ``from emiss.projection import scale_spec`` keeps working; importing it warns.
"""

import warnings

from emiss.inference.projection import (
    EXTERNAL_SYSTEMATICS,
    SYST_POLICIES,
    apply_ops,
    delta_chi2,
    discovery_significance,
    expected_limits,
    merge_bins,
    null_yields,
    scale_patch,
    scale_spec,
    with_asimov,
)

warnings.warn("emiss.projection is deprecated; import from emiss.inference.projection instead",
              DeprecationWarning, stacklevel=2)

__all__ = ["EXTERNAL_SYSTEMATICS", "SYST_POLICIES", "apply_ops", "delta_chi2",
           "discovery_significance", "expected_limits", "merge_bins", "null_yields",
           "scale_patch", "scale_spec", "with_asimov"]
