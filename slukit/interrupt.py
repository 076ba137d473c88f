"""Ctrl-C that is never lost.

Python turns SIGINT into a `KeyboardInterrupt` wherever the main thread
happens to be; raised inside a finaliser or a callback that TensorFlow or
Keras guards, it can be printed as "Exception ignored" and dropped, and a
training run would then finish as if nothing happened. `install()` (the CLI
calls it) also records the request, and `check()`, called by training between
batches and before anything is written, raises it again.

Example:
    >>> requested.clear(); check()        # nothing requested: returns quietly
"""

import signal
import threading

requested = threading.Event()


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C with the one line to tell the user (what was kept, how to go on).

    Example:
        >>> str(Interrupted("progress kept in runs/x.checkpoint"))
        'progress kept in runs/x.checkpoint'
    """


def _on_sigint(signum, frame):
    requested.set()
    raise KeyboardInterrupt


def install():
    """Handle SIGINT as above (in the main thread only; elsewhere Python forbids it)."""
    requested.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)


def check():
    """Raises `KeyboardInterrupt` if Ctrl-C was pressed and has not surfaced yet."""
    if requested.is_set():
        raise KeyboardInterrupt
