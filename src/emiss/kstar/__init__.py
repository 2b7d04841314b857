"""B -> K* E_miss: helicity-binned detector response, Belle II-style workspace, observables.

Modules:
    config: the documented emulation inputs (``data/belle2_kstar_emulation.yaml``).
    response: q^2_rec x cos(theta_K) response folding longitudinal and transverse parts apart.
    workspace: builder of ``workspaces/belle2_kstar_*`` (background-only, Asimov observations).
    observables: binned <F_L> of a Spectrum.
    combine: K + K* combined workspaces and patches.
"""
