"""On a GPU, the recurrent encoders can use the fused (cuDNN) kernels.

Keras 3 runs `LSTM`/`GRU` on cuDNN only when the layer keeps the kernel's own
settings: tanh activation, sigmoid recurrent activation, no recurrent dropout,
`unroll=False`, `use_bias=True`, `use_cudnn="auto"` and, for the GRU,
`reset_after=True`; with a mask, only right-padded sequences (TensorFlow's
`_cudnn_lstm` asserts it). These tests pin those settings, so that a change to
the encoders cannot silently move training onto the slow generic loop. Whether
the kernel is then taken is decided at run time on the GPU.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from slukit.data.example import Example  # noqa: E402
from slukit.models.encoders import get_encoder  # noqa: E402
from slukit.preprocess import SLUPreprocessor  # noqa: E402

from layer_test_case import run_layer_test  # noqa: E402


def recurrent_layers(encoder):
    for bidirectional in encoder.rnns:
        yield bidirectional.forward_layer
        yield bidirectional.backward_layer


@pytest.mark.parametrize("kind", ["bilstm", "gru", "highway_lstm"])
def test_recurrent_encoders_keep_the_cudnn_settings(kind):
    x = np.random.default_rng(0).normal(size=(2, 3, 6)).astype("float32")
    mask = np.array([[True, True, True], [True, True, False]])  # right-padded, as cuDNN needs
    encoder = run_layer_test(lambda **kw: get_encoder(kind, **kw),
                             {"units": 4, "layers": 2, "dropout": 0.3}, {"x": x, "mask": mask},
                             (2, 3, 8), padded_inputs={"x": np.pad(x, ((0, 0), (0, 2), (0, 0))),
                                                       "mask": np.pad(mask, ((0, 0), (0, 2)))},
                             real_steps=3)
    layers = list(recurrent_layers(encoder))
    assert len(layers) == 4
    for layer in layers:
        config = layer.get_config()
        assert config["activation"] == "tanh" and config["recurrent_activation"] == "sigmoid"
        assert config["recurrent_dropout"] == 0 and config["dropout"] == 0
        assert config["unroll"] is False and config["use_bias"] is True
        assert layer.use_cudnn == "auto"
        if kind == "gru":
            assert isinstance(layer, keras.layers.GRU) and config["reset_after"] is True
        else:
            assert isinstance(layer, keras.layers.LSTM)


def test_batches_are_right_padded():
    pre = SLUPreprocessor.fit([Example(["a", "b", "c"], ["O"] * 3, "x")])
    batch = pre.pad_inputs([pre.encode_inputs(t) for t in (["a"], ["a", "b", "c"], ["b", "c"])], 8)
    mask = batch["word_ids"] != 0
    lengths = mask.sum(axis=1)
    assert np.array_equal(mask, np.arange(8)[None, :] < lengths[:, None])
