"""Tests for the `massive` format of slukit.data.readers (Amazon MASSIVE JSON Lines)."""

import json
import re
import textwrap
from pathlib import Path

import pytest

from slukit.data.example import Example
from slukit.data.load import load_splits
from slukit.data.readers import detect_format, read_examples
from slukit.errors import DataError
from slukit.recipe import load_recipe

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ---------------------------------------------------------------- helpers


def record(annot_utt, utt=None, partition="train", intent="alarm_set", id="1", locale="en-US",
           **extra):
    """A MASSIVE record; `utt` defaults to `annot_utt` without its brackets."""
    if utt is None:
        utt = " ".join(re.sub(r"\[[^]:]*: ([^]]*)\]", r"\1", annot_utt).split())
    return {"id": id, "locale": locale, "partition": partition, "scenario": "alarm",
            "intent": intent, "utt": utt, "annot_utt": annot_utt, **extra}


def write_massive(path, records):
    """Write records (dicts, or raw lines as strings) one per line."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="")
    return path


GOOD = record("wake me up at [time : five am]")
MIXED = [
    record("wake me up at [time : nine am]", id="1", partition="train"),
    record("stop", id="2", partition="dev", intent="audio_volume_mute"),
    record("play [artist_name : adele]", id="3", partition="test", intent="play_music"),
    record("set an alarm for [time : noon]", id="4", partition="train"),
    record("quiet", id="5", partition="test", intent="audio_volume_mute"),
]


def read_one(tmp_path, rec):
    [example] = read_examples(write_massive(tmp_path / "m.jsonl", [rec]), format="massive")
    return example


# ---------------------------------------------------------------- BIO conversion


def test_reads_a_record(tmp_path):
    path = write_massive(tmp_path / "m.jsonl", [
        record("wake me up at [time : five am] [date : this week]",
               "wake me up at five am this week", id="0", intent=" alarm_set "),
    ])
    assert read_examples(path, format="massive") == [Example(
        ("wake", "me", "up", "at", "five", "am", "this", "week"),
        ("O", "O", "O", "O", "B-time", "I-time", "B-date", "I-date"),
        "alarm_set", source=f"{path}:1", id="0")]


@pytest.mark.parametrize("annot_utt, utt, tags", [
    ("set an alarm for [time : two hours from now]", "set an alarm for two hours from now",
     "O O O O B-time I-time I-time I-time"),
    ("[date : friday] [time : nine am]", "friday nine am", "B-date B-time I-time"),
    ("[date : friday][time : nine]", "friday nine", "B-date B-time"),
    ("email [person : john] at [email_address : john.doe@gmail.com] please",
     "email john at john.doe@gmail.com please", "O B-person O B-email_address O"),
    ("flights to [place_name : st. louis, mo.] now", "flights to st. louis, mo. now",
     "O O B-place_name I-place_name I-place_name O"),
    ("alarm at [time : 5:30 p. m.]", "alarm at 5:30 p. m.", "O O B-time I-time I-time"),
    ("what is [definition_word : a : b]", "what is a : b",
     "O O B-definition_word I-definition_word I-definition_word"),
    ("what's the weather", "what's the weather", "O O O"),
    ("  wake  me [time :  five   am ]  ", "wake me five am", "O O B-time I-time"),
])
def test_bio_conversion(tmp_path, annot_utt, utt, tags):
    example = read_one(tmp_path, record(annot_utt, utt))
    assert example.tokens == tuple(utt.split())
    assert example.tags == tuple(tags.split())


def test_integer_id_and_extra_keys(tmp_path):
    example = read_one(tmp_path, record("quiet", id=7, judgments=[{"x": 1}], worker_id="3"))
    assert example.id == "7"


# ---------------------------------------------------------------- partitions and splits


def test_mixed_file_is_filtered_by_split(tmp_path):
    path = write_massive(tmp_path / "m.jsonl", MIXED)
    ids = {split: [e.id for e in read_examples(path, format="massive", split=split)]
           for split in ("train", "valid", "test")}
    assert ids == {"train": ["1", "4"], "valid": ["2"], "test": ["3", "5"]}
    assert read_examples(path, split="test")[0].source == f"{path}:3"


def test_mixed_file_without_split_names_the_partitions(tmp_path):
    path = write_massive(tmp_path / "m.jsonl", MIXED)
    with pytest.raises(DataError) as excinfo:
        read_examples(path, format="massive")
    message = str(excinfo.value)
    assert message.startswith(f"{path}: the file mixes the partitions dev, test, train")
    assert "split" in message


def test_split_whose_partition_is_absent(tmp_path):
    path = write_massive(tmp_path / "m.jsonl", MIXED[:2])
    with pytest.raises(DataError, match=r"no record has partition 'test'.*holds the partitions "
                                        r"dev, train"):
        read_examples(path, split="test")


@pytest.mark.parametrize("split", [None, "train", "valid", "test"])
def test_single_partition_file_is_read_whole(tmp_path, split):
    path = write_massive(tmp_path / "de-DE.dev.jsonl",
                         [record("stop", id=str(i), partition="dev") for i in range(3)])
    assert [e.id for e in read_examples(path, split=split)] == ["0", "1", "2"]


def test_other_formats_ignore_split_but_it_is_checked(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"tokens": ["hi"], "tags": ["O"], "intent": "greet"}) + "\n")
    assert len(read_examples(path, split="test")) == 1
    with pytest.raises(DataError, match="split must be one of train, valid, test"):
        read_examples(path, split="dev")


def test_bad_line_counts_only_in_its_partition(tmp_path):
    bad = record("play [artist_name : adele", "play adele", id="9", partition="test")
    path = write_massive(tmp_path / "m.jsonl", MIXED + [bad, "{not json"])
    with pytest.raises(DataError) as excinfo:
        read_examples(path, split="test")
    assert excinfo.value.header.startswith(f"2 of 4 lines in {path} (partition test) are malformed")
    assert [p.split(": ")[0] for p in excinfo.value.problems] == [f"{path}:6", f"{path}:7"]
    # The train split does not hold line 6, but line 7's partition cannot be told.
    with pytest.raises(DataError) as excinfo:
        read_examples(path, split="train")
    assert excinfo.value.problems == [
        f"{path}:7: invalid JSON: Expecting property name enclosed in double quotes (column 2)"]


def test_load_splits_reads_one_mixed_file_for_every_split(tmp_path):
    (tmp_path / "massive").mkdir()
    write_massive(tmp_path / "massive" / "en-US.jsonl", MIXED)
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(textwrap.dedent(f"""\
        name: massive
        data:
          root: {tmp_path}
          format: massive
          train: massive/en-US.jsonl
          valid: massive/en-US.jsonl
          test: massive/en-US.jsonl
        """), encoding="utf-8")
    splits = load_splits(load_recipe(recipe_path))
    assert {split: [e.id for e in examples] for split, examples in splits.items()} == {
        "train": ["1", "4"], "valid": ["2"], "test": ["3", "5"]}


# ---------------------------------------------------------------- malformed records


@pytest.mark.parametrize("line, message", [
    (record("wake me at [time : five am", "wake me at five am"),
     "annot_utt: '[' at column 12 has no closing ']'"),
    (record("wake me at time : five am]", "wake me at time : five am"),
     "annot_utt: ']' at column 26 has no opening '['"),
    (record("wake [time : at [date : five] am]", "wake at five am"),
     "annot_utt: nested '[' at column 17 (the '[' at column 6 is not closed yet)"),
    (record("wake me at [time: five am]", "wake me at five am"),
     "annot_utt: [time: five am] at column 12 has no ' : ' between the slot type and its words"),
    (record("wake me at [five am]", "wake me at five am"), "has no ' : '"),
    (record("wake me at [ : five am]", "wake me at five am"),
     "annot_utt: [ : five am] at column 12 has an empty slot type"),
    (record("wake me at [time : ]", "wake me at"),
     "annot_utt: [time : ] at column 12 has no words after the slot type"),
    (record("wake me at [time :]", "wake me at"), "has no words after the slot type"),
    (record("wake me at [time of day : five am]", "wake me at five am"),
     "the slot type 'time of day' contains spaces"),
    (record("wake me at [time : six am]", "wake me at five am"),
     "annot_utt does not match utt at token 4: utt has 'five', annot_utt has 'six' "
     "(in the time span)"),
    (record("wake us at [time : five am]", "wake me at five am"),
     "annot_utt does not match utt at token 2: utt has 'me', annot_utt has 'us' "
     "(outside the brackets)"),
    (record("wake me at [time : five am] please", "wake me at five am"),
     "annot_utt has 6 words but utt only 5 tokens; annot_utt goes on with 'please' "
     "(outside the brackets)"),
    (record("wake me at [time : five]", "wake me at five am"),
     "utt has 5 tokens but annot_utt only 4 words; utt goes on with 'am'"),
    (record("[date : friday]'s alarm", "friday's alarm"),
     "utt has \"friday's\", annot_utt has 'friday' (in the date span)"),
    (record("", ""), "empty utterance"),
    (record("quiet", intent=" "), "empty intent"),
    ({"id": "1", "utt": "quiet", "partition": "train"}, 'missing keys "annot_utt", "intent"'),
    (record("quiet", utt=["quiet"]), '"utt" must be a string, found a list'),
    (record("quiet", intent=None), '"intent" must be a string, found null'),
    (record("quiet", locale=5), '"locale" must be a string, found a number'),
    (record("quiet", id=True), '"id" must be a string or an integer, found a boolean'),
    ('["quiet"]', "expected a JSON object, found a list"),
    ('{"utt": "quiet"', "invalid JSON: Expecting ',' delimiter"),
    ("", "blank line"),
])
def test_malformed_lines_report_file_and_line(tmp_path, line, message):
    path = write_massive(tmp_path / "m.jsonl", [GOOD, line, GOOD])
    with pytest.raises(DataError) as excinfo:
        read_examples(path, format="massive")
    [problem] = excinfo.value.problems
    assert problem.startswith(f"{path}:2: ")
    assert message in problem
    assert excinfo.value.header.startswith(f"1 of 3 lines in {path} is malformed")


def test_missing_partition_in_a_mixed_file_is_reported_in_every_split(tmp_path):
    no_partition = record("quiet", id="9")
    del no_partition["partition"]
    path = write_massive(tmp_path / "m.jsonl", MIXED + [no_partition])
    for split in ("train", "valid", "test"):
        with pytest.raises(DataError) as excinfo:
            read_examples(path, split=split)
        assert excinfo.value.problems == [f'{path}:6: missing key "partition"']


def test_skip_drops_the_bad_lines_and_warns(tmp_path):
    path = write_massive(tmp_path / "m.jsonl", [
        record("a [time : b]", id="1"),
        record("a [time : b", "a b", id="2"),
        record("a b", "a c", id="3"),
        record("c", id="4"),
    ])
    warnings = []
    examples = read_examples(path, on_error="skip", warn=warnings.append)
    assert [e.id for e in examples] == ["1", "4"]
    [message] = warnings
    assert message.startswith(f"skipped 2 malformed of 4 lines in {path}:")
    assert f"{path}:2: annot_utt: '[' at column 3 has no closing ']'" in message
    assert f"{path}:3: annot_utt does not match utt at token 2" in message


# ---------------------------------------------------------------- locales without spaces


@pytest.mark.parametrize("locale", ["ja-JP", "zh-CN", "zh-TW"])
def test_unspaced_locales_are_refused_once(tmp_path, locale):
    records = [record("quiet", id=str(i), locale=locale) for i in range(5)]
    path = write_massive(tmp_path / f"{locale}.jsonl", [GOOD] + records)
    for on_error in ("fail", "skip"):
        with pytest.raises(DataError) as excinfo:
            read_examples(path, on_error=on_error, warn=pytest.fail)
        [problem] = excinfo.value.problems
        assert problem.startswith(f"{path}:2: locale {locale} ")
        assert "tokenizes on whitespace" in problem
        assert "not supported yet" in problem
        assert "jsonl" in problem and "Pre-tokenize" in problem


# ---------------------------------------------------------------- detect_format


@pytest.mark.parametrize("name, text, expected", [
    ("en-US.jsonl", json.dumps(GOOD) + "\n", "massive"),
    ("en-US.json", "\n  \n" + json.dumps(GOOD) + "\n", "massive"),
    ("bom.jsonl", "\ufeff" + json.dumps(GOOD) + "\n", "massive"),
    ("utt-only.jsonl", json.dumps({"utt": "a", "intent": "x"}) + "\n", "jsonl"),
    ("t.jsonl", json.dumps({"tokens": ["a"], "tags": ["O"], "intent": "x"}) + "\n", "jsonl"),
    ("list.jsonl", json.dumps(["utt", "annot_utt"]) + "\n", "jsonl"),
    ("broken.jsonl", '{"utt": "a", "annot_utt"\n', "jsonl"),
    ("empty.jsonl", "", "jsonl"),
])
def test_detect_format(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == expected


def test_detect_format_non_utf8_is_left_to_the_reader(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"utt": "caf\xe9"}\n')
    assert detect_format(path) == "jsonl"


# ---------------------------------------------------------------- real data


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent")
def test_real_massive():
    en_us = SHARED_DATA / "massive" / "en-US.jsonl"
    assert detect_format(en_us) == "massive"
    splits = {split: read_examples(en_us, split=split) for split in ("train", "valid", "test")}
    assert {split: len(examples) for split, examples in splits.items()} == {
        "train": 11514, "valid": 2033, "test": 2974}
    train = splits["train"]
    assert len({e.intent for e in train}) == 60
    assert len({tag[2:] for e in train for tag in e.tags if tag != "O"}) == 55
    assert len(read_examples(SHARED_DATA / "massive" / "de-DE.train.jsonl", split="train")) == 11514
