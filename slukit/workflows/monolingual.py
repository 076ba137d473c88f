"""The monolingual run: one recipe, one data set, one model directory.

Example:
    >>> from slukit.recipe import load_recipe
    >>> result = train_monolingual(load_recipe("recipes/quickstart.yaml"))   # doctest: +SKIP
"""

from pathlib import Path

from slukit.models.builder import build_model, load_word_vectors
from slukit.train.progress import Reporter
from slukit.train.trainer import fit, set_seed
from slukit.workflows.steps import (TrainResult, calibrate, check_word_vectors, checkpointing,
                                    describe_model, fit_preprocessor, load_data, may_replace,
                                    metadata, not_the_chief, output_guard, save_run, score_splits)


def train_monolingual(recipe, output=None, reporter=None, resume=False, force=False):
    """Trains the recipe's model on its own data and writes its model directory.

    `slukit.workflows.train.train_recipe` sends a recipe here unless it has a `source`
    (transfer) or `distill` section; the transfer and distillation workflows train
    their source model and teachers here too.

    Args:
        recipe: a validated, resolved recipe dict (`slukit.recipe.load_recipe`).
        output: the model directory; defaults to the recipe's `output`.
        reporter: a `Reporter` for progress and messages.
        resume: continue from the checkpoint of an interrupted run (`<output>.checkpoint`),
            if there is one.
        force: replace a finished model directory at `output`, and delete the
            checkpoint of an interrupted run there instead of refusing to start.

    The run holds `<output>.lock` (`slukit.train.lock`): a second run to the same
    output fails at once.

    With `train.distribute`, every worker of a multi-worker run calls this with
    the same recipe; only the chief writes (the others return a result whose
    `path` is None).
    """
    from slukit.train.artifact import check_output
    from slukit.train.distribute import get_distribution

    reporter = reporter or Reporter()
    # First: a multi-worker strategy must exist before TensorFlow runs anything.
    distribution = get_distribution(recipe["train"])
    output = Path(output or recipe["output"] or f"runs/{recipe['name']}")
    with output_guard(output, distribution):
        if distribution.is_chief:
            check_output(output, force=may_replace(output, resume, force))
        return _train(recipe, output, reporter, resume, force, distribution)


def _train(recipe, output, reporter, resume, force, distribution):
    train_cfg, model_cfg = recipe["train"], recipe["model"]
    check_word_vectors(model_cfg)
    set_seed(train_cfg["seed"], train_cfg["jit_compile"])

    splits = load_data(recipe, reporter)
    preprocessor = fit_preprocessor(splits["train"], model_cfg)
    with distribution.scope():
        model = build_model(model_cfg, preprocessor)
    coverage = load_word_vectors(model, preprocessor, model_cfg, seed=train_cfg["seed"])
    if coverage:
        reporter.info(f"word vectors: {coverage[0]} of {coverage[1]} vocabulary words found in "
                      f"{model_cfg['word_vectors']}")
    reporter.info(describe_model(model, model_cfg))
    if distribution.strategy is not None:
        reporter.info(distribution.describe())
    with checkpointing(output, recipe, reporter, resume, distribution, force) as checkpoint:
        fit_info = fit(model, preprocessor, splits["train"], splits["valid"], train_cfg, reporter,
                       distribution=distribution, checkpoint=checkpoint)
        if not distribution.is_chief:
            return not_the_chief(distribution, reporter, model, preprocessor)

        metrics = score_splits(model, preprocessor, splits, distribution)
        if metrics:
            reporter.metrics_table(metrics, title=f"{recipe['name']}: best epoch {fit_info['best_epoch']}")
        calibrate(distribution.predictor(model), preprocessor, splits, metrics, recipe, reporter)
        path = save_run(output, recipe, model, preprocessor, metrics,
                        metadata(recipe, model, fit_info, splits), reporter)
    return TrainResult(path=path, metrics=metrics, model=model, preprocessor=preprocessor)
