"""The transfer run: a source-language model (trained, reused or loaded), its weights carried
to a target-language model (`slukit.transfer`), fine-tuned on the target data.

`transfer.mode: joint` trains one model on both languages' data instead
(`slukit.workflows.joint`); `joint_then_finetune` fine-tunes that joint model on
the target. `metrics.json` holds `source` beside the target's `valid` and `test`.

Example:
    >>> from slukit.recipe import load_recipe
    >>> result = train_transfer(load_recipe("recipes/multiatis/en_to_de_transfer.yaml"))  # doctest: +SKIP
    >>> _flat({"source": {"valid": 0.9}, "valid": 0.8})
    {'source valid': 0.9, 'valid': 0.8}
"""

from pathlib import Path

from slukit.errors import ModelDirError, RecipeError
from slukit.transfer import (PART_LAYERS, check_compatible, merged_preprocessor,
                             same_source_settings, source_recipe, transfer_weights)


def obtain_source(recipe, reporter, resume=False, force=False):
    """The source model bundle: loaded from `source.model_dir`, reused from
    `source.output` if it was trained from the same settings, else trained now
    (`resume`: continuing an interrupted source training; `force`: replacing a source
    model trained from other settings)."""
    import yaml

    from slukit.train.artifact import is_model_dir, load_model_dir
    from slukit.workflows.monolingual import train_monolingual

    source = recipe["source"]
    if source.get("model_dir"):
        reporter.stage(f"source: {source['model_dir']}")
        return load_model_dir(source["model_dir"])
    derived = source_recipe(recipe)
    out = Path(derived["output"])
    if is_model_dir(out):
        saved = yaml.safe_load((out / "recipe.yaml").read_text(encoding="utf-8"))
        if same_source_settings(saved, derived):
            reporter.stage(f"source: reusing {out} (trained from the same settings)")
            return load_model_dir(out)
        if not force:
            raise ModelDirError(f"{out} (source.output) holds a source model trained from "
                                "other settings; pass --force to train it again over it, or "
                                "set source.output to another folder")
        reporter.info(f"{out} was trained from other settings; training the source model again")
    reporter.stage(f"source: training {derived['name']}")
    train_monolingual(derived, output=out, reporter=reporter, resume=resume, force=force)
    return load_model_dir(out)


def train_transfer(recipe, output=None, reporter=None, resume=False, force=False):
    """Runs both stages of a transfer recipe and writes the target model directory.

    `metrics.json` holds `source` (the source model's own valid/test metrics)
    beside the target's `valid` and `test`. With `resume`, each stage continues
    from its checkpoint, if it has one: a finished source model is reused as
    always, and the target's fine-tuning resumes within its frozen phases.
    """
    from slukit.train.artifact import check_output
    from slukit.train.distribute import get_distribution
    from slukit.train.progress import Reporter
    from slukit.workflows.steps import may_replace, output_guard

    reporter = reporter or Reporter()
    train_cfg, model_cfg, transfer = recipe["train"], recipe["model"], recipe["transfer"]
    if transfer.get("mode") == "joint":
        from slukit.workflows.joint import train_joint

        return train_joint(recipe, output=output, reporter=reporter, resume=resume, force=force)
    distribution = get_distribution(train_cfg)
    if distribution.workers > 1 and not recipe["source"].get("model_dir"):
        raise RecipeError("source.data: with train.distribute: multi_worker the source model must "
                          "already be trained (only the chief would write it, and every worker "
                          "needs it): train the source recipe first and give its model directory "
                          "as source.model_dir, on every worker")
    output = Path(output or recipe["output"] or f"runs/{recipe['name']}")
    with output_guard(output, distribution, "transfer"):
        if distribution.is_chief:
            check_output(output, force=may_replace(output, resume, force))
        return _train_transfer(recipe, output, reporter, resume, force, distribution)


def _train_transfer(recipe, output, reporter, resume, force, distribution):
    from slukit.models.builder import build_model, load_word_vectors
    from slukit.train.trainer import fit, set_seed
    from slukit.workflows.steps import (TrainResult, calibrate, check_word_vectors, checkpointing,
                                        describe_model, fit_preprocessor, load_data, metadata,
                                        not_the_chief, save_run, score_splits)

    train_cfg, model_cfg, transfer = recipe["train"], recipe["model"], recipe["transfer"]
    check_word_vectors(model_cfg)
    check_word_vectors({"word_vectors": recipe["source"].get("word_vectors")}, "source.word_vectors")

    if transfer.get("mode") == "joint_then_finetune":
        from slukit.workflows.joint import obtain_joint

        source = obtain_joint(recipe, output, reporter, resume=resume)
        if transfer.get("finetune_epochs"):
            train_cfg = {**train_cfg, "epochs": transfer["finetune_epochs"]}
        first_stage = "joint"
    else:
        source = obtain_source(recipe, reporter, resume=resume, force=force)
        first_stage = "source"
    source_metrics = _read_metrics(source.path)

    reporter.stage(f"target: fine-tuning {recipe['name']}")
    set_seed(train_cfg["seed"], train_cfg["jit_compile"])
    splits = load_data(recipe, reporter)
    preprocessor = merged_preprocessor(source.preprocessor, fit_preprocessor(splits["train"], model_cfg))
    with distribution.scope():
        model = build_model(model_cfg, preprocessor)
    load_word_vectors(model, preprocessor, model_cfg, seed=train_cfg["seed"])
    parts = [p for p in PART_LAYERS if transfer[p]]
    check_compatible(source.model, model, parts)
    for part, what in transfer_weights(source, model, preprocessor, parts).items():
        reporter.info(f"transferred {part}: {what}")
    reporter.info(describe_model(model, model_cfg))
    if distribution.strategy is not None:
        reporter.info(distribution.describe())
    frozen = {PART_LAYERS[p]: transfer["freeze_epochs"][p] for p in parts}
    with checkpointing(output, recipe, reporter, resume, distribution, force) as checkpoint:
        fit_info = fit(model, preprocessor, splits["train"], splits["valid"], train_cfg, reporter,
                       frozen_until=frozen, learning_rate=transfer["learning_rate"],
                       distribution=distribution, checkpoint=checkpoint)
        if not distribution.is_chief:
            return not_the_chief(distribution, reporter, model, preprocessor)

        metrics = score_splits(model, preprocessor, splits, distribution)
        calibrate(distribution.predictor(model), preprocessor, splits, metrics, recipe, reporter)
        if source_metrics:
            metrics = {first_stage: {k: source_metrics[k] for k in ("valid", "test")
                                     if k in source_metrics}, **metrics}
        if metrics:
            reporter.metrics_table({k if k.startswith(first_stage) else f"target {k}": v
                                    for k, v in _flat(metrics).items()},
                                   title=f"{recipe['name']}: best epoch {fit_info['best_epoch']}")
        meta = metadata(recipe, model, fit_info, splits)
        meta["source_model"] = str(source.path)
        meta["transferred"] = parts
        meta["mode"] = transfer.get("mode", "sequential")
        path = save_run(output, recipe, model, preprocessor, metrics, meta, reporter)
    return TrainResult(path=path, metrics=metrics, model=model, preprocessor=preprocessor)


def _read_metrics(path):
    import json

    file = Path(path) / "metrics.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def _flat(metrics):
    """`{"source": {"valid": m}, "valid": m}` -> `{"source valid": m, "valid": m}`.

        >>> _flat({"source": {"valid": 0.9}, "valid": 0.8})
        {'source valid': 0.9, 'valid': 0.8}
    """
    out = {}
    for key, value in metrics.items():
        if key in ("source", "joint"):
            out.update({f"{key} {k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out
