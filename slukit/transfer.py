"""Cross-lingual transfer: train (or load) a source-language model, carry its
weights to a target-language model, and fine-tune on the target data.

The rules for what carries over (`transfer` in the recipe):

- **Word embeddings**: the target keeps its own word vocabulary (built from
  the target training data). With `transfer.embeddings`, rows of words that
  both vocabularies hold are copied (names, numbers, shared loanwords; every
  word when both sides use aligned bilingual vectors).
- **Characters** are merged by name: the target's character vocabulary is the
  source's followed by the target's new characters; the character CNN and the
  rows of shared characters are copied, new characters start fresh.
- **Labels** are merged by name: the target's intents and tags are the
  source's followed by the target's new ones. A target `B-toloc.city_name`
  reuses the source's row of the slot head; labels only one side has get
  fresh rows (source-only labels stay predictable, which helps when the
  target data is small).
- **Encoder** weights are copied as they are; the encoder must have the same
  type and sizes.
- `transfer.freeze_epochs` keeps parts frozen for their first epochs, and
  `transfer.learning_rate` sets the fine-tuning rate.
- `source.data.code_switch` trains the source model on code-switched source
  utterances (`slukit.data.code_switch`); with `dictionary: from_target` the
  dictionary comes from the parallel source and target training data, and the
  source model is written to `<source output>-cs-<hash>`, one per dictionary.

Example:
    >>> from slukit.recipe import load_recipe
    >>> result = train_transfer(load_recipe("recipes/multiatis/en_to_de_transfer.yaml"))  # doctest: +SKIP
"""

import copy
from pathlib import Path


import numpy as np

from slukit.data.code_switch import FROM_TARGET
from slukit.errors import ModelDirError, RecipeError
from slukit.preprocess.vocab import UNK, Vocabulary

#: Recipe part name -> the JointSLU layer that holds it.
PART_LAYERS = {
    "embeddings": "word_embedding",
    "char_embeddings": "char_embedding",
    "encoder": "encoder",
    "intent_head": "intent",
    "slot_head": "slots",
}

#: The model settings that shape each part's weights (besides vocabulary and label counts).
PART_SETTINGS = {
    "embeddings": ("word_dim",),
    "char_embeddings": ("char_dim", "char_filters", "char_kernel"),
    "encoder": ("encoder", "encoder_config", "word_dim", "char_filters", "embeddings"),
    "intent_head": ("encoder", "encoder_config"),
    "slot_head": ("encoder", "encoder_config", "intent_to_slot"),
}


def source_recipe(recipe):
    """The monolingual recipe that trains the source model of a transfer recipe."""
    source = recipe["source"]
    derived = copy.deepcopy({k: recipe[k] for k in ("model", "train")})
    derived["name"] = f"{recipe['name']}-source"
    derived["data"] = copy.deepcopy(source["data"])
    derived["model"]["word_vectors"] = source.get("word_vectors")
    if source.get("epochs"):
        derived["train"]["epochs"] = source["epochs"]
    if source.get("max_steps_per_epoch") is not None:
        derived["train"]["max_steps_per_epoch"] = source["max_steps_per_epoch"]
    derived["source"] = None
    derived["transfer"] = copy.deepcopy(recipe["transfer"])
    derived["output"] = source.get("output") or f"runs/{recipe['name']}-source"
    digests = []
    datasets = derived["data"] if isinstance(derived["data"], list) else [derived["data"]]
    for data in datasets:  # several source data sets: a from_target dictionary each
        switch = data.get("code_switch")
        if switch and switch.get("dictionary") == FROM_TARGET:
            from slukit.data.code_switch import dictionary_from_target

            path, digest, _ = dictionary_from_target({**derived, "data": data}, recipe,
                                                     derived["output"])
            switch["dictionary"] = str(path)
            digests.append(digest)
    if digests:
        derived["output"] = f"{derived['output']}-cs-{'-'.join(digests)}"
    return derived


def same_source_settings(a, b):
    """Whether two resolved source recipes would train the same model.

    Both are filled with the schema's defaults first, so a source model saved
    before a new recipe key existed is still reused when the key's default
    trains the same model; `train.distribute` is not compared.
    """
    from slukit.recipe.load import validate

    def filled(recipe):
        try:
            return validate(copy.deepcopy(recipe))
        except Exception:  # a recipe this version cannot read: compared as it is
            return copy.deepcopy(recipe)

    a, b = filled(a), filled(b)
    for recipe in (a, b):  # how training is spread over devices does not change the model
        recipe.get("train", {}).pop("distribute", None)
    keys = ("data", "model", "train")
    return all(a.get(k) == b.get(k) for k in keys)


def obtain_source(recipe, reporter, resume=False, force=False):
    """The source model bundle: loaded from `source.model_dir`, reused from
    `source.output` if it was trained from the same settings, else trained now
    (`resume`: continuing an interrupted source training; `force`: replacing a source
    model trained from other settings)."""
    import yaml

    from slukit.train.artifact import is_model_dir, load_model_dir
    from slukit.train.trainer import train_recipe

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
    train_recipe(derived, output=out, reporter=reporter, resume=resume, force=force)
    return load_model_dir(out)


def merge_vocab(source, target, unk=None):
    """`source`'s tokens, then `target`'s tokens that `source` lacks."""
    if source is None or target is None:
        return target
    extra = [t for t in target.tokens if t not in source.index]
    return Vocabulary(source.tokens + extra, unk=unk)


def merged_preprocessor(source_pre, target_pre):
    """The target preprocessor with characters and labels merged by name (see module doc)."""
    target_pre.chars = merge_vocab(source_pre.chars, target_pre.chars, unk=UNK)
    target_pre.intents = merge_vocab(source_pre.intents, target_pre.intents)
    target_pre.tags = merge_vocab(source_pre.tags, target_pre.tags)
    return target_pre


def check_compatible(source_model, target_model, parts):
    """Raises a `RecipeError` naming each requested part the source cannot give."""
    src, tgt = source_model.get_config(), target_model.get_config()
    problems = []
    for part in parts:
        layer = PART_LAYERS[part]
        if not _has_layer(source_model, layer) or not _has_layer(target_model, layer):
            side = "source" if not _has_layer(source_model, layer) else "target"
            problems.append(f"transfer.{part}: the {side} model has no {layer.replace('_', ' ')} "
                            f"(model.embeddings: {src['embeddings'] if side == 'source' else tgt['embeddings']}); "
                            f"set transfer.{part}: false")
            continue
        differ = [k for k in PART_SETTINGS[part] if src.get(k) != tgt.get(k)]
        shapes_ok = _shapes_match(source_model.get_layer(layer), target_model.get_layer(layer), part)
        if differ or not shapes_ok:
            detail = ", ".join(f"{k}: source {src.get(k)!r}, target {tgt.get(k)!r}" for k in differ)
            problems.append(f"transfer.{part}: the source and target {part.replace('_', ' ')} differ "
                            f"({detail or 'weight shapes differ'}); use the source's model settings "
                            f"or set transfer.{part}: false")
    if problems:
        raise RecipeError(problems, header="the source model cannot carry over as the recipe asks:")


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def _shapes_match(src_layer, tgt_layer, part):
    a, b = src_layer.get_weights(), tgt_layer.get_weights()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if part in ("embeddings", "char_embeddings") and x.ndim == 2 and x is a[0]:
            x, y = x[:0], y[:0]  # vocabulary rows may differ
        if part in ("intent_head", "slot_head"):
            x, y = x[..., :0], y[..., :0]  # label columns may differ
        if x.shape != y.shape:
            return False
    return True


def _copy_by_name(target, source, target_vocab, source_vocab, axis):
    """`target` with the rows (axis 0) or columns (axis -1) of tokens that both
    vocabularies hold taken from `source`."""
    out = np.moveaxis(target.copy(), axis, 0)
    src = np.moveaxis(source, axis, 0)
    for i, token in enumerate(target_vocab.tokens):
        j = source_vocab.index.get(token)
        if j is not None:
            out[i] = src[j]
    return np.moveaxis(out, 0, axis)


def transfer_weights(source, target_model, target_pre, parts):
    """Copies the requested parts from the source bundle into `target_model`.

    Returns `{part: what was copied}` for the report.
    """
    src_model, src_pre = source.model, source.preprocessor
    report = {}
    for part in parts:
        name = PART_LAYERS[part]
        s_layer, t_layer = src_model.get_layer(name), target_model.get_layer(name)
        s_weights, t_weights = s_layer.get_weights(), t_layer.get_weights()
        if part == "embeddings":
            table = _copy_by_name(t_weights[0], s_weights[0], target_pre.words, src_pre.words, 0)
            shared = sum(1 for t in target_pre.words.tokens[2:] if t in src_pre.words.index)
            t_layer.set_weights([table])
            report[part] = f"{shared} of {len(target_pre.words) - 2} target words shared"
        elif part == "char_embeddings":
            table = _copy_by_name(t_weights[0], s_weights[0], target_pre.chars, src_pre.chars, 0)
            t_layer.set_weights([table] + s_weights[1:])
            report[part] = f"CNN and {len(src_pre.chars)} character rows"
        elif part == "encoder":
            t_layer.set_weights(s_weights)
            report[part] = "all weights"
        else:
            labels_t = target_pre.intents if part == "intent_head" else target_pre.tags
            labels_s = src_pre.intents if part == "intent_head" else src_pre.tags
            t_layer.set_weights([_copy_by_name(t, s, labels_t, labels_s, -1)
                                 for t, s in zip(t_weights, s_weights)])
            shared = sum(1 for t in labels_t.tokens if t in labels_s.index)
            report[part] = f"{shared} of {len(labels_t)} labels shared"
    return report


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
    from slukit.train.trainer import may_replace, output_guard

    reporter = reporter or Reporter()
    train_cfg, model_cfg, transfer = recipe["train"], recipe["model"], recipe["transfer"]
    if transfer.get("mode") == "joint":
        from slukit.joint import train_joint

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
    from slukit.train.trainer import (TrainResult, calibrate, check_word_vectors, checkpointing,
                                      describe_model, fit, fit_preprocessor, load_data, metadata,
                                      not_the_chief, save_run, score_splits, set_seed)

    train_cfg, model_cfg, transfer = recipe["train"], recipe["model"], recipe["transfer"]
    check_word_vectors(model_cfg)
    check_word_vectors({"word_vectors": recipe["source"].get("word_vectors")}, "source.word_vectors")

    if transfer.get("mode") == "joint_then_finetune":
        from slukit.joint import obtain_joint

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
