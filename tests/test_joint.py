"""Joint transfer (transfer.mode: joint / joint_then_finetune) and mixed, capped batches."""

import json

import numpy as np
import pytest

from slukit.data.batching import EncodedData
from slukit.data.epochs import make_pydataset
from slukit.data.example import Example
from slukit.data.mixing import make_mixed_pydataset
from slukit.errors import RecipeError
from slukit.preprocess import SLUPreprocessor
from test_transfer import bilingual, run, transfer_recipe  # noqa: F401 (bilingual is a fixture)


def examples(word, n, intent="x"):
    return [Example([f"{word}{i}", "w"], ["O", "B-s"], intent) for i in range(n)]


def encoded(parts):
    pre = SLUPreprocessor.fit([ex for exs in parts.values() for ex in exs], embeddings=("word",))
    return pre, {name: EncodedData(pre, exs) for name, exs in parts.items()}


def batch_words(pre, batch):
    ids = batch[0]["word_ids"][:, 0]
    return {pre.words.tokens[i][:3] for i in ids}


def test_target_share_sets_the_share_of_target_batches():
    pre, parts = encoded({"target": examples("tgt", 8), "source": examples("src", 80)})
    batches = make_mixed_pydataset(parts, {"target": 0.5, "source": None}, "target",
                                   batch_size=4, seed=0)
    # One pass over the 2 target batches makes an epoch: 2 target + 2 source batches.
    assert len(batches) == 4
    sides = [batch_words(pre, batches[i]) for i in range(len(batches))]
    assert sorted(len(s) for s in sides) == [1, 1, 1, 1]  # each batch from one side
    assert sum(s == {"tgt"} for s in sides) == 2
    # Later epochs go on through the source data instead of restarting it.
    seen = set()
    for epoch in range(10):
        batches.set_epoch(epoch)
        for i in range(len(batches)):
            inputs, _ = batches[i]
            seen |= {pre.words.tokens[j] for j in inputs["word_ids"][:, 0]}
    assert {f"src{i}" for i in range(80)} <= seen
    # An epoch's batches depend only on the seed and the epoch.
    again = make_mixed_pydataset(parts, {"target": 0.5, "source": None}, "target", 4, seed=0)
    again.set_epoch(3)
    batches.set_epoch(3)
    np.testing.assert_array_equal(again[1][0]["word_ids"], batches[1][0]["word_ids"])


def test_without_a_share_batches_follow_the_data_sizes():
    pre, parts = encoded({"target": examples("tgt", 8), "source": examples("src", 24)})
    batches = make_mixed_pydataset(parts, {"target": None, "source": None}, "target", 4, seed=0)
    sides = [batch_words(pre, batches[i]) for i in range(len(batches))]
    assert len(sides) == 8 and sum(s == {"tgt"} for s in sides) == 2


def test_max_steps_per_epoch_cuts_epochs_and_continues():
    pre, parts = encoded({"train": examples("a", 40)})
    batches = make_pydataset(parts["train"], batch_size=4, seed=0, max_steps=3)
    assert len(batches) == 3
    seen = []
    for epoch in range(4):  # 12 batches: the 10 of one pass, then the next pass
        batches.set_epoch(epoch)
        seen += [pre.words.tokens[j] for i in range(3) for j in batches[i][0]["word_ids"][:, 0]]
    assert {f"a{i}" for i in range(40)} == set(seen[:40])
    assert len(make_pydataset(parts["train"], batch_size=4, seed=0, max_steps=50)) == 10


def test_joint_trains_one_model_on_both_languages(bilingual, tmp_path):
    path = transfer_recipe(tmp_path, bilingual, "transfer: {mode: joint, target_share: 0.5}")
    result = run(path, tmp_path / "joint")
    pre = result.preprocessor
    assert "flug" in pre.words and "fly" in pre.words  # one vocabulary for both languages
    assert set(pre.intents.tokens) == {"flight", "airfare", "flight_day"}  # merged by name
    assert "B-fromloc" in pre.tags.tokens and "B-day" in pre.tags.tokens
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"}
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["mode"] == "joint" and meta["source_utterances"] == 30
    assert meta["train_utterances"] == 30
    assert not (tmp_path / "source").exists()  # no separate source model


def test_joint_then_finetune_reuses_its_joint_stage(bilingual, tmp_path):
    path = transfer_recipe(tmp_path, bilingual,
                           "transfer: {mode: joint_then_finetune, finetune_epochs: 1}")
    result = run(path, tmp_path / "jf")
    assert (tmp_path / "jf.joint" / "model.keras").is_file()
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert set(metrics) == {"joint", "valid", "test"}
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["mode"] == "joint_then_finetune" and meta["epochs_run"] == 1
    assert "fly" not in result.preprocessor.words  # fine-tuned with the target's vocabulary
    stamp = (tmp_path / "jf.joint" / "model.keras").stat().st_mtime_ns
    # Another fine-tuning setting reuses the joint stage.
    run(path, tmp_path / "jf", ["transfer.learning_rate=0.005"], force=True)
    assert (tmp_path / "jf.joint" / "model.keras").stat().st_mtime_ns == stamp


def test_joint_needs_source_data(bilingual, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(f"""\
name: bad
data: {{root: {bilingual}, train: de_train.jsonl}}
source: {{model_dir: {tmp_path}}}
transfer: {{mode: joint}}
""")
    with pytest.raises(RecipeError, match="source.data"):
        run(path, tmp_path / "out")


def test_curve_compares_modes_and_reuses_finished_points(bilingual, tmp_path, capsys):
    import csv

    from slukit.cli import main

    path = transfer_recipe(tmp_path, bilingual)
    out = tmp_path / "curve"
    argv = ["curve", str(path), "--fractions", "1.0", "--seeds", "2", "--modes", "joint",
            "--output", str(out), "--set", "train.epochs=1"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / "curve.csv")))
    assert sorted((r["mode"], r["seed"]) for r in rows) == [
        ("joint", "0"), ("joint", "1"), ("target_only", "0"), ("target_only", "1")]
    summary = list(csv.DictReader(open(out / "curve_summary.csv")))
    assert {r["mode"]: r["seeds"] for r in summary} == {"joint": "2", "target_only": "2"}
    assert "slot_f1_std" in summary[0]
    assert "transfer (joint) matches" in capsys.readouterr().out
    stamp = (out / "models" / "joint-f1-s0" / "model.keras").stat().st_mtime_ns
    assert main(argv) == 0  # finished points are read, not trained again
    assert (out / "models" / "joint-f1-s0" / "model.keras").stat().st_mtime_ns == stamp


def test_curve_rejects_an_unknown_mode(bilingual, tmp_path, capsys):
    from slukit.cli import main

    assert main(["curve", str(transfer_recipe(tmp_path, bilingual)), "--modes", "jiont"]) == 2
    assert "jiont" in capsys.readouterr().err


def test_transfer_table_plans_the_headline_rows(capsys):
    import importlib.util
    from pathlib import Path

    file = Path(__file__).resolve().parents[1] / "benchmarks" / "transfer_table.py"
    spec = importlib.util.spec_from_file_location("transfer_table", file)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    runs, _ = table.plan(["multiatis"], list(table.HEADLINE), [0, 1], [], Path("runs/t"))
    assert len(runs) == 6
    got = {(row, seed): (r.get("source") is not None, r["data"]["train_fraction"])
           for _, row, seed, r, _ in runs}
    assert got[("target_100", 1)] == (False, 1.0)
    assert got[("transfer_25", 0)] == (True, 0.25)
    assert table.main(["--plan", "--datasets", "multiatis", "--seeds", "0",
                       "--rows", "joint_50", "--runs", "runs/none"]) == 0
    assert "todo  multiatis joint_50" in capsys.readouterr().out


NL = [
    (["vlieg", "naar", "boston"], ["O", "O", "B-toloc"], "flight"),
    (["vluchten", "van", "denver"], ["O", "O", "B-fromloc"], "flight"),
    (["prijzen", "naar", "parijs"], ["O", "O", "B-toloc"], "airfare_nl"),  # a source-only intent
]


def two_sources(tmp_path, root, mode):
    from conftest import write_jsonl

    write_jsonl(root / "nl_train.jsonl", [{"tokens": t, "tags": g, "intent": i}
                                          for t, g, i in NL * 4])
    path = transfer_recipe(tmp_path, root, f"transfer: {{mode: {mode}}}")
    text = path.read_text().replace(
        f"  data: {{root: {root}, train: en_train.jsonl, valid: en_valid.jsonl, test: en_test.jsonl}}",
        f"  data:\n    - {{root: {root}, train: en_train.jsonl, valid: en_valid.jsonl}}\n"
        f"    - {{root: {root}, train: nl_train.jsonl, train_fraction: 0.5}}\n"
        f"  max_steps_per_epoch: 2")
    path.write_text(text)
    return path


@pytest.mark.parametrize("mode", ["joint", "sequential"])
def test_several_source_data_sets_train_as_one_source(bilingual, tmp_path, mode):
    path = two_sources(tmp_path, bilingual, mode)
    result = run(path, tmp_path / "out", ["train.epochs=1"])
    pre = result.preprocessor
    assert "airfare_nl" in pre.intents.tokens  # labels of every source, merged by name
    if mode == "joint":
        assert "vlieg" in pre.words and "fly" in pre.words
        meta = json.loads((result.path / "metadata.json").read_text())
        assert meta["source_utterances"] == 30 + 6
        assert meta["steps_per_epoch"] == 9  # no share: one pass over each part (4 + 4 + 1)
    else:
        source = json.loads((tmp_path / "source" / "metadata.json").read_text())
        assert source["train_utterances"] == 36
        assert source["epochs_run"] == 1 and source["steps_per_epoch"] == 2  # capped


def test_a_list_of_source_data_sets_is_checked_item_by_item(bilingual, tmp_path):
    path = two_sources(tmp_path, bilingual, "joint")
    text = path.read_text()
    path.write_text(text.replace("train: nl_train.jsonl, train_fraction: 0.5", "trian: x"))
    with pytest.raises(RecipeError) as err:
        from slukit.recipe import load_recipe

        load_recipe(path)
    assert "source.data[1].trian: unknown key" in str(err.value)
    path.write_text(text.replace("  data:\n", "  data: []\n  old:\n"))
    with pytest.raises(RecipeError, match="source.data: an empty list"):
        load_recipe(path)


def test_max_steps_per_epoch_caps_a_streamed_training_set(tiny_data, tmp_path):
    from conftest import write_recipe
    from slukit.data.stream import TrainStream, make_stream_pydataset

    path = write_recipe(tmp_path / "r.yaml", tiny_data).read_text()
    path = path.replace("  test: test.jsonl\n", "  test: test.jsonl\n  stream: 'true'\n")
    path = path.replace("  seed: 3\n", "  seed: 3\n  max_steps_per_epoch: 3\n")
    (tmp_path / "s.yaml").write_text(path)
    result = run(tmp_path / "s.yaml", tmp_path / "out", ["train.epochs=2"])
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["steps_per_epoch"] == 3 and meta["epochs_run"] == 2
    # Epochs read on through the file: 4 capped epochs see the 8 batches of one pass and more.
    stream = TrainStream(tiny_data / "train.jsonl", None).scan()
    batches = make_stream_pydataset(stream, result.preprocessor, 8, max_steps=3)
    rows = 0
    for _ in range(4):
        rows += sum(len(batches[i][1]["intent"]) for i in range(len(batches)))
        batches.on_epoch_end()
    assert len(batches) == 3 and rows == 96
