"""What every format reader shares: reading lines, checking one example, wording problems.

A reader yields "rows", one `(Example or None, [problem, ...])` per data line; `_row`
checks one line's tokens, tags and intent (`_check`), and `_iter_lines` reads a UTF-8
file lazily, naming the line and byte of anything that is not UTF-8.
"""

import re
import sys

from slukit.data.example import Example
from slukit.errors import DataError


MAX_LISTED = 20  # at most this many problems are listed in one message


_BIO_TAG = re.compile(r"O|[BI]-\S+")


_UTF8_BOM = b"\xef\xbb\xbf"


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
