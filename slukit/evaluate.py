"""Evaluates a model directory on labelled data: metrics, per-slot report, confusions.

Example:
    >>> report = evaluate_model_dir("runs/quickstart", "demo-en:test")   # doctest: +SKIP
    >>> sorted(report)                                                   # doctest: +SKIP
    ['confused_intents', 'data', 'metrics', 'slots']
"""

from pathlib import Path

from slukit.data.sources import resolve_data_arg
from slukit.errors import DataError


def unknown_labels(preprocessor, examples):
    """Labels of `examples` that the model cannot predict: `{"intents": {label: utterances},
    "slot_types": {type: tags}}` (empty dicts when there are none).

    Example:
        >>> from slukit.data.example import Example
        >>> from slukit.preprocess import SLUPreprocessor
        >>> pre = SLUPreprocessor.fit([Example(["play", "jazz"], ["O", "B-genre"], "Play")])
        >>> unknown_labels(pre, [Example(["hi", "bob"], ["O", "B-name"], "Greet")])
        {'intents': {'Greet': 1}, 'slot_types': {'name': 1}}
    """
    import collections

    known_types = {t.partition("-")[2] for t in preprocessor.tags.tokens if "-" in t}
    intents = collections.Counter(ex.intent for ex in examples
                                  if ex.intent not in preprocessor.intents)
    types = collections.Counter(t.partition("-")[2] for ex in examples for t in ex.tags
                                if "-" in t and t.partition("-")[2] not in known_types)
    return {"intents": dict(intents.most_common()), "slot_types": dict(types.most_common())}


def describe_unknown(unknown, total):
    """One warning line about labels the model does not know."""
    parts = []
    if unknown["intents"]:
        n = sum(unknown["intents"].values())
        shown = ", ".join(f"{k} ({v})" for k, v in list(unknown["intents"].items())[:8])
        parts.append(f"{n} of {total} utterances have an intent the model does not know "
                     f"({len(unknown['intents'])} intents: {shown})")
    if unknown["slot_types"]:
        shown = ", ".join(f"{k} ({v})" for k, v in list(unknown["slot_types"].items())[:8])
        parts.append(f"{len(unknown['slot_types'])} slot types the model does not know "
                     f"(tags: {shown})")
    return ("; ".join(parts) + ": those count as errors; is this the data the model was "
            "trained for?")


def evaluate_model_dir(model_dir, data, format=None, on_error="fail", batch_size=64, warn=None,
                       split=None):
    """Scores the model in `model_dir` on `data`; a JSON-ready report.

    `split` picks a partition of a MASSIVE file that mixes them (`valid` reads `dev`).
    """
    from slukit.data.readers import read_examples
    from slukit.train.artifact import load_model_dir
    from slukit.train.inference import predict_labels
    from slukit.train.metrics import confused_intents, slot_report, slu_metrics

    path, format = resolve_data_arg(data, format)
    examples = read_examples(path, format=format, on_error=on_error, warn=warn, split=split,
                             skip_hint="add --on-error skip")
    bundle = load_model_dir(model_dir)
    intents, tags = predict_labels(bundle.model, bundle.preprocessor, examples, batch_size)
    gold_intents = [ex.intent for ex in examples]
    gold_tags = [ex.tags for ex in examples]
    unknown = unknown_labels(bundle.preprocessor, examples)
    if (unknown["intents"] or unknown["slot_types"]) and warn is not None:
        warn(describe_unknown(unknown, len(examples)))
    return {
        "data": str(path),
        "unknown_labels": unknown,
        "metrics": slu_metrics(gold_intents, gold_tags, intents, tags),
        "slots": slot_report(gold_tags, tags),
        "confused_intents": confused_intents(gold_intents, intents),
    }


def _labels(intents, tags):
    """A stand-in with the label maps `unknown_labels` reads."""
    from types import SimpleNamespace

    return SimpleNamespace(intents=set(intents), tags=SimpleNamespace(tokens=list(tags)))


def predict_tflite(path, examples):
    """Intents, tag lists and label maps from an exported `.tflite` (LiteRT)."""
    from slukit.lite import LitePredictor

    lite = LitePredictor(path)
    pre = lite.preprocessor
    intents, tags = [], []
    for ex in examples:
        ip, tp = lite.probabilities(ex.tokens)
        intents.append(pre.decode_intent(ip)[0])
        tags.append(pre.decode_tags(tp) if len(ex.tokens) else [])
    return intents, tags, _labels(pre.intents.tokens, pre.tags.tokens)


def predict_saved_model(path, examples, batch_size=64):
    """Intents, tag lists and label maps from a text-in SavedModel (`serving_default`)."""
    import json

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the TF.Text ops before loading)

    info = json.loads((Path(path) / "assets.extra" / "slukit.json").read_text(encoding="utf-8"))
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    intents, tags = [], []
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        out = serve(text=tf.constant([" ".join(ex.tokens) for ex in batch]))
        for i, ex in enumerate(batch):
            n = int(out["num_tokens"][i])
            intents.append(out["intent"][i].numpy().decode("utf-8"))
            tags.append([t.decode("utf-8") for t in out["tags"][i][:n].numpy()])
    return intents, tags, _labels(info["intents"], info["tags"])


def artifact_kind(path):
    """`"tflite"`, `"saved_model"` or `"model_dir"` for an artifact path."""
    path = Path(path)
    if path.suffix == ".tflite":
        return "tflite"
    if (path / "saved_model.pb").is_file():
        return "saved_model"
    return "model_dir"


def evaluate_artifact(artifact, data, format=None, on_error="fail", warn=None, split=None):
    """Scores any artifact on `data` with the same report as `evaluate_model_dir`: a
    model directory, an exported `.tflite` (run with LiteRT, as a device would) or a
    text-in SavedModel. The report adds `"artifact"`: which kind was scored."""
    from slukit.data.readers import read_examples
    from slukit.train.metrics import confused_intents, slot_report, slu_metrics

    kind = artifact_kind(artifact)
    if kind == "model_dir":
        report = evaluate_model_dir(artifact, data, format=format, on_error=on_error,
                                    warn=warn, split=split)
        return {"artifact": kind, **report}
    if kind == "saved_model" and not (Path(artifact) / "assets.extra" / "slukit.json").is_file():
        raise DataError(f"{artifact}: a SavedModel without assets.extra/slukit.json; export it "
                        "with `slukit export --format saved_model`")
    path, format = resolve_data_arg(data, format)
    examples = read_examples(path, format=format, on_error=on_error, warn=warn, split=split,
                             skip_hint="add --on-error skip")
    run = predict_tflite if kind == "tflite" else predict_saved_model
    intents, tags, labels = run(artifact, examples)
    unknown = unknown_labels(labels, examples)
    if unknown and (unknown["intents"] or unknown["slot_types"]) and warn is not None:
        warn(describe_unknown(unknown, len(examples)))
    gold_intents = [ex.intent for ex in examples]
    gold_tags = [ex.tags for ex in examples]
    return {
        "artifact": kind,
        "data": str(path),
        "unknown_labels": unknown,
        "metrics": slu_metrics(gold_intents, gold_tags, intents, tags),
        "slots": slot_report(gold_tags, tags),
        "confused_intents": confused_intents(gold_intents, intents),
    }
