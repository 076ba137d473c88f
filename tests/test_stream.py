"""Streaming training data from its file (`data.stream`): reader, vocabulary pass, batches, training."""

import collections
import itertools
import json
import random

import pytest

from conftest import tiny_rows, write_jsonl, write_recipe
from slukit.data.example import Example
from slukit.data.sampling import sample_fraction
from slukit.data.readers import iter_examples, read_examples
from slukit.data.stream import (
    TrainStream,
    make_stream_pydataset,
    steps_per_pass,
    stream_batches,
    wants_stream,
)
from slukit.errors import DataError, RecipeError
from slukit.preprocess.preprocessor import SLUPreprocessor

WORDS = ["play", "jazz", "Rock", "weather", "in", "Köln", "wake", "me", "at", "seven", "ÄRZTE"]


def varied_rows(n, seed=0):
    """`n` rows of 1 to 30 tokens; the first token `u<i>` names the row."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        length = rng.randint(1, 30)
        tokens = [f"u{i}"] + [rng.choice(WORDS) for _ in range(length - 1)]
        tags = ["O"] + [rng.choice(["O", "B-x", "I-x"]) for _ in range(length - 1)]
        rows.append({"id": str(i), "tokens": tokens, "tags": tags,
                     "intent": rng.choice(["PlayMusic", "GetWeather", "SetAlarm"])})
    return rows


def write_formats(folder, rows):
    """The same rows as jsonl, tsv, seqin and a mixed-partition MASSIVE file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"jsonl": write_jsonl(folder / "train.jsonl", rows)}
    tsv = ["id\tutterance\tslot_labels\tintent"]
    tsv += [f"{r['id']}\t{' '.join(r['tokens'])}\t{' '.join(r['tags'])}\t{r['intent']}" for r in rows]
    (folder / "train.tsv").write_text("\n".join(tsv) + "\n", encoding="utf-8")
    paths["tsv"] = folder / "train.tsv"
    seqin = folder / "seqin"
    seqin.mkdir(exist_ok=True)
    for name, field in (("seq.in", "tokens"), ("seq.out", "tags")):
        (seqin / name).write_text("".join(" ".join(r[field]) + "\n" for r in rows), encoding="utf-8")
    (seqin / "label").write_text("".join(r["intent"] + "\n" for r in rows), encoding="utf-8")
    paths["seqin"] = seqin
    massive = []
    for i, r in enumerate(rows):
        annot = " ".join(f"[time : {t}]" if tag != "O" else t
                         for t, tag in zip(r["tokens"], r["tags"]))
        massive.append({"id": r["id"], "locale": "en-US", "intent": r["intent"],
                        "partition": ("train", "dev")[i % 2],
                        "utt": " ".join(r["tokens"]), "annot_utt": annot})
    paths["massive"] = write_jsonl(folder / "massive.jsonl", massive)
    return paths


def spoil(path, fmt, line):
    """Breaks the given data line of a file (of seq.out in a seqin folder)."""
    target = path / "seq.out" if fmt == "seqin" else path
    lines = target.read_text(encoding="utf-8").split("\n")
    lines[line - 1] = {"jsonl": '{"tokens": ["a"], "tags": "O"}', "tsv": "7\tonly two",
                       "seqin": "X-bad", "massive": '{"utt": "a b", "annot_utt": "[x : a b"}'}[fmt]
    target.write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------- the reader


@pytest.mark.parametrize("fmt", ["jsonl", "tsv", "seqin", "massive"])
def test_streaming_reader_gives_the_list_readers_examples_and_errors(tmp_path, fmt):
    path = write_formats(tmp_path, varied_rows(50))[fmt]
    split = "train" if fmt == "massive" else None
    assert list(iter_examples(path, fmt, split=split)) == read_examples(path, fmt, split=split)

    spoil(path, fmt, 30)
    spoil(path, fmt, 41)
    with pytest.raises(DataError) as listed:
        read_examples(path, fmt, split=split)
    with pytest.raises(DataError) as streamed:
        list(iter_examples(path, fmt, split=split))
    assert str(streamed.value) == str(listed.value)
    assert ":30: " in str(streamed.value) and ":41: " in str(streamed.value)

    warnings = []
    kept = list(iter_examples(path, fmt, on_error="skip", warn=warnings.append, split=split))
    assert kept == read_examples(path, fmt, on_error="skip", warn=lambda m: None, split=split)
    assert len(warnings) == 1 and ":30: " in warnings[0]


def test_streaming_reader_reports_bad_bytes_and_uneven_seqin_files(tmp_path):
    paths = write_formats(tmp_path, varied_rows(20))
    data = paths["jsonl"].read_bytes().split(b"\n")
    data[11] = data[11].replace(b"play", b"pl\xffy", 1) if b"play" in data[11] else data[11] + b"\xff"
    paths["jsonl"].write_bytes(b"\n".join(data))
    with pytest.raises(DataError, match=r"train.jsonl:12: not valid UTF-8") as streamed:
        list(iter_examples(paths["jsonl"]))
    with pytest.raises(DataError) as listed:
        read_examples(paths["jsonl"])
    assert str(streamed.value) == str(listed.value)
    label = paths["seqin"] / "label"
    label.write_text("\n".join(label.read_text().split("\n")[:15]) + "\n")
    with pytest.raises(DataError, match=r"line counts differ"):
        list(iter_examples(paths["seqin"]))


def test_streaming_reader_lists_the_first_bad_lines_and_counts_the_rest(tmp_path):
    rows = tiny_rows(60)
    for i in range(5, 55, 2):
        rows[i] = {"tokens": ["a"], "tags": [], "intent": "x"}
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError) as streamed:
        list(iter_examples(path))
    with pytest.raises(DataError) as listed:
        read_examples(path)
    assert str(streamed.value) == str(listed.value)
    assert "25 of 60 lines" in str(streamed.value) and "... and 5 more" in str(streamed.value)


# ---------------------------------------------------------------- the vocabulary pass


@pytest.mark.parametrize("fraction", [1.0, 0.3])
def test_one_pass_preprocessor_equals_the_list_fitted_one(tmp_path, fraction):
    path = write_formats(tmp_path, varied_rows(300))["jsonl"]
    stream = TrainStream(path, fraction=fraction, seed=5).scan()
    examples = sample_fraction(read_examples(path), fraction, seed=5)
    assert list(stream.examples()) == examples and len(stream) == len(examples)
    assert stream.counts.max_tokens == max(len(ex.tokens) for ex in examples)
    for settings in ({}, {"lowercase": False, "min_word_count": 2, "max_word_chars": 3}):
        SLUPreprocessor.fit(stream.counts, **settings).save(tmp_path / "streamed")
        SLUPreprocessor.fit(iter(examples), **settings).save(tmp_path / "listed")
        for name in ("preprocessor.json", "vocab/words.txt", "vocab/chars.txt",
                     "vocab/intents.txt", "vocab/tags.txt"):
            assert ((tmp_path / "streamed" / name).read_bytes()
                    == (tmp_path / "listed" / name).read_bytes()), name


def test_auto_streams_large_files_only_and_refuses_code_switch(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "train.jsonl", tiny_rows(10))
    assert wants_stream({"stream": "true"}, path)
    assert not wants_stream({"stream": "auto"}, path)
    monkeypatch.setattr("slukit.data.stream.STREAM_THRESHOLD", 100)
    assert wants_stream({"stream": "auto"}, path)
    assert not wants_stream({"stream": "auto", "code_switch": {"dictionary": "d"}}, path)
    with pytest.raises(RecipeError, match="code_switch"):
        wants_stream({"stream": "true", "code_switch": {"dictionary": "d"}}, path)


# ---------------------------------------------------------------- the batches


def test_streamed_batches_cover_every_example_once_in_the_predicted_steps():
    examples = [Example([f"u{i}"] * n, ["O"] * n, "x", id=str(i))
                for i, n in enumerate(random.Random(1).choices(range(1, 40), k=437))]
    lengths = collections.Counter(len(ex.tokens) for ex in examples)
    batches = list(stream_batches(examples, batch_size=16, pad_multiple=8,
                                  rng=random.Random(0), buffer_size=50))
    assert len(batches) == steps_per_pass(lengths, 16, 8)
    seen = collections.Counter()
    for length, batch in batches:
        assert len(batch) == 16 and length % 8 == 0
        assert all(length - 8 < len(ex.tokens) <= length for ex in batch)
        seen.update(ex.id for ex in batch)
    assert set(seen) == {ex.id for ex in examples}
    # Only the completions of each bucket's last batch repeat an example.
    assert sum(seen.values()) - len(examples) == 16 * len(batches) - len(examples)
    shuffled = [ex.id for _, batch in batches for ex in batch]
    assert shuffled[:20] != [ex.id for ex in examples][:20]


def test_streaming_holds_only_a_window_of_the_data():
    read = 0

    def endless():
        nonlocal read
        for i in itertools.count():
            read += 1
            yield Example(["w"] * (1 + i % 20), ["O"] * (1 + i % 20), "x")

    first = next(stream_batches(endless(), batch_size=8, pad_multiple=8,
                                rng=random.Random(0), buffer_size=100))
    assert len(first[1]) == 8 and read <= 100 + 3 * 8  # the buffer and three buckets


def test_streamed_pydataset_serves_exact_epochs_in_order(tmp_path):
    path = write_formats(tmp_path, varied_rows(203))["jsonl"]
    stream = TrainStream(path, shuffle_buffer=64).scan()
    pre = SLUPreprocessor.fit(stream.counts)
    per_pass = steps_per_pass(stream.counts.lengths, 16, 8)
    for min_steps, passes in ((0, 1), (per_pass + 1, 2)):
        batches = make_stream_pydataset(stream, pre, 16, seed=3, min_steps=min_steps)
        assert len(batches) == passes * per_pass
        for epoch in range(2):
            firsts = collections.Counter()
            for i in range(len(batches)):
                inputs, labels = batches[i]
                assert inputs["word_ids"].shape[0] == 16 and inputs["word_ids"].shape[1] % 8 == 0
                assert inputs["char_ids"].shape[:2] == inputs["word_ids"].shape
                assert labels["slots"].shape == inputs["word_ids"].shape
                firsts.update(pre.words.tokens[w] for w in inputs["word_ids"][:, 0])
            batches.on_epoch_end()
            assert {f"u{i}" for i in range(203)} <= set(firsts)
            assert sum(firsts.values()) == 16 * passes * per_pass
    with pytest.raises(IndexError, match="in order"):
        batches[0], batches[2]


# ---------------------------------------------------------------- training


def test_streamed_training_writes_a_normal_model_directory(tiny_data, tmp_path, capsys):
    from slukit.cli import main
    from slukit.train.artifact import is_model_dir

    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    out = tmp_path / "model"
    assert main(["train", str(recipe), "--set", "data.stream=true", "--set", "train.epochs=2",
                 "--output", str(out)]) == 0
    assert "streamed from its file" in capsys.readouterr().err
    assert is_model_dir(out)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["train_utterances"] == 60 and meta["max_train_tokens"] == 4
    assert meta["epochs_run"] == 2
    assert json.loads((out / "metrics.json").read_text())["test"]["utterances"] == 12
    assert "stream: 'true'" in (out / "recipe.yaml").read_text()


def test_bad_line_deep_in_the_file_fails_before_training(tiny_data, tmp_path, monkeypatch):
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows import monolingual
    from slukit.workflows.train import train_recipe

    rows = tiny_rows(900)
    rows[822] = {"tokens": ["a", "b"], "tags": ["O"], "intent": "x"}
    write_jsonl(tiny_data / "train.jsonl", rows)
    monkeypatch.setattr(monolingual, "build_model", lambda *a, **k: pytest.fail("training started"))
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_data), ["data.stream=true"])
    with pytest.raises(DataError, match=r"train.jsonl:823: 2 tokens but 1 tags"):
        train_recipe(recipe, output=tmp_path / "out", reporter=Reporter(quiet=True))
    assert not (tmp_path / "out").exists()


def test_the_recipe_switch_takes_yaml_booleans():
    from slukit.recipe.load import validate

    def stream(value):
        return validate({"name": "x", "data": {"train": "t.jsonl", "stream": value}})["data"]["stream"]

    assert (stream(True), stream(False), stream("auto")) == ("true", "false", "auto")
    with pytest.raises(RecipeError, match="data.stream: 'yes' is not one of auto, true, false"):
        stream("yes")
