"""The light runtime: exported `.tflite` models on LiteRT, without TensorFlow or Keras.

Example:
    >>> from slukit.lite import LitePredictor
    >>> p = LitePredictor("export/quickstart.tflite")        # doctest: +SKIP
    >>> p.predict_one("wake me up at 7 am")["intent"]        # doctest: +SKIP
    'SetAlarm'
"""

from slukit.errors import LiteError
from slukit.lite.metadata import read_metadata
from slukit.lite.predictor import LitePredictor, windows

__all__ = ["LitePredictor", "LiteError", "read_metadata", "windows"]
