"""Label smoothing: the loss's values, its padding mask, its config, and a recipe using it."""

import keras
import numpy as np
import pytest

from conftest import write_recipe
from slukit.errors import RecipeError
from slukit.recipe import load_recipe
from slukit.train.losses import SmoothedSparseCrossentropy, joint_losses
from slukit.train.progress import Reporter
from slukit.workflows.train import train_recipe

PROBS = np.array([[[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]],
                  [[0.2, 0.5, 0.3], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]], dtype="float32")
LABELS = np.array([[1, 2, 0], [2, 0, 0]])  # 0 is padding for slots


def test_without_smoothing_it_equals_keras_sparse_crossentropy():
    ours = SmoothedSparseCrossentropy(0.0, ignore_class=0)(LABELS, PROBS)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=0)(LABELS, PROBS)
    assert np.isclose(float(ours), float(keras_loss), rtol=1e-5)


def test_smoothing_equals_keras_categorical_crossentropy_on_one_hot_targets():
    labels = np.array([1, 2, 0])
    probs = PROBS[0]
    ours = SmoothedSparseCrossentropy(0.2)(labels, probs)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(
        keras.ops.one_hot(labels, 3), probs)
    assert np.isclose(float(ours), float(reference), rtol=1e-5)


def test_padded_positions_add_nothing():
    loss = SmoothedSparseCrossentropy(0.1, ignore_class=0)
    changed = PROBS.copy()
    changed[0, 2] = [0.98, 0.01, 0.01]  # the prediction at a padded position changes
    changed[1, 1:] = [0.01, 0.01, 0.98]
    assert np.isclose(float(loss(LABELS, PROBS)), float(loss(LABELS, changed)), rtol=1e-6)
    # The mean is over the three real positions, not all six.
    logp = np.log(PROBS)
    real = [(0, 0, 1), (0, 1, 2), (1, 0, 2)]
    expected = np.mean([-(0.9 * logp[b, t, y] + 0.1 * logp[b, t].mean()) for b, t, y in real])
    assert np.isclose(float(loss(LABELS, PROBS)), expected, rtol=1e-5)


def test_config_round_trip():
    loss = SmoothedSparseCrossentropy(0.15, ignore_class=0)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, SmoothedSparseCrossentropy)
    assert (again.label_smoothing, again.ignore_class) == (0.15, 0)
    assert np.isclose(float(again(LABELS, PROBS)), float(loss(LABELS, PROBS)))


def test_no_smoothing_keeps_keras_losses():
    assert isinstance(joint_losses(0.0)["slots"], keras.losses.SparseCategoricalCrossentropy)
    assert isinstance(joint_losses(0.1)["intent"], SmoothedSparseCrossentropy)


def test_recipe_rejects_a_smoothing_of_one(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    with pytest.raises(RecipeError, match="train.label_smoothing"):
        load_recipe(recipe, ["train.label_smoothing=1"])


def test_a_smoothed_recipe_trains_and_learns(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    result = train_recipe(load_recipe(recipe, ["train.label_smoothing=0.1", "train.epochs=15"]),
                          output=tmp_path / "out", reporter=Reporter(quiet=True))
    assert result.metrics["test"]["intent_accuracy"] == 1.0
    assert result.metrics["test"]["slot_f1"] > 0.9
