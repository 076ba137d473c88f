"""The in-memory form of one labelled utterance.

Example:
    >>> ex = Example(tokens=["play", "jazz"], tags=["O", "B-genre"],
    ...              intent="PlayMusic", source="train.jsonl:1")
    >>> ex.tokens
    ('play', 'jazz')
"""

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
