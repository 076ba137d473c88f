"""The named steps every training workflow shares (monolingual, transfer, joint, distill).

Each is one thing a run does: read the data (`load_data`), fit the preprocessor,
check and describe the model, score the splits, calibrate, write the model
directory (`save_run`) with its `metadata`, hold the output (`output_guard`,
`may_replace`) and checkpoint (`checkpointing`). A workflow is these steps in its
own order around `slukit.train.trainer.fit`; no workflow calls another's steps
through it.
"""

import contextlib
import dataclasses
import datetime
import platform
from pathlib import Path

import keras

from slukit import interrupt
from slukit.data.load import load_splits, unseen_labels
from slukit.data.stream import TrainStream
from slukit.models.crf import copy_transitions
from slukit.preprocess import SLUPreprocessor
from slukit.registry import SPLITS
from slukit.train.inference import evaluate_examples


@dataclasses.dataclass
class TrainResult:
    path: Path
    metrics: dict
    model: object
    preprocessor: object


def fit_preprocessor(train_examples, model_cfg):
    if isinstance(train_examples, TrainStream):
        train_examples = train_examples.counts  # counted by its scan: no second pass
    return SLUPreprocessor.fit(train_examples, embeddings=model_cfg["embeddings"],
                               lowercase=model_cfg["lowercase"],
                               min_word_count=model_cfg["min_word_count"],
                               max_word_chars=model_cfg["max_word_chars"],
                               slot_decoding=model_cfg["slot_decoding"])


def longest_utterances(splits):
    """`{split: most tokens of one utterance}` for the splits at hand (the export sizes
    its longest signature from them)."""
    out = {}
    for split in SPLITS:
        data = splits.get(split)
        if not data:
            continue
        if isinstance(data, TrainStream):
            out[split] = data.counts.max_tokens
        else:
            out[split] = max((len(ex.tokens) for ex in data), default=0)
    return out


def metadata(recipe, model, fit_info, splits=None):
    import slukit

    meta = {
        "slukit_version": slukit.__version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "python_version": platform.python_version(),
        "seed": recipe["train"]["seed"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": int(model.count_params()),
        **fit_info,
    }
    if splits:
        meta["max_tokens"] = longest_utterances(splits)
    if meta["backend"] == "tensorflow":
        import tensorflow as tf

        meta["tensorflow_version"] = tf.__version__
    return meta


def check_word_vectors(model_cfg, key="model.word_vectors"):
    path = model_cfg.get("word_vectors")
    if path and not Path(path).is_file():
        from slukit.errors import RecipeError

        raise RecipeError(f"{key}: file not found: {path}")


def load_data(recipe, reporter):
    """The recipe's splits, with warnings about labels that train lacks."""
    splits = load_splits(recipe, warn=reporter.warn, stream=True, info=reporter.info)
    for split in ("valid", "test"):
        unseen = unseen_labels(splits["train"], splits[split] or [], split)
        if unseen:
            reporter.warn("\n".join(unseen))
    streamed = " (streamed from its file)" if isinstance(splits["train"], TrainStream) else ""
    reporter.info(f"data: {len(splits['train'])} train{streamed}, "
                  f"{len(splits['valid'] or [])} valid, {len(splits['test'] or [])} test utterances")
    return splits


def describe_model(model, model_cfg):
    return (f"model: {model_cfg['encoder']} over {'+'.join(model_cfg['embeddings'])} "
            f"embeddings, {model.count_params():,} parameters ({keras.backend.backend()} backend)")


def score_splits(model, preprocessor, splits, distribution=None):
    """Valid and test metrics of `model`; under a strategy `distribution`
    predicts on this worker only (`Distribution.predictor`)."""
    copy_transitions(model, preprocessor)
    predictor = model if distribution is None else distribution.predictor(model)
    return {split: evaluate_examples(predictor, preprocessor, splits[split])
            for split in ("valid", "test") if splits[split]}


def calibrate(model, preprocessor, splits, metrics, recipe, reporter):
    """Fits the confidence temperatures on valid and adds ECE to `metrics`
    (`slukit.calibration.calibrate_run`), before the model directory is written."""
    from slukit.calibration import calibrate_run

    interrupt.check()
    calibrate_run(model, preprocessor, splits, metrics, recipe, reporter)


def save_run(output, recipe, model, preprocessor, metrics, meta, reporter):
    """Writes the model directory atomically (see `slukit.train.artifact`)."""
    interrupt.check()
    from slukit.recipe.load import dump_recipe
    from slukit.train.artifact import write_json, write_model_dir

    copy_transitions(model, preprocessor)

    def fill(tmp):
        model.save(tmp / "model.keras")
        preprocessor.save(tmp)
        (tmp / "recipe.yaml").write_text(dump_recipe(recipe), encoding="utf-8")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "metadata.json", meta)

    replaced = Path(output).exists()
    path = write_model_dir(output, fill)
    reporter.info(f"model written to [bold]{path}[/bold]"
                  + (" (it replaced the model that was there)" if replaced else ""))
    return path


@contextlib.contextmanager
def checkpointing(output, recipe, reporter, resume, distribution, force=False):
    """The run's `Checkpoint` (see `slukit.train.checkpoint`), around training and saving.

    Before: resumed from (`resume`), or cleared with `force`, or refused. After the
    block has written the model directory: deleted. After Ctrl-C: the last complete
    epoch is kept for `--resume`, and `interrupt.Interrupted` says so. After an
    error: kept, for `--resume`.
    """
    from slukit.train.checkpoint import Checkpoint

    checkpoint = Checkpoint(output, recipe, enabled=distribution.is_chief)
    checkpoint.prepare(resume, reporter, force=force)
    try:
        yield checkpoint
    except KeyboardInterrupt:
        raise interrupt.Interrupted(checkpoint.interrupted()) from None
    except BaseException:
        if checkpoint.enabled and checkpoint.latest() is not None:
            reporter.warn(f"the checkpoint in {checkpoint.path} is kept; `slukit train RECIPE "
                          f"--resume` continues from it")
        raise
    checkpoint.remove()


def not_the_chief(distribution, reporter, model, preprocessor):
    """The result of a worker that is not the chief: it writes nothing."""
    reporter.info(f"{distribution.task}: training done; the chief writes the model directory")
    return TrainResult(path=None, metrics={}, model=model, preprocessor=preprocessor)


def output_guard(output, distribution, what="training"):
    """`OUTPUT.lock` for the chief of a run (`slukit.train.lock`); nothing elsewhere."""
    from slukit.train.lock import output_lock

    return output_lock(output, what) if distribution.is_chief else contextlib.nullcontext()


def may_replace(output, resume, force):
    """Whether a finished model directory at `output` may be replaced: with `force`, or
    when resuming an interrupted run to it (its checkpoint is there)."""
    from slukit.train.checkpoint import checkpoint_path

    return force or (resume and checkpoint_path(output).is_dir())
