"""A recipe's `tune.space` as keras-tuner hyper-parameters, and chosen values as a recipe.

`declare` is the one place where the search space turns into `hp.Choice`,
`hp.Int` and `hp.Float` calls, each named by its dotted recipe key; `decode`
reads a trial's values back as recipe values and `apply_values` writes them
into a recipe. The space itself is checked by `slukit.recipe.load` (the
schema's `search_space` type) before any of this runs.

keras-tuner's choices hold plain numbers, strings or booleans; a choice of
lists (`model.embeddings`) or one with null is given to it as text labels:
`[word, char]` is `"word+char"` and null is `"null"`.

This module uses the standard library only: `hp` is whatever object keras-tuner
passes to `HyperModel.build`.

Example:
    >>> space = {"model.encoder": {"choice": ["gru", "mha"]},
    ...          "model.embeddings": {"choice": [["word"], ["word", "char"]]},
    ...          "train.learning_rate": {"float": [3e-4, 3e-3], "log": True}}
    >>> values = decode(space, {"model.encoder": "mha", "model.embeddings": "word+char",
    ...                         "train.learning_rate": 0.001})
    >>> values["model.embeddings"]
    ['word', 'char']
    >>> recipe = apply_values({"model": {"encoder": "gru"}, "train": {}}, values)
    >>> recipe["model"]["encoder"], recipe["train"]["learning_rate"]
    ('mha', 0.001)
    >>> describe(values)
    'encoder=mha embeddings=word+char learning_rate=0.001'
"""

from __future__ import annotations

import copy


def declare(hp, space: dict) -> dict:
    """Declares every entry of `space` on keras-tuner's `hp`; returns the trial's recipe values.

    Args:
        hp: a `keras_tuner.HyperParameters`.
        space: a validated `tune.space`: dotted key -> `{choice: [...]}`,
            `{int: [lo, hi], step: n}` or `{float: [lo, hi], log: true}`.

    Returns:
        `{dotted key: value}`, values as the recipe writes them.
    """
    for key, spec in space.items():
        if "choice" in spec:
            hp.Choice(key, list(choice_labels(spec["choice"])))
        else:
            kind = "int" if "int" in spec else "float"
            lo, hi = spec[kind]
            make = hp.Int if kind == "int" else hp.Float
            make(key, lo, hi, step=spec.get("step"), sampling="log" if spec.get("log") else "linear")
    return decode(space, hp.values)


def choice_labels(values: list) -> dict:
    """`{label keras-tuner holds: recipe value}` for a choice's values, in order.

    Plain values of one type are their own labels; otherwise each value gets
    a text label (`"word+char"`, `"null"`).

    Example:
        >>> choice_labels([64, 128])
        {64: 64, 128: 128}
        >>> choice_labels([["word"], ["word", "char"]])
        {'word': ['word'], 'word+char': ['word', 'char']}
    """
    plain = all(type(v) in (int, float, str, bool) for v in values) and len({type(v) for v in values}) == 1
    return {v if plain else format_value(v): v for v in values}


def decode(space: dict, hp_values: dict) -> dict:
    """The recipe values of keras-tuner's values (`hp.values` or a trial's); other keys are ignored."""
    values = {}
    for key, spec in space.items():
        if key not in hp_values:
            continue
        value = hp_values[key]
        if "choice" in spec:
            labels = choice_labels(spec["choice"])
            value = copy.deepcopy(labels[value]) if value in labels else value
        elif "int" in spec:
            value = int(value)
        else:
            value = float(value)
        values[key] = value
    return values


def apply_values(recipe: dict, values: dict) -> dict:
    """A copy of `recipe` with each dotted key of `values` set."""
    recipe = copy.deepcopy(recipe)
    for key, value in values.items():
        *sections, name = key.split(".")
        node = recipe
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = copy.deepcopy(value)
    return recipe


def format_value(value) -> str:
    """A value for tables and progress lines: `0.00123`, `word+char`, `true`, `null`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return str(value)


def short_names(keys) -> dict:
    """`{dotted key: shortest unambiguous name}`: `model.units` -> `units`.

    Example:
        >>> short_names(["model.dropout", "train.word_dropout", "model.units"])
        {'model.dropout': 'dropout', 'train.word_dropout': 'word_dropout', 'model.units': 'units'}
    """
    keys = list(keys)
    leaves = [k.rpartition(".")[2] for k in keys]
    return {k: leaf if leaves.count(leaf) == 1 else k for k, leaf in zip(keys, leaves)}


def describe(values: dict) -> str:
    """`encoder=gru units=128 ...`: a trial's values on one line."""
    names = short_names(values)
    return " ".join(f"{names[k]}={format_value(v)}" for k, v in values.items())
