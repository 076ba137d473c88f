"""The registry: one table of names that the schema, the builder, the CLI and the docs read;
an encoder registered by a user is validated, built, trained, saved and reloaded."""

import numpy as np
import pytest

from slukit import registry
from slukit.errors import RecipeError


def test_the_schema_and_the_cli_offer_the_registry_names():
    from slukit.cli import build_parser
    from slukit.recipe.schema import SCHEMA

    model, data = SCHEMA["model"].fields, SCHEMA["data"].fields
    assert model["encoder"].allowed() == tuple(registry.ENCODERS)
    assert model["embeddings"].allowed() == registry.EMBEDDINGS
    assert data["format"].allowed() == registry.FORMATS
    assert data["builtin"].allowed() == registry.BUILTIN_DATASETS
    assert SCHEMA["train"].fields["early_stopping"].fields["monitor"].allowed() == \
        tuple(registry.MONITORS)
    parser = build_parser()
    evaluate = parser._subparsers._group_actions[0].choices["evaluate"]
    choices = {a.dest: a.choices for a in evaluate._actions if a.choices}
    assert tuple(choices["format"]) == registry.FORMATS
    assert tuple(choices["split"]) == registry.SPLITS


def test_register_encoder_refuses_keys_an_encoder_cannot_take():
    with pytest.raises(ValueError, match="word_dim"):
        registry.register_encoder("x", "slukit.models.encoders:BiRNNEncoder",
                                  keys=("units", "word_dim"))
    assert "x" not in registry.ENCODERS


keras = pytest.importorskip("keras")


class MeanContextEncoder(keras.layers.Layer):
    """A user's encoder: each token's projection plus the mean over the real tokens."""

    def __init__(self, units, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.dropout = units, dropout
        self.supports_masking = True
        self.project = keras.layers.Dense(units, activation="tanh")

    def build(self, input_shape):
        self.project.build(input_shape)

    def call(self, x, mask=None, training=None):
        h = self.project(x)
        m = keras.ops.expand_dims(keras.ops.cast(mask, h.dtype), -1)
        mean = keras.ops.sum(h * m, axis=1, keepdims=True) / keras.ops.maximum(
            keras.ops.sum(m, axis=1, keepdims=True), 1.0)
        return (h + mean) * m

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}


@pytest.fixture
def mean_encoder(monkeypatch):
    monkeypatch.setattr(registry, "ENCODERS", dict(registry.ENCODERS))
    registry.register_encoder("mean_context", MeanContextEncoder, keys=("units", "dropout"))
    return "mean_context"


def test_a_registered_encoder_passes_the_layer_checks(mean_encoder):
    from layer_test_case import run_layer_test

    x = np.random.default_rng(0).normal(size=(1, 3, 4)).astype("float32")
    mask = np.array([[True, True, True]])
    run_layer_test(registry.ENCODERS[mean_encoder].build, {"units": 5}, {"x": x, "mask": mask},
                   (1, 3, 5), saving=False,
                   padded_inputs={"x": np.pad(x, ((0, 0), (0, 2), (0, 0)), constant_values=9.0),
                                  "mask": np.pad(mask, ((0, 0), (0, 2)))}, real_steps=3)


def test_a_registered_encoder_is_trained_saved_and_reloaded(mean_encoder, tmp_path):
    from slukit.recipe import load_recipe
    from slukit.train.artifact import load_model_dir
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(
        "name: custom\ndata: {builtin: demo-en, train_fraction: 0.2}\n"
        "model: {encoder: mean_context, embeddings: [word], word_dim: 8, units: 6, "
        "heads: 5, dropout: 0.0}\n"
        "train: {epochs: 1, batch_size: 32, learning_rate: 0.01, seed: 0, jit_compile: false}\n",
        encoding="utf-8")
    recipe = load_recipe(path)  # heads 5 does not divide units 6: fine, this encoder has none
    result = train_recipe(recipe, output=tmp_path / "model", reporter=Reporter(quiet=True))
    assert isinstance(result.model.get_layer("encoder"), MeanContextEncoder)
    assert result.model.get_layer("encoder").units == 6

    bundle = load_model_dir(result.path)
    assert isinstance(bundle.model.get_layer("encoder"), MeanContextEncoder)
    ids = np.array([[3, 4, 5, 0]], "int32")
    a = result.model.predict({"word_ids": ids}, verbose=0)
    b = bundle.model.predict({"word_ids": ids}, verbose=0)
    assert np.allclose(a["intent"], b["intent"], atol=1e-6)
    assert np.allclose(a["slots"], b["slots"], atol=1e-6)


def test_an_unregistered_encoder_is_a_recipe_error(tmp_path):
    from slukit.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text("name: x\ndata: {builtin: demo-en}\nmodel: {encoder: mean_context}\n",
                    encoding="utf-8")
    with pytest.raises(RecipeError, match="model.encoder"):
        load_recipe(path)
