"""Code-switching augmentation: word-for-word replacement that keeps tags, and
the transfer recipe's `from_target` dictionary built from parallel data."""

import pytest

from conftest import write_jsonl
from slukit.data.code_switch import code_switch
from slukit.data.example import Example
from slukit.errors import RecipeError
from slukit.recipe import load_recipe
from slukit.train.progress import Reporter
from slukit.workflows.train import train_recipe

EN = [(["fly", "to", "boston"], ["O", "O", "B-toloc"], "flight"),
      (["fares", "to", "denver"], ["O", "O", "B-toloc"], "airfare"),
      (["flights", "to", "boston"], ["O", "O", "B-toloc"], "flight")]
DE = [(["flug", "nach", "boston"], ["O", "O", "B-toloc"], "flight"),
      (["preise", "nach", "denver"], ["O", "O", "B-toloc"], "airfare"),
      (["flüge", "nach", "boston"], ["O", "O", "B-toloc"], "flight")]


def test_replacement_is_word_for_word_and_keeps_tags():
    examples = [Example(t, g, i, id=str(n)) for n, (t, g, i) in enumerate(EN * 20)]
    table = {"to": ["nach"], "fares": ["preise"]}
    out, stats = code_switch(examples, table, utterance_rate=0.5, word_rate=1.0, seed=3)
    assert [ex.tags for ex in out] == [ex.tags for ex in examples]
    assert [ex.id for ex in out] == [ex.id for ex in examples]
    switched = [ex for ex in out if "nach" in ex.tokens]
    assert 10 <= len(switched) <= 50 and stats["utterances"] == len(switched)
    assert all(ex.tokens[0] != "fares" for ex in switched)  # every translatable word replaced
    assert code_switch(examples, table, 0.5, 1.0, seed=3)[0] == out  # reproducible
    assert code_switch(examples, table, 0.0, 1.0, seed=3)[0] == examples


@pytest.fixture
def parallel(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for lang, base in (("en", EN), ("de", DE)):
        for split, n in (("train", 30), ("valid", 6)):
            write_jsonl(root / f"{lang}_{split}.jsonl",
                        [{"id": f"{split}{k}", "tokens": t, "tags": g, "intent": i}
                         for k, (t, g, i) in enumerate((base * n)[:n])])
    return root


def recipe(tmp_path, root, switch):
    path = tmp_path / "cs.yaml"
    path.write_text(f"""\
name: cs
data: {{root: {root}, train: de_train.jsonl, valid: de_valid.jsonl, train_fraction: 0.5}}
model: {{word_dim: 8, char_dim: 4, char_filters: 6, units: 8, layers: 1, max_word_chars: 8}}
train: {{epochs: 1, batch_size: 8, seed: 1}}
source:
  data:
    root: {root}
    train: en_train.jsonl
    valid: en_valid.jsonl
    code_switch: {switch}
  output: {tmp_path / "source"}
""")
    return path


def test_from_target_dictionary_puts_target_words_into_the_source_model(parallel, tmp_path):
    path = recipe(tmp_path, parallel, "{dictionary: from_target, utterance_rate: 1.0, word_rate: 1.0}")
    result = train_recipe(load_recipe(path), output=tmp_path / "target", reporter=Reporter(quiet=True))
    sources = sorted(tmp_path.glob("source-cs-*"))
    assert len(sources) == 1 and (sources[0] / "model.keras").is_file()
    dictionary = sorted(tmp_path.glob("source.dictionary-*.txt"))
    assert len(dictionary) == 1 and "to nach" in dictionary[0].read_text()
    from slukit.train.artifact import load_model_dir

    source_words = load_model_dir(sources[0]).preprocessor.words
    assert "nach" in source_words  # learnt in English contexts, carried over by name
    assert (result.path / "model.keras").is_file()


def test_from_target_is_refused_outside_a_transfer_source(parallel, tmp_path):
    path = tmp_path / "mono.yaml"
    path.write_text(f"""\
name: mono
data:
  root: {parallel}
  train: en_train.jsonl
  code_switch: {{dictionary: from_target}}
model: {{word_dim: 8, char_dim: 4, char_filters: 6, units: 8, layers: 1}}
train: {{epochs: 1}}
""")
    with pytest.raises(RecipeError, match="source.data.code_switch"):
        train_recipe(load_recipe(path), output=tmp_path / "out", reporter=Reporter(quiet=True))
    assert not (tmp_path / "out").exists()


def test_code_switch_needs_a_dictionary(parallel, tmp_path):
    path = recipe(tmp_path, parallel, "{word_rate: 0.5}")
    with pytest.raises(RecipeError, match="dictionary"):
        load_recipe(path)
