"""Cross-lingual transfer: both stages in one command, what carries over, and clear errors."""

import json

import numpy as np
import pytest

from conftest import write_jsonl, write_recipe
from slukit.errors import RecipeError
from slukit.recipe import load_recipe
from slukit.train.progress import Reporter
from slukit.workflows.train import train_recipe

EN = [
    (["fly", "to", "boston"], ["O", "O", "B-toloc"], "flight"),
    (["fares", "to", "new", "york"], ["O", "O", "B-toloc", "I-toloc"], "airfare"),
    (["flights", "from", "denver"], ["O", "O", "B-fromloc"], "flight"),
]
DE = [
    (["flug", "nach", "boston"], ["O", "O", "B-toloc"], "flight"),
    (["preise", "nach", "new", "york"], ["O", "O", "B-toloc", "I-toloc"], "airfare"),
    (["flüge", "am", "montag"], ["O", "O", "B-day"], "flight_day"),  # new tag and intent
]


def rows(base, n):
    return [{"tokens": t, "tags": g, "intent": i} for t, g, i in (base * n)[:n]]


@pytest.fixture
def bilingual(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for lang, base in (("en", EN), ("de", DE)):
        for split, n in (("train", 30), ("valid", 6), ("test", 6)):
            write_jsonl(root / f"{lang}_{split}.jsonl", rows(base, n))
    return root


def transfer_recipe(tmp_path, root, extra=""):
    path = tmp_path / "transfer.yaml"
    path.write_text(f"""\
name: en2de
data: {{root: {root}, train: de_train.jsonl, valid: de_valid.jsonl, test: de_test.jsonl}}
model: {{word_dim: 8, char_dim: 4, char_filters: 6, units: 8, layers: 1, max_word_chars: 8}}
train: {{epochs: 2, batch_size: 8, learning_rate: 0.01, seed: 1}}
source:
  data: {{root: {root}, train: en_train.jsonl, valid: en_valid.jsonl, test: en_test.jsonl}}
  output: {tmp_path / "source"}
{extra}""")
    return path


def run(path, output, overrides=(), reporter=None, force=False):
    return train_recipe(load_recipe(path, list(overrides)), output=output,
                        reporter=reporter or Reporter(quiet=True), force=force)


def test_one_command_trains_source_then_target(bilingual, tmp_path):
    result = run(transfer_recipe(tmp_path, bilingual), tmp_path / "target")
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert set(metrics) == {"source", "valid", "test"}
    assert set(metrics["source"]) == {"valid", "test"}
    assert (tmp_path / "source" / "model.keras").is_file()
    pre = result.preprocessor
    # Labels are merged by name: the source's first, then the target's new ones.
    assert pre.intents.tokens == ["flight", "airfare", "flight_day"]
    assert pre.tags.tokens[:2] == ["<pad>", "O"] and pre.tags.tokens[-1] == "B-day"
    assert "fromloc" in " ".join(pre.tags.tokens)  # source-only label stays predictable
    assert "flug" in pre.words and "fly" not in pre.words  # the target's own words
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["transferred"] == ["embeddings", "char_embeddings", "encoder", "intent_head", "slot_head"]


def stages_of(path, output):
    """The stage titles a training run reports."""
    messages = []

    class Capture(Reporter):
        def stage(self, title):
            messages.append(title)

    run(path, output, reporter=Capture(quiet=True))
    return messages


def test_source_is_reused_when_settings_match(bilingual, tmp_path):
    path = transfer_recipe(tmp_path, bilingual)
    run(path, tmp_path / "t1")
    stamp = (tmp_path / "source" / "metadata.json").read_text()
    assert any("reusing" in m for m in stages_of(path, tmp_path / "t2"))
    assert (tmp_path / "source" / "metadata.json").read_text() == stamp


def test_weights_are_copied_by_name():
    from slukit.data.example import Example
    from slukit.models.builder import build_model
    from slukit.preprocess import SLUPreprocessor
    from slukit.train.artifact import ModelBundle
    from slukit.transfer import PART_LAYERS, merged_preprocessor, transfer_weights

    cfg = {"word_dim": 4, "char_dim": 3, "char_filters": 5, "units": 4, "layers": 1}
    src_pre = SLUPreprocessor.fit([Example(t, g, i) for t, g, i in EN])
    tgt_pre = merged_preprocessor(src_pre, SLUPreprocessor.fit([Example(t, g, i) for t, g, i in DE]))
    src_model, tgt_model = build_model(cfg, src_pre), build_model(cfg, tgt_pre)
    source = ModelBundle(None, src_model, src_pre, {}, {})
    transfer_weights(source, tgt_model, tgt_pre, list(PART_LAYERS))

    s_head, t_head = src_model.get_layer("slots").get_weights()[0], tgt_model.get_layer("slots").get_weights()[0]
    for tag in ("O", "B-toloc", "I-toloc"):
        assert np.array_equal(t_head[:, tgt_pre.tags.id(tag)], s_head[:, src_pre.tags.id(tag)])
    s_emb = src_model.get_layer("word_embedding").get_weights()[0]
    t_emb = tgt_model.get_layer("word_embedding").get_weights()[0]
    assert np.array_equal(t_emb[tgt_pre.words.id("boston")], s_emb[src_pre.words.id("boston")])
    for a, b in zip(src_model.get_layer("encoder").get_weights(), tgt_model.get_layer("encoder").get_weights()):
        assert np.array_equal(a, b)


def test_frozen_encoder_keeps_the_source_weights(bilingual, tmp_path):
    path = transfer_recipe(tmp_path, bilingual, "transfer: {freeze_epochs: {encoder: 5}}\n")
    result = run(path, tmp_path / "target")
    from slukit.train.artifact import load_model_dir

    source = load_model_dir(tmp_path / "source")
    for a, b in zip(source.model.get_layer("encoder").get_weights(),
                    result.model.get_layer("encoder").get_weights()):
        assert np.array_equal(a, b)


def test_incompatible_source_names_the_part_and_the_setting(bilingual, tmp_path):
    path = transfer_recipe(tmp_path, bilingual)
    run(path, tmp_path / "target", ["train.epochs=1"])
    other = tmp_path / "other.yaml"
    other.write_text(path.read_text().replace("units: 8", "units: 6")
                     .replace(f"  data: {{root: {bilingual}, train: en_train.jsonl, valid: en_valid.jsonl, "
                              f"test: en_test.jsonl}}\n  output: {tmp_path / 'source'}",
                              f"  model_dir: {tmp_path / 'source'}"))
    with pytest.raises(RecipeError) as err:
        run(other, tmp_path / "target2", ["train.epochs=1"])
    text = str(err.value)
    assert "transfer.encoder" in text and "set transfer.encoder: false" in text
    assert not (tmp_path / "target2").exists()
    # Leaving the encoder and heads out makes the same source usable.
    result = run(other, tmp_path / "target2", ["train.epochs=1", "transfer.encoder=false",
                                               "transfer.intent_head=false", "transfer.slot_head=false"])
    assert (result.path / "model.keras").is_file()


def test_source_needs_model_dir_or_data(tmp_path, bilingual):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: x\ndata: {{root: {bilingual}, train: de_train.jsonl}}\nsource: {{epochs: 3}}\n")
    with pytest.raises(RecipeError, match="source.data"):
        load_recipe(path)


def test_curve_trains_both_modes_and_writes_the_table(bilingual, tmp_path, capsys):
    from slukit.cli import main

    path = transfer_recipe(tmp_path, bilingual)
    out = tmp_path / "curve"
    assert main(["curve", str(path), "--fractions", "0.5", "--seeds", "1", "--output", str(out),
                 "--set", "train.epochs=1"]) == 0
    import csv

    rows = list(csv.DictReader(open(out / "curve.csv")))
    assert sorted((r["mode"], r["fraction"]) for r in rows) == [
        ("target_only", "0.5"), ("target_only", "1.0"), ("transfer", "0.5"), ("transfer", "1.0")]
    assert {r["train_utterances"] for r in rows} == {"15", "30"}
    assert "smallest fraction at which transfer matches" in capsys.readouterr().out


def test_curve_refuses_a_recipe_without_source(tiny_data, tmp_path, capsys):
    from conftest import write_recipe
    from slukit.cli import main

    assert main(["curve", str(write_recipe(tmp_path / "r.yaml", tiny_data))]) == 2
    assert "needs a transfer recipe" in capsys.readouterr().err


def test_curve_rejects_bad_fractions(tiny_data, tmp_path, capsys):
    from conftest import write_recipe
    from slukit.cli import main

    assert main(["curve", str(write_recipe(tmp_path / "r.yaml", tiny_data)), "--fractions", "0,2"]) == 2
    assert "--fractions" in capsys.readouterr().err


def test_aligned_bilingual_vectors_initialise_both_sides(bilingual, tmp_path):
    from slukit.train.artifact import load_model_dir

    def vec_file(path, words):
        path.write_text(f"{len(words)} 8\n" + "".join(
            f"{w} " + " ".join(f"{v:.3f}" for v in vec) + "\n" for w, vec in words.items()))
        return path

    # One shared space: a German word gets the vector of its English translation.
    space = {"flight": [0.9] * 8, "boston": [0.1] * 8}
    en = vec_file(tmp_path / "en.vec", {"fly": space["flight"], "boston": space["boston"]})
    de = vec_file(tmp_path / "de.vec", {"flug": space["flight"], "boston": space["boston"]})
    path = transfer_recipe(tmp_path, bilingual)
    text = path.read_text().replace("  output:", f"  word_vectors: {en}\n  output:")
    text = text.replace("model: {word_dim: 8,", f"model: {{word_vectors: {de}, word_dim: 8,")
    path.write_text(text)
    result = run(path, tmp_path / "target", ["train.epochs=1", "transfer.freeze_epochs.embeddings=5"])
    source = load_model_dir(tmp_path / "source")
    src_table = source.model.get_layer("word_embedding").get_weights()[0]
    tgt_table = result.model.get_layer("word_embedding").get_weights()[0]
    assert np.allclose(src_table[source.preprocessor.words.id("fly")], 0.9, atol=0.2)
    # The frozen target table keeps the German vector for "flug" (in the English "fly" region).
    assert np.allclose(tgt_table[result.preprocessor.words.id("flug")], 0.9)


def test_source_saved_before_a_new_recipe_key_is_still_reused(bilingual, tmp_path):
    import yaml

    path = transfer_recipe(tmp_path, bilingual)
    run(path, tmp_path / "t1")
    saved_file = tmp_path / "source" / "recipe.yaml"
    saved = yaml.safe_load(saved_file.read_text())
    del saved["train"]["min_steps_per_epoch"]  # as written by a version without that key
    saved_file.write_text(yaml.safe_dump(saved))
    from slukit.integrity import seal

    seal(tmp_path / "source")  # a consistent directory, as that version would have written
    assert any("reusing" in m for m in stages_of(path, tmp_path / "t2"))


@pytest.mark.parametrize("command", ["train", "curve"])
def test_missing_source_data_is_reported_before_tensorflow_loads(bilingual, tmp_path, command):
    """Like a recipe error (a fraction of a second), not after TensorFlow has loaded."""
    import subprocess
    import sys

    (bilingual / "en_valid.jsonl").unlink()
    recipe = transfer_recipe(tmp_path, bilingual)
    code = ("import sys; from slukit.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, 'tensorflow' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, command, str(recipe), "--output",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["2", "False"], run.stderr
    assert "source.data.valid: no such file or folder" in run.stderr
    assert "en_valid.jsonl" in run.stderr


def test_curve_refuses_a_monolingual_recipe_before_tensorflow_loads(tiny_data, tmp_path):
    import subprocess
    import sys

    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    code = ("import sys; from slukit.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, 'tensorflow' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, "curve", str(recipe)], capture_output=True,
                         text=True, timeout=60)
    assert run.stdout.split() == ["2", "False"] and "needs a transfer recipe" in run.stderr
