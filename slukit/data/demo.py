"""The built-in demo datasets `demo-en` and `demo-de`: a small, synthetic, parallel
English/German voice-assistant corpus for joint intent classification and BIO slot
tagging.

What the data is:
    Eight intents (PlayMusic, AddToPlaylist, GetWeather, SetAlarm, SetReminder,
    SendMessage, BookRestaurant, RateBook) and fourteen slot types (SongName,
    ArtistName, PlaylistName, City, Date, Time, Task, ContactName, Message,
    RestaurantName, Cuisine, PartySize, BookName, Rating). Each language has 600
    train, 100 valid and 100 test utterances, one JSON object per line::

        {"id": "0001", "tokens": ["play", "High", "Hopes", "by", ...],
         "tags": ["O", "B-SongName", "I-SongName", "O", ...], "intent": "PlayMusic"}

    The two languages are parallel: the same `id` in `demo-en` and `demo-de` is
    the same request, with the same intent and the same slot types. Names of
    songs, artists, playlists, restaurants and people stay as they are; cities and
    books take their German names where they have one; dates, times, tasks,
    messages, cuisines and numbers are translated.

How it was made:
    Entirely synthetic. Every utterance is a hand-written carrier template
    (`play {SongName} by {ArtistName}` / `Spiele {SongName} von {ArtistName}`)
    filled with hand-written slot values, drawn with `random.Random(seed)` from
    the standard library, so the output is the same on every machine. Tokens are
    `text.split()`: punctuation stays attached to words as people type it.

    Valid and test are not copies of train. About 22 % of the values of every slot
    type, and one or two carrier templates of every intent, are held out of train
    and appear only in valid and test. A valid/test utterance uses a held-out
    template with probability 0.15 and a held-out value for each slot with
    probability 0.15; the held-out templates recombine phrasings that train
    teaches. No (tokens, intent) pair occurs twice in a language. A small
    word + char-CNN BiLSTM reaches about 1.00 intent accuracy and 0.88-0.95 slot
    F1 on valid and test; seen templates with seen values are near 1.0, held-out
    values and templates are what it gets wrong.

    The shipped files under `builtin/` are exactly what `write_all()` writes with
    seed 0; `python -m slukit.data.demo` regenerates them (and `builtin/README.md`),
    and the tests check that they have not drifted.

Example:
    >>> splits = generate("de")
    >>> [len(splits[s]) for s in SPLITS]
    [600, 100, 100]
    >>> builtin_path("demo-en", "train").name
    'train.jsonl'
"""

import argparse
import collections
import json
import pathlib
import random

# The slot values and templates (INTENTS and SLOT_TYPES are imported from here too).
from slukit.data.demo_tables import (INTENTS, SLOT_TYPES, _DERIVED_FORMS,  # noqa: F401
                                     _PLACEHOLDER, _SONGS, _TEMPLATES, _VALUES)
from slukit.data.sources import BUILTIN_ROOT, builtin_path  # noqa: F401  (builtin_path: its old import path)
from slukit.errors import DataError
from slukit.registry import BUILTIN_DATASETS, SPLITS

LANGUAGES = ("en", "de")
SPLIT_SIZES = {"train": 600, "valid": 100, "test": 100}


HOLDOUT_VALUE_SHARE = 0.22   # share of each slot type's values seen only in valid/test
P_HELDOUT_TEMPLATE = 0.15    # chance that a valid/test utterance uses a held-out template
P_HELDOUT_VALUE = 0.15       # chance that a valid/test slot takes a held-out value
_MAX_TRIES = 2000


# -------------------------------------------------------------------- public API


def generate(language: str, seed: int = 0) -> dict:
    """Generate one language of the demo data.

    Args:
        language: `"en"` or `"de"` (`"demo-en"` / `"demo-de"` are accepted too).
        seed: the seed of the `random.Random` that picks held-out values and templates
            and fills the templates. The shipped files use seed 0. The same seed gives
            parallel data in both languages.

    Returns:
        `{"train": [...], "valid": [...], "test": [...]}`, each a list of
        `{"id", "tokens", "tags", "intent"}` dicts in file order.
    """
    language = language[len("demo-"):] if language.startswith("demo-") else language
    if language not in LANGUAGES:
        raise DataError(f"unknown demo language {language!r}; "
                        f"the languages are: {', '.join(LANGUAGES)}")
    return {split: [_example(item, language) for item in items]
            for split, items in _plan(seed).items()}


def sample_utterances(n: int, language: str = "en", seed: int = 0):
    """Yield `n` random utterances in the demo data's style: any amount of data, for benchmarks.

    Each is a `{"id", "tokens", "tags", "intent"}` dict as in the shipped files,
    drawn with `random.Random(seed)` from the train templates and every slot
    value (nothing is held out; repeats are allowed). The word vocabulary stays
    the demo's (about 900 words), however many are drawn.

    Example:
        >>> rows = list(sample_utterances(3, seed=1))
        >>> len(rows), sorted(rows[0])
        (3, ['id', 'intent', 'tags', 'tokens'])
    """
    if language not in LANGUAGES:
        raise DataError(f"unknown demo language {language!r}; "
                        f"the languages are: {', '.join(LANGUAGES)}")
    rng = random.Random(seed)
    nothing_held = {slot: frozenset() for slot in SLOT_TYPES}
    for i in range(n):
        intent = rng.choice(INTENTS)
        template, choice = _draw(rng, intent, nothing_held, train=True)
        yield _example((str(i + 1), intent, template, choice), language)


def write_all(root=None) -> None:
    """Regenerate the shipped files (seed 0): `{root}/demo-{en,de}/{split}.jsonl` and
    `{root}/README.md`. `root` defaults to the package's `builtin/` folder."""
    root = pathlib.Path(root) if root is not None else BUILTIN_ROOT
    datasets = {f"demo-{lang}": generate(lang) for lang in LANGUAGES}
    for name, splits in datasets.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            _write_text(folder / f"{split}.jsonl", dumps_jsonl(splits[split]))
    _write_text(root / "README.md", readme(datasets))


def dumps_jsonl(examples) -> str:
    """The text of a JSON Lines file: one `json.dumps(obj, ensure_ascii=False)` a line."""
    return "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples)


def readme(datasets) -> str:
    """The text of `builtin/README.md`, with counts computed from `datasets`
    (`{"demo-en": {split: examples}, ...}`)."""
    first = datasets[BUILTIN_DATASETS[0]]
    intents = collections.Counter(ex["intent"] for split in SPLITS for ex in first[split])
    slots = collections.Counter(tag[2:] for split in SPLITS for ex in first[split]
                                for tag in ex["tags"] if tag.startswith("B-"))
    lines = [
        "# Built-in demo data: `demo-en` and `demo-de`",
        "",
        "<!-- Generated by `python -m slukit.data.demo` (slukit/data/demo.py); "
        "do not edit by hand. -->",
        "",
        "A small, **synthetic**, parallel English/German voice-assistant dataset for joint",
        "intent classification and BIO slot tagging. It is the default data of slukit's",
        "quickstart and of the English→German transfer examples. Every utterance was made",
        "from hand-written carrier templates and slot values by `slukit/data/demo.py`,",
        "deterministically (seed 0); none of it comes from real users.",
        "",
        "- Format: JSON Lines, one `{\"id\", \"tokens\", \"tags\", \"intent\"}` object per line;",
        "  `tokens` is the utterance split on whitespace, `tags` one BIO tag per token.",
        "- Parallel: the same `id` in `demo-en` and `demo-de` is the same request, with the same",
        "  intent and the same slot types. Names (songs, artists, playlists, restaurants,",
        "  people) stay as they are; dates, times, tasks, messages, cuisines and numbers are",
        "  translated; cities and books take their German names where they have one.",
        f"- Held out: about {round(HOLDOUT_VALUE_SHARE * 100)} % of the values of every slot "
        "type and 1–2 carrier",
        "  templates per intent occur only in valid and test, so those splits measure",
        "  generalisation, not memory. No (tokens, intent) pair repeats within a language.",
        "",
        "## Counts (utterances)",
        "",
        "| dataset | " + " | ".join(SPLITS) + " | total |",
        "|---|" + "---:|" * (len(SPLITS) + 1),
    ]
    for name in BUILTIN_DATASETS:
        counts = [len(datasets[name][split]) for split in SPLITS]
        lines.append(f"| `{name}` | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    lines += ["", f"## Intents ({len(intents)}), utterances per language over all splits", ""]
    lines += [f"- `{intent}`: {intents[intent]}" for intent in INTENTS]
    lines += ["", f"## Slot types ({len(slots)}), slot mentions per language over all splits", ""]
    lines += [f"- `{slot}`: {slots[slot]}" for slot in SLOT_TYPES]
    lines += [
        "",
        "## License",
        "",
        "Written for slukit; distributed under the same license as the slukit package.",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------- internals


def _norm(item):
    """A value as `{"en": ..., "de": ..., "de:zu": ...}`."""
    if isinstance(item, str):
        return {"en": item, "de": item}
    en, de, *forms = item
    value = {"en": en, "de": de}
    if forms:
        value["de:zu"] = forms[0]
    return value


_POOLS = {slot: [_norm(v) for v in _VALUES[slot]] for slot in SLOT_TYPES}
_SONG_ARTIST = [_VALUES["ArtistName"].index(artist) for _, artist in _SONGS]


def _slots_of(template):
    return [m["slot"] for token in template.split() for m in [_PLACEHOLDER.fullmatch(token)] if m]


def _plan(seed):
    """The language-independent plan: `{split: [(id, intent, template, {slot: index})]}`.

    Both languages are rendered from it and checked for duplicates together, so the
    plan (and hence both files) are the same whichever language is asked for.
    """
    rng = random.Random(seed)
    held = _held_out(rng)
    seen = {lang: set() for lang in LANGUAGES}
    plan, next_id = {}, 1
    for split in SPLITS:
        n = SPLIT_SIZES[split]
        intents = [INTENTS[i % len(INTENTS)] for i in range(n)]
        rng.shuffle(intents)
        items = []
        for intent in intents:
            for _ in range(_MAX_TRIES):
                template, choice = _draw(rng, intent, held, split == "train")
                keys = {lang: (intent, tuple(_render(template, choice, lang)[0]))
                        for lang in LANGUAGES}
                if not any(keys[lang] in seen[lang] for lang in LANGUAGES):
                    break
            else:
                raise RuntimeError(f"could not draw a new {intent} utterance for {split}")
            for lang in LANGUAGES:
                seen[lang].add(keys[lang])
            items.append((f"{next_id:04d}", intent, template, choice))
            next_id += 1
        plan[split] = items
    return plan


def _held_out(rng):
    """`{slot: frozenset of value indices}` that only valid and test may use."""
    held = {}
    for slot in SLOT_TYPES:
        order = list(range(len(_POOLS[slot])))
        rng.shuffle(order)
        held[slot] = frozenset(order[:max(1, round(HOLDOUT_VALUE_SHARE * len(order)))])
    return held


def _draw(rng, intent, held, train):
    """Pick a template and slot value indices; train never sees held-out ones."""
    templates = _TEMPLATES[intent]
    use_held = not train and rng.random() < P_HELDOUT_TEMPLATE
    template = rng.choice([t for t in templates if t.held_out == use_held])
    slots = _slots_of(template.en)
    choice = {}
    if "SongName" in slots and "ArtistName" in slots:  # keep real song/artist pairs
        new = not train and rng.random() < P_HELDOUT_VALUE
        songs = [i for i, a in enumerate(_SONG_ARTIST)
                 if (i in held["SongName"] or a in held["ArtistName"]) == new]
        song = rng.choice(songs)
        choice = {"SongName": song, "ArtistName": _SONG_ARTIST[song]}
    for slot in slots:
        if slot in choice:
            continue
        new = not train and rng.random() < P_HELDOUT_VALUE
        choice[slot] = rng.choice([i for i in range(len(_POOLS[slot]))
                                   if (i in held[slot]) == new])
    return template, choice


def _example(item, language):
    id_, intent, template, choice = item
    tokens, tags = _render(template, choice, language)
    return {"id": id_, "tokens": tokens, "tags": tags, "intent": intent}


def _render(template, choice, language):
    """Fill `template` (a `_T`) in `language`: `(tokens, tags)`."""
    tokens, tags = [], []
    for raw in getattr(template, language).split():
        m = _PLACEHOLDER.fullmatch(raw)
        if m is None:
            tokens.append(raw)
            tags.append("O")
            continue
        slot = m["slot"]
        text = _form(_POOLS[slot][choice[slot]], language, m["form"])
        if m["cap"]:
            text = text[0].upper() + text[1:]
        words = text.split()
        words[0] = m["pre"] + words[0]
        words[-1] = words[-1] + m["post"]
        tokens += words
        tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1)
    if language == "en":  # "a" -> "an" before a slot value that starts with a vowel
        for i in range(len(tokens) - 1):
            if tokens[i] in ("a", "A") and tags[i + 1].startswith("B-") \
                    and tokens[i + 1][0] in "AEIOUaeiou":
                tokens[i] += "n"
    return tokens, tags


def _form(value, language, form):
    if form is None or language != "de":
        return value[language]
    if f"de:{form}" in value:
        return value[f"de:{form}"]
    return _DERIVED_FORMS[form](value["de"])


def _check_tables():
    """Problems with the hand-written tables (run by the tests)."""
    problems = []
    for slot in SLOT_TYPES:
        for lang in LANGUAGES:
            texts = [v[lang] for v in _POOLS[slot]]
            dups = sorted({t for t in texts if texts.count(t) > 1})
            if dups:
                problems.append(f"{slot}: duplicate {lang} values {dups}")
    used = set()
    for intent, templates in _TEMPLATES.items():
        if not 5 <= len(templates) <= 10:
            problems.append(f"{intent}: {len(templates)} templates")
        if not 1 <= sum(t.held_out for t in templates) <= 2:
            problems.append(f"{intent}: hold out 1 or 2 templates")
        for t in templates:
            en, de = _slots_of(t.en), _slots_of(t.de)
            used.update(en)
            if sorted(en) != sorted(de) or len(set(en)) != len(en):
                problems.append(f"{intent}: slots differ or repeat in {t.en!r} / {t.de!r}")
            for text in (t.en, t.de):
                for token in text.split():
                    if "{" in token and not _PLACEHOLDER.fullmatch(token):
                        problems.append(f"{intent}: bad placeholder {token!r} in {text!r}")
    if used != set(SLOT_TYPES):
        problems.append(f"slot types unused by templates: {sorted(set(SLOT_TYPES) - used)}")
    return problems


def _write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main(argv=None):
    """`python -m slukit.data.demo [--root DIR] [--check]`."""
    parser = argparse.ArgumentParser(prog="python -m slukit.data.demo",
                                     description="Regenerate the built-in demo datasets.")
    parser.add_argument("--root", default=None,
                        help="write here instead of the package's builtin/ folder")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the shipped files are out of date")
    args = parser.parse_args(argv)
    if args.check:
        root = pathlib.Path(args.root) if args.root else BUILTIN_ROOT
        datasets = {f"demo-{lang}": generate(lang) for lang in LANGUAGES}
        expected = {root / "README.md": readme(datasets)}
        for name, splits in datasets.items():
            for split in SPLITS:
                expected[root / name / f"{split}.jsonl"] = dumps_jsonl(splits[split])
        stale = [str(p) for p, text in expected.items()
                 if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"out of date: {path}")
        return 1 if stale else 0
    write_all(args.root)
    root = pathlib.Path(args.root) if args.root else BUILTIN_ROOT
    print(f"wrote {', '.join(BUILTIN_DATASETS)} and README.md under {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
