"""Code-switching augmentation: source-language training utterances with some
words replaced by their target-language translations (CoSDA-ML, Qin et al.
2020), so a source model learns target words in context before it ever sees a
target utterance.

The recipe switch is `data.code_switch` (in a transfer recipe, on the source
data: `source.data.code_switch`):

- `dictionary`: a file of `source target` word pairs (what `slukit embeddings
  dictionary` writes), or `from_target` in a transfer recipe's source data:
  the dictionary is then built (`slukit.data.parallel.build_dictionary`) from
  the source training data paired by utterance `id` with the target training
  data the recipe fine-tunes on (after `data.train_fraction`), so a run at 10%
  of the target data uses only the bilingual signal of that 10%.
- `lexicon`, `reverse_lexicon`: installed bilingual dictionaries (FreeDict
  dictd, Ding, word pairs; `slukit.data.lexicon`), merged after the dictionary,
  at most `max_translations` translations a word.
- `utterance_rate`: the share of training utterances that are code-switched.
- `word_rate`: in those, the share of words with a translation that are replaced.

Replacement is word for word, so every slot tag stays on its token. The
utterances are drawn once, reproducibly from `train.seed` (CoSDA-ML redraws
them every batch; one draw keeps the bucketed pipeline unchanged and was
enough to carry target words into the source vocabulary).

Example:
    >>> from slukit.data.example import Example
    >>> ex = Example(["flights", "to", "boston"], ["O", "O", "B-city"], "flight")
    >>> out, stats = code_switch([ex], {"flights": ["flüge"], "to": ["nach"]},
    ...                          utterance_rate=1.0, word_rate=1.0, seed=0)
    >>> out[0].tokens, out[0].tags
    (('flüge', 'nach', 'boston'), ('O', 'O', 'B-city'))
    >>> stats
    {'utterances': 1, 'words': 2}
"""

import dataclasses
import hashlib
import random
from pathlib import Path

FROM_TARGET = "from_target"


def read_switch_dictionary(path, lowercase=True):
    """`{source word: [target words]}` from a `source target` file."""
    from slukit.data.parallel import read_dictionary

    table = {}
    for source, target in read_dictionary(path):
        key = source.lower() if lowercase else source
        table.setdefault(key, [])
        if target not in table[key]:
            table[key].append(target)
    return table


def code_switch(examples, dictionary, utterance_rate=0.5, word_rate=0.5, seed=0, lowercase=True):
    """A copy of `examples` with words replaced by dictionary translations.

    Args:
        examples: `Example`s of the source language.
        dictionary: `{source word: [target words]}` (keys lowercased when `lowercase`).
        utterance_rate: probability that an utterance is code-switched.
        word_rate: probability that a word with a translation is replaced.
        seed: the random seed; the same seed gives the same copy.

    Returns:
        `(examples, {"utterances": switched utterances, "words": replaced words})`.
    """
    rng = random.Random(seed)
    out, n_utts, n_words = [], 0, 0
    for ex in examples:
        if rng.random() >= utterance_rate:
            out.append(ex)
            continue
        tokens, changed = list(ex.tokens), 0
        for i, token in enumerate(tokens):
            choices = dictionary.get(token.lower() if lowercase else token)
            if choices and rng.random() < word_rate:
                replacement = rng.choice(choices)
                if replacement != token:
                    tokens[i] = replacement
                    changed += 1
        if changed:
            n_utts, n_words = n_utts + 1, n_words + changed
            ex = dataclasses.replace(ex, tokens=tokens)
        out.append(ex)
    return out, {"utterances": n_utts, "words": n_words}


_TABLES = {}  # (path, reverse, lowercase) -> {word: [translations]}: a lexicon is read once


def switch_table(settings, lowercase=True, key="data.code_switch"):
    """`{source word: [target words]}` of a `data.code_switch` section: its dictionary's
    pairs first, then its lexicons' (`slukit.data.lexicon`), at most
    `max_translations` a word. Returns `(table, description)`."""
    from slukit.data.lexicon import merge_tables, rank_tables, read_lexicon
    from slukit.errors import RecipeError

    dictionary = settings.get("dictionary")
    if dictionary == FROM_TARGET:
        raise RecipeError(f"{key}.dictionary: `from_target` works only in the source "
                          "data of a transfer recipe (source.data.code_switch); here give a "
                          "dictionary file (`slukit embeddings dictionary` writes one)")
    tables, lexicons, names = [], [], []
    if dictionary:
        tables.append(read_switch_dictionary(dictionary, lowercase))
        names.append(str(dictionary))
    for name, reverse in (("lexicon", False), ("reverse_lexicon", True)):
        path = settings.get(name)
        if path:
            cache = (str(path), reverse, lowercase)
            if cache not in _TABLES:
                _TABLES[cache] = read_lexicon(path, reverse=reverse, lowercase=lowercase)
            lexicons.append(_TABLES[cache])
            names.append(f"{name} {path}")
    if lexicons:
        tables.append(rank_tables(*lexicons))
    if not tables:
        raise RecipeError(f"{key}: give a dictionary, a lexicon or a reverse_lexicon "
                          "(the word translations to switch with)")
    table = merge_tables(*tables, max_translations=settings.get("max_translations") or None)
    return table, ", ".join(names)


def apply_code_switch(examples, settings, seed, lowercase=True, report=None):
    """`examples` code-switched as the recipe's `data.code_switch` says (None: unchanged)."""
    if not settings:
        return examples
    table, names = switch_table(settings, lowercase)
    switched, stats = code_switch(examples, table, settings["utterance_rate"],
                                  settings["word_rate"], seed, lowercase)
    if report:
        report(f"code-switching: {stats['words']} words replaced in {stats['utterances']} of "
               f"{len(examples)} training utterances ({len(table)} dictionary words, {names})")
    return switched


def dictionary_from_target(source_recipe, target_recipe, output):
    """Builds the `from_target` dictionary of a transfer recipe's source data.

    The source training data is paired by id with the target training data
    (after `data.train_fraction`, sampled with `train.seed` exactly as the
    target stage samples it). The dictionary is written beside `output` as
    `<output>.dictionary-<hash>.txt` and its path returned with the hash, so
    the same pairs give the same file (and the same source model is reused).
    """
    from slukit.data.sampling import sample_fraction
    from slukit.data.sources import split_paths
    from slukit.data.parallel import build_dictionary, pair_by_id, write_dictionary
    from slukit.data.readers import read_examples
    from slukit.errors import RecipeError

    def train_examples(recipe):
        path, fmt = split_paths(recipe)["train"]
        return read_examples(path, format=fmt, on_error=recipe["data"].get("on_error", "fail"),
                             split="train")

    target = sample_fraction(train_examples(target_recipe),
                             target_recipe["data"].get("train_fraction", 1.0),
                             target_recipe["train"].get("seed", 0))
    pairs = pair_by_id(train_examples(source_recipe), target)
    if not pairs:
        raise RecipeError("source.data.code_switch.dictionary: from_target needs source and "
                          "target training data that share utterance ids (parallel data such as "
                          "MultiATIS++ or MASSIVE); none of the ids match")
    entries = build_dictionary(pairs, lowercase=source_recipe["model"].get("lowercase", True))
    text = "".join(f"{s} {t}\n" for s, t, _ in entries)
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    path = Path(f"{output}.dictionary-{digest}.txt")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_dictionary(entries, path)
    return path, digest, len(pairs)
