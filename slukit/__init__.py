"""slukit: joint intent classification and slot tagging with Keras, trained from
YAML recipes, carried to new languages by transfer, exported to TFLite.

Importing `slukit` is fast: it imports neither Keras nor TensorFlow. The names
below load their modules on first use.

Example:
    >>> import slukit
    >>> slukit.__version__
    '0.1.0'
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "JointSLU": "slukit.models.joint_slu",
    "SLUPreprocessor": "slukit.preprocess.preprocessor",
    "Example": "slukit.data.example",
    "read_examples": "slukit.data.readers",
    "load_recipe": "slukit.recipe.load",
    "train_recipe": "slukit.workflows.train",
    "load_model_dir": "slukit.train.artifact",
    "Predictor": "slukit.predict",
    "evaluate_model_dir": "slukit.evaluate",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'slukit' has no attribute {name!r}")
