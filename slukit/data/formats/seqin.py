"""The `seqin` format: a folder holding `seq.in` (tokens), `seq.out` (BIO tags) and `label`
(intent), line i of each file belonging together (the ATIS/SNIPS layout).
"""

import itertools

from slukit.data.formats.lines import _iter_lines, _row
from slukit.errors import DataError


SEQIN_FILES = ("seq.in", "seq.out", "label")


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
