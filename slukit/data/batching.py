"""Bucketed batches, padded per batch: backend-neutral (numpy), for any Keras backend.

Utterances are grouped by length into buckets (lengths rounded up to a
multiple of `pad_multiple`), so a batch is padded only to its own bucket's
length, not to the longest utterance of the data set, and XLA sees only a few
distinct shapes. `slukit.data.epochs.make_train_batches` serves them as a `keras.utils.PyDataset`
on JAX or PyTorch, and as a `tf.data` pipeline with an explicit signature
(batch and time dimensions left open) on TensorFlow; TensorFlow is imported
only on that backend.

Example:
    >>> plan = bucket_plan([3, 9, 4, 17], batch_size=2, pad_multiple=8)
    >>> [(length, idx.tolist()) for length, idx in plan]
    [(8, [0, 2]), (16, [1]), (24, [3])]
"""

import numpy as np


def padded_length(n, pad_multiple):
    """`n` rounded up to a multiple of `pad_multiple` (at least one multiple)."""
    return max(pad_multiple, -(-n // pad_multiple) * pad_multiple)


def bucket_plan(lengths, batch_size, pad_multiple=8, rng=None, fill=False):
    """Splits example indices into `(padded_length, indices)` batches.

    Args:
        lengths: token count of each example.
        batch_size: examples per batch.
        pad_multiple: bucket width in tokens.
        rng: a `numpy.random.Generator`; when given, shuffles within buckets
            and shuffles the batch order (training).
        fill: complete a bucket's last, short batch with other examples of the
            same bucket (training: every batch then has the same size, so XLA
            compiles one program per bucket length).
    """
    buckets = {}
    for i, n in enumerate(lengths):
        buckets.setdefault(padded_length(n, pad_multiple), []).append(i)
    plan = []
    for length in sorted(buckets):
        idx = np.array(buckets[length])
        if rng is not None:
            idx = rng.permutation(idx)
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            if fill and len(chunk) < batch_size:
                extra = (rng.choice(idx, batch_size - len(chunk)) if rng is not None
                         else np.resize(idx, batch_size - len(chunk)))
                chunk = np.concatenate([chunk, extra])
            plan.append((length, chunk))
    if rng is not None:
        order = rng.permutation(len(plan))
        plan = [plan[i] for i in order]
    return plan


class EncodedData:
    """A data set turned into ids by a preprocessor, ready to batch.

    Args:
        preprocessor: a fitted `SLUPreprocessor`.
        examples: `Example`s. Their labels are encoded when `labels` is True.
    """

    def __init__(self, preprocessor, examples, labels=True):
        self.preprocessor = preprocessor
        self.examples = list(examples)
        self.inputs = [preprocessor.encode_inputs(ex.tokens) for ex in self.examples]
        self.lengths = [len(ex.tokens) for ex in self.examples]
        if labels:
            self.intents = np.array([preprocessor.encode_intent(ex.intent) for ex in self.examples],
                                    dtype="int32")
            self.tags = [preprocessor.encode_tags(ex.tags) for ex in self.examples]

    def __len__(self):
        return len(self.examples)

    def batch(self, indices, length, word_dropout=0.0, rng=None):
        """Inputs (and labels, if encoded) of `indices`, padded to `length` tokens."""
        inputs = self.preprocessor.pad_inputs([self.inputs[i] for i in indices], length)
        if word_dropout and rng is not None and "word_ids" in inputs:
            ids = inputs["word_ids"]
            drop = (rng.random(ids.shape) < word_dropout) & (ids > 1)
            inputs["word_ids"] = np.where(drop, 1, ids).astype("int32")
        if not hasattr(self, "intents"):
            return inputs
        tags = np.zeros((len(indices), length), dtype="int32")
        for row, i in enumerate(indices):
            tags[row, : len(self.tags[i])] = self.tags[i]
        return inputs, {"intent": self.intents[indices], "slots": tags}


def epoch_plan(lengths, batch_size, pad_multiple, rng, min_steps=0):
    """One training epoch's bucketed, shuffled batches: as many shuffled passes
    over the data as it takes to reach `min_steps` batches (at least one)."""
    plan = bucket_plan(lengths, batch_size, pad_multiple, rng=rng, fill=True)
    while len(plan) < min_steps:
        plan += bucket_plan(lengths, batch_size, pad_multiple, rng=rng, fill=True)
    return plan


def predict_batches(data, batch_size, pad_multiple=8, fixed_rows=False):
    """Yields `(indices, inputs)` over `data` in bucket order.

    With `fixed_rows`, short batches are completed with empty rows so that an
    XLA-compiled model sees one shape per bucket; otherwise they stay short.
    """
    for length, indices in bucket_plan(data.lengths, batch_size, pad_multiple):
        inputs = data.preprocessor.pad_inputs([data.inputs[i] for i in indices], length)
        short = batch_size - len(indices)
        if fixed_rows and short:
            inputs = {k: np.concatenate([v, np.zeros((short,) + v.shape[1:], v.dtype)])
                      for k, v in inputs.items()}
        yield indices, inputs


def serve_batches(batches):
    """`(what model.fit takes, steps per epoch)` for a `PyDataset` of training batches.

    On JAX or PyTorch the `PyDataset` itself; on TensorFlow a `tf.data` pipeline
    over it with an explicit signature. `batches[i]` is read in order, from 0,
    and `on_epoch_end()` is called after each epoch (a streamed `PyDataset`
    relies on that; see `slukit.data.stream`).
    """
    import keras

    steps = len(batches)
    if keras.backend.backend() != "tensorflow":
        return batches, steps
    import tensorflow as tf

    inputs, labels = batches[0]
    batches.on_epoch_end()  # the peek above consumed no randomness that matters, but restart cleanly

    def spec(array):
        return tf.TensorSpec((None, None) + array.shape[2:], tf.as_dtype(array.dtype))

    signature = ({k: spec(v) for k, v in inputs.items()},
                 {"intent": tf.TensorSpec((None,), tf.int32), "slots": spec(labels["slots"])})

    def generate():
        for i in range(len(batches)):
            yield batches[i]
        batches.on_epoch_end()

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    return dataset.prefetch(2), steps
