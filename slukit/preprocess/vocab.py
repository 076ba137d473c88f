"""Vocabularies: token <-> id tables saved as plain text, one token a line.

Example:
    >>> v = Vocabulary.build(["a", "b", "a"], specials=(PAD, UNK))
    >>> v.ids(["a", "zzz"])
    [2, 1]
    >>> v.tokens[:3]
    ['<pad>', '<unk>', 'a']
"""

import collections
from pathlib import Path

from slukit.errors import ModelDirError

PAD = "<pad>"
UNK = "<unk>"


class Vocabulary:
    """An ordered list of tokens; a token's id is its position.

    Args:
        tokens: the tokens, specials first (`<pad>` is always id 0 when present).
        unk: the token that unknown tokens map to, or None if lookups of
            unknown tokens are an error (label maps).
    """

    def __init__(self, tokens, unk=None):
        self.tokens = list(tokens)
        self.unk = unk
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            dup = [t for t, n in collections.Counter(self.tokens).items() if n > 1]
            raise ValueError(f"duplicate tokens in vocabulary: {dup[:5]}")
        self.unk_id = self.index[unk] if unk is not None else None

    @classmethod
    def build(cls, items, specials=(PAD, UNK), min_count=1, unk=UNK):
        """Counts `items` and keeps those seen `min_count` times or more.

        Tokens are ordered by decreasing count, then alphabetically, so the
        result does not depend on the order of the data.
        """
        return cls.from_counts(collections.Counter(items), specials, min_count, unk)

    @classmethod
    def from_counts(cls, counts, specials=(PAD, UNK), min_count=1, unk=UNK):
        """Like `build`, from `{token: count}` already counted.

        Example:
            >>> Vocabulary.from_counts({"b": 1, "a": 2}, specials=()).tokens
            ['a', 'b']
        """
        kept = [t for t, n in counts.items() if n >= min_count and t not in specials]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls(list(specials) + kept, unk=unk if unk in specials else None)

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.index

    def id(self, token):
        """The id of `token`; the unknown id if it is not in the vocabulary."""
        found = self.index.get(token)
        if found is None:
            if self.unk_id is None:
                raise KeyError(token)
            return self.unk_id
        return found

    def ids(self, tokens):
        return [self.id(t) for t in tokens]

    def save(self, path):
        for t in self.tokens:
            if "\n" in t or "\r" in t:
                raise ValueError(f"token {t!r} holds a line break and cannot be saved")
        Path(path).write_text("".join(t + "\n" for t in self.tokens), encoding="utf-8")

    @classmethod
    def load(cls, path, unk=None):
        path = Path(path)
        if not path.is_file():
            raise ModelDirError(f"{path}: vocabulary file is missing")
        try:
            tokens = path.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError:
            raise ModelDirError(f"{path}: not UTF-8 text; the vocabulary is damaged") from None
        if tokens and tokens[-1] == "":
            tokens.pop()
        try:
            return cls(tokens, unk=unk if unk in tokens else None)
        except ValueError as err:
            raise ModelDirError(f"{path}: {err}; the vocabulary is damaged") from None
