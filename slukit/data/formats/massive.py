"""The `massive` format: Amazon MASSIVE JSON Lines, one record per line with (at least)
`utt`, `annot_utt`, `intent` and `partition` (`id`, `locale` optional).

`annot_utt` marks slots inline, `wake me at [time : five am]`: the tokens are the
whitespace tokens of `utt`, words inside a bracket get `B-time`, `I-time`, words
outside get `O`, and the annotation without its brackets must give back `utt`
token for token. A file that mixes partitions is read one split at a time.
Locales written without spaces (ja-JP, zh-CN, zh-TW, th-TH, km-KH, my-MM) are refused.
"""

import json
import re

from slukit.data.formats.jsonl import (_id_problems, _json_type, _missing_keys, _parse_json_line,
                                       _string_problems)
from slukit.data.formats.lines import _bad, _iter_lines, _need_file, _row
from slukit.errors import DataError


MASSIVE_KEYS = ("utt", "annot_utt", "intent", "partition")


MASSIVE_PARTITIONS = {"train": "train", "valid": "dev", "test": "test"}  # split -> partition


# Languages written without spaces between words: MASSIVE's ja-JP, zh-CN, zh-TW, th-TH, km-KH, my-MM.
UNSPACED_LANGUAGES = ("ja", "zh", "th", "km", "my", "lo")


def _read_massive(path, split):
    """Read Amazon MASSIVE JSON Lines, one record per line, e.g.::

        {"id": "1", "locale": "en-US", "partition": "train", "intent": "alarm_set",
         "utt": "wake me up at nine am", "annot_utt": "wake me up at [time : nine am]"}

    Returns (rows, where): when the file mixes partitions, only the rows of
    `split`'s partition (and lines whose partition cannot be told), with
    `where` naming the partition for the messages. The file is read once up
    front for its locales and partitions, then lazily for the rows.
    """
    _need_file(path, "massive")
    wanted, where = _select_partition(path, split)
    return _massive_rows(path, wanted), where


def _massive_rows(path, wanted):
    """The rows of the records of partition `wanted` (all records when None)."""
    for line_no, line in _iter_lines(path):
        obj, problems = _parse_massive_line(line)
        if wanted is None or _partition_of(obj) in (wanted, None):
            yield _massive_row(path, line_no, obj, problems)


def _parse_massive_line(line):
    """(record or None, [problem, ...]) for one line; a malformed dict is kept."""
    obj, problem = _parse_json_line(line)
    if problem:
        return None, [problem]
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, found {_json_type(obj)}"]
    problems = (_missing_keys(obj, MASSIVE_KEYS)
                + _string_problems(obj, MASSIVE_KEYS + ("locale",)) + _id_problems(obj))
    return obj, problems


def _massive_row(path, line_no, obj, problems):
    """Check one parsed record and return (Example, []) or (None, problems)."""
    if problems:
        return None, [f"{path}:{line_no}: {problem}" for problem in problems]
    tags, problem = _annot_tags(obj["annot_utt"], obj["utt"])
    if problem:
        return _bad(path, line_no, problem)
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)
    return _row(obj["utt"].split(), tags, obj["intent"].strip(), blame, line_no,
                id=str(obj.get("id", "")))


def _refuse_unspaced_locale(path, line_no, obj):
    """Raise a DataError if the record `obj` is of a locale written without spaces."""
    locale = obj.get("locale") if obj is not None else None
    if isinstance(locale, str) and re.split(r"[-_]", locale)[0].lower() in UNSPACED_LANGUAGES:
        raise DataError(
            f"{path}:{line_no}: locale {locale} writes no spaces between words, but slukit "
            f"tokenizes on whitespace, so {locale} is not supported yet. Pre-tokenize utt "
            f"and annot_utt with spaces (e.g. one token per character) and convert the "
            f"records to the jsonl format ({{\"tokens\", \"tags\", \"intent\"}} per line)")


def _partition_of(obj):
    """A record's partition, or None when it has none (or not as a string)."""
    partition = obj.get("partition") if obj is not None else None
    return partition if isinstance(partition, str) else None


def _select_partition(path, split):
    """Read the file for its locales and partitions: `(partition to keep, where)`.

    The partition is None (keep every record) unless the file mixes
    partitions; then it is `split`'s. Records whose partition is unknown are
    always kept, so that their problems are reported. The first record of a
    locale written without spaces is an error.
    """
    found = set()
    for line_no, line in _iter_lines(path):
        obj, _ = _parse_json_line(line)
        obj = obj if isinstance(obj, dict) else None
        _refuse_unspaced_locale(path, line_no, obj)
        found.add(_partition_of(obj))
    found = sorted(found - {None})
    if len(found) <= 1:
        return None, path
    if split is None:
        raise DataError(
            f"{path}: the file mixes the partitions {', '.join(found)}, and no split was named "
            f"to choose one (train reads partition train, valid reads dev, test reads test); "
            f"in a recipe, name the file for data.train, data.valid and data.test")
    wanted = MASSIVE_PARTITIONS[split]
    if wanted not in found:
        raise DataError(f"{path}: no record has partition {wanted!r}, which the {split} split "
                        f"reads; the file holds the partitions {', '.join(found)}")
    return wanted, f"{path} (partition {wanted})"


def _annot_tags(annot, utt):
    """BIO tags for the tokens of `utt`, read from `annot`: (tags, None) or (None, problem).

    Example:
        >>> _annot_tags("wake me at [time : five am]", "wake me at five am")
        (['O', 'O', 'O', 'B-time', 'I-time'], None)
        >>> _annot_tags("wake me at [time : five", "wake me at five")
        (None, "annot_utt: '[' at column 12 has no closing ']'")
    """
    try:
        pieces = _annot_pieces(annot)
    except ValueError as err:
        return None, f"annot_utt: {err}"
    words, tags = [], []
    for slot, text in pieces:
        span = text.split()
        words += span
        tags += (["O"] * len(span) if slot is None
                 else [f"B-{slot}"] + [f"I-{slot}"] * (len(span) - 1))
    problem = _words_mismatch(words, tags, utt.split())
    return (None, problem) if problem else (tags, None)


def _annot_pieces(annot):
    """Split `annot` into (slot type or None, text) pieces; ValueError if malformed.

    Example:
        >>> _annot_pieces("at [time : five am] now")
        [(None, 'at '), ('time', 'five am '), (None, ' now')]
    """
    pieces, start, opened = [], 0, None  # opened: index of the unclosed '['
    for i, char in enumerate(annot):
        if char == "[":
            if opened is not None:
                raise ValueError(f"nested '[' at column {i + 1} "
                                 f"(the '[' at column {opened + 1} is not closed yet)")
            pieces.append((None, annot[start:i]))
            opened = i
        elif char == "]":
            if opened is None:
                raise ValueError(f"']' at column {i + 1} has no opening '['")
            pieces.append(_slot_piece(annot[opened + 1:i], opened + 1))
            start, opened = i + 1, None
    if opened is not None:
        raise ValueError(f"'[' at column {opened + 1} has no closing ']'")
    pieces.append((None, annot[start:]))
    return pieces


def _slot_piece(inside, column):
    """(slot type, words) for the text inside one bracket; ValueError if malformed."""
    bracket = f"[{inside}] at column {column}"
    slot, colon, words = f" {inside} ".partition(" : ")
    if not colon:
        raise ValueError(f"{bracket} has no ' : ' between the slot type and its words")
    slot = slot.strip()
    if not slot:
        raise ValueError(f"{bracket} has an empty slot type")
    if len(slot.split()) > 1:
        raise ValueError(f"{bracket}: the slot type {slot!r} contains spaces")
    if not words.strip():
        raise ValueError(f"{bracket} has no words after the slot type")
    return slot, words


def _words_mismatch(words, tags, utt_tokens):
    """Say where the annotation's words differ from the tokens of utt, or None.

    Example:
        >>> _words_mismatch(["at", "five"], ["O", "B-time"], ["at", "six"])
        "annot_utt does not match utt at token 2: utt has 'six', annot_utt has 'five' (in the time span)"
    """
    if words == utt_tokens:
        return None
    n = min(len(words), len(utt_tokens))
    i = next((i for i in range(n) if words[i] != utt_tokens[i]), n)
    if i == len(words):
        return (f"annot_utt does not match utt: utt has {len(utt_tokens)} tokens but annot_utt "
                f"only {len(words)} words; utt goes on with {utt_tokens[i]!r}")
    place = "outside the brackets" if tags[i] == "O" else f"in the {tags[i][2:]} span"
    if i == len(utt_tokens):
        return (f"annot_utt does not match utt: annot_utt has {len(words)} words but utt only "
                f"{len(utt_tokens)} tokens; annot_utt goes on with {words[i]!r} ({place})")
    return (f"annot_utt does not match utt at token {i + 1}: utt has {utt_tokens[i]!r}, "
            f"annot_utt has {words[i]!r} ({place})")


def _looks_like_massive(path):
    """Whether a file's first non-blank line is a JSON object with `utt` and `annot_utt`."""
    try:
        with path.open(encoding="utf-8-sig") as file:
            first = next((line for line in file if line.strip()), "")
        obj = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(obj, dict) and "utt" in obj and "annot_utt" in obj
