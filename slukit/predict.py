"""`Predictor`: raw text -> intent and slots, from a model directory.

Any string is accepted: empty or whitespace-only text gives no tokens (the
intent is then the model's answer for an empty utterance), and long texts are
tagged whole, one tag per token.

Example:
    >>> p = Predictor.from_dir("runs/quickstart")                   # doctest: +SKIP
    >>> p.predict(["wake me up at 7 am"])[0]["intent"]              # doctest: +SKIP
    'SetAlarm'
"""


from slukit.data.batching import EncodedData
from slukit.data.example import Example


class Predictor:
    """Runs a trained model on raw text.

    Confidences are calibrated with the temperatures stored in the model
    directory (`preprocessor.json`'s `confidence`, see `slukit.calibration`).

    Args:
        model: a `JointSLU`.
        preprocessor: its `SLUPreprocessor`.
        fallback_threshold: overrides the fallback threshold stored with the model
            (`predict.fallback_threshold` of its recipe); None keeps it, 0 turns it off.
        fallback_intent: overrides the stored fallback intent; None keeps it.
    """

    def __init__(self, model, preprocessor, batch_size=32, fallback_threshold=None,
                 fallback_intent=None):
        self.model = model
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        preprocessor.confidence = preprocessor.confidence.with_fallback(fallback_threshold,
                                                                        fallback_intent)

    @classmethod
    def from_dir(cls, path, **kwargs):
        """Loads a model directory (checked first, see `slukit.integrity`). TensorFlow's
        C++ start-up log lines (`I0000 ... port.cc`, `E0000 ... cuInit`) are kept out of
        stderr (`slukit.native_logs.quiet_native_logs`); the first prediction, which
        TensorFlow also comments on, runs here too."""
        from slukit.native_logs import quiet_native_logs
        from slukit.train.artifact import load_model_dir

        with quiet_native_logs():
            bundle = load_model_dir(path)
            predictor = cls(bundle.model, bundle.preprocessor, **kwargs)
            predictor.predict(["a"])  # a warm-up, so its log lines are dropped here too
        return predictor

    def predict(self, texts):
        """One prediction dict per text (see `SLUPreprocessor.prediction`). A bare string
        is one text: `predict("play jazz")` is `predict(["play jazz"])`."""
        from slukit.train.inference import predict_probs

        texts = [texts] if isinstance(texts, str) else list(texts)
        spans = [self.preprocessor.tokenize(t) for t in texts]
        examples = [Example([s[0] for s in sp], [], "") for sp in spans]
        data = EncodedData(self.preprocessor, examples, labels=False)
        intent_probs, tag_probs = predict_probs(self.model, data, self.batch_size)
        return [self.preprocessor.prediction(text, ip, tp)
                for text, ip, tp in zip(texts, intent_probs, tag_probs)]
