"""Joint transfer: one model trained on source and target data together from the start.

`transfer.mode` in a transfer recipe chooses how the source data is used:

- `sequential` (`slukit.transfer`): train a source model, copy its parts
  into the target model, fine-tune on the target data.
- `joint` (here): one model, one vocabulary, one label set, trained on both
  data sets at once, so source and target words learn in the same encoder
  from the first step. The vocabularies are merged (every word of either
  side, `model.min_word_count` counted over both) and the labels are merged
  by name (a target `B-toloc.city_name` is the source's). Each batch comes
  from one side; `transfer.target_share` sets the share of target batches
  (`slukit.data.mixing`), so a small target set is not drowned by a large
  source. Early stopping and the reported metrics are on the target's
  valid and test data.
- `joint_then_finetune`: the joint model, trained as above into
  `<output>.joint` (reused when it was trained from the same settings), is
  then the source of a sequential transfer: its parts are copied as the
  `transfer` keys say and fine-tuned on the target data alone
  (`transfer.learning_rate`, `transfer.finetune_epochs`).

`source.data` gives the source data (`source.model_dir` cannot be used: a joint
model trains on the source data itself). With `source.data.code_switch`, the
source data is code-switched before mixing, as for a sequential source model;
with `transfer.code_switch_words`, each source batch is code-switched afresh
instead, with the translations of `source.data.code_switch` (its dictionary,
`from_target`, or lexicons: `slukit.data.lexicon`); the joint vocabulary holds
every translation that may be switched in.

From the command line:

    $ slukit train recipes/multiatis/en_to_de_joint.yaml --set data.train_fraction=0.5

Example:
    >>> joint_recipe({"name": "x", "output": "runs/x", "transfer": {"mode": "joint_then_finetune"}},
    ...              "runs/x")["transfer"]["mode"]
    'joint'
"""

import copy
from pathlib import Path

from slukit.errors import RecipeError

#: transfer keys that only the fine-tuning stage of joint_then_finetune reads.
FINETUNE_KEYS = ("embeddings", "char_embeddings", "encoder", "intent_head", "slot_head",
                 "freeze_epochs", "learning_rate", "finetune_epochs")


def joint_recipe(recipe, output):
    """The recipe of the joint stage of a `joint_then_finetune` recipe, written to `<output>.joint`."""
    derived = copy.deepcopy(recipe)
    derived["transfer"]["mode"] = "joint"
    derived["name"] = f"{recipe['name']}-joint"
    derived["output"] = f"{output}.joint"
    return derived


def check_joint(recipe):
    """Raises a `RecipeError` when a joint recipe lacks what it needs."""
    source = recipe.get("source") or {}
    if source.get("model_dir") or not source.get("data"):
        raise RecipeError(f"transfer.mode: {recipe['transfer']['mode']} trains on the source data "
                          "itself: give source.data (the source-language data), not "
                          "source.model_dir")


def load_joint_data(recipe, reporter):
    """`(target splits, [(part name, source training examples, code-switching table or None)])`,
    all held in memory: one part per source data set (`source.data` may list several)."""
    from slukit.data.load import dataset_recipes, load_splits, unseen_labels
    from slukit.transfer import source_recipe

    splits = load_splits(recipe, warn=reporter.warn, info=reporter.info)
    derived = source_recipe(recipe)
    rate = recipe["transfer"].get("code_switch_words")
    datasets = dataset_recipes(derived)
    sources = []
    for i, one in enumerate(datasets):
        name = "source" if len(datasets) == 1 else f"source {i + 1}"
        table, settings = None, one["data"].get("code_switch")
        if rate and settings:
            from slukit.data.code_switch import switch_table

            key = "source.data.code_switch" if len(datasets) == 1 else f"source.data[{i}].code_switch"
            table, names = switch_table(settings, recipe["model"]["lowercase"], key=key)
            one = {**one, "data": {**one["data"], "code_switch": None}}  # switched in every batch
            reporter.info(f"code-switching {name}: {100 * rate:g}% of the translatable words of "
                          f"every batch ({len(table)} dictionary words, {names})")
        examples = load_splits(one, warn=reporter.warn, info=reporter.info)["train"]
        sources.append((name, examples, table))
    if rate and not any(table for _, _, table in sources):
        raise RecipeError("transfer.code_switch_words: code-switching source batches needs the "
                          "translations of source.data.code_switch (a dictionary, from_target, "
                          "or a lexicon); set it")
    both = [ex for _, examples, _ in sources for ex in examples] + list(splits["train"])
    for split in ("valid", "test"):
        unseen = unseen_labels(both, splits[split] or [], split)
        if unseen:
            reporter.warn("\n".join(unseen))
    sizes = ", ".join(f"{len(examples)} {name} train" for name, examples, _ in sources)
    reporter.info(f"data: {sizes}, {len(splits['train'])} target train, "
                  f"{len(splits['valid'] or [])} valid, {len(splits['test'] or [])} test utterances")
    return splits, sources


def mixed_data(recipe, sources, target_train):
    """The `MixedData` that the joint stage trains on: the target part at
    `transfer.target_share`, the source parts sharing the rest equally."""
    from slukit.data.mixing import MixedData

    share = recipe["transfer"].get("target_share")
    parts = {"target": target_train, **{name: examples for name, examples, _ in sources}}
    shares = {name: None for name in parts}
    shares["target"] = share
    transforms = {}
    for name, _, table in sources:
        transforms.update(source_transforms(recipe, table, name))
    return MixedData(parts, shares, target="target", transforms=transforms)


def source_transforms(recipe, table, name="source"):
    """`{name: function}` that code-switches each batch of a source part afresh
    (`transfer.code_switch_words` of the words with a translation in `table`), or `{}`."""
    rate = recipe["transfer"].get("code_switch_words")
    if not rate or not table:
        return {}
    from slukit.data.code_switch import code_switch

    lowercase = recipe["model"]["lowercase"]

    def switch(examples, rng):
        return code_switch(examples, table, 1.0, rate, seed=int(rng.integers(2**31)),
                           lowercase=lowercase)[0]

    return {name: switch}


def joint_counts(sources, target_train, lowercase=True):
    """The `ExampleCounts` the joint vocabulary is fitted from: every part, plus every
    translation that per-batch code-switching may put in (counted as often as the
    word it replaces), so that no switched word is unknown."""
    from slukit.data.example import ExampleCounts

    counts = ExampleCounts.of([ex for _, examples, _ in sources for ex in examples]
                              + list(target_train))
    for _, examples, table in sources:
        if not table:
            continue
        for token, n in ExampleCounts.of(examples).tokens.items():
            for translation in table.get(token.lower() if lowercase else token, ()):
                counts.tokens[translation] += n
    return counts


def train_joint(recipe, output=None, reporter=None, resume=False, force=False):
    """Trains the joint model of a `transfer.mode: joint` recipe and writes its model directory.

    `metrics.json` holds the target's `valid` and `test` metrics;
    `metadata.json` adds `mode`, `source_utterances`, `target_share` (and `steps_per_epoch`)
    (`train_utterances` counts the target's, as for the other modes).
    """
    from slukit.train.artifact import check_output
    from slukit.train.distribute import get_distribution
    from slukit.train.progress import Reporter

    reporter = reporter or Reporter()
    check_joint(recipe)
    train_cfg, model_cfg = recipe["train"], recipe["model"]
    distribution = get_distribution(train_cfg)
    output = Path(output or recipe["output"] or f"runs/{recipe['name']}")
    from slukit.workflows.steps import may_replace, output_guard

    with output_guard(output, distribution, "joint training"):
        if distribution.is_chief:
            check_output(output, force=may_replace(output, resume, force))
        return _train_joint(recipe, output, reporter, resume, force, distribution)


def _train_joint(recipe, output, reporter, resume, force, distribution):
    from slukit.models.builder import build_model, load_word_vectors
    from slukit.preprocess import SLUPreprocessor
    from slukit.train.trainer import fit, set_seed
    from slukit.workflows.steps import (TrainResult, calibrate, check_word_vectors, checkpointing,
                                        describe_model, metadata, not_the_chief, save_run,
                                        score_splits)

    train_cfg, model_cfg = recipe["train"], recipe["model"]
    check_word_vectors(model_cfg)
    reporter.stage(f"joint: training {recipe['name']} on source and target data together")
    set_seed(train_cfg["seed"], train_cfg["jit_compile"])
    splits, sources = load_joint_data(recipe, reporter)
    data = mixed_data(recipe, sources, splits["train"])
    preprocessor = SLUPreprocessor.fit(
        joint_counts(sources, splits["train"], model_cfg["lowercase"]),
        embeddings=model_cfg["embeddings"],
        lowercase=model_cfg["lowercase"], min_word_count=model_cfg["min_word_count"],
        max_word_chars=model_cfg["max_word_chars"], slot_decoding=model_cfg["slot_decoding"])
    with distribution.scope():
        model = build_model(model_cfg, preprocessor)
    load_word_vectors(model, preprocessor, model_cfg, seed=train_cfg["seed"])
    reporter.info(describe_model(model, model_cfg))
    share = recipe["transfer"].get("target_share")
    reporter.info("batches: " + (f"{100 * share:g}% from the target data, the rest shared "
                                 f"equally by {len(sources)} source data set(s)"
                                 if share is not None else "in proportion to the data sizes"))
    with checkpointing(output, recipe, reporter, resume, distribution, force) as checkpoint:
        fit_info = fit(model, preprocessor, data, splits["valid"], train_cfg, reporter,
                       distribution=distribution, checkpoint=checkpoint)
        if not distribution.is_chief:
            return not_the_chief(distribution, reporter, model, preprocessor)
        metrics = score_splits(model, preprocessor, splits, distribution)
        if metrics:
            reporter.metrics_table({f"target {k}": v for k, v in metrics.items()},
                                   title=f"{recipe['name']}: best epoch {fit_info['best_epoch']}")
        calibrate(distribution.predictor(model), preprocessor, splits, metrics, recipe, reporter)
        meta = metadata(recipe, model, fit_info, splits)
        meta.update(mode="joint", target_share=share,
                    source_utterances=sum(len(examples) for _, examples, _ in sources))
        path = save_run(output, recipe, model, preprocessor, metrics, meta, reporter)
    return TrainResult(path=path, metrics=metrics, model=model, preprocessor=preprocessor)


def same_joint_settings(a, b):
    """Whether two joint recipes train the same model (all but names, outputs,
    `train.distribute` and the fine-tuning keys; defaults filled first)."""
    from slukit.recipe.validate import training_settings

    return (training_settings(a, ignore_transfer=FINETUNE_KEYS)
            == training_settings(b, ignore_transfer=FINETUNE_KEYS))


def obtain_joint(recipe, output, reporter, resume=False):
    """The joint stage of a `joint_then_finetune` recipe, as a model bundle:
    reused from `<output>.joint` if it was trained from the same settings, else trained."""
    import yaml

    from slukit.train.artifact import is_model_dir, load_model_dir

    check_joint(recipe)
    derived = joint_recipe(recipe, output)
    out = Path(derived["output"])
    if is_model_dir(out):
        saved = yaml.safe_load((out / "recipe.yaml").read_text(encoding="utf-8"))
        if same_joint_settings(saved, derived):
            reporter.stage(f"joint: reusing {out} (trained from the same settings)")
            return load_model_dir(out)
        reporter.info(f"{out} was trained from other settings; training the joint model again")
    # `<output>.joint` is this transfer's own stage: one trained from other settings is
    # replaced (as said above).
    train_joint(derived, output=out, reporter=reporter, resume=resume, force=True)
    return load_model_dir(out)
