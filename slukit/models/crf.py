"""A linear-chain CRF over the slot head (`model.slot_decoder: crf`), in `keras.ops`.

The slot head still outputs per-token tag probabilities; `SlotCRF` passes them
through unchanged and owns the learned transition scores between tags (plus a
score for starting and for ending on each tag). Training uses
`CRFLoss`, the negative log-likelihood of the gold tag sequence under
emission scores `log p(tag | token)` plus transitions. Decoding is the Viterbi
search that Python (`SLUPreprocessor.decode_tags`), the SavedModel and the
light runtime already share: the transitions are copied into the model
directory's `preprocessor.json` (`slot_transitions`), so an exported graph
still outputs emission probabilities only.

Tag 0 (`<pad>`) is never a target: the CRF is over tags 1..K-1.

Example:
    >>> import numpy as np
    >>> crf = SlotCRF(num_tags=3)
    >>> probs = np.full((1, 2, 3), 1 / 3, "float32")
    >>> bool(np.allclose(crf(probs), probs))   # an identity on the probabilities
    True
    >>> labels = np.array([[1, 2]])
    >>> nll = crf_negative_log_likelihood(np.log(probs[..., 1:]), labels - 1, labels > 0,
    ...                                   crf.start, crf.transitions, crf.end)
    >>> round(float(nll[0]), 4) == round(float(np.log(4.0)), 4)  # uniform: 1 of 2*2 paths
    True
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="slukit")
class SlotCRF(keras.layers.Layer):
    """Identity on `[B, T, num_tags]` tag probabilities that owns a CRF's scores.

    Weights (over the `num_tags - 1` real tags; `<pad>` excluded):
    `transitions [K, K]` (from, to), `start [K]`, `end [K]`, all starting at 0.

    Args:
        num_tags: int. Slot tags including `<pad>` at 0.
    """

    def __init__(self, num_tags, **kwargs):
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        self.supports_masking = True
        real = self.num_tags - 1
        self.transitions = self.add_weight(shape=(real, real), initializer="zeros",
                                           name="transitions")
        self.start = self.add_weight(shape=(real,), initializer="zeros", name="start")
        self.end = self.add_weight(shape=(real,), initializer="zeros", name="end")

    def call(self, probs):
        # A new tensor (the same values), so that it does not carry the input's Keras mask.
        return ops.multiply(probs, 1.0)

    def compute_mask(self, probs, mask=None):
        # No mask on the output: `CRFLoss` masks padding from the gold tags itself, and
        # Keras would otherwise multiply its per-utterance loss by a per-token mask.
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def scores(self):
        """The learned scores as numpy arrays: `(start [K], transitions [K, K], end [K])`."""
        return tuple(ops.convert_to_numpy(w) for w in (self.start, self.transitions, self.end))

    def get_config(self):
        config = super().get_config()
        config.update(num_tags=self.num_tags)
        return config


def crf_negative_log_likelihood(emissions, labels, mask, start, transitions, end):
    """Per utterance: `-log p(labels | emissions)` under a linear-chain CRF.

    Args:
        emissions: `[B, T, K]` unary scores (here log-probabilities).
        labels: `[B, T]` int gold tags in `[0, K)` (any value past the mask).
        mask: `[B, T]` bool, True on real tokens; padding only at the end.
        start, transitions, end: `[K]`, `[K, K]`, `[K]` scores.

    Returns `[B]`; 0 for an utterance without tokens.
    """
    emissions = ops.convert_to_tensor(emissions)
    dtype = emissions.dtype
    num_tags = ops.shape(emissions)[-1]
    labels = ops.where(mask, ops.cast(labels, "int32"), 0)
    maskf = ops.cast(mask, dtype)
    onehot = ops.one_hot(labels, num_tags, dtype=dtype)  # [B, T, K]

    # The gold path's score.
    unary = ops.sum(ops.sum(onehot * emissions, axis=-1) * maskf, axis=-1)
    first = ops.sum(onehot[:, 0] * start, axis=-1) * maskf[:, 0]
    pair_mask = maskf[:, 1:]
    pairs = ops.einsum("bti,ij,btj->bt", onehot[:, :-1], transitions, onehot[:, 1:])
    binary = ops.sum(pairs * pair_mask, axis=-1)
    # The last real token is where the mask goes from 1 to 0 (or the last position).
    next_mask = ops.concatenate([maskf[:, 1:], ops.zeros_like(maskf[:, :1])], axis=1)
    is_last = maskf * (1.0 - next_mask)  # [B, T]
    last = ops.sum(ops.sum(onehot * ops.expand_dims(is_last, -1), axis=1) * end, axis=-1)
    gold = unary + first + binary + last

    # The partition function, by the forward algorithm over time.
    alpha0 = start + emissions[:, 0]  # [B, K]
    # One tensor per step, `[T-1, B, K + 1]`: the emissions and the mask.
    steps = ops.transpose(ops.concatenate([emissions[:, 1:], ops.expand_dims(maskf[:, 1:], -1)],
                                          axis=-1), (1, 0, 2))

    def step(alpha, inputs):
        emission, m = inputs[:, :-1], inputs[:, -1:]
        scores = ops.expand_dims(alpha, 2) + transitions[None]  # [B, from, to]
        new = ops.logsumexp(scores, axis=1) + emission
        alpha = m * new + (1.0 - m) * alpha
        return alpha, alpha

    alpha, _ = ops.scan(step, alpha0, steps)
    log_z = ops.logsumexp(alpha + end, axis=-1)
    return (log_z - gold) * maskf[:, 0]


@keras.saving.register_keras_serializable(package="slukit")
class CRFLoss(keras.losses.Loss):
    """The CRF negative log-likelihood of the gold tags, per real token.

    `y_true` is `[B, T]` (or `[B, T, 1]`) tag ids with `<pad>` = 0 at padding,
    `y_pred` the slot head's probabilities `[B, T, num_tags]`. The emission
    scores are the log-probabilities of the real tags. Under Keras's default
    reduction the batch's loss is its summed negative log-likelihood divided
    by its real tokens, the scale of the token-level cross-entropy.

    Args:
        crf: the model's `SlotCRF` layer (its weights are trained through this loss).
    """

    def __init__(self, crf, name="crf_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.crf = crf

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        mask = ops.not_equal(y_true, 0)
        emissions = ops.log(ops.clip(y_pred[..., 1:], 1e-7, 1.0))
        nll = crf_negative_log_likelihood(emissions, y_true - 1, mask, self.crf.start,
                                          self.crf.transitions, self.crf.end)
        tokens = ops.sum(ops.cast(mask, nll.dtype))
        batch = ops.cast(ops.shape(nll)[0], nll.dtype)
        return nll * batch / ops.maximum(tokens, 1.0)

    def get_config(self):  # the layer is attached at compile time, not serialized
        return {"name": self.name}


def copy_transitions(model, preprocessor):
    """Copies the model's learned CRF scores into `preprocessor.slot_transitions`
    (the decoder of every runtime reads them from there); a no-op for a model
    without a `slot_crf` layer. Call it before decoding and before saving."""
    try:
        crf = model.get_layer("slot_crf")
    except ValueError:
        return
    start, step, end = crf.scores()
    preprocessor.slot_transitions = {"start": start.tolist(), "step": step.tolist(),
                                     "end": end.tolist()}


def slot_loss(model, fallback):
    """The slot loss to compile `model` with: `CRFLoss` when it has a CRF, else `fallback`."""
    try:
        return CRFLoss(model.get_layer("slot_crf"))
    except ValueError:
        return fallback
