"""Training data streamed from its file, for training sets larger than memory.

`data.stream` chooses it (`auto`, the default, streams a training file larger
than `STREAM_THRESHOLD` bytes; `true` always; `false` never). The training
split is then a `TrainStream` instead of a list of examples:

1. **One vocabulary pass** (`TrainStream.scan`) reads the file with
   `iter_examples`, checking every line (a malformed line fails here, with its
   `file:line`, before any training starts) and counting tokens, intents, tags
   and utterance lengths (`ExampleCounts`). The preprocessor is fitted from the
   counts, and the number of batches per epoch follows exactly from the length
   histogram (`steps_per_pass`).
2. **Every epoch reads the file again.** Examples pass through a seeded
   shuffle buffer (`data.shuffle_buffer` examples) into length buckets (the
   `padded_length` rule of `bucket_plan`, so XLA sees the same shapes); a
   bucket emits a batch when it holds `batch_size` examples. At the end of
   the file each bucket's short rest is completed to a full batch with
   examples drawn from the bucket's last full batch (or from the rest itself),
   as `bucket_plan(fill=True)` completes it. A pass thus yields exactly
   `sum(ceil(n_b / batch_size))` batches over the buckets b, the count
   `bucket_plan` gives.

What stays in memory: the shuffle buffer, at most two batches of examples per
bucket, the counters (their size grows with the distinct tokens and labels,
not with the file), and, with `data.train_fraction` below 1, one byte per
training example saying whether it is kept (drawing that choice briefly
holds the list of indices that `random.sample` works on). The batches are
numpy arrays; `slukit.data.batching.serve_batches` hands them to `model.fit`
as a `keras.utils.PyDataset` (JAX, PyTorch) or through `tf.data` (TensorFlow).

`data.train_fraction` keeps the same examples as in memory (`sample_fraction`
over the file's good examples); it costs one more pass before the vocabulary
pass, to count them. `train.min_steps_per_epoch` repeats whole passes within
an epoch, as `epoch_plan` does. `data.code_switch` needs the data in memory:
with it `auto` does not stream, and `true` is an error.

Example:
    >>> import random
    >>> from slukit.data.example import Example
    >>> examples = [Example(["w"] * n, ["O"] * n, "x") for n in (3, 9, 4, 17, 5)]
    >>> batches = list(stream_batches(examples, batch_size=2, pad_multiple=8,
    ...                               rng=random.Random(0), buffer_size=2))
    >>> sorted(length for length, _ in batches)
    [8, 8, 16, 24]
    >>> steps_per_pass({3: 1, 9: 1, 4: 1, 17: 1, 5: 1}, batch_size=2, pad_multiple=8)
    4
"""

import random
from pathlib import Path

import numpy as np

from slukit.data.batching import EncodedData, padded_length, serve_batches
from slukit.data.readers import iter_examples
from slukit.errors import DataError, RecipeError
from slukit.data.example import ExampleCounts

STREAM_THRESHOLD = 200_000_000  # bytes: data.stream auto streams larger training data (200 MB)
SHUFFLE_BUFFER = 20_000  # data.shuffle_buffer's default (the schema, stdlib-only, repeats it)


def data_size(path):
    """The bytes of a data file, or of the files in a (seqin) folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def wants_stream(data_cfg, path):
    """Whether a recipe's `data` section streams its training data from `path`.

    Raises:
        RecipeError: `data.stream: true` together with `data.code_switch`.

    Example:
        >>> wants_stream({"stream": "false"}, "train.jsonl")
        False
    """
    mode = data_cfg.get("stream", "auto")
    if mode == "false":
        return False
    if data_cfg.get("code_switch"):
        if mode == "true":
            raise RecipeError(["data.stream: true cannot be combined with data.code_switch, which "
                               "draws its utterances from the training data in memory; set "
                               "data.stream: false (or auto), or leave out data.code_switch"])
        return False
    return mode == "true" or data_size(path) > STREAM_THRESHOLD


def steps_per_pass(lengths, batch_size, pad_multiple=8):
    """Batches in one streamed pass: `{tokens: utterances}` -> sum of ceil(bucket / batch_size)."""
    buckets = {}
    for n, count in lengths.items():
        length = padded_length(n, pad_multiple)
        buckets[length] = buckets.get(length, 0) + count
    return sum(-(-count // batch_size) for count in buckets.values())


def stream_batches(examples, batch_size, pad_multiple=8, rng=None, buffer_size=SHUFFLE_BUFFER):
    """Yields `(padded_length, [Example] * batch_size)` batches from an iterable of examples.

    Args:
        examples: `Example`s, read once.
        batch_size: examples per batch; every batch is full (see the module doc).
        pad_multiple: bucket width in tokens.
        rng: a `random.Random` for the shuffle buffer and for completing short
            batches; None keeps the file order (no buffer).
        buffer_size: how many examples the shuffle buffer holds.
    """
    buckets, last = {}, {}  # length -> examples waiting; length -> its last full batch

    def place(example):
        length = padded_length(len(example.tokens), pad_multiple)
        bucket = buckets.setdefault(length, [])
        bucket.append(example)
        if len(bucket) < batch_size:
            return None
        buckets[length] = []
        last[length] = bucket
        return length, bucket

    buffer = []
    for example in examples:
        if rng is not None:
            if len(buffer) < buffer_size:
                buffer.append(example)
                continue
            i = rng.randrange(buffer_size)
            example, buffer[i] = buffer[i], example
        batch = place(example)
        if batch is not None:
            yield batch
    if rng is not None:
        rng.shuffle(buffer)
    for example in buffer:
        batch = place(example)
        if batch is not None:
            yield batch
    rests = sorted(length for length, rest in buckets.items() if rest)
    if rng is not None:
        rng.shuffle(rests)
    for length in rests:
        rest = buckets[length]
        pool = last.get(length, rest)
        fill = [pool[rng.randrange(len(pool)) if rng is not None else i % len(pool)]
                for i in range(batch_size - len(rest))]
        yield length, rest + fill


class TrainStream:
    """A training split read from its file at every pass instead of held in memory.

    Call `scan` once (the vocabulary pass) before anything else; `counts` then
    holds what fitting the preprocessor and planning the batches need, and
    `len()` is the number of training examples.

    Args:
        path: the training file (or seqin folder).
        format: one of `slukit.data.readers.FORMATS`, or None to detect it.
        on_error: `fail` or `skip`, as for `read_examples`.
        fraction: keep this fraction of the good examples (`sample_fraction`'s
            choice, drawn with `seed`).
        seed: the seed of that choice.
        shuffle_buffer: examples in the shuffle buffer of each epoch.
        split: the split's name (a MASSIVE file that mixes partitions keeps its
            partition).

    Example:
        >>> stream = TrainStream("big/train.jsonl").scan()   # doctest: +SKIP
        >>> len(stream), stream.counts.max_tokens            # doctest: +SKIP
        (1000000, 41)
    """

    def __init__(self, path, format=None, on_error="fail", fraction=1.0, seed=0,
                 shuffle_buffer=SHUFFLE_BUFFER, split="train"):
        self.path = Path(path)
        self.format = format
        self.on_error = on_error
        self.fraction = fraction
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.split = split
        self.counts = None
        self._keep = None  # with a fraction: a bool per good example of the file

    def scan(self, warn=None):
        """The vocabulary pass: checks every line and counts the kept examples.

        Malformed lines fail here (or, with `on_error="skip"`, are reported
        through `warn` here and skipped quietly later). Returns self.
        """
        if self.fraction < 1.0:
            from slukit.data.sampling import fraction_indices

            n = sum(1 for _ in self._read(warn))
            self._keep = np.zeros(n, dtype=bool)
            self._keep[fraction_indices(n, self.fraction, self.seed)] = True
            warn = _quiet
        self.counts = ExampleCounts.of(self.examples(warn))
        return self

    def examples(self, warn=None):
        """The kept examples, in file order, read anew from the file (quietly by default)."""
        keep = self._keep
        for i, example in enumerate(self._read(warn or _quiet)):
            if keep is None or keep[i]:
                yield example

    def __iter__(self):
        return self.examples()

    def __len__(self):
        if self.counts is None:
            raise RuntimeError("TrainStream.scan() must run before len()")
        return self.counts.utterances

    def __repr__(self):
        size = f"{len(self)} examples" if self.counts is not None else "not scanned"
        return f"TrainStream({str(self.path)!r}, {size})"

    def _read(self, warn):
        return iter_examples(self.path, self.format, self.on_error, warn, split=self.split)


def _quiet(message):
    """A `warn` that says nothing (skipped lines were reported by the scan)."""


def epoch_batches(stream, preprocessor, batch_size, rng, pad_multiple=8, word_dropout=0.0,
                  passes=1):
    """Yields one epoch's `(inputs, labels)` numpy batches, reading `stream`'s file `passes` times.

    `rng` (a `numpy.random.Generator`) seeds the shuffle of each pass and draws
    the word dropout, as `EncodedData.batch` does.

    Raises:
        DataError: a pass read a different number of examples than the
            vocabulary pass (the file changed during training).
    """
    order = random.Random(int(rng.integers(2**63)))
    for _ in range(passes):
        read = 0

        def counted(examples):
            nonlocal read
            for read, example in enumerate(examples, 1):
                yield example

        for length, examples in stream_batches(counted(stream.examples()), batch_size,
                                               pad_multiple, order, stream.shuffle_buffer):
            data = EncodedData(preprocessor, examples)
            yield data.batch(np.arange(len(examples)), length, word_dropout, rng)
        if read != len(stream):
            raise DataError(f"{stream.path}: {read} training examples read in this epoch, but "
                            f"{len(stream)} in the vocabulary pass; the file changed during "
                            f"training")


def make_stream_pydataset(stream, preprocessor, batch_size, seed=0, pad_multiple=8,
                          word_dropout=0.0, min_steps=0, max_steps=0):
    """A `keras.utils.PyDataset` of training batches streamed from `stream`'s file.

    It is read in order: `batches[0]` starts an epoch (a new pass over the
    file), each later index must be the next one, and `on_epoch_end()` ends it.
    Its length is exact: whole passes (`min_steps` repeats them, as
    `epoch_plan` does) of `steps_per_pass` batches. With `max_steps` below
    that, an epoch is `max_steps` batches and the next one reads on from
    where it stopped (a new pass begins when the file is read through).
    """
    import keras

    per_pass = steps_per_pass(stream.counts.lengths, batch_size, pad_multiple)
    passes = max(1, -(-min_steps // per_pass))
    if max_steps and max_steps < passes * per_pass:
        return _capped_stream(stream, preprocessor, batch_size, seed, pad_multiple, word_dropout,
                              max_steps)

    class StreamedBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.batches, self.next = None, 0

        def __len__(self):
            return passes * per_pass

        def __getitem__(self, i):
            if i == 0 or self.batches is None:  # a new epoch, or a peek at the first batch
                self.batches = epoch_batches(stream, preprocessor, batch_size, self.rng,
                                             pad_multiple, word_dropout, passes)
                self.next = 0
            if i != self.next:
                raise IndexError(f"streamed batches are read in order: batch {i} was asked "
                                 f"for, batch {self.next} comes next")
            self.next += 1
            return next(self.batches)

        def on_epoch_end(self):
            if self.batches is not None:
                self.batches.close()  # closes the file
            self.batches = None

    return StreamedBatches()


def _capped_stream(stream, preprocessor, batch_size, seed, pad_multiple, word_dropout, steps):
    """Streamed batches, `steps` an epoch, each epoch reading on where the last stopped."""
    import keras

    class CappedStreamedBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.batches, self.next = None, 0

        def __len__(self):
            return steps

        def __getitem__(self, i):
            if i == 0:
                self.next = 0
            if i != self.next:
                raise IndexError(f"streamed batches are read in order: batch {i} was asked "
                                 f"for, batch {self.next} comes next")
            self.next += 1
            for _ in range(2):
                if self.batches is None:  # a new pass over the file
                    self.batches = epoch_batches(stream, preprocessor, batch_size, self.rng,
                                                 pad_multiple, word_dropout)
                try:
                    return next(self.batches)
                except StopIteration:
                    self.batches = None
            raise DataError(f"{stream.path}: no training batches")

        def on_epoch_end(self):
            """The next epoch reads on from where this one stopped."""

    return CappedStreamedBatches()


def make_stream_batches(stream, preprocessor, batch_size, seed=0, pad_multiple=8,
                        word_dropout=0.0, min_steps=0):
    """Streamed training batches for `model.fit` on the current backend, and their count per epoch.

    The streamed counterpart of `slukit.data.epochs.make_train_batches` (same arguments, with a
    scanned `TrainStream` for the encoded data).
    """
    return serve_batches(make_stream_pydataset(stream, preprocessor, batch_size, seed,
                                               pad_multiple, word_dropout, min_steps))
