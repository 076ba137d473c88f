"""Read, override, validate and write recipes.

A recipe is checked completely before any work starts: every problem is
collected and raised as one `RecipeError` whose lines name the recipe file,
the line, the dotted key and what was expected, e.g.

    recipes/x.yaml: the recipe has 2 problems:
      - recipes/x.yaml:4: data.trian: unknown key (did you mean 'data.train'?)
      - recipes/x.yaml:7: model.encoder: 'lstm' is not one of bilstm (did you mean 'bilstm'?)

Everything here follows `schema.SCHEMA`; no key is listed twice. The parts,
one concept a module:

| module | what it holds |
|---|---|
| `recipe/yaml_io.py` | reading YAML (1.2 booleans, `1e-3` floats), key lines, `dump_recipe` |
| `recipe/problems.py` | collecting problems with their file line, wording, did-you-mean |
| `recipe/overrides.py` | `--set KEY=VALUE` (`apply_override`) |
| `recipe/values.py` | the check of one value per field type |
| `recipe/validate.py` | `validate`: sections, unknown keys, relations, defaults |
| `recipe/search_space.py` | `tune.space` checks |
| `data/sources.py` | where data files are: `resolve_data_paths`, `data_root` |

`load_recipe` (here) reads, overrides and validates in one call.

Example:
    >>> recipe = load_recipe("recipes/atis.yaml", ["train.epochs=5"])  # doctest: +SKIP
    >>> recipe["train"]["epochs"], recipe["model"]["encoder"]           # doctest: +SKIP
    (5, 'bilstm')
"""

from __future__ import annotations

import importlib

from slukit.errors import RecipeError
from slukit.recipe.overrides import _apply_override, apply_override
from slukit.recipe.problems import _Report
from slukit.recipe.validate import _validate, validate
from slukit.recipe.yaml_io import RecipeLoader, _key_lines, _read_yaml, dump_recipe

__all__ = ["RecipeLoader", "apply_override", "dump_recipe", "load_recipe", "validate"]

#: Names that moved to `slukit.data.sources` (imported when asked for, so that reading a
#: recipe does not import the data package).
_MOVED = {"resolve_data_paths": "slukit.data.sources", "data_root": "slukit.data.sources",
          "DATA_ENV": "slukit.data.sources", "DEFAULT_DATA_ROOT": "slukit.data.sources"}


def load_recipe(path, overrides=()) -> dict:
    """Read a recipe file, apply `--set` overrides and validate it.

    Returns the resolved recipe: a nested dict with every schema key, the
    defaults filled in and `output` set (`runs/<name>` unless given). Data
    files are not looked at; see `resolve_data_paths`.

    Raises:
        RecipeError: listing every problem (file, line, dotted key, message).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.yaml"
        >>> _ = path.write_text("{name: demo, data: {builtin: demo-en}}")
        >>> recipe = load_recipe(path, ["train.batch_size=64"])
        >>> recipe["train"]["batch_size"], recipe["output"]
        (64, 'runs/demo')
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


def __getattr__(name):
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
