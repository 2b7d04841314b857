"""emiss: B -> K(*) + missing energy, from new-physics hypotheses to pyhf likelihoods."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
