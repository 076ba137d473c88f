"""Training batches drawn from several data sets at set shares, and epochs cut short.

Joint transfer (`transfer.mode: joint`, see `slukit.workflows.joint`) trains one model
on source and target data at once. Each batch comes from one data set (one
language), so a batch is padded only to its own bucket and the share of target
batches is exact, whatever the sizes: `target_share: 0.5` gives as many target
batches as source batches even when the target data is a tenth of the source.

Every part is read as an endless run of bucketed, shuffled passes
(`CyclingPlan`): batch `k` of a part is batch `k % L` of pass `k // L`, and
pass `p` is shuffled with the seed `[seed, part, p]`. An epoch takes the next
`n` batches of each part, so a part that an epoch does not use up is continued,
not restarted, in the next one, and epoch `e`'s batches depend only on the
seed and `e` (a resumed run sees the batches an uninterrupted one would).
`train.max_steps_per_epoch` uses the same plan for one data set.

Example:
    >>> plan = CyclingPlan([3, 9, 4, 17, 5], batch_size=2, pad_multiple=8, seed=0)
    >>> len(plan)                 # batches per pass
    4
    >>> [length for length, _ in (plan[k] for k in range(6))]
    [16, 8, 24, 8, 24, 8]
    >>> mix_order({"source": 3, "target": 1}, seed=0, epoch=0)
    ['target', 'source', 'source', 'source']
"""

import numpy as np

from slukit.data.batching import EncodedData, bucket_plan


class CyclingPlan:
    """An endless run of shuffled, bucketed passes over one data set (see module doc).

    `len(plan)` is the number of batches in one pass; `plan[k]` is
    `(padded length, indices)` of batch `k` counted from the first pass.
    """

    def __init__(self, lengths, batch_size, pad_multiple=8, seed=0, salt=0):
        self.lengths, self.batch_size, self.pad_multiple = list(lengths), batch_size, pad_multiple
        self.seed, self.salt = seed, salt
        self._pass, self._plan = None, None
        self.per_pass = len(self._plan_of(0))

    def _plan_of(self, p):
        if self._pass != p:
            rng = np.random.default_rng([self.seed, self.salt, p])
            self._plan = bucket_plan(self.lengths, self.batch_size, self.pad_multiple, rng=rng,
                                     fill=True)
            self._pass = p
        return self._plan

    def __len__(self):
        return self.per_pass

    def __getitem__(self, k):
        return self._plan_of(k // self.per_pass)[k % self.per_pass]


def mix_order(counts, seed, epoch):
    """The shuffled order of one epoch's batches: part name `counts[name]` times each."""
    order = [name for name, n in counts.items() for _ in range(n)]
    rng = np.random.default_rng([seed, epoch, 7919])
    return [order[i] for i in rng.permutation(len(order))]


def share_counts(sizes, steps, shares):
    """Batches per epoch of each part: `shares` (part -> share, None: the rest) of `steps`.

    Example:
        >>> share_counts({"source": 100, "target": 10}, 20, {"target": 0.25, "source": None})
        {'source': 15, 'target': 5}
        >>> share_counts({"target": 50, "a": 90, "b": 90}, 101, {"target": 0.5})
        {'target': 50, 'a': 26, 'b': 25}
    """
    counts, fixed = {}, 0
    for name in sizes:
        if shares.get(name) is not None:
            counts[name] = max(1, round(steps * shares[name]))
            fixed += counts[name]
    rest = [name for name in sizes if shares.get(name) is None]
    left = max(steps - fixed, len(rest))
    for i, name in enumerate(rest):  # shared equally; the first parts take the remainder
        counts[name] = left // len(rest) + (1 if i < left % len(rest) else 0)
    return {name: counts[name] for name in sizes}


def epoch_steps(per_pass, target, share, min_steps=0, max_steps=0):
    """Batches per epoch of a mix.

    With a `share`, as many as it takes to see the `target` part once
    (`per_pass[target] / share`); without one, one pass over every part.
    Then at least `min_steps` and at most `max_steps` (0: no bound).

    Example:
        >>> epoch_steps({"source": 180, "target": 45}, "target", 0.5)
        90
        >>> epoch_steps({"source": 180, "target": 45}, "target", None, max_steps=100)
        100
    """
    steps = (round(per_pass[target] / share) if share is not None else sum(per_pass.values()))
    steps = max(steps, min_steps, 1)
    return min(steps, max_steps) if max_steps else steps


class MixedData:
    """Training data made of named parts, batched at set shares (`slukit.workflows.joint`).

    Args:
        parts: `{name: examples}`, in order; the first part is the one whose
            size `len()` reports (the target: what curves count).
        shares: `{name: share of the batches or None}`: parts with None share
            what the others leave, in proportion to nothing but their count.
        target: the part whose one pass makes an epoch when it has a share.
        transforms: `{name: function(examples, rng) -> examples}` applied to
            each batch's examples before encoding (code-switching a source
            batch afresh every time).

    `trainer.fit` asks it for its batches with `training_batches`.
    """

    def __init__(self, parts, shares, target, transforms=None):
        self.parts = {name: list(examples) for name, examples in parts.items()}
        self.shares, self.target = dict(shares), target
        self.transforms = dict(transforms or {})

    def __len__(self):
        return len(self.parts[self.target])

    def sizes(self):
        return {name: len(examples) for name, examples in self.parts.items()}

    def training_batches(self, preprocessor, train_cfg):
        """`(PyDataset of batches, {tokens: utterances})` for `trainer.fit`."""
        batches = make_mixed_pydataset(
            {name: EncodedData(preprocessor, examples) for name, examples in self.parts.items()},
            self.shares, self.target, train_cfg["batch_size"], seed=train_cfg["seed"],
            word_dropout=train_cfg["word_dropout"],
            min_steps=train_cfg.get("min_steps_per_epoch", 0),
            max_steps=train_cfg.get("max_steps_per_epoch", 0), transforms=self.transforms)
        lengths = {}
        for examples in self.parts.values():
            for ex in examples:
                lengths[len(ex.tokens)] = lengths.get(len(ex.tokens), 0) + 1
        return batches, lengths


def make_mixed_pydataset(parts, shares, target, batch_size, seed=0, pad_multiple=8,
                         word_dropout=0.0, min_steps=0, max_steps=0, transforms=None):
    """A `keras.utils.PyDataset` of batches from several `EncodedData` parts (see module doc)."""
    import keras

    transforms = transforms or {}
    plans = {name: CyclingPlan(data.lengths, batch_size, pad_multiple, seed, salt=i)
             for i, (name, data) in enumerate(parts.items())}
    per_pass = {name: len(plan) for name, plan in plans.items()}
    if shares.get(target) is None and all(s is None for s in shares.values()):
        counts = dict(per_pass)  # one pass over each part, cut or stretched to `steps`
        steps = epoch_steps(per_pass, target, None, min_steps, max_steps)
        scale = steps / sum(counts.values())
        counts = {name: max(1, round(n * scale)) for name, n in counts.items()}
    else:
        steps = epoch_steps(per_pass, target, shares[target], min_steps, max_steps)
        counts = share_counts(per_pass, steps, shares)

    class MixedBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.set_epoch(0)

        def set_epoch(self, epoch):
            self.epoch = epoch
            order = mix_order(counts, seed, epoch)
            seen = {name: epoch * n for name, n in counts.items()}
            self.plan = []
            for name in order:
                self.plan.append((name, seen[name]))
                seen[name] += 1

        def on_epoch_end(self):
            self.set_epoch(self.epoch + 1)

        def __len__(self):
            return len(self.plan)

        def __getitem__(self, i):
            name, k = self.plan[i]
            data = parts[name]
            length, indices = plans[name][k]
            rng = np.random.default_rng([seed, self.epoch, i])
            if name in transforms:
                examples = transforms[name]([data.examples[j] for j in indices], rng)
                data, indices = EncodedData(data.preprocessor, examples), np.arange(len(indices))
            return data.batch(indices, length, word_dropout, rng if word_dropout else None)

    return MixedBatches()


def make_capped_pydataset(data, batch_size, max_steps, seed=0, pad_multiple=8, word_dropout=0.0):
    """Training batches of one `EncodedData`, at most `max_steps` a epoch, continuing
    where the last epoch stopped (`train.max_steps_per_epoch`)."""
    return make_mixed_pydataset({"train": data}, {"train": None}, "train", batch_size, seed,
                                pad_multiple, word_dropout, max_steps=max_steps)
