"""The JSON Schemas of the contracts: loading, validation and one-line error messages.

The schemas are package data (``emiss/contracts/schemas/<name>.schema.json``, JSON Schema draft
2020-12). Each carries its version in its ``$id`` (``urn:emiss:contract:<name>/v1``); a document
with room for it names its version too (``format``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from emiss.errors import EmissError

#: Contract name -> how messages call a document of that kind.
TITLES = {
    "sidecar": "sidecar",
    "patch": "patch emiss block",
    "results": "results file",
    "result_row": "results row",
    "grid": "grid file",
    "response": "response file",
    "toys": "toy file",
}
#: The contracts, in the order of the flow.
CONTRACTS = tuple(TITLES)


class ContractError(EmissError):
    """A document that breaks its contract; the message names the document, the JSON path of
    the bad field and what is valid."""


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one contract.

    Args:
        name: one of ``CONTRACTS``.

    Returns:
        The schema (a dict; do not modify it).

    Raises:
        EmissError: unknown name.
    """
    if name not in TITLES:
        raise EmissError(f"unknown contract {name!r}; valid: {', '.join(CONTRACTS)}")
    text = (resources.files("emiss.contracts") / "schemas" / f"{name}.schema.json").read_text(
        encoding="utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (schema(n)["$id"], Resource.from_contents(schema(n))) for n in CONTRACTS)
    cls = jsonschema.validators.validator_for(schema(name))
    cls.check_schema(schema(name))
    return cls(schema(name), registry=registry)


_TYPE_WORDS = {"object": "a JSON object", "array": "a list", "string": "a string",
               "number": "a number", "integer": "an integer", "boolean": "true or false",
               "null": "null"}


def _show(value: Any) -> str:
    """A short rendering of a JSON value for a message."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)} entr{'y' if len(value) == 1 else 'ies'}"
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _types(value: Any) -> str:
    kinds = [value] if isinstance(value, str) else list(value)
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)


def _node_at(name: str, schema_path: Any) -> tuple[dict, dict | None]:
    """The schema node a path of schema keywords leads to, and the array node holding it when
    the last step is ``items`` (local and cross-contract ``$ref`` followed)."""
    by_id = {schema(n)["$id"]: schema(n) for n in CONTRACTS}
    root = node = schema(name)
    array = None
    for key in schema_path:
        while isinstance(node, Mapping) and "$ref" in node and key != "$ref":
            ref = node["$ref"]
            if ref.startswith("#/"):
                node = root
                for part in ref[2:].split("/"):
                    node = node[part]
            else:
                root = node = by_id[ref]
        if key == "$ref":
            continue
        array = node if key == "items" else None
        node = node[key]
    return node, array


def _array_words(node: Mapping[str, Any]) -> str:
    """'a list of 5 numbers or nulls' for an array schema node."""
    items = node.get("items", {})
    kinds = items.get("type") if isinstance(items, Mapping) else None
    plural = {"number": "numbers", "null": "nulls", "string": "strings", "integer": "integers",
              "object": "objects", "array": "lists", "boolean": "booleans"}
    what = " or ".join(plural.get(k, k) for k in ([kinds] if isinstance(kinds, str) else
                                                  kinds or ["entries"]))
    lo, hi = node.get("minItems"), node.get("maxItems")
    count = f"{lo} " if lo is not None and lo == hi else (
        f"at least {lo} " if lo else "") + (f"at most {hi} " if hi is not None and hi != lo
                                             else "")
    return f"a list of {count}{what}"


def _explain(err: Any, name: str) -> tuple[str, str, str]:
    """(JSON path, what is wrong, what is valid) of one jsonschema error."""
    kind, want, inst, node = err.validator, err.validator_value, err.instance, err.schema
    try:
        _, array = _node_at(name, list(err.absolute_schema_path)[:-1])
    except (KeyError, TypeError):  # a path this walk does not follow: the error as it is
        array = None
    if array is not None and kind in ("type", "enum", "const") \
            and "properties" not in node:  # a bad number or string in a list: report the list
        parent = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}"
                               for k in list(err.absolute_path)[:-1])
        return parent, f"has a bad entry {_show(inst)}", _array_words(array)
    if node.get("type") == "array" and kind in ("type", "minItems", "maxItems"):
        return err.json_path, f"is {_show(inst)}", _array_words(node)
    if kind == "required":
        missing = [k for k in want if isinstance(inst, Mapping) and k not in inst]
        return (err.json_path, f"lacks the key {missing[0]!r}" if missing else err.message,
                "an object with the keys " + ", ".join(want))
    if kind == "additionalProperties":
        known = sorted(node.get("properties", {}))
        extra = sorted(k for k in inst if k not in node.get("properties", {}))
        return err.json_path, f"has unknown key(s) {extra}", "keys " + ", ".join(known)
    valid = {
        "type": lambda: _types(want),
        "enum": lambda: "one of " + ", ".join(json.dumps(v) for v in want),
        "const": lambda: json.dumps(want),
        "minimum": lambda: f"a number >= {want}",
        "exclusiveMinimum": lambda: f"a number > {want}",
        "maximum": lambda: f"a number <= {want}",
        "exclusiveMaximum": lambda: f"a number < {want}",
        "pattern": lambda: f"a string matching {want}",
        "minLength": lambda: "a non-empty string" if want == 1 else
        f"a string of at least {want} characters",
        "minProperties": lambda: f"an object with at least {want} key(s)",
    }.get(kind)
    return err.json_path, f"is {_show(inst)}", (valid() if valid else err.message)


def _toy_counts(d: Mapping[str, Any]) -> str | None:
    """What breaks the counts of a (schema-valid) toy file, or None: per scenario the lists
    hold n_toys entries, the jobs' toys add up to n_toys, their failures to n_failed, and the
    masses increase."""
    for name, sc in d["scenarios"].items():
        at = "$.scenarios" + (f".{name}" if name.isidentifier() else f"[{name!r}]")
        n = sc["n_toys"]
        for key in ("q0_max", "upcrossings", "excursion_components"):
            if len(sc[key]) != n:
                return (f"{at}.{key} has {len(sc[key])} entries; valid: n_toys = "
                        f"{n} entries, one per toy")
        if sum(j["n_toys"] for j in sc["jobs"]) != n:
            return (f"{at}.jobs add up to {sum(j['n_toys'] for j in sc['jobs'])} "
                    f"toys; valid: n_toys = {n}")
        if sum(j["n_failed"] for j in sc["jobs"]) != sc["n_failed"]:
            return (f"{at}.jobs add up to "
                    f"{sum(j['n_failed'] for j in sc['jobs'])} failed toys; valid: n_failed = "
                    f"{sc['n_failed']}")
        if any(j["n_failed"] > j["n_toys"] for j in sc["jobs"]):
            return (f"{at}.jobs has a job with more failed toys than toys; "
                    "valid: n_failed <= n_toys in each job")
        seeds = [j["seed"] for j in sc["jobs"]]
        if len(set(seeds)) != len(seeds):
            return f"{at}.jobs has a seed twice; valid: one job per seed"
        m = sc["masses"]
        if any(b <= a for a, b in zip(m, m[1:], strict=False)):
            return f"{at}.masses is not increasing; valid: an increasing grid"
    return None


#: Checks a schema cannot state, per contract: document -> what breaks, or None.
_COUNTS = {"toys": _toy_counts}


def validate(doc: Any, name: str, where: str | None = None, hint: str | None = None) -> Any:
    """Check a document against its contract.

    Args:
        doc: the parsed document.
        name: the contract (``CONTRACTS``: "sidecar", "patch", "results", "result_row",
            "grid", "response", "toys").
        where: what the message calls the document (its file, or a patch's name).
        hint: what to do about a bad document (appended to the message).

    Returns:
        doc, unchanged.

    Raises:
        ContractError: one line: the document, the JSON path of the first bad field, what is
            there and what is valid.
    """
    from jsonschema.exceptions import best_match

    err = best_match(_validator(name).iter_errors(doc))
    version = schema(name)["$id"].rsplit(":", 1)[-1]
    head = f"{TITLES[name]} {where}" if where else TITLES[name]
    tail = f"; {hint}" if hint else ""
    if err is None:
        problem = _COUNTS[name](doc) if name in _COUNTS else None
        if problem is None:
            return doc
        raise ContractError(f"{head}: {problem} (contract {version}){tail}")
    path, problem, valid = _explain(err, name)
    at = list(err.absolute_path)
    if name == "results" and len(at) >= 2 and at[0] == "results" and isinstance(at[1], int):
        row = doc["results"][at[1]]
        label = row.get("name") if isinstance(row, Mapping) else None
        head = f"{TITLES['result_row']} {(label or at[1])!r} of {head}"
    raise ContractError(f"{head}: {path} {problem}; valid: {valid} (contract {version}){tail}")
