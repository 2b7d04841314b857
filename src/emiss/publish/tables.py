"""HEPData tables (hepdata-lib objects) for a publication.

Four kinds, each built from plain inputs and knowing nothing of physics formulas:

* limits versus the hypothesis coordinates (m_X, ...) per scenario, from scan results:
  observed and expected CLs upper limits (the scan's CL) on B, μ and the coupling, expected
  with ±1σ/±2σ bands;
* signal templates per channel: the ``signal`` sample of a representative subset of patches,
  next to the pre-fit background and the (possibly emulated) data;
* spectra dB/dq² per scenario from ``emiss.physics.scenarios`` (only when that stage is
  importable), continuum and exact two-body lines separately;
* the detector response matrix per channel (bundled workspaces only).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jsonpatch
import numpy as np

from emiss.contracts import PatchBlock
from emiss.names import SIGNAL_SAMPLE, SM_SAMPLE
from emiss.publish._hdl import Table, Uncertainty, Variable
from emiss.publish.inputs import PatchSetInput, PublishInputs, patch_info

if TYPE_CHECKING:
    from emiss.response import Response

log = logging.getLogger(__name__)

#: Υ(4S) centre-of-mass energy in GeV (PDG: m_Υ(4S) = 10.5794 GeV), for the cmenergies keyword.
CM_ENERGY_GEV = 10.58

#: Display names and units of known hypothesis coordinates.
LABEL_UNITS: dict[str, tuple[str, str]] = {
    "m_X": ("$m_X$", "GeV"),
    "C_L": ("$C_L$", ""),
    "C_R": ("$C_R$", ""),
}

#: Digits kept by hepdata-lib when it rounds values (relative rounding).
DIGITS = 6


class TableNamer:
    """Unique HEPData table names of at most 64 characters (the schema's limit)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, name: str) -> str:
        """A unique version of name (suffix ``#k`` when taken)."""
        base = name[:64]
        cand, k = base, 2
        while cand.lower().replace(" ", "_") in self._used:
            suffix = f" #{k}"
            cand = base[: 64 - len(suffix)] + suffix
            k += 1
        self._used.add(cand.lower().replace(" ", "_"))
        return cand


def _var(name: str, values: list, *, independent: bool, units: str = "",
         binned: bool = False) -> Variable:
    v = Variable(
        name,
        is_independent=independent,
        is_binned=binned,
        units=units,
        zero_uncertainties_warning=False,
    )
    v.values = values
    v.digits = DIGITS
    return v


def _keywords(table: Table, reactions: Iterable[str], observables: Iterable[str],
              energies: Iterable[float] = (CM_ENERGY_GEV,)) -> None:
    table.keywords["cmenergies"] = sorted(set(energies))
    table.keywords["reactions"] = sorted(set(reactions))
    table.keywords["observables"] = sorted(set(observables))


def _reaction(process: str) -> str:
    """'B+->K+' → 'B+ --> K+ INVISIBLE', 'Bs->invisible' → 'B/S0 --> INVISIBLE' (HEPData
    reaction style)."""
    parent, _, meson = process.partition("->")
    if meson == "invisible":
        return f"{'B/S0' if parent == 'Bs' else parent} --> INVISIBLE"
    return f"{parent} --> {meson} INVISIBLE" if meson else process


def channel_energy(inputs: PublishInputs, channel: str) -> float:
    """e+e- centre-of-mass energy of one channel's data in GeV: the sidecar's ``sqrt_s_gev``
    (e.g. ALEPH's Z-pole data in a combination), else the Υ(4S) of the B factories."""
    info = ((inputs.workspace.meta or {}).get("channels") or {}).get(channel) or {}
    value = info.get("sqrt_s_gev")
    return CM_ENERGY_GEV if value is None else float(value)


def channel_process(inputs: PublishInputs, channel: str) -> str | None:
    """The process one channel measures (sidecar ``process``), or None."""
    info = ((inputs.workspace.meta or {}).get("channels") or {}).get(channel) or {}
    proc = info.get("process")
    return None if proc is None else str(proc)


def workspace_energies(inputs: PublishInputs) -> list[float]:
    """The centre-of-mass energies of every channel of the workspace, sorted, once each."""
    return sorted({channel_energy(inputs, c["name"]) for c in inputs.workspace.spec["channels"]})


def _proc_name(process: str) -> str:
    """'B+->K+' → 'B+ to K+', 'B0->K*0' → 'B0 to Kst0' (table names become file names:
    keep them plain, no shell wildcard)."""
    return process.replace("->", " to ").replace("*", "st")


def representative(patches: list[dict], k: int) -> list[dict]:
    """Up to k patches spread evenly over the grid (sorted by their values), in that order.

    Args:
        patches: PatchSet patches.
        k: how many to keep.

    Returns:
        The chosen patches.
    """
    order = sorted(patches, key=lambda p: (list(p["metadata"]["values"]), p["metadata"]["name"]))
    if len(order) <= k:
        return order
    idx = sorted({int(round(x)) for x in np.linspace(0, len(order) - 1, k)})
    return [order[i] for i in idx]


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _group_by_scenario(ps: PatchSetInput) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for p in ps.patches:
        scen = patch_info(p)["scenario"] or ps.name
        groups.setdefault(scen, []).append(p)
    return groups


# ------------------------------------------------------------------------------------- limits
def _expected_var(name: str, exp: np.ndarray, units: str = "") -> Variable:
    """Median expected limit with ±1σ/±2σ bands as asymmetric uncertainties."""
    med = exp[:, 2]
    v = _var(name, med.tolist(), independent=False, units=units)
    for label, lo, hi in (("1 sigma", 1, 3), ("2 sigma", 0, 4)):
        u = Uncertainty(label, is_symmetric=False)
        u.values = list(zip((exp[:, lo] - med).tolist(), (exp[:, hi] - med).tolist(), strict=True))
        v.add_uncertainty(u)
    return v


def limit_tables(inputs: PublishInputs, namer: TableNamer) -> list[Table]:
    """Upper limits versus the hypothesis coordinates, one table per (results file, scenario).

    Args:
        inputs: checked publication inputs.
        namer: table-name allocator.

    Returns:
        hepdata-lib tables.
    """
    tables = []
    ps_by_name = {p.name: p for p in inputs.patchsets}
    plan = []
    for res in inputs.results:
        ps = ps_by_name[res.patchset]
        info = {p["metadata"]["name"]: patch_info(p) for p in ps.patches}
        groups: dict[str, list[dict]] = {}
        for row in res.rows:
            scen = info[row["name"]]["scenario"] or ps.name
            groups.setdefault(scen, []).append(row)
        plan += [(scen, rows, info, ps, res) for scen, rows in sorted(groups.items())]
    counts: dict[str, int] = {}
    for scen, *_ in plan:
        counts[scen] = counts.get(scen, 0) + 1
    for scen, rows, info, ps, res in plan:
        title = f"Upper limits {scen}" + (f" ({ps.name})" if counts[scen] > 1 else "")
        table = _limit_table(title, scen, rows, ps.labels, info, ps, namer, res.cl, res.calctype,
                             workspace_energies(inputs))
        if table is not None:
            tables.append(table)
    return tables


def _limit_table(
    title: str,
    scen: str,
    rows: list[dict],
    labels: list[str],
    info: dict[str, dict],
    ps: PatchSetInput,
    namer: TableNamer,
    cl: float,
    calctype: str = "asymptotics",
    energies: Sequence[float] = (CM_ENERGY_GEV,),
) -> Table | None:
    good = sorted((r for r in rows if r.get("status", "ok") == "ok" and _has_limits(r, "mu")),
                  key=lambda r: [r.get(k) for k in labels])
    dropped = len(rows) - len(good)
    if not good:
        log.warning("no usable limits for scenario %s in %s; no limit table", scen, ps.filename)
        return None
    processes = sorted({pr for r in good for pr in info[r["name"]]["processes"]})
    table = Table(namer(title))
    proc_txt = ", ".join(processes) if processes else "the signal process"
    table.description = (
        f"{cl:.0%} CL upper limits (CLs, {calctype}, test statistic qtilde) for scenario "
        f"'{scen}' "
        f"({proc_txt}), computed from the likelihoods in {ps.filename} on BkgOnly.json: "
        "observed and median expected with the 1 sigma and 2 sigma bands, on the branching "
        "ratio and on the signal strength mu (mu = 1 is the reference branching ratio of each "
        "patch)." + (f" {dropped} hypotheses whose fit failed are omitted." if dropped else "")
    )
    table.location = f"Limits from {ps.filename}"
    _keywords(table, map(_reaction, processes), ["UL"], energies)
    for lab in labels:
        name, units = LABEL_UNITS.get(lab, (lab, ""))
        table.add_variable(_var(name, [float(r[lab]) for r in good], independent=True, units=units))
    _add_limit_variables(table, good)
    refs = [info[r["name"]]["reference_branching_ratio"] for r in good]
    if all(_finite(x) for x in refs):
        table.add_variable(
            _var("Reference B ($\\mu$ = 1)", [float(x) for x in refs], independent=False)
        )
    if all(_finite(r.get("Z")) for r in good):
        table.add_variable(_var("Local significance Z", [r["Z"] for r in good], independent=False))
    for v in table.variables:
        if not v.is_independent:
            v.add_qualifier("CL", f"{cl:.0%}")
            for e in energies:  # a combination of data at several energies names each
                v.add_qualifier("SQRT(S)", e, "GeV")
    return table


def _has_limits(row: dict, quantity: str) -> bool:
    """Whether a results row holds a finite observed limit and five finite expected ones on
    ``quantity`` ("mu", "br" or "coupling")."""
    exp = row.get(f"{quantity}_limit_exp") or []
    return (_finite(row.get(f"{quantity}_limit_obs")) and len(exp) == 5
            and all(_finite(x) for x in exp))


def _add_limit_variables(table: Table, good: list[dict]) -> None:
    """Observed and expected limits on B (when every row has them), on mu, and on the coupling
    (when every row has them for one coupling).

    Args:
        table: the limit table.
        good: its rows.
    """
    if all(_has_limits(r, "br") for r in good):
        table.add_variable(
            _var("Observed upper limit on B", [r["br_limit_obs"] for r in good], independent=False)
        )
        table.add_variable(
            _expected_var("Expected upper limit on B", np.array([r["br_limit_exp"] for r in good]))
        )
    table.add_variable(
        _var("Observed upper limit on $\\mu$", [r["mu_limit_obs"] for r in good], independent=False)
    )
    table.add_variable(
        _expected_var("Expected upper limit on $\\mu$", np.array([r["mu_limit_exp"] for r in good]))
    )
    cnames = {r.get("coupling_name") for r in good}
    if len(cnames) == 1 and None not in cnames and all(_has_limits(r, "coupling") for r in good):
        (cname,) = cnames
        table.add_variable(
            _var(
                f"Observed upper limit on {cname}",
                [r["coupling_limit_obs"] for r in good],
                independent=False,
            )
        )
        table.add_variable(
            _expected_var(
                f"Expected upper limit on {cname}",
                np.array([r["coupling_limit_exp"] for r in good]),
            )
        )


# ---------------------------------------------------------------------------------- templates
def _channel_samples(spec: dict) -> dict[str, dict[str, list[float]]]:
    return {
        ch["name"]: {s["name"]: list(s["data"]) for s in ch["samples"]} for ch in spec["channels"]
    }


def template_tables(
    inputs: PublishInputs, namer: TableNamer, max_hypotheses: int = 5
) -> list[Table]:
    """The ``signal`` yields per reco bin of a few patches, per PatchSet and channel.

    Args:
        inputs: checked publication inputs.
        namer: table-name allocator.
        max_hypotheses: how many patches (spread over the grid) to show per PatchSet.

    Returns:
        hepdata-lib tables.
    """
    ws = inputs.workspace.spec
    base = _channel_samples(ws)
    observed = {o["name"]: list(o["data"]) for o in ws["observations"]}
    tables = []
    for ps in inputs.patchsets:
        chosen = representative(ps.patches, max_hypotheses)
        yields = []
        for p in chosen:
            patched = jsonpatch.apply_patch(ws, p["patch"], in_place=False)
            yields.append((p, _channel_samples(patched)))
        for ch in [c["name"] for c in ws["channels"]]:
            cols = [(p, s[ch][SIGNAL_SAMPLE]) for p, s in yields
                    if SIGNAL_SAMPLE in s.get(ch, {})]
            if not cols:
                continue
            nbins = len(observed[ch])
            table = Table(namer(f"Signal templates {ps.name} {ch}"))
            table.description = (
                "Expected signal yields at mu = 1 (sample 'signal') per reconstructed bin of "
                f"channel '{ch}' for {len(cols)} of the {len(ps.patches)} hypotheses of "
                f"{ps.filename}, "
                "next to the pre-fit background (sum of the BkgOnly samples) and the data of "
                "BkgOnly.json."
            )
            table.location = f"{ps.filename}, channel {ch}"
            proc = channel_process(inputs, ch)
            procs = ({proc} if proc is not None
                     else {pr for p, _ in cols for pr in patch_info(p)["processes"]})
            _keywords(table, map(_reaction, procs), ["N"], [channel_energy(inputs, ch)])
            table.add_variable(_var("Bin index", list(range(nbins)), independent=True))
            bkg = np.sum([np.asarray(d, float) for d in base[ch].values()], axis=0)
            table.add_variable(_var("Background (pre-fit)", bkg.tolist(), independent=False))
            table.add_variable(_var("Data", [float(x) for x in observed[ch]], independent=False))
            sm = next((s[ch][SM_SAMPLE] for _, s in yields if SM_SAMPLE in s.get(ch, {})), None)
            if sm is not None:
                table.add_variable(
                    _var("SM nu nubar (sm_nunu, fixed)", [float(x) for x in sm], independent=False)
                )
            for p, data in cols:
                md = p["metadata"]
                v = _var(f"Signal {md['name']}", [float(x) for x in data], independent=False)
                for lab, val in zip(ps.labels, md["values"], strict=True):
                    name, units = LABEL_UNITS.get(lab, (lab, ""))
                    v.add_qualifier(name, val, units)
                ref = patch_info(p)["reference_branching_ratio"]
                if ref is not None:
                    v.add_qualifier("Reference B (mu = 1)", ref)
                table.add_variable(v)
            tables.append(table)
    return tables


# ----------------------------------------------------------------------------------- spectra
def _spectrum_for(patch: dict, labels: list[str], process: str) -> Any:
    """The physics spectrum of one patch at μ = 1, or None when it cannot be made."""
    from emiss.physics.scenarios import get_scenario

    info = patch_info(patch)
    scen = get_scenario(info["scenario"])
    block = PatchBlock.from_patch(patch)
    values = dict(zip(labels, patch["metadata"]["values"], strict=True))
    known = getattr(scen, "parameters", None) or {}
    params = {k: v for k, v in values.items() if k in known}
    params.update({k: v for k, v in ((block and block.parameters) or {}).items() if k in known})
    coupling = info["coupling"] or {}
    if coupling.get("name") and coupling.get("reference_value") is not None:
        params[coupling["name"]] = coupling["reference_value"]
    mass = block.m_X if block is not None and block.m_X is not None else values.get("m_X")
    if not getattr(scen, "needs_mass", mass is not None):
        mass = None
    spec = scen.spectrum(process, mass=mass, params=params or None)
    ref = info["reference_branching_ratio"]
    if ref is not None and len(info["processes"]) == 1:
        total = spec.branching_ratio()
        if total > 0 and not math.isclose(total, ref, rel_tol=1e-3):
            log.info("scaling %s spectrum from B=%.4g to reference %.4g", scen.name, total, ref)
            spec = spec.scaled(ref / total)
    return spec


def spectrum_tables(
    inputs: PublishInputs, namer: TableNamer, max_hypotheses: int = 5, n_bins: int = 50
) -> list[Table]:
    """dB/dq² per scenario and process (continuum) and the exact two-body lines.

    Only made when ``emiss.physics.scenarios`` is importable; hypotheses whose spectrum cannot
    be made (foreign PatchSets, unknown scenario) are skipped with a log message.

    Args:
        inputs: checked publication inputs.
        namer: table-name allocator.
        max_hypotheses: patches per scenario shown in the continuum table.
        n_bins: q² bins of the continuum table.

    Returns:
        hepdata-lib tables.
    """
    try:
        import emiss.physics.scenarios  # noqa: F401
    except ImportError:
        log.warning("emiss.physics.scenarios is not available; no spectrum tables")
        return []
    tables = []
    done: set[tuple[str, str]] = set()
    for ps in inputs.patchsets:
        for scen, patches in sorted(_group_by_scenario(ps).items()):
            procs = sorted({pr for p in patches for pr in patch_info(p)["processes"]})
            for proc in procs:
                if (scen, proc) in done:
                    continue
                mine = [p for p in patches if proc in patch_info(p)["processes"]]
                made = []
                for p in representative(mine, max_hypotheses):
                    try:
                        made.append((p, _spectrum_for(p, ps.labels, proc)))
                    except Exception as exc:  # physics refuses: publish without this spectrum
                        log.warning("no spectrum for %s (%s): %s", p["metadata"]["name"], proc, exc)
                if not made:
                    continue
                done.add((scen, proc))
                tables.extend(_spectrum_table_pair(scen, proc, made, ps, namer, n_bins))
    return tables


def _spectrum_table_pair(
    scen: str, proc: str, made: list, ps: PatchSetInput, namer: TableNamer, n_bins: int
) -> list[Table]:
    from dataclasses import replace

    out = []
    q2_max = max(s.q2_max for _, s in made)
    edges = np.linspace(0.0, q2_max, n_bins + 1)
    width = np.diff(edges)
    cont = [(p, replace(s, lines=(), lines_long=()).bin_integrals(edges) / width) for p, s in made]
    if any(np.any(c > 0) for _, c in cont):
        table = Table(namer(f"Spectrum {scen} {_proc_name(proc)}"))
        table.description = (
            f"Differential branching ratio dB/dq^2 (continuum, averaged over each q^2 bin) of "
            f"{proc} + invisible for scenario '{scen}' at mu = 1 (the reference branching ratio of "
            "each patch). Exact two-body lines, if any, are in the table of lines."
        )
        table.location = f"Physics input of {ps.filename}"
        _keywords(table, [_reaction(proc)], ["DBR/DQ**2"])
        table.add_variable(
            _var(
                "$q^2$",
                list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)),
                independent=True,
                units="GeV$^2$",
                binned=True,
            )
        )
        for p, c in cont:
            v = _var(
                f"dB/dq2 {p['metadata']['name']}", c.tolist(), independent=False, units="GeV$^{-2}$"
            )
            for lab, val in zip(ps.labels, p["metadata"]["values"], strict=True):
                name, units = LABEL_UNITS.get(lab, (lab, ""))
                v.add_qualifier(name, val, units)
            table.add_variable(v)
        out.append(table)
    lines = [(p, q2, br) for p, s in made for q2, br in s.lines]
    if lines:
        table = Table(namer(f"Lines {scen} {_proc_name(proc)}"))
        table.description = (
            f"Exact two-body lines (delta functions in q^2) of {proc} + invisible for scenario "
            f"'{scen}' at mu = 1: position q^2 and branching ratio of each line, per hypothesis."
        )
        table.location = f"Physics input of {ps.filename}"
        _keywords(table, [_reaction(proc)], ["BR"])
        for k, lab in enumerate(ps.labels):
            name, units = LABEL_UNITS.get(lab, (lab, ""))
            vals = [float(p["metadata"]["values"][k]) for p, _, _ in lines]
            table.add_variable(_var(name, vals, independent=True, units=units))
        table.add_variable(
            _var("Line $q^2$", [float(q) for _, q, _ in lines], independent=False, units="GeV$^2$")
        )
        table.add_variable(_var("Line B", [float(b) for _, _, b in lines], independent=False))
        out.append(table)
    return out


# ---------------------------------------------------------------------------------- response
def _response_channels(response: Response | Mapping[str, Any] | None
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """channel → (R[i, j], true-q² edges) from a Response object, tolerant of attribute names."""
    chans = getattr(response, "channels", None)
    if chans is None and isinstance(response, dict):
        chans = response
    if chans is None:
        return {}
    out = {}
    for name, cr in chans.items():
        mat = next((getattr(cr, a) for a in ("matrix", "R", "migration") if hasattr(cr, a)), None)
        edges = next(
            (getattr(cr, a) for a in ("true_edges", "edges_true", "q2_edges") if hasattr(cr, a)),
            None,
        )
        if mat is None or edges is None:
            log.warning("response of channel %s has no matrix/true edges; skipped", name)
            continue
        out[str(name)] = (np.asarray(mat, float), np.asarray(edges, float))
    return out


def response_tables(inputs: PublishInputs, namer: TableNamer) -> list[Table]:
    """The efficiency × migration matrix of each channel (bundled workspaces only).

    Args:
        inputs: checked publication inputs.
        namer: table-name allocator.

    Returns:
        hepdata-lib tables (none for a bare workspace).
    """
    if inputs.workspace.response is None:
        return []
    tables = []
    chans = getattr(inputs.workspace.response, "channels", {}) or {}
    for ch, (mat, edges) in sorted(_response_channels(inputs.workspace.response).items()):
        n_b = getattr(chans.get(ch), "n_b", None)
        n_reco, n_true = mat.shape
        if len(edges) != n_true + 1:
            log.warning(
                "response of %s: %d true bins but %d edges; skipped", ch, n_true, len(edges)
            )
            continue
        jj, ii = np.meshgrid(np.arange(n_true), np.arange(n_reco))
        table = Table(namer(f"Response {ch}"))
        table.description = (
            f"Detector response of channel '{ch}': probability R[i, j] that a signal decay with "
            "true q^2 in bin j is selected into reconstructed bin i (efficiency x migration)."
            + (
                f" Expected yields are N_B x B(true bin j) x R[i, j] with N_B = {n_b:.6g}."
                if _finite(n_b)
                else ""
            )
        )
        table.location = f"Response of channel {ch}"
        table.keywords["cmenergies"] = [channel_energy(inputs, ch)]
        table.keywords["observables"] = ["EFF"]
        proc = channel_process(inputs, ch)
        if proc is not None:
            table.keywords["reactions"] = [_reaction(proc)]
        table.add_variable(
            _var(
                "True $q^2$",
                [(float(edges[j]), float(edges[j + 1])) for j in jj.ravel()],
                independent=True,
                units="GeV$^2$",
                binned=True,
            )
        )
        table.add_variable(_var("Reco bin index", ii.ravel().tolist(), independent=True))
        table.add_variable(_var("Probability", mat.ravel().tolist(), independent=False))
        tables.append(table)
    return tables
