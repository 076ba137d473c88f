"""Calibrated confidences: temperature scaling fitted on the validation set, and ECE.

At the end of training (`slukit train`, plain and transfer), `calibrate_run`
predicts the validation set once, fits one temperature for the intent head and
one for the slot head (Guo et al., 2017: the single scalar `T` that minimises
the negative log-likelihood of `softmax(log(p) / T)`, found by golden-section
search over `log T`), stores them in the preprocessor (saved in
`preprocessor.json` and carried into every export), and adds the expected
calibration error (ECE, 15 equal-width bins) before and after to each split of
`metrics.json`: `intent_ece`, `intent_ece_uncalibrated`, `slot_ece`,
`slot_ece_uncalibrated`. Slot ECE counts every token: the confidence of its best
tag against whether that tag is the gold one.

A temperature never changes which intent or tag is best, so accuracy and F1
stay the same; only the confidences move.

Example:
    >>> import numpy as np
    >>> probs = np.array([[0.99, 0.01], [0.99, 0.01], [0.99, 0.01], [0.01, 0.99]])
    >>> labels = np.array([0, 1, 0, 1])          # right 3 times out of 4
    >>> t = fit_temperature(probs, labels)
    >>> t > 1                                     # over-confident: softened
    True
    >>> round(expected_calibration_error(np.array([0.9, 0.9]), np.array([1, 0])), 3)
    0.4
"""

import math

import numpy as np

from slukit.preprocess.confidence import Confidence, scale

#: Bins of the expected calibration error.
ECE_BINS = 15
#: The range that temperatures are searched in.
T_MIN, T_MAX = 0.05, 20.0


def nll(probs, labels, temperature):
    """Mean negative log-likelihood of `labels` under `softmax(log(probs) / T)`."""
    calibrated = scale(probs, temperature)
    picked = calibrated[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, 1e-30))))


def fit_temperature(probs, labels, tolerance=1e-4):
    """The temperature minimising the NLL of `labels` (golden-section search on log T).

    Args:
        probs: `[N, K]` probabilities (a softmax's output).
        labels: `[N]` gold class ids.

    Returns 1.0 when there is nothing to fit on.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    a, b = math.log(T_MIN), math.log(T_MAX)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(probs, labels, math.exp(c)), nll(probs, labels, math.exp(d))
    while b - a > tolerance:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(probs, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(probs, labels, math.exp(d))
    best = math.exp((a + b) / 2)
    # Keep T = 1 unless the fit is actually better (flat NLL, ties).
    return best if nll(probs, labels, best) < nll(probs, labels, 1.0) else 1.0


def expected_calibration_error(confidences, correct, bins=ECE_BINS):
    """ECE: the mean |accuracy - confidence| over equal-width confidence bins,
    weighted by the share of predictions in each bin."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(confidences) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() / len(confidences) * abs(correct[mask].mean() - confidences[mask].mean())
    return float(total)


def reliability(confidences, correct, bins=ECE_BINS):
    """Per bin: `(mean confidence, accuracy, count)` (the reliability diagram's points)."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append((float(confidences[mask].mean()), float(correct[mask].mean()), int(mask.sum())))
    return rows


class SplitOutputs:
    """A labelled split's raw model outputs, flattened for calibration.

    `intent_probs [N, I]` with `intent_labels [N]` (-1 for an intent that the
    model does not know), `tag_probs [T, K]` over all tokens with `tag_labels [T]`
    (-1 for an unknown tag).
    """

    def __init__(self, preprocessor, examples, intent_probs, tag_probs):
        self.intent_probs = np.stack([np.asarray(p, dtype=np.float64) for p in intent_probs])
        self.intent_labels = np.array([preprocessor.intents.index.get(ex.intent, -1)
                                       for ex in examples], dtype=np.int64)
        tags = [np.asarray(p, dtype=np.float64) for p in tag_probs if len(p)]
        width = len(preprocessor.tags.tokens)
        self.tag_probs = np.concatenate(tags) if tags else np.zeros((0, width))
        self.tag_labels = np.array([preprocessor.tags.index.get(t, -1)
                                    for ex in examples for t in ex.tags], dtype=np.int64)
        if len(self.tag_labels) != len(self.tag_probs):  # examples without tags
            self.tag_labels = np.full(len(self.tag_probs), -1, dtype=np.int64)

    @classmethod
    def predict(cls, model, preprocessor, examples, batch_size=64):
        from slukit.data.batching import EncodedData
        from slukit.train.inference import predict_probs

        examples = list(examples)
        data = EncodedData(preprocessor, examples, labels=False)
        intent_probs, tag_probs = predict_probs(model, data, batch_size)
        return cls(preprocessor, examples, intent_probs, tag_probs)

    def intent_points(self, temperature=1.0):
        """`(confidence of the best intent, whether it is right)` per utterance."""
        probs = scale(self.intent_probs, temperature)
        return probs.max(axis=-1), probs.argmax(axis=-1) == self.intent_labels

    def slot_points(self, temperature=1.0):
        """`(confidence of the best tag, whether it is right)` per token (`<pad>` never chosen)."""
        probs = scale(self.tag_probs, temperature)
        best = probs[:, 1:].argmax(axis=-1) + 1 if len(probs) else np.zeros(0, dtype=np.int64)
        return probs[np.arange(len(best)), best], best == self.tag_labels

    def fit(self):
        """`(intent temperature, slot temperature)` fitted on this split's known labels."""
        known = self.intent_labels >= 0
        t_intent = fit_temperature(self.intent_probs[known], self.intent_labels[known])
        known = self.tag_labels >= 0
        t_slot = fit_temperature(self.tag_probs[known], self.tag_labels[known])
        return t_intent, t_slot

    def ece(self, confidence):
        """The four ECE numbers of `metrics.json` under `confidence`'s temperatures."""
        return {
            "intent_ece": round(expected_calibration_error(
                *self.intent_points(confidence.intent_temperature)), 6),
            "intent_ece_uncalibrated": round(expected_calibration_error(*self.intent_points()), 6),
            "slot_ece": round(expected_calibration_error(
                *self.slot_points(confidence.slot_temperature)), 6),
            "slot_ece_uncalibrated": round(expected_calibration_error(*self.slot_points()), 6),
        }


def confidence_from_recipe(recipe, intent_temperature=1.0, slot_temperature=1.0, fitted_on=None):
    """A `Confidence` with the recipe's `predict` settings and the given temperatures."""
    settings = (recipe or {}).get("predict") or {}
    base = Confidence()
    return Confidence(intent_temperature=float(intent_temperature),
                      slot_temperature=float(slot_temperature),
                      fallback_threshold=settings.get("fallback_threshold") or None,
                      fallback_intent=settings.get("fallback_intent") or base.fallback_intent,
                      ranking_size=settings.get("ranking_size") or base.ranking_size,
                      fitted_on=fitted_on)


def calibrate_run(model, preprocessor, splits, metrics, recipe=None, reporter=None,
                  batch_size=64):
    """Fits the temperatures on `splits["valid"]`, sets `preprocessor.confidence`, and
    adds the ECE keys to `metrics[split]` for valid and test (in place).

    Called at the end of training, before the model directory is written. Without
    a validation set the temperatures stay 1 (ECE is still reported).

    Returns the `Confidence` set on the preprocessor.
    """
    outputs = {split: SplitOutputs.predict(model, preprocessor, splits[split], batch_size)
               for split in ("valid", "test") if splits.get(split)}
    t_intent, t_slot, fitted_on = 1.0, 1.0, None
    if "valid" in outputs:
        t_intent, t_slot = outputs["valid"].fit()
        fitted_on = f"valid ({len(splits['valid'])} utterances)"
    confidence = confidence_from_recipe(recipe, round(t_intent, 4), round(t_slot, 4), fitted_on)
    preprocessor.confidence = confidence
    for split, out in outputs.items():
        metrics.setdefault(split, {}).update(out.ece(confidence))
    if reporter is not None and "valid" in outputs:
        where = "test" if "test" in metrics else "valid"
        m = metrics[where]
        reporter.info(f"calibration: intent temperature {confidence.intent_temperature:.3g}, slot "
                      f"temperature {confidence.slot_temperature:.3g}; {where} ECE intent "
                      f"{m['intent_ece_uncalibrated']:.4f} -> {m['intent_ece']:.4f}, slots "
                      f"{m['slot_ece_uncalibrated']:.4f} -> {m['slot_ece']:.4f}")
    return confidence


def refit_model_dir(path, valid=None, test=None, batch_size=64):
    """Fits (or refits) the temperatures of an existing model directory in place.

    For a model trained before calibration existed. `valid` and `test` default
    to the recipe's splits. Rewrites `preprocessor.json` and the ECE keys of
    `metrics.json`; with the artifact digests of `slukit.train.artifact`, the
    directory is sealed again.

    Returns `(Confidence, {split: ece dict})`.
    """
    import json
    from pathlib import Path

    from slukit.data.sources import split_paths
    from slukit.data.readers import read_examples
    from slukit.train.artifact import load_model_dir, write_json

    bundle = load_model_dir(path)
    recipe = bundle.recipe
    if valid is None and test is None:
        splits = {split: read_examples(file, format=fmt, split=split, on_error="skip",
                                       warn=lambda m: None) if file else None
                  for split, (file, fmt) in split_paths(recipe).items() if split != "train"}
    else:
        splits = {"valid": valid, "test": test}
    metrics_path = Path(path) / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    confidence = calibrate_run(bundle.model, bundle.preprocessor, splits, metrics, recipe,
                               batch_size=batch_size)
    bundle.preprocessor.save(path)
    write_json(metrics_path, metrics)
    _reseal(path)
    return confidence, {k: v for k, v in metrics.items() if k in ("valid", "test")}


def _reseal(path):
    """Re-writes the artifact digests, where this slukit keeps them."""
    try:
        from slukit.train.artifact import seal
    except ImportError:
        return
    seal(path)
