"""A damaged model directory is refused with one clear error naming the file."""

import json
import shutil
import zipfile

import pytest

from slukit.errors import ModelDirError
from slukit.integrity import seal, verify_model_dir
from slukit.preprocess.rules import rule_problems


@pytest.fixture
def model_copy(trained_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained_model_dir, copy)
    return copy


def rewrite_json(path, change):
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_written_model_records_digests_and_sizes(trained_model_dir):
    meta = verify_model_dir(trained_model_dir)
    assert {"model.keras", "recipe.yaml", "preprocessor.json", "vocab/words.txt",
            "metrics.json"} <= set(meta["file_sha256"])
    words = (trained_model_dir / "vocab" / "words.txt").read_text().splitlines()
    assert meta["vocab_sizes"]["words"] == len(words)
    assert meta["max_tokens"]["train"] >= meta["max_tokens"]["test"] > 0


def damage_cases():
    def shift(words):  # words.txt shifted by one line: no error before, 26% accuracy
        lines = words.read_text(encoding="utf-8").splitlines()
        words.write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")

    return {
        "shifted words": ("vocab/words.txt", lambda d: shift(d / "vocab" / "words.txt"),
                          "content changed"),
        "truncated model": ("model.keras", lambda d: (d / "model.keras").write_bytes(
            (d / "model.keras").read_bytes()[:5000]), "content changed"),
        "binary vocab": ("vocab/tags.txt", lambda d: (d / "vocab" / "tags.txt").write_bytes(
            b"\xff\xfe\x00"), "content changed"),
        "bad metadata": ("metadata.json", lambda d: (d / "metadata.json").write_text("{"),
                         "not valid JSON"),
        "recipe": ("recipe.yaml", lambda d: (d / "recipe.yaml").write_text("a: [", "utf-8"),
                   "content changed"),
        "missing vocab": ("vocab/chars.txt", lambda d: (d / "vocab" / "chars.txt").unlink(),
                          "missing"),
        "extra file": ("stray.bin", lambda d: (d / "stray.bin").write_bytes(b"x"),
                       "not recorded"),
    }


@pytest.mark.parametrize("case", list(damage_cases()))
def test_each_damaged_file_is_named(model_copy, case):
    name, damage, what = damage_cases()[case]
    damage(model_copy)
    with pytest.raises(ModelDirError) as err:
        verify_model_dir(model_copy)
    assert str(model_copy / name) in str(err.value) and what in str(err.value)


@pytest.mark.parametrize("case", ["truncated model", "binary vocab", "recipe", "shifted words"])
def test_damage_is_refused_even_after_resealing(model_copy, case):
    """Digests re-recorded (as a careless tool would): the content checks still refuse it."""
    name, damage, _ = damage_cases()[case]
    damage(model_copy)
    seal(model_copy)
    if case == "shifted words":  # a consistent but reordered vocabulary cannot be detected
        verify_model_dir(model_copy)
        return
    with pytest.raises(ModelDirError, match=name.split("/")[-1]):
        verify_model_dir(model_copy)


def test_rules_are_checked(model_copy):
    rules_path = model_copy / "preprocessor.json"
    rewrite_json(rules_path, lambda r: r.update(tokenizer="sentencepiece",
                                                unicode_normalization="NFC"))
    seal(model_copy)
    with pytest.raises(ModelDirError) as err:
        verify_model_dir(model_copy)
    text = str(err.value)
    assert "preprocessor.json" in text and "tokenizer: 'sentencepiece'" in text
    assert "unicode_normalization: 'NFC'" in text


def test_vocabulary_paths_stay_inside_the_directory(model_copy):
    from slukit.integrity import file_digests

    rewrite_json(model_copy / "preprocessor.json",
                 lambda r: r["files"].update(words="../../../../etc/passwd"))
    with pytest.raises(ModelDirError, match="points outside the model directory"):
        seal(model_copy)  # nor does seal count the lines of a file outside
    rewrite_json(model_copy / "metadata.json",  # digests re-recorded by hand
                 lambda m: m.update(file_sha256=file_digests(model_copy)))
    with pytest.raises(ModelDirError, match="points outside the model directory"):
        verify_model_dir(model_copy)
    assert rule_problems({"tokenizer": "whitespace", "lowercase": True, "max_word_chars": 8,
                          "files": {"intents": "/etc/passwd", "tags": "vocab/tags.txt",
                                    "words": "vocab/words.txt"}})[0].startswith("files.intents")


def test_random_bytes_for_model_keras(model_copy):
    (model_copy / "model.keras").write_bytes(bytes(range(256)) * 40)
    seal(model_copy)
    with pytest.raises(ModelDirError, match="model.keras is damaged"):
        verify_model_dir(model_copy)


def test_a_keras_archive_keras_cannot_read_is_damaged_not_file_not_found(model_copy):
    from slukit.train.artifact import load_model_dir

    path = model_copy / "model.keras"
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    members["config.json"] = b'{"class_name": "Nonsense"}'
    with zipfile.ZipFile(path, "w") as dst:
        for n, data in members.items():
            dst.writestr(n, data)
    seal(model_copy)
    with pytest.raises(ModelDirError, match="model.keras is damaged") as err:
        load_model_dir(model_copy)
    assert "File not found" not in str(err.value)


def test_a_vocabulary_longer_than_the_model_is_refused(model_copy):
    """An extra word would give ids past the embedding table (a crash inside GatherV2)."""
    from slukit.train.artifact import load_model_dir

    with open(model_copy / "vocab" / "words.txt", "a", encoding="utf-8") as f:
        f.write("zzzextra\n")
    seal(model_copy)
    with pytest.raises(ModelDirError, match="words.txt: .* entries, but the model was built for"):
        load_model_dir(model_copy)


def test_the_cli_prints_one_line_for_a_damaged_model(model_copy, capsys):
    from slukit.cli import main

    (model_copy / "vocab" / "intents.txt").write_text("Nope\n", encoding="utf-8")
    assert main(["predict", str(model_copy), "play jazz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "intents.txt" in err and "Traceback" not in err
    assert main(["evaluate", str(model_copy), "demo-en:test"]) == 2
    assert "intents.txt" in capsys.readouterr().err


def test_tflite_metadata_is_checked(tmp_path):
    from slukit.errors import LiteError
    from slukit.lite.metadata import check_metadata

    meta = {"format": "slukit-tflite", "format_version": 1, "signatures": [{"key": "L8", "length": 8}],
            "vocab": {"words": ["<pad>", "<unk>"], "chars": None, "intents": ["a"],
                      "tags": ["<pad>", "O"]},
            "rules": {"tokenizer": "whitespace", "lowercase": True, "max_word_chars": 8}}
    check_metadata(meta)
    with pytest.raises(LiteError, match="tokenizer"):
        check_metadata({**meta, "rules": {**meta["rules"], "tokenizer": "bpe"}})
    with pytest.raises(LiteError, match="vocab.intents repeats"):
        check_metadata({**meta, "vocab": {**meta["vocab"], "intents": ["a", "a"]}})
    with pytest.raises(LiteError, match="signatures"):
        check_metadata({**meta, "signatures": [{"key": "L8", "length": "8"}]})


@pytest.mark.parametrize("damage", ["truncated", "emptied", "random bytes"])
def test_every_file_damaged_in_turn_gives_one_clear_line(trained_model_dir, tmp_path, capsys,
                                                         damage):
    """Each file of a model directory in turn, through `slukit predict` and `evaluate`: exit 2
    and one `error:` line naming that file, never a traceback."""
    import os

    from slukit.cli import main
    from slukit.integrity import model_files

    names = model_files(trained_model_dir) + ["metadata.json"]
    assert {"model.keras", "preprocessor.json", "recipe.yaml", "vocab/words.txt"} <= set(names)
    for i, name in enumerate(names):
        copy = tmp_path / f"m{i}"
        shutil.copytree(trained_model_dir, copy)
        path = copy / name
        data = path.read_bytes()
        path.write_bytes({"truncated": data[:len(data) // 2], "emptied": b"",
                          "random bytes": os.urandom(max(64, len(data)))}[damage])
        for command in ("predict", "evaluate"):
            args = [str(copy), "play jazz"] if command == "predict" else [str(copy), "demo-en"]
            assert main([command, *args]) == 2, (name, command)
            err = capsys.readouterr().err.strip()
            assert err.startswith("error: ") and len(err.splitlines()) == 1, (name, err)
            assert str(path) in err and "Traceback" not in err, (name, err)


@pytest.mark.parametrize("content", ["{", "[1, 2]", '{"lowercase": true, "files": "x"}'])
def test_seal_refuses_a_damaged_preprocessor_json_clearly(model_copy, content):
    """`seal` (for developers' steps that change a model directory) gave a raw
    JSONDecodeError, TypeError or AttributeError."""
    (model_copy / "preprocessor.json").write_text(content, encoding="utf-8")
    with pytest.raises(ModelDirError, match="preprocessor.json"):
        seal(model_copy)
