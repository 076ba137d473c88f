"""One writer per output: `OUTPUT.lock`, held by the run that writes OUTPUT.

Two runs to the same `--output` would share its checkpoint folder and replace
each other's model directory, each reporting success. `output_lock(output)`
takes an exclusive `fcntl.flock` on `OUTPUT.lock` (beside OUTPUT, holding the
owner's PID) for the whole run; a second run fails at once with a clear error.
The kernel releases the lock when the process ends, however it ends, so a
killed run never leaves a stale lock behind (the file may stay; it is reused).

`slukit train`, `tune` and `curve` hold it (the lock covers OUTPUT and
OUTPUT.checkpoint).

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> with output_lock(out):
    ...     lock_path(out).is_file()
    True
"""

import contextlib
import os
from pathlib import Path

from slukit.errors import OutputLockedError

SUFFIX = ".lock"


def lock_path(output):
    output = Path(output)
    return output.parent / f"{output.name}{SUFFIX}"


@contextlib.contextmanager
def output_lock(output, what="run"):
    """Holds `OUTPUT.lock` for the block; `OutputLockedError` if another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock, no protection
        yield None
        return
    path = lock_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                owner = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            except OSError:
                owner = "unknown"
            os.close(fd)
            raise OutputLockedError(
                f"{output}: another {what} (PID {owner}) is writing this output now "
                f"({path} is locked); wait for it to finish, or choose another --output") from None
        # The file may have been removed and recreated between open and flock: retry then.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield path
    finally:
        try:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
