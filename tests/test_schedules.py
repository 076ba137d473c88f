"""Training switches: the learning-rate schedule (`train.lr_schedule`, `train.warmup_epochs`)
and the moving average of the weights (`train.ema`)."""

import numpy as np
import pytest

from slukit.train.schedules import EpochSchedule, learning_rate_for


def test_cosine_schedule_warms_up_peaks_and_ends_at_the_final_ratio():
    s = EpochSchedule(0.01, total_steps=200, warmup_steps=20, kind="cosine", final_ratio=0.05)
    rates = [float(s(step)) for step in range(200)]
    assert rates[0] == pytest.approx(0.01 / 20)
    assert max(rates) == pytest.approx(0.01) and int(np.argmax(rates)) in (19, 20)
    assert all(a <= b + 1e-9 for a, b in zip(rates[:20], rates[1:21]))  # warm-up rises
    assert all(a >= b - 1e-9 for a, b in zip(rates[20:], rates[21:]))  # then it falls
    assert rates[-1] == pytest.approx(0.0005)


def test_a_later_phase_goes_on_along_the_same_schedule():
    whole = EpochSchedule(0.01, total_steps=100, warmup_steps=10, kind="cosine")
    second_phase = EpochSchedule(0.01, total_steps=100, warmup_steps=10, kind="cosine", offset=40)
    for step in (0, 7, 59):
        assert float(second_phase(step)) == pytest.approx(float(whole(step + 40)))


def test_constant_without_warmup_is_the_plain_rate_as_before():
    cfg = {"lr_schedule": "constant", "warmup_epochs": 0, "epochs": 10}
    assert learning_rate_for(cfg, 0.002, steps_per_epoch=30) == 0.002
    s = learning_rate_for({**cfg, "warmup_epochs": 2}, 0.002, steps_per_epoch=30)
    assert float(s(59)) == pytest.approx(0.002) and float(s(29)) == pytest.approx(0.001)
    assert float(s(200)) == pytest.approx(0.002)


def test_schedule_round_trips_through_its_config():
    import keras

    s = EpochSchedule(0.003, 500, warmup_steps=50, kind="cosine", offset=100)
    optimizer = keras.optimizers.Adam(learning_rate=s)
    again = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert float(again.learning_rate) == pytest.approx(float(s(0)))
    with pytest.raises(ValueError, match="kind must be one of"):
        EpochSchedule(0.01, 10, kind="linear")


def test_recipe_refuses_an_unknown_schedule_naming_the_key(tmp_path):
    from slukit.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("name: x\ndata: {builtin: demo-en}\ntrain: {lr_schedule: step}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.lr_schedule.*(constant|cosine)"):
        load_recipe(path)
    path.write_text("name: x\ndata: {builtin: demo-en}\ntrain: {ema: 1.0}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.ema"):
        load_recipe(path)


def test_averaged_weights_swaps_the_moving_average_in_and_back():
    import keras

    from slukit.train.callbacks import averaged_weights

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.5, use_ema=True, ema_momentum=0.9), loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    for _ in range(3):  # train_on_batch, unlike fit, does not end by copying the averages in
        model.train_on_batch(x, y)
    trained = [np.array(w) for w in model.get_weights()]
    averages = [np.array(v) for v in model.optimizer._model_variables_moving_average]
    with averaged_weights(model):
        inside = [np.array(w) for w in model.get_weights()]
    for t, a, i, o in zip(trained, averages, inside, model.get_weights()):
        np.testing.assert_allclose(i, a, rtol=1e-6)
        np.testing.assert_allclose(o, t)
        assert not np.allclose(t, a)


def test_a_run_with_cosine_warmup_and_ema_keeps_the_averaged_weights(tmp_path):
    import json

    from slukit.recipe import load_recipe
    from slukit.train.artifact import load_model_dir
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    path = tmp_path / "r.yaml"
    path.write_text(
        "name: tiny-ema\ndata: {builtin: demo-en, train_fraction: 0.3}\n"
        "model: {word_dim: 8, char_dim: 4, char_filters: 8, units: 8, layers: 1, "
        "max_word_chars: 8}\n"
        "train: {epochs: 3, batch_size: 16, learning_rate: 0.02, seed: 0, lr_schedule: cosine,\n"
        "        warmup_epochs: 1, ema: 0.9, early_stopping: {patience: 0}}\n", encoding="utf-8")
    result = train_recipe(load_recipe(path), output=tmp_path / "model",
                          reporter=Reporter(quiet=True))
    metrics = json.loads((result.path / "metrics.json").read_text(encoding="utf-8"))
    bundle = load_model_dir(result.path)  # the saved model loads, schedule and all
    recipe = bundle.recipe["train"]
    assert (recipe["lr_schedule"], recipe["warmup_epochs"], recipe["ema"]) == ("cosine", 1, 0.9)
    assert 0.0 <= metrics["test"]["intent_accuracy"] <= 1.0
