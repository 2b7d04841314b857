"""Physics core: dB/dq^2 (and F_L for K*) for B -> K(*) + invisible under each hypothesis.

Knows form factors, couplings, kinematics and constants; nothing of detectors, bins or pyhf.
"""

from emiss.physics.spectrum import Spectrum

__all__ = ["Spectrum"]
