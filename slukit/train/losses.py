"""Training losses: sparse cross-entropy with optional label smoothing.

Keras's `SparseCategoricalCrossentropy` has no `label_smoothing`; this one does, and like it
ignores a padding class (slot label 0) so padded positions add nothing to the mean.

Example:
    >>> loss = SmoothedSparseCrossentropy(label_smoothing=0.1, ignore_class=0)
    >>> loss.ignore_class
    0
    >>> sorted(joint_losses(0.1))    # the trainer compiles with these
    ['intent', 'slots']
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="slukit")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities, with label smoothing.

    The target puts `1 - label_smoothing` on the true class and spreads `label_smoothing`
    evenly over all classes (as `keras.losses.CategoricalCrossentropy(label_smoothing=...)`):
    loss = (1 - e) * -log p[y] + e * mean_k(-log p[k]).

    Args:
        label_smoothing: e in [0, 1).
        ignore_class: a label whose positions are masked out of the loss (None: none).
    """

    def __init__(self, label_smoothing=0.0, ignore_class=None, name="smoothed_sparse_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        log_probs = ops.log(ops.clip(y_pred, keras.config.epsilon(), 1.0))
        classes = ops.shape(y_pred)[-1]
        true_log_prob = ops.sum(ops.one_hot(y_true, classes, dtype=log_probs.dtype) * log_probs,
                                axis=-1)
        loss = -(1.0 - self.label_smoothing) * true_log_prob \
            - self.label_smoothing * ops.mean(log_probs, axis=-1)
        if self.ignore_class is not None:
            # Zero the ignored positions and scale the rest by all / valid, so the
            # default "sum_over_batch_size" reduction gives the mean over valid positions
            # (what Keras's ignore_class does through a private mask API).
            valid = ops.cast(ops.not_equal(y_true, self.ignore_class), loss.dtype)
            count = ops.cast(ops.size(valid), loss.dtype)
            loss = loss * valid * count / ops.maximum(ops.sum(valid), 1.0)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, ignore_class=self.ignore_class)
        return config


def joint_losses(label_smoothing=0.0):
    """The intent and slot losses: Keras's own sparse cross-entropy without smoothing
    (so runs without it are unchanged), `SmoothedSparseCrossentropy` with it.

        >>> joint_losses(0.1)["slots"].ignore_class
        0
    """
    if not label_smoothing:
        return {"intent": keras.losses.SparseCategoricalCrossentropy(),
                "slots": keras.losses.SparseCategoricalCrossentropy(ignore_class=0)}
    return {"intent": SmoothedSparseCrossentropy(label_smoothing),
            "slots": SmoothedSparseCrossentropy(label_smoothing, ignore_class=0)}
