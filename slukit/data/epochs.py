"""The training batches `model.fit` reads, epoch by epoch, from one data set in memory.

`make_pydataset` draws a new bucketed shuffle at every epoch (`slukit.data.batching.epoch_plan`);
with `max_steps` below one pass, epochs are cut short and go on where the last one
stopped (`slukit.data.mixing.make_capped_pydataset`). `make_train_batches` hands it to
the current Keras backend.
"""

import numpy as np

from slukit.data.batching import bucket_plan, epoch_plan, serve_batches


def make_pydataset(data, batch_size, seed=0, pad_multiple=8, word_dropout=0.0, min_steps=0,
                   max_steps=0):
    """A `keras.utils.PyDataset` of shuffled, bucketed training batches.

    A new shuffle is drawn at every epoch. Epoch `e`'s batches depend only on
    `seed` and `e` (`set_epoch(e)` selects them; `on_epoch_end()` moves to the
    next epoch), and batch `i` only on those and `i`: a run is repeatable, a
    resumed run sees the batches an uninterrupted one would, and every worker
    of a distributed run draws the same global batches. With `min_steps`, an
    epoch repeats the data until it has at least that many batches. With
    `max_steps` below one pass, an epoch has `max_steps` batches and the next
    goes on where it stopped (`slukit.data.mixing.make_capped_pydataset`).
    """
    import keras

    if max_steps and max_steps < max(min_steps, len(bucket_plan(data.lengths, batch_size,
                                                                pad_multiple))):
        from slukit.data.mixing import make_capped_pydataset

        return make_capped_pydataset(data, batch_size, max_steps, seed, pad_multiple,
                                     word_dropout)

    class SLUBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.set_epoch(0)

        def set_epoch(self, epoch):
            self.epoch = epoch
            rng = np.random.default_rng([seed, epoch])
            self.plan = epoch_plan(data.lengths, batch_size, pad_multiple, rng, min_steps)

        def on_epoch_end(self):
            self.set_epoch(self.epoch + 1)

        def __len__(self):
            return len(self.plan)

        def __getitem__(self, i):
            length, indices = self.plan[i]
            rng = np.random.default_rng([seed, self.epoch, i]) if word_dropout else None
            return data.batch(indices, length, word_dropout, rng)

    return SLUBatches()


def make_train_batches(data, batch_size, seed=0, pad_multiple=8, word_dropout=0.0, min_steps=0):
    """Training batches for `model.fit` on the current Keras backend, and their count per epoch.

    (Keras infers a `PyDataset`'s tf.data signature from its first batches, which
    fixes the time dimension when those happen to share a bucket length; the
    explicit signature avoids that.)
    """
    return serve_batches(make_pydataset(data, batch_size, seed, pad_multiple, word_dropout,
                                        min_steps))
