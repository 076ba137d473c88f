"""Checks of `tune.space`: which keys may be searched, each spec's form, and the heads rule.

A space maps dotted `model.`/`train.` keys to specs (`{choice: [...]}`,
`{int: [lo, hi]}`, `{float: [lo, hi]}`, with `step` or `log: true` on ranges);
every value a spec can give is checked as the key's own field checks it.
"""

from __future__ import annotations

from slukit import registry
from slukit.recipe.problems import _Bad, _closest, _describe, _did_you_mean, _prefixes, _Report  # noqa: F401
from slukit.recipe.schema import Field, get_field, iter_fields
from slukit.recipe.values import _CHECKS, _duplicates
from slukit.recipe.yaml_io import _line_key


_SPEC_KINDS = ("choice", "int", "float")


_SPEC_FORMS = "{choice: [v1, v2, ...]}, {int: [lo, hi]} or {float: [lo, hi]}"


_SEARCHABLE_SECTIONS = ("model", "train")


def _check_search_space(value, key: str, report) -> dict:
    """Check `tune.space`: each entry names a searchable key and a spec its field accepts.

    Returns the space with values converted as their fields convert them
    (`1e-3` -> 0.001) and null entries (not searched) left out.

    Example:
        >>> report = _Report("r.yaml", {})
        >>> _check_search_space({"model.units": {"int": [8, 32], "step": 8}}, "tune.space", report)
        {'model.units': {'int': [8, 32], 'step': 8}}
    """
    if not isinstance(value, dict):
        report.add(key, f"expected a mapping from dotted keys to search specs, such as "
                        f"model.encoder: {{choice: [gru, mha]}}, got {_describe(value)}")
        return value
    resolved = {}
    for name, spec in value.items():
        name = str(name)
        entry, at = f"{key}.{name}", _line_key(key + ".", name)
        if spec is None:
            continue
        problem = _searchable_problem(name)
        if problem:
            report.add(entry, problem, _entry_line(report, entry, at))
            continue
        try:
            resolved[name] = _check_spec(get_field(name), spec)
        except _Bad as bad:
            line = _entry_line(report, entry, f"{at}.{bad.part}") if bad.part else None
            report.add(entry, str(bad), line or _entry_line(report, entry, at))
    return resolved


def _entry_line(report, entry: str, line_key: str) -> int | None:
    """The file line of a search-space entry, or None when a `--set` gave it."""
    if any(prefix in report.origins for prefix in _prefixes(entry)):
        return None
    return report.lines.get(line_key)


def _searchable_problem(name: str) -> str | None:
    """Why the dotted key `name` cannot be searched, or None when it can."""
    field = get_field(name)
    if field is not None and field.type == "section":
        example = next(iter(field.fields))
        return f"is a section; name one of its keys in full, such as {name}.{example}"
    searchable = [k for k, f in iter_fields()
                  if k.split(".")[0] in _SEARCHABLE_SECTIONS and f.type != "section"]
    if field is None:
        close = _closest(name, searchable) or next(
            (k for k in searchable if k.rpartition(".")[2] == name.rpartition(".")[2]), None)
        hint = f" (did you mean '{close}'?)" if close else ""
        return f"unknown key{hint}; the space names dotted model. and train. keys, such as model.units"
    if name.split(".")[0] not in _SEARCHABLE_SECTIONS:
        return "only model. and train. keys can be searched"
    if name == "train.epochs":
        return ("the epochs of a trial are set by tune.max_epochs (hyperband chooses its own); "
                "remove train.epochs from the space")
    if name == "train.distribute":
        return "where training runs is not a hyper-parameter; set train.distribute in the recipe"
    return None


def _takes(field: Field) -> str:
    """What a field's values are, in words: `an integer`, `one of gru, mha`."""
    if field.type in ("choice", "list_of_choice"):
        allowed = ", ".join(field.allowed())
        return f"one of {allowed}" if field.type == "choice" else f"a list out of {allowed}"
    return {"int": "an integer", "float": "a number", "bool": "true or false",
            "path": "a path", "str": "a string"}.get(field.type, field.type)


def _check_spec(field: Field, spec) -> dict:
    """One search spec for `field`, converted; raises _Bad (with the spec's part) if wrong.

    Example:
        >>> _check_spec(get_field("train.learning_rate"), {"float": ["3e-4", 3e-3], "log": True})
        {'float': [0.0003, 0.003], 'log': True}
    """
    if isinstance(spec, list):
        raise _Bad("expected a search spec, got a list; to try these values write {choice: [...]}")
    if not isinstance(spec, dict):
        raise _Bad(f"expected a search spec, {_SPEC_FORMS}, got {_describe(spec)}")
    for part in spec:
        if part not in _SPEC_KINDS + ("step", "log"):
            raise _Bad(f"unknown part {_describe(part)}{_did_you_mean(str(part), _SPEC_KINDS + ('step', 'log'))}; "
                       f"a spec is {_SPEC_FORMS}, and a range may add step or log: true", part=str(part))
    kinds = [kind for kind in _SPEC_KINDS if kind in spec]
    if len(kinds) != 1:
        got = f", got {' and '.join(kinds)}" if kinds else ""
        raise _Bad(f"expected exactly one of choice, int or float{got}", part=kinds[-1] if kinds else None)
    if kinds[0] == "choice":
        return _check_choice_spec(field, spec)
    return _check_range_spec(field, spec, kinds[0])


def _check_choice_spec(field: Field, spec) -> dict:
    for part in ("step", "log"):
        if part in spec:
            raise _Bad(f"{part}: belongs to int and float ranges, not to choice", part=part)
    values = spec["choice"]
    if not isinstance(values, list) or not values:
        raise _Bad(f"choice: expected a non-empty list of values, got {_describe(values)}", part="choice")
    checked, problems = [], []
    for value in values:
        if value is None and field.nullable:
            checked.append(None)
            continue
        try:
            checked.append(_CHECKS[field.type](field, value))
        except _Bad as bad:
            problems.append(str(bad))
    problems += [f"{_describe(value)} is listed twice" for value in _duplicates(checked)]
    if problems:
        raise _Bad("choice: " + "; ".join(problems), part="choice")
    return {"choice": checked}


def _check_range_spec(field: Field, spec, kind: str) -> dict:
    if field.type not in ("int", "float"):
        raise _Bad(f"{kind}: ranges are for numbers, and this key takes {_takes(field)}; "
                   f"use {{choice: [...]}}", part=kind)
    if kind != field.type:
        raise _Bad(f"{kind}: this key takes {_takes(field)}; write {{{field.type}: [lo, hi]}}", part=kind)
    bounds = spec[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise _Bad(f"{kind}: expected [lo, hi], got {_describe(bounds)}", part=kind)
    try:
        lo, hi = (_CHECKS[kind](field, bound) for bound in bounds)
    except _Bad as bad:
        raise _Bad(f"{kind}: {bad}", part=kind) from None
    if lo >= hi:
        single = "; for a single value, set the key itself" if lo == hi else ""
        raise _Bad(f"{kind}: the lower bound must be below the upper one, got [{lo}, {hi}]{single}", part=kind)
    checked = {kind: [lo, hi]}
    if "log" in spec:
        log = spec["log"]
        if not isinstance(log, bool):
            raise _Bad(f"log: expected true or false, got {_describe(log)}", part="log")
        if log and lo <= 0:
            raise _Bad(f"log: a log scale needs a lower bound above 0, got {lo}", part="log")
        checked["log"] = log
    if "step" in spec:
        if checked.get("log"):
            raise _Bad("step: a log-scale range has no step; drop step or log", part="step")
        try:
            step = _CHECKS[kind](Field(kind, min=0, exclusive_min=True), spec["step"])
        except _Bad as bad:
            raise _Bad(f"step: {bad}", part="step") from None
        if step > hi - lo:
            raise _Bad(f"step: {step} is larger than the range [{lo}, {hi}]", part="step")
        checked["step"] = step
    return checked


def _spec_values(spec, fixed) -> list | None:
    """Every value a validated spec can give (`[fixed]` without one); None for float ranges."""
    if spec is None:
        return [fixed]
    if "choice" in spec:
        return spec["choice"]
    if "int" in spec:
        lo, hi = spec["int"]
        return list(range(lo, hi + 1, spec.get("step", 1)))
    return None


def _check_space_heads(recipe: dict, report) -> None:
    """The attention encoders need model.units divisible by model.heads in every trial."""
    tune, model = recipe.get("tune"), recipe.get("model")
    space = tune.get("space") if isinstance(tune, dict) else None
    if not isinstance(space, dict) or not isinstance(model, dict) or not space:
        return
    try:
        encoders, units, heads = (
            _spec_values(space.get(f"model.{name}"), model.get(name)) for name in ("encoder", "units", "heads"))
        headed = [e for e in encoders if e in registry.headed_encoders()]
        bad = sorted({(u, h) for u in units for h in heads if h and u % h}) if headed else []
    except (TypeError, ValueError, AttributeError):  # earlier problems with these keys were reported
        return
    if bad:
        searched = "units" if "model.units" in space else "heads" if "model.heads" in space else "encoder"
        entry = f"tune.space.model.{searched}"
        (u, h), others = bad[0], len(bad) - 1
        more = f" (and {others} more such pair{'s' if others > 1 else ''})" if others else ""
        fix = {"units": f"give model.units a step that is a multiple of every heads value (such as step: {h})",
               "heads": "choose heads values that divide every units value",
               "encoder": "set model.units to a multiple of model.heads"}[searched]
        report.add(entry, f"{' and '.join(headed)} need{'s' if len(headed) == 1 else ''} model.units divisible by model.heads, but the "
                          f"space allows units {u} with heads {h}{more}; {fix}",
                   _entry_line(report, entry, _line_key("tune.space.", f"model.{searched}")))
