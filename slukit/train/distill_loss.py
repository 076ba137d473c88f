"""The distillation loss: gold labels and a teacher ensemble's soft distribution, in `keras.ops`.

`y_true` carries both targets in one float tensor, so that the trainer's batches
and Keras's loss plumbing stay as they are: its first channel is the gold id
(as a float), the rest the teachers' averaged probabilities over the same
labels. For the intent `y_true` is `[B, 1 + num_intents]`; for the slots
`[B, T, 1 + num_tags]` with gold tag 0 (`<pad>`) and an all-zero distribution
at padding (`soft_targets` packs them).

The loss is `(1 - weight) * gold + weight * soft`:

- `gold` is the recipe's usual loss on the gold ids (`gold_loss`): a
  cross-entropy with `train.label_smoothing`, or the CRF's negative
  log-likelihood (`slukit.models.crf.CRFLoss`) with `model.slot_decoder: crf`;
- `soft` is the cross-entropy `-sum_k q_k log p_k` of the student's
  probabilities `p` against the teachers' `q`, per utterance for the intent and
  per real token for the tags. With a CRF the soft term is this token-level
  cross-entropy on the slot head's probabilities (the CRF's emissions), added
  to the CRF's sequence loss; the teachers give no distribution over whole
  tag sequences.

With a `temperature` T other than 1, both distributions are softened
(`p^(1/T)`, renormalised) in the soft term, which is scaled by T² (Hinton et
al.) so that its gradients keep their size.

Padding is excluded as in `slukit.train.losses.SmoothedSparseCrossentropy`:
under Keras's default reduction the batch's slot loss is the mean over its
real tokens.

Example:
    >>> import numpy as np
    >>> gold = np.array([1, 0]); soft = np.array([[0.2, 0.8], [0.5, 0.5]])
    >>> y_true = pack_targets(gold, soft)
    >>> y_true.tolist()
    [[1.0, 0.20000000298023224, 0.800000011920929], [0.0, 0.5, 0.5]]
"""

import keras
import numpy as np
from keras import ops

from slukit.train.losses import SmoothedSparseCrossentropy


def pack_targets(gold, soft):
    """`y_true` for `DistillationLoss`: gold ids `[...]` and soft probabilities `[..., K]`
    as one float32 array `[..., 1 + K]`."""
    gold = np.asarray(gold, dtype="float32")[..., None]
    return np.concatenate([gold, np.asarray(soft, dtype="float32")], axis=-1)


def _log_probs(probs, temperature):
    """log of `probs` (softened by `temperature` and renormalised when it is not 1)."""
    log_p = ops.log(ops.clip(probs, keras.config.epsilon(), 1.0))
    if temperature != 1.0:
        log_p = ops.log_softmax(log_p / temperature, axis=-1)
    return log_p


@keras.saving.register_keras_serializable(package="slukit")
class DistillationLoss(keras.losses.Loss):
    """`(1 - weight) * gold_loss(gold ids) + weight * T² * cross-entropy(teachers, student)`.

    Args:
        gold_loss: the loss of the gold ids (a Keras loss whose `call` gives per-sample
            values: `SmoothedSparseCrossentropy`, `CRFLoss`).
        weight: the soft term's share, in [0, 1].
        temperature: T > 0 of the soft term.
        ignore_class: a gold id whose positions count in neither term (0 for slots:
            `<pad>`); None for the intent.
    """

    def __init__(self, gold_loss, weight=0.5, temperature=1.0, ignore_class=None,
                 name="distillation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gold_loss = gold_loss
        self.weight = float(weight)
        self.temperature = float(temperature)
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        gold_ids = ops.cast(ops.round(y_true[..., 0]), "int32")
        soft = y_true[..., 1:]
        log_p = _log_probs(y_pred, self.temperature)
        cross = -ops.sum(soft * log_p, axis=-1) * (self.temperature ** 2)  # y_pred's shape less K
        if self.ignore_class is not None:
            valid = ops.cast(ops.not_equal(gold_ids, self.ignore_class), cross.dtype)
            count = ops.cast(ops.size(valid), cross.dtype)
            cross = cross * valid * count / ops.maximum(ops.sum(valid), 1.0)
        if self.weight == 1.0:
            return cross
        gold = self.gold_loss.call(gold_ids, y_pred)
        if len(gold.shape) < len(cross.shape):
            # A per-utterance gold loss (the CRF's): the soft term per utterance too, so
            # that the batch mean is still the mean over real tokens.
            cross = ops.mean(cross, axis=-1)
        if self.weight == 0.0:
            return gold
        return (1.0 - self.weight) * gold + self.weight * cross

    def get_config(self):  # built by `distill_losses` at compile time, not serialized
        return {"name": self.name, "weight": self.weight, "temperature": self.temperature,
                "ignore_class": self.ignore_class}


def distill_losses(model, train_cfg, distill_cfg):
    """The `{"intent", "slots"}` losses to compile a student with: `DistillationLoss`
    over the recipe's own gold losses (label smoothing, a CRF's likelihood)."""
    from slukit.models.crf import slot_loss

    smoothing = train_cfg["label_smoothing"]
    gold = {"intent": SmoothedSparseCrossentropy(smoothing),
            "slots": slot_loss(model, SmoothedSparseCrossentropy(smoothing, ignore_class=0))}
    weight, temperature = distill_cfg["weight"], distill_cfg["temperature"]
    return {"intent": DistillationLoss(gold["intent"], weight, temperature),
            "slots": DistillationLoss(gold["slots"], weight, temperature, ignore_class=0)}
