"""Tests of the built-in demo data (`slukit/data/demo.py` and the files it ships)."""

import json
import random
import re
import subprocess
import sys

import pytest

from slukit.data import demo
from slukit.errors import DataError

LANGS = {"demo-en": "en", "demo-de": "de"}
BIO = re.compile(r"O|[BI]-[A-Za-z]+")


@pytest.fixture(scope="module")
def shipped():
    """`{name: {split: [objects]}}` read from the shipped files."""
    data = {}
    for name in demo.BUILTIN_DATASETS:
        data[name] = {}
        for split in demo.SPLITS:
            with open(demo.builtin_path(name, split), encoding="utf-8") as f:
                data[name][split] = [json.loads(line) for line in f]
    return data


@pytest.fixture(scope="module")
def generated():
    return {name: demo.generate(lang) for name, lang in LANGS.items()}


def spans(example):
    """`[(type, "value text")]`, read the conlleval way (a stray I- starts a span)."""
    out, cur = [], None
    for token, tag in zip(example["tokens"] + [""], example["tags"] + ["O"]):
        if tag == "O" or tag.startswith("B-") or cur is None or cur[0] != tag[2:]:
            if cur:
                out.append((cur[0], " ".join(cur[1])))
            cur = None if tag == "O" else (tag[2:], [token])
        else:
            cur[1].append(token)
    return out


def test_tables_are_consistent():
    assert demo._check_tables() == []


def test_shipped_files_equal_generate(generated):
    for name in demo.BUILTIN_DATASETS:
        for split in demo.SPLITS:
            path = demo.builtin_path(name, split)
            raw = path.read_bytes()
            assert raw == demo.dumps_jsonl(generated[name][split]).encode("utf-8"), (
                f"{path} is out of date: run `python -m slukit.data.demo`")


def test_readme_is_up_to_date(generated):
    path = demo.BUILTIN_ROOT / "README.md"
    assert path.read_text(encoding="utf-8") == demo.readme(generated), (
        f"{path} is out of date: run `python -m slukit.data.demo`")


def test_generate_is_deterministic_and_seeded():
    assert demo.generate("en") == demo.generate("en", seed=0)
    assert demo.generate("de", seed=1) != demo.generate("de", seed=0)
    assert demo.generate("demo-de") == demo.generate("de")


def test_write_all_writes_the_same_files(tmp_path):
    demo.write_all(tmp_path)
    for name in demo.BUILTIN_DATASETS:
        for split in demo.SPLITS:
            assert ((tmp_path / name / f"{split}.jsonl").read_bytes()
                    == demo.builtin_path(name, split).read_bytes())
    assert (tmp_path / "README.md").read_bytes() == (demo.BUILTIN_ROOT / "README.md").read_bytes()


def test_line_format(shipped):
    for name, splits in shipped.items():
        for split, examples in splits.items():
            assert len(examples) == demo.SPLIT_SIZES[split]
            for ex in examples:
                where = f"{name}/{split} id {ex.get('id')}"
                assert list(ex) == ["id", "tokens", "tags", "intent"], where
                assert re.fullmatch(r"\d{4}", ex["id"]), where
                assert ex["intent"] in demo.INTENTS, where
                assert ex["tokens"] and len(ex["tokens"]) == len(ex["tags"]), where
                assert ex["tokens"] == " ".join(ex["tokens"]).split(), where


def test_tags_are_valid_bio(shipped):
    for name, splits in shipped.items():
        for split, examples in splits.items():
            for ex in examples:
                previous = "O"
                for tag in ex["tags"]:
                    assert BIO.fullmatch(tag), (name, split, ex["id"], tag)
                    if tag.startswith("I-"):
                        assert previous[2:] == tag[2:], (name, split, ex["id"], ex["tags"])
                    if tag != "O":
                        assert tag[2:] in demo.SLOT_TYPES, (name, split, ex["id"], tag)
                    previous = tag


def test_every_intent_and_slot_type_occurs_and_multi_token_slots_exist(shipped):
    for splits in shipped.values():
        train = splits["train"]
        assert {ex["intent"] for ex in train} == set(demo.INTENTS)
        tags = {tag for ex in train for tag in ex["tags"]}
        assert {tag[2:] for tag in tags if tag != "O"} == set(demo.SLOT_TYPES)
        assert any(tag.startswith("I-") for tag in tags)


def test_languages_are_parallel(shipped):
    en, de = shipped["demo-en"], shipped["demo-de"]
    for split in demo.SPLITS:
        assert [ex["id"] for ex in en[split]] == [ex["id"] for ex in de[split]]
        assert [ex["intent"] for ex in en[split]] == [ex["intent"] for ex in de[split]]
        for a, b in zip(en[split], de[split]):
            assert sorted(t for t, _ in spans(a)) == sorted(t for t, _ in spans(b)), a["id"]
    ids = [ex["id"] for split in demo.SPLITS for ex in en[split]]
    assert len(ids) == len(set(ids))


def test_german_is_not_english(shipped):
    en, de = shipped["demo-en"]["train"], shipped["demo-de"]["train"]
    same = sum(a["tokens"] == b["tokens"] for a, b in zip(en, de))
    assert same == 0
    text = " ".join(token for ex in de for token in ex["tokens"])
    assert all(ch in text for ch in "äöüß")


def test_no_duplicates_within_a_language(shipped):
    for name, splits in shipped.items():
        seen = {}
        for split in demo.SPLITS:
            for ex in splits[split]:
                key = (tuple(ex["tokens"]), ex["intent"])
                assert key not in seen, f"{name}: {split} {ex['id']} repeats {seen.get(key)}"
                seen[key] = f"{split} {ex['id']}"


def test_valid_and_test_hold_out_slot_values(shipped):
    for name, splits in shipped.items():
        train = {span for ex in splits["train"] for span in spans(ex)}
        unseen_types = set()
        for split in ("valid", "test"):
            unseen = [span for ex in splits[split] for span in spans(ex) if span not in train]
            assert len(unseen) >= 10, (name, split, unseen)
            unseen_types |= {slot for slot, _ in unseen}
        # Every slot type has values that only valid/test use, but the rare types may not be
        # drawn in a 200-utterance sample: most of them must show up.
        assert len(unseen_types) >= len(demo.SLOT_TYPES) - 3, (name, sorted(unseen_types))


def test_held_out_values_and_templates_never_reach_train():
    held = demo._held_out(random.Random(0))  # what _plan(0) draws first
    plan = demo._plan(0)
    for _, _, template, choice in plan["train"]:
        assert not template.held_out, template
        assert not any(index in held[slot] for slot, index in choice.items()), choice
    evaluation = [item for split in ("valid", "test") for item in plan[split]]
    assert any(template.held_out for _, _, template, _ in evaluation)
    assert any(index in held[slot] for *_, choice in evaluation for slot, index in choice.items())
    for slot in demo.SLOT_TYPES:
        share = len(held[slot]) / len(demo._POOLS[slot])
        assert 0.15 <= share <= 0.3, (slot, share)


def test_builtin_path():
    path = demo.builtin_path("demo-de", "valid")
    assert path.is_file() and path.name == "valid.jsonl" and path.parent.name == "demo-de"
    with pytest.raises(DataError) as err:
        demo.builtin_path("demo-fr", "train")
    assert "demo-fr" in str(err.value)
    assert all(name in str(err.value) for name in demo.BUILTIN_DATASETS)
    with pytest.raises(DataError) as err:
        demo.builtin_path("demo-en", "dev")
    assert "dev" in str(err.value) and "valid" in str(err.value)


def test_generate_rejects_unknown_language():
    with pytest.raises(DataError, match="fr"):
        demo.generate("fr")


def test_demo_module_imports_only_the_standard_library():
    code = ("import sys, slukit.data.demo; "
            "print(sorted(m for m in ('numpy', 'tensorflow', 'keras', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_check_command_reports_up_to_date():
    assert demo.main(["--check"]) == 0
