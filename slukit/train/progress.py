"""What a user sees while training: a rich progress bar per epoch, one line per
epoch with loss and validation metrics, and a metrics table at the end.

Example:
    >>> reporter = Reporter()           # prints to the terminal
    >>> reporter.info("loading data")   # doctest: +SKIP
"""

import time


class Reporter:
    """Prints progress and messages through a rich console (stderr by default)."""

    def __init__(self, console=None, quiet=False):
        from rich.console import Console

        self.console = console or Console(stderr=True, soft_wrap=True)
        self.quiet = quiet

    def info(self, message):
        if not self.quiet:
            self.console.print(message, highlight=False)

    def warn(self, message):
        self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    def stage(self, title):
        if not self.quiet:
            self.console.rule(f"[bold]{title}")

    def metrics_table(self, metrics, title="Metrics"):
        """A table with one row per split: intent accuracy, slot F1, sentence accuracy."""
        from rich.table import Table

        table = Table(title=title)
        table.add_column("split")
        for col in ("intent acc", "slot F1", "sentence acc", "utterances"):
            table.add_column(col, justify="right")
        for split, m in metrics.items():
            table.add_row(split, f"{100 * m['intent_accuracy']:.2f}", f"{100 * m['slot_f1']:.2f}",
                          f"{100 * m['sentence_accuracy']:.2f}", str(m.get("utterances", "")))
        self.console.print(table)

    def epoch_callback(self, epochs, steps):
        return ProgressCallback(self, epochs, steps)


def _make_callback_base():
    import keras

    return keras.callbacks.Callback


class ProgressCallback(_make_callback_base()):
    """Keras callback: a live batch bar, then one summary line per epoch.

    It reads `val_*` entries that `ValidationMonitor` (which must run before it)
    adds to the epoch logs.
    """

    def __init__(self, reporter, epochs, steps):
        super().__init__()
        self.reporter = reporter
        self.epochs = epochs
        self.steps = steps
        self.progress = None

    def on_train_begin(self, logs=None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.reporter.quiet:
            return
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                                 TimeElapsedColumn(), console=self.reporter.console,
                                 transient=True)
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        if self.progress is not None:
            self.task = self.progress.add_task(f"epoch {epoch + 1}/{self.epochs}",
                                               total=self.steps, loss="-")

    def on_train_batch_end(self, batch, logs=None):
        if self.progress is not None:
            loss = (logs or {}).get("loss")
            self.progress.update(self.task, advance=1,
                                 loss=f"{float(loss):.4f}" if loss is not None else "-")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.progress is not None:
            self.progress.remove_task(self.task)
        line = f"epoch {epoch + 1:>3}/{self.epochs}  loss {float(logs.get('loss', 0)):.4f}"
        if "val_intent_accuracy" in logs:
            line += (f"  valid intent {100 * logs['val_intent_accuracy']:.2f}"
                     f"  slot F1 {100 * logs['val_slot_f1']:.2f}"
                     f"  sentence {100 * logs['val_sentence_accuracy']:.2f}")
        line += f"  {time.perf_counter() - self.started:.1f}s"
        if logs.get("val_best"):
            line += "  [green]best[/green]"
        self.reporter.info(line)

    def on_train_end(self, logs=None):
        if self.progress is not None:
            self.progress.stop()
