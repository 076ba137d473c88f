"""Reproducible samples of a training split (`data.train_fraction`).

Example:
    >>> fraction_indices(10, 0.3, seed=0)
    [0, 6, 9]
    >>> sample_fraction(["a", "b", "c", "d"], 0.5, seed=1)
    ['b', 'c']
"""

import random


def sample_fraction(examples, fraction, seed):
    """A reproducible random `fraction` of `examples` (at least one), in file order."""
    if fraction >= 1.0:
        return list(examples)
    return [examples[i] for i in fraction_indices(len(examples), fraction, seed)]


def fraction_indices(n, fraction, seed):
    """The sorted indices, out of `n`, that `sample_fraction` keeps (at least one)."""
    k = max(1, round(n * fraction))
    return sorted(random.Random(seed).sample(range(n), k))
