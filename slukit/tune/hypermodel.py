"""`SLUHyperModel`: keras-tuner's view of a recipe with a `tune` section.

`build(hp)` declares the recipe's search space on `hp` (`slukit.tune.space.declare`,
the one place that does) and builds the model with the same `build_model` as
`slukit train`; `fit(hp, model)` trains it with the trainer's `fit` (bucketed
batches, validation scoring, early stopping on the tune objective, the best
epoch's weights kept) and returns the validation scores of the best epoch.

Example:
    >>> import keras_tuner
    >>> hypermodel = SLUHyperModel(recipe, splits)                      # doctest: +SKIP
    >>> tuner = keras_tuner.RandomSearch(hypermodel, objective=keras_tuner.Objective(
    ...     "val_joint", "max"), max_trials=20, directory="runs/x-tune",
    ...     project_name="search")                                      # doctest: +SKIP
    >>> objective_name("slot_f1")
    'val_slot_f1'
"""

import copy

import keras
import keras_tuner

from slukit.models.builder import build_model, load_word_vectors
from slukit.registry import METRICS, MONITORS
from slukit.train.distribute import get_distribution
from slukit.train.progress import Reporter
from slukit.train.trainer import fit, set_seed
from slukit.workflows.steps import fit_preprocessor
from slukit.tune.space import apply_values, declare

#: Model settings that change the preprocessor (vocabularies, text rules).
PREPROCESSOR_KEYS = ("embeddings", "lowercase", "min_word_count", "max_word_chars", "slot_decoding")


def objective_name(objective: str) -> str:
    """The name keras-tuner tracks a `tune.objective` under.

        >>> objective_name("joint")
        'val_joint'
    """
    return f"val_{objective}"


class SLUHyperModel(keras_tuner.HyperModel):
    """A recipe's search space over `build_model`, trained by the trainer's `fit`.

    Each trial is the recipe with the space's values applied. Vocabularies are
    fitted on the training split once per distinct preprocessor setting (once,
    unless the space searches `model.embeddings`, `model.lowercase`, ...).

    Args:
        recipe: a validated recipe with a `tune` section.
        splits: `{"train": [...], "valid": [...]}` `Example`s (valid is required).
        reporter: prints each trial's epochs; default: silent.

    Example:
        >>> model = SLUHyperModel(recipe, splits).build(
        ...     keras_tuner.HyperParameters())                          # doctest: +SKIP
    """

    def __init__(self, recipe, splits, reporter=None):
        super().__init__(name=recipe["name"])
        self.recipe = recipe
        self.space = recipe["tune"]["space"]
        self.splits = splits
        self.reporter = reporter or Reporter(quiet=True)
        self.keep_checkpoints = True
        #: Which training of the current trial this is (`tune.executions_per_trial`); adds to the seed.
        self.execution = 0
        #: `train.distribute` (default or mirrored): every trial is built in its scope and trained with it.
        self.distribution = get_distribution(recipe["train"])
        self._preprocessors = {}

    def trial_recipe(self, hp) -> dict:
        """The recipe that the trial `hp` describes: the space's values applied."""
        return apply_values(self.recipe, declare(hp, self.space))

    def preprocessor(self, model_cfg):
        """The preprocessor fitted on the training split for these model settings (cached)."""
        key = repr([model_cfg[k] for k in PREPROCESSOR_KEYS])
        if key not in self._preprocessors:
            self._preprocessors[key] = fit_preprocessor(self.splits["train"], model_cfg)
        return self._preprocessors[key]

    def build(self, hp):
        recipe = self.trial_recipe(hp)
        model_cfg, train_cfg = recipe["model"], recipe["train"]
        set_seed(train_cfg["seed"] + self.execution, train_cfg["jit_compile"])
        preprocessor = self.preprocessor(model_cfg)
        with self.distribution.scope():
            model = build_model(model_cfg, preprocessor)
            load_word_vectors(model, preprocessor, model_cfg, seed=train_cfg["seed"])
        return model

    def fit(self, hp, model, *args, epochs=None, initial_epoch=0, callbacks=(), **kwargs):
        """Trains `model` and returns `{val_<objective>: best score, val_<metric>: ..., ...}`.

        `epochs` and `initial_epoch` come from hyperband, which continues
        promising trials from their saved weights; otherwise a trial trains for
        `tune.max_epochs` (null: `train.epochs`), less if early stopping ends it.
        """
        recipe = self.trial_recipe(hp)
        tune = recipe["tune"]
        train_cfg = copy.deepcopy(recipe["train"])
        train_cfg["seed"] += self.execution
        train_cfg["epochs"] = max((epochs or tune["max_epochs"] or train_cfg["epochs"]) - initial_epoch, 1)
        train_cfg["early_stopping"]["monitor"] = tune["objective"]
        if not self.keep_checkpoints:  # only hyperband reads a trial's weights back
            callbacks = [c for c in callbacks if type(c).__name__ != "SaveBestEpoch"]
        scores = ObjectiveLogger(tune["objective"])
        info = fit(model, self.preprocessor(recipe["model"]), self.splits["train"],
                   self.splits["valid"], train_cfg, self.reporter,
                   extra_callbacks=[scores, *callbacks], distribution=self.distribution)
        self.execution += 1
        if scores.best is None:
            raise keras_tuner.errors.FailedTrialError("the trial trained no epoch")
        return {
            **scores.best,
            "best_epoch": float(initial_epoch + info["best_epoch"]),
            "epochs_run": float(initial_epoch + info["epochs_run"]),
            "train_seconds": float(info["train_seconds"]),
            "parameters": float(model.count_params()),
        }


class ObjectiveLogger(keras.callbacks.Callback):
    """Adds `val_<objective>` to each epoch's logs (from the `val_*` metrics that
    `ValidationMonitor` put there) and keeps the best epoch's scores.

    keras-tuner's callbacks, which run after it, read the objective from the logs.
    """

    def __init__(self, objective):
        super().__init__()
        self.name = objective_name(objective)
        self.score = MONITORS[objective]
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or f"val_{METRICS[0]}" not in logs:
            return
        metrics = {m: float(logs[f"val_{m}"]) for m in METRICS}
        logs[self.name] = score = float(self.score(metrics))
        if self.best is None or score > self.best[self.name]:
            self.best = {**{f"val_{m}": v for m, v in metrics.items()}, self.name: score}
