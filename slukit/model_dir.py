"""The layout of a slukit model directory: its file names and what makes one finished.

A finished model directory holds `model.keras`, `recipe.yaml`, `metadata.json` and
`preprocessor.json` (with the vocabularies and `metrics.json` beside them); it is
written whole or not at all (`slukit.train.artifact.write_model_dir`) and checked
before loading (`slukit.integrity.verify_model_dir`).

Example:
    >>> import tempfile
    >>> is_model_dir(tempfile.mkdtemp())
    False
"""

from pathlib import Path

from slukit.errors import ModelDirError


MODEL_FILE = "model.keras"


RECIPE_FILE = "recipe.yaml"


METRICS_FILE = "metrics.json"


METADATA_FILE = "metadata.json"


REQUIRED = (MODEL_FILE, RECIPE_FILE, METADATA_FILE, "preprocessor.json")


def is_model_dir(path):
    path = Path(path)
    return path.is_dir() and all((path / f).is_file() for f in REQUIRED)


def require_model_dir(path):
    """Raises a clear `ModelDirError` unless `path` is a finished model directory."""
    path = Path(path)
    if not path.exists():
        raise ModelDirError(f"{path}: no such model directory")
    if not is_model_dir(path):
        missing = [f for f in REQUIRED if not (path / f).is_file()]
        raise ModelDirError(
            f"{path}: not a finished slukit model directory (missing {', '.join(missing)}); "
            "train one with `slukit train RECIPE`"
        )
    return path
