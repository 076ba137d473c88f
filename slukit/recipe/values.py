"""Checks of single recipe values, one function a field type (`_CHECKS`).

Each takes the `Field` and the value as written and returns it converted
(`3.0` -> 3 for an int, `"1e-3"` -> 0.001 for a float), or raises `_Bad`
with what was expected and, where it helps, how to write it.
"""

from __future__ import annotations

import math
import re

from slukit.recipe.problems import _Bad, _describe, _did_you_mean
from slukit.recipe.schema import Field
from slukit.recipe.yaml_io import _YAML_1_1_BOOLS


_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$")


def _check_range(field: Field, value):
    """Raise _Bad unless `value` is within the field's bounds."""
    parts, ok = [], True
    if field.min is not None:
        ok &= value > field.min if field.exclusive_min else value >= field.min
        parts.append(f"greater than {field.min}" if field.exclusive_min else f"at least {field.min}")
    if field.max is not None:
        ok &= value < field.max if field.exclusive_max else value <= field.max
        parts.append(f"less than {field.max}" if field.exclusive_max else f"at most {field.max}")
    if not ok:
        raise _Bad(f"must be {' and '.join(parts)}, got {_describe(value)}")
    return value


def _quoted_hint(value, looks_right: bool) -> str:
    return " (a quoted string; remove the quotes)" if isinstance(value, str) and looks_right else ""


def _as_int(field: Field, value):
    """Ints, and floats without a fraction; never bools.

    Example:
        >>> _as_int(Field("int", min=1), 3.0)
        3
    """
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        fraction = " (it has a fraction)" if isinstance(value, float) else ""
        hint = _quoted_hint(value, isinstance(value, str) and value.strip().lstrip("+-").isdigit())
        raise _Bad(f"expected an integer, got {_describe(value)}{fraction}{hint}")
    return _check_range(field, value)


def _as_float(field: Field, value):
    """Finite numbers (ints included) and number-looking strings such as '1e-3'.

    Example:
        >>> _as_float(Field("float"), "1e-3")
        0.001
    """
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value.strip().replace("_", ""))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"expected a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise _Bad(f"expected a finite number, got {_describe(value)}")
    return _check_range(field, float(value))


def _as_bool(field: Field, value):
    if not isinstance(value, bool):
        hint = " (write true or false)" if str(value).lower() in _YAML_1_1_BOOLS + ("1", "0") else ""
        hint = hint or _quoted_hint(value, str(value).lower() in ("true", "false"))
        raise _Bad(f"expected true or false, got {_describe(value)}{hint}")
    return value


def _as_str(field: Field, value, what="a string"):
    if not isinstance(value, str):
        hint = "; quote it to make it a string" if value is not None and not isinstance(value, (list, dict)) else ""
        raise _Bad(f"expected {what}, got {_describe(value)}{hint}")
    if not value.strip():
        raise _Bad(f"expected {what}, got an empty string")
    return value


def _as_path(field: Field, value):
    return _as_str(field, value, what="a path")


def _as_choice(field: Field, value):
    """A string out of the choices; `true`/`false` also as YAML booleans where they are choices.

    Example:
        >>> _as_choice(Field("choice", choices=("auto", "true", "false")), True)
        'true'
    """
    allowed = field.allowed()
    if isinstance(value, bool) and _describe(value) in allowed:
        return _describe(value)
    if isinstance(value, str) and value in allowed:
        return value
    hint = _did_you_mean(value, allowed) if isinstance(value, str) else ""
    raise _Bad(f"{_describe(value)} is not one of {', '.join(allowed)}{hint}")


def _as_choice_list(field: Field, value):
    allowed = field.allowed()
    if not isinstance(value, list):
        raise _Bad(f"expected a list such as [{', '.join(allowed)}], got {_describe(value)}")
    if not value:
        raise _Bad(f"expected at least one of {', '.join(allowed)}, got an empty list")
    problems = []
    for item in value:
        try:
            _as_choice(field, item)
        except _Bad as bad:
            problems.append(str(bad))
    problems += [f"{_describe(item)} is listed twice" for item in _duplicates(value)]
    if problems:
        raise _Bad("; ".join(problems))
    return list(value)


def _as_path_list(field: Field, value):
    """A non-empty list of paths (distill.teacher_dirs); a single path is a list of one.

    Example:
        >>> _as_path_list(Field("list_of_path"), "runs/a")
        ['runs/a']
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Bad(f"expected a list of paths, such as [runs/a, runs/b], got {_describe(value)}")
    if not value:
        raise _Bad("expected at least one path, got an empty list")
    problems = []
    for i, item in enumerate(value):
        try:
            _as_path(field, item)
        except _Bad as bad:
            problems.append(f"item {i + 1}: {bad}")
    problems += [f"{_describe(item)} is listed twice" for item in _duplicates(value)]
    if problems:
        raise _Bad("; ".join(problems))
    return list(value)


def _duplicates(items) -> list:
    seen, twice = [], []
    for item in items:
        (twice if item in seen and item not in twice else seen).append(item)
    return twice


_CHECKS = {
    "str": _as_str,
    "path": _as_path,
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "choice": _as_choice,
    "list_of_choice": _as_choice_list,
    "list_of_path": _as_path_list,
}
