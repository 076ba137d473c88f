"""Training on several devices or machines with `tf.distribute` (`train.distribute`).

| `train.distribute` | strategy | replicas |
|---|---|---|
| `default` | none: Keras's own device placement | 1 |
| `mirrored` | `tf.distribute.MirroredStrategy` | every local GPU (or the CPU) |
| `multi_worker` | `tf.distribute.MultiWorkerMirroredStrategy` | the local GPUs (or CPU) of every worker in `TF_CONFIG` |

This module is the only place that knows about `tf.distribute`; the layers and
models use `keras.ops` only, and TensorFlow is imported here only when a
strategy is asked for (`read_tf_config` uses the standard library only).

How training is spread (the trainer calls the methods of `Distribution`):

- **Batches are global.** `train.batch_size` utterances make one step,
  whatever the number of replicas. Every worker draws the same bucketed global
  batches (their shuffle depends only on `train.seed` and the epoch, see
  `slukit.data.epochs.make_pydataset`), and replica `r` of `R` trains on rows
  `r * B/R ... (r + 1) * B/R - 1` of each, so all workers run the same number
  of steps per epoch and a step covers each utterance of the global batch
  once (`tf.distribute.Strategy.distribute_datasets_from_function`: each
  worker builds only its own replicas' rows). `train.batch_size` must be a
  multiple of the number of replicas.
- **The chief decides.** The validation set is scored by the chief (the task
  of type `chief`, or worker 0 when the cluster has no chief) on its own, and
  its scores, with its "best epoch" and "stop" decisions, are sent to every
  worker (`from_chief`), so all workers stop at the same epoch. At the start of
  every training phase the chief's weights and optimizer state are copied to
  all workers (`sync_variables`), which covers weights set outside training
  (pretrained vectors, transferred weights, a resumed checkpoint).
- **Only the chief writes.** The model directory and the checkpoints are
  written by the chief; the other workers write nothing (`is_chief`).

Example:
    >>> read_tf_config({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, '
    ...                               '"task": {"type": "worker", "index": 1}}'})
    Cluster(task_type='worker', task_index=1, workers=2, is_chief=False)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading

from slukit.errors import RecipeError, SlukitError


_TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}\'')


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker cluster (from `TF_CONFIG`)."""

    task_type: str
    task_index: int
    workers: int
    is_chief: bool


def read_tf_config(environ=None) -> Cluster:
    """Reads and checks the `TF_CONFIG` environment variable of a multi-worker run.

    `TF_CONFIG` is JSON with `cluster` (task type -> list of `host:port`;
    `worker`, and optionally one `chief`) and `task` (this process's `type`
    and `index`). The chief is the `chief` task, or worker 0 without one.

    Raises:
        SlukitError: `TF_CONFIG` is missing or malformed; the message says what
            is wrong and shows a valid example.

    Example:
        >>> read_tf_config({"TF_CONFIG": '{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, '
        ...                               '"task": {"type": "chief", "index": 0}}'}).is_chief
        True
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "").strip()
    hint = f"set it on every worker, e.g. {_TF_CONFIG_EXAMPLE} (see docs/scaling.md)"
    if not text:
        raise SlukitError("train.distribute: multi_worker reads the cluster from the TF_CONFIG "
                          f"environment variable, which is not set; {hint}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise SlukitError(f"TF_CONFIG is not valid JSON ({err}); {hint}") from None
    problems = []
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        problems.append("`cluster` must map task types (worker, chief) to lists of host:port "
                        "addresses")
        cluster = {}
    for kind, addresses in cluster.items():
        if kind not in ("chief", "worker"):
            problems.append(f"cluster.{kind}: slukit trains with chief and worker tasks only "
                            f"(no parameter servers or evaluators)")
        elif (not isinstance(addresses, list) or not addresses
              or not all(_is_address(a) for a in addresses)):
            problems.append(f"cluster.{kind}: expected a non-empty list of \"host:port\" "
                            f"strings, got {json.dumps(addresses)}")
    if len(cluster.get("chief", [])) > 1:
        problems.append("cluster.chief: there can be only one chief")
    if not isinstance(task, dict):
        problems.append("`task` must give this process's {\"type\": ..., \"index\": ...}")
        task = {}
    task_type, index = task.get("type"), task.get("index", 0)
    if task and task_type not in cluster:
        problems.append(f"task.type: {json.dumps(task_type)} is not a task type of the cluster "
                        f"({', '.join(cluster) or 'none'})")
    elif task and (not isinstance(index, int) or isinstance(index, bool)
                   or not 0 <= index < len(cluster[task_type] or [])):
        problems.append(f"task.index: {json.dumps(index)} is not an index into "
                        f"cluster.{task_type} (0 to {len(cluster[task_type] or []) - 1})")
    if problems:
        raise SlukitError(problems, header=f"TF_CONFIG does not describe a cluster slukit can "
                                           f"train on; {hint}:")
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    is_chief = task_type == "chief" or (task_type == "worker" and index == 0
                                         and not cluster.get("chief"))
    return Cluster(task_type, index, workers, is_chief)


def _is_address(address):
    host, _, port = str(address).rpartition(":") if isinstance(address, str) else ("", "", "")
    return bool(host) and port.isdigit()


def check_distribute(train_cfg, backend):
    """Raises a `RecipeError` when `train.distribute` cannot run on `backend`."""
    kind = train_cfg.get("distribute", "default")
    if kind != "default" and backend != "tensorflow":
        raise RecipeError(f"train.distribute: {kind} needs the TensorFlow backend (tf.distribute), "
                          f"but Keras runs on {backend}; set KERAS_BACKEND=tensorflow, or "
                          f"train.distribute: default")


_STRATEGIES = {}


def get_distribution(train_cfg):
    """The `Distribution` that `train.distribute` asks for, made once per process.

    A multi-worker strategy must be made before TensorFlow runs anything, so
    the trainer calls this first; later calls (the source stage of a transfer
    recipe, then the target stage) share it.

    Raises:
        RecipeError: a strategy on another backend than TensorFlow.
        SlukitError: `multi_worker` with a missing or malformed `TF_CONFIG`.
    """
    kind = train_cfg.get("distribute", "default")
    if kind == "default":
        return Distribution()
    import keras

    check_distribute(train_cfg, keras.backend.backend())
    if kind not in _STRATEGIES:
        cluster = read_tf_config() if kind == "multi_worker" else None
        import tensorflow as tf

        if kind == "mirrored":
            strategy = tf.distribute.MirroredStrategy()
            _STRATEGIES[kind] = Distribution(kind, strategy)
        else:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            _STRATEGIES[kind] = Distribution(kind, strategy, cluster.is_chief, cluster.workers,
                                             f"{cluster.task_type} {cluster.task_index}")
    return _STRATEGIES[kind]


@dataclasses.dataclass
class Distribution:
    """How one training run is spread over devices and workers (see the module doc).

    Args:
        kind: one of `slukit.registry.DISTRIBUTIONS`.
        strategy: the `tf.distribute.Strategy`, or None for `default`.
        is_chief: whether this process writes the outputs.
        workers: number of worker processes.
        task: this process's name in messages (`worker 1`).
    """

    kind: str = "default"
    strategy: object = None
    is_chief: bool = True
    workers: int = 1
    task: str = ""

    @property
    def replicas(self):
        """Replicas in sync across all workers (1 without a strategy)."""
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    def describe(self):
        """One line for the user: `distribute: multi_worker, 2 replicas on 2 workers (this is worker 1)`."""
        if self.strategy is None:
            return "distribute: default (one device)"
        replicas = f"{self.replicas} replica{'s' if self.replicas > 1 else ''}"
        where = f" on {self.workers} workers (this is {self.task})" if self.workers > 1 else ""
        return f"distribute: {self.kind}, {replicas}{where}"

    def scope(self):
        """The strategy's scope (build and compile the model in it)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def check_batch_size(self, batch_size):
        if batch_size % self.replicas:
            raise RecipeError(f"train.batch_size: {batch_size} utterances cannot be split evenly "
                              f"over {self.replicas} replicas; the batch size is global, so use a "
                              f"multiple of {self.replicas}")

    def fit_data(self, batches, first_epoch):
        """`(x, steps_per_epoch)` to give `model.fit` for epochs `first_epoch` onwards.

        `batches` is a `keras.utils.PyDataset` of global batches read in order
        (`batches[0]`, `batches[1]`, ..., then `on_epoch_end()`); its length is
        the steps per epoch. On TensorFlow, one reader goes through the epochs
        one after another (`steps_per_epoch` tells Keras where an epoch ends);
        with a strategy, each worker's dataset yields only its replicas' rows.
        On other backends Keras reads the `PyDataset` itself.
        """
        import keras

        set_epoch(batches, first_epoch)
        if keras.backend.backend() != "tensorflow":
            return batches, None
        import tensorflow as tf

        steps = len(batches)
        reader = _Reader(batches, first_epoch)
        signature = _signature(batches[0])
        if self.strategy is None:
            dataset = tf.data.Dataset.from_generator(reader.epochs, output_signature=signature)
            return dataset.prefetch(2), steps

        def dataset_fn(context):
            local = context.num_replicas_in_sync // context.num_input_pipelines
            mine = [context.input_pipeline_id * local + j for j in range(local)]
            total = context.num_replicas_in_sync

            def generate():
                for inputs, labels in reader.epochs():
                    rows = len(labels["intent"]) // total
                    for r in mine:
                        part = slice(r * rows, (r + 1) * rows)
                        yield ({k: v[part] for k, v in inputs.items()},
                               {k: v[part] for k, v in labels.items()})

            dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
            return dataset.prefetch(2 * local)

        return self.strategy.distribute_datasets_from_function(dataset_fn), steps

    @contextlib.contextmanager
    def fitting(self, model):
        """Around `model.fit`: works around two faults of Keras 3's `fit` under
        `MultiWorkerMirroredStrategy` (overrides on this model, removed after).

        - keras-team/keras#20329: `fit` builds the model's loss and metrics from
          the first batch after reducing it across workers with
          `strategy.reduce`, which TensorFlow's collective reduce cannot do for
          dict inputs. The batch only gives shapes, so this worker's own first
          batch does instead.
        - tensorflow/tensorflow#72388: `fit` averages each step's logs across
          workers with `strategy.reduce("MEAN", log, axis=0)`, which fails for
          scalar logs (the loss). The train step returns them with one axis.
        """
        if self.kind != "multi_worker":
            yield
            return
        import tensorflow as tf

        strategy = self.strategy
        train_step = model.train_step

        def train_step_with_axis(data):
            return {k: tf.reshape(v, (1,)) for k, v in train_step(data).items()}

        def maybe_symbolic_build(iterator=None, data_batch=None):
            if iterator is not None:
                for _, _, it in iterator:
                    data_batch = tf.nest.map_structure(
                        lambda v: strategy.experimental_local_results(v)[0], next(it))
                    break
            with strategy.scope():
                model._symbolic_build(data_batch=data_batch)

        model._maybe_symbolic_build = maybe_symbolic_build
        model.train_step = train_step_with_axis
        model.train_function = None
        try:
            yield
        except (tf.errors.UnavailableError, tf.errors.CancelledError) as err:
            # A worker stopped (crashed, killed, preempted): the others cannot go on.
            reason = str(err.message).strip().splitlines()[0][:300]
            raise SlukitError(f"{self.task}: training stopped because another worker did "
                              f"({reason}); start all workers again, with --resume to continue "
                              f"from the chief's last checkpoint") from None
        finally:
            del model._maybe_symbolic_build, model.train_step

    def predictor(self, model):
        """What to score `model` with on this worker alone: the model itself
        without a strategy; otherwise a plain function of the model, since a
        strategy's `predict` would gather results across workers."""
        return model if self.strategy is None else _LocalPredictor(model)

    def from_chief(self, values):
        """The chief's `values` (a list of numbers), on every worker.

        Every worker must call it at the same point; only the chief's values
        count (the others may pass anything of the same length).
        """
        if self.workers == 1:
            return list(values)
        import tensorflow as tf

        if not hasattr(self, "_broadcast"):
            def replica_fn(sent):
                context = tf.distribute.get_replica_context()
                first = tf.equal(context.replica_id_in_sync_group, 0)
                return context.all_reduce(tf.distribute.ReduceOp.SUM,
                                          tf.where(first, sent, tf.zeros_like(sent)))

            self._broadcast = tf.function(lambda sent: self.strategy.run(replica_fn, (sent,)))
        out = self._broadcast(tf.constant([float(v) for v in values], tf.float64))
        return self.strategy.experimental_local_results(out)[0].numpy().tolist()

    def sync_variables(self, variables):
        """Copies the chief's values of `variables` to every worker (multi-worker only)."""
        if self.workers == 1 or not variables:
            return
        import tensorflow as tf

        def replica_fn():
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, 0)
            groups = {}  # all_reduce packs a list into one tensor: one list per dtype
            for i, v in enumerate(variables):
                value = tf.convert_to_tensor(v.value if hasattr(v, "value") else v)
                value = tf.cast(value, tf.float64 if value.dtype.is_floating else tf.int64)
                groups.setdefault(value.dtype.name, []).append(
                    (i, tf.where(first, value, tf.zeros_like(value))))
            out = {}
            for group in groups.values():
                summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [v for _, v in group])
                out.update({i: value for (i, _), value in zip(group, summed)})
            return [out[i] for i in range(len(variables))]

        summed = tf.function(lambda: self.strategy.run(replica_fn))()
        for v, value in zip(variables, summed):
            v.assign(tf.cast(self.strategy.experimental_local_results(value)[0], v.dtype))

    def sync_training_state(self, model):
        """Builds the optimizer (in the strategy's scope) and copies the chief's
        weights and optimizer state to every worker."""
        if self.strategy is not None and model.optimizer is not None and not model.optimizer.built:
            with self.scope():
                model.optimizer.build(model.trainable_variables)
        self.sync_variables(list(model.variables) + list(getattr(model.optimizer, "variables", [])))


def set_epoch(batches, epoch):
    """Points `batches` at `epoch`: `set_epoch` where it has one (its shuffle then
    depends on the epoch), else a fresh start (`on_epoch_end`)."""
    if hasattr(batches, "set_epoch"):
        batches.set_epoch(epoch)
    else:
        batches.on_epoch_end()


class _Reader:
    """Reads a `PyDataset` of training batches epoch after epoch, for one reader at a time.

    Keras may open the dataset more than once (a peek at the first batch, then
    the real pass); each `epochs()` call starts again at `first_epoch`, and an
    older reader stops as soon as a newer one starts, so the `PyDataset` (which
    may read a file in order) is never read by two at once.
    """

    def __init__(self, batches, first_epoch):
        self.batches = batches
        self.first_epoch = first_epoch
        self.lock = threading.Lock()
        self.reader = None

    def epochs(self):
        me = object()
        with self.lock:
            self.reader = me
            set_epoch(self.batches, self.first_epoch)
        while True:
            for i in range(len(self.batches)):
                with self.lock:
                    if self.reader is not me:
                        return
                    batch = self.batches[i]
                yield batch
            with self.lock:
                if self.reader is not me:
                    return
                self.batches.on_epoch_end()


def _signature(batch):
    """The `tf.data` element signature of training batches like `batch`, with the
    batch and time dimensions left open (buckets differ in length)."""
    import tensorflow as tf

    inputs, labels = batch

    def spec(array):
        return tf.TensorSpec((None,) * min(array.ndim, 2) + array.shape[2:],
                             tf.as_dtype(array.dtype))

    return ({k: spec(v) for k, v in inputs.items()}, {k: spec(v) for k, v in labels.items()})


class _LocalPredictor:
    """`predict_on_batch` of a model built under a strategy, run on this worker only."""

    jit_compile = False

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self.function = tf.function(lambda inputs: model(inputs, training=False),
                                    reduce_retracing=True)

    def predict_on_batch(self, inputs):
        return {k: v.numpy() for k, v in self.function(inputs).items()}
