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

Each format's reader is its own module in `slukit.data.formats`; this module picks
one, applies `on_error`, and is the entry point. It uses the standard library only,
so that it imports instantly.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.jsonl"
    >>> _ = path.write_text(json.dumps({"tokens": ["play", "jazz"], "tags": ["O", "B-genre"],
    ...                                 "intent": "PlayMusic"}))
    >>> detect_format(path), [(e.tokens, e.intent) for e in read_examples(path)]
    ('jsonl', [(('play', 'jazz'), 'PlayMusic')])
    >>> read_examples("data/atis/train")            # doctest: +SKIP
    [Example(tokens=('i', 'want', 'to', 'fly', ...), ..., intent='atis_flight',
             source='data/atis/train/seq.in:1', id=''), ...]
"""

from pathlib import Path

from slukit.data.formats.jsonl import _read_jsonl
from slukit.data.formats.lines import _cap, MAX_LISTED, _print_to_stderr
from slukit.data.formats.massive import _looks_like_massive, _read_massive
from slukit.data.formats.seqin import _read_seqin, SEQIN_FILES
from slukit.data.formats.tsv import _read_tsv
from slukit.errors import DataError
from slukit.registry import FORMATS, SPLITS

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


# ---------------------------------------------------------------- on_error
# Each reader (slukit.data.formats) checks that its files are there, then returns
# "rows": an iterator of one (Example or None, [problem, ...]) per data line, read lazily.


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


