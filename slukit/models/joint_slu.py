"""`JointSLU`: embeddings + context encoder, with an intent head and a slot head.

Example:
    >>> import numpy as np
    >>> model = JointSLU(num_intents=3, num_tags=5, word_vocab_size=20,
    ...                  char_vocab_size=10, max_word_chars=6,
    ...                  encoder_config={"units": 8, "layers": 1})
    >>> out = model.predict({"word_ids": np.array([[2, 3, 0]]),
    ...                      "char_ids": np.ones((1, 3, 6), "int32")}, verbose=0)
    >>> out["intent"].shape, out["slots"].shape
    ((1, 3), (1, 3, 5))
"""

import keras
from keras import ops

from slukit.models.crf import SlotCRF
from slukit.models.embeddings import CharCNNEmbedding, TokenEmbedding
from slukit.models.encoders import get_encoder


@keras.saving.register_keras_serializable(package="slukit")
class MaskedPooling(keras.layers.Layer):
    """Mean and max over the real (unmasked) tokens, concatenated.

    Input `[B, T, H]` and mask `[B, T]`; output `[B, 2H]`. An utterance with
    no tokens pools to zeros.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # consumes the mask: the pooled vector has none

    def compute_mask(self, x, token_mask=None, mask=None):
        return None

    def call(self, x, token_mask):
        mask = token_mask
        m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        mean = ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)
        peak = ops.max(x * m - 1e4 * (1.0 - m), axis=1)
        peak = peak * ops.cast(ops.any(mask, axis=1, keepdims=True), x.dtype)
        return ops.concatenate([mean, peak], axis=-1)

    def compute_output_shape(self, x_shape, token_mask_shape):
        return (x_shape[0], 2 * x_shape[-1])


@keras.saving.register_keras_serializable(package="slukit")
class TokenMask(keras.layers.Layer):
    """The padding mask `[B, T]` of word ids `[B, T]` or char ids `[B, T, C]`."""

    def call(self, ids):
        if len(ids.shape) == 3:
            ids = ids[..., 0]
        return ops.not_equal(ids, 0)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(tuple(ids.shape[:2]), dtype="bool")


@keras.saving.register_keras_serializable(package="slukit")
class BroadcastConcat(keras.layers.Layer):
    """Appends an utterance vector `[B, U]` to every token vector `[B, T, H]`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, tokens, utterance=None, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def call(self, tokens, utterance):
        tiled = ops.repeat(ops.expand_dims(utterance, 1), ops.shape(tokens)[1], axis=1)
        return ops.concatenate([tokens, tiled], axis=-1)

    def compute_output_shape(self, tokens_shape, utterance_shape):
        return tuple(tokens_shape[:-1]) + (tokens_shape[-1] + utterance_shape[-1],)


@keras.saving.register_keras_serializable(package="slukit")
class JointSLU(keras.Model):
    """A joint intent classifier and BIO slot tagger over one shared network.

    Token embeddings (words, characters or both, concatenated) feed a context
    encoder chosen by name. The intent head classifies the masked mean+max
    pool of the encoder's outputs; the slot head tags every token. Outputs are
    probabilities: `{"intent": [B, num_intents], "slots": [B, T, num_tags]}`
    (tag 0 is padding and is never a target).

    Args:
        num_intents: int. Intent labels.
        num_tags: int. Slot tags, including `<pad>` at 0.
        word_vocab_size: int. Word vocabulary size (0 when words are not used).
        char_vocab_size: int. Character vocabulary size (0 when not used).
        embeddings: list of `"word"`, `"char"`.
        word_dim: int. Word vector size.
        char_dim: int. Character vector size.
        char_filters: int. Character-CNN output per word.
        char_kernel: int. Character-CNN width.
        max_word_chars: int. Characters per word in `char_ids`.
        encoder: str. A name in `slukit.registry.ENCODERS`.
        encoder_config: dict. Arguments of the encoder.
        dropout: float. Dropout on embeddings and before each head.
        intent_to_slot: bool. Feed the pooled utterance vector to the slot
            head beside each token's vector.
        intent_distribution_to_slot: bool. Feed the intent head's
            probabilities to the slot head beside each token's vector (the
            slot loss then trains the intent head too, as in Stack-Propagation).
        slot_decoder: `"softmax"` (tags read from the per-token
            probabilities) or `"crf"` (a `SlotCRF` layer learns transition
            scores between tags; trained with `CRFLoss`).

    Inputs: `word_ids [B, T]` and/or `char_ids [B, T, max_word_chars]`, int32,
    zero-padded.
    """

    def __init__(self, num_intents, num_tags, word_vocab_size=0, char_vocab_size=0,
                 embeddings=("word", "char"), word_dim=100, char_dim=32, char_filters=64,
                 char_kernel=3, max_word_chars=20, encoder="bilstm", encoder_config=None,
                 dropout=0.3, intent_to_slot=False, intent_distribution_to_slot=False,
                 slot_decoder="softmax", **kwargs):
        if slot_decoder not in ("softmax", "crf"):
            raise ValueError(f"slot_decoder must be 'softmax' or 'crf', not {slot_decoder!r}")
        embeddings = list(embeddings)
        encoder_config = dict(encoder_config or {})

        # === Layers ===
        word_embedding = char_embedding = None
        if "word" in embeddings:
            word_embedding = TokenEmbedding(word_vocab_size, word_dim, name="word_embedding")
        if "char" in embeddings:
            char_embedding = CharCNNEmbedding(char_vocab_size, char_dim, char_filters,
                                              char_kernel, name="char_embedding")
        embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        context_encoder = get_encoder(encoder, name="encoder", **encoder_config)
        head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        intent_head = keras.layers.Dense(num_intents, activation="softmax", name="intent")
        slot_head = keras.layers.Dense(num_tags, activation="softmax", name="slots")

        # === Functional Model ===
        inputs, vectors = {}, []
        if word_embedding is not None:
            inputs["word_ids"] = keras.Input((None,), dtype="int32", name="word_ids")
            vectors.append(word_embedding(inputs["word_ids"]))
        if char_embedding is not None:
            inputs["char_ids"] = keras.Input((None, max_word_chars), dtype="int32", name="char_ids")
            vectors.append(char_embedding(inputs["char_ids"]))
        mask = TokenMask(name="token_mask")(inputs.get("word_ids", inputs.get("char_ids")))
        x = vectors[0] if len(vectors) == 1 else keras.layers.Concatenate(name="embeddings")(vectors)
        x = embedding_dropout(x)
        x = context_encoder(x, mask=mask)
        pooled = MaskedPooling(name="pooling")(x, mask)
        slot_input = BroadcastConcat(name="intent_to_slot")(x, pooled) if intent_to_slot else x
        intent = intent_head(head_dropout(pooled))
        if intent_distribution_to_slot:
            slot_input = BroadcastConcat(name="intent_distribution")(slot_input, intent)
        slots = slot_head(head_dropout(slot_input))
        if slot_decoder == "crf":
            slots = SlotCRF(num_tags, name="slot_crf")(slots)
        outputs = {"intent": intent, "slots": slots}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_intents = num_intents
        self.num_tags = num_tags
        self.word_vocab_size = word_vocab_size
        self.char_vocab_size = char_vocab_size
        self.embeddings = embeddings
        self.word_dim = word_dim
        self.char_dim = char_dim
        self.char_filters = char_filters
        self.char_kernel = char_kernel
        self.max_word_chars = max_word_chars
        self.encoder = encoder
        self.encoder_config = encoder_config
        self.dropout = dropout
        self.intent_to_slot = intent_to_slot
        self.intent_distribution_to_slot = intent_distribution_to_slot
        self.slot_decoder = slot_decoder

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_intents": self.num_intents,
            "num_tags": self.num_tags,
            "word_vocab_size": self.word_vocab_size,
            "char_vocab_size": self.char_vocab_size,
            "embeddings": self.embeddings,
            "word_dim": self.word_dim,
            "char_dim": self.char_dim,
            "char_filters": self.char_filters,
            "char_kernel": self.char_kernel,
            "max_word_chars": self.max_word_chars,
            "encoder": self.encoder,
            "encoder_config": self.encoder_config,
            "dropout": self.dropout,
            "intent_to_slot": self.intent_to_slot,
            "intent_distribution_to_slot": self.intent_distribution_to_slot,
            "slot_decoder": self.slot_decoder,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
