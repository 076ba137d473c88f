"""The Keras training loop of a `JointSLU`: seeding, the optimizer, compiling and `fit`.

`fit` trains on any training set (a list of examples, a streamed file, or a set that
brings its own batches and losses, as `slukit.workflows.joint` and `slukit.distill` do) with
validation, early stopping, checkpoints and distribution. The workflows that read
recipes and write model directories around it are in `slukit.workflows`.

Example:
    >>> set_seed(0, jit_compile=False)
    >>> type(make_optimizer({"optimizer": "adamw", "learning_rate": 1e-3})).__name__
    'AdamW'
"""

import time

import keras

from slukit.data.batching import EncodedData
from slukit.data.epochs import make_pydataset
from slukit.data.stream import TrainStream, make_stream_pydataset
from slukit.models.crf import slot_loss
from slukit.train.callbacks import InterruptCheck, ValidationMonitor
from slukit.train.losses import joint_losses
from slukit.train.schedules import learning_rate_for


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


def make_optimizer(train_cfg, learning_rate=None, steps_per_epoch=None, start_epoch=0):
    """The recipe's optimizer, with gradients clipped to norm 5.

    With `steps_per_epoch`, its rate follows `train.lr_schedule` and `train.warmup_epochs`
    (`slukit.train.schedules`), counted from `start_epoch`; `train.ema` turns on Keras's
    moving average of the weights (`use_ema`).
    """
    optimizers = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
                  "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    rate = learning_rate or train_cfg["learning_rate"]
    if steps_per_epoch:
        rate = learning_rate_for(train_cfg, rate, steps_per_epoch, start_epoch)
    ema = train_cfg.get("ema", 0.0)
    return optimizers[train_cfg["optimizer"]](
        learning_rate=rate, clipnorm=5.0, use_ema=bool(ema), ema_momentum=ema or 0.99)


def compile_model(model, train_cfg, learning_rate=None, losses=None, steps_per_epoch=None,
                  start_epoch=0):
    """Compiles with the recipe's losses, or `losses` (`{"intent", "slots"}`) when given."""
    if losses is None:
        losses = joint_losses(train_cfg["label_smoothing"])
        losses["slots"] = slot_loss(model, losses["slots"])  # a CRF's own loss (model.slot_decoder)
    model.compile(
        optimizer=make_optimizer(train_cfg, learning_rate, steps_per_epoch, start_epoch),
        loss=losses,
        loss_weights={"intent": train_cfg["intent_loss_weight"],
                      "slots": train_cfg["slot_loss_weight"]},
        # On JAX, Keras without XLA runs the training step op by op (many times slower).
        jit_compile=train_cfg["jit_compile"] or keras.backend.backend() == "jax",
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
    # Training sets of their own: several data sets mixed (slukit.workflows.joint), soft targets
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
                                  if hasattr(train_examples, "training_losses") else None),
                          steps_per_epoch=steps, start_epoch=start)
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


