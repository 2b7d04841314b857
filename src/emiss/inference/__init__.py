"""Statistical inference: CLs upper limits, discovery significance and best fits per hypothesis.

Public API (engine layer; grid orchestration lives in ``emiss.inference.scan``):
``reference_analyse`` (plain pyhf), ``GridAnalyzer`` (fast engine with pyhf fallback).
"""

from emiss.inference.limits import ROW_KEYS, GridAnalyzer, reference_analyse

__all__ = ["ROW_KEYS", "GridAnalyzer", "reference_analyse"]
