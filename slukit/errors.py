"""Errors that slukit reports to users.

Every user mistake (a bad recipe key, a malformed data line, a missing file)
is raised as a subclass of `SlukitError`. The CLI prints these as a short list
of problems and exits with status 2; it never shows a traceback for them.

Every class here is also a `ValueError` (as keras-tuner's `FatalValueError` is),
so a caller can catch what it already knows. All of slukit's error classes live
in this one module; the modules that raise them import them from here.

Example:
    >>> err = DataError(["train/seq.in:3: 5 tokens but 4 tags"])
    >>> print(err)
    train/seq.in:3: 5 tokens but 4 tags
    >>> isinstance(err, ValueError)
    True
    >>> print(RecipeError(["model.units: expected an integer"], header="recipe.yaml: 1 problem"))
    recipe.yaml: 1 problem
      - model.units: expected an integer
"""


class SlukitError(ValueError):
    """Base class for errors caused by user input.

    Args:
        problems: one message or a list of messages, each complete on its own
            (it names the file and line, or the recipe key, and what was expected).
    """

    def __init__(self, problems, header=None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.header = header
        super().__init__(str(self))

    def __str__(self):
        lines = [self.header] if self.header else []
        if self.header:
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines += self.problems
        return "\n".join(lines)


class RecipeError(SlukitError):
    """A recipe (or a `--set` override) does not match the schema."""


class DataError(SlukitError):
    """A data file is missing, unreadable or malformed."""


class ModelDirError(SlukitError):
    """A path is not a finished slukit model directory."""


class ExportError(SlukitError):
    """A model cannot be exported as asked (bad option, existing output, unsupported
    layer, GPU lint failure, parity failure)."""


class LiteError(SlukitError):
    """An exported model or its metadata cannot be used as asked."""


class ServeError(SlukitError):
    """The service cannot start as asked."""


class OutputLockedError(SlukitError):
    """Another run is writing the same output."""
