"""Publication: pyhf pallets (BkgOnly + PatchSets + README) and HEPData submissions.

Knows files on disk, pyhf JSON and HEPData conventions; no physics formulas (spectra tables call
the physics stage's registry when it is installed).
"""

from emiss.publish.core import PublishResult, pallet_files, publish
from emiss.publish.inputs import PublishInputs, load_inputs
from emiss.publish.tarball import tar_gz_bytes, write_tar_gz

__all__ = [
    "PublishInputs",
    "PublishResult",
    "load_inputs",
    "pallet_files",
    "publish",
    "tar_gz_bytes",
    "write_tar_gz",
]
