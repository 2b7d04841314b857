"""Which rate formula of the physics page (docs/physics.md) each registered scenario uses.

The scenario table of the physics page is generated from ``emiss.scenarios()`` when the site is
built; this module only says which section holds the rate formula of each scenario family. A
scenario whose name matches no rule stops the build (``formula_of`` raises), so a new scenario
cannot appear on the site without its formula. No Sphinx import: ``tests/test_docs.py`` uses it.
"""

from __future__ import annotations

#: Base names (after ``threebody-`` and without a self-conjugate suffix) -> (section label,
#: structure of the pair in the trace table of the physics page).
PAIR_KINDS: dict[str, tuple[str, str]] = {
    "scalar": ("rate-pairs", "scalar-vector"),
    "scalar-s": ("rate-pairs", "scalar-scalar"),
    "fermion": ("rate-pairs", "fermion-vector (d_L, d_R)"),
    "fermion-vector": ("rate-pairs", "fermion-vector (g_a = 0)"),
    "fermion-axial": ("rate-pairs", "fermion-vector (g_v = 0)"),
    "fermion-scalar": ("rate-pairs", "fermion-scalar"),
    "fermion-pseudoscalar": ("rate-pairs", "fermion-pseudoscalar"),
    "fermion-tensor": ("rate-pairs", "fermion-tensor"),
    "vector": ("rate-pairs", "vector-vector"),
    "vector-s": ("rate-pairs", "vector-scalar"),
    "vector-t": ("rate-pairs", "vector-tensor"),
    "spin32": ("rate-pairs", "rs-vector (d_L, d_R)"),
    "spin32-vector": ("rate-pairs", "rs-vector (g_a = 0)"),
    "spin32-axial": ("rate-pairs", "rs-vector (g_v = 0)"),
    "spin32-scalar": ("rate-pairs", "rs-scalar"),
    "spin32-pseudoscalar": ("rate-pairs", "rs-pseudoscalar"),
}

#: Scenarios with a formula of their own -> (section label, what the link says).
SINGLE: dict[str, tuple[str, str]] = {
    "sm": ("rate-sm", "SM, C_L = C_L^SM"),
    "heavy-np": ("rate-sm", "C_L, C_R"),
    "wet": ("rate-wet", "WET: C_VL, C_VR, C_SL, C_SR, C_TL"),
    "twobody-scalar": ("rate-twobody", "derivative: (g/Λ)² q² |H_t|²"),
    "twobody-scalar-s": ("rate-twobody", "density: (g v/(√2 Λ))² |H_S|²"),
    "twobody-vector": ("rate-twobody", "vector: g² Σ_λ |H_λ|²"),
}

#: Suffixes of self-conjugate pairs (Majorana fermions, real bosons): half the Dirac/complex rate.
SELF_CONJUGATE = ("-majorana", "-real")


def formula_of(name: str) -> tuple[str, str]:
    """The physics page's section label and a short description of a scenario's rate.

    Args:
        name: a registered scenario name.

    Returns:
        (section label, description).

    Raises:
        KeyError: no rule covers the name (the page would lack its formula).
    """
    if name in SINGLE:
        return SINGLE[name]
    if name.startswith("threebody-"):
        base, note = name[len("threebody-"):], ""
        for suffix in SELF_CONJUGATE:
            if base.endswith(suffix):
                base, note = base[: -len(suffix)], ", self-conjugate: × 1/2"
        if base in PAIR_KINDS:
            label, kind = PAIR_KINDS[base]
            return label, f"pair: {kind}{note}"
    raise KeyError(f"scenario {name!r} has no rate formula on the physics page: add a rule to "
                   "docs/_ext/scenario_formulas.py and its formula to docs/physics.md")
