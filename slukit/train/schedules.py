"""Learning-rate schedules of a training run (`train.lr_schedule`, `train.warmup_epochs`).

`EpochSchedule` is a Keras `LearningRateSchedule` written in `keras.ops`: a linear warm-up
from 0 over the first `warmup_steps` steps, then the peak rate held (`constant`) or brought
down to `final_ratio` x the peak along half a cosine (`cosine`) by the last step. `offset`
is the step the optimizer's first step stands for: a run trained in phases (transfer with
frozen layers) gets a fresh optimizer per phase, and the schedule still runs over the whole
run.

Example:
    >>> s = EpochSchedule(0.01, total_steps=100, warmup_steps=10, kind="cosine")
    >>> [round(float(s(step)), 5) for step in (0, 9, 10, 55, 99)]
    [0.001, 0.01, 0.01, 0.00496, 0.0001]
    >>> round(float(EpochSchedule(0.01, 100, kind="cosine", offset=50)(5)), 5)
    0.00419
"""

import math

import keras
from keras import ops

from slukit.registry import LR_SCHEDULES


@keras.saving.register_keras_serializable(package="slukit")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Warm-up, then constant or cosine decay, by optimizer step.

    Args:
        peak: the learning rate after warm-up (`train.learning_rate`).
        total_steps: steps of the whole run (epochs x steps per epoch).
        warmup_steps: steps of linear warm-up from `peak / warmup_steps` to `peak`.
        kind: `constant` or `cosine` (`slukit.registry.LR_SCHEDULES`).
        final_ratio: where the cosine ends, as a share of `peak`.
        offset: the run's step at this optimizer's step 0.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, kind="constant", final_ratio=0.01,
                 offset=0):
        if kind not in LR_SCHEDULES:
            raise ValueError(f"kind must be one of {LR_SCHEDULES}, got {kind!r}")
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.kind = kind
        self.final_ratio = float(final_ratio)
        self.offset = int(offset)

    def __call__(self, step):
        step = ops.cast(step, "float32") + float(self.offset)
        rate = ops.convert_to_tensor(self.peak, "float32")
        if self.kind == "cosine":
            span = float(max(self.total_steps - self.warmup_steps - 1, 1))
            done = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + ops.cos(math.pi * done))
            rate = self.peak * (self.final_ratio + (1.0 - self.final_ratio) * cosine)
        if self.warmup_steps:
            rate = rate * ops.minimum((step + 1.0) / self.warmup_steps, 1.0)
        return rate

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "kind": self.kind,
                "final_ratio": self.final_ratio, "offset": self.offset}


def learning_rate_for(train_cfg, peak, steps_per_epoch, start_epoch=0):
    """The optimizer's `learning_rate`: the plain number when the recipe asks for no
    schedule (as before), else an `EpochSchedule` over `train.epochs`."""
    kind = train_cfg.get("lr_schedule", "constant")
    warmup = train_cfg.get("warmup_epochs", 0)
    if kind == "constant" and not warmup:
        return peak
    return EpochSchedule(peak, train_cfg["epochs"] * steps_per_epoch,
                         warmup_steps=warmup * steps_per_epoch, kind=kind,
                         offset=start_epoch * steps_per_epoch)
