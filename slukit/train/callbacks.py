"""The Keras callbacks of a training run: validation with early stopping, and Ctrl-C.

`ValidationMonitor` scores the validation data after each epoch (in a multi-worker
run the chief scores and tells the others), keeps the best epoch's weights and
stops after `patience` epochs without improvement; `InterruptCheck` ends the epoch
loop cleanly when Ctrl-C was pressed.
"""

import contextlib

import keras

from slukit import interrupt
from slukit.models.crf import copy_transitions
from slukit.registry import METRICS, MONITORS
from slukit.train.inference import evaluate_examples


class ValidationMonitor(keras.callbacks.Callback):
    """Scores the validation set after each epoch, keeps the best weights,
    stops after `patience` epochs without improvement, and restores the best
    weights at the end (also when training ran all its epochs).

    With a multi-worker `distribution`, the chief scores and decides for all
    workers (see `judge`)."""

    def __init__(self, preprocessor, examples, monitor="joint", patience=0, batch_size=64,
                 distribution=None):
        super().__init__()
        self.preprocessor = preprocessor
        self.examples = examples
        self.score = MONITORS[monitor]
        self.patience = patience
        self.batch_size = batch_size
        self.distribution = distribution
        self.best = -1.0
        self.best_epoch = None
        self.best_weights = None
        self.best_metrics = None

    def on_epoch_end(self, epoch, logs=None):
        metrics, improved, stop = self.judge(epoch)
        if logs is not None:
            for key in METRICS:
                logs[f"val_{key}"] = metrics[key]
            logs["val_best"] = improved
        if improved:
            self.best, self.best_epoch, self.best_metrics = self.score(metrics), epoch, metrics
            with averaged_weights(self.model):  # the weights that were scored
                self.best_weights = self.model.get_weights()
        elif stop:
            self.model.stop_training = True

    def judge(self, epoch):
        """This epoch's validation metrics, whether they are the best so far, and
        whether to stop. In a multi-worker run the chief scores and decides, and
        every worker gets its metrics and decisions, so all stop together."""
        dist, metrics, improved, stop = self.distribution, None, False, False
        if dist is None or dist.is_chief:
            if not hasattr(self, "predictor"):
                self.predictor = dist.predictor(self.model) if dist else self.model
            with averaged_weights(self.model):
                copy_transitions(self.model, self.preprocessor)
                metrics = evaluate_examples(self.predictor, self.preprocessor, self.examples,
                                            self.batch_size)
                improved = self.score(metrics) > self.best
            stop = not improved and bool(self.patience) and epoch - self.best_epoch >= self.patience
        if dist is not None and dist.workers > 1:
            keys = METRICS
            sent = [metrics[k] for k in keys] + [improved, stop] if metrics else [0.0] * 5
            received = dist.from_chief(sent)
            metrics = {**(metrics or {}), **dict(zip(keys, received[:3]))}
            improved, stop = bool(received[3]), bool(received[4])
        return metrics, improved, stop

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


@contextlib.contextmanager
def averaged_weights(model):
    """Inside, `model` holds its optimizer's moving averages of the weights (`train.ema`);
    afterwards, the weights it trains on again. Without `use_ema`, nothing changes.

    The transitions of a CRF are copied to the preprocessor inside, so that decoding uses the
    averaged ones too.
    """
    optimizer = getattr(model, "optimizer", None)
    if not getattr(optimizer, "use_ema", False) or not optimizer.built:
        yield
        return
    variables = list(model.trainable_variables)
    trained = [keras.ops.convert_to_numpy(v) for v in variables]
    # As Keras's SwapEMAWeights does, but through numpy copies: on JAX, assigning the average
    # itself would share its buffer, which the next training step donates.
    averages = optimizer._model_variables_moving_average
    for variable in variables:
        average = averages[optimizer._get_variable_index(variable)]
        variable.assign(keras.ops.convert_to_numpy(average))
    try:
        yield
    finally:
        for variable, value in zip(variables, trained):
            variable.assign(value)


class InterruptCheck(keras.callbacks.Callback):
    """Raises a Ctrl-C that a guarded callback swallowed (see `slukit.interrupt`)."""

    def on_train_batch_end(self, batch, logs=None):
        interrupt.check()

    def on_epoch_end(self, epoch, logs=None):
        interrupt.check()
