"""Read, override, validate and write recipes.

A recipe is checked completely before any work starts: every problem is
collected and raised as one `RecipeError` whose lines name the recipe file,
the line, the dotted key and what was expected, e.g.

    recipes/x.yaml: the recipe has 2 problems:
      - recipes/x.yaml:4: data.trian: unknown key (did you mean 'data.train'?)
      - recipes/x.yaml:7: model.encoder: 'lstm' is not one of bilstm (did you mean 'bilstm'?)

Everything here follows `schema.SCHEMA`; no key is listed twice.

YAML is read with two fixes over PyYAML's YAML 1.1 rules: only true/false
are booleans (`yes`, `no`, `on`, `off` stay strings), and numbers with an
exponent but no dot such as `1e-3` are floats.

Example:
    >>> recipe = load_recipe("recipes/atis.yaml", ["train.epochs=5"])  # doctest: +SKIP
    >>> recipe["train"]["epochs"], recipe["model"]["encoder"]           # doctest: +SKIP
    (5, 'bilstm')
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from pathlib import Path

import yaml

from slukit.errors import RecipeError
from slukit.recipe.schema import SCHEMA, Field, default_value, get_field, iter_fields

SPLITS = ("train", "valid", "test")
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "data" / "builtin"
DATA_ENV = "SLUKIT_DATA"
DEFAULT_DATA_ROOT = "./data"

_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_EXP_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")
_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$")
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


# ---------------------------------------------------------------- public API


def load_recipe(path, overrides=()) -> dict:
    """Read a recipe file, apply `--set` overrides and validate it.

    Returns the resolved recipe: a nested dict with every schema key, the
    defaults filled in and `output` set (`runs/<name>` unless given). Data
    files are not looked at; see `resolve_data_paths`.

    Raises:
        RecipeError: listing every problem (file, line, dotted key, message).

    Example:
        >>> load_recipe("recipes/demo.yaml", ["train.batch_size=64"])["train"]["batch_size"]  # doctest: +SKIP
        64
    """
    source = str(path)
    overrides = [overrides] if isinstance(overrides, str) else overrides
    raw, root = _read_yaml(path, source)
    lines, duplicates = _key_lines(root)
    report = _Report(source, lines)
    for key, line, first in duplicates:
        report.add(key, f"duplicate key (first given at line {first}); YAML keeps only the last one", line=line)
    for text in overrides:
        try:
            report.origins[_apply_override(raw, text)] = f"--set {text}"
        except RecipeError as err:
            report.add_override_problems(err.problems)
    recipe = _validate(raw, report)
    report.raise_if_any()
    return recipe


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


def resolve_data_paths(recipe: dict) -> dict:
    """The absolute data paths of a validated recipe, checked to exist.

    Returns `{"train": Path, "valid": Path | None, "test": Path | None,
    "format": str | None, "root": Path}`; a None format means "detect it
    from each path". Relative paths are relative to the data root:
    `data.root`, else `$SLUKIT_DATA`, else `./data` (relative roots are
    relative to the current working directory). With `data.builtin` the
    files come from the package.

    Raises:
        RecipeError: naming each missing file's key, the path looked for,
            and the data root and where that came from.

    Example:
        >>> resolve_data_paths(load_recipe("recipes/atis.yaml"))["train"]  # doctest: +SKIP
        PosixPath('/home/me/data/atis/train')
    """
    data = recipe["data"]
    if data.get("builtin"):
        return _builtin_paths(data["builtin"])
    root, origin = data_root(data)
    paths = {split: _under(root, data.get(split)) for split in SPLITS}
    missing = [
        _missing_file(split, path, root, origin)
        for split, path in paths.items()
        if path is not None and not path.exists()
    ]
    if missing:
        count = len(missing)
        raise RecipeError(missing, header=f"{count} data {'path was' if count == 1 else 'paths were'} not found:")
    return {**paths, "format": data.get("format"), "root": root}


def data_root(data: dict) -> tuple[Path, str]:
    """The absolute data root of a recipe's `data` section, and where it came from.

    Example:
        >>> data_root({"root": "/srv/data"})
        (PosixPath('/srv/data'), 'data.root')
    """
    if data.get("root"):
        return _absolute(data["root"]), "data.root"
    if os.environ.get(DATA_ENV):
        return _absolute(os.environ[DATA_ENV]), f"${DATA_ENV}"
    return _absolute(DEFAULT_DATA_ROOT), f"the default {DEFAULT_DATA_ROOT}"


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


# ---------------------------------------------------------------- problems


class _Report:
    """Collects problems, each placed at a file line or at a `--set` override."""

    def __init__(self, source, lines, origins=None):
        self.source = source
        self.lines = lines
        self.origins = dict(origins or {})
        self._problems = []  # (sort key, text)

    def add(self, key: str, message: str, line: int | None = None) -> None:
        """Record `message` about the dotted `key` ("" for the whole recipe)."""
        where, order = self._locate(key, line)
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        self._problems.append((order, text))

    def add_override_problems(self, problems) -> None:
        self._problems += [((2, 0), text) for text in problems]

    def raise_if_any(self) -> None:
        if self._problems:
            texts = [text for _, text in sorted(self._problems, key=lambda p: p[0])]
            raise RecipeError(texts, header=_count_header(self.source, len(texts)))

    def _locate(self, key, line):
        if line is not None:
            return f"{self.source}:{line}", (0, line)
        prefixes = _prefixes(key)
        for prefix in prefixes:
            if prefix in self.origins:
                return self.origins[prefix], (1, 0)
        for prefix in prefixes:
            if prefix in self.lines:
                return f"{self.source}:{self.lines[prefix]}", (0, self.lines[prefix])
        return self.source, (0, 0)


def _prefixes(key: str) -> list[str]:
    """Every key a dotted key lies under, itself first.

        >>> _prefixes("a.b.c")
        ['a.b.c', 'a.b', 'a']
    """
    names = key.split(".") if key else []
    return [".".join(names[:i]) for i in range(len(names), 0, -1)]


def _count_header(source, count):
    return f"{source}: the recipe has {count} problem{'' if count == 1 else 's'}:"


def _describe(value) -> str:
    """A value as a user would write it: `'abc'`, `2.5`, `true`, `null`, `a list`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _closest(word: str, candidates, cutoff: float = 0.7) -> str | None:
    """The candidate spelled most like `word` (ignoring case), or None.

    Example:
        >>> _closest("Adma", ["adam", "sgd"])
        'adam'
    """
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[close[0]] if close else None


def _did_you_mean(word: str, candidates) -> str:
    """`" (did you mean 'x'?)"` for the closest candidate, or ""."""
    match = _closest(word, candidates)
    return f" (did you mean '{match}'?)" if match else ""


# ---------------------------------------------------------------- reading YAML


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


def _fail(source, problem):
    raise RecipeError([problem], header=_count_header(source, 1))


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


# ---------------------------------------------------------------- overrides


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


# ---------------------------------------------------------------- validation


class _Bad(Exception):
    """A value does not fit its field; the message says why.

    `part` names the key inside the value that is wrong (a search spec's
    `step`, say), so that the problem can point at its line.
    """

    def __init__(self, message, part=None):
        super().__init__(message)
        self.part = part


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


# ---------------------------------------------------------------- search spaces (tune.space)

_SPEC_KINDS = ("choice", "int", "float")
_SPEC_FORMS = "{choice: [v1, v2, ...]}, {int: [lo, hi]} or {float: [lo, hi]}"
_SEARCHABLE_SECTIONS = ("model", "train")
#: Encoders that take model.heads (slukit.models.builder.ENCODER_KEYS); heads must divide units.
_HEADED_ENCODERS = ("mha", "biattention")


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
        headed = [e for e in encoders if e in _HEADED_ENCODERS]
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


# ---------------------------------------------------------------- data paths and dumping


def _absolute(path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def _under(root: Path, path) -> Path | None:
    """`path` (relative to `root`, or absolute) as an absolute Path; None stays None."""
    if path is None:
        return None
    return Path(os.path.abspath(root / os.path.expanduser(str(path))))


def _missing_file(split, path, root, origin) -> str:
    """`"data.train: no such file or folder: /abs/path (the data root /abs comes from $SLUKIT_DATA)"`."""
    default = origin.startswith("the default")
    why = f"the data root {root} {'is' if default else 'comes from'} {origin}"
    if not root.exists():
        why += " and does not exist"
    if default:
        why += f"; set data.root or ${DATA_ENV} to use another"
    return f"data.{split}: no such file or folder: {path} ({why})"


def _builtin_paths(name: str) -> dict:
    """The files of a data set shipped in `slukit/data/builtin/<name>/`.

    Each split is the entry named `<split>` or `<split>.<ext>` there.
    """
    folder = BUILTIN_DIR / name
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    paths = {split: next((p for p in entries if split in (p.name, p.stem)), None) for split in SPLITS}
    if paths["train"] is None:
        raise RecipeError([f"data.builtin: the builtin data set {name!r} has no training data "
                           f"in {folder}; the slukit installation looks incomplete"])
    return {**paths, "format": None, "root": folder}


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
