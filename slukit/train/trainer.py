"""Trains a `JointSLU` from a validated recipe and writes the model directory.

Example:
    >>> from slukit.recipe import load_recipe
    >>> recipe = load_recipe("recipes/quickstart.yaml")   # doctest: +SKIP
    >>> result = train_recipe(recipe)                      # doctest: +SKIP
    >>> result.metrics["valid"]["intent_accuracy"]         # doctest: +SKIP
    0.97
"""

import contextlib
import dataclasses
import datetime
import platform
import time
from pathlib import Path

import keras

from slukit import interrupt

from slukit.data.batching import EncodedData, make_pydataset
from slukit.data.load import load_splits, unseen_labels
from slukit.data.stream import TrainStream, make_stream_pydataset
from slukit.models.builder import build_model, load_word_vectors
from slukit.models.crf import copy_transitions, slot_loss
from slukit.preprocess import SLUPreprocessor
from slukit.train.inference import evaluate_examples
from slukit.train.losses import joint_losses
from slukit.train.progress import Reporter

from slukit.registry import METRICS, MONITORS, SPLITS


@dataclasses.dataclass
class TrainResult:
    path: Path
    metrics: dict
    model: object
    preprocessor: object


def set_seed(seed, jit_compile=True):
    """Seeds Python, numpy and the Keras backend.

    Without XLA, TensorFlow's op determinism is switched on too
    (`tests/test_train.py` checks two runs give identical weights). Keras turns
    XLA off under op determinism, so with `jit_compile` it stays off; two XLA
    runs on this project's CPU machine gave identical metrics all the same.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow" and not jit_compile:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


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


def make_optimizer(train_cfg, learning_rate=None):
    optimizers = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
                  "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    return optimizers[train_cfg["optimizer"]](
        learning_rate=learning_rate or train_cfg["learning_rate"], clipnorm=5.0)


def compile_model(model, train_cfg, learning_rate=None, losses=None):
    """Compiles with the recipe's losses, or `losses` (`{"intent", "slots"}`) when given."""
    if losses is None:
        losses = joint_losses(train_cfg["label_smoothing"])
        losses["slots"] = slot_loss(model, losses["slots"])  # a CRF's own loss (model.slot_decoder)
    model.compile(
        optimizer=make_optimizer(train_cfg, learning_rate),
        loss=losses,
        loss_weights={"intent": train_cfg["intent_loss_weight"],
                      "slots": train_cfg["slot_loss_weight"]},
        jit_compile=train_cfg["jit_compile"],
    )


def fit(model, preprocessor, train_examples, valid_examples, train_cfg, reporter,
        frozen_until=None, learning_rate=None, extra_callbacks=(), distribution=None,
        checkpoint=None):
    """Compiles and trains `model` with bucketed batches, validation scoring and
    early stopping; keeps the best epoch's weights.

    Args:
        frozen_until: `{layer name: epochs}`: those layers stay frozen for
            their first epochs (transfer). Training then runs in phases, one
            per distinct count, recompiling as layers thaw; early stopping ends
            only the phase it happens in.
        learning_rate: overrides `train.learning_rate`.
        extra_callbacks: more Keras callbacks, run after the validation
            scoring (so their epoch logs hold its `val_*` metrics); `slukit
            tune` passes keras-tuner's here.
        distribution: a `slukit.train.distribute.Distribution` (`train.distribute`);
            None trains on one device. `model` must have been built in its scope.
        checkpoint: a prepared `slukit.train.checkpoint.Checkpoint`: written
            after every epoch, and resumed from when it was loaded.

    Returns a dict with the epochs run, the best epoch and seconds per epoch
    (counting the interrupted run's, when resumed).
    """
    from slukit.train.checkpoint import CheckpointCallback
    from slukit.train.distribute import Distribution

    distribution = distribution or Distribution()
    distribution.check_batch_size(train_cfg["batch_size"])
    # Training sets of their own: several data sets mixed (slukit.joint), soft targets
    # (slukit.distill, which also brings its `training_losses`).
    if hasattr(train_examples, "training_batches"):
        batches, lengths = train_examples.training_batches(preprocessor, train_cfg)
    elif isinstance(train_examples, TrainStream):  # read from its file at every epoch
        batches = make_stream_pydataset(train_examples, preprocessor, train_cfg["batch_size"],
                                        seed=train_cfg["seed"],
                                        word_dropout=train_cfg["word_dropout"],
                                        min_steps=train_cfg.get("min_steps_per_epoch", 0),
                                        max_steps=train_cfg.get("max_steps_per_epoch", 0))
        lengths = train_examples.counts.lengths  # {tokens: utterances}
    else:
        data = EncodedData(preprocessor, train_examples)
        batches = make_pydataset(data, train_cfg["batch_size"], seed=train_cfg["seed"],
                                 word_dropout=train_cfg["word_dropout"],
                                 min_steps=train_cfg.get("min_steps_per_epoch", 0),
                                 max_steps=train_cfg.get("max_steps_per_epoch", 0))
        lengths = data.lengths
    steps = len(batches)
    epochs = train_cfg["epochs"]
    callbacks = []
    monitor = None
    if valid_examples:
        stopping = train_cfg["early_stopping"]
        monitor = ValidationMonitor(preprocessor, valid_examples, stopping["monitor"],
                                    stopping["patience"], distribution=distribution)
        callbacks.append(monitor)
    callbacks.append(reporter.epoch_callback(epochs, steps))
    callbacks.append(InterruptCheck())
    callbacks.extend(extra_callbacks)
    resumed = (checkpoint.state if checkpoint is not None else None) or {}
    saver = None
    if checkpoint is not None:
        saver = CheckpointCallback(checkpoint, monitor, resumed.get("epochs_run", 0),
                                   resumed.get("train_seconds", 0.0))
        callbacks.append(saver)
    # Where training starts: epoch 0, or the chief's checkpoint (every worker gets it).
    first = int(distribution.from_chief([resumed.get("next_epoch", 0)])[0])
    frozen_until = {name: n for name, n in (frozen_until or {}).items() if n > 0}
    boundaries = sorted({min(n, epochs) for n in frozen_until.values()} | {epochs})
    started, start, epochs_run = time.perf_counter(), 0, resumed.get("epochs_run", 0)
    restore = bool(resumed)
    for end in boundaries:
        if end <= first:  # a phase that the interrupted run finished
            start = end
            continue
        frozen = [name for name, n in frozen_until.items() if n > start]
        for layer in model.layers:
            if layer.name in frozen_until:
                layer.trainable = layer.name not in frozen
        if frozen:
            reporter.info(f"epochs {max(start, first) + 1}-{end}: {', '.join(frozen)} frozen")
        with distribution.scope():
            compile_model(model, train_cfg, learning_rate,
                          losses=(train_examples.training_losses(model, train_cfg)
                                  if hasattr(train_examples, "training_losses") else None))
        if restore:
            resume_state(model, checkpoint, monitor, distribution, mid_phase=first > start)
            restore = False
        distribution.sync_training_state(model)
        if saver is not None:
            saver.phase_end = end
        start = max(start, first)
        x, steps_per_epoch = distribution.fit_data(batches, start)
        with distribution.fitting(model):
            history = model.fit(x, initial_epoch=start, epochs=end,
                                steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=0,
                                shuffle=False)
        epochs_run += len(history.history.get("loss", []))
        start = end
    if restore:  # the interrupted run had finished training
        resume_state(model, checkpoint, monitor, distribution, mid_phase=False)
    seconds = time.perf_counter() - started
    if checkpoint is not None and checkpoint.state:
        seconds += checkpoint.state["train_seconds"]
    info = {
        "train_utterances": len(train_examples),
        "max_train_tokens": max(lengths, default=0),
        "epochs_run": epochs_run,
        "best_epoch": (monitor.best_epoch + 1) if monitor and monitor.best_epoch is not None else epochs_run,
        "train_seconds": round(seconds, 2),
        "seconds_per_epoch": round(seconds / max(epochs_run, 1), 2),
        "steps_per_epoch": steps,
    }
    if first:
        info["resumed_from_epoch"] = first
    if distribution.strategy is not None:
        info["replicas"], info["workers"] = distribution.replicas, distribution.workers
    return info


def resume_state(model, checkpoint, monitor, distribution, mid_phase):
    """Loads a checkpoint into the freshly compiled `model` and `monitor`.

    Mid-phase, the optimizer state is restored too. At a phase boundary (or
    after the last epoch) the uninterrupted run would have ended the phase by
    restoring the best weights and would start the next one with a fresh
    optimizer, so that is done instead.
    """
    if mid_phase:
        with distribution.scope():
            model.optimizer.build(model.trainable_variables)
    checkpoint.restore(model, monitor, optimizer=mid_phase)
    if not mid_phase and monitor is not None:
        monitor.set_model(model)
        monitor.on_train_end()


def fit_preprocessor(train_examples, model_cfg):
    if isinstance(train_examples, TrainStream):
        train_examples = train_examples.counts  # counted by its scan: no second pass
    return SLUPreprocessor.fit(train_examples, embeddings=model_cfg["embeddings"],
                               lowercase=model_cfg["lowercase"],
                               min_word_count=model_cfg["min_word_count"],
                               max_word_chars=model_cfg["max_word_chars"],
                               slot_decoding=model_cfg["slot_decoding"])


def longest_utterances(splits):
    """`{split: most tokens of one utterance}` for the splits at hand (the export sizes
    its longest signature from them)."""
    out = {}
    for split in SPLITS:
        data = splits.get(split)
        if not data:
            continue
        if isinstance(data, TrainStream):
            out[split] = data.counts.max_tokens
        else:
            out[split] = max((len(ex.tokens) for ex in data), default=0)
    return out


def metadata(recipe, model, fit_info, splits=None):
    import slukit

    meta = {
        "slukit_version": slukit.__version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "python_version": platform.python_version(),
        "seed": recipe["train"]["seed"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": int(model.count_params()),
        **fit_info,
    }
    if splits:
        meta["max_tokens"] = longest_utterances(splits)
    if meta["backend"] == "tensorflow":
        import tensorflow as tf

        meta["tensorflow_version"] = tf.__version__
    return meta


def check_word_vectors(model_cfg, key="model.word_vectors"):
    path = model_cfg.get("word_vectors")
    if path and not Path(path).is_file():
        from slukit.errors import RecipeError

        raise RecipeError(f"{key}: file not found: {path}")


def load_data(recipe, reporter):
    """The recipe's splits, with warnings about labels that train lacks."""
    splits = load_splits(recipe, warn=reporter.warn, stream=True, info=reporter.info)
    for split in ("valid", "test"):
        unseen = unseen_labels(splits["train"], splits[split] or [], split)
        if unseen:
            reporter.warn("\n".join(unseen))
    streamed = " (streamed from its file)" if isinstance(splits["train"], TrainStream) else ""
    reporter.info(f"data: {len(splits['train'])} train{streamed}, "
                  f"{len(splits['valid'] or [])} valid, {len(splits['test'] or [])} test utterances")
    return splits


def describe_model(model, model_cfg):
    return (f"model: {model_cfg['encoder']} over {'+'.join(model_cfg['embeddings'])} "
            f"embeddings, {model.count_params():,} parameters ({keras.backend.backend()} backend)")


def score_splits(model, preprocessor, splits, distribution=None):
    """Valid and test metrics of `model`; under a strategy `distribution`
    predicts on this worker only (`Distribution.predictor`)."""
    copy_transitions(model, preprocessor)
    predictor = model if distribution is None else distribution.predictor(model)
    return {split: evaluate_examples(predictor, preprocessor, splits[split])
            for split in ("valid", "test") if splits[split]}


def calibrate(model, preprocessor, splits, metrics, recipe, reporter):
    """Fits the confidence temperatures on valid and adds ECE to `metrics`
    (`slukit.calibration.calibrate_run`), before the model directory is written."""
    from slukit.calibration import calibrate_run

    interrupt.check()
    calibrate_run(model, preprocessor, splits, metrics, recipe, reporter)


class InterruptCheck(keras.callbacks.Callback):
    """Raises a Ctrl-C that a guarded callback swallowed (see `slukit.interrupt`)."""

    def on_train_batch_end(self, batch, logs=None):
        interrupt.check()

    def on_epoch_end(self, epoch, logs=None):
        interrupt.check()


def save_run(output, recipe, model, preprocessor, metrics, meta, reporter):
    """Writes the model directory atomically (see `slukit.train.artifact`)."""
    interrupt.check()
    from slukit.recipe.load import dump_recipe
    from slukit.train.artifact import write_json, write_model_dir

    copy_transitions(model, preprocessor)

    def fill(tmp):
        model.save(tmp / "model.keras")
        preprocessor.save(tmp)
        (tmp / "recipe.yaml").write_text(dump_recipe(recipe), encoding="utf-8")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "metadata.json", meta)

    replaced = Path(output).exists()
    path = write_model_dir(output, fill)
    reporter.info(f"model written to [bold]{path}[/bold]"
                  + (" (it replaced the model that was there)" if replaced else ""))
    return path


@contextlib.contextmanager
def checkpointing(output, recipe, reporter, resume, distribution, force=False):
    """The run's `Checkpoint` (see `slukit.train.checkpoint`), around training and saving.

    Before: resumed from (`resume`), or cleared with `force`, or refused. After the
    block has written the model directory: deleted. After Ctrl-C: the last complete
    epoch is kept for `--resume`, and `interrupt.Interrupted` says so. After an
    error: kept, for `--resume`.
    """
    from slukit.train.checkpoint import Checkpoint

    checkpoint = Checkpoint(output, recipe, enabled=distribution.is_chief)
    checkpoint.prepare(resume, reporter, force=force)
    try:
        yield checkpoint
    except KeyboardInterrupt:
        raise interrupt.Interrupted(checkpoint.interrupted()) from None
    except BaseException:
        if checkpoint.enabled and checkpoint.latest() is not None:
            reporter.warn(f"the checkpoint in {checkpoint.path} is kept; `slukit train RECIPE "
                          f"--resume` continues from it")
        raise
    checkpoint.remove()


def not_the_chief(distribution, reporter, model, preprocessor):
    """The result of a worker that is not the chief: it writes nothing."""
    reporter.info(f"{distribution.task}: training done; the chief writes the model directory")
    return TrainResult(path=None, metrics={}, model=model, preprocessor=preprocessor)


def output_guard(output, distribution, what="training"):
    """`OUTPUT.lock` for the chief of a run (`slukit.train.lock`); nothing elsewhere."""
    from slukit.train.lock import output_lock

    return output_lock(output, what) if distribution.is_chief else contextlib.nullcontext()


def may_replace(output, resume, force):
    """Whether a finished model directory at `output` may be replaced: with `force`, or
    when resuming an interrupted run to it (its checkpoint is there)."""
    from slukit.train.checkpoint import checkpoint_path

    return force or (resume and checkpoint_path(output).is_dir())


def train_recipe(recipe, output=None, reporter=None, resume=False, force=False):
    """Trains the recipe's model and writes its model directory.

    A recipe with a `source` section is a transfer recipe and goes to
    `slukit.transfer.train_transfer`; one with a `distill` section goes to
    `slukit.distill.distill_recipe` (teachers, then the student).

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
    if recipe.get("distill"):
        from slukit.distill import distill_recipe

        return distill_recipe(recipe, output=output, reporter=reporter, resume=resume,
                              force=force)
    if recipe.get("source"):
        from slukit.transfer import train_transfer

        return train_transfer(recipe, output=output, reporter=reporter, resume=resume,
                              force=force)
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
