"""Detector response: efficiency x migration from true q^2 bins to reconstructed fit bins.

For each channel, ``R[i, j]`` is the probability that a decay whose true q^2 lies in true bin j
is selected into reconstructed (fit) bin i, averaged uniformly over the true bin. Column sums are
the selection efficiency and never exceed 1. ``Response.fold(spectrum)`` turns a dB/dq^2
(continuum + exact lines) into expected yields per fit bin for ``n_b`` produced B mesons;
a line at q^2 = m^2 is routed through the exact column ``column_at(m^2)`` and never smeared
over a true bin.

Modules (the stage knows bins and matrices only; which hypothesis made a spectrum is not its
business, and it imports only ``emiss.physics`` and the base modules ``emiss.io``,
``emiss.names`` and ``emiss.errors``):

* ``kernels``: analytic kernels (``BoxKernel``: the ITA kinematic box of Belle II's q^2_rec;
  ``HelicityKernel`` and ``helicity_acceptance``: the K* helicity-angle templates);
* ``binned``: the fold's input (``Binned``: a spectrum's parts integrated over true bins, one
  spectrum or a stack of spectra or form-factor draws; ``DrawQuadrature`` for fast draws);
* ``channels``: the channel kinds (``ChannelResponse``; ``KstarChannelResponse``, B -> K*
  binned in the K* helicity angle, folding longitudinal and transverse parts apart) and their
  registry ``CHANNEL_KINDS``; each folds one ``Binned`` or a stack (``fold_binned``);
* ``container``: ``Response`` (per-channel responses of one workspace, fold, save/load);
* ``formats``: file formats (emiss JSON ``emiss-response-1`` / ``emiss-kstar-response-1``,
  Belle II HEPData number densities ``Response.from_hepdata``, ROOT TH2 ``Response.from_root``).

The responses of the bundled emulations are built in ``emiss.bundles``.
"""

from emiss.response.binned import PARTS, Binned, DrawQuadrature, integrate, total_br
from emiss.response.channels import (
    CHANNEL_KINDS,
    LINE_PLACEMENTS,
    POLARISED_KIND,
    ChannelResponse,
    KstarChannelResponse,
    channel_from_dict,
)
from emiss.response.container import Response
from emiss.response.formats import (
    BELLE2_N_BPLUS,
    BELLE2_TRUE_EDGES,
    KSTAR_RESPONSE_FORMAT,
    RESPONSE_FORMAT,
)
from emiss.response.kernels import BoxKernel, HelicityKernel, helicity_acceptance

__all__ = [
    "BELLE2_N_BPLUS",
    "BELLE2_TRUE_EDGES",
    "CHANNEL_KINDS",
    "KSTAR_RESPONSE_FORMAT",
    "LINE_PLACEMENTS",
    "PARTS",
    "POLARISED_KIND",
    "RESPONSE_FORMAT",
    "Binned",
    "BoxKernel",
    "ChannelResponse",
    "DrawQuadrature",
    "HelicityKernel",
    "KstarChannelResponse",
    "Response",
    "channel_from_dict",
    "helicity_acceptance",
    "integrate",
    "total_br",
]
