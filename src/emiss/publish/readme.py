"""The README of a published pallet: what each PatchSet holds, what μ means, how to run pyhf."""

from __future__ import annotations

import logging

from emiss.names import SM_SAMPLE
from emiss.publish.inputs import PatchSetInput, PublishInputs, WorkspaceInput, patch_info

log = logging.getLogger(__name__)

#: Sidecar keys whose text describes the workspace data (e.g. the emulated-data statement).
_META_TEXT_KEYS = ("data_statement", "emulated_data", "statement", "description", "note")


def _fmt(x: object) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def _uses_sample(ps: PatchSetInput, sample: str) -> bool:
    for p in ps.patches:
        for op in p["patch"]:
            val = op.get("value")
            if isinstance(val, dict) and val.get("name") == sample:
                return True
    return False


def _patchset_section(ps: PatchSetInput, n_results: int) -> list[str]:
    md = ps.spec["metadata"]
    patches = ps.patches
    infos = [patch_info(p) for p in patches]
    scenarios = sorted({i["scenario"] for i in infos if i["scenario"]})
    processes = sorted({pr for i in infos for pr in i["processes"]})
    refs = [i["reference_branching_ratio"] for i in infos if i["reference_branching_ratio"]]
    couplings = sorted({i["coupling"]["name"] for i in infos if (i["coupling"] or {}).get("name")})
    ordered = sorted(patches, key=lambda p: (list(p["metadata"]["values"]), p["metadata"]["name"]))
    example = ordered[len(ordered) // 2]["metadata"]["name"]  # mid-grid hypothesis
    out = [f"### `{ps.filename}`", ""]
    if md.get("description"):
        out += [md["description"].strip(), ""]
    out.append(f"- patches: {len(patches)} (e.g. `{example}`)")
    out.append(f"- labels (the `values` of each patch): {', '.join(f'`{x}`' for x in ps.labels)}")
    for k, lab in enumerate(ps.labels):
        vals = [p["metadata"]["values"][k] for p in patches]
        out.append(f"  - `{lab}` from {_fmt(min(vals))} to {_fmt(max(vals))}")
    if scenarios:
        out.append(f"- scenario(s): {', '.join(f'`{s}`' for s in scenarios)}")
    if processes:
        out.append(f"- process(es): {', '.join(processes)}")
    if refs:
        out.append(
            f"- reference branching ratio (μ = 1): from {_fmt(min(refs))} to {_fmt(max(refs))}, "
            "per patch in `metadata.emiss.reference_branching_ratio`"
        )
    if couplings:
        out.append(f"- coupling(s) (rate ∝ coupling²): {', '.join(f'`{c}`' for c in couplings)}")
    ref = md.get("references", {}).get("hepdata")
    if ref:
        out.append(f"- HEPData reference of the underlying analysis: {ref}")
    out.append(f"- pyhf digest of this file: `{ps.digest}`")
    if _uses_sample(ps, SM_SAMPLE):
        out.append(
            "- the Standard-Model B → K(*) ν ν̄ expectation is the separate sample `sm_nunu`, fixed "
            "at its SM prediction (not scaled by μ)"
        )
    if n_results:
        out.append(f"- scan results: {n_results} hypotheses in the HEPData limit tables")
    out += [
        "",
        "Reproduce a limit:",
        "",
        "```sh",
        f"pyhf patchset verify BkgOnly.json {ps.filename}",
        f"pyhf patchset inspect {ps.filename}",
        f"pyhf patchset extract {ps.filename} --name {example} --output-file patch.json",
        "pyhf cls BkgOnly.json --patch patch.json",
        "```",
        "",
    ]
    return out


def render_readme(inputs: PublishInputs, pallet: str) -> str:
    """Markdown README for the published directory and the pallet.

    Args:
        inputs: checked publication inputs.
        pallet: file name of the pallet archive.

    Returns:
        README text (deterministic: no dates, no paths of the machine).
    """
    lines = _workspace_section(inputs.workspace)
    lines += [
        "",
        "## What μ means",
        "",
        "Each patch adds a sample `signal` with the normalisation factor `mu` to the channels",
        "its process feeds. μ = 1 is the reference branching ratio B_ref stated in the patch's",
        "metadata (`metadata.emiss.reference_branching_ratio`), so an upper limit μ_up on μ is",
        "the limit B < μ_up × B_ref; for hypotheses with a coupling g (rate ∝ g²) it is",
        "g < sqrt(μ_up) × g_ref with g_ref in `metadata.emiss.coupling`.",
        "",
        "## PatchSets",
        "",
    ]
    for ps in inputs.patchsets:
        n = sum(len(r.rows) for r in inputs.results_for(ps.name))
        lines += _patchset_section(ps, n)
    lines += _usage_section(pallet)
    return "\n".join(lines) + "\n"


def _workspace_section(ws: WorkspaceInput) -> list[str]:
    """The title, the introduction and the section on ``BkgOnly.json``.

    Args:
        ws: the workspace input.

    Returns:
        Lines of the README.
    """
    chans = ws.spec["channels"]
    meas = ws.spec["measurements"][0]
    lines = [
        "# Full likelihoods: background-only workspace and signal PatchSets",
        "",
        "Made by `emiss publish`. The files follow the pyhf JSON schema 1.0.0: `BkgOnly.json`",
        "is the background-only HistFactory workspace, and every `patchset_<name>.json` is a",
        "pyhf PatchSet whose patches each add one signal hypothesis to it.",
        "",
        "## Background-only workspace `BkgOnly.json`",
        "",
        f"- pyhf digest (`pyhf digest BkgOnly.json`): `sha256:{ws.digest}`; every PatchSet below",
        "  carries it in `metadata.digests.sha256`",
        f"- measurement `{meas['name']}`, parameter of interest `{meas['config']['poi']}`",
        "- channels: "
        + ", ".join(f"`{c['name']}` ({len(c['samples'][0]['data'])} bins)" for c in chans),
        "- background samples: "
        + ", ".join(sorted({f"`{s['name']}`" for c in chans for s in c["samples"]})),
    ]
    for key in _META_TEXT_KEYS:
        text = (ws.meta or {}).get(key)
        if isinstance(text, str) and text.strip():
            lines.append(f"- {key.replace('_', ' ')}: {text.strip()}")
    return lines


def _usage_section(pallet: str) -> list[str]:
    """The sections on running the likelihoods without emiss and on the files.

    Args:
        pallet: file name of the pallet archive.

    Returns:
        Lines of the README.
    """
    return [
        "## Other ways to run it",
        "",
        "Apply a patch to get a full signal-plus-background workspace:",
        "",
        "```sh",
        "pyhf patchset apply BkgOnly.json patchset_<name>.json --name NAME --output-file ws.json",
        "pyhf cls ws.json",
        "```",
        "",
        "Upper limit on μ in Python:",
        "",
        "```python",
        "import json, pyhf",
        'ws = pyhf.Workspace(json.load(open("BkgOnly.json")))',
        'ps = pyhf.PatchSet(json.load(open("patchset_<name>.json")))',
        'model = ws.model(patches=[ps["NAME"]])',
        "obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(",
        "    ws.data(model), model, level=0.05",
        ")",
        "```",
        "",
        "## Files",
        "",
        f"- `{pallet}`: the pallet (`BkgOnly.json`, the PatchSets, this README) for HEPData",
        "- `hepdata/`: the HEPData submission (`submission.yaml`, tables, the pallet as an",
        "  additional resource of type HistFactory); `hepdata_submission.tar.gz` is the same,",
        "  ready to upload",
        "",
    ]
