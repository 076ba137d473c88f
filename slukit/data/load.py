"""Loads a recipe's data splits: built-in, or files under `data.root`.

Example:
    >>> splits = load_splits({"data": {"builtin": "demo-en", "train_fraction": 0.5},
    ...                       "train": {"seed": 0}})
    >>> sorted(splits), len(splits["train"]), len(splits["valid"])
    (['test', 'train', 'valid'], 300, 100)
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
    return [examples[i] for i in fraction_indices(len(examples), fraction, seed)]


def fraction_indices(n, fraction, seed):
    """The sorted indices, out of `n`, that `sample_fraction` keeps (at least one)."""
    k = max(1, round(n * fraction))
    return sorted(random.Random(seed).sample(range(n), k))


def load_splits(recipe, warn=None, stream=False, info=None):
    """Reads train/valid/test; applies `data.train_fraction` to train only.

    Returns `{"train": [...], "valid": [...] or None, "test": [...] or None}`.
    Each file is read with its split's name, so one MASSIVE file that mixes
    partitions may be named for all three splits (see `read_examples`).

    With `stream`, the training split is a `slukit.data.stream.TrainStream`
    when `data.stream` asks for it: scanned (every line checked, the
    vocabulary counted) but not held in memory. `warn` is told of problems,
    `info` (or else `warn`) of what code-switching did.
    """
    if isinstance(recipe["data"], list):
        return _load_several(recipe, warn, info)
    on_error = recipe["data"].get("on_error", "fail")
    splits = {}
    for split, (path, fmt) in split_paths(recipe).items():
        if split == "train" and stream and _streamed(recipe, path):
            splits[split] = _train_stream(recipe, path, fmt, warn)
            continue
        splits[split] = (read_examples(path, format=fmt, on_error=on_error, warn=warn, split=split)
                         if path is not None else None)
    if not isinstance(splits["train"], list):
        return splits  # streamed: train_fraction applied by the stream; no code_switch
    splits["train"] = sample_fraction(splits["train"], recipe["data"].get("train_fraction", 1.0),
                                      recipe["train"].get("seed", 0))
    if recipe["data"].get("code_switch"):
        from slukit.data.code_switch import apply_code_switch

        splits["train"] = apply_code_switch(
            splits["train"], recipe["data"]["code_switch"], recipe["train"].get("seed", 0),
            lowercase=recipe.get("model", {}).get("lowercase", True), report=info or warn)
    return splits


def dataset_recipes(recipe):
    """One recipe per data set of a recipe whose `data` is a list (`source.data` with
    several source languages); the recipe itself when `data` is one section."""
    data = recipe["data"]
    if not isinstance(data, list):
        return [recipe]
    return [{**recipe, "data": item} for item in data]


def _load_several(recipe, warn, info):
    """The splits of several data sets, concatenated (held in memory; each data set
    read, sampled and code-switched as its own section says)."""
    splits = {"train": [], "valid": None, "test": None}
    for one in dataset_recipes(recipe):
        part = load_splits(one, warn=warn, stream=False, info=info)
        splits["train"].extend(part["train"])
        for split in ("valid", "test"):
            if part[split]:
                splits[split] = (splits[split] or []) + list(part[split])
    return splits


def _streamed(recipe, path):
    from slukit.data.stream import wants_stream

    return wants_stream(recipe["data"], path)


def _train_stream(recipe, path, fmt, warn):
    """The scanned `TrainStream` of a recipe's training data."""
    from slukit.data.stream import SHUFFLE_BUFFER, TrainStream

    data = recipe["data"]
    stream = TrainStream(path, fmt, on_error=data.get("on_error", "fail"),
                         fraction=data.get("train_fraction", 1.0),
                         seed=recipe["train"].get("seed", 0),
                         shuffle_buffer=data.get("shuffle_buffer", SHUFFLE_BUFFER))
    return stream.scan(warn)


def unseen_labels(train, examples, split, limit=5):
    """Messages about intents and tags of `examples` that `train` lacks.

    `train` is the training examples, or a scanned `TrainStream` (its counts
    are used). They are not errors: evaluation counts them as mistakes. Each
    message names the label, how often it occurs, and where (file:line) it
    first does.
    """
    counts = getattr(train, "counts", None)
    intents = set(counts.intents) if counts is not None else {ex.intent for ex in train}
    tags = set(counts.tags) if counts is not None else {t for ex in train for t in ex.tags}
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
