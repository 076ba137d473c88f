"""Recipes: YAML files that say what to train, on which data, and how.

`schema.SCHEMA` defines every key; `load` reads, overrides, validates and
writes recipes against it.

Example:
    >>> from slukit.recipe import load_recipe, resolve_data_paths
    >>> recipe = load_recipe("recipes/atis.yaml", ["train.epochs=5"])   # doctest: +SKIP
    >>> paths = resolve_data_paths(recipe)                              # doctest: +SKIP
"""

from slukit.recipe.load import (
    apply_override,
    data_root,
    dump_recipe,
    load_recipe,
    resolve_data_paths,
    validate,
)
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
