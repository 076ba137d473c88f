"""`--set KEY=VALUE` overrides of dotted recipe keys, applied before validation.

The key must be one the schema defines (or an entry of a `search_space`
field such as `tune.space.model.units`); the value is read as YAML.
"""

from __future__ import annotations

import yaml

from slukit.errors import RecipeError
from slukit.recipe.problems import _describe
from slukit.recipe.schema import get_field
from slukit.recipe.validate import _unknown_hint
from slukit.recipe.yaml_io import RecipeLoader


def apply_override(raw: dict, text: str) -> None:
    """Apply one `--set KEY=VALUE` override to a raw (unvalidated) recipe dict.

    The value is parsed as YAML (`64` is an int, `1e-3` a float, `[word]` a
    list, `null` None), except that a number or boolean given to a string
    field stays the text written (`name=2024` is `'2024'`). The key must be
    defined by the schema; a section can only be set to a mapping, which is
    merged key by key.

    Raises:
        RecipeError: for text without `=`, an unknown key, a section set to a
            scalar, or a value that is not valid YAML.

    Example:
        >>> raw = {"name": "x"}
        >>> apply_override(raw, "train.learning_rate=1e-3")
        >>> raw
        {'name': 'x', 'train': {'learning_rate': 0.001}}
    """
    _apply_override(raw, text)


def _apply_override(raw, text) -> str:
    """Apply `KEY=VALUE` to `raw`; returns KEY. See `apply_override`."""
    key, sep, value_text = text.partition("=")
    key, where = key.strip(), f"--set {text}"
    if not sep or not key:
        raise RecipeError([f"{where}: expected KEY=VALUE, such as train.epochs=10"])
    if not isinstance(raw, dict):
        raise RecipeError([f"{where}: the recipe is not a mapping"])
    try:
        value = yaml.load(value_text, Loader=RecipeLoader)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RecipeError([f"{where}: {key}: the value is not valid YAML: {problem}"]) from None
    if _is_text_field(key) and isinstance(value, (bool, int, float)):
        value = value_text.strip()  # name=2024 means the string '2024'
    _set({}, key, value, where)  # a dry run: all or nothing
    _set(raw, key, value, where)
    return key


def _is_text_field(key: str) -> bool:
    field = get_field(key)
    return field is not None and field.type in ("str", "path", "choice")


def _set(raw, key, value, where):
    """Set the dotted `key` of `raw` to `value`, merging mappings into sections.

    Below a `search_space` field the rest of the key is one entry's name:
    `tune.space.model.units` sets the entry `model.units` of `tune.space`.
    """
    field = get_field(key)
    owner, entry = _space_entry(key) if field is None else (None, None)
    if field is None and owner is None:
        parent, _, name = key.rpartition(".")
        raise RecipeError([f"{where}: {key}: unknown key{_unknown_hint(parent, name)}"])
    if field is not None and field.type == "section":
        if not isinstance(value, dict):
            example = next(iter(field.fields))
            raise RecipeError([f"{where}: {key}: is a section, not a single value; "
                               f"set one of its keys instead, such as --set {key}.{example}=..."])
        for name, item in value.items():
            _set(raw, f"{key}.{name}", item, where)
        return
    names = owner.split(".") + [entry] if owner else key.split(".")
    node = raw
    for depth, name in enumerate(names[:-1]):
        if node.get(name) is None:
            node[name] = {}
        elif not isinstance(node[name], dict):
            section = ".".join(names[: depth + 1])
            raise RecipeError([f"{where}: {key}: cannot set it, because {section} in the recipe "
                               f"is {_describe(node[name])}, not a section"])
        node = node[name]
    node[names[-1]] = value


def _space_entry(key: str) -> tuple[str | None, str | None]:
    """`("tune.space", "model.units")` for `"tune.space.model.units"`; `(None, None)` otherwise."""
    names = key.split(".")
    for i in range(1, len(names)):
        field = get_field(".".join(names[:i]))
        if field is not None and field.type == "search_space":
            return ".".join(names[:i]), ".".join(names[i:])
    return None, None
