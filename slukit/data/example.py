"""The in-memory form of one labelled utterance.

Example:
    >>> ex = Example(tokens=["play", "jazz"], tags=["O", "B-genre"],
    ...              intent="PlayMusic", source="train.jsonl:1")
    >>> ex.tokens
    ('play', 'jazz')
"""

import collections
import dataclasses


@dataclasses.dataclass(frozen=True)
class Example:
    """One utterance: whitespace tokens, one BIO tag per token, one intent.

    Args:
        tokens: the utterance's tokens.
        tags: one BIO slot tag per token (`O`, `B-type`, `I-type`).
        intent: the intent label; joint intents such as `a#b` are one label.
        source: where it came from, as `file:line`, for error messages.
        id: an identifier from the source file, when it has one.
    """

    tokens: tuple
    tags: tuple
    intent: str
    source: str = ""
    id: str = ""

    def __post_init__(self):
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "tags", tuple(self.tags))


class ExampleCounts:
    """What fitting a preprocessor needs from the training examples, counted in one pass.

    `tokens` counts the raw tokens (they are normalised when the preprocessor
    is fitted, so one count serves any `lowercase` setting), `intents` and
    `tags` the labels, and `lengths` the utterances of each token count (the
    bucketed batches of an epoch follow from it). Memory grows with the number
    of distinct tokens and labels, not with the number of examples.

    Example:
        >>> from slukit.data.example import Example
        >>> counts = ExampleCounts.of([Example(["play", "Jazz"], ["O", "B-genre"], "PlayMusic")])
        >>> counts.utterances, counts.max_tokens, dict(counts.intents)
        (1, 2, {'PlayMusic': 1})
        >>> from slukit.preprocess import SLUPreprocessor
        >>> SLUPreprocessor.fit(counts).words.tokens
        ['<pad>', '<unk>', 'jazz', 'play']
    """

    def __init__(self):
        self.tokens = collections.Counter()
        self.intents = collections.Counter()
        self.tags = collections.Counter()
        self.lengths = collections.Counter()

    @classmethod
    def of(cls, examples):
        """The counts of `examples` (any iterable of `Example`, read once)."""
        counts = cls()
        for example in examples:
            counts.add(example)
        return counts

    def add(self, example):
        """Counts one example."""
        self.tokens.update(example.tokens)
        self.intents[example.intent] += 1
        self.tags.update(example.tags)
        self.lengths[len(example.tokens)] += 1

    @property
    def utterances(self):
        """How many examples were counted."""
        return sum(self.lengths.values())

    @property
    def max_tokens(self):
        """The token count of the longest example (0 when none)."""
        return max(self.lengths, default=0)
