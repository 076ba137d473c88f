"""Read labelled utterances from disk into `Example` objects.

Three formats are supported (`FORMATS`):

- `seqin`: a folder holding `seq.in` (tokens), `seq.out` (BIO tags) and
  `label` (intent); line i of each file belongs together (ATIS/SNIPS layout).
- `tsv`: a MultiATIS++ file with the header
  `id<TAB>utterance<TAB>slot_labels<TAB>intent` (columns in any order).
- `jsonl`: one JSON object per line,
  `{"tokens": [...], "tags": [...], "intent": "...", "id": "..."}` (`id` optional).

Tokens and tags in text formats are split on runs of whitespace (`str.split()`).
Files must be UTF-8; a BOM and CRLF line ends are tolerated, and so are blank
lines at the end of a file.

Malformed lines are all collected first. With `on_error="fail"` they are raised
as one `DataError` listing each bad line as `file:line: problem`; with
`on_error="skip"` they are dropped and reported once through `warn`.

This module uses the standard library only, so that it imports instantly.

Example:
    >>> read_examples("data/atis/train")            # doctest: +SKIP
    [Example(tokens=('i', 'want', 'to', 'fly', ...), ..., intent='atis_flight',
             source='data/atis/train/seq.in:1', id=''), ...]
"""

import json
import re
import sys
from pathlib import Path

from slukit.data.example import Example
from slukit.errors import DataError

FORMATS = ("seqin", "tsv", "jsonl")
SEQIN_FILES = ("seq.in", "seq.out", "label")
TSV_HEADER = ("id", "utterance", "slot_labels", "intent")
TSV_REQUIRED = ("utterance", "slot_labels", "intent")
JSONL_KEYS = ("tokens", "tags", "intent")
MAX_LISTED = 20  # at most this many problems are listed in one message

_BIO_TAG = re.compile(r"O|[BI]-\S+")
_UTF8_BOM = b"\xef\xbb\xbf"
_FORMAT_HELP = (
    "the formats are: seqin (a folder holding seq.in, seq.out and label), "
    "tsv (a .tsv file with the header id<TAB>utterance<TAB>slot_labels<TAB>intent) and "
    "jsonl (a .jsonl or .json file, one {\"tokens\", \"tags\", \"intent\"} object per line); "
    "rename the path to match one of them, or name the format explicitly "
    "(format: seqin, tsv or jsonl)"
)


# ---------------------------------------------------------------- public API


def detect_format(path):
    """Guess a dataset's format from its path.

    A folder holding `seq.in` (or `seq.out`/`label`) is `seqin`, `*.tsv` is
    `tsv`, `*.jsonl` and `*.json` are `jsonl`. Anything else is a `DataError`
    that lists the formats.

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
        return "jsonl"
    raise DataError(f"{path}: cannot tell the data format from the name; {_FORMAT_HELP}")


def read_examples(path, format=None, on_error="fail", warn=None):
    """Read every example of a dataset.

    Args:
        path: a seqin folder, or a .tsv / .jsonl file.
        format: one of `FORMATS`, or None to call `detect_format`.
        on_error: "fail" raises one `DataError` listing every malformed line;
            "skip" drops malformed lines and reports them once through `warn`.
        warn: callable(str) for the skip report; by default it goes to stderr.

    Returns:
        A list of `Example`, in file order; `source` is `file:line`.

    Raises:
        DataError: a missing or non-UTF-8 file, seqin files of unequal length,
            a file without examples, or malformed lines (see `on_error`).

    Example:
        >>> examples = read_examples("train.jsonl", on_error="skip")  # doctest: +SKIP
        >>> examples[0].intent                                       # doctest: +SKIP
        'PlayMusic'
    """
    if on_error not in ("fail", "skip"):
        raise DataError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
    if format is None:
        format = detect_format(path)
    readers = {"seqin": _read_seqin, "tsv": _read_tsv, "jsonl": _read_jsonl}
    if format not in readers:
        raise DataError(f"unknown data format {format!r}; use one of {', '.join(FORMATS)}")
    path = Path(path)
    rows = readers[format](path)
    return _apply_policy(rows, path, on_error, warn or _print_to_stderr)


# ---------------------------------------------------------------- one reader per format
# Each reader returns "rows": one (Example or None, [problem, ...]) per data line.


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

    files = {name: folder / name for name in SEQIN_FILES}
    lines = {name: _read_lines(file, trim=False) for name, file in files.items()}
    # Blank lines at the end are dropped only where every file is blank (or
    # over), so that an empty last label is an "empty intent", not a count error.
    n = max(len(file_lines) for file_lines in lines.values())
    while n and all(len(file_lines) < n or not file_lines[n - 1].strip()
                    for file_lines in lines.values()):
        n -= 1
    counts = {name: min(len(lines[name]), n) for name in SEQIN_FILES}
    if len(set(counts.values())) > 1:
        raise DataError(
            [f"{files[name]}: {count} lines" for name, count in counts.items()],
            header=f"seq.in, seq.out and label in {folder} must have one line per "
                   f"utterance, but their line counts differ:")

    blame = {"tokens": files["seq.in"], "tags": files["seq.out"], "intent": files["label"]}
    return [
        _row(text.split(), tags.split(), label.strip(), blame, line_no)
        for line_no, (text, tags, label)
        in enumerate(zip(lines["seq.in"], lines["seq.out"], lines["label"]), 1)
    ]


def _read_tsv(path):
    """Read a MultiATIS++ TSV file, e.g. (with tabs between the columns)::

        id  utterance           slot_labels          intent
        1   fly to boston now   O O B-city O         atis_flight
    """
    _need_file(path, "tsv")
    lines = _read_lines(path)
    expected = "<TAB>".join(TSV_HEADER)
    if not lines:
        raise DataError(f"{path}: empty file; expected the header line {expected}")
    header = [name.strip() for name in lines[0].split("\t")]
    missing = [name for name in TSV_REQUIRED if name not in header]
    if missing:
        raise DataError(
            f"{path}:1: the header has no column {', '.join(missing)}; expected the "
            f"header {expected} (any order, id optional), found {lines[0]!r}")
    column = {name: header.index(name) for name in TSV_HEADER if name in header}
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)

    rows = []
    for line_no, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if not line.strip():
            rows.append(_bad(path, line_no, "blank line"))
        elif len(fields) != len(header):
            rows.append(_bad(path, line_no, f"expected {len(header)} tab-separated fields "
                                            f"({', '.join(header)}), found {len(fields)}"))
        else:
            record = {name: fields[i] for name, i in column.items()}
            rows.append(_row(record["utterance"].split(), record["slot_labels"].split(),
                             record["intent"].strip(), blame, line_no,
                             id=record.get("id", "").strip()))
    return rows


def _read_jsonl(path):
    """Read JSON Lines, one object per line, e.g.::

        {"tokens": ["play", "jazz"], "tags": ["O", "B-genre"], "intent": "PlayMusic", "id": "7"}
    """
    _need_file(path, "jsonl")
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)
    rows = []
    for line_no, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            rows.append(_bad(path, line_no, "blank line"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            rows.append(_bad(path, line_no, f"invalid JSON: {err.msg} (column {err.colno})"))
            continue
        problems = _jsonl_type_problems(obj)
        if problems:
            rows.append((None, [f"{path}:{line_no}: {p}" for p in problems]))
            continue
        rows.append(_row(obj["tokens"], obj["tags"], obj["intent"].strip(), blame, line_no,
                         id=str(obj.get("id", ""))))
    return rows


def _jsonl_type_problems(obj):
    """Problems with the keys and types of one JSON Lines object.

    Example:
        >>> _jsonl_type_problems({"tokens": ["a"], "tags": "O"})
        ['missing key "intent"', '"tags" must be a list of strings, found a string']
    """
    if not isinstance(obj, dict):
        return [f"expected a JSON object, found {_json_type(obj)}"]
    missing = [key for key in JSONL_KEYS if key not in obj]
    problems = [f"missing key{'s' if len(missing) > 1 else ''} "
                + ", ".join(f'"{key}"' for key in missing)] if missing else []
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
    if "intent" in obj and not isinstance(obj["intent"], str):
        problems.append(f'"intent" must be a string, found {_json_type(obj["intent"])}')
    if "id" in obj and (isinstance(obj["id"], bool) or not isinstance(obj["id"], (str, int))):
        problems.append(f'"id" must be a string or an integer, found {_json_type(obj["id"])}')
    return problems


def _json_type(value):
    """Name a parsed JSON value's type the way JSON does, e.g. 'a string'."""
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


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


def _apply_policy(rows, where, on_error, warn):
    """Apply on_error to the checked rows and return the good examples.

    Fails (or, with "skip", warns) with every malformed line listed, capped at
    `MAX_LISTED`. A dataset with no examples, or none left after skipping, is
    always an error.
    """
    if not rows:
        raise DataError(f"{where}: no examples found")
    good = [example for example, problems in rows if not problems]
    n_bad = len(rows) - len(good)
    if n_bad == 0:
        return good
    listed = _cap([problem for _, problems in rows for problem in problems])
    malformed = (f"{n_bad} of {len(rows)} lines in {where} "
                 f"{'is' if n_bad == 1 else 'are'} malformed")
    if not good:
        raise DataError(listed, header=f"{malformed}, so no examples are left:")
    if on_error == "fail":
        raise DataError(listed, header=f"{malformed} (set data.on_error: skip to drop them):")
    warn(f"skipped {n_bad} malformed of {len(rows)} lines in {where}:\n"
         + "\n".join(f"  - {problem}" for problem in listed))
    return good


def _cap(problems):
    """Keep the first `MAX_LISTED` problems and summarise the rest.

    Example:
        >>> _cap([str(i) for i in range(22)])[-2:]
        ['19', '... and 2 more']
    """
    if len(problems) <= MAX_LISTED:
        return problems
    return problems[:MAX_LISTED] + [f"... and {len(problems) - MAX_LISTED} more"]


def _need_file(path, format):
    """Raise DataError unless `path` is an existing file."""
    if not path.exists():
        raise DataError(f"{path}: file not found (the {format} format reads one file)")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, but the {format} format reads one file")


def _read_lines(path, trim=True):
    """Return a file's lines as text, without line ends (or trailing blank lines if `trim`).

    The file must be UTF-8 (a leading BOM is dropped); LF and CRLF ends both work.
    A decoding error names the line and byte offset of the first bad byte.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read the file: {err.strerror}") from None
    skipped = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        text = data[skipped:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skipped + err.start  # byte offset of the first bad byte in the file
        line_start = data.rfind(b"\n", 0, offset) + 1
        line_no = data.count(b"\n", 0, offset) + 1
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise DataError(
            f"{path}:{line_no}: not valid UTF-8{utf16}: byte 0x{data[offset]:02x} at byte "
            f"offset {offset} of the file ({offset - line_start} in this line); "
            f"re-save the file as UTF-8") from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines[-1] == "":  # the end of the last line, or an empty file
        lines.pop()
    while trim and lines and not lines[-1].strip():
        lines.pop()
    return lines


def _print_to_stderr(message):
    print(f"warning: {message}", file=sys.stderr)
