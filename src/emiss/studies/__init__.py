"""Studies: orchestration over the engine that builds patches or reads bundle inputs.

Luminosity projections and the Belle II forecasts (``projection``, ``kstar_rate``), the K*
emulation's calibration against Belle's limits (``calibrate``), WET fits (``wet``) and the SM
signal patch of a measurement (``measure``). The likelihood engine itself is ``emiss.inference``.
"""
