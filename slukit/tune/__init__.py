"""Hyper-parameter search over recipes with keras-tuner (`slukit tune`).

- `slukit.tune.space`: the recipe's `tune.space` as `hp.Choice` / `hp.Int` /
  `hp.Float` calls, and a trial's values back into a recipe (standard library only).
- `slukit.tune.hypermodel`: `SLUHyperModel`, a `keras_tuner.HyperModel` whose
  `build` uses `build_model` and whose `fit` uses the trainer's `fit`.
- `slukit.tune.search`: `tune_recipe`: the tuner, resuming, progress, distributed
  roles, and the outputs (trials.csv, best_recipe.yaml).

Importing this package imports neither keras-tuner, Keras nor TensorFlow.

Example:
    >>> from slukit.tune import tune_recipe        # doctest: +SKIP
    >>> result = tune_recipe(recipe)                # doctest: +SKIP
    >>> result.best_recipe_path                     # doctest: +SKIP
    PosixPath('runs/atis-tune-broad-tune/best_recipe.yaml')
"""


from slukit.tune.search import TuneResult, tune_recipe

__all__ = ["TuneResult", "tune_recipe"]
