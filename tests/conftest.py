"""Shared fixtures: small data sets written on the fly, and one tiny trained model."""

import json
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WORDS = {
    "PlayMusic": [("play", "O"), ("some", "O"), ("jazz", "B-genre")],
    "GetWeather": [("weather", "O"), ("in", "O"), ("new", "B-city"), ("york", "I-city")],
    "SetAlarm": [("wake", "O"), ("me", "O"), ("at", "O"), ("seven", "B-time")],
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_rows(n=60):
    """`n` labelled utterances over three intents, with multi-token slots."""
    rows = []
    intents = sorted(WORDS)
    for i in range(n):
        intent = intents[i % 3]
        pairs = WORDS[intent]
        rows.append({"id": str(i), "tokens": [w for w, _ in pairs], "tags": [t for _, t in pairs],
                     "intent": intent})
    return rows


@pytest.fixture
def tiny_data(tmp_path):
    """A folder with train/valid/test JSONL files."""
    root = tmp_path / "data"
    root.mkdir()
    for split, n in (("train", 60), ("valid", 12), ("test", 12)):
        write_jsonl(root / f"{split}.jsonl", tiny_rows(n))
    return root


TINY_RECIPE = """\
name: tiny
data:
  root: {root}
  train: train.jsonl
  valid: valid.jsonl
  test: test.jsonl
model:
  word_dim: 8
  char_dim: 4
  char_filters: 6
  units: 8
  layers: 1
  max_word_chars: 8
train:
  epochs: 3
  batch_size: 8
  learning_rate: 0.01
  seed: 3
"""


def write_recipe(path, root, extra=""):
    path.write_text(TINY_RECIPE.format(root=root) + extra, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory):
    """A model directory trained once per test session on the built-in demo data."""
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    base = tmp_path_factory.mktemp("trained")
    recipe_path = base / "recipe.yaml"
    recipe_path.write_text(
        "name: demo-tiny\ndata: {builtin: demo-en}\n"
        "model: {word_dim: 16, char_dim: 8, char_filters: 16, units: 16, layers: 1}\n"
        "train: {epochs: 4, batch_size: 32, learning_rate: 0.01, seed: 0}\n",
        encoding="utf-8")
    recipe = load_recipe(recipe_path)
    result = train_recipe(recipe, output=base / "model", reporter=Reporter(quiet=True))
    return result.path
