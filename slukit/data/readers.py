"""Read labelled utterances from disk into `Example` objects.

Four formats are supported (`FORMATS`):

- `seqin`: a folder holding `seq.in` (tokens), `seq.out` (BIO tags) and
  `label` (intent); line i of each file belongs together (ATIS/SNIPS layout).
- `tsv`: a MultiATIS++ file with the header
  `id<TAB>utterance<TAB>slot_labels<TAB>intent` (columns in any order).
- `jsonl`: one JSON object per line,
  `{"tokens": [...], "tags": [...], "intent": "...", "id": "..."}` (`id` optional).
- `massive`: Amazon MASSIVE JSON Lines, one record per line with (at least)
  `utt`, `annot_utt`, `intent` and `partition` (`id`, `locale` optional).
  `annot_utt` marks slots inline, `wake me at [time : five am]`: the tokens are
  the whitespace tokens of `utt`, words inside a bracket get `B-time`,
  `I-time`, words outside get `O`, and the annotation without its brackets
  must give back `utt` token for token. A file that mixes partitions is read
  one split at a time (`split=`: train reads `train`, valid `dev`, test
  `test`). Locales written without spaces (ja-JP, zh-CN, zh-TW, th-TH, km-KH, my-MM) are refused.

Tokens and tags in text formats are split on runs of whitespace (`str.split()`).
Files must be UTF-8; a BOM and CRLF line ends are tolerated, and so are blank
lines at the end of a file.

Malformed lines are all collected first. With `on_error="fail"` they are raised
as one `DataError` listing each bad line as `file:line: problem`; with
`on_error="skip"` they are dropped and reported once through `warn`.

`read_examples` returns a list; `iter_examples` yields the same examples one
at a time, reading the file lazily (for training data larger than memory),
and reports malformed lines once it has read to the end. The list reader is
the iterator, collected.

This module uses the standard library only, so that it imports instantly.

Example:
    >>> read_examples("data/atis/train")            # doctest: +SKIP
    [Example(tokens=('i', 'want', 'to', 'fly', ...), ..., intent='atis_flight',
             source='data/atis/train/seq.in:1', id=''), ...]
"""

import itertools
import json
import re
import sys
from pathlib import Path

from slukit.data.example import Example
from slukit.errors import DataError
from slukit.registry import FORMATS, SPLITS

SEQIN_FILES = ("seq.in", "seq.out", "label")
TSV_HEADER = ("id", "utterance", "slot_labels", "intent")
TSV_REQUIRED = ("utterance", "slot_labels", "intent")
JSONL_KEYS = ("tokens", "tags", "intent")
MASSIVE_KEYS = ("utt", "annot_utt", "intent", "partition")
MASSIVE_PARTITIONS = {"train": "train", "valid": "dev", "test": "test"}  # split -> partition
# Languages written without spaces between words: MASSIVE's ja-JP, zh-CN, zh-TW, th-TH, km-KH, my-MM.
UNSPACED_LANGUAGES = ("ja", "zh", "th", "km", "my", "lo")
MAX_LISTED = 20  # at most this many problems are listed in one message

_BIO_TAG = re.compile(r"O|[BI]-\S+")
_UTF8_BOM = b"\xef\xbb\xbf"
_FORMAT_HELP = (
    "the formats are: seqin (a folder holding seq.in, seq.out and label), "
    "tsv (a .tsv file with the header id<TAB>utterance<TAB>slot_labels<TAB>intent) and "
    "jsonl (a .jsonl or .json file, one {\"tokens\", \"tags\", \"intent\"} object per line) and "
    "massive (a .jsonl or .json file of Amazon MASSIVE records with utt and annot_utt); "
    "rename the path to match one of them, or name the format explicitly "
    "(format: seqin, tsv, jsonl or massive)"
)


# ---------------------------------------------------------------- public API


def detect_format(path):
    """Guess a dataset's format from its path.

    A folder holding `seq.in` (or `seq.out`/`label`) is `seqin`, `*.tsv` is
    `tsv`. `*.jsonl` and `*.json` are `massive` when their first non-blank
    line is an object with `utt` and `annot_utt`, else `jsonl`. Anything else
    is a `DataError` that lists the formats.

    Example:
        >>> detect_format("data/snips/train")         # doctest: +SKIP
        'seqin'
        >>> detect_format("data/multiatis/de/train.tsv")  # doctest: +SKIP
        'tsv'
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if any((path / name).exists() for name in SEQIN_FILES):
            return "seqin"
        raise DataError(f"{path}: a folder without seq.in, seq.out or label; {_FORMAT_HELP}")
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "tsv"
    if suffix in (".jsonl", ".json"):
        return "massive" if _looks_like_massive(path) else "jsonl"
    raise DataError(f"{path}: cannot tell the data format from the name; {_FORMAT_HELP}")


def read_examples(path, format=None, on_error="fail", warn=None, split=None,
                  skip_hint="set data.on_error: skip"):
    """Read every example of a dataset.

    Args:
        path: a seqin folder, or a .tsv / .jsonl file.
        format: one of `FORMATS`, or None to call `detect_format`.
        on_error: "fail" raises one `DataError` listing every malformed line;
            "skip" drops malformed lines and reports them once through `warn`.
        warn: callable(str) for the skip report; by default it goes to stderr.
        split: "train", "valid", "test" or None. Only `massive` uses it: from
            a file that mixes partitions it keeps the split's partition
            (train, dev, test); such a file with split None is an error.
        skip_hint: how the caller's user switches to skipping, for the error
            message (the recipe key by default; `--on-error skip` in the CLI).

    Returns:
        A list of `Example`, in file order; `source` is `file:line`.

    Raises:
        DataError: a missing or non-UTF-8 file, seqin files of unequal length,
            a file without examples, a massive file of a locale written
            without spaces, or malformed lines (see `on_error`).

    Example:
        >>> examples = read_examples("train.jsonl", on_error="skip")  # doctest: +SKIP
        >>> examples[0].intent                                       # doctest: +SKIP
        'PlayMusic'
    """
    return list(iter_examples(path, format, on_error, warn, split, skip_hint))


def iter_examples(path, format=None, on_error="fail", warn=None, split=None,
                  skip_hint="set data.on_error: skip"):
    """Read a dataset one example at a time, without holding the file in memory.

    The same examples as `read_examples`, in the same order, checked the same
    way; the arguments are the same. Malformed lines are reported when the
    reading ends: with `on_error="fail"` the `DataError` listing them (at most
    `MAX_LISTED`, then a count) is raised after the last good example was
    yielded, so a caller that must not act on a bad file reads it to the end
    first (as the streamed training data's vocabulary pass does). A file that
    cannot be read at all (missing, not UTF-8, seqin files of unequal length)
    raises where the reading finds it. Only the current line (for seqin, one
    line of each file) is held in memory; a `massive` file is read twice, once
    for its locales and partitions.

    Example:
        >>> for example in iter_examples("train.jsonl"):   # doctest: +SKIP
        ...     print(example.intent)
        PlayMusic
    """
    if on_error not in ("fail", "skip"):
        raise DataError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
    if split not in SPLITS + (None,):
        raise DataError(f"split must be one of {', '.join(SPLITS)} or None, not {split!r}")
    if format is None:
        format = detect_format(path)
    if format not in FORMATS:
        raise DataError(f"unknown data format {format!r}; use one of {', '.join(FORMATS)}")
    path = Path(path)
    if format == "massive":
        rows, where = _read_massive(path, split)
    else:
        readers = {"seqin": _read_seqin, "tsv": _read_tsv, "jsonl": _read_jsonl}
        rows, where = readers[format](path), path
    return _apply_policy(rows, where, on_error, warn or _print_to_stderr, skip_hint)


# ---------------------------------------------------------------- one reader per format
# Each reader checks that its files are there, then returns "rows": an iterator
# of one (Example or None, [problem, ...]) per data line, read lazily.


def _read_seqin(folder):
    """Read a folder of seq.in / seq.out / label, e.g. `data/atis/train/`."""
    if not folder.exists():
        raise DataError(f"{folder}: folder not found (a seqin dataset is a folder "
                        f"holding seq.in, seq.out and label)")
    if not folder.is_dir():
        raise DataError(f"{folder}: is a file, but the seqin format needs a folder "
                        f"holding seq.in, seq.out and label")
    missing = [name for name in SEQIN_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)} "
                        f"(a seqin folder needs seq.in, seq.out and label)")
    return _seqin_rows(folder)


def _seqin_rows(folder):
    """The rows of a seqin folder, reading its three files side by side.

    Blank lines at the end are dropped only where every file is blank (or
    over), so that an empty last label is an "empty intent", not a count
    error; such lines are held back until a line with text follows. Files of
    unequal length are an error raised after the last line (no row is yielded
    from the first line where one file is over).
    """
    files = {name: folder / name for name in SEQIN_FILES}
    blame = {"tokens": files["seq.in"], "tags": files["seq.out"], "intent": files["label"]}
    lines = {name: 0 for name in SEQIN_FILES}  # lines read from each file
    held, used, uneven = [], 0, False  # used: lines up to the last one with text in any file
    readers = [_iter_lines(files[name], trim=False) for name in SEQIN_FILES]
    for line_no, items in enumerate(itertools.zip_longest(*readers), 1):
        texts = [item[1] if item is not None else None for item in items]
        for name, text in zip(SEQIN_FILES, texts):
            if text is not None:
                lines[name] = line_no
        held.append(texts)
        if all(text is None or not text.strip() for text in texts):
            continue  # blank in every file: dropped if nothing but blank lines follow
        for held_no, (text, tags, label) in enumerate(held, used + 1):
            uneven = uneven or None in (text, tags, label)
            if not uneven:
                yield _row(text.split(), tags.split(), label.strip(), blame, held_no)
        used, held = line_no, []
    counts = {name: min(count, used) for name, count in lines.items()}
    if len(set(counts.values())) > 1:
        raise DataError(
            [f"{files[name]}: {count} lines" for name, count in counts.items()],
            header=f"seq.in, seq.out and label in {folder} must have one line per "
                   f"utterance, but their line counts differ:")


def _read_tsv(path):
    """Read a MultiATIS++ TSV file, e.g. (with tabs between the columns)::

        id  utterance           slot_labels          intent
        1   fly to boston now   O O B-city O         atis_flight
    """
    _need_file(path, "tsv")
    return _tsv_rows(path)


def _tsv_rows(path):
    lines = _iter_lines(path)
    expected = "<TAB>".join(TSV_HEADER)
    _, first = next(lines, (None, None))
    if first is None:
        raise DataError(f"{path}: empty file; expected the header line {expected}")
    header = [name.strip() for name in first.split("\t")]
    missing = [name for name in TSV_REQUIRED if name not in header]
    if missing:
        raise DataError(
            f"{path}:1: the header has no column {', '.join(missing)}; expected the "
            f"header {expected} (any order, id optional), found {first!r}")
    column = {name: header.index(name) for name in TSV_HEADER if name in header}
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)

    for line_no, line in lines:
        fields = line.split("\t")
        if not line.strip():
            yield _bad(path, line_no, "blank line")
        elif len(fields) != len(header):
            yield _bad(path, line_no, f"expected {len(header)} tab-separated fields "
                                      f"({', '.join(header)}), found {len(fields)}")
        else:
            record = {name: fields[i] for name, i in column.items()}
            yield _row(record["utterance"].split(), record["slot_labels"].split(),
                       record["intent"].strip(), blame, line_no, id=record.get("id", "").strip())


def _read_jsonl(path):
    """Read JSON Lines, one object per line, e.g.::

        {"tokens": ["play", "jazz"], "tags": ["O", "B-genre"], "intent": "PlayMusic", "id": "7"}
    """
    _need_file(path, "jsonl")
    return _jsonl_rows(path)


def _jsonl_rows(path):
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)
    for line_no, line in _iter_lines(path):
        obj, problem = _parse_json_line(line)
        if problem:
            yield _bad(path, line_no, problem)
            continue
        problems = _jsonl_type_problems(obj)
        if problems:
            yield None, [f"{path}:{line_no}: {p}" for p in problems]
            continue
        yield _row(obj["tokens"], obj["tags"], obj["intent"].strip(), blame, line_no,
                   id=str(obj.get("id", "")))


def _jsonl_type_problems(obj):
    """Problems with the keys and types of one JSON Lines object.

    Example:
        >>> _jsonl_type_problems({"tokens": ["a"], "tags": "O"})
        ['missing key "intent"', '"tags" must be a list of strings, found a string']
    """
    if not isinstance(obj, dict):
        return [f"expected a JSON object, found {_json_type(obj)}"]
    problems = _missing_keys(obj, JSONL_KEYS)
    for key in ("tokens", "tags"):
        value = obj.get(key, [])
        if not isinstance(value, list):
            problems.append(f'"{key}" must be a list of strings, found {_json_type(value)}')
            continue
        wrong = [(i, item) for i, item in enumerate(value, 1) if not isinstance(item, str)]
        if wrong:
            i, item = wrong[0]
            problems.append(f'"{key}" must be a list of strings, '
                            f'but item {i} is {_json_type(item)}')
        elif key == "tokens" and any(not token.strip() for token in value):
            i = next(i for i, token in enumerate(value, 1) if not token.strip())
            problems.append(f'"tokens" item {i} is an empty or whitespace-only string')
    return problems + _string_problems(obj, ("intent",)) + _id_problems(obj)


def _missing_keys(obj, keys):
    """A one-item list naming the `keys` that `obj` lacks, or []."""
    missing = [key for key in keys if key not in obj]
    if not missing:
        return []
    return [f"missing key{'s' if len(missing) > 1 else ''} "
            + ", ".join(f'"{key}"' for key in missing)]


def _string_problems(obj, keys):
    """Problems with those of `keys` that `obj` has but not as a string."""
    return [f'"{key}" must be a string, found {_json_type(obj[key])}'
            for key in keys if key in obj and not isinstance(obj[key], str)]


def _id_problems(obj):
    """A problem with `obj["id"]` when it is there but not a string or integer."""
    if "id" in obj and (isinstance(obj["id"], bool) or not isinstance(obj["id"], (str, int))):
        return [f'"id" must be a string or an integer, found {_json_type(obj["id"])}']
    return []


def _parse_json_line(line):
    """(parsed value, None) for one line of JSON Lines, or (None, problem)."""
    if not line.strip():
        return None, "blank line"
    try:
        return json.loads(line), None
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg} (column {err.colno})"


def _json_type(value):
    """Name a parsed JSON value's type the way JSON does, e.g. 'a string'."""
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------- MASSIVE


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


# ---------------------------------------------------------------- shared helpers


def _check(tokens, tags, intent):
    """Problems with one example, as (field, message); field is tokens, tags or intent.

    Example:
        >>> _check(["play", "jazz"], ["O", "X-genre"], "")
        [('tags', "tag 2 'X-genre' is not O, B-type or I-type"), ('intent', 'empty intent')]
    """
    problems = []
    if not tokens:
        problems.append(("tokens", "empty utterance"))
    elif len(tokens) != len(tags):
        problems.append(("tags", f"{len(tokens)} tokens but {len(tags)} tags"))
    bad_tags = [(i, tag) for i, tag in enumerate(tags, 1) if not _BIO_TAG.fullmatch(tag)]
    if bad_tags:
        i, tag = bad_tags[0]
        more = f" ({len(bad_tags) - 1} more bad tags)" if len(bad_tags) > 1 else ""
        problems.append(("tags", f"tag {i} {tag!r} is not O, B-type or I-type{more}"))
    if not intent:
        problems.append(("intent", "empty intent"))
    return problems


def _row(tokens, tags, intent, blame, line_no, id=""):
    """Check one line and return (Example, []) or (None, problems).

    `blame` maps each field (tokens, tags, intent) to the file a problem with
    it is reported in; the example's `source` is the tokens file and line.
    """
    problems = [f"{blame[field]}:{line_no}: {message}"
                for field, message in _check(tokens, tags, intent)]
    if problems:
        return None, problems
    return Example(tokens, tags, intent, source=f"{blame['tokens']}:{line_no}", id=id), []


def _bad(path, line_no, message):
    """A row for a line that could not be parsed at all."""
    return None, [f"{path}:{line_no}: {message}"]


def _apply_policy(rows, where, on_error, warn, skip_hint="set data.on_error: skip"):
    """Yield the good examples of the checked rows, then apply on_error.

    Once the rows are over, fails (or, with "skip", warns) with the malformed
    lines listed, capped at `MAX_LISTED`: only those are kept while reading,
    with counts, so memory does not grow with the file. A dataset with no
    examples, or none left after skipping, is always an error.
    """
    n_rows = n_good = n_problems = 0
    listed = []
    for example, problems in rows:
        n_rows += 1
        if not problems:
            n_good += 1
            yield example
        else:
            n_problems += len(problems)
            listed += problems[:MAX_LISTED - len(listed)]
    if not n_rows:
        raise DataError(f"{where}: no examples found")
    n_bad = n_rows - n_good
    if n_bad == 0:
        return
    listed = _cap(listed, n_problems)
    malformed = (f"{n_bad} of {n_rows} lines in {where} "
                 f"{'is' if n_bad == 1 else 'are'} malformed")
    if not n_good:
        raise DataError(listed, header=f"{malformed}, so no examples are left:")
    if on_error == "fail":
        raise DataError(listed, header=f"{malformed} ({skip_hint} to drop them):")
    warn(f"skipped {n_bad} malformed of {n_rows} lines in {where}:\n"
         + "\n".join(f"  - {problem}" for problem in listed))


def _cap(problems, total=None):
    """Keep the first `MAX_LISTED` problems and summarise the rest.

    `total` is how many problems there are, when `problems` holds only the first ones.

    Example:
        >>> _cap([str(i) for i in range(22)])[-2:]
        ['19', '... and 2 more']
        >>> _cap([str(i) for i in range(21)], total=500)[-1]
        '... and 480 more'
    """
    total = len(problems) if total is None else total
    if total <= MAX_LISTED:
        return problems
    return problems[:MAX_LISTED] + [f"... and {total - MAX_LISTED} more"]


def _need_file(path, format):
    """Raise DataError unless `path` is an existing file."""
    if not path.exists():
        raise DataError(f"{path}: file not found (the {format} format reads one file)")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, but the {format} format reads one file")


def _iter_lines(path, trim=True):
    """Yield `(line number, text)` for a file's lines, without line ends, one at a time.

    The file must be UTF-8 (a leading BOM is dropped); LF and CRLF ends both work.
    A decoding error names the line and byte offset of the first bad byte. With
    `trim`, blank lines at the end are dropped: a run of blank lines is held back
    until a line with text follows it.
    """
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read the file: {err.strerror}") from None
    with file:
        blanks, offset, first = [], 0, b""  # offset: of the current line in the file
        for line_no, data in enumerate(file, 1):
            skipped = 0
            if line_no == 1:
                first = data[:2]
                skipped = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
            try:
                text = data[skipped:].decode("utf-8")
            except UnicodeDecodeError as err:
                raise _not_utf8(path, line_no, data, skipped + err.start, offset, first) from None
            offset += len(data)
            if text.endswith("\n"):
                text = text[:-1]
            if text.endswith("\r"):
                text = text[:-1]
            if trim and not text.strip():
                blanks.append((line_no, text))
                continue
            yield from blanks
            blanks.clear()
            yield line_no, text


def _not_utf8(path, line_no, data, column, offset, first):
    """The DataError for a line `data` whose byte `column` is not UTF-8."""
    utf16 = " (it looks like UTF-16)" if first in (b"\xff\xfe", b"\xfe\xff") else ""
    return DataError(
        f"{path}:{line_no}: not valid UTF-8{utf16}: byte 0x{data[column]:02x} at byte "
        f"offset {offset + column} of the file ({column} in this line); "
        f"re-save the file as UTF-8")


def _print_to_stderr(message):
    print(f"warning: {message}", file=sys.stderr)
