"""The export's error class (no TensorFlow import)."""

from slukit.errors import SlukitError


class ExportError(SlukitError):
    """A model cannot be exported as asked (bad option, existing output, unsupported
    layer, GPU lint failure, parity failure)."""
