"""The model directory: everything needed to use a trained model, written atomically.

Layout:
    recipe.yaml          the resolved recipe it was trained from
    model.keras          the Keras model (architecture + weights)
    preprocessor.json    text rules (tokenisation, normalisation, lengths)
    vocab/words.txt      word vocabulary, one per line (id = line number - 1)
    vocab/chars.txt      character vocabulary
    vocab/intents.txt    intent labels
    vocab/tags.txt       slot tags (`<pad>` first)
    metrics.json         {"valid": {...}, "test": {...}}
    metadata.json        versions, seed, date, parameters, timings, and the SHA-256 of
                         every other file with the vocabulary sizes (`slukit.integrity`)

The directory is built under a temporary name beside the target and renamed
into place only when complete, so an interrupted or failed run never leaves a
directory that looks like a finished model. Every loader checks it first
(`slukit.integrity.verify_model_dir`): a damaged directory is refused with one
error naming the file.

Example:
    >>> import tempfile
    >>> is_model_dir(Path(tempfile.mkdtemp()))    # a folder without the files
    False
    >>> write_model_dir("runs/demo", lambda tmp: ...)   # doctest: +SKIP
    >>> bundle = load_model_dir("runs/demo")           # doctest: +SKIP
"""

import dataclasses
import json
import os
import shutil
from pathlib import Path

from slukit.errors import ModelDirError
from slukit.model_dir import (  # noqa: F401  (imported from here too)
    METADATA_FILE, METRICS_FILE, MODEL_FILE, RECIPE_FILE, REQUIRED, is_model_dir, require_model_dir)


def check_output(output, force=True):
    """Fails early if `output` cannot receive a model directory.

    An existing finished model directory is replaced (at the very end of a
    successful run) only with `force`; any other existing, non-empty path is
    never touched.
    """
    output = Path(output)
    if is_model_dir(output) and not force:
        raise ModelDirError(
            f"{output}: holds a finished model already; pass --force to replace it (it is "
            "replaced only when the new run succeeds), or choose another --output")
    if output.exists() and not is_model_dir(output):
        if output.is_file() or any(output.iterdir()):
            raise ModelDirError(
                f"{output}: exists and is not a slukit model directory; "
                "choose another output (--output DIR or the recipe's `output`) or remove it"
            )
    parent = output.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise ModelDirError(f"{parent}: cannot write here (permission denied)")


def write_model_dir(output, fill):
    """Calls `fill(tmp_dir)` to write the files, then moves `tmp_dir` to `output`."""
    output = Path(output)
    check_output(output)
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    old = output.parent / f".{output.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
        if not is_model_dir(tmp):
            missing = [f for f in REQUIRED if not (tmp / f).is_file()]
            raise RuntimeError(f"model directory is incomplete, missing {missing}")
        from slukit.integrity import seal

        seal(tmp)  # digests and vocabulary sizes, checked by every loader
        from slukit import interrupt

        interrupt.check()  # a swallowed Ctrl-C: nothing is put in place
        if output.exists():
            output.rename(old)
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not output.exists():
            old.rename(output)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return output


def seal(path):
    """Re-records the digests of a model directory after a file of it changed
    (`slukit.integrity.seal`)."""
    from slukit.integrity import seal as seal_dir

    return seal_dir(path)


def write_json(path, obj):
    Path(path).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclasses.dataclass
class ModelBundle:
    """A loaded model directory."""

    path: Path
    model: object
    preprocessor: object
    recipe: dict
    metadata: dict


def load_model_dir(path):
    """Loads a finished model directory; a clear `ModelDirError` if it is not one or is
    damaged (`slukit.integrity.verify_model_dir` runs first)."""
    import yaml

    from slukit.integrity import model_fits_vocab, verify_model_dir

    path = require_model_dir(path)
    metadata = verify_model_dir(path)
    from slukit.preprocess import SLUPreprocessor

    preprocessor = SLUPreprocessor.load(path)
    import keras

    import slukit.models.joint_slu  # noqa: F401  (registers slukit's Keras classes for loading)

    try:
        model = keras.saving.load_model(path / MODEL_FILE, compile=False)
    except Exception as err:  # Keras reports a damaged archive as "File not found" and worse
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelDirError(f"{path / MODEL_FILE}: {MODEL_FILE} is damaged (Keras cannot load "
                            f"it: {first}); retrain the model or restore it") from None
    model_fits_vocab(model, preprocessor, path)
    return ModelBundle(
        path=path,
        model=model,
        preprocessor=preprocessor,
        recipe=yaml.safe_load((path / RECIPE_FILE).read_text(encoding="utf-8")),
        metadata=metadata,
    )
