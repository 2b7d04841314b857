"""``emiss measure``: the SM-shaped signal of a workspace, then the engine's fit of its strength.

The signal is the SM nu nubar patch of the patches stage (``emiss.patches.sm_patch``, the same
builder as the committed SM patches); mu = 1 stands for the sidecar's reference branching ratio
(Belle II's 4.97e-6 for B+ -> K+, arXiv:2311.14647) or, when the sidecar states none (the K*
bundles), the SM prediction of the first signal channel's process (``emiss.physics.sm``). The
fits are ``emiss.inference.measure``.
"""

from __future__ import annotations

from collections.abc import Callable

from emiss.bundles.bundle import Bundle
from emiss.inference import measure as engine
from emiss.inference.measure import MeasureResult
from emiss.patches.build import sm_patch
from emiss.physics.sm import sm_spectrum

#: Source recorded for the default signal patch (``MeasureResult.signal_patch_source``).
SM_PATCH_SOURCE = "emiss.patches.sm_patch"


def reference_br(bundle: Bundle) -> float:
    """The branching ratio mu = 1 stands for in the SM-signal fit.

    Args:
        bundle: the workspace bundle.

    Returns:
        The sidecar's reference; when it states none, the SM prediction of the first signal
        channel's process, as ``emiss.patches.sm_patch`` normalises it.
    """
    ref = bundle.reference_branching_ratio()
    if ref is not None:
        return ref
    response = bundle.require_response()
    names = [c["name"] for c in bundle.spec["channels"]]
    first = min(response.channels.values(), key=lambda cr: names.index(cr.name))
    return sm_spectrum(first.process).branching_ratio()


def sm_signal_patch(bundle: Bundle) -> tuple[list[dict], str]:
    """The SM signal patch of a workspace.

    Args:
        bundle: the workspace bundle (with its response).

    Returns:
        (JSON Patch list, ``SM_PATCH_SOURCE``).
    """
    return list(sm_patch(bundle)), SM_PATCH_SOURCE


def measure(bundle: Bundle, patch: list[dict] | None = None,
            progress: Callable[[str], None] | None = None) -> MeasureResult:
    """Fit the signal strength of the SM-shaped signal.

    Args:
        bundle: the workspace bundle.
        patch: JSON Patch adding the signal (default: the SM patch, see ``sm_signal_patch``).
        progress: called with a short message before each long step (the CLI prints them).

    Returns:
        The MeasureResult.
    """
    source = "caller"
    if patch is None:
        patch, source = sm_signal_patch(bundle)
    return engine.fit_signal_strength(bundle, patch, reference_br(bundle), progress=progress,
                                      source=source)


def postfit(bundle: Bundle, patch: list[dict] | None = None) -> dict[str, dict]:
    """Post-fit yields, their total's 1 sigma band and the data (``engine.postfit``).

    Args:
        bundle: the workspace bundle.
        patch: JSON Patch adding the signal (default: the SM patch).

    Returns:
        channel -> {"samples", "total", "total_err", "data"}.
    """
    if patch is None:
        patch, _ = sm_signal_patch(bundle)
    return engine.postfit(bundle, patch)
