"""Context encoders: token vectors -> contextual token vectors, padding-aware.

Every encoder takes `(vectors [B, T, D], mask [B, T])` and returns `[B, T, H]`;
outputs at real positions never depend on padded positions. Encoders are named
in recipes (`model.encoder`) and resolved through `ENCODERS`.

Example:
    >>> import numpy as np
    >>> enc = BiLSTMEncoder(units=8, layers=2)
    >>> x = np.zeros((2, 5, 4), dtype="float32")
    >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    >>> tuple(enc(x, mask=mask).shape)
    (2, 5, 16)
"""

import keras


@keras.saving.register_keras_serializable(package="slukit")
class BiLSTMEncoder(keras.layers.Layer):
    """Stacked bidirectional LSTMs.

    Args:
        units: int. LSTM units per direction; the output has `2 * units` features.
        layers: int. Stacked BiLSTM layers.
        dropout: float. Dropout between layers.

    Padding: the LSTMs skip masked steps, so padded positions do not change
    the real outputs in either direction.
    """

    def __init__(self, units=128, layers=2, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.layers = layers
        self.dropout = dropout
        self.supports_masking = True

    def _make_rnn(self, index):
        return keras.layers.LSTM(self.units, return_sequences=True, dtype=self.dtype_policy,
                                 name=f"lstm_{index}")

    def build(self, input_shape):
        self.rnns = []
        shape = tuple(input_shape)
        for i in range(self.layers):
            rnn = keras.layers.Bidirectional(self._make_rnn(i), dtype=self.dtype_policy,
                                             name=f"bilstm_{i}")
            rnn.build(shape)
            self.rnns.append(rnn)
            shape = shape[:-1] + (2 * self.units,)
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def call(self, x, mask=None, training=None):
        for i, rnn in enumerate(self.rnns):
            if i > 0:
                x = self.drop(x, training=training)
            x = rnn(x, mask=mask, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "layers": self.layers, "dropout": self.dropout})
        return config


ENCODERS = {
    "bilstm": BiLSTMEncoder,
}


def get_encoder(kind, **kwargs):
    """The encoder layer registered as `kind` (see `ENCODERS`)."""
    return ENCODERS[kind](**kwargs)
