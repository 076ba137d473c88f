"""The export graph: one utterance of a fixed length, from a trained `JointSLU`.

`InferenceGraph(model)` reuses the trained model's layers and weights (no
second copy of `slukit.models.builder`): the embeddings, the heads and the
attention encoders are called as they are, and a `BiRNNEncoder` is replaced by
an unrolled loop written with `keras.ops` over the trained cells' weights.

Why the RNNs are rewritten:
    Keras LSTM/GRU layers with `unroll=False` convert to TensorList ops, which
    are not TFLite builtins; Keras's own `unroll=True` with a mask misaligns the
    backward direction's outputs when the padding is at the end. Here each step
    carries the state through padded steps (`h = h_prev + m * (h_new - h_prev)`),
    and the backward direction runs from position `L - 1` down to `0`, so the
    trailing padding is seen first and leaves the zero state untouched: real
    positions get exactly what the trained (masked) layer computes.

Inputs have no batch axis: `word_ids [L]` (1-D, the only GATHER indices
LiteRT's GPU accelerator takes) and/or `char_ids [L, C]`; id 0 is padding.
Outputs: `intent [num_intents]` and `slots [L, num_tags]`, probabilities.
Outputs at padded positions are meaningless and must be dropped.

Example:
    >>> # graph = InferenceGraph(bundle.model)
    >>> # out = graph(word_ids=ids[:16], char_ids=chars[:16])   # doctest: +SKIP
"""

import keras
from keras import ops

from slukit.export.errors import ExportError


#: The layers of `JointSLU` that the export graph knows how to run.
KNOWN_LAYERS = {
    "word_ids", "char_ids", "word_embedding", "char_embedding", "embeddings",
    "embedding_dropout", "token_mask", "encoder", "pooling", "head_dropout", "intent",
    "slots", "intent_to_slot",
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


def _rnn_direction(x2d, mask_f, cell, length, reverse):
    """One direction of a masked LSTM/GRU over `x2d [L, D]`, unrolled; `[L, units]`.

    `mask_f` is `[L, 1]` float (1 = real token). Padded steps carry the state.
    """
    config = cell.get_config()
    units = config["units"]
    act = _activation(config["activation"])
    rec_act = _activation(config["recurrent_activation"])
    kernel, recurrent = cell.kernel, cell.recurrent_kernel
    is_gru = "reset_after" in config
    reset_after = bool(config.get("reset_after", False))
    use_bias = config.get("use_bias", True)

    input_bias = recurrent_bias = None
    if use_bias:
        if is_gru and reset_after:
            input_bias, recurrent_bias = cell.bias[0], cell.bias[1]
        else:
            input_bias = cell.bias
    xw = ops.matmul(x2d, kernel)  # all steps' input projections at once: [L, G*units]
    if input_bias is not None:
        xw = xw + input_bias

    h = ops.zeros((1, units), dtype=x2d.dtype)
    c = ops.zeros((1, units), dtype=x2d.dtype) if not is_gru else None
    outputs = [None] * length
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        x_t = xw[t:t + 1]
        m = mask_f[t:t + 1]
        if not is_gru:
            z = x_t + ops.matmul(h, recurrent)
            i, f, g, o = ops.split(z, 4, axis=-1)
            c_new = rec_act(f) * c + rec_act(i) * act(g)
            h_new = rec_act(o) * act(c_new)
            c = c + m * (c_new - c)
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
                r_zr = ops.matmul(h, recurrent[:, : 2 * units])
                r_z, r_r = ops.split(r_zr, 2, axis=-1)
                z = rec_act(x_z + r_z)
                r = rec_act(x_r + r_r)
                hh = act(x_h + ops.matmul(r * h, recurrent[:, 2 * units:]))
            h_new = z * h + (1.0 - z) * hh
        h = h + m * (h_new - h)
        outputs[t] = h
    return ops.concatenate(outputs, axis=0) if length > 1 else outputs[0]


def unrolled_birnn(encoder, x, mask, length):
    """A trained `BiRNNEncoder` applied to `x [1, L, D]` with `mask [1, L]`, unrolled."""
    mask_f = ops.reshape(ops.cast(mask, x.dtype), (length, 1))
    for i, bi in enumerate(encoder.rnns):
        if bi.merge_mode != "concat":
            raise ExportError(f"encoder layer {bi.name}: merge_mode {bi.merge_mode!r} "
                              "is not supported by the export (only 'concat')")
        x2d = ops.reshape(x, (length, x.shape[-1]))
        fwd = _rnn_direction(x2d, mask_f, bi.forward_layer.cell, length, reverse=False)
        bwd = _rnn_direction(x2d, mask_f, bi.backward_layer.cell, length, reverse=True)
        y = ops.reshape(ops.concatenate([fwd, bwd], axis=-1), (1, length, -1))
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
        slots = model.get_layer("slots")(slot_input)
        return {"intent": ops.reshape(intent, (-1,)),
                "slots": ops.reshape(slots, (length, -1))}
