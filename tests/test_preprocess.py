"""The preprocessor's text rules, vocabularies, label maps and decoding."""

import numpy as np

from slukit.data.batching import EncodedData, bucket_plan, epoch_plan
from slukit.data.example import Example
from slukit.preprocess import SLUPreprocessor, Vocabulary
from slukit.preprocess.decoding import slots_from_tags
from slukit.preprocess.preprocessor import whitespace_tokens

TRAIN = [
    Example(["Play", "High", "Hopes"], ["O", "B-song", "I-song"], "PlayMusic"),
    Example(["play", "jazz"], ["O", "B-genre"], "PlayMusic"),
    Example(["weather", "in", "Köln"], ["O", "O", "B-city"], "GetWeather"),
]


def test_vocabularies_come_from_train_only_and_unknowns_map_to_unk():
    pre = SLUPreprocessor.fit(TRAIN)
    assert "play" in pre.words and "Play" not in pre.words  # lower-cased
    assert pre.encode_words(["PLAY", "never-seen"]).tolist() == [pre.words.id("play"), 1]
    assert pre.intents.tokens == ["PlayMusic", "GetWeather"]
    assert pre.tags.tokens[:2] == ["<pad>", "O"]
    chars = pre.encode_chars(["köln", "🙂"])
    assert chars.shape == (2, 20)
    assert chars[1, 0] == 1  # unknown character
    assert chars[1, 1] == 0  # padding


def test_min_word_count_sends_rare_words_to_unk():
    pre = SLUPreprocessor.fit(TRAIN, min_word_count=2)
    assert pre.words.tokens == ["<pad>", "<unk>", "play"]


def test_max_word_chars_truncates():
    pre = SLUPreprocessor.fit(TRAIN, max_word_chars=3)
    assert pre.encode_chars(["weather"]).shape == (1, 3)


def test_nfkc_normalisation():
    pre = SLUPreprocessor.fit([Example(["ﬁle"], ["O"], "x")])  # ligature fi
    assert "file" in pre.words


def test_tokenize_keeps_offsets_of_any_whitespace():
    text = " play\u00a0 High\tHopes  "
    spans = whitespace_tokens(text)
    assert [s[0] for s in spans] == text.split()
    assert all(text[a:b] == tok for tok, a, b in spans)


def test_slots_from_bio_with_offsets():
    text = "play High Hopes by Panic! at the Disco"
    tags = ["O", "B-song", "I-song", "O", "B-artist", "I-artist", "I-artist", "I-artist"]
    slots = slots_from_tags(text, whitespace_tokens(text), tags)
    assert slots == [
        {"slot": "song", "value": "High Hopes", "start": 5, "end": 15},
        {"slot": "artist", "value": "Panic! at the Disco", "start": 19, "end": 38},
    ]
    # A stray I- starts a new slot; a different type after B- starts another.
    assert [s["slot"] for s in slots_from_tags("a b c", whitespace_tokens("a b c"),
                                               ["I-x", "B-y", "I-x"])] == ["x", "y", "x"]


def test_save_and_load_round_trip(tmp_path):
    pre = SLUPreprocessor.fit(TRAIN, embeddings=("word", "char"), max_word_chars=7)
    pre.save(tmp_path)
    assert (tmp_path / "vocab" / "words.txt").read_text(encoding="utf-8").splitlines()[:2] == ["<pad>", "<unk>"]
    back = SLUPreprocessor.load(tmp_path)
    tokens = ["Play", "Köln", "zzz"]
    assert back.encode_words(tokens).tolist() == pre.encode_words(tokens).tolist()
    assert np.array_equal(back.encode_chars(tokens), pre.encode_chars(tokens))
    assert back.tags.tokens == pre.tags.tokens and back.intents.tokens == pre.intents.tokens


def test_char_only_model_has_no_word_vocabulary(tmp_path):
    pre = SLUPreprocessor.fit(TRAIN, embeddings=("char",))
    assert pre.words is None and set(pre.encode_inputs(["a"])) == {"char_ids"}
    pre.save(tmp_path)
    assert not (tmp_path / "vocab" / "words.txt").exists()
    assert SLUPreprocessor.load(tmp_path).words is None


def test_unseen_tag_encodes_as_o_and_decoding_skips_pad():
    pre = SLUPreprocessor.fit(TRAIN)
    assert pre.encode_tags(["B-unseen"]).tolist() == [pre.tags.id("O")]
    probs = np.zeros((1, len(pre.tags)))
    probs[0, 0] = 0.9  # <pad> must never be predicted
    probs[0, pre.tags.id("B-song")] = 0.1
    assert pre.decode_tags(probs) == ["B-song"]


def test_vocabulary_order_does_not_depend_on_data_order():
    a = Vocabulary.build(["b", "a", "c", "a"])
    b = Vocabulary.build(["c", "a", "b", "a"])
    assert a.tokens == b.tokens == ["<pad>", "<unk>", "a", "b", "c"]


def test_bucketed_batches_pad_per_batch_and_cover_every_example():
    examples = [Example(["w"] * n, ["O"] * n, "x") for n in (2, 3, 9, 30, 4, 12)]
    pre = SLUPreprocessor.fit(examples)
    data = EncodedData(pre, examples)
    plan = bucket_plan(data.lengths, batch_size=2, pad_multiple=8)
    assert sorted(i for _, idx in plan for i in idx.tolist()) == list(range(6))
    for length, idx in plan:
        inputs, labels = data.batch(idx, length)
        assert inputs["word_ids"].shape[1] == length
        assert length < 30 or len(idx) == 1  # only the long one is padded to 32
        assert max(data.lengths[i] for i in idx) <= length
    filled = bucket_plan(data.lengths, 4, 8, rng=np.random.default_rng(0), fill=True)
    assert all(len(idx) == 4 for _, idx in filled)


def test_min_steps_per_epoch_repeats_small_data_in_whole_passes():
    lengths = [3, 5, 9, 4, 12, 7]  # 3 batches of 2 per pass, in buckets 8 and 16
    rng = np.random.default_rng(0)
    one_pass = epoch_plan(lengths, 2, 8, rng)
    assert sorted(i for _, idx in one_pass for i in idx.tolist()) == list(range(6))
    plan = epoch_plan(lengths, 2, 8, rng, min_steps=7)
    assert len(plan) >= 7 and len(plan) % len(one_pass) == 0
    counts = np.bincount(np.concatenate([idx for _, idx in plan]), minlength=6)
    assert counts.min() >= len(plan) // len(one_pass)  # every example in every pass


def test_bio_decoding_never_starts_a_slot_with_i():
    pre = SLUPreprocessor.fit(TRAIN, slot_decoding="bio")
    tags = pre.tags.tokens
    probs = np.full((3, len(tags)), 0.01)
    # Greedy would give O, I-song, I-song: an I- without its B-.
    probs[0, tags.index("O")] = 0.9
    probs[1, tags.index("I-song")] = 0.6
    probs[1, tags.index("B-song")] = 0.3
    probs[2, tags.index("I-song")] = 0.9
    assert SLUPreprocessor.fit(TRAIN).decode_tags(probs) == ["O", "I-song", "I-song"]
    assert pre.decode_tags(probs) == ["O", "B-song", "I-song"]


def test_bio_decoding_keeps_a_valid_greedy_path():
    pre = SLUPreprocessor.fit(TRAIN, slot_decoding="bio")
    rng = np.random.default_rng(0)
    for _ in range(50):
        probs = rng.dirichlet(np.ones(len(pre.tags)), size=6)
        bio = pre.decode_tags(probs)
        for prev, cur in zip(["O"] + bio, bio):
            if cur.startswith("I-"):
                assert prev[2:] == cur[2:] and prev[:1] in "BI"


def test_bio_viterbi_finds_the_best_allowed_path():
    import itertools

    from slukit.preprocess.decoding import bio_transitions, viterbi

    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    start, step = bio_transitions(tags)
    rng = np.random.default_rng(0)
    for _ in range(40):
        log_probs = np.log(rng.dirichlet(np.ones(len(tags)) * 0.5, size=4))
        path = viterbi(log_probs, start, step)

        def allowed(p):
            return start[p[0]] and all(step[a, b] for a, b in zip(p, p[1:]))

        best = max((p for p in itertools.product(range(len(tags)), repeat=4) if allowed(p)),
                   key=lambda p: sum(log_probs[t, k] for t, k in enumerate(p)))
        assert allowed(path)
        assert np.isclose(sum(log_probs[t, k] for t, k in enumerate(path)),
                          sum(log_probs[t, k] for t, k in enumerate(best)))
