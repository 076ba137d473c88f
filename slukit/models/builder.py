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

from slukit import registry
from slukit.errors import RecipeError
from slukit.models.joint_slu import JointSLU

DEFAULTS = {
    "embeddings": ["word", "char"], "word_dim": 100, "char_dim": 32, "char_filters": 64,
    "char_kernel": 3, "max_word_chars": 20, "encoder": "bilstm", "units": 128,
    "layers": 2, "heads": 4, "dropout": 0.3,
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
        encoder_config={k: cfg[k] for k in registry.ENCODERS[encoder].keys},
        dropout=cfg["dropout"],
        intent_to_slot=cfg.get("intent_to_slot", False),
        intent_distribution_to_slot=cfg.get("intent_distribution_to_slot", False),
        slot_decoder=cfg.get("slot_decoder", "softmax"),
    )


def load_word_vectors(model, preprocessor, model_cfg, seed=0):
    """Initialises the word embeddings from `model.word_vectors`, if set.

    Returns `(covered, vocabulary size)`, or None when no vectors are configured.
    The file's dimension must equal `model.word_dim`.
    """
    path = model_cfg.get("word_vectors")
    if not path or preprocessor.words is None:
        return None
    from slukit.preprocess.vectors import embedding_matrix, read_vectors

    vectors, dim = read_vectors(path, keep=set(preprocessor.words.tokens),
                                lowercase=preprocessor.lowercase)
    if dim != model_cfg["word_dim"]:
        raise RecipeError(f"model.word_dim is {model_cfg['word_dim']} but the vectors in "
                          f"model.word_vectors ({path}) have {dim} dimensions; set "
                          f"model.word_dim: {dim}")
    matrix, covered = embedding_matrix(preprocessor.words, vectors, dim, seed=seed)
    layer = model.get_layer("word_embedding")
    layer.set_weights([matrix])
    layer.trainable = not model_cfg.get("freeze_word_vectors", False)
    return covered, len(preprocessor.words)
