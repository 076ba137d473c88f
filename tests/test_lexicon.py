"""Offline bilingual lexicons (dictd, Ding, word pairs) in code-switching, `embeddings
dictionary` and `embeddings align`. Every dictionary here is a small file the test writes."""

import gzip
import json

import pytest

from conftest import write_jsonl
from slukit.data.code_switch import switch_table
from slukit.data.lexicon import B64, format_of, lexicon_entries, read_lexicon
from slukit.errors import DataError, RecipeError

ENTRIES = {  # headword -> dictd entry text, in FreeDict's layout
    "flight": "flight /flˈaɪt/\nFlug <masc> [aviat.], Flugreise <fem>\n"
              "      \"non-stop flight\"  - Nonstopflug\n   Synonyms: {flight path}\n",
    "cheap": "cheap /tʃˈiːp/\nbillig, preiswert <adj>\n         Note: not expensive\n",
    "to": "to /tˈuː/\nnach ([+ acc]) <prep>\n",
    "new york": "New York\nNew York [geogr.]\n",
    "00-database-info": "This file was converted from the original database\n",
}


def b64(n):
    digits = ""
    while True:
        digits = B64[n % 64] + digits
        n //= 64
        if not n:
            return digits


def write_dictd(folder, name="freedict-eng-deu", entries=ENTRIES, compress=True):
    body, index = b"", []
    for head, text in entries.items():
        data = text.encode("utf-8")
        index.append(f"{head}\t{b64(len(body))}\t{b64(len(data))}\n")
        body += data
    (folder / f"{name}.index").write_text("".join(index), encoding="utf-8")
    if compress:
        with gzip.open(folder / f"{name}.dict.dz", "wb") as f:
            f.write(body)
    else:
        (folder / f"{name}.dict").write_bytes(body)
    return folder / f"{name}.index"


DING = """\
# Version :: test
Flug {m} [aviat.] | Flüge {pl} | Billigflug {m} :: flight | flights | cheap flight
billig; preiswert {adj} :: cheap; inexpensive
buchen {vt} | bucht :: to book | books
nach {prp; +Dat.} :: to
"""


def test_dictd_translations_skip_examples_notes_phrases_and_dictd_entries(tmp_path):
    for compress in (True, False):
        folder = tmp_path / str(compress)
        folder.mkdir()
        index = write_dictd(folder, compress=compress)
        table = read_lexicon(index)
        assert table == {"flight": ["flug", "flugreise"], "cheap": ["billig", "preiswert"],
                         "to": ["nach"]}
        assert read_lexicon(folder / "freedict-eng-deu") == table  # the stem names it too
        assert format_of(index) == "dictd"
    assert read_lexicon(index, max_translations=1)["flight"] == ["flug"]
    assert read_lexicon(index, reverse=True)["billig"] == ["cheap"]


def test_a_broken_dictd_index_names_file_and_line(tmp_path):
    index = write_dictd(tmp_path)
    index.write_text(index.read_text() + "broken line\n")
    with pytest.raises(DataError, match=r"freedict-eng-deu.index:6: expected headword"):
        read_lexicon(index)
    with pytest.raises(DataError, match="lexicon not found"):
        read_lexicon(tmp_path / "missing.index")


def test_ding_senses_synonyms_and_verbs(tmp_path):
    path = tmp_path / "de-en"
    path.write_text(DING, encoding="utf-8")
    assert format_of(path) == "ding"
    table = read_lexicon(path, reverse=True)
    assert table["flight"] == ["flug"] and table["flights"] == ["flüge"]
    assert table["book"] == ["buchen"] and table["inexpensive"] == ["billig", "preiswert"]
    assert "cheap flight" not in table  # phrases are left out
    assert read_lexicon(path)["billig"] == ["cheap", "inexpensive"]


def test_dictionary_comes_first_then_lexicons_ranked(tmp_path):
    index = write_dictd(tmp_path)
    ding = tmp_path / "de-en"
    ding.write_text(DING, encoding="utf-8")
    pairs = tmp_path / "mined.txt"
    pairs.write_text("flight flugzeug\n")
    table, names = switch_table({"dictionary": str(pairs), "lexicon": str(index),
                                 "reverse_lexicon": str(ding), "max_translations": 2})
    assert table["flight"] == ["flugzeug", "flug"]  # mined first; flug is in both lexicons
    assert table["cheap"] == ["billig", "preiswert"] and table["book"] == ["buchen"]
    assert "reverse_lexicon" in names
    with pytest.raises(RecipeError, match="give a dictionary, a lexicon or a reverse_lexicon"):
        switch_table({"max_translations": 2})


def test_lexicon_entries_leave_known_words_to_the_mined_pairs(tmp_path):
    index = write_dictd(tmp_path)
    entries = lexicon_entries([index], max_translations=1, known={"flight"})
    assert [(s, t) for s, t, _ in entries] == [("cheap", "billig"), ("to", "nach")]


def parallel_files(root):
    en = [{"id": str(i), "tokens": ["fly", "to", "boston"], "tags": ["O", "O", "B-city"],
           "intent": "flight"} for i in range(5)]
    de = [{"id": str(i), "tokens": ["flug", "nach", "boston"], "tags": ["O", "O", "B-city"],
           "intent": "flight"} for i in range(5)]
    return write_jsonl(root / "en.jsonl", en), write_jsonl(root / "de.jsonl", de)


def test_embeddings_dictionary_merges_lexicon_with_mined_pairs(tmp_path, capsys):
    from slukit.cli import main

    index = write_dictd(tmp_path)
    en, de = parallel_files(tmp_path)
    out = tmp_path / "dict.txt"
    assert main(["embeddings", "dictionary", str(en), str(de), "--lexicon", str(index),
                 "--max-translations", "1", "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "boston boston"  # mined from the data: first
    assert {"to nach", "cheap billig", "flight flug"} <= set(lines[1:])
    only = tmp_path / "only.txt"
    assert main(["embeddings", "dictionary", "--lexicon", str(index), "--output", str(only)]) == 0
    assert "flight flug" in only.read_text().splitlines()
    assert main(["embeddings", "dictionary", "--output", str(tmp_path / "none.txt")]) == 2
    assert "nothing to build from" in capsys.readouterr().err


def test_embeddings_align_takes_a_lexicon_as_seed(tmp_path, capsys):
    from slukit.cli import main

    index = write_dictd(tmp_path)
    (tmp_path / "en.vec").write_text("3 2\nflight 1 0\ncheap 0 1\nto 1 1\n")
    (tmp_path / "de.vec").write_text("3 2\nflug 0 1\nbillig -1 0\nnach -1 1\n")
    out = tmp_path / "aligned.vec"
    assert main(["embeddings", "align", str(tmp_path / "en.vec"), str(tmp_path / "de.vec"),
                 "--lexicon", str(index), "--output", str(out)]) == 0
    assert "100.0% after alignment" in capsys.readouterr().out


def test_recipe_code_switches_with_a_lexicon_only(tmp_path):
    from slukit.data.load import load_splits
    from slukit.recipe import load_recipe

    index = write_dictd(tmp_path)
    en, _ = parallel_files(tmp_path)
    path = tmp_path / "r.yaml"
    path.write_text(f"name: zs\ndata:\n  train: {en}\n  code_switch: {{lexicon: {index}, "
                    "utterance_rate: 1.0, word_rate: 1.0}\n")
    splits = load_splits(load_recipe(path))
    assert {ex.tokens for ex in splits["train"]} == {("fly", "nach", "boston")}


def test_joint_code_switches_every_source_batch_with_the_lexicon(tmp_path):
    from test_transfer import run, transfer_recipe
    from slukit.data.example import Example
    from slukit.workflows.joint import source_transforms

    import numpy as np

    root = tmp_path / "data"
    root.mkdir()
    rows = lambda toks, tags, intent, n: [{"tokens": toks, "tags": tags, "intent": intent}] * n  # noqa: E731
    for split in ("train", "valid", "test"):
        write_jsonl(root / f"en_{split}.jsonl",
                    rows(["cheap", "flight", "to", "boston"], ["O", "O", "O", "B-city"], "f", 8))
        write_jsonl(root / f"de_{split}.jsonl",
                    rows(["flug", "nach", "boston"], ["O", "O", "B-city"], "f", 8))
    index = write_dictd(tmp_path)
    path = transfer_recipe(tmp_path, root, "transfer: {mode: joint, code_switch_words: 1.0}")
    text = path.read_text().replace(
        "en_test.jsonl}", f"en_test.jsonl, code_switch: {{lexicon: {index}}}}}")
    path.write_text(text)
    result = run(path, tmp_path / "out", ["train.epochs=1"])
    assert "billig" in result.preprocessor.words  # a lexicon word that no data holds
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["mode"] == "joint"
    from slukit.recipe import load_recipe

    recipe = load_recipe(path)
    switch = source_transforms(recipe, read_lexicon(index))["source"]
    out = switch([Example(["cheap", "flight"], ["O", "O"], "f")], np.random.default_rng(0))
    assert out[0].tokens[0] in ("billig", "preiswert") and out[0].tokens[1] in ("flug", "flugreise")
    with pytest.raises(RecipeError, match="transfer.code_switch_words"):
        path.write_text(text.replace(f", code_switch: {{lexicon: {index}}}", ""))
        run(path, tmp_path / "out2", ["train.epochs=1"])
