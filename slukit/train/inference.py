"""Runs a `JointSLU` over many utterances, batched by length, and decodes labels.

Example:
    >>> from slukit.data.example import Example
    >>> from slukit.models.builder import build_model
    >>> from slukit.preprocess import SLUPreprocessor
    >>> examples = [Example(["hi", "there"], ["O", "O"], "greet")]
    >>> pre = SLUPreprocessor.fit(examples, embeddings=["word"])
    >>> model = build_model({"embeddings": ["word"], "encoder": "bilstm", "units": 4,
    ...                      "layers": 1}, pre)
    >>> predict_labels(model, pre, examples)
    (['greet'], [['O', 'O']])
"""

import numpy as np

from slukit.data.batching import EncodedData, predict_batches


def predict_probs(model, data, batch_size=64):
    """Per example: intent probabilities `[num_intents]` and tag probabilities
    `[tokens, num_tags]` (trimmed to the example's own length)."""
    intent_probs = [None] * len(data)
    tag_probs = [None] * len(data)
    fixed_rows = bool(getattr(model, "jit_compile", False))
    for indices, inputs in predict_batches(data, batch_size, fixed_rows=fixed_rows):
        out = model.predict_on_batch(inputs)
        intents = np.asarray(out["intent"])
        slots = np.asarray(out["slots"])
        for row, i in enumerate(indices):
            intent_probs[i] = intents[row]
            tag_probs[i] = slots[row, : data.lengths[i]]
    return intent_probs, tag_probs


def predict_labels(model, preprocessor, examples, batch_size=64):
    """Predicted intents and tag sequences (strings) for `examples`."""
    data = EncodedData(preprocessor, examples, labels=False)
    intent_probs, tag_probs = predict_probs(model, data, batch_size)
    intents = [preprocessor.decode_intent(p)[0] for p in intent_probs]
    tags = [preprocessor.decode_tags(p) if len(p) else [] for p in tag_probs]
    return intents, tags


def evaluate_examples(model, preprocessor, examples, batch_size=64):
    """The metrics of `slukit.train.metrics.slu_metrics` on labelled `examples`."""
    from slukit.train.metrics import slu_metrics

    intents, tags = predict_labels(model, preprocessor, examples, batch_size)
    return slu_metrics([ex.intent for ex in examples], [ex.tags for ex in examples],
                       intents, tags)
