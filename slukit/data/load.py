"""Loads a recipe's data splits: built-in, or files under `data.root`.

Example:
    >>> splits = load_splits({"data": {"builtin": "demo-en", "train_fraction": 1.0},
    ...                       "train": {"seed": 0}})     # doctest: +SKIP
    >>> sorted(splits)                                   # doctest: +SKIP
    ['test', 'train', 'valid']
"""

import random

from slukit.data.readers import read_examples

SPLITS = ("train", "valid", "test")


def split_paths(recipe):
    """`{split: (path or None, format or None)}` for a validated recipe."""
    data = recipe["data"]
    if data.get("builtin"):
        from slukit.data.demo import builtin_path

        return {s: (builtin_path(data["builtin"], s), "jsonl") for s in SPLITS}
    from slukit.recipe.load import resolve_data_paths

    paths = resolve_data_paths(recipe)
    return {s: (paths.get(s), paths.get("format")) for s in SPLITS}


def sample_fraction(examples, fraction, seed):
    """A reproducible random `fraction` of `examples` (at least one), in file order."""
    if fraction >= 1.0:
        return list(examples)
    k = max(1, round(len(examples) * fraction))
    keep = sorted(random.Random(seed).sample(range(len(examples)), k))
    return [examples[i] for i in keep]


def load_splits(recipe, warn=None):
    """Reads train/valid/test; applies `data.train_fraction` to train only.

    Returns `{"train": [...], "valid": [...] or None, "test": [...] or None}`.
    Each file is read with its split's name, so one MASSIVE file that mixes
    partitions may be named for all three splits (see `read_examples`).
    """
    on_error = recipe["data"].get("on_error", "fail")
    splits = {}
    for split, (path, fmt) in split_paths(recipe).items():
        splits[split] = (read_examples(path, format=fmt, on_error=on_error, warn=warn, split=split)
                         if path is not None else None)
    splits["train"] = sample_fraction(splits["train"], recipe["data"].get("train_fraction", 1.0),
                                      recipe["train"].get("seed", 0))
    if recipe["data"].get("code_switch"):
        from slukit.data.code_switch import apply_code_switch

        splits["train"] = apply_code_switch(
            splits["train"], recipe["data"]["code_switch"], recipe["train"].get("seed", 0),
            lowercase=recipe.get("model", {}).get("lowercase", True), report=warn)
    return splits


def unseen_labels(train, examples, split, limit=5):
    """Messages about intents and tags of `examples` that `train` lacks.

    They are not errors: evaluation counts them as mistakes. Each message names
    the label, how often it occurs, and where (file:line) it first does.
    """
    intents = {ex.intent for ex in train}
    tags = {t for ex in train for t in ex.tags}
    found = {}
    for ex in examples:
        if ex.intent not in intents:
            found.setdefault(("intent", ex.intent), []).append(ex.source)
        for t in set(ex.tags) - tags:
            found.setdefault(("slot tag", t), []).append(ex.source)
    if not found:
        return []
    lines = [f"{kind} {label!r} ({len(where)}x, first at {where[0]})"
             for (kind, label), where in sorted(found.items())]
    head = (f"{split}: {len(found)} label(s) never seen in train; "
            "they count as errors in evaluation:")
    more = [f"... and {len(lines) - limit} more"] if len(lines) > limit else []
    return [head] + ["  " + line for line in lines[:limit] + more]
