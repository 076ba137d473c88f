"""Distillation into one on-device model: a recipe's `distill` section, `slukit distill`.

Several teachers (trained here from the recipe with other seeds, or existing
model directories of any encoder and size) predict every training utterance
once; their intent and tag probabilities, matched to the student's labels by
name, are averaged; and one student of the recipe's own model is trained on
`(1 - weight) x` the usual gold loss `+ weight x` the cross-entropy against
those averages (`slukit.train.distill_loss`). The student's model directory is
a normal one: the same files, no extra layers, exportable as it is. Its
metadata.json gains a `distill` entry: the teachers (directory, valid and test
metrics) and the teacher ensemble's own metrics (averaged probabilities,
decoded as one model's), so the student can be read against them.

The soft targets ride with the batches: `DistillData` is an `EncodedData`
whose labels are `pack_targets(gold, soft)`, so bucketing, word dropout
(applied to the student's inputs only; the teachers saw the clean utterance),
`train.min_steps_per_epoch` and `train.max_steps_per_epoch` work unchanged.

Not supported (refused with an error that says so): transfer recipes
(`source`), streamed training data, `train.distribute` other than default, and
`slukit tune` (`slukit.tune.search.check_tunable`).

Example:
    >>> from slukit.recipe import load_recipe                               # doctest: +SKIP
    >>> recipe = load_recipe("recipes/atis/best.yaml", ["distill.teachers=3"])  # doctest: +SKIP
    >>> result = distill_recipe(recipe)                                     # doctest: +SKIP
    >>> result.metadata["distill"]["ensemble"]["test"]["sentence_accuracy"]   # doctest: +SKIP
"""

import copy
import dataclasses
from pathlib import Path

import numpy as np

from slukit.data.batching import EncodedData
from slukit.data.epochs import make_pydataset
from slukit.errors import ModelDirError, RecipeError


@dataclasses.dataclass
class SoftTargets:
    """Per example: the teachers' averaged intent probabilities `[num_intents]` and tag
    probabilities `[tokens, num_tags]`, both over the student's labels."""

    intents: np.ndarray
    tags: list


class DistillData(EncodedData):
    """An `EncodedData` whose labels carry the soft targets: `{"intent": [B, 1 + I],
    "slots": [B, T, 1 + K]}` float32, gold id first (`slukit.train.distill_loss.pack_targets`)."""

    def __init__(self, preprocessor, examples, soft):
        super().__init__(preprocessor, examples)
        if len(soft.tags) != len(self.examples):
            raise ValueError(f"{len(soft.tags)} soft targets for {len(self.examples)} examples")
        self.soft = soft

    def batch(self, indices, length, word_dropout=0.0, rng=None):
        from slukit.train.distill_loss import pack_targets

        inputs, labels = super().batch(indices, length, word_dropout, rng)
        tags = np.zeros((len(indices), length, len(self.preprocessor.tags)), dtype="float32")
        for row, i in enumerate(indices):
            tags[row, : len(self.soft.tags[i])] = self.soft.tags[i]
        return inputs, {"intent": pack_targets(labels["intent"], self.soft.intents[indices]),
                        "slots": pack_targets(labels["slots"], tags)}


class DistillTrainSet:
    """The student's training examples with their soft targets, as `trainer.fit` takes
    them (its `training_batches` and `training_losses` hooks)."""

    def __init__(self, examples, soft, distill_cfg):
        self.examples = list(examples)
        self.soft = soft
        self.distill_cfg = distill_cfg

    def __len__(self):
        return len(self.examples)

    def training_batches(self, preprocessor, train_cfg):
        data = DistillData(preprocessor, self.examples, self.soft)
        batches = make_pydataset(data, train_cfg["batch_size"], seed=train_cfg["seed"],
                                 word_dropout=train_cfg["word_dropout"],
                                 min_steps=train_cfg.get("min_steps_per_epoch", 0),
                                 max_steps=train_cfg.get("max_steps_per_epoch", 0))
        return batches, data.lengths

    def training_losses(self, model, train_cfg):
        from slukit.train.distill_loss import distill_losses

        return distill_losses(model, train_cfg, self.distill_cfg)


# ---------------------------------------------------------------- checks


def check_distillable(recipe):
    """Refuses what distillation does not support, before anything is trained."""
    problems = []
    if recipe.get("source"):
        problems.append("distill does not support transfer recipes (a source section); "
                        "distill from the finished transfer models with distill.teacher_dirs "
                        "and a recipe without source")
    if recipe["train"].get("distribute", "default") != "default":
        problems.append(f"distill does not support train.distribute: "
                        f"{recipe['train']['distribute']}; train on one device (default)")
    if recipe["data"].get("stream") == "true":
        problems.append("distill does not support streamed training data (data.stream: true); "
                        "set data.stream: false")
    if problems:
        raise RecipeError(problems, header="this recipe cannot be distilled:")


def label_map(teacher_labels, student_labels, teacher_dir, what):
    """For each student label, its index among the teacher's; a `ModelDirError` naming
    `teacher_dir` when the teacher lacks some.

    >>> label_map(["<pad>", "O", "B-x"], ["<pad>", "B-x", "O"], "t", "tags").tolist()
    [0, 2, 1]
    """
    index = {label: i for i, label in enumerate(teacher_labels)}
    missing = [label for label in student_labels if label not in index]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10
                                           else "")
        raise ModelDirError(
            f"{teacher_dir}: this teacher lacks {len(missing)} {what} of the student's training "
            f"data ({shown}); a teacher must know every label of the student (train it on the "
            "same data, with data.train_fraction 1.0 or the same seed)")
    return np.array([index[label] for label in student_labels], dtype="int64")


def remap(probs, mapping, pad=False):
    """Probabilities `[..., teacher labels]` -> `[..., student labels]` by `mapping`,
    renormalised (labels only the teacher has drop out); with `pad`, column 0
    (`<pad>`) is zeroed first."""
    out = np.asarray(probs, dtype="float64")[..., mapping]
    if pad:
        out[..., 0] = 0.0
    total = out.sum(axis=-1, keepdims=True)
    uniform = np.full_like(out, 1.0 / max(out.shape[-1] - (1 if pad else 0), 1))
    if pad:
        uniform[..., 0] = 0.0
    return np.where(total > 0, out / np.maximum(total, 1e-30), uniform)


def soften(probs, temperature):
    """`probs ** (1 / temperature)`, renormalised over the last axis (1: unchanged)."""
    if temperature == 1.0:
        return probs
    with np.errstate(divide="ignore"):
        logits = np.log(probs) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- teachers


@dataclasses.dataclass
class Teacher:
    path: Path
    model: object
    preprocessor: object
    recipe: dict
    metrics: dict


def _data_files(data):
    """What must be equal between a teacher's data section and the student's: the
    resolved train/valid/test paths (or the builtin set), and the format when both give one."""
    from slukit.recipe.load import resolve_data_paths

    if data.get("builtin"):
        return {"builtin": data["builtin"]}
    paths = resolve_data_paths({"data": data})
    return {split: str(paths[split]) if paths[split] else None
            for split in ("train", "valid", "test")}


def check_teacher_data(teacher_dir, teacher_recipe, recipe):
    """A `ModelDirError` naming `teacher_dir` when its recipe's data is not the student's."""
    data = teacher_recipe.get("data") if isinstance(teacher_recipe, dict) else None
    if not isinstance(data, dict):
        raise ModelDirError(f"{teacher_dir}: its recipe.yaml has no data section (a distill "
                            "teacher must come from the same data as the student)")
    mine = _data_files(recipe["data"])
    try:
        theirs = _data_files(data)
    except RecipeError as err:
        theirs = {"error": str(err)}
    differ = [key for key in sorted(set(mine) | set(theirs)) if mine.get(key) != theirs.get(key)]
    fmt = data.get("format"), recipe["data"].get("format")
    if all(fmt) and fmt[0] != fmt[1]:
        differ.append("format")
    if differ:
        detail = "; ".join(f"data.{key}: {theirs.get(key)!s} (teacher) vs {mine.get(key)!s} "
                           f"(this recipe)" for key in differ)
        raise ModelDirError(f"{teacher_dir}: this teacher's recipe names other data than the "
                            f"student's ({detail}); a teacher must be trained on the same data")


def load_teacher(path, recipe):
    import json

    from slukit.train.artifact import load_model_dir

    bundle = load_model_dir(path)
    check_teacher_data(path, bundle.recipe, recipe)
    metrics_file = Path(path) / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    return Teacher(Path(path), bundle.model, bundle.preprocessor, bundle.recipe, metrics)


def teacher_recipe(recipe, k, directory):
    """The recipe of teacher seed `k`: this one without `distill`, seed `k`, written to `directory`."""
    teacher = copy.deepcopy(recipe)
    teacher["distill"] = None
    teacher["train"]["seed"] = k
    teacher["output"] = str(directory)
    return teacher


def _comparable(recipe):
    import yaml

    from slukit.recipe.load import dump_recipe

    out = yaml.safe_load(dump_recipe(recipe))
    out.pop("output", None)
    return out


def teachers_output(recipe, output):
    cfg = recipe["distill"]
    return Path(cfg.get("teachers_output") or f"{output}.teachers")


def train_teachers(recipe, output, reporter):
    """The directories of the N teachers of `distill.teachers`: trained (or resumed from
    their checkpoint) with seeds train.seed+1 ... train.seed+N, or reused when finished."""
    import yaml

    from slukit.train.artifact import RECIPE_FILE, is_model_dir
    from slukit.train.checkpoint import checkpoint_path
    from slukit.workflows.monolingual import train_monolingual

    root = teachers_output(recipe, output)
    seed, count = recipe["train"]["seed"], recipe["distill"]["teachers"]
    dirs = []
    for k in range(seed + 1, seed + count + 1):
        directory = root / f"seed{k}"
        wanted = teacher_recipe(recipe, k, directory)
        if is_model_dir(directory):
            stored = yaml.safe_load((directory / RECIPE_FILE).read_text(encoding="utf-8")) or {}
            stored.pop("output", None)
            mine = _comparable(wanted)
            differ = sorted(f"{section}" for section in set(mine) | set(stored)
                            if mine.get(section) != stored.get(section))
            if differ:
                raise ModelDirError(
                    f"{directory}: holds a teacher trained from other settings (the recipe's "
                    f"{', '.join(differ)} differ); remove it, or set distill.teachers_output to "
                    "another folder")
            reporter.info(f"teacher seed {k}: reusing {directory}")
        else:
            reporter.stage(f"teacher {k - seed} of {count} (seed {k})")
            resume = checkpoint_path(directory).is_dir()  # an interrupted teacher goes on
            train_monolingual(wanted, output=directory, reporter=reporter, resume=resume)
            _free_memory()
        dirs.append(directory)
    return dirs


def _free_memory():
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


# ---------------------------------------------------------------- soft targets


def teacher_probs(teacher, examples, preprocessor, batch_size=64):
    """The teacher's intent `[N, I]` and per-example tag `[tokens, K]` probabilities on
    `examples`, over the student's (`preprocessor`'s) labels."""
    from slukit.train.inference import predict_probs

    intents_map = label_map(teacher.preprocessor.intents.tokens, preprocessor.intents.tokens,
                            teacher.path, "intents")
    tags_map = label_map(teacher.preprocessor.tags.tokens, preprocessor.tags.tokens,
                         teacher.path, "slot tags")
    data = EncodedData(teacher.preprocessor, examples, labels=False)
    intent_probs, tag_probs = predict_probs(teacher.model, data, batch_size)
    intents = remap(np.stack(intent_probs), intents_map) if intent_probs else \
        np.zeros((0, len(preprocessor.intents)))
    tags = [remap(p, tags_map, pad=True) for p in tag_probs]
    return intents, tags


def ensemble(teachers, examples, preprocessor, temperature=1.0):
    """`SoftTargets` of `examples`: the teachers' probabilities averaged (then softened
    by `temperature`)."""
    intents, tags = None, None
    for teacher in teachers:
        i, t = teacher_probs(teacher, examples, preprocessor)
        intents = i if intents is None else intents + i
        tags = t if tags is None else [a + b for a, b in zip(tags, t)]
    n = len(teachers)
    intents = soften(intents / n, temperature).astype("float32")
    tags = [soften(t / n, temperature).astype("float32") if len(t) else
            np.zeros((0, len(preprocessor.tags)), "float32") for t in tags]
    return SoftTargets(intents, tags)


def ensemble_metrics(teachers, preprocessor, splits):
    """The teacher ensemble's valid and test metrics: averaged probabilities, decoded
    with the student's labels and slot decoding (no learned CRF transitions)."""
    from slukit.train.metrics import slu_metrics

    decoder = copy.copy(preprocessor)
    decoder.slot_transitions = None
    out = {}
    for split in ("valid", "test"):
        examples = splits.get(split)
        if not examples:
            continue
        soft = ensemble(teachers, examples, preprocessor)
        intents = [decoder.decode_intent(p)[0] for p in soft.intents]
        tags = [decoder.decode_tags(t) if len(t) else [] for t in soft.tags]
        out[split] = slu_metrics([ex.intent for ex in examples], [ex.tags for ex in examples],
                                 intents, tags)
    return out


# ---------------------------------------------------------------- the run


def distill_recipe(recipe, output=None, reporter=None, resume=False, force=False):
    """Trains (or loads) the teachers and the student of a recipe with a `distill`
    section; writes the student's model directory. Returns a `TrainResult` whose
    `metadata` holds the `distill` entry.

    Args: as `slukit.workflows.train.train_recipe` (`resume` and `force` apply to the
    student; a teacher is always resumed from its checkpoint, or reused when finished).
    """
    from slukit.train.artifact import check_output
    from slukit.train.distribute import get_distribution
    from slukit.train.progress import Reporter
    from slukit.workflows.steps import may_replace, output_guard

    reporter = reporter or Reporter()
    if not recipe.get("distill"):
        raise RecipeError("the recipe has no distill section; give distill.teachers or "
                          "distill.teacher_dirs (`slukit distill RECIPE --teachers N`)")
    check_distillable(recipe)
    output = Path(output or recipe["output"] or f"runs/{recipe['name']}")
    distribution = get_distribution(recipe["train"])
    cfg = recipe["distill"]
    if cfg.get("teacher_dirs"):
        from slukit.train.artifact import require_model_dir

        for path in cfg["teacher_dirs"]:
            require_model_dir(path)  # a bad directory is refused before anything is trained
    with output_guard(output, distribution, what="distillation"):
        check_output(output, force=may_replace(output, resume, force))
        if cfg.get("teacher_dirs"):
            dirs = [Path(p) for p in cfg["teacher_dirs"]]
        else:
            dirs = train_teachers(recipe, output, reporter)
        return _distill(recipe, output, dirs, reporter, resume, force, distribution)


def _distill(recipe, output, dirs, reporter, resume, force, distribution):
    from slukit.data.stream import TrainStream
    from slukit.models.builder import build_model, load_word_vectors
    from slukit.train.trainer import fit, set_seed
    from slukit.workflows.steps import (TrainResult, calibrate, check_word_vectors, checkpointing,
                                        describe_model, fit_preprocessor, load_data, metadata,
                                        save_run, score_splits)

    train_cfg, model_cfg, cfg = recipe["train"], recipe["model"], recipe["distill"]
    check_word_vectors(model_cfg)
    set_seed(train_cfg["seed"], train_cfg["jit_compile"])
    splits = load_data(recipe, reporter)
    if isinstance(splits["train"], TrainStream):
        raise RecipeError("distill does not support streamed training data (the training file "
                          "is larger than data.stream: auto holds in memory); set "
                          "data.stream: false")
    preprocessor = fit_preprocessor(splits["train"], model_cfg)

    reporter.stage(f"soft targets from {len(dirs)} teachers")
    teachers = [load_teacher(path, recipe) for path in dirs]
    for teacher in teachers:
        label_map(teacher.preprocessor.intents.tokens, preprocessor.intents.tokens,
                  teacher.path, "intents")
        label_map(teacher.preprocessor.tags.tokens, preprocessor.tags.tokens, teacher.path,
                  "slot tags")
    soft = ensemble(teachers, splits["train"], preprocessor, cfg["temperature"])
    ensemble_scores = ensemble_metrics(teachers, preprocessor, splits)
    if ensemble_scores:
        reporter.metrics_table(ensemble_scores, title=f"teacher ensemble ({len(teachers)} models)")
    record = {
        "weight": cfg["weight"],
        "temperature": cfg["temperature"],
        "teachers": [{"dir": str(t.path), "valid": t.metrics.get("valid"),
                      "test": t.metrics.get("test")} for t in teachers],
        "ensemble": ensemble_scores,
    }
    del teachers
    _free_memory()

    set_seed(train_cfg["seed"], train_cfg["jit_compile"])  # the student starts as it would alone
    with distribution.scope():
        model = build_model(model_cfg, preprocessor)
    coverage = load_word_vectors(model, preprocessor, model_cfg, seed=train_cfg["seed"])
    if coverage:
        reporter.info(f"word vectors: {coverage[0]} of {coverage[1]} vocabulary words found in "
                      f"{model_cfg['word_vectors']}")
    reporter.info(describe_model(model, model_cfg) + f"; distilled with weight {cfg['weight']}")
    train_set = DistillTrainSet(splits["train"], soft, cfg)
    with checkpointing(output, recipe, reporter, resume, distribution, force) as checkpoint:
        fit_info = fit(model, preprocessor, train_set, splits["valid"], train_cfg, reporter,
                       distribution=distribution, checkpoint=checkpoint)
        metrics = score_splits(model, preprocessor, splits, distribution)
        if metrics:
            reporter.metrics_table(metrics, title=f"{recipe['name']} (student): best epoch "
                                                  f"{fit_info['best_epoch']}")
        calibrate(distribution.predictor(model), preprocessor, splits, metrics, recipe, reporter)
        meta = metadata(recipe, model, fit_info, splits)
        meta["distill"] = record
        path = save_run(output, recipe, model, preprocessor, metrics, meta, reporter)
    result = TrainResult(path=path, metrics=metrics, model=model, preprocessor=preprocessor)
    result.metadata = meta
    return result
