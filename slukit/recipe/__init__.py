"""Recipes: YAML files that say what to train, on which data, and how.

`schema.SCHEMA` defines every key; `load` reads, overrides, validates and
writes recipes against it.

Example:
    >>> from slukit.recipe import load_recipe, resolve_data_paths
    >>> recipe = load_recipe("recipes/atis.yaml", ["train.epochs=5"])   # doctest: +SKIP
    >>> paths = resolve_data_paths(recipe)                              # doctest: +SKIP
"""

import importlib

from slukit.recipe.load import load_recipe
from slukit.recipe.overrides import apply_override
from slukit.recipe.validate import validate
from slukit.recipe.yaml_io import dump_recipe
from slukit.recipe.schema import (
    REQUIRED,
    SCHEMA,
    Field,
    defaults,
    get_field,
    iter_fields,
    register_embedding,
    register_encoder,
)

__all__ = [
    "REQUIRED",
    "SCHEMA",
    "Field",
    "apply_override",
    "data_root",
    "defaults",
    "dump_recipe",
    "get_field",
    "iter_fields",
    "load_recipe",
    "register_embedding",
    "register_encoder",
    "resolve_data_paths",
    "validate",
]

#: Data paths are `slukit.data.sources`' concern; these stay importable from here.
_DATA_SOURCES = ("data_root", "resolve_data_paths")


def __getattr__(name):
    if name in _DATA_SOURCES:
        return getattr(importlib.import_module("slukit.data.sources"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
