"""Keeps TensorFlow's C++ start-up log lines out of the user's terminal.

TensorFlow writes absl-format lines (`I0000 00:00:... port.cc:153] oneDNN custom
operations are on...`, `E0000 ... failed call to cuInit`) straight to file
descriptor 2, before and regardless of `TF_CPP_MIN_LOG_LEVEL`. `filter_native_logs()`
points Python's `sys.stderr` at a copy of the terminal, and routes descriptor 2
(what C++ code writes to) through a thread that drops those lines and passes
everything else on. Set `SLUKIT_NATIVE_LOGS=1` to see them.

A library call that loads TensorFlow (`slukit.predict.Predictor.from_dir`) uses
`quiet_native_logs()` instead: only for the block, descriptor 2 goes to a
temporary file, and when the block ends every line of it but those is written
back, so nothing of the host program's own stderr is lost or kept redirected.

Example:
    >>> filter_native_logs()   # doctest: +SKIP
    >>> bool(ABSL_LINE.match(b"I0000 00:00:1.5  17 port.cc:153] oneDNN custom operations"))
    True
"""

import contextlib
import os
import re
import sys
import tempfile
import threading

ABSL_LINE = re.compile(rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\]|"
                       rb"WARNING: All log messages before absl::InitializeLog|"
                       rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU|"
                       rb"To enable the following instructions: .*rebuild TensorFlow with)")
_installed = False
_scoped = threading.Lock()


def filter_native_logs():
    """Installs the filter once per process: a no-op if asked not to, if `sys.stderr`
    was already redirected by the host program, or off a real file descriptor."""
    global _installed
    if _installed or os.environ.get("SLUKIT_NATIVE_LOGS") == "1":
        return
    if sys.stderr is not sys.__stderr__:  # someone (a test, an app) already redirected it
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = os.fdopen(os.dup(original), "w", buffering=1, encoding=sys.stderr.encoding,
                           errors="backslashreplace")
    _installed = True

    def pump():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not ABSL_LINE.match(line):
                    os.write(original, line)

    threading.Thread(target=pump, name="slukit-native-logs", daemon=True).start()


@contextlib.contextmanager
def quiet_native_logs():
    """Drops the C++ log lines written to descriptor 2 during the block; every other line
    written there meanwhile is passed on when the block ends. A no-op where the process
    filter is installed, `SLUKIT_NATIVE_LOGS=1` is set, another thread is in such a block,
    or descriptor 2 cannot be redirected."""
    if _installed or os.environ.get("SLUKIT_NATIVE_LOGS") == "1" or \
            not _scoped.acquire(blocking=False):
        yield
        return
    try:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()  # Python's own lines of the block go back in order
                except (OSError, ValueError, AttributeError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                caught.seek(0)
                for line in caught:
                    if not ABSL_LINE.match(line):
                        os.write(2, line)
    finally:
        _scoped.release()
