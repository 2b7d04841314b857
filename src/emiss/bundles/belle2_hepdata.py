"""Belle II's released B+ -> K+ nu nubar likelihood (HEPData ins2947386) as an emiss bundle.

Belle II published the full analysis likelihood of arXiv:2311.14647 for reinterpretation
(arXiv:2507.12393; HEPData record ins2947386, DOI 10.17182/hepdata.166082): a pyhf workspace
``combined_likelihood.json`` (ITA regions A and B on and off resonance, HTA; observed data) and
three "joint number density" tables of selected SM signal MC, fit bin x generated-q² bin
(``number_density_ita_regA.csv``, ``..._regB.csv``, ``number_density_hta.csv``). ``import_belle2``
turns them into a bundle like the emulated ones (docs/interfaces.md):

* ``<stem>.json``: the published workspace without its signal samples (``signal`` in the ITA
  on-resonance channels, ``sgn_1_had`` in the HTA); every other sample, modifier, observation
  and the measurement are unchanged;
* ``<stem>.meta.json``: the sidecar: the source record (DOI, sha256 of every input), channel ->
  process (the off-resonance channels are signal-free), what mu = 1 means, the published SM
  signal sample of each channel (the SM patch restores it verbatim), and the modifiers a new
  signal template carries: the published detector systematics and MC statistics of the signal
  sample as per-bin relative variations (``hi_rel``/``lo_rel`` of histosys, ``rel`` of
  staterror, normsys unchanged), without ``mu`` and the form-factor nuisances
  ``corr_ff_c1..3`` (these describe the SM shape only; other shapes get emiss's own form-factor
  variations);
* the response: R[i, j] = M[i, j] Σν / (n_B B_null[j] ΣM) from the number densities M and the
  null spectrum Belle II's reweighting uses (``emiss.physics.null``: HPQCD, arXiv:2207.13371),
  i.e. exactly the reweighting of arXiv:2507.12393 / 2402.08417 (weights ∫alt / ∫null per
  generated bin). A two-body line at q0 = m_X² gets the response column interpolated linearly
  between the centres of the 0.229 GeV² generated bins around q0 (the bin-averaged columns are
  the response at the SM-weighted mean q² of each bin, to second order its centre); below the
  first and above the last centre the edge column is used.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emiss import contracts
from emiss.errors import EmissError
from emiss.io import dumps_json, read_json, round_sig
from emiss.names import POI, SIGNAL_SAMPLE

log = logging.getLogger(__name__)

#: HEPData record, DOI and papers of the released likelihood.
RECORD = "ins2947386"
DOI = "10.17182/hepdata.166082"
ARXIV = ("2507.12393", "2311.14647")
#: Stem of the imported workspace files.
STEM = "belle2_ins2947386_bkgonly"
RESPONSE_NAME = "belle2_ins2947386_response.json"
#: The four files of the record and their sha256 (verified copy, 2025 release).
LIKELIHOOD = "combined_likelihood.json"
NUMBER_DENSITIES = {
    "ita_regA": "number_density_ita_regA.csv",
    "ita_regB": "number_density_ita_regB.csv",
    "hta": "number_density_hta.csv",
}
SHA256 = {
    LIKELIHOOD: "9ec0d563197912e03e31de202f04fea10babe39a10de99b9770d9292df285ab3",
    "number_density_ita_regA.csv":
        "ba6ecf3dc4ba7b5f74ae5f3b9f9bbbfd35bd0cae680af8b444e25ea2050f3366",
    "number_density_ita_regB.csv":
        "c8b7f5b29fbef0635565877a8b589b11c25c0d6043c412849d386bc9965ce3c9",
    "number_density_hta.csv":
        "2ef413de554d4d5553557e31c0f55e0f1afa01a52aafacc820d09dc72c41b4bb",
}
#: Process of every signal channel.
PROCESS = "B+->K+"
#: Form-factor nuisances of the published signal samples (they describe the SM shape).
PUBLISHED_FF_MODIFIERS = ("corr_ff_c1", "corr_ff_c2", "corr_ff_c3")


@dataclass(frozen=True)
class ChannelRole:
    """What one channel of the published workspace is.

    Attributes:
        key: short name ("ita_regA", "ita_regB", "ita_offres_regA", "ita_offres_regB", "hta").
        description: words for the sidecar.
        table: key of NUMBER_DENSITIES for channels with signal, else None.
    """

    key: str
    description: str
    table: str | None


#: Channel-name patterns of the released workspace (HEPData ins2947386; the channel names are
#: listed in belle2.md 1.4 from knunu-reinterpretation-mini) -> role.
_ROLES = (
    (re.compile(r"^A__.*_Y4S$"), ChannelRole(
        "ita_regA", "ITA region A (signal region), on resonance", "ita_regA")),
    (re.compile(r"^B__.*_Y4S$"), ChannelRole(
        "ita_regB", "ITA region B (eta(BDT2) in [0.92, 0.94]), on resonance", "ita_regB")),
    (re.compile(r"^C__.*_offres$"), ChannelRole(
        "ita_offres_regA", "ITA region A, off resonance (continuum only, no signal)", None)),
    (re.compile(r"^D__.*_offres$"), ChannelRole(
        "ita_offres_regB", "ITA region B, off resonance (continuum only, no signal)", None)),
    (re.compile(r"^sgn1_had$"), ChannelRole("hta", "HTA (hadronic tag), BDTh bins", "hta")),
)


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def channel_roles(spec: dict) -> dict[str, ChannelRole]:
    """Role of every channel of the published workspace (by its name).

    Raises:
        EmissError: a channel that is not one of the five of the release, or a role twice.
    """
    out: dict[str, ChannelRole] = {}
    for ch in spec.get("channels", []):
        role = next((r for pat, r in _ROLES if pat.match(ch["name"])), None)
        if role is None:
            raise EmissError(f"channel {ch['name']!r} is not a channel of Belle II's released "
                             f"likelihood ({RECORD}); expected A__…_Y4S, B__…_Y4S, C__…_offres, "
                             "D__…_offres and sgn1_had")
        if role.key in {r.key for r in out.values()}:
            raise EmissError(f"two channels of the workspace match {role.key!r}")
        out[ch["name"]] = role
    missing = {r.key for _, r in _ROLES} - {r.key for r in out.values()}
    if missing:
        raise EmissError(f"the workspace lacks the channels {sorted(missing)} of {RECORD}")
    return out


# ----------------------------------------------------------------------------- inputs
def _looks_like_likelihood(path: Path) -> bool:
    try:
        doc = read_json(path)
    except (ValueError, OSError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and any(
        isinstance(c, dict) and c.get("name") == "sgn1_had" for c in doc.get("channels", []))


def _csv_shape(path: Path) -> tuple[int, int] | None:
    try:
        m = np.loadtxt(path, delimiter=",", ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    return tuple(m.shape)


#: Rows of each number-density table (fit bins of ITA region A, region B, HTA) -> record name.
_TABLE_ROWS = {9: "number_density_ita_regA.csv", 3: "number_density_ita_regB.csv",
               6: "number_density_hta.csv"}


def identify_file(path: Path) -> str | None:
    """Which file of the record ``path`` holds, by content (None: none of them).

    The pyhf workspace is the JSON with the HTA channel ``sgn1_had``; a number-density table
    is a CSV of 101 generated-q² columns whose row count (9, 3, 6) names its channel.
    """
    if path.suffix.lower() == ".json":
        return LIKELIHOOD if _looks_like_likelihood(path) else None
    if path.suffix.lower() in (".csv", ".txt"):
        shape = _csv_shape(path)
        if shape and shape[1] == 101:
            return _TABLE_ROWS.get(shape[0])
    return None


def locate_inputs(directory: str | os.PathLike, recursive: bool = False) -> dict[str, Path]:
    """The four input files in a folder: by their names in the record, else by content.

    HEPData serves resources under names that are not fixed here, so a file whose name is not
    the record's is recognised by what it holds (``identify_file``).

    Args:
        directory: folder holding the files.
        recursive: also look into sub-folders (a downloaded, unpacked record).

    Returns:
        file name of the record -> path.

    Raises:
        EmissError: the folder is missing, or a file cannot be found (the message lists what
            was looked for).
    """
    d = Path(directory)
    if not d.is_dir():
        raise EmissError(f"{str(d)!r} is not a folder with Belle II's {RECORD} files")
    paths = sorted(p for p in (d.rglob("*") if recursive else d.iterdir()) if p.is_file())
    found: dict[str, Path] = {p.name: p for p in paths if p.name in SHA256 and p.parent == d}
    for p in paths:
        if p in found.values():
            continue
        name = identify_file(p)
        if name is not None and name not in found:
            found[name] = p
    missing = [n for n in SHA256 if n not in found]
    if missing:
        raise EmissError(f"{str(d)!r} lacks {', '.join(missing)} of HEPData {RECORD} (get them "
                         f"with `emiss data fetch belle2-knunu -o DIR` or from "
                         f"https://doi.org/{DOI})")
    return found


def verify_inputs(files: dict[str, Path], allow_unverified: bool = False) -> dict[str, str]:
    """sha256 of every input, checked against the record's.

    Args:
        files: record name -> path (``locate_inputs``).
        allow_unverified: accept files whose sha256 differs (a newer version, an analyst's
            own workspace); the sidecar then records ``verified: false``.

    Returns:
        record name -> sha256 of the file used.

    Raises:
        EmissError: a digest differs and ``allow_unverified`` is False (names the file).
    """
    out = {}
    for name, path in files.items():
        digest = sha256_file(path)
        if digest != SHA256[name] and not allow_unverified:
            raise EmissError(f"{str(path)!r} is not the {name} of HEPData {RECORD}: sha256 "
                             f"{digest[:16]}… differs from {SHA256[name][:16]}… (altered or "
                             "another version; pass --allow-unverified to import it anyway)")
        out[name] = digest
    return out


def _signal_sample(channel: dict) -> tuple[int, dict] | None:
    """(index, sample) of the sample carrying normfactor mu, or None (signal-free channel)."""
    for i, s in enumerate(channel["samples"]):
        if any(m["type"] == "normfactor" and m["name"] == POI for m in s["modifiers"]):
            return i, s
    return None


def relative_modifiers(sample: dict, drop: tuple[str, ...] = (POI, *PUBLISHED_FF_MODIFIERS)
                       ) -> list[dict]:
    """The modifiers of a published signal sample as per-bin relative variations.

    histosys: ``{"hi_rel": hi/nominal, "lo_rel": lo/nominal}``; staterror: ``{"rel":
    delta/nominal}``; normsys and others unchanged. A new template with yields n gets
    hi_data = n * hi_rel etc. (``emiss.patches``), so the published detector systematics and
    signal MC statistics carry over with the same relative size per fit bin.

    Args:
        sample: a pyhf sample dict.
        drop: modifier names to leave out.

    Returns:
        List of modifier dicts.
    """
    nom = np.asarray(sample["data"], dtype=float)
    safe = np.where(nom > 0, nom, 1.0)
    out = []
    for m in sample["modifiers"]:
        if m["name"] in drop:
            continue
        if m["type"] == "histosys":
            hi = np.where(nom > 0, np.asarray(m["data"]["hi_data"], float) / safe, 1.0)
            lo = np.where(nom > 0, np.asarray(m["data"]["lo_data"], float) / safe, 1.0)
            out.append({"name": m["name"], "type": "histosys",
                        "data": {"hi_rel": hi.tolist(), "lo_rel": lo.tolist()}})
        elif m["type"] == "staterror":
            rel = np.where(nom > 0, np.asarray(m["data"], float) / safe, 0.0)
            out.append({"name": m["name"], "type": "staterror", "data": {"rel": rel.tolist()}})
        else:
            out.append(copy.deepcopy(m))
    return out


# ----------------------------------------------------------------------------- the bundle
def build_bundle(files: dict[str, Path], digests: dict[str, str], verified: bool
                 ) -> tuple[dict, dict, Any]:
    """Background-only workspace, sidecar and response from the located, verified inputs.

    Args:
        files: record name -> path.
        digests: record name -> sha256.
        verified: whether every digest is the record's.

    Returns:
        (workspace spec, sidecar dict, Response).

    Raises:
        EmissError: invalid workspace, unexpected channels, a table whose shape does not fit
            its channel (names the file).
    """
    import pyhf

    from emiss.physics.null import null_spectrum
    from emiss.response import BELLE2_N_BPLUS, Response

    spec = _read_likelihood(files[LIKELIHOOD])
    bkg, channels_meta, csvs, samples = _split_signal(spec, files)
    null = null_spectrum()
    response = Response.from_hepdata(spec, csvs, null_spectrum=null, n_b=BELLE2_N_BPLUS,
                                     process=PROCESS, signal_samples=samples,
                                     line_placement="interpolate")
    pyhf.Workspace(bkg)  # still a valid workspace
    meta = _sidecar(bkg, float(null.branching_ratio()), digests, verified, channels_meta)
    return bkg, meta, response


def _read_likelihood(path: Path) -> dict:
    """The released likelihood, checked to be a valid pyhf workspace (names the file)."""
    import pyhf

    try:
        spec = read_json(path)
    except ValueError as exc:
        raise EmissError(f"{str(path)!r} is not valid JSON: {exc}") from None
    try:
        pyhf.schema.validate(spec, "workspace.json")
    except pyhf.exceptions.InvalidSpecification as exc:
        raise EmissError(f"{str(path)!r} is not a valid pyhf workspace: "
                         f"{str(exc).splitlines()[0]}") from None
    return spec


def _split_signal(spec: dict, files: dict[str, Path]
                  ) -> tuple[dict, dict[str, dict], dict[str, Path], dict[str, str]]:
    """The likelihood without its signal samples, and what the sidecar and response need.

    Args:
        spec: the released likelihood.
        files: record name -> path.

    Returns:
        (background-only spec, sidecar entry per channel, number-density table per signal
        channel, signal sample name per signal channel).
    """
    from emiss.response import BELLE2_N_BPLUS

    roles = channel_roles(spec)
    bkg = copy.deepcopy(spec)
    channels_meta: dict[str, dict] = {}
    csvs: dict[str, Path] = {}
    samples: dict[str, str] = {}
    for ch_in, ch_out in zip(spec["channels"], bkg["channels"], strict=True):
        name, role = ch_in["name"], roles[ch_in["name"]]
        found = _signal_sample(ch_in)
        entry: dict[str, Any] = {"role": role.key, "description": role.description}
        if role.table is None:
            if found is not None:
                raise EmissError(f"channel {name!r} ({role.description}) carries a signal "
                                 "sample; the release has none there")
            entry.update(process=None, signal_free=True)
            channels_meta[name] = entry
            continue
        if found is None:
            raise EmissError(f"channel {name!r} has no signal sample (normfactor {POI!r})")
        index, sig = found
        table = files[NUMBER_DENSITIES[role.table]]
        csvs[name] = table
        samples[name] = sig["name"]
        ch_out["samples"] = [s for i, s in enumerate(ch_out["samples"]) if i != index]
        entry.update(
            process=PROCESS, signal_free=False, n_b=BELLE2_N_BPLUS, signal_sample=sig["name"],
            sample_index=index, number_density=NUMBER_DENSITIES[role.table],
            signal_modifiers=relative_modifiers(sig),
            sm_form_factor_modifiers=[m["name"] for m in sig["modifiers"]
                                      if m["name"] in PUBLISHED_FF_MODIFIERS],
            sm_sample=copy.deepcopy(sig))
        channels_meta[name] = entry
    return bkg, channels_meta, csvs, samples


def _sidecar(bkg: dict, ref: float, digests: dict[str, str], verified: bool,
             channels_meta: dict[str, dict]) -> dict[str, Any]:
    """The sidecar of the imported bundle.

    Args:
        bkg: the background-only workspace.
        ref: B(B+ -> K+ nu nubar) of the null spectrum (mu = 1).
        digests: record name -> sha256.
        verified: whether every digest is the record's.
        channels_meta: sidecar entry per channel (:func:`_split_signal`).

    Returns:
        The sidecar dict.
    """
    import pyhf

    return {
        "description": "Belle II's released B+ -> K+ nu nubar likelihood (HEPData "
                       f"{RECORD}) without its signal samples, imported by emiss",
        "emulated_data": False,
        "data_statement": (
            "Observed data recorded by Belle II (362 fb^-1 on and 42 fb^-1 off the Upsilon(4S)), "
            "as released in HEPData ins2947386 (arXiv:2507.12393; measurement arXiv:2311.14647). "
            "Cite both papers when publishing results."),
        "source": {
            "experiment": "Belle II", "hepdata": RECORD, "doi": DOI, "arxiv": list(ARXIV),
            "url": f"https://doi.org/{DOI}", "license": "CC0 (HEPData)",
            "files": dict(sorted(digests.items())), "verified": bool(verified)},
        "references": {"arxiv": ARXIV[0], "hepdata": RECORD, "measurement_arxiv": ARXIV[1]},
        "poi": POI,
        "workspace_digest": pyhf.utils.digest(bkg, algorithm="sha256"),
        "response": RESPONSE_NAME,
        "signal": {
            "process": PROCESS, "sample": SIGNAL_SAMPLE,
            "reference_branching_ratio": round_sig(ref, 10, flush=False),
            "reference_source": (
                "mu = 1 <-> the SM short-distance B(B+ -> K+ nu nubar) of Belle II's null "
                "spectrum (HPQCD, arXiv:2207.13371; emiss.physics.null) = 4.966e-6, quoted as "
                "4.97e-6 in arXiv:2311.14647; B+ -> tau+ nu is a background")},
        "line_placement": (
            "two-body lines at q0 = m_X^2: response column interpolated linearly between the "
            "centres of the 0.229 GeV^2 generated-q^2 bins around q0 (edge columns outside)"),
        "channels": channels_meta,
    }


def import_belle2(source_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                  allow_unverified: bool = False) -> list[Path]:
    """Turn the four files of HEPData ins2947386 into an emiss bundle (module docstring).

    Every check runs before anything is written; the three files are then written atomically
    (same inputs give the same bytes).

    Args:
        source_dir: folder with the record's files (names as in the record, or recognised by
            content, see ``locate_inputs``).
        out_dir: destination folder (created).
        allow_unverified: accept inputs whose sha256 differs from the record's.

    Returns:
        Paths written: workspace, sidecar, response.
    """
    from emiss.io import atomic_write_text

    files = locate_inputs(source_dir)
    digests = verify_inputs(files, allow_unverified)
    verified = all(digests[n] == SHA256[n] for n in digests)
    spec, meta, response = build_bundle(files, digests, verified)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EmissError(f"output {str(out)!r} exists and is not a folder")
    texts = {out / f"{STEM}.json": dumps_json(spec),
             out / f"{STEM}.meta.json": dumps_json(contracts.validate(meta, "sidecar")),
             out / RESPONSE_NAME: dumps_json(response.to_dict())}
    out.mkdir(parents=True, exist_ok=True)
    for path in (out / RESPONSE_NAME, out / f"{STEM}.meta.json", out / f"{STEM}.json"):
        atomic_write_text(path, texts[path])
    log.info("imported %s into %s (verified: %s)", RECORD, out, verified)
    return list(texts)


# ----------------------------------------------------------------------------- where it lives
#: Environment variable naming a folder with the record's files (raw or already imported).
DATA_ENV = "EMISS_BELLE2_DATA"
#: Name that resolves to the real bundle (``find_bundle``).
ALIAS = "belle2"
#: Package holding the record's four files verbatim (HEPData records are CC0).
SHIPPED_PACKAGE = "emiss.data"
SHIPPED_FOLDER = "belle2_ins2947386"


def shipped_inputs() -> Path:
    """Folder of the record's four files as shipped with emiss (package data, verbatim).

    Returns:
        The folder (site-packages/emiss/data/ins2947386 or the source tree's copy).
    """
    from importlib import resources

    root = resources.files(SHIPPED_PACKAGE) / SHIPPED_FOLDER
    return root if isinstance(root, Path) else Path(str(root))


_VERIFIED: dict[str, bool] = {}


def verify_shipped() -> dict[str, str]:
    """sha256 of the shipped files, checked against the record's (once per process).

    Returns:
        record name -> sha256.

    Raises:
        EmissError: a shipped file is missing or altered (names it; reinstall emiss).
    """
    folder = shipped_inputs()
    out = {}
    for name, digest in SHA256.items():
        path = folder / name
        if not path.is_file():
            raise EmissError(f"the shipped copy of HEPData {RECORD} lacks {name} ({folder}); "
                             "reinstall emiss")
        key = str(path)
        if not _VERIFIED.get(key):
            if sha256_file(path) != digest:
                raise EmissError(f"the shipped {name} of HEPData {RECORD} ({path}) is altered: "
                                 f"its sha256 is not {digest[:16]}…; reinstall emiss")
            _VERIFIED[key] = True
        out[name] = digest
    return out


def shipped_bundle() -> Path:
    """The bundle built from the shipped record (``workspaces/<STEM>.json``), inputs verified.

    Returns:
        Path of the workspace file (sidecar and response beside it).

    Raises:
        EmissError: the shipped files are altered, or the bundle was not built from them.
    """
    from emiss.bundles.locations import bundled_dir

    digests = verify_shipped()
    path = bundled_dir() / f"{STEM}.json"
    side = path.with_name(f"{STEM}.meta.json")
    if not (path.is_file() and side.is_file()):
        raise EmissError(f"the bundle of HEPData {RECORD} is not installed ({path}); "
                         "reinstall emiss or run `emiss workspace build`")
    if read_json(side).get("source", {}).get("files") != digests:
        raise EmissError(f"{side} was not built from the shipped files of {RECORD}; "
                         "run `emiss workspace build` (or python scripts/build_workspaces.py)")
    return path


def build_shipped(out_dir: str | os.PathLike) -> list[Path]:
    """Import the shipped record into out_dir (what ``workspaces/`` holds for ``belle2``).

    Args:
        out_dir: destination folder.

    Returns:
        Paths written: workspace, sidecar, response.
    """
    verify_shipped()
    return import_belle2(shipped_inputs(), out_dir)


def data_home() -> Path:
    """emiss's data folder: $EMISS_DATA_DIR, $XDG_DATA_HOME/emiss or ~/.local/share/emiss."""
    if os.environ.get("EMISS_DATA_DIR"):
        return Path(os.environ["EMISS_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "emiss"


def default_location() -> Path:
    """Where ``emiss data fetch belle2-knunu`` puts the record and its bundle by default."""
    return data_home() / RECORD


def _is_the_record(digests: object) -> bool:
    """Whether recorded input digests are exactly the record's (then the shipped bundle,
    built by this version of emiss, stands for them)."""
    return digests == SHA256


def find_bundle() -> Path:
    """The workspace file ``belle2`` names: Belle II's released likelihood.

    Order: $EMISS_BELLE2_DATA (a folder with an imported bundle, or with the record's files),
    then ``default_location()`` (``emiss data fetch``), then the copy shipped with emiss.
    Files that are exactly the record's (same sha256) are served by the shipped bundle, which
    this version of emiss built; a bundle imported from other files (``--allow-unverified``: a
    newer release, an analyst's own) is used as it is.

    Returns:
        Path of ``<STEM>.json``.

    Raises:
        EmissError: $EMISS_BELLE2_DATA is set but its files are incomplete or altered, or the
            shipped copy is altered.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        folder = Path(env)
        if (folder / f"{STEM}.json").is_file():
            side = folder / f"{STEM}.meta.json"
            recorded = read_json(side).get("source", {}).get("files") if side.is_file() \
                else None
            return shipped_bundle() if _is_the_record(recorded) else folder / f"{STEM}.json"
        verify_inputs(locate_inputs(folder))  # the record's files, or a clear error
        return shipped_bundle()
    fetched = default_location() / f"{STEM}.json"
    if fetched.is_file():
        side = fetched.with_name(f"{STEM}.meta.json")
        recorded = read_json(side).get("source", {}).get("files") if side.is_file() else None
        if not _is_the_record(recorded):
            log.info("belle2: the fetched bundle %s (not the shipped release)", fetched)
            return fetched
    return shipped_bundle()
