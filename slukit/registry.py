"""Every name slukit knows, in one table: what the recipe, the data and the CLI may name.

The schema's choices, the model builder, the CLI's `choices=`, tuning, the curve
and the generated reference docs all read these; nothing else lists them. This
module uses the standard library only (it imports instantly and below everything).

- `ENCODERS`: `model.encoder` names -> `Encoder` (its factory, as a `module:attr`
  path imported when first built, or a callable; and the `model` recipe keys it
  takes). `register_encoder` adds one; the schema, the builder and the saved
  model then all know it.
- `EMBEDDINGS`: `model.embeddings` names.
- `FORMATS`: data formats (`data.format`, `--format`), each read by
  `slukit.data.formats.<name>`.
- `BUILTIN_DATASETS`: the data sets shipped with slukit (`data.builtin`).
- `SPLITS`: the data splits, in order.
- `METRICS`: the metrics of every evaluation, in `metrics.json`'s order.
- `TRANSFER_MODES`: `transfer.mode` (and `slukit curve --modes`).
- `DISTRIBUTIONS`: `train.distribution`.
- `MONITORS`: the names a run can select its best epoch by (`early_stopping.monitor`,
  `tune.objective`) -> the score of a metrics dict.

Example:
    >>> ENCODERS["mha"].keys
    ('units', 'layers', 'heads', 'dropout')
    >>> headed_encoders()
    ('mha', 'biattention')
    >>> MONITORS["joint"]({"intent_accuracy": 1.0, "slot_f1": 0.5, "sentence_accuracy": 0.5})
    0.75
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Mapping

SPLITS = ("train", "valid", "test")
FORMATS = ("seqin", "tsv", "jsonl", "massive")
BUILTIN_DATASETS = ("demo-en", "demo-de")
EMBEDDINGS = ("word", "char")
METRICS = ("intent_accuracy", "slot_f1", "sentence_accuracy")
TRANSFER_MODES = ("sequential", "joint", "joint_then_finetune")
DISTRIBUTIONS = ("default", "mirrored", "multi_worker")
LR_SCHEDULES = ("constant", "cosine")

#: Monitor name -> the score of a metrics dict (higher is better).
MONITORS: dict[str, Callable[[Mapping], float]] = {
    "joint": lambda m: (m["intent_accuracy"] + m["slot_f1"]) / 2,
    "intent_accuracy": lambda m: m["intent_accuracy"],
    "slot_f1": lambda m: m["slot_f1"],
    "sentence_accuracy": lambda m: m["sentence_accuracy"],
}

#: The `model` keys a recurrent encoder takes.
RNN_KEYS = ("units", "layers", "dropout")


@dataclasses.dataclass(frozen=True)
class Encoder:
    """One `model.encoder` choice.

    Args:
        name: str. The recipe name.
        factory: a `"module:attr"` path (imported on first use) or a callable;
            called with `fixed`, the recipe's `keys` and `name=`, it returns the
            encoder layer (`[B, T, D]` and a padding mask in, `[B, T, H]` out).
        keys: tuple of str. The recipe's `model` keys passed to the factory.
        fixed: dict. Further keyword arguments, the same for every recipe.
    """

    name: str
    factory: str | Callable
    keys: tuple = RNN_KEYS
    fixed: Mapping = dataclasses.field(default_factory=dict)

    def resolve(self) -> Callable:
        """The factory itself (importing its module when it is a path)."""
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, **kwargs):
        """The encoder layer: `factory(**fixed, **kwargs)`."""
        return self.resolve()(**self.fixed, **kwargs)


ENCODERS: dict[str, Encoder] = {}


def register_encoder(name: str, factory: str | Callable, keys=RNN_KEYS, fixed=None) -> None:
    """Registers an encoder under `name`: a `model.encoder` choice from then on, built
    by `factory` from the recipe's `keys` (see `Encoder`). Register it again, before
    loading, in any process that loads a model trained with it.

    Example:
        >>> register_encoder("bilstm", "slukit.models.encoders:BiRNNEncoder",
        ...                  fixed={"cell": "lstm"})   # the same again: nothing changes
        >>> list(ENCODERS)
        ['bilstm', 'gru', 'highway_lstm', 'mha', 'biattention']
    """
    unknown = [k for k in keys if k not in ENCODER_RECIPE_KEYS]
    if unknown:
        raise ValueError(f"register_encoder({name!r}): {unknown} are not `model` keys an "
                         f"encoder can take; choose out of {', '.join(ENCODER_RECIPE_KEYS)}")
    ENCODERS[name] = Encoder(name, factory, tuple(keys), dict(fixed or {}))


def register_embedding(name: str) -> None:
    """Adds an embedding name to `EMBEDDINGS` (the choices of `model.embeddings`)."""
    global EMBEDDINGS
    if name not in EMBEDDINGS:
        EMBEDDINGS = EMBEDDINGS + (name,)


def headed_encoders() -> tuple:
    """The encoders that take `model.heads` (which must then divide `model.units`)."""
    return tuple(name for name, encoder in ENCODERS.items() if "heads" in encoder.keys)


#: The `model` keys an encoder may take.
ENCODER_RECIPE_KEYS = ("units", "layers", "heads", "dropout")

register_encoder("bilstm", "slukit.models.encoders:BiRNNEncoder", fixed={"cell": "lstm"})
register_encoder("gru", "slukit.models.encoders:BiRNNEncoder", fixed={"cell": "gru"})
register_encoder("highway_lstm", "slukit.models.encoders:BiRNNEncoder",
                 fixed={"cell": "lstm", "highway": True})
register_encoder("mha", "slukit.models.encoders:SelfAttentionEncoder",
                 keys=("units", "layers", "heads", "dropout"))
register_encoder("biattention", "slukit.models.encoders:BiAttentionEncoder",
                 keys=("units", "layers", "heads", "dropout"))
