"""Reading and writing recipe YAML: the loader, key lines, syntax errors, and the dumper.

YAML is read with two fixes over PyYAML's YAML 1.1 rules: only true/false
are booleans (`yes`, `no`, `on`, `off` stay strings), and numbers with an
exponent but no dot such as `1e-3` are floats. Each dotted key's line is kept
so that problems can name it.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from slukit.errors import RecipeError
from slukit.recipe.problems import _describe, _fail
from slukit.recipe.schema import SCHEMA


_BOOL_TAG = "tag:yaml.org,2002:bool"


_FLOAT_TAG = "tag:yaml.org,2002:float"


_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


_EXP_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


_YAML_1_1_BOOLS = ("yes", "no", "on", "off", "y", "n")


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with YAML 1.2 booleans and `1e-3`-style floats.

    Example:
        >>> yaml.load("[1e-3, yes, true]", Loader=RecipeLoader)
        [0.001, 'yes', True]
    """


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RecipeLoader.add_implicit_resolver(_BOOL_TAG, _BOOL, list("tTfF"))
RecipeLoader.add_implicit_resolver(_FLOAT_TAG, _EXP_FLOAT, list("-+0123456789."))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes lists inline and quotes strings like `1e3`."""


_Dumper.add_implicit_resolver(_FLOAT_TAG, _EXP_FLOAT, list("-+0123456789."))
_Dumper.add_representer(
    list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)
)


def dump_recipe(recipe: dict) -> str:
    """The YAML text of a recipe, keys in schema order; `load_recipe` reads it back.

    Example:
        >>> print(dump_recipe({"name": "x", "output": None}))
        name: x
        <BLANKLINE>
        output: null
        <BLANKLINE>
    """
    text = yaml.dump(
        _in_schema_order(recipe, SCHEMA), Dumper=_Dumper,
        sort_keys=False, default_flow_style=False, allow_unicode=True, width=10_000,
    )
    return re.sub(r"\n(?=[^\s-])", "\n\n", text)  # a blank line before each top-level key


def _in_schema_order(value, fields: dict) -> dict:
    """A copy of a recipe dict with its keys in schema order (unknown keys last)."""
    ordered = {}
    for name in list(fields) + [k for k in value if k not in fields]:
        if name not in value:
            continue
        field = fields.get(name)
        item = value[name]
        if field is not None and field.type == "section" and isinstance(item, dict):
            item = _in_schema_order(item, field.fields)
        ordered[name] = item
    return ordered


def _read_yaml(path, source):
    """Parse a recipe file into (raw dict, root node); any problem is a RecipeError."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RecipeError([f"{source}: no such recipe file"]) from None
    except IsADirectoryError:
        raise RecipeError([f"{source}: is a folder, not a recipe file"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise RecipeError([f"{source}: cannot read the recipe: {err}"]) from None
    raw, root = _parse(text, source)
    if root is None:
        _fail(source, f"{source}: the recipe is empty; it needs at least name, and data.train or data.builtin")
    if not isinstance(raw, dict):
        line = root.start_mark.line + 1
        _fail(source, f"{source}:{line}: the recipe must be a mapping of keys "
                      f"({', '.join(SCHEMA)}), got {_describe(raw)}")
    return raw, root


def _parse(text, source):
    """YAML text -> (value, node); syntax errors become a RecipeError with line and column."""
    loader = RecipeLoader(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except yaml.YAMLError as err:
        problem = _yaml_problem(source, err)
    finally:
        loader.dispose()
    _fail(source, problem)


def _yaml_problem(source, err) -> str:
    """`"x.yaml:3:5: invalid YAML: <problem> (<context>)"` from a PyYAML error."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and context_mark and context_mark is not mark:
        problem += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    elif context:
        problem += f" ({context})"
    if "\\t" in problem or "\t" in problem:
        problem += "; indent with spaces, not tabs"
    return f"{where}: invalid YAML: {problem}"


def _key_lines(node, prefix="", lines=None, duplicates=None):
    """Map each dotted key to its 1-based line; also list duplicate keys.

    Example:
        >>> _key_lines(yaml.compose("a:\\n  b: 1\\n"))
        ({'a': 1, 'a.b': 2}, [])
    """
    lines = {} if lines is None else lines
    duplicates = [] if duplicates is None else duplicates
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = _line_key(prefix, str(key_node.value)), key_node.start_mark.line + 1
            if key in lines and key_node.value != "<<":
                duplicates.append((key, line, lines[key]))
            lines[key] = line
            _key_lines(value_node, key + ".", lines, duplicates)  # a dotted name stays quoted
    return lines, duplicates


def _line_key(prefix: str, name: str) -> str:
    """The `lines` key of `name` in section `prefix`; a name holding a dot is quoted.

    So a top-level `train.epochs:` (an unknown key) is not mistaken for
    `epochs:` inside `train:`.

    Example:
        >>> _line_key("", "train.epochs"), _line_key("train.", "epochs")
        ("'train.epochs'", 'train.epochs')
    """
    return prefix + (repr(name) if "." in name else name)
