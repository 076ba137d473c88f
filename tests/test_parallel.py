"""Tests for slukit.data.parallel: pairing by id and the bilingual word dictionary."""

import json
from pathlib import Path

import pytest

from slukit.data.example import Example
from slukit.data.parallel import (build_dictionary, dictionary_from_files, pair_by_id,
                                  write_dictionary)
from slukit.errors import DataError
from slukit.data.parallel import read_dictionary

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TSV_HEADER = "id\tutterance\tslot_labels\tintent\n"

# English / German utterance pairs: (id, en text, en tags, de text, de tags, intent)
PARALLEL = [
    ("1", "flights from boston to denver", "O O B-from O B-to",
     "flüge von boston nach denver", "O O B-from O B-to", "flight"),
    ("2", "flights from dallas to boston", "O O B-from O B-to",
     "flüge von dallas nach boston", "O O B-from O B-to", "flight"),
    ("3", "show flights from denver to dallas in the morning",
     "O O O B-from O B-to O O B-period",
     "zeige flüge von denver nach dallas am morgen", "O O O B-from O B-to O B-period", "flight"),
    ("4", "fares from boston to new york in the morning",
     "O O B-from O B-to I-to O O B-period",
     "preise von boston nach new york am morgen", "O O B-from O B-to I-to O B-period", "fare"),
    ("5", "show fares to new york", "O O O B-to I-to",
     "zeige preise nach new york", "O O O B-to I-to", "fare"),
]


def examples(side):
    """The English (side 0) or German (side 1) examples of PARALLEL."""
    out = []
    for id_, en, en_tags, de, de_tags, intent in PARALLEL:
        text, tags = (en, en_tags) if side == 0 else (de, de_tags)
        out.append(Example(text.split(), tags.split(), intent, id=id_))
    return out


def as_dict(entries):
    """Each source word's best target (entries come best first)."""
    best = {}
    for s, t, _ in entries:
        best.setdefault(s, t)
    return best


def write_tsv(path, rows):
    path.write_text(TSV_HEADER + "".join("\t".join(row) + "\n" for row in rows),
                    encoding="utf-8", newline="")
    return path


# ---------------------------------------------------------------- pair_by_id


def test_pair_by_id_pairs_shared_ids_and_reports_the_rest():
    en = examples(0) + [Example(["extra"], ["O"], "x", id="99"), Example(["noid"], ["O"], "x")]
    de = list(reversed(examples(1))) + [Example(["ohne"], ["O"], "x")]
    messages = []
    pairs = pair_by_id(iter(en), iter(de), report=messages.append)
    assert [s.id for s, _ in pairs] == ["1", "2", "3", "4", "5"]
    assert all(s.id == t.id for s, t in pairs)
    assert len(messages) == 1
    assert "2 source" in messages[0] and "1 target" in messages[0]


def test_pair_by_id_is_silent_when_everything_pairs():
    messages = []
    assert len(pair_by_id(examples(0), examples(1), report=messages.append)) == 5
    assert messages == []


# ---------------------------------------------------------------- build_dictionary


def test_dictionary_finds_names_slot_words_and_frequent_words():
    entries = build_dictionary(pair_by_id(examples(0), examples(1)))
    found = as_dict(entries)
    assert found["boston"] == "boston"
    assert found["denver"] == "denver"
    assert found["morning"] == "morgen"
    assert found["flights"] == "flüge"
    assert found["fares"] == "preise"
    assert found["to"] == "nach"
    assert found["new"] == "new" and found["york"] == "york"  # equal-length spans, word by word


def test_entries_are_sorted_by_score_then_words_and_deterministic():
    pairs = pair_by_id(examples(0), examples(1))
    entries = build_dictionary(pairs)
    assert entries == sorted(entries, key=lambda e: (-e[2], e[0], e[1]))
    assert entries == build_dictionary(list(reversed(pairs)))
    assert all(0 < score <= 1 for _, _, score in entries)


def test_skip_identical_drops_shared_names():
    found = as_dict(build_dictionary(pair_by_id(examples(0), examples(1)), skip_identical=True))
    assert all(s != t for s, t in found.items())
    assert "flights" in found


def test_min_count_and_max_per_word():
    pairs = pair_by_id(examples(0), examples(1))
    assert "show" not in as_dict(build_dictionary(pairs, min_count=3))  # 2 co-occurrences
    # "ticket" is in 2 of 10 utterances (not frequent), with three German words.
    en = [Example(["ticket"] if i < 2 else [f"w{i}"], ["O"], "x", id=str(i)) for i in range(10)]
    de = [Example(["eine", "fahrkarte", "bitte"] if i < 2 else [f"v{i}"], ["O"] * (3 if i < 2 else 1),
                  "x", id=str(i)) for i in range(10)]
    many = build_dictionary(pair_by_id(en, de), max_per_word=2)
    assert [(s, t) for s, t, _ in many] == [("ticket", "bitte"), ("ticket", "eine")]
    assert len(build_dictionary(pair_by_id(en, de), max_per_word=5)) == 3


def test_slot_links_beat_plain_cooccurrence():
    # "red" and "blue" always appear together, so co-occurrence cannot tell
    # them apart; the slot labels can.
    en = [Example(["red", "and", "blue"], ["B-a", "O", "B-b"], "x", id=str(i)) for i in range(4)]
    de = [Example(["blau", "und", "rot"], ["B-b", "O", "B-a"], "x", id=str(i)) for i in range(4)]
    found = as_dict(build_dictionary(pair_by_id(en, de), min_score=0))
    assert found["red"] == "rot" and found["blue"] == "blau"


def test_unequal_spans_link_their_words_with_half_a_vote():
    en = [Example(["at", "noon"], ["O", "B-time"], "x", id=str(i)) for i in range(3)]
    de = [Example(["um", "zwölf", "uhr"], ["O", "B-time", "I-time"], "x", id=str(i))
          for i in range(3)]
    entries = build_dictionary(pair_by_id(en, de), max_per_word=2, min_score=0)
    noon = {t: score for s, t, score in entries if s == "noon"}
    # Dice is 1 for every pair here; the half-linked span words beat "um" on the link rate.
    assert set(noon) == {"uhr", "zwölf"}


def test_frequent_source_words_need_a_mutual_best_partner():
    # "please" is in every utterance; "bitte" is its mutual best partner, but
    # "please" must not also grab the target word of a rarer source word.
    en, de = [], []
    for i in range(10):
        extra = ("cheap", "billig") if i < 3 else ("fast", "schnell")
        en.append(Example(["please", extra[0]], ["O", "O"], "x", id=str(i)))
        de.append(Example(["bitte", extra[1]], ["O", "O"], "x", id=str(i)))
    entries = build_dictionary(pair_by_id(en, de), max_per_word=5, min_score=0)
    please = {t for s, t, _ in entries if s == "please"}
    assert please == {"bitte"}
    assert as_dict(entries)["cheap"] == "billig"


def test_lowercase_option():
    en = [Example(["Boston"], ["B-city"], "x", id=str(i)) for i in range(2)]
    de = [Example(["Boston"], ["B-city"], "x", id=str(i)) for i in range(2)]
    assert as_dict(build_dictionary(pair_by_id(en, de))) == {"boston": "boston"}
    assert as_dict(build_dictionary(pair_by_id(en, de), lowercase=False)) == {"Boston": "Boston"}


def test_no_pairs_is_an_error():
    with pytest.raises(DataError):
        build_dictionary([])


# ---------------------------------------------------------------- files


def test_write_dictionary_round_trips_through_read_dictionary(tmp_path):
    entries = build_dictionary(pair_by_id(examples(0), examples(1)))
    path = tmp_path / "en-de.txt"
    assert write_dictionary(entries, path) == len(entries)
    assert read_dictionary(path) == [(s, t) for s, t, _ in entries]


def test_dictionary_from_tsv_and_jsonl_files(tmp_path):
    en = write_tsv(tmp_path / "en.tsv", [(i, e, et, intent) for i, e, et, _, _, intent in PARALLEL])
    de = tmp_path / "de.jsonl"
    de.write_text("".join(json.dumps({"id": i, "tokens": d.split(), "tags": dt.split(),
                                      "intent": intent}) + "\n"
                          for i, _, _, d, dt, intent in PARALLEL), encoding="utf-8")
    entries = dictionary_from_files(en, de)
    assert entries == build_dictionary(pair_by_id(examples(0), examples(1)))


def test_dictionary_from_files_without_shared_ids_is_an_error(tmp_path):
    en = write_tsv(tmp_path / "en.tsv", [("1", "hi", "O", "greet")])
    de = write_tsv(tmp_path / "de.tsv", [("2", "hallo", "O", "greet")])
    with pytest.raises(DataError, match="share no utterance id"):
        dictionary_from_files(en, de)


# ---------------------------------------------------------------- real data

# Hand-written English -> German gold pairs for MultiATIS++ (any listed target counts).
ATIS_GOLD = {
    "flights": {"flüge"}, "flight": {"flug"}, "morning": {"morgen", "vormittag"},
    "evening": {"abend"}, "afternoon": {"nachmittag"}, "boston": {"boston"},
    "denver": {"denver"}, "pittsburgh": {"pittsburgh"}, "from": {"von", "aus"},
    "to": {"nach"}, "cheapest": {"billigste", "billigsten", "günstigste", "günstigsten"},
    "first": {"erste", "ersten", "erster"}, "class": {"klasse"}, "tuesday": {"dienstag"},
    "please": {"bitte"}, "dinner": {"abendessen"}, "breakfast": {"frühstück"},
    "lunch": {"mittagessen"}, "june": {"juni"}, "earliest": {"früheste", "frühesten"},
    "fare": {"tarif", "preis", "flugpreis"}, "arrive": {"ankommen"},
}


@pytest.mark.skipif(not (SHARED_DATA / "multiatis").is_dir(), reason="no shared MultiATIS++ data")
def test_multiatis_en_de_dictionary_precision():
    messages = []
    entries = dictionary_from_files(SHARED_DATA / "multiatis" / "en" / "train.tsv",
                                    SHARED_DATA / "multiatis" / "de" / "train.tsv",
                                    report=messages.append)
    found = as_dict(entries)
    assert found["boston"] == "boston"
    assert found["flights"] == "flüge"
    assert found["morning"] in {"morgen", "vormittag"}
    judged = [word for word in ATIS_GOLD if word in found]
    correct = [word for word in judged if found[word] in ATIS_GOLD[word]]
    precision = len(correct) / len(judged)
    print(f"MultiATIS++ en-de: {len(entries)} entries; gold precision "
          f"{len(correct)}/{len(judged)} = {precision:.0%} (recall {len(judged)}/{len(ATIS_GOLD)})")
    assert len(judged) >= len(ATIS_GOLD) // 2
    assert precision >= 0.5


def test_cli_writes_a_dictionary_that_align_reads(tmp_path, capsys):
    import json

    from slukit.cli import main
    from slukit.data.parallel import read_dictionary

    en = [("fly to boston", "O O B-city", "flight"), ("fly to denver", "O O B-city", "flight"),
          ("fares to boston", "O O B-city", "fare")]
    de = [("flug nach boston", "O O B-city", "flight"), ("flug nach denver", "O O B-city", "flight"),
          ("preise nach boston", "O O B-city", "fare")]
    for name, rows in (("en", en), ("de", de)):
        with open(tmp_path / f"{name}.jsonl", "w") as f:
            for i, (text, tags, intent) in enumerate(rows):
                f.write(json.dumps({"id": str(i), "tokens": text.split(), "tags": tags.split(),
                                    "intent": intent}) + "\n")
    out = tmp_path / "en-de.txt"
    assert main(["embeddings", "dictionary", str(tmp_path / "en.jsonl"), str(tmp_path / "de.jsonl"),
                 "--output", str(out)]) == 0
    pairs = dict(read_dictionary(out))
    assert pairs["boston"] == "boston" and pairs["to"] == "nach"
    assert "word pairs written" in capsys.readouterr().out
