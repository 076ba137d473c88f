"""How a model's probabilities become the confidences it reports (numpy only).

A softmax trained with cross-entropy is over-confident: its maximum is higher
than the share of answers it gets right. `Confidence` holds the two temperatures
that `slukit.calibration` fits on the validation set at the end of training, one
for the intent head and one for the slot head, and the fallback rule:

- calibrated probabilities are `softmax(log(p) / T)`: the heads output
  probabilities, and `log p` differs from the logits by a constant per row,
  so this is exactly temperature scaling of the logits. `T > 1` softens.
  The ranking of intents and tags never changes.
- below `fallback_threshold`, the intent becomes `fallback_intent` (the ranking
  of the real intents is kept), so an application can ask again or hand over.

It is saved as the `"confidence"` entry of `preprocessor.json` and of the
`.tflite` metadata's `rules`, so `Predictor`, the SavedModel and `slukit.lite`
apply the same numbers. A model directory without the entry (trained before
calibration existed) gets temperature 1: the raw softmax.

Example:
    >>> c = Confidence(intent_temperature=2.0)
    >>> [round(float(x), 3) for x in c.intent_probs([0.9, 0.1])]
    [0.75, 0.25]
    >>> Confidence.from_dict(c.to_dict()) == c
    True
"""

import dataclasses

import numpy as np

#: The intent reported below the fallback threshold unless another is set.
DEFAULT_FALLBACK_INTENT = "nlu_fallback"


def scale(probs, temperature):
    """`softmax(log(probs) / temperature)` over the last axis.

    Example:
        >>> scale(np.array([0.5, 0.5]), 3.0).tolist()
        [0.5, 0.5]
    """
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0 or probs.size == 0:
        return probs
    logits = np.log(np.maximum(probs, 1e-30)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Confidence:
    """Temperatures and the fallback rule of one model.

    Args:
        intent_temperature: divides the intent head's log-probabilities (1: raw).
        slot_temperature: divides the slot head's log-probabilities (1: raw).
        fallback_threshold: an intent whose calibrated confidence is below this
            becomes `fallback_intent`; None (or 0) turns the fallback off.
        fallback_intent: the intent reported by the fallback.
        ranking_size: how many intents `intent_ranking` lists.
        fitted_on: what the temperatures were fitted on (for the record).
    """

    intent_temperature: float = 1.0
    slot_temperature: float = 1.0
    fallback_threshold: float | None = None
    fallback_intent: str = DEFAULT_FALLBACK_INTENT
    ranking_size: int = 5
    fitted_on: str | None = None

    def intent_probs(self, probs):
        """Calibrated intent probabilities."""
        return scale(probs, self.intent_temperature)

    def tag_probs(self, probs):
        """Calibrated tag probabilities (`[tokens, num_tags]`)."""
        return scale(probs, self.slot_temperature)

    def falls_back(self, confidence):
        """Whether an intent with this calibrated confidence goes to the fallback."""
        return bool(self.fallback_threshold) and confidence < self.fallback_threshold

    def with_fallback(self, threshold=None, intent=None):
        """A copy with the fallback threshold and/or intent replaced (None keeps them)."""
        changes = {}
        if threshold is not None:
            changes["fallback_threshold"] = float(threshold) or None
        if intent is not None:
            changes["fallback_intent"] = str(intent)
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """From the saved entry; missing keys take their defaults, unknown ones are ignored."""
        if not data:
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
