"""Files written whole or not at all: a Ctrl-C or a full disk never leaves half of one.

The commands' single-file outputs (aligned vectors, a mined dictionary, `trials.csv`,
`best_recipe.yaml`, the curve's tables and figure) are written under a temporary
name beside the file (`.NAME.tmp-PID`) and renamed over it only once complete; on
any error or interrupt the temporary file is removed and an older file of that name
is left as it was. (Model directories and exports have their own atomic writers:
`slukit.train.artifact.write_model_dir`, `slukit.export`.)

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_open(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("whole")
    >>> path.read_text()
    'whole'
    >>> try:
    ...     with atomic_open(path, "w", encoding="utf-8") as f:
    ...         _ = f.write("half")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('whole', ['out.txt'])
"""

import contextlib
import os
from pathlib import Path


def temporary_name(path):
    """The temporary file beside `path` that `atomic_path` writes first."""
    path = Path(path)
    return path.parent / f".{path.name}.tmp-{os.getpid()}"


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` to write; renames it to `path` when the block
    ends normally (and no Ctrl-C is pending), removes it otherwise."""
    from slukit import interrupt

    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        interrupt.check()  # a Ctrl-C that a library swallowed: keep the old file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """`open(path, mode, **kwargs)` through `atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_text_atomically(path, text, encoding="utf-8"):
    """`Path(path).write_text(text)`, whole or not at all."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)
