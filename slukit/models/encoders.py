"""Context encoders: token vectors -> contextual token vectors, padding-aware.

Every encoder takes `(vectors [B, T, D], mask [B, T])` and returns `[B, T, H]`;
outputs at real positions never depend on padded positions. Encoders are named
in recipes (`model.encoder`) and resolved through `slukit.registry.ENCODERS`:

| name | layer | what it is |
|---|---|---|
| `bilstm` | `BiRNNEncoder(cell="lstm")` | stacked bidirectional LSTMs |
| `gru` | `BiRNNEncoder(cell="gru")` | stacked bidirectional GRUs |
| `highway_lstm` | `BiRNNEncoder(cell="lstm", highway=True)` | BiLSTMs with highway gates between layers |
| `mha` | `SelfAttentionEncoder` | transformer blocks: multi-head self-attention, positions, residuals, layer norm |
| `biattention` | `BiAttentionEncoder` | directional (forward and backward masked) self-attention, as in DiSAN |

The attention layers compute each head as its own 3-D matmuls and mask with
-1e4, the form that LiteRT's GPU accelerator ran correctly (see FACTS.md), and
add axes with reshapes rather than `x[:, None]` slicing, which converts to a
STRIDED_SLICE the accelerator rejects; so the TFLite export calls them as they are.

Example:
    >>> import numpy as np
    >>> enc = get_encoder("highway_lstm", units=8, layers=2)
    >>> x = np.zeros((2, 5, 4), dtype="float32")
    >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    >>> tuple(enc(x, mask=mask).shape)
    (2, 5, 16)
"""

import math

import keras
from keras import ops

from slukit import registry

MASK_VALUE = -1e4  # large enough to zero a softmax term, small enough for float16


@keras.saving.register_keras_serializable(package="slukit")
class BiRNNEncoder(keras.layers.Layer):
    """Stacked bidirectional LSTM or GRU layers, optionally with highway gates.

    With `highway=True`, each layer's output is mixed with its input by a
    learned gate: `y = g * rnn(x) + (1 - g) * carry(x)`, `g = sigmoid(W x + b)`,
    where `carry` is the identity when the sizes match and a linear projection
    otherwise (the first layer). The gate's bias starts at -1, so training
    starts close to the carried input and deep stacks train like shallow ones.

    Args:
        units: int. Units per direction; the output has `2 * units` features.
        layers: int. Stacked layers.
        dropout: float. Dropout between layers.
        cell: `"lstm"` or `"gru"`.
        highway: bool. Highway gates between layers.

    Padding: the RNNs skip masked steps, so padded positions do not change
    the real outputs in either direction; gates act per position.
    """

    def __init__(self, units=128, layers=2, dropout=0.0, cell="lstm", highway=False, **kwargs):
        super().__init__(**kwargs)
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.units = units
        self.layers = layers
        self.dropout = dropout
        self.cell = cell
        self.highway = highway
        self.supports_masking = True

    def build(self, input_shape):
        rnn_class = keras.layers.LSTM if self.cell == "lstm" else keras.layers.GRU
        self.rnns, self.gates, self.carries = [], [], []
        shape = tuple(input_shape)
        width = 2 * self.units
        for i in range(self.layers):
            rnn = keras.layers.Bidirectional(
                rnn_class(self.units, return_sequences=True, dtype=self.dtype_policy,
                          name=f"{self.cell}_{i}"),
                dtype=self.dtype_policy, name=f"bi{self.cell}_{i}")
            rnn.build(shape)
            self.rnns.append(rnn)
            if self.highway:
                gate = keras.layers.Dense(width, activation="sigmoid",
                                          bias_initializer=keras.initializers.Constant(-1.0),
                                          dtype=self.dtype_policy, name=f"gate_{i}")
                gate.build(shape)
                self.gates.append(gate)
                carry = None
                if shape[-1] != width:
                    carry = keras.layers.Dense(width, use_bias=False, dtype=self.dtype_policy,
                                               name=f"carry_{i}")
                    carry.build(shape)
                self.carries.append(carry)
            shape = shape[:-1] + (width,)
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def call(self, x, mask=None, training=None):
        for i, rnn in enumerate(self.rnns):
            if i > 0:
                x = self.drop(x, training=training)
            x = self.highway_mix(i, x, rnn(x, mask=mask, training=training))
        return x

    def highway_mix(self, index, x, y):
        """Layer `index`'s output: `y` itself, or with highway gates mixed with its input `x`."""
        if not self.highway:
            return y
        carry = self.carries[index](x) if self.carries[index] is not None else x
        gate = self.gates[index](x)
        return gate * y + (1.0 - gate) * carry

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "layers": self.layers, "dropout": self.dropout,
                       "cell": self.cell, "highway": self.highway})
        return config


def sinusoidal_positions(length, dim, dtype="float32"):
    """Fixed sine/cosine position encodings `[length, dim]` (Vaswani et al. 2017).

    They need no maximum length, so any utterance length can be encoded.
    """
    positions = ops.reshape(ops.cast(ops.arange(length), "float32"), (-1, 1))
    half = dim // 2
    rates = ops.exp(ops.cast(ops.arange(half), "float32") * (-math.log(10000.0) / max(half, 1)))
    angles = positions * ops.reshape(rates, (1, -1))
    enc = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
    if dim % 2:
        enc = ops.pad(enc, [[0, 0], [0, 1]])
    return ops.cast(enc, dtype)


@keras.saving.register_keras_serializable(package="slukit")
class PerHeadAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention, one 3-D matmul chain per head.

    Args:
        dim: int. Model size; each of `heads` heads has `dim // heads` features.
        heads: int. Attention heads.
        dropout: float. Dropout on attention weights.

    Call with `x [B, T, dim]` and `allowed [B, T, T]` (bool: may query i look
    at key j). Rows with nothing allowed give zeros.
    """

    def __init__(self, dim, heads=4, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.dim = dim
        self.heads = heads
        self.dropout = dropout

    def build(self, input_shape):
        head_dim = self.dim // self.heads
        self.q, self.k, self.v = [], [], []
        for h in range(self.heads):
            for name, bucket in (("query", self.q), ("key", self.k), ("value", self.v)):
                dense = keras.layers.Dense(head_dim, dtype=self.dtype_policy, name=f"{name}_{h}")
                dense.build(input_shape)
                bucket.append(dense)
        self.out = keras.layers.Dense(self.dim, dtype=self.dtype_policy, name="output")
        self.out.build(tuple(input_shape[:-1]) + (self.dim,))
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def call(self, x, allowed, training=None):
        scale = 1.0 / math.sqrt(self.dim // self.heads)
        allowed_f = ops.cast(allowed, x.dtype)
        bias = (1.0 - allowed_f) * MASK_VALUE
        any_allowed = ops.cast(ops.any(allowed, axis=-1, keepdims=True), x.dtype)
        heads = []
        for q, k, v in zip(self.q, self.k, self.v):
            scores = ops.matmul(q(x) * scale, ops.transpose(k(x), (0, 2, 1))) + bias
            weights = ops.softmax(scores, axis=-1) * any_allowed
            heads.append(ops.matmul(self.drop(weights, training=training), v(x)))
        return self.out(ops.concatenate(heads, axis=-1) if len(heads) > 1 else heads[0])

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "heads": self.heads, "dropout": self.dropout})
        return config


class _ProjectedBlocks:
    """Shared set-up of the attention encoders: an input projection to `units`
    and an empty list of blocks. Returns the inner shape `[..., units]`."""

    def _build_projection(self, input_shape):
        self.project = keras.layers.Dense(self.units, dtype=self.dtype_policy,
                                          name="input_projection")
        self.project.build(input_shape)
        self.blocks = []
        return tuple(input_shape[:-1]) + (self.units,)


def _pair_mask(mask):
    """`[B, T, T]`: both positions are real tokens.

    Built with reshapes rather than `mask[:, :, None]` slicing, which converts
    to a STRIDED_SLICE that LiteRT's GPU accelerator rejects.
    """
    mask = ops.cast(mask, "bool")
    length = ops.shape(mask)[1]
    rows = ops.reshape(mask, (-1, length, 1))
    cols = ops.reshape(mask, (-1, 1, length))
    return ops.logical_and(rows, cols)


@keras.saving.register_keras_serializable(package="slukit")
class SelfAttentionEncoder(_ProjectedBlocks, keras.layers.Layer):
    """Transformer encoder blocks (post-norm): self-attention and a feed-forward
    network, each with a residual connection and layer normalisation.

    Args:
        units: int. Model size (inputs are projected to it).
        layers: int. Blocks.
        heads: int. Attention heads per block.
        ffn_units: int. Hidden size of the feed-forward network (default `4 * units`).
        dropout: float. Dropout after attention and feed-forward.

    Positions: sine/cosine encodings are added to the projected input.
    Padding: keys at padded positions get -1e4 before the softmax, so real
    outputs never see them.
    """

    def __init__(self, units=128, layers=2, heads=4, ffn_units=None, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.layers = layers
        self.heads = heads
        self.ffn_units = ffn_units or 4 * units
        self.dropout = dropout
        self.supports_masking = True

    def build(self, input_shape):
        d, inner = self.units, self._build_projection(input_shape)
        for i in range(self.layers):
            block = {
                "attention": PerHeadAttention(d, self.heads, self.dropout,
                                              dtype=self.dtype_policy, name=f"attention_{i}"),
                "norm1": keras.layers.LayerNormalization(dtype=self.dtype_policy, name=f"norm1_{i}"),
                "ffn1": keras.layers.Dense(self.ffn_units, activation="gelu",
                                           dtype=self.dtype_policy, name=f"ffn1_{i}"),
                "ffn2": keras.layers.Dense(d, dtype=self.dtype_policy, name=f"ffn2_{i}"),
                "norm2": keras.layers.LayerNormalization(dtype=self.dtype_policy, name=f"norm2_{i}"),
            }
            block["attention"].build(inner)
            block["norm1"].build(inner)
            block["ffn1"].build(inner)
            block["ffn2"].build(tuple(input_shape[:-1]) + (self.ffn_units,))
            block["norm2"].build(inner)
            self.blocks.append(block)
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def call(self, x, mask=None, training=None):
        x = self.project(x)
        length = ops.shape(x)[1]
        x = x + ops.expand_dims(sinusoidal_positions(length, self.units, x.dtype), 0)
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        allowed = _pair_mask(mask)
        for block in self.blocks:
            attended = block["attention"](x, allowed, training=training)
            x = block["norm1"](x + self.drop(attended, training=training))
            hidden = block["ffn2"](block["ffn1"](x))
            x = block["norm2"](x + self.drop(hidden, training=training))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "layers": self.layers, "heads": self.heads,
                       "ffn_units": self.ffn_units, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="slukit")
class BiAttentionEncoder(_ProjectedBlocks, keras.layers.Layer):
    """Bidirectional attention: directional self-attention in both directions.

    Following DiSAN (Shen et al. 2018), each block runs two multi-head
    self-attentions over the same tokens: a forward one, where token i attends
    to tokens j < i (and to itself, so the first token is not empty), and a
    backward one, where it attends to j > i (and itself). The direction masks
    carry word order, so no position encodings are needed. Each direction's
    result is fused with its input by a gate, `g * x + (1 - g) * attended`
    (DiSAN's fusion gate), and the two directions are concatenated and
    projected back to `units`, followed by a residual and layer norm.

    Simplification against DiSAN: token-to-token attention is dot-product
    multi-head (not DiSAN's multi-dimensional additive attention), which keeps
    it to matmuls that mobile GPUs run well.

    Args:
        units: int. Model size (inputs are projected to it).
        layers: int. Blocks.
        heads: int. Attention heads per direction.
        dropout: float. Dropout on the block's output.

    Padding: padded keys are never attended to; see `PerHeadAttention`.
    """

    def __init__(self, units=128, layers=1, heads=4, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.supports_masking = True

    def build(self, input_shape):
        d, inner = self.units, self._build_projection(input_shape)
        for i in range(self.layers):
            block = {}
            for direction in ("forward", "backward"):
                block[direction] = PerHeadAttention(d, self.heads, 0.0, dtype=self.dtype_policy,
                                                    name=f"{direction}_attention_{i}")
                block[direction].build(inner)
                gate = keras.layers.Dense(d, activation="sigmoid", dtype=self.dtype_policy,
                                          name=f"{direction}_gate_{i}")
                gate.build(tuple(input_shape[:-1]) + (2 * d,))
                block[f"{direction}_gate"] = gate
            block["merge"] = keras.layers.Dense(d, dtype=self.dtype_policy, name=f"merge_{i}")
            block["merge"].build(tuple(input_shape[:-1]) + (2 * d,))
            block["norm"] = keras.layers.LayerNormalization(dtype=self.dtype_policy, name=f"norm_{i}")
            block["norm"].build(inner)
            self.blocks.append(block)
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def call(self, x, mask=None, training=None):
        x = ops.tanh(self.project(x))
        length = ops.shape(x)[1]
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        pair = _pair_mask(mask)
        i = ops.reshape(ops.arange(length), (1, -1, 1))
        j = ops.reshape(ops.arange(length), (1, 1, -1))
        forward = ops.logical_and(pair, ops.less_equal(j, i))
        backward = ops.logical_and(pair, ops.greater_equal(j, i))
        for block in self.blocks:
            fused = []
            for direction, allowed in (("forward", forward), ("backward", backward)):
                attended = block[direction](x, allowed, training=training)
                gate = block[f"{direction}_gate"](ops.concatenate([x, attended], axis=-1))
                fused.append(gate * x + (1.0 - gate) * attended)
            merged = block["merge"](ops.concatenate(fused, axis=-1))
            x = block["norm"](x + self.drop(merged, training=training))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "layers": self.layers, "heads": self.heads,
                       "dropout": self.dropout})
        return config


def get_encoder(kind, **kwargs):
    """The encoder layer registered as `kind` (see `slukit.registry.ENCODERS`)."""
    return registry.ENCODERS[kind].build(**kwargs)
