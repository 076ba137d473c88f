"""The `jsonl` format: one JSON object per line,
`{"tokens": [...], "tags": [...], "intent": "...", "id": "..."}` (`id` optional).
"""

import json

from slukit.data.formats.lines import _bad, _iter_lines, _need_file, _row


JSONL_KEYS = ("tokens", "tags", "intent")


def _read_jsonl(path):
    """Read JSON Lines, one object per line, e.g.::

        {"tokens": ["play", "jazz"], "tags": ["O", "B-genre"], "intent": "PlayMusic", "id": "7"}
    """
    _need_file(path, "jsonl")
    return _jsonl_rows(path)


def _jsonl_rows(path):
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)
    for line_no, line in _iter_lines(path):
        obj, problem = _parse_json_line(line)
        if problem:
            yield _bad(path, line_no, problem)
            continue
        problems = _jsonl_type_problems(obj)
        if problems:
            yield None, [f"{path}:{line_no}: {p}" for p in problems]
            continue
        yield _row(obj["tokens"], obj["tags"], obj["intent"].strip(), blame, line_no,
                   id=str(obj.get("id", "")))


def _jsonl_type_problems(obj):
    """Problems with the keys and types of one JSON Lines object.

    Example:
        >>> _jsonl_type_problems({"tokens": ["a"], "tags": "O"})
        ['missing key "intent"', '"tags" must be a list of strings, found a string']
    """
    if not isinstance(obj, dict):
        return [f"expected a JSON object, found {_json_type(obj)}"]
    problems = _missing_keys(obj, JSONL_KEYS)
    for key in ("tokens", "tags"):
        value = obj.get(key, [])
        if not isinstance(value, list):
            problems.append(f'"{key}" must be a list of strings, found {_json_type(value)}')
            continue
        wrong = [(i, item) for i, item in enumerate(value, 1) if not isinstance(item, str)]
        if wrong:
            i, item = wrong[0]
            problems.append(f'"{key}" must be a list of strings, '
                            f'but item {i} is {_json_type(item)}')
        elif key == "tokens" and any(not token.strip() for token in value):
            i = next(i for i, token in enumerate(value, 1) if not token.strip())
            problems.append(f'"tokens" item {i} is an empty or whitespace-only string')
    return problems + _string_problems(obj, ("intent",)) + _id_problems(obj)


def _missing_keys(obj, keys):
    """A one-item list naming the `keys` that `obj` lacks, or []."""
    missing = [key for key in keys if key not in obj]
    if not missing:
        return []
    return [f"missing key{'s' if len(missing) > 1 else ''} "
            + ", ".join(f'"{key}"' for key in missing)]


def _string_problems(obj, keys):
    """Problems with those of `keys` that `obj` has but not as a string."""
    return [f'"{key}" must be a string, found {_json_type(obj[key])}'
            for key in keys if key in obj and not isinstance(obj[key], str)]


def _id_problems(obj):
    """A problem with `obj["id"]` when it is there but not a string or integer."""
    if "id" in obj and (isinstance(obj["id"], bool) or not isinstance(obj["id"], (str, int))):
        return [f'"id" must be a string or an integer, found {_json_type(obj["id"])}']
    return []


def _parse_json_line(line):
    """(parsed value, None) for one line of JSON Lines, or (None, problem)."""
    if not line.strip():
        return None, "blank line"
    try:
        return json.loads(line), None
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg} (column {err.colno})"


def _json_type(value):
    """Name a parsed JSON value's type the way JSON does, e.g. 'a string'."""
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
