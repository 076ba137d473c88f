"""One check for every slukit layer, in the style of keras-hub's `run_layer_test`.

`run_layer_test(cls, init_kwargs, inputs, expected_output_shape)` builds the layer
with tiny sizes and checks, in one call:

- the output shape of a call on `inputs`;
- the `get_config` round trip: `cls.from_config(config)` has the same config;
- save and load: a functional model holding the layer, saved as `.keras` and
  loaded back, gives the same outputs;
- with `padded_inputs`, that padding never changes the real outputs: the layer on
  `padded_inputs` (the same utterances with padding appended, its mask False, its
  values junk) gives the outputs on `inputs` at the real positions.

`inputs` (and `padded_inputs`) map the call's argument names to arrays, the first
being the layer's main input: `{"x": x, "mask": mask}`. An array alone stands for
`{"x": array}`. Returns the called layer, for checks of the test's own.
"""

import tempfile
from pathlib import Path

import numpy as np

import keras


def _as_dict(inputs):
    return dict(inputs) if isinstance(inputs, dict) else {"x": inputs}


def _call(layer, inputs):
    first, *rest = inputs.items()
    return layer(first[1], **dict(rest))


def _numpy(out):
    if isinstance(out, dict):
        return {k: np.asarray(v) for k, v in out.items()}
    return np.asarray(out)


def _shape(out):
    if isinstance(out, dict):
        return {k: tuple(v.shape) for k, v in out.items()}
    return tuple(out.shape)


def _assert_close(a, b, atol, what):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), what
        for key in a:
            _assert_close(a[key], b[key], atol, f"{what} ({key})")
        return
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    assert np.allclose(a, b, atol=atol), f"{what}: largest difference {np.max(np.abs(a - b))}"


def _real_part(out, steps):
    if isinstance(out, dict):
        return {k: _real_part(v, steps) for k, v in out.items()}
    return out if steps is None else out[:, :steps]


def run_layer_test(cls, init_kwargs, inputs, expected_output_shape, *, padded_inputs=None,
                   real_steps=None, saving=True, atol=1e-5):
    """Checks `cls(**init_kwargs)` as the module doc says; returns the layer it called.

    Args:
        cls: the layer class (or a factory whose result has `from_config`).
        init_kwargs: dict. Tiny sizes, so the check is fast.
        inputs: an array, or a dict of the call's arguments (main input first).
        expected_output_shape: a tuple, or a dict of tuples for dict outputs; None
            in a tuple matches any size.
        padded_inputs: the same as `inputs` with padding appended (see the module doc);
            None for a layer without a padding mask.
        real_steps: how many leading time steps of the padded output are real (the
            length of `inputs`' time axis); None when the output has no time axis
            (a pooled vector), which is then compared whole.
        saving: False for a layer that cannot stand in a functional model alone.
        atol: the tolerance of every comparison.
    """
    inputs = _as_dict(inputs)
    layer = cls(**init_kwargs)
    out = _numpy(_call(layer, inputs))
    assert _shape_matches(_shape(out), _as_shape(expected_output_shape)), \
        f"output shape {_shape(out)}, expected {expected_output_shape}"

    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) changed the config"

    if saving:
        _check_saving(layer, inputs, out, atol)

    if padded_inputs is not None:
        padded = _numpy(_call(layer, _as_dict(padded_inputs)))
        _assert_close(_real_part(padded, real_steps), out, atol,
                      "padding changed the real outputs")
    return layer


def _shape_matches(actual, expected):
    if isinstance(expected, dict):
        return sorted(actual) == sorted(expected) and all(
            _shape_matches(actual[k], expected[k]) for k in expected)
    return len(actual) == len(expected) and all(e is None or a == e
                                                for a, e in zip(actual, expected))


def _as_shape(shape):
    return {k: tuple(v) for k, v in shape.items()} if isinstance(shape, dict) else tuple(shape)


def _check_saving(layer, inputs, out, atol):
    """A functional model holding `layer`, saved as `.keras` and loaded, answers alike."""
    symbolic = {name: keras.Input(shape=np.shape(value)[1:], dtype=str(np.asarray(value).dtype),
                                  name=name)
                for name, value in inputs.items()}
    model = keras.Model(symbolic, _call(layer, symbolic))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, compile=False)
    feed = {name: np.asarray(value) for name, value in inputs.items()}
    _assert_close(_numpy(loaded(feed)), out, atol, "save and load changed the outputs")
