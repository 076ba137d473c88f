"""Training from a recipe: the model directory, repeatability, atomic writes, data problems."""

import json

import numpy as np
import pytest

from conftest import tiny_rows, write_jsonl, write_recipe
from slukit.errors import DataError, ModelDirError, SlukitError
from slukit.recipe import load_recipe
from slukit.train.artifact import is_model_dir, load_model_dir
from slukit.train.progress import Reporter
from slukit.workflows.train import train_recipe


def train(recipe_path, output, overrides=(), force=False):
    return train_recipe(load_recipe(recipe_path, list(overrides)), output=output,
                        reporter=Reporter(quiet=True), force=force)


def test_model_directory_holds_everything_and_reloads(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    result = train(recipe, tmp_path / "out")
    out = result.path
    for name in ("recipe.yaml", "model.keras", "preprocessor.json", "metrics.json",
                 "metadata.json", "vocab/words.txt", "vocab/chars.txt", "vocab/intents.txt",
                 "vocab/tags.txt"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"}
    for split in metrics.values():
        for key in ("intent_accuracy", "slot_f1", "sentence_accuracy"):
            assert 0.0 <= split[key] <= 1.0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 3 and meta["parameters"] > 0
    # The saved recipe is a valid recipe again.
    assert load_recipe(out / "recipe.yaml")["model"]["units"] == 8

    bundle = load_model_dir(out)
    feed = bundle.preprocessor.pad_inputs([bundle.preprocessor.encode_inputs(["play", "some", "jazz"])])
    a = result.model.predict(feed, verbose=0)
    b = bundle.model.predict(feed, verbose=0)
    assert np.allclose(a["slots"], b["slots"], atol=1e-6)


def test_same_seed_same_model(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    first = train(recipe, tmp_path / "a")
    second = train(recipe, tmp_path / "b")
    for w1, w2 in zip(first.model.get_weights(), second.model.get_weights()):
        assert np.array_equal(w1, w2)
    assert (tmp_path / "a/metrics.json").read_text() == (tmp_path / "b/metrics.json").read_text()


def test_learns_the_tiny_task(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    result = train(recipe, tmp_path / "out", ["train.epochs=15"])
    assert result.metrics["test"]["intent_accuracy"] == 1.0
    assert result.metrics["test"]["slot_f1"] > 0.9


def test_labels_unseen_in_train_count_as_errors(tiny_data, tmp_path, capsys):
    rows = tiny_rows(12)
    rows[0] = {"tokens": ["book", "a", "table"], "tags": ["O", "O", "B-new_slot"],
               "intent": "BookRestaurant"}
    write_jsonl(tiny_data / "test.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    result = train_recipe(load_recipe(recipe, ["train.epochs=15"]), output=tmp_path / "out",
                          reporter=Reporter())
    assert result.metrics["test"]["intent_accuracy"] <= 11 / 12
    err = capsys.readouterr().err
    assert "BookRestaurant" in err and "test.jsonl:1" in err


def test_foreign_output_directory_is_refused_before_training(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ModelDirError, match="not a slukit model directory"):
        train(recipe, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_interrupted_run_keeps_its_progress_and_writes_no_model(tiny_data, tmp_path,
                                                                 monkeypatch):
    """Ctrl-C keeps a fresh run's last complete epoch for --resume (as SIGKILL would),
    and no half-written model directory."""
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("slukit.preprocess.preprocessor.SLUPreprocessor.save", interrupt)
    with pytest.raises(KeyboardInterrupt, match="3 epoch.* done.*--resume"):
        train(recipe, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out.checkpoint", "r.yaml"]
    monkeypatch.undo()
    # Without --resume, the checkpoint is not deleted silently: the run is refused.
    with pytest.raises(SlukitError, match="--resume.*--force"):
        train(recipe, tmp_path / "out")
    result = train_recipe(load_recipe(recipe), output=tmp_path / "out",
                          reporter=Reporter(quiet=True), resume=True)
    assert json.loads((result.path / "metadata.json").read_text())["resumed_from_epoch"] == 3


def test_one_writer_per_output_and_no_silent_replacement(tiny_data, tmp_path):
    from slukit.errors import OutputLockedError
    from slukit.train.lock import output_lock

    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    with output_lock(tmp_path / "out"):  # another run holds the output
        with pytest.raises(OutputLockedError, match=r"another training \(PID \d+\)"):
            train(recipe, tmp_path / "out", ["train.epochs=1"])
    assert not (tmp_path / "out").exists()
    train(recipe, tmp_path / "out", ["train.epochs=1"])
    assert not (tmp_path / "out.lock").exists()
    with pytest.raises(ModelDirError, match="finished model already; pass --force"):
        train(recipe, tmp_path / "out", ["train.epochs=1"])
    train(recipe, tmp_path / "out", ["train.epochs=1"], force=True)


def test_failed_rerun_keeps_the_previous_model(tiny_data, tmp_path, monkeypatch):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    train(recipe, tmp_path / "out", ["train.epochs=1"])
    before = (tmp_path / "out" / "metadata.json").read_text()
    monkeypatch.setattr("slukit.train.artifact.write_json",
                        lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        train(recipe, tmp_path / "out", ["train.epochs=1"], force=True)
    assert is_model_dir(tmp_path / "out")
    assert (tmp_path / "out" / "metadata.json").read_text() == before
    # No half-written model directory; the failed run's checkpoint stays for --resume.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out", "out.checkpoint", "r.yaml"]
    monkeypatch.undo()
    result = train_recipe(load_recipe(recipe, ["train.epochs=1"]), output=tmp_path / "out",
                          reporter=Reporter(quiet=True), resume=True)
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["resumed_from_epoch"] == 1 and meta["epochs_run"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out", "r.yaml"]


def test_bad_data_line_is_reported_with_file_and_line(tiny_data, tmp_path):
    rows = tiny_rows(60)
    rows[4] = {"tokens": ["a", "b"], "tags": ["O"], "intent": "x"}
    write_jsonl(tiny_data / "train.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    with pytest.raises(DataError, match=r"train.jsonl:5"):
        train(recipe, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # The recipe can choose to skip bad lines instead.
    result = train(recipe, tmp_path / "out", ["data.on_error=skip", "train.epochs=1"])
    assert is_model_dir(result.path)


def test_train_fraction_is_reproducible(tiny_data, tmp_path):
    from slukit.data.load import load_splits

    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_data), ["data.train_fraction=0.25"])
    a = load_splits(recipe)["train"]
    b = load_splits(recipe)["train"]
    assert len(a) == 15 and [ex.source for ex in a] == [ex.source for ex in b]


def test_pretrained_word_vectors_initialise_and_freeze(tiny_data, tmp_path):
    vec = tmp_path / "w.vec"
    vec.write_text("3 8\n" + "".join(f"{w} " + " ".join(["0.5"] * 8) + "\n"
                                     for w in ("play", "jazz", "unused")))
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    result = train(recipe, tmp_path / "out", [f"model.word_vectors={vec}",
                                              "model.freeze_word_vectors=true", "train.epochs=1"])
    table = result.model.get_layer("word_embedding").get_weights()[0]
    words = result.preprocessor.words
    assert np.allclose(table[words.id("play")], 0.5) and np.allclose(table[words.id("jazz")], 0.5)
    assert not np.allclose(table[words.id("weather")], 0.5)


def test_word_vectors_of_the_wrong_size_name_the_keys(tiny_data, tmp_path):
    from slukit.errors import RecipeError

    vec = tmp_path / "w.vec"
    vec.write_text("play 1 2 3\n")
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    with pytest.raises(RecipeError, match="model.word_dim: 3"):
        train(recipe, tmp_path / "out", [f"model.word_vectors={vec}"])
    assert not (tmp_path / "out").exists()
