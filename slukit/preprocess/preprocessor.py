"""The text rules of a model: raw text -> token ids, and model outputs -> labels.

One object owns the vocabularies, the label maps and the normalisation rules,
so that training, evaluation, `slukit predict` and the exported models all turn
text into ids the same way. It needs only numpy.

The rules, in order:
1. Tokens are the runs of non-whitespace characters of the text (`str.split()`),
   kept with their character offsets.
2. Each token is normalised: Unicode NFKC, then lower-cased if `lowercase`.
3. Word ids come from the normalised token (unknown -> `<unk>`, id 1; padding is id 0).
4. Character ids come from the first `max_word_chars` characters of the
   normalised token (unknown characters -> `<unk>`).

Example:
    >>> from slukit.data.example import Example
    >>> ex = Example(["play", "Jazz"], ["O", "B-genre"], "PlayMusic")
    >>> pre = SLUPreprocessor.fit([ex])
    >>> pre.tokenize("  play  jazz ")
    [('play', 2, 6), ('jazz', 8, 12)]
    >>> pre.encode_words(["play", "JAZZ", "rock"]).tolist()
    [3, 2, 1]
"""

import collections
import json
import unicodedata
from pathlib import Path

import numpy as np

from slukit.data.example import ExampleCounts
from slukit.errors import ModelDirError
from slukit.preprocess.confidence import Confidence
from slukit.preprocess.decoding import (NEG_SCORE, bio_transitions,  # noqa: F401  (also imported from here)
                                        slots_from_tags, viterbi)
from slukit.preprocess.vocab import PAD, UNK, Vocabulary

RULES_FILE = "preprocessor.json"
VOCAB_DIR = "vocab"


def whitespace_tokens(text):
    """Splits `text` like `str.split()`, keeping character offsets.

    Example:
        >>> whitespace_tokens("a  bc")
        [('a', 0, 1), ('bc', 3, 5)]
    """
    tokens, start = [], None
    for i, ch in enumerate(text):
        if ch.isspace():
            if start is not None:
                tokens.append((text[start:i], start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        tokens.append((text[start:], start, len(text)))
    return tokens


class SLUPreprocessor:
    """Vocabularies, label maps and text rules of one joint SLU model.

    Args:
        words: word vocabulary (`<pad>`, `<unk>`, then words), or None when the
            model uses no word embeddings.
        chars: character vocabulary, or None when it uses no character embeddings.
        intents: intent label map (no specials).
        tags: slot tag label map; id 0 is `<pad>` (never predicted), then `O`.
        lowercase: lower-case tokens before lookup.
        max_word_chars: characters kept per word for the character embedding.
        slot_decoding: `"argmax"` (best tag per token) or `"bio"` (the best
            tag sequence in which every `I-x` follows `B-x` or `I-x`).
        slot_transitions: learned CRF scores over the tags without `<pad>`,
            `{"start": [K], "step": [K][K], "end": [K]}` (`model.slot_decoder:
            crf`), or None. With them, tags are the best sequence by
            log-probability plus these scores (and the BIO rule, if set).
        confidence: the calibration temperatures and fallback rule
            (`slukit.preprocess.confidence.Confidence`; default: raw softmax, no fallback).
    """

    def __init__(self, words, chars, intents, tags, lowercase=True, max_word_chars=20,
                 slot_decoding="argmax", confidence=None,
                 slot_transitions=None):
        self.words = words
        self.chars = chars
        self.intents = intents
        self.tags = tags
        self.lowercase = lowercase
        self.max_word_chars = max_word_chars
        self.slot_decoding = slot_decoding
        self.slot_transitions = slot_transitions
        self.confidence = confidence or Confidence()

    # --- building -----------------------------------------------------------------
    @classmethod
    def fit(cls, examples, embeddings=("word", "char"), lowercase=True,
            min_word_count=1, max_word_chars=20, slot_decoding="argmax"):
        """Builds vocabularies and label maps from training examples only.

        Args:
            examples: the training `Example`s, as any iterable (read once and
                not kept: a generator over a file larger than memory will do),
                or an `ExampleCounts` already counted from them.

        The other arguments are the constructor's and the model's settings
        (`embeddings` chooses which of words and chars get a vocabulary).
        """
        counts = examples if isinstance(examples, ExampleCounts) else ExampleCounts.of(examples)
        pre = cls(None, None, None, None, lowercase=lowercase, max_word_chars=max_word_chars,
                  slot_decoding=slot_decoding)
        norm = collections.Counter()
        for token, n in counts.tokens.items():
            norm[pre.normalize(token)] += n
        if "word" in embeddings:
            pre.words = Vocabulary.from_counts(norm, min_count=min_word_count)
        if "char" in embeddings:
            chars = collections.Counter()
            for token, n in norm.items():
                for c in token[:max_word_chars]:
                    chars[c] += n
            pre.chars = Vocabulary.from_counts(chars, min_count=1)
        pre.intents = Vocabulary.from_counts(counts.intents, specials=(), unk=None)
        pre.tags = Vocabulary.from_counts(counts.tags, specials=(PAD, "O"), unk=None)
        return pre

    # --- text -> ids --------------------------------------------------------------
    def tokenize(self, text):
        """Whitespace tokens of `text` as `(token, start, end)` character offsets."""
        return whitespace_tokens(text)

    def normalize(self, token):
        token = unicodedata.normalize("NFKC", token)
        return token.lower() if self.lowercase else token

    def encode_words(self, tokens):
        """Word ids, shape `[len(tokens)]`."""
        return np.array([self.words.id(self.normalize(t)) for t in tokens], dtype="int32")

    def encode_chars(self, tokens):
        """Character ids, shape `[len(tokens), max_word_chars]`, zero-padded."""
        out = np.zeros((len(tokens), self.max_word_chars), dtype="int32")
        for i, t in enumerate(tokens):
            chars = self.normalize(t)[: self.max_word_chars]
            out[i, : len(chars)] = self.chars.ids(chars)
        return out

    def encode_inputs(self, tokens):
        """The model's inputs for one utterance, unpadded."""
        inputs = {}
        if self.words is not None:
            inputs["word_ids"] = self.encode_words(tokens)
        if self.chars is not None:
            inputs["char_ids"] = self.encode_chars(tokens)
        return inputs

    def encode_tags(self, tags):
        """Tag ids; a tag unseen in training maps to `O` (training data has none)."""
        o = self.tags.id("O") if "O" in self.tags else 1
        return np.array([self.tags.index.get(t, o) for t in tags], dtype="int32")

    def encode_intent(self, intent):
        return self.intents.id(intent)

    def pad_inputs(self, encoded, length=None):
        """Stacks unpadded inputs into a batch padded to `length` tokens."""
        length = length or max(1, max(len(next(iter(e.values()))) for e in encoded))
        batch = {}
        if self.words is not None:
            word_ids = np.zeros((len(encoded), length), dtype="int32")
            for i, e in enumerate(encoded):
                word_ids[i, : len(e["word_ids"])] = e["word_ids"]
            batch["word_ids"] = word_ids
        if self.chars is not None:
            char_ids = np.zeros((len(encoded), length, self.max_word_chars), dtype="int32")
            for i, e in enumerate(encoded):
                char_ids[i, : len(e["char_ids"])] = e["char_ids"]
            batch["char_ids"] = char_ids
        return batch

    # --- outputs -> labels --------------------------------------------------------
    def decode_tags(self, tag_probs):
        """Tags from `[tokens, num_tags]` probabilities (`<pad>` is never chosen),
        by `slot_decoding`."""
        probs = np.asarray(tag_probs)[:, 1:]
        scores = self.decoder()
        if scores is not None and len(probs):
            ids = viterbi(np.log(np.maximum(probs, 1e-12)), *scores)
        else:
            ids = np.argmax(probs, axis=-1)
        return [self.tags.tokens[i + 1] for i in ids]

    def decoder(self):
        """The Viterbi scores `(start [K], step [K, K], end [K])` over the tags
        without `<pad>`, float64: the learned `slot_transitions` (if any) plus
        `NEG_SCORE` where the BIO rule forbids a move (`slot_decoding: bio`).
        None when tags are read by argmax. Python, the SavedModel and the light
        runtime all decode with these.

            >>> from slukit.data.example import Example
            >>> pre = SLUPreprocessor.fit([Example(["a", "b"], ["B-x", "I-x"], "i")],
            ...                           slot_decoding="bio")
            >>> start, step, end = pre.decoder()
            >>> pre.tags.tokens[1:], start.tolist()
            (['O', 'B-x', 'I-x'], [0.0, 0.0, -1000000000.0])
        """
        # Built once per (rule, learned scores, tags) and reused: rebuilding the BIO
        # masks for every utterance cost a third of the light runtime's time.
        key = (self.slot_decoding, id(self.slot_transitions), id(self.tags), len(self.tags))
        cached = getattr(self, "_decoder_cache", None)
        if cached is not None and cached[0] == key and cached[1] is self.slot_transitions:
            return cached[2]
        scores = self._build_decoder()
        self._decoder_cache = (key, self.slot_transitions, scores)
        return scores

    def _build_decoder(self):
        learned = self.slot_transitions
        if self.slot_decoding != "bio" and not learned:
            return None
        tags = self.tags.tokens[1:]
        size = len(tags)
        if learned:
            start = np.asarray(learned["start"], dtype=np.float64)
            step = np.asarray(learned["step"], dtype=np.float64)
            end = np.asarray(learned["end"], dtype=np.float64)
        else:
            start, step, end = np.zeros(size), np.zeros((size, size)), np.zeros(size)
        if self.slot_decoding == "bio":
            allowed_start, allowed_step = bio_transitions(tags)
            start = np.where(allowed_start, start, NEG_SCORE)
            step = np.where(allowed_step, step, NEG_SCORE)
        return start, step, end

    def decode_intent(self, intent_probs):
        probs = np.asarray(intent_probs)
        best = int(np.argmax(probs))
        return self.intents.tokens[best], float(probs[best])

    def prediction(self, text, intent_probs, tag_probs):
        """The JSON-ready prediction for `text` (the shape `slukit predict` prints).

        `intent_probs` and `tag_probs` are the model's raw outputs; the reported
        confidences are calibrated with `self.confidence`. Keys: `text`, `tokens`,
        `intent`, `intent_confidence` (calibrated probability of the best intent),
        `intent_ranking` (the best `ranking_size` intents with calibrated
        confidences), `fallback` (true when the confidence fell below the
        fallback threshold and `intent` is the fallback intent), `tags` and
        `slots`. Slot `start`/`end` are character offsets into `text` (end
        exclusive), so `text[start:end] == value`; a slot's `confidence` is the
        lowest calibrated probability of its tokens' tags.
        """
        spans = self.tokenize(text)
        tokens = [s[0] for s in spans]
        calibrated = self.confidence.intent_probs(intent_probs)
        intent, confidence = self.decode_intent(calibrated)
        order = np.argsort(-calibrated, kind="stable")[: max(1, self.confidence.ranking_size)]
        ranking = [{"intent": self.intents.tokens[i], "confidence": round(float(calibrated[i]), 6)}
                   for i in order]
        fallback = self.confidence.falls_back(confidence)
        if fallback:
            intent = self.confidence.fallback_intent
        tags, token_confidences = [], []
        if tokens:
            raw = np.asarray(tag_probs)[: len(tokens)]
            tags = self.decode_tags(raw)
            chosen = self.confidence.tag_probs(raw)
            token_confidences = [float(chosen[i, self.tags.id(t)]) for i, t in enumerate(tags)]
        return {
            "text": text,
            "tokens": tokens,
            "intent": intent,
            "intent_confidence": round(confidence, 6),
            "intent_ranking": ranking,
            "fallback": fallback,
            "tags": tags,
            "slots": slots_from_tags(text, spans, tags, token_confidences),
        }

    # --- saving -------------------------------------------------------------------
    def rules(self):
        """The text rules as a JSON-ready dict (saved as `preprocessor.json`)."""
        return {
            "tokenizer": "whitespace",
            "unicode_normalization": "NFKC",
            "lowercase": self.lowercase,
            "max_word_chars": self.max_word_chars,
            "slot_decoding": self.slot_decoding,
            **({"slot_transitions": self.slot_transitions} if self.slot_transitions else {}),
            "confidence": self.confidence.to_dict(),
            "pad_id": 0,
            "unk_id": 1,
            "tag_pad_id": 0,
            "files": {
                "words": f"{VOCAB_DIR}/words.txt" if self.words is not None else None,
                "chars": f"{VOCAB_DIR}/chars.txt" if self.chars is not None else None,
                "intents": f"{VOCAB_DIR}/intents.txt",
                "tags": f"{VOCAB_DIR}/tags.txt",
            },
        }

    def save(self, directory):
        directory = Path(directory)
        (directory / VOCAB_DIR).mkdir(parents=True, exist_ok=True)
        rules = self.rules()
        for key, table in (("words", self.words), ("chars", self.chars),
                           ("intents", self.intents), ("tags", self.tags)):
            if table is not None:
                table.save(directory / rules["files"][key])
        (directory / RULES_FILE).write_text(json.dumps(rules, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory):
        directory = Path(directory)
        path = directory / RULES_FILE
        if not path.is_file():
            raise ModelDirError(f"{directory}: no {RULES_FILE}; not a slukit model directory")
        try:
            rules = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ModelDirError(f"{path}: not valid JSON ({err}); the model directory is "
                                "damaged") from None
        from slukit.preprocess.rules import rule_problems

        problems = rule_problems(rules)
        if problems:
            raise ModelDirError(problems, header=f"{path}: settings this slukit cannot use:")
        files = rules["files"]

        def table(key, unk):
            return Vocabulary.load(directory / files[key], unk=unk) if files.get(key) else None

        return cls(table("words", UNK), table("chars", UNK), table("intents", None),
                   table("tags", None), lowercase=rules["lowercase"],
                   max_word_chars=rules["max_word_chars"],
                   slot_decoding=rules.get("slot_decoding", "argmax"),
                   slot_transitions=rules.get("slot_transitions"),
                   confidence=Confidence.from_dict(rules.get("confidence")))


