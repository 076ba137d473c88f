"""Validation of a whole recipe against `schema.SCHEMA`: sections, unknown keys, relations.

Every problem is collected (see `slukit.recipe.problems`) and raised at the
end as one `RecipeError`; the resolved recipe has every key, defaults filled in.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib

from slukit.recipe.problems import _Bad, _closest, _describe, _Report
from slukit.recipe.schema import SCHEMA, Field, default_value, get_field, iter_fields
from slukit.recipe.search_space import _check_search_space, _check_space_heads
from slukit.recipe.values import _CHECKS
from slukit.recipe.yaml_io import _line_key


def training_settings(recipe, sections=("data", "model", "train", "source", "transfer"),
                      ignore_transfer=()):
    """The parts of `recipe` that decide the trained model, to compare two runs by.

    Defaults are filled in first (so a run saved before a new key existed still matches
    when the key's default trains the same model); `train.distribute` and the
    `transfer` keys in `ignore_transfer` are left out. A recipe this version cannot
    read is compared as it is.

        >>> a = {"name": "a", "model": {"units": 8}, "train": {"distribute": "mirrored"}}
        >>> b = {"name": "b", "model": {"units": 8}, "train": {}}
        >>> training_settings(a, ("model", "train")) == training_settings(b, ("model", "train"))
        True
    """
    try:
        filled = validate(copy.deepcopy(recipe))
    except Exception:
        filled = copy.deepcopy(recipe)
    (filled.get("train") or {}).pop("distribute", None)
    for key in ignore_transfer:
        (filled.get("transfer") or {}).pop(key, None)
    return {k: filled.get(k) for k in sections}


def validate(raw, *, source: str = "<recipe>", lines: dict | None = None, origins: dict | None = None) -> dict:
    """Check a raw recipe dict against the schema and fill in the defaults.

    Args:
        raw: the recipe as parsed from YAML (with overrides applied).
        source: how problems name the recipe, usually its path.
        lines: dotted key -> 1-based line in `source`; a problem on a key
            without a line uses its nearest ancestor's line.
        origins: dotted key -> where its value came from instead (such as
            `--set train.epochs=5`); it wins over `lines` for the key and
            everything below it.

    Raises:
        RecipeError: listing all problems, with the header
            `"{source}: the recipe has N problems:"`.

    Example:
        >>> validate({"name": "x", "data": {"train": "t.jsonl"}})["model"]["units"]
        128
        >>> validate({"name": "x", "data": {"train": "t.jsonl"}})["output"]
        'runs/x'
    """
    report = _Report(source, lines or {}, origins)
    recipe = _validate(raw, report)
    report.raise_if_any()
    return recipe


def _validate(raw, report) -> dict:
    """Check `raw` against SCHEMA into `report`; returns the resolved recipe."""
    if raw is None:
        report.add("", "the recipe is empty; it needs at least name, and data.train or data.builtin")
        return {}
    if not isinstance(raw, dict):
        report.add("", f"the recipe must be a mapping of keys ({', '.join(SCHEMA)}), got {_describe(raw)}")
        return {}
    recipe = _check_section(SCHEMA, raw, "", report)
    _check_space_heads(recipe, report)
    if recipe.get("output") is None and isinstance(recipe.get("name"), str):
        recipe["output"] = f"runs/{recipe['name']}"
    return recipe


def _check_section(fields: dict, raw: dict, prefix: str, report) -> dict:
    """Check one mapping: unknown keys, each field, then cross-field rules."""
    for name in raw:
        if str(name) not in fields:
            line = report.lines.get(_line_key(prefix, str(name)))
            report.add(prefix + str(name), "unknown key" + _unknown_hint(prefix.rstrip("."), str(name)), line)
    resolved = {}
    for name, field in fields.items():
        key = prefix + name
        if name in raw:
            resolved[name] = _check_value(field, raw[name], key, report)
        elif field.required:
            report.add(key, "required key is missing")
        elif field.type == "section" and not field.nullable:
            resolved[name] = _check_section(field.fields, {}, key + ".", report)  # its rules still apply
        else:
            resolved[name] = default_value(field)
    _check_relations(fields, raw, prefix, report)
    return resolved


def _check_value(field: Field, value, key: str, report):
    """Check one value; on a problem, report it and return the value unchanged."""
    if field.type == "section":
        if field.many and isinstance(value, list):
            if not value:
                report.add(key, "an empty list; give one data set, or a list of at least one")
                return value
            one = dataclasses.replace(field, many=False, nullable=False)
            return [_check_value(one, item, f"{key}[{i}]", report) for i, item in enumerate(value)]
        if value is None:
            if field.nullable:
                return None
            value = {}
        if not isinstance(value, dict):
            report.add(key, f"expected a section (a mapping of keys such as "
                            f"{', '.join(list(field.fields)[:3])}), got {_describe(value)}")
            return value
        return _check_section(field.fields, value, key + ".", report)
    if value is None and field.nullable:
        return None
    if field.type == "search_space":
        return _check_search_space(value, key, report)
    try:
        return _CHECKS[field.type](field, value)
    except _Bad as bad:
        report.add(key, str(bad))
        return value


def _check_relations(fields: dict, raw: dict, prefix: str, report) -> None:
    """`excludes` and `required_unless`: a key counts as given when it is not null."""
    given = {name for name, value in raw.items() if value is not None}
    for name, field in fields.items():
        if name in given:
            for other in field.excludes:
                if other in given:
                    report.add(prefix + other, f"cannot be used together with {prefix}{name} "
                                               f"({raw[name]}); remove one of the two")
        others = field.required_unless
        others = (others,) if isinstance(others, str) else tuple(others or ())
        if others and name not in given and not any(o in given for o in others):
            state = "is null" if name in raw else "missing"
            unless = " or ".join(prefix + o for o in others)
            report.add(prefix + name, f"{state} (it is required unless {unless} is set)")


def _unknown_hint(parent: str, name: str) -> str:
    """A hint for the unknown key `name` in section `parent` ("" for the top level).

    Tries, in order: a sibling spelled alike (or the one sibling that starts
    with `name`), a key elsewhere spelled alike, the same name in another
    section; else lists the keys the section has.

    Example:
        >>> _unknown_hint("data", "trian")
        " (did you mean 'data.train'?)"
        >>> _unknown_hint("data", "epochs")
        " (did you mean 'train.epochs'?)"
    """
    key = f"{parent}.{name}" if parent else name
    siblings = SCHEMA if not parent else getattr(get_field(parent), "fields", None)
    all_keys = [k for k, _ in iter_fields()]
    if "." in name and name in all_keys:
        section, _, leaf = name.rpartition(".")
        return f"; dotted keys work only with --set: in a recipe file, nest {leaf} under {section}"
    guesses = []
    starting = [s for s in siblings or () if s.startswith(name)]  # emb -> embeddings
    sibling = _closest(name, siblings or ()) or (starting[0] if len(starting) == 1 else None)
    if sibling:
        guesses.append(f"{parent}.{sibling}" if parent else sibling)
    others = [  # siblings were tried by name; its own sections are no guess
        k for k in all_keys if k.rpartition(".")[0] != parent and not key.startswith(k + ".")
    ]
    guesses += difflib.get_close_matches(key, others, n=1, cutoff=0.8)
    guesses += [k for k in all_keys if k.rpartition(".")[2] == name and k != key]
    if guesses:
        return f" (did you mean '{guesses[0]}'?)"
    if siblings is not None:
        return f"; {f'{parent} has' if parent else 'a recipe has'} the keys {', '.join(siblings)}"
    return ""
