"""How recipe problems are collected and worded.

`_Report` gathers every problem of one recipe, each placed at its file line or
at the `--set` override that gave the value, and raises them together as one
`RecipeError`; the helpers word values as a user wrote them and suggest the
closest spelling.

Example:
    >>> report = _Report("r.yaml", {"train": 3, "train.epochs": 4})
    >>> report.add("train.epochs", "expected an integer, got 'x'")
    >>> report.raise_if_any()
    Traceback (most recent call last):
    ...
    slukit.errors.RecipeError: r.yaml: the recipe has 1 problem:
      - r.yaml:4: train.epochs: expected an integer, got 'x'
"""

from __future__ import annotations

import difflib

from slukit.errors import RecipeError


class _Report:
    """Collects problems, each placed at a file line or at a `--set` override."""

    def __init__(self, source, lines, origins=None):
        self.source = source
        self.lines = lines
        self.origins = dict(origins or {})
        self._problems = []  # (sort key, text)

    def add(self, key: str, message: str, line: int | None = None) -> None:
        """Record `message` about the dotted `key` ("" for the whole recipe)."""
        where, order = self._locate(key, line)
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        self._problems.append((order, text))

    def add_override_problems(self, problems) -> None:
        self._problems += [((2, 0), text) for text in problems]

    def raise_if_any(self) -> None:
        if self._problems:
            texts = [text for _, text in sorted(self._problems, key=lambda p: p[0])]
            raise RecipeError(texts, header=_count_header(self.source, len(texts)))

    def _locate(self, key, line):
        if line is not None:
            return f"{self.source}:{line}", (0, line)
        prefixes = _prefixes(key)
        for prefix in prefixes:
            if prefix in self.origins:
                return self.origins[prefix], (1, 0)
        for prefix in prefixes:
            if prefix in self.lines:
                return f"{self.source}:{self.lines[prefix]}", (0, self.lines[prefix])
        return self.source, (0, 0)


def _prefixes(key: str) -> list[str]:
    """Every key a dotted key lies under, itself first.

        >>> _prefixes("a.b.c")
        ['a.b.c', 'a.b', 'a']
    """
    names = key.split(".") if key else []
    return [".".join(names[:i]) for i in range(len(names), 0, -1)]


def _count_header(source, count):
    return f"{source}: the recipe has {count} problem{'' if count == 1 else 's'}:"


def _describe(value) -> str:
    """A value as a user would write it: `'abc'`, `2.5`, `true`, `null`, `a list`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _closest(word: str, candidates, cutoff: float = 0.7) -> str | None:
    """The candidate spelled most like `word` (ignoring case), or None.

    Example:
        >>> _closest("Adma", ["adam", "sgd"])
        'adam'
    """
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[close[0]] if close else None


def _did_you_mean(word: str, candidates) -> str:
    """`" (did you mean 'x'?)"` for the closest candidate, or ""."""
    match = _closest(word, candidates)
    return f" (did you mean '{match}'?)" if match else ""


def _fail(source, problem):
    raise RecipeError([problem], header=_count_header(source, 1))


class _Bad(Exception):
    """A value does not fit its field; the message says why.

    `part` names the key inside the value that is wrong (a search spec's
    `step`, say), so that the problem can point at its line.
    """

    def __init__(self, message, part=None):
        super().__init__(message)
        self.part = part
