"""The export graph: one utterance of a fixed length, from a trained `JointSLU`.

`InferenceGraph(model)` reuses the trained model's layers and weights (no
second copy of `slukit.models.builder`): the embeddings, the heads and the
attention encoders are called as they are, and a `BiRNNEncoder` is replaced by
an unrolled loop written with `keras.ops` over the trained cells' weights.

Why the RNNs are rewritten:
    Keras LSTM/GRU layers with `unroll=False` convert to TensorList ops, which
    are not TFLite builtins; Keras's own `unroll=True` with a mask misaligns the
    backward direction's outputs when the padding is at the end. Here both
    directions advance together, one batched step per position (the backward
    one runs from position `L - 1` down to `0`); padding is only at the end, so
    a padded step zeroes the state (`h = h_new * m`) and the backward direction
    starts its real steps from the zero state: real positions get exactly what
    the trained (masked) layer computes.

Inputs have no batch axis: `word_ids [L]` (1-D, the only GATHER indices
LiteRT's GPU accelerator takes) and/or `char_ids [L, C]`; id 0 is padding.
Outputs: `intent [num_intents]` and `slots [L, num_tags]`, probabilities.
Outputs at padded positions are meaningless and must be dropped.

Example:
    >>> import numpy as np
    >>> from slukit.data.example import Example
    >>> from slukit.models.builder import build_model
    >>> from slukit.preprocess import SLUPreprocessor
    >>> pre = SLUPreprocessor.fit([Example(["hi", "there"], ["O", "O"], "greet")])
    >>> model = build_model({"embeddings": ["word"], "encoder": "bilstm", "units": 4,
    ...                      "layers": 1}, pre)
    >>> out = InferenceGraph(model)(word_ids=np.array([2, 3, 0, 0], dtype="int32"))
    >>> tuple(out["intent"].shape), tuple(out["slots"].shape)
    ((1,), (4, 2))
"""

import keras
from keras import ops

from slukit.errors import ExportError


#: The layers of `JointSLU` that the export graph knows how to run.
KNOWN_LAYERS = {
    "word_ids", "char_ids", "word_embedding", "char_embedding", "embeddings",
    "embedding_dropout", "token_mask", "encoder", "pooling", "head_dropout", "intent",
    "slots", "intent_to_slot", "intent_distribution", "slot_crf",
}


def require_tensorflow_backend():
    """The exports trace TensorFlow graphs: Keras must run on its TensorFlow backend.

    A model trained on JAX loads on TensorFlow unchanged (see FACTS.md), so export
    it in a process started with `KERAS_BACKEND=tensorflow`.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ExportError(f"exporting needs the TensorFlow backend of Keras, not {backend!r}: "
                          "run the export with KERAS_BACKEND=tensorflow (models trained on "
                          "other backends load there unchanged)")


def _activation(name):
    return keras.activations.get(name)


def _input_projection(x2d, cell):
    """All steps' input projections of one LSTM/GRU cell at once: `[L, G*units]`."""
    config = cell.get_config()
    xw = ops.matmul(x2d, cell.kernel)
    if config.get("use_bias", True):
        xw = xw + (cell.bias[0] if config.get("reset_after", False) else cell.bias)
    return xw


def _stack(tensors):
    """`ops.stack` that also takes Keras variables (TF's stack fails on them)."""
    return ops.concatenate([ops.expand_dims(t, 0) for t in tensors], axis=0)


def _bidirectional_layer(x2d, mask_f, cells, length):
    """Both directions of one masked bidirectional LSTM/GRU layer over `x2d [L, D]`,
    unrolled together; returns `[L, 2*units]` (forward then backward features).

    The two directions run as a batch of 2: step `t` advances the forward state
    at position `t` and the backward state at position `L-1-t` with one batched
    matmul (`[2, 1, units] x [2, units, G*units]`), which halves the op count of
    two separate loops. The backward direction reads its inputs reversed (a
    1-D GATHER), so the trailing padding comes first. Padding is only ever at
    the end, so a padded step can simply zero the state (`h = h_new * m`): the
    backward direction then starts its real steps from the zero state, as the
    masked Keras layer does, and the forward direction's padded outputs are
    dropped anyway. Real positions get exactly what the trained layer computes.
    """
    import numpy as np

    config = cells[0].get_config()
    units = config["units"]
    act = _activation(config["activation"])
    rec_act = _activation(config["recurrent_activation"])
    is_gru = "reset_after" in config
    reset_after = bool(config.get("reset_after", False))

    reverse = np.arange(length - 1, -1, -1, dtype="int32")
    x_rev = ops.take(x2d, reverse, axis=0)
    xw = _stack([_input_projection(x2d, cells[0]), _input_projection(x_rev, cells[1])])
    mask = _stack([mask_f, ops.take(mask_f, reverse, axis=0)])  # [2, L, 1]
    recurrent = _stack([c.recurrent_kernel for c in cells])
    recurrent_bias = None
    if is_gru and reset_after and config.get("use_bias", True):
        recurrent_bias = ops.reshape(_stack([c.bias[1] for c in cells]), (2, 1, -1))
    x_steps = ops.split(xw, length, axis=1) if length > 1 else [xw]   # each [2, 1, G*units]
    m_steps = ops.split(mask, length, axis=1) if length > 1 else [mask]

    h = ops.zeros((2, 1, units), dtype=x2d.dtype)
    c = ops.zeros((2, 1, units), dtype=x2d.dtype) if not is_gru else None
    outputs = []
    for x_t, m in zip(x_steps, m_steps):
        if not is_gru:
            z = x_t + ops.matmul(h, recurrent)
            i, f, g, o = ops.split(z, 4, axis=-1)
            c_new = rec_act(f) * c + rec_act(i) * act(g)
            h_new = rec_act(o) * act(c_new)
            c = c_new * m
        else:
            x_z, x_r, x_h = ops.split(x_t, 3, axis=-1)
            if reset_after:
                inner = ops.matmul(h, recurrent)
                if recurrent_bias is not None:
                    inner = inner + recurrent_bias
                r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
                z = rec_act(x_z + r_z)
                r = rec_act(x_r + r_r)
                hh = act(x_h + r * r_h)
            else:
                r_z, r_r = ops.split(ops.matmul(h, recurrent[:, :, : 2 * units]), 2, axis=-1)
                z = rec_act(x_z + r_z)
                r = rec_act(x_r + r_r)
                hh = act(x_h + ops.matmul(r * h, recurrent[:, :, 2 * units:]))
            h_new = z * h + (1.0 - z) * hh
        h = h_new * m
        outputs.append(h)
    states = ops.concatenate(outputs, axis=1) if length > 1 else outputs[0]  # [2, L, units]
    forward, backward_reversed = ops.split(states, 2, axis=0)
    forward = ops.reshape(forward, (length, units))
    backward = ops.take(ops.reshape(backward_reversed, (length, units)), reverse, axis=0)
    return ops.concatenate([forward, backward], axis=-1)


def unrolled_birnn(encoder, x, mask, length):
    """A trained `BiRNNEncoder` applied to `x [1, L, D]` with `mask [1, L]`, unrolled."""
    mask_f = ops.reshape(ops.cast(mask, x.dtype), (length, 1))
    for i, bi in enumerate(encoder.rnns):
        if bi.merge_mode != "concat":
            raise ExportError(f"encoder layer {bi.name}: merge_mode {bi.merge_mode!r} "
                              "is not supported by the export (only 'concat')")
        x2d = ops.reshape(x, (length, x.shape[-1]))
        cells = (bi.forward_layer.cell, bi.backward_layer.cell)
        y = ops.reshape(_bidirectional_layer(x2d, mask_f, cells, length), (1, length, -1))
        x = encoder.highway_mix(i, x, y)
    return x


class InferenceGraph:
    """Batch-1, fixed-length forward pass of a trained `JointSLU`.

    Args:
        model: a loaded `JointSLU` (weights are used, never copied).

    Call with `word_ids [L]` and/or `char_ids [L, C]` (int32); returns
    `{"intent": [num_intents], "slots": [L, num_tags]}`.
    """

    def __init__(self, model):
        from slukit.models.encoders import (BiAttentionEncoder, BiRNNEncoder,
                                            SelfAttentionEncoder)

        unknown = sorted(layer.name for layer in model.layers if layer.name not in KNOWN_LAYERS)
        if unknown:
            raise ExportError(f"the export does not know the model's layers {unknown}; "
                              "update slukit/export/graph.py")
        self.model = model
        self.config = model.get_config()
        self.inputs = [name for name, kind in (("word_ids", "word"), ("char_ids", "char"))
                       if kind in self.config["embeddings"]]
        self.encoder = model.get_layer("encoder")
        if isinstance(self.encoder, BiRNNEncoder):
            self.encoder_kind = "rnn"
        elif isinstance(self.encoder, (SelfAttentionEncoder, BiAttentionEncoder)):
            self.encoder_kind = "attention"
        else:
            raise ExportError(f"encoder {type(self.encoder).__name__} is not supported "
                              "by the export")

    def __call__(self, word_ids=None, char_ids=None):
        model = self.model
        ids = word_ids if word_ids is not None else char_ids
        length = int(ids.shape[0])
        vectors = []
        if word_ids is not None:
            table = model.get_layer("word_embedding").embeddings
            vectors.append(ops.expand_dims(ops.take(table, word_ids, axis=0), 0))
        if char_ids is not None:
            vectors.append(model.get_layer("char_embedding")(ops.expand_dims(char_ids, 0)))
        mask = ops.not_equal(word_ids if word_ids is not None else char_ids[:, 0], 0)
        mask = ops.reshape(mask, (1, length))
        x = vectors[0] if len(vectors) == 1 else ops.concatenate(vectors, axis=-1)
        if self.encoder_kind == "rnn":
            x = unrolled_birnn(self.encoder, x, mask, length)
        else:
            x = self.encoder(x, mask=mask, training=False)  # GPU-ready as written
        pooled = model.get_layer("pooling")(x, mask)
        slot_input = x
        if self.config.get("intent_to_slot"):
            slot_input = model.get_layer("intent_to_slot")(x, pooled)
        intent = model.get_layer("intent")(pooled)
        if self.config.get("intent_distribution_to_slot"):
            slot_input = model.get_layer("intent_distribution")(slot_input, intent)
        slots = model.get_layer("slots")(slot_input)  # a CRF adds nothing here: see models/crf.py
        return {"intent": ops.reshape(intent, (-1,)),
                "slots": ops.reshape(slots, (length, -1))}
