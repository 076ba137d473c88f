"""Exports of a trained model directory: TFLite (LiteRT) and a text-in SavedModel.

- `export_tflite(model_dir, "out/model.tflite")`: one .tflite with a signature per
  fixed length, a metadata JSON beside it, GPU lint and parity (see `slukit.export.tflite`).
- `export_saved_model(model_dir, "out/saved_model")`: raw strings in, labels out
  (see `slukit.export.saved_model`).
- `lint_tflite(path)`: the static LiteRT GPU check (see `slukit.export.gpu_lint`).

The light runtime for the .tflite is `slukit.lite.LitePredictor`.
Importing this package is cheap; TensorFlow is imported by the export functions.
"""

import importlib

_LAZY = {
    "export_tflite": "slukit.export.tflite",
    "export_saved_model": "slukit.export.saved_model",
    "lint_tflite": "slukit.export.gpu_lint",
    "ExportError": "slukit.errors",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'slukit.export' has no attribute {name!r}")
