"""Names every stage agrees on inside pyhf workspaces and patches.

A patch adds the sample ``SIGNAL_SAMPLE`` scaled by the parameter of interest ``POI`` (the
signal strength mu: mu = 1 stands for the reference branching ratio the patch states); for a
light invisible X it also adds the fixed SM nu nubar sample ``SM_SAMPLE``. Workspaces, patches,
fits and figures find these samples and this parameter by these names.
"""

from __future__ import annotations

#: Name of the signal sample patches add (normfactor ``POI``).
SIGNAL_SAMPLE = "signal"
#: Name of the parameter of interest, the signal strength mu.
POI = "mu"
#: Name of the fixed SM B -> K(*) nu nubar sample next to a light-X signal.
SM_SAMPLE = "sm_nunu"
