"""Builds a `JointSLU` from a recipe's `model` section and a fitted preprocessor.

This is the one place that maps recipe keys to model arguments.

Example:
    >>> from slukit.data.example import Example
    >>> from slukit.preprocess import SLUPreprocessor
    >>> pre = SLUPreprocessor.fit([Example(["hi"], ["O"], "greet")])
    >>> model = build_model({"embeddings": ["word"], "encoder": "bilstm", "units": 4,
    ...                      "layers": 1}, pre)
    >>> sorted(model.input.keys())
    ['word_ids']
"""

from slukit.models.joint_slu import JointSLU

#: Recipe keys of `model` that are the encoder's arguments, per encoder.
ENCODER_KEYS = {
    "bilstm": ("units", "layers", "dropout"),
}

DEFAULTS = {
    "embeddings": ["word", "char"], "word_dim": 100, "char_dim": 32, "char_filters": 64,
    "char_kernel": 3, "max_word_chars": 20, "encoder": "bilstm", "units": 128,
    "layers": 2, "dropout": 0.3,
}


def build_model(model_section, preprocessor):
    """A fresh `JointSLU` sized for `preprocessor`'s vocabularies and labels."""
    cfg = {**DEFAULTS, **model_section}
    encoder = cfg["encoder"]
    return JointSLU(
        num_intents=len(preprocessor.intents),
        num_tags=len(preprocessor.tags),
        word_vocab_size=len(preprocessor.words) if preprocessor.words is not None else 0,
        char_vocab_size=len(preprocessor.chars) if preprocessor.chars is not None else 0,
        embeddings=cfg["embeddings"],
        word_dim=cfg["word_dim"],
        char_dim=cfg["char_dim"],
        char_filters=cfg["char_filters"],
        char_kernel=cfg["char_kernel"],
        max_word_chars=preprocessor.max_word_chars,
        encoder=encoder,
        encoder_config={k: cfg[k] for k in ENCODER_KEYS[encoder]},
        dropout=cfg["dropout"],
    )
